// Which inner loops the audio code is built with (an implementation detail, not API).
//
// PARLEY_AUDIO_SCALAR_KERNELS selects the kernels written for WebAssembly without SIMD, where
// V8 runs one float operation at a time and every load and multiply counts: symmetric filter
// rows folded (one multiply per pair of taps), the halfband's zeros skipped, two overlapping
// outputs computed in one pass, plain float accumulators. It is on by itself for wasm without
// SIMD; everywhere else (SSE natively, wasm SIMD) the vector kernels run instead. Defining
// it elsewhere runs the scalar kernels natively too, so that the sanitizer builds can check
// them (`-DCMAKE_CXX_FLAGS=-DPARLEY_AUDIO_SCALAR_KERNELS=1`).
#pragma once

#if !defined(PARLEY_AUDIO_SCALAR_KERNELS) && defined(__wasm__) && !defined(__wasm_simd128__)
#define PARLEY_AUDIO_SCALAR_KERNELS 1
#endif
