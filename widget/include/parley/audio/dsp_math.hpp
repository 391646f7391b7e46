// Small numeric helpers shared by the audio sources (an implementation detail, not API).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstring>

#include "parley/audio/kernels.hpp"

namespace parley::audio::detail {

inline constexpr double kPi = 3.14159265358979323846;
inline constexpr double kLn10 = 2.30258509299404568402;

// Decibels by exp/log only: pow and log10 would each pull more of libm into the wasm.
inline double db_to_amplitude(double db) { return std::exp(db * (kLn10 / 20.0)); }
inline double power_to_db(double power) { return (10.0 / kLn10) * std::log(power); }

// 1/k! for k = 0..18 (every k! up to 18! is exact in a double).
struct InverseFactorials {
  double value[19] = {};
  constexpr InverseFactorials() {
    double factorial = 1.0;
    for (int k = 0; k < 19; ++k) {
      if (k > 1) factorial *= k;
      value[k] = 1.0 / factorial;
    }
  }
};
inline constexpr InverseFactorials kInverseFactorials{};

// sin(2 pi t) and cos(2 pi t), t in turns (|t| < 2^50), for the filter designs. Whole
// quarter turns come off exactly (t - n/4 is exact near n/4), so no argument reduction by an
// inexact pi is needed, and the rest is a Taylor series on [-pi/4, pi/4] accurate to an ulp
// or two. libm's sin and cos (with __rem_pio2) would add ~4 KB to the wasm.
inline void sincos_turns(double t, double& sin_out, double& cos_out) {
  const double quarters = std::nearbyint(4.0 * t);
  const double x = 2.0 * kPi * (t - 0.25 * quarters);  // in [-pi/4, pi/4]
  const double x2 = x * x;
  const double* f = kInverseFactorials.value;
  double s = f[17], c = f[18];  // Horner, from the x^17 and x^18 terms down
  for (int k = 15; k >= 3; k -= 2) s = f[k] - x2 * s;
  for (int k = 16; k >= 2; k -= 2) c = f[k] - x2 * c;
  s = x * (1.0 - x2 * s);
  c = 1.0 - x2 * c;
  switch (static_cast<long long>(quarters) & 3) {
    case 0: sin_out = s; cos_out = c; break;
    case 1: sin_out = c; cos_out = -s; break;
    case 2: sin_out = -s; cos_out = -c; break;
    default: sin_out = -c; cos_out = s; break;
  }
}
inline double cos_turns(double t) {
  double s, c;
  sincos_turns(t, s, c);
  return c;
}
inline double sin_turns(double t) {
  double s, c;
  sincos_turns(t, s, c);
  return s;
}

// Modified Bessel function of the first kind, order 0, by its power series (converges fast
// for the window's arguments, at most ~15).
inline double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  const double q = x * x / 4.0;
  for (int k = 1; k < 200; ++k) {
    term *= q / (static_cast<double>(k) * static_cast<double>(k));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

// Four floats as one value: GCC/Clang lower this to SSE natively and to wasm SIMD with
// -msimd128 (wasm without SIMD uses the scalar dot product below instead).
typedef float Float4 __attribute__((vector_size(16)));

inline Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);  // unaligned load, no aliasing issues
  return v;
}

