// Streaming sample-rate converter (DESIGN §7): any pair of rates from 8 kHz to 96 kHz.
//
// Polyphase FIR filtering. The passband reaches 0.45 of the lower rate (ripple well under
// 0.1 dB); everything that would alias or image into it, i.e. from 0.55 of the lower rate
// up, is attenuated by at least 90 dB (about 107 dB for the common pairs). Frequencies
// between 0.45 and 0.55 of the lower rate form the transition band.
//
// How a pair is converted (chosen in create()):
// - equal rates: copied;
// - downsampling from an even rate to less than half of it through a reduced ratio with few
//   phases (48k->16k, 96k->16k, ...), in the plan `halfband_first`: a halfband 2:1 stage
//   first, then the sharp stage at half the rate. The halfband's transition band is very
//   wide (0.45 low to rate/2 - 0.45 low) and every other tap is zero, so it costs ~10
//   multiplies per output; the sharp stage then runs on half as many input samples
//   (48k->16k: 72 instead of 144 taps per output). Whether that is faster depends on the
//   build (measured, bench/audio/README.md): it is the default only in scalar WebAssembly,
//   where every multiply counts; with SSE or wasm SIMD one long vector loop wins (`direct`);
// - a reduced ratio L:M with few phases (16k->48k, 16k->24k, 8k->48k, ...): one stage whose
//   prototype is an equiripple (Parks-McClellan) lowpass, which for the same delay reaches
//   far more attenuation than a windowed sinc;
// - many phases and rates at least 2x apart (44.1k<->16k, ...): two stages through an
//   intermediate rate that is a multiple of the lower one: a short Kaiser stage between the
//   higher rate and the intermediate one (its transition band is wide), and the sharp
//   equiripple stage between the intermediate rate and the lower one;
// - anything else (e.g. 22.05k->16k, or coprime rates like 44101->16000): one Kaiser-windowed
//   sinc stage, with phases interpolated between 1024 table rows when there are too many.
//
// Every output sample is one dot product over a stage's last `taps` input samples, computed
// by the same code in the same order wherever the input was split: the output is
// bit-identical however the input is chunked. All memory is taken in create(); process()
// never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "parley/audio/kernels.hpp"
#include "parley/result.hpp"

namespace parley::audio {

inline constexpr int kMinSampleRate = 8000;
inline constexpr int kMaxSampleRate = 96000;

// Checks a sample rate against [kMinSampleRate, kMaxSampleRate]; `what` names the parameter.
Status check_sample_rate(int rate_hz, const char* what);

// Whether a downsampler by more than 2 from an even rate halves the rate first (see above).
// Both plans meet the same quality bars; they differ in speed only, and by build.
enum class Plan {
  build_default,   // the faster one in this build: halfband_first in scalar WebAssembly
  halfband_first,  // halfband 2:1 stage, then the sharp stage at half the rate
  direct,          // the sharp stage alone, at the input rate
};

// The plan build_default stands for in this build (measured: bench/audio/README.md): with
// the scalar kernels (wasm without SIMD) halving first, elsewhere one vector loop.
#if defined(PARLEY_AUDIO_SCALAR_KERNELS)
inline constexpr Plan kBuildDefaultPlan = Plan::halfband_first;
#else
inline constexpr Plan kBuildDefaultPlan = Plan::direct;
#endif

class CaptureChain;
class PlaybackChain;

class Resampler {
 public:
  // Errors: "bad_sample_rate" naming in_rate or out_rate and the allowed range.
  static Result<Resampler> create(int in_rate_hz, int out_rate_hz, Plan plan = Plan::build_default);

  int in_rate() const noexcept { return in_rate_; }
  int out_rate() const noexcept { return out_rate_; }
  // Multiply-adds per output sample, over all stages (0 when the rates are equal).
  double macs_per_output() const noexcept;
  std::size_t stage_count() const noexcept { return stage_count_; }
  // True when this converter runs the halfband_first plan (only some pairs can).
  bool halfband_first() const noexcept { return hold_back_; }
  // Group delay (linear phase), in seconds.
  double delay_seconds() const noexcept;
  // Bytes held by filter tables and buffers (for the memory budget).
  std::size_t memory_bytes() const noexcept;