inline float sum_lanes(Float4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// Dot product of n floats, n a multiple of 4. The summation order depends only on n (and
// the build), so a given window and row always give the same bits.
#if defined(PARLEY_AUDIO_SCALAR_KERNELS)
// WebAssembly without SIMD: plain scalar accumulators. A Float4 would be lowered through
// memory here and run four times slower (measured under node 20).
// The loops bump pointers and load at constant offsets from them: index arithmetic per load
// (what clang emits for a[i]) cost as much as the float work under V8.
inline float dot4n(const float* a, const float* b, std::size_t n) {
  float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
  for (const float* const end = a + n; a != end; a += 4, b += 4) {
    acc0 += a[0] * b[0];
    acc1 += a[1] * b[1];
    acc2 += a[2] * b[2];
    acc3 += a[3] * b[3];
  }
  return (acc0 + acc1) + (acc2 + acc3);
}
#else
// SSE natively, wasm SIMD with -msimd128: four independent accumulators hide the add latency.
inline float dot4n(const float* a, const float* b, std::size_t n) {
  Float4 acc0 = {0, 0, 0, 0}, acc1 = acc0, acc2 = acc0, acc3 = acc0;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 += load4(a + i) * load4(b + i);
    acc1 += load4(a + i + 4) * load4(b + i + 4);
    acc2 += load4(a + i + 8) * load4(b + i + 8);
    acc3 += load4(a + i + 12) * load4(b + i + 12);
  }
  for (; i < n; i += 4) acc0 += load4(a + i) * load4(b + i);
  return sum_lanes((acc0 + acc1) + (acc2 + acc3));
}

// Two windows against one row in one pass (a decimator's consecutive outputs share their
// only row): each row chunk is loaded once. Each result is summed in exactly the order
// dot4n uses, so it is bit-identical to dot4n(a, b0, n) and dot4n(a, b1, n).
inline void dot4n_two_windows(const float* a, const float* b0, const float* b1, std::size_t n,
                              float& out0, float& out1) {
  Float4 p0 = {0, 0, 0, 0}, p1 = p0, p2 = p0, p3 = p0;
  Float4 q0 = p0, q1 = p0, q2 = p0, q3 = p0;
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const Float4 h0 = load4(a + i), h1 = load4(a + i + 4), h2 = load4(a + i + 8), h3 = load4(a + i + 12);
    p0 += h0 * load4(b0 + i);
    q0 += h0 * load4(b1 + i);
    p1 += h1 * load4(b0 + i + 4);
    q1 += h1 * load4(b1 + i + 4);
    p2 += h2 * load4(b0 + i + 8);
    q2 += h2 * load4(b1 + i + 8);
    p3 += h3 * load4(b0 + i + 12);
    q3 += h3 * load4(b1 + i + 12);
  }
  for (; i < n; i += 4) {
    const Float4 h = load4(a + i);
    p0 += h * load4(b0 + i);
    q0 += h * load4(b1 + i);
  }
  out0 = sum_lanes((p0 + p1) + (p2 + p3));
  out1 = sum_lanes((q0 + q1) + (q2 + q3));
}
#define PARLEY_AUDIO_HAS_TWO_WINDOWS 1
#endif

// K rows (`stride` floats apart) against one window in a single pass, each chunk of the
// window loaded once: the L phases of an integer upsampler share their window.
template <int K>
inline void dot4n_rows(const float* rows, std::size_t stride, const float* x, std::size_t n, float* out) {
#if defined(PARLEY_AUDIO_SCALAR_KERNELS)
  float acc[K][2] = {};
  const float* r[K];
  for (int k = 0; k < K; ++k) r[k] = rows + k * stride;
  for (const float* const end = x + n; x != end; x += 4) {
    const float x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    for (int k = 0; k < K; ++k) {
      acc[k][0] += r[k][0] * x0;
      acc[k][1] += r[k][1] * x1;
      acc[k][0] += r[k][2] * x2;
      acc[k][1] += r[k][3] * x3;
      r[k] += 4;
    }
  }
  for (int k = 0; k < K; ++k) out[k] = acc[k][0] + acc[k][1];
#else
  Float4 acc[K];
  for (int k = 0; k < K; ++k) acc[k] = Float4{0, 0, 0, 0};
  for (std::size_t i = 0; i < n; i += 4) {
    const Float4 xv = load4(x + i);
    for (int k = 0; k < K; ++k) acc[k] += load4(rows + k * stride + i) * xv;
  }
  for (int k = 0; k < K; ++k) out[k] = sum_lanes(acc[k]);
#endif
}

}  // namespace parley::audio::detail