  // Exactly how many samples the next process() call produces for `input_count` samples.
  std::size_t output_count(std::size_t input_count) const noexcept;

  // Consumes all of `input` and writes output_count(input_count) samples to `output`.
  // Errors: "output_too_small" (nothing is consumed) when output_capacity is short.
  Result<std::size_t> process(const float* input, std::size_t input_count, float* output,
                              std::size_t output_capacity);

  // Forgets all history, as if newly created (used on barge-in: no stale audio leaks out).
  void reset() noexcept;

  // One polyphase FIR stage. Output k sits at input position k * step / phases.
  struct Stage {
    int in_rate = 0, out_rate = 0;
    std::uint32_t phases = 1, step = 1, step_whole = 1, step_frac = 0;
    std::uint32_t table_rows = 1;
    bool interpolated = false;  // phases interpolated between table rows
    // A halfband 2:1 decimator: table holds the K distinct nonzero side taps, then the
    // centre tap; the window is `taps` = 4K samples, of which the last 4K-1 are filtered.
    // (Scalar kernels only; vector builds keep the full 4K-tap row and use dot4n.)
    bool halfband = false;
    std::size_t halfband_pairs = 0;  // K
    // Scalar kernels only: row r is symmetric over [fold_start[r], +fold_length[r]),
    // zero elsewhere, so taps equally far from its centre share one multiply. Empty if not.
    std::vector<std::uint32_t> fold_start, fold_length;
    // Scalar kernels only: a folded 3:2 decimator (two phases, step 3, whose rows span
    // [0, taps) and [1, taps)) computes its two outputs per 3 inputs in one pass.
    bool fused_three_two = false;
    std::size_t taps = 0;       // a multiple of 4
    double delay_seconds = 0.0;
    std::vector<float> table;   // table_rows x taps
    // The last `taps` samples (one more than the next output needs: a 3:2 stage's odd
    // output is read from its even partner's window), then up to kBlock new ones, then two
    // spare slots (see kSpare).
    std::vector<float> history;
    std::size_t fill = 0, next = 0;
    std::uint32_t phase = 0;

    std::size_t output_count(std::size_t input_count) const noexcept;
    std::size_t process(const float* input, std::size_t input_count, float* output) noexcept;
    void reset() noexcept;

   private:
    std::size_t run_block(float* output) noexcept;
    std::size_t run_halfband(float* output) noexcept;
    std::size_t run_three_two(float* output) noexcept;
    float output_sample(const float* window) const noexcept;
    void compact() noexcept;
  };

 private:
  friend class CaptureChain;
  friend class PlaybackChain;
  Resampler() = default;

  // process() without the checks: the caller guarantees room for output_count(input_count)
  // samples (the chains size their buffers once for their largest piece).
  std::size_t process_unchecked(const float* input, std::size_t input_count, float* output) noexcept;

  int in_rate_ = 0, out_rate_ = 0;
  std::size_t stage_count_ = 0;   // 0 (copy), 1 or 2
  Stage first_, second_;
  std::vector<float> between_;    // first stage's output for one block of input
  // Halfband plan: the second stage sits at half-sample positions of the first stage's
  // output, so it can finish an output one input sample before that output's time
  // k * in / out. Such an output is held back until then, so that the count after n inputs
  // stays exactly ceil(n * out / in) like every other plan.
  bool hold_back_ = false;
  std::uint64_t consumed_ = 0, emitted_ = 0;
  std::vector<float> after_;      // second stage's output for one block
  float held_[4] = {};
  std::size_t held_count_ = 0;
  std::size_t process_held_back(const float* input, std::size_t input_count, float* output) noexcept;
};

}  // namespace parley::audio
