#include "parley/audio/resampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "parley/audio/dsp_math.hpp"
#include "parley/audio/remez.hpp"

namespace parley::audio {
namespace {

using detail::dot4n;
using detail::kPi;
using Stage = Resampler::Stage;

// The scalar kernels (wasm without SIMD, kernels.hpp): V8's scalar code is bound by loads
// and multiplies, so the symmetric filters are folded, one multiply per pair of taps. Vector
// builds (SSE natively, wasm SIMD) keep plain rows: reversed vector loads would cost more
// than they save.
#if defined(PARLEY_AUDIO_SCALAR_KERNELS)
constexpr bool kFoldSymmetricRows = true;
#else
constexpr bool kFoldSymmetricRows = false;
#endif

// Band edges as fractions of the lower rate: flat to 0.45, attenuated from 0.55, so nothing
// aliases into the passband (aliases of 0.5..0.55 land in the transition band).
constexpr double kPassbandEdge = 0.45;
constexpr double kStopbandEdge = 0.55;
// The sharp (equiripple) stage: about 108 dB down, passband within +-0.002 (0.035 dB).
constexpr double kSharpStopDeviation = 3.98e-6;  // -108 dB
constexpr double kSharpPassDeviation = 0.002;
constexpr std::uint32_t kMaxEquiripplePhases = 12;
constexpr std::size_t kMaxEquiripplePrototype = 4096;
// The short stage of a two-stage pair: wide transition band, so 110 dB costs few taps.
constexpr double kCheapAttenuationDb = 110.0;
// The halfband 2:1 stage in front of a sharp decimator: its stopband covers everything that
// would fold into [0, 0.45 low] at half the rate; 108 dB like the sharp stage.
constexpr double kHalfbandAttenuationDb = 108.0;
// The single-stage fallback: a Kaiser design estimate that measures >= 90 dB.
constexpr double kFallbackAttenuationDb = 92.0;
// Rate pairs whose reduced ratio needs more phases than this (e.g. 44101 -> 16000) use a
// table of kInterpolatedRows phases with linear interpolation between neighbouring rows:
// the coefficient error is ~1e-7, far below the 90 dB bar, and the table stays small.
constexpr std::uint32_t kMaxExactPhases = 1024;
constexpr std::uint32_t kInterpolatedRows = 1024;
// New input samples taken per pass; the history buffer holds `taps` more, and kSpare slots
// never filled: the fused kernels always compute two outputs, and when only the first is
// due they read the second's window up to two samples past the input (the result is dropped).
constexpr std::size_t kBlock = 512;
constexpr std::size_t kSpare = 2;

std::size_t round_up4(double n) { return (static_cast<std::size_t>(std::ceil(std::max(n, 1.0))) + 3) / 4 * 4; }

void set_geometry(Stage& s, int in_rate, int out_rate) {
  const int g = std::gcd(in_rate, out_rate);
  s.in_rate = in_rate;
  s.out_rate = out_rate;
  s.phases = static_cast<std::uint32_t>(out_rate / g);
  s.step = static_cast<std::uint32_t>(in_rate / g);
  s.step_whole = s.step / s.phases;
  s.step_frac = s.step % s.phases;
}

// Scales every row of the table to unit gain at DC: removes the phase-to-phase gain wobble
// that would otherwise show up as a faint tone at the phase rate.
void normalize_rows(Stage& s) {
  for (std::uint32_t r = 0; r < s.table_rows; ++r) {
    float* row = &s.table[static_cast<std::size_t>(r) * s.taps];
    double sum = 0.0;
    for (std::size_t j = 0; j < s.taps; ++j) sum += row[j];
    for (std::size_t j = 0; j < s.taps; ++j) row[j] = static_cast<float>(row[j] / sum);
  }
}

// Finds, for each row, the span outside which it is zero and checks that the span is
// symmetric (to float rounding); if every row is, the stage is folded and each span made
// exactly symmetric. Only in builds that fold (see kFoldSymmetricRows).
void fold_rows(Stage& s) {
  if (!kFoldSymmetricRows || s.interpolated || s.halfband) return;
  std::vector<std::uint32_t> start(s.table_rows), length(s.table_rows);
  for (std::uint32_t r = 0; r < s.table_rows; ++r) {
    float* row = &s.table[static_cast<std::size_t>(r) * s.taps];
    std::size_t a = 0, b = s.taps;
    while (a < b && row[a] == 0.0f) ++a;
    while (b > a && row[b - 1] == 0.0f) --b;
    float largest = 0.0f;
    for (std::size_t j = a; j < b; ++j) largest = std::max(largest, std::fabs(row[j]));
    for (std::size_t j = a; j < b; ++j) {
      if (std::fabs(row[j] - row[a + b - 1 - j]) > 1e-6f * largest) return;
    }
    start[r] = static_cast<std::uint32_t>(a);
    length[r] = static_cast<std::uint32_t>(b - a);
  }
  for (std::uint32_t r = 0; r < s.table_rows; ++r) {
    float* row = &s.table[static_cast<std::size_t>(r) * s.taps + start[r]];
    for (std::size_t j = 0; j < length[r] / 2; ++j) row[length[r] - 1 - j] = row[j];
  }
  s.fold_start = std::move(start);
  s.fold_length = std::move(length);
}

// A folded 3:2 decimator from an odd-length prototype (rows spanning [0, taps) and
// [1, taps)) gets the fused kernel, which reads each row's first half as its pair
// coefficients. The odd row's centre tap is paired with itself, so it is halved in place:
// c/2 * (x + x) == c * x exactly. (Only that kernel reads this table.)
void fuse_three_two(Stage& s) {
  const std::size_t taps = s.taps;
  if (s.fold_length.size() != 2 || s.step != 3 || taps % 2 != 0 || s.fold_start[0] != 0 ||
      s.fold_length[0] != taps || s.fold_start[1] != 1 || s.fold_length[1] != taps - 1) {
    return;
  }
  s.table[taps + taps / 2] *= 0.5f;
  s.fused_three_two = true;
}

void finish(Stage& s) {
  fold_rows(s);
  fuse_three_two(s);
  s.history.assign(s.taps + kBlock + kSpare, 0.0f);
  s.reset();
}

// Dot product of a symmetric row r (length n) with x: pairs of samples equally far from the
// centre are added first. Four independent accumulators; the order depends only on n.
float folded_dot(const float* r, const float* x, std::size_t n) noexcept {
  const std::size_t half = n / 2;
  const float* y = x + n - 4;  // y[3 - i] == x[n - 1 - i] for the next four pairs
  float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
  const float* p = r;  // pointers bumped, constant load offsets (see symmetric_pair)
  const float* u = x;
  for (const float* const end = r + half / 4 * 4; p != end; p += 4, u += 4, y -= 4) {
    acc0 += p[0] * (u[0] + y[3]);
    acc1 += p[1] * (u[1] + y[2]);
    acc2 += p[2] * (u[2] + y[1]);
    acc3 += p[3] * (u[3] + y[0]);
  }
  for (std::size_t i = half / 4 * 4; i < half; ++i) acc0 += r[i] * (x[i] + x[n - 1 - i]);
  if (n % 2 != 0) acc1 += r[half] * x[half];
  return (acc0 + acc1) + (acc2 + acc3);
}

// Two symmetric outputs whose windows overlap, in one pass (scalar kernels: the 3:2
// stage's two phases, the halfband's consecutive outputs). Output A's pairs are
// (x[d*i], x[last - d*i]) and B's are (x[d*(i + kLead)], x[last + d - d*i]), i in [0, pairs),
// with coefficients ra[i] and rb[i]: B's near samples are A's kLead pairs later and its far
// ones A's one pair earlier, so each sample is loaded once for both. Reads x[0, last + d].
// With kCentre each also adds centre times its middle sample (A: x[last/2], B: x[last/2+d]);
// with kSharedRow rb is ra (the halfband), read once for both.
// When only one of the two is due the caller drops the other; since every output is
// computed by this same code in the same order either way, chunking cannot change it.
template <std::size_t kStride, std::size_t kLead, bool kCentre, bool kSharedRow>
void symmetric_pair(const float* x, std::size_t last, std::size_t pairs, const float* ra,
                    const float* rb, float centre, float& out_a, float& out_b) noexcept {
  constexpr std::size_t d = kStride;
  float near[kLead + 2];  // near[j] == x[d * (i + j)]
  for (std::size_t j = 0; j < kLead; ++j) near[j] = x[d * j];
  // Pointers bumped once per pass, every load at a constant offset from one of them: index
  // arithmetic per load (what clang emits for x[d * i]) cost as much as the float work
  // under V8. (Four pairs a pass measured slower than two.)
  const float* next_near = x + d * kLead;  // next_near[0] == x[d * (i + kLead)]
  const float* far = x + last - d;         // far[d] == x[last - d * i]
  float far_before = x[last + d];  // x[last + d - d * i]: A's far sample one pair back
  float a0 = 0.0f, a1 = 0.0f, b0 = 0.0f, b1 = 0.0f;  // even and odd i
  const float* const ra_end = ra + (pairs & ~std::size_t{1});
  for (; ra != ra_end; ra += 2, rb += 2, next_near += 2 * d, far -= 2 * d) {
    near[kLead] = next_near[0];
    near[kLead + 1] = next_near[d];
    const float far0 = far[d], far1 = far[0];
    a0 += ra[0] * (near[0] + far0);
    a1 += ra[1] * (near[1] + far1);
    const float* rbi = kSharedRow ? ra : rb;  // the halfband: one row for both outputs
    b0 += rbi[0] * (near[kLead] + far_before);
    b1 += rbi[1] * (near[kLead + 1] + far0);
    far_before = far1;
    for (std::size_t j = 0; j < kLead; ++j) near[j] = near[j + 2];
  }
  if (pairs % 2 != 0) {  // an odd count: the last pair goes to the even accumulators
    const float far0 = far[d];
    a0 += ra[0] * (near[0] + far0);
    b0 += (kSharedRow ? ra : rb)[0] * (next_near[0] + far_before);
  }
  out_a = kCentre ? (a0 + a1) + centre * x[last / 2] : a0 + a1;
  out_b = kCentre ? (b0 + b1) + centre * x[last / 2 + d] : b0 + b1;
}

double sinc(double x) {
  if (std::fabs(x) < 1e-12) return 1.0;
  return detail::sin_turns(0.5 * x) / (kPi * x);  // sin(pi x), without libm's sin
}

// Kaiser-windowed sinc h(t), t in input samples on [0, T], centred on T/2 and cut off in the
// middle of the transition band; row r holds h at t = T-1-j + r/rows for tap j, so that a row
// is read forwards against the input window, oldest sample first.
void design_kaiser(Stage& s, double pass_hz, double stop_hz, double attenuation_db) {
  const double in_rate = s.in_rate;
  const double cutoff = 0.5 * (pass_hz + stop_hz) / in_rate;  // cycles per input sample
  const double transition = (stop_hz - pass_hz) / in_rate;
  s.taps = round_up4((attenuation_db - 7.95) / (14.36 * transition));  // Kaiser's estimate
  const double beta = 0.1102 * (attenuation_db - 8.7);
  const double i0_beta = detail::bessel_i0(beta);
  const double half = static_cast<double>(s.taps) / 2.0;
  s.delay_seconds = half / in_rate;
  s.interpolated = s.phases > kMaxExactPhases;
  s.table_rows = s.interpolated ? kInterpolatedRows + 1 : s.phases;
  const double row_step = 1.0 / (s.interpolated ? kInterpolatedRows : s.phases);
  s.table.assign(static_cast<std::size_t>(s.table_rows) * s.taps, 0.0f);
  for (std::uint32_t r = 0; r < s.table_rows; ++r) {
    for (std::size_t j = 0; j < s.taps; ++j) {
      const double t = static_cast<double>(s.taps - 1 - j) + r * row_step;
      const double x = (t - half) / half;
      if (x > 1.0) continue;
      const double window = detail::bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - x * x))) / i0_beta;
      s.table[r * s.taps + j] = static_cast<float>(2.0 * cutoff * sinc(2.0 * cutoff * (t - half)) * window);
    }
  }
  normalize_rows(s);
  finish(s);
}

// Halfband lowpass for a 2:1 decimator: a Kaiser-windowed sinc cut off at a quarter of the
// input rate, so every tap an even distance from the centre is exactly zero and the
// response is symmetric about rate/4: flat to pass_hz, attenuated from rate/2 - pass_hz.
// Length 4K-1; the K distinct side taps are stored once (the filter is symmetric).
void design_halfband(Stage& s, double pass_hz) {
  const double in_rate = s.in_rate;
  const double transition = (in_rate / 2.0 - 2.0 * pass_hz) / in_rate;
  const double estimate = (kHalfbandAttenuationDb - 7.95) / (14.36 * transition);  // Kaiser's
  const std::size_t pairs = std::max<std::size_t>(2, static_cast<std::size_t>(std::ceil((estimate + 1.0) / 4.0)));
  const std::size_t length = 4 * pairs - 1, centre = 2 * pairs - 1;
  const double beta = 0.1102 * (kHalfbandAttenuationDb - 8.7);
  const double i0_beta = detail::bessel_i0(beta);
  std::vector<double> h(length, 0.0);
  double sum = 0.0;
  for (std::size_t n = 0; n < length; ++n) {
    const double offset = static_cast<double>(n) - static_cast<double>(centre);
    if (offset != 0.0 && (n - centre) % 2 == 0) continue;  // the halfband zeros
    const double x = offset / static_cast<double>(centre + 1);
    const double window = detail::bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - x * x))) / i0_beta;
    h[n] = 0.5 * sinc(0.5 * offset) * window;
    sum += h[n];
  }
  s.interpolated = false;
  s.taps = 4 * pairs;
  s.table_rows = 1;
  if (kFoldSymmetricRows) {
    s.halfband = true;
    s.halfband_pairs = pairs;
    s.table.assign(pairs + 1, 0.0f);
    for (std::size_t k = 0; k < pairs; ++k) s.table[k] = static_cast<float>(h[2 * k] / sum);
    s.table[pairs] = static_cast<float>(h[centre] / sum);
  } else {
    // One plain row read against the window (its first tap is the spare zero).
    s.table.assign(s.taps, 0.0f);
    for (std::size_t n = 0; n < length; ++n) s.table[s.taps - 1 - n] = static_cast<float>(h[n] / sum);
  }
  s.delay_seconds = static_cast<double>(centre) / in_rate;
  finish(s);
}

// Equiripple prototype at phases * in_rate, split into the polyphase table. Tries lengths
// from Parks-McClellan's estimate up until the stopband goal is met; false if it is not.
bool design_equiripple(Stage& s, double pass_hz, double stop_hz) {
  const double proto_rate = static_cast<double>(s.phases) * s.in_rate;
  detail::LowpassSpec spec;
  spec.pass_edge = pass_hz / proto_rate;
  spec.stop_edge = stop_hz / proto_rate;
  spec.stop_weight = kSharpPassDeviation / kSharpStopDeviation;
  if (!(spec.stop_edge < 0.5)) return false;
  const double estimate = (-detail::power_to_db(kSharpPassDeviation * kSharpStopDeviation) - 13.0) /
                          (14.6 * (spec.stop_edge - spec.pass_edge));
  const std::size_t first_taps = std::max<std::size_t>(4, round_up4(estimate / s.phases) - 4);
  for (std::size_t taps = first_taps; taps <= first_taps + 24; taps += 4) {
    spec.length = taps * s.phases - 1;  // odd: a type I prototype; the one spare tap is zero
    if (spec.length > kMaxEquiripplePrototype) return false;
    const auto design = detail::design_lowpass_equiripple(spec);
    if (!design.ok || design.stop_deviation > kSharpStopDeviation * 1.05 ||
        design.pass_deviation > 2 * kSharpPassDeviation) {
      continue;
    }
    s.taps = taps;
    s.interpolated = false;
    s.table_rows = s.phases;
    s.table.assign(static_cast<std::size_t>(s.phases) * taps, 0.0f);
    for (std::uint32_t p = 0; p < s.phases; ++p) {
      for (std::size_t j = 0; j < taps; ++j) {
        const std::size_t index = (taps - 1 - j) * s.phases + p;
        if (index < spec.length) s.table[p * taps + j] = static_cast<float>(design.taps[index]);
      }
    }
    normalize_rows(s);
    s.delay_seconds = (static_cast<double>(spec.length) - 1.0) / 2.0 / proto_rate;
    finish(s);
    return true;
  }
  return false;
}

}  // namespace

Status check_sample_rate(int rate_hz, const char* what) {
  if (rate_hz < kMinSampleRate || rate_hz > kMaxSampleRate) {
    return make_error("bad_sample_rate", std::string(what) + " is " + std::to_string(rate_hz) +
                                             " Hz; it must be from " +
                                             std::to_string(kMinSampleRate) + " to " +
                                             std::to_string(kMaxSampleRate) + " Hz");
  }
  return ok_status();
}

Result<Resampler> Resampler::create(int in_rate_hz, int out_rate_hz, Plan plan) {
  if (auto s = check_sample_rate(in_rate_hz, "in_rate"); !s) return std::move(s).error();
  if (auto s = check_sample_rate(out_rate_hz, "out_rate"); !s) return std::move(s).error();
  Resampler r;
  r.in_rate_ = in_rate_hz;
  r.out_rate_ = out_rate_hz;
  if (in_rate_hz == out_rate_hz) return r;

  const int low = std::min(in_rate_hz, out_rate_hz), high = std::max(in_rate_hz, out_rate_hz);
  const double pass = kPassbandEdge * low, stop = kStopbandEdge * low;
  if (plan == Plan::build_default) plan = kBuildDefaultPlan;
  if (plan == Plan::halfband_first && in_rate_hz % 2 == 0 && in_rate_hz / 2 > out_rate_hz) {
    // Halfband 2:1 first, then the sharp stage at half the rate (see the header).
    set_geometry(r.second_, in_rate_hz / 2, out_rate_hz);
    if (r.second_.phases <= kMaxEquiripplePhases && design_equiripple(r.second_, pass, stop)) {
      set_geometry(r.first_, in_rate_hz, in_rate_hz / 2);
      design_halfband(r.first_, pass);
      r.stage_count_ = 2;
      r.between_.assign(kBlock / 2 + 4, 0.0f);
      r.after_.assign(kBlock / 2 + 4, 0.0f);
      r.hold_back_ = true;
      return r;
    }
    r.second_ = Stage{};
  }
  set_geometry(r.first_, in_rate_hz, out_rate_hz);
  r.stage_count_ = 1;
  if (r.first_.phases <= kMaxEquiripplePhases && design_equiripple(r.first_, pass, stop)) return r;

  if (high >= 2 * low) {
    // Through an intermediate rate that is a multiple of the lower one: the sharp stage then
    // has few phases, and the stage to the higher rate only has to keep images and aliases
    // out of [0, 0.55 low], a wide transition band.
    const int mid = (high + low - 1) / low * low;
    const bool down = in_rate_hz > out_rate_hz;
    Stage& sharp = down ? r.second_ : r.first_;
    Stage& cheap = down ? r.first_ : r.second_;
    set_geometry(sharp, down ? mid : low, down ? low : mid);
    set_geometry(cheap, down ? high : mid, down ? mid : high);
    if (design_equiripple(sharp, pass, stop)) {
      design_kaiser(cheap, pass, std::min(high, mid) - stop, kCheapAttenuationDb);
      r.stage_count_ = 2;
      const std::size_t block_out = cheap.in_rate == high
                                        ? kBlock * static_cast<std::size_t>(mid) / static_cast<std::size_t>(high)
                                        : kBlock * static_cast<std::size_t>(mid) / static_cast<std::size_t>(low);
      r.between_.assign(block_out + 4, 0.0f);
      return r;
    }
    r.second_ = Stage{};
    set_geometry(r.first_, in_rate_hz, out_rate_hz);
  }
  design_kaiser(r.first_, pass, stop, kFallbackAttenuationDb);
  return r;
}

double Resampler::macs_per_output() const noexcept {
  // Taps computed (a folded halfband skips its zeros; vector builds run its full row).
  const auto per_output = [](const Stage& s) {
    if (s.halfband) return static_cast<double>(2 * s.halfband_pairs + 1);
    return static_cast<double>(s.taps) * (s.interpolated ? 2 : 1);
  };
  if (stage_count_ == 0) return 0.0;
  if (stage_count_ == 1) return per_output(first_);
  return per_output(first_) * first_.out_rate / out_rate_ + per_output(second_);
}

double Resampler::delay_seconds() const noexcept {
  return (stage_count_ >= 1 ? first_.delay_seconds : 0.0) + (stage_count_ == 2 ? second_.delay_seconds : 0.0);
}

std::size_t Resampler::memory_bytes() const noexcept {
  const auto bytes = [](const Stage& s) { return (s.table.capacity() + s.history.capacity()) * sizeof(float); };
  return bytes(first_) + bytes(second_) + (between_.capacity() + after_.capacity()) * sizeof(float);
}

void Resampler::reset() noexcept {
  if (stage_count_ >= 1) first_.reset();
  if (stage_count_ == 2) second_.reset();
  consumed_ = emitted_ = 0;
  held_count_ = 0;
}

std::size_t Resampler::output_count(std::size_t input_count) const noexcept {
  if (stage_count_ == 0) return input_count;
  if (hold_back_) {
    const std::uint64_t total = consumed_ + input_count;
    const std::uint64_t in = static_cast<std::uint64_t>(in_rate_), out = static_cast<std::uint64_t>(out_rate_);
    return static_cast<std::size_t>((total * out + in - 1) / in - emitted_);
  }
  const std::size_t first = first_.output_count(input_count);
  return stage_count_ == 1 ? first : second_.output_count(first);
}

Result<std::size_t> Resampler::process(const float* input, std::size_t input_count,
                                       float* output, std::size_t output_capacity) {
  const std::size_t expected = output_count(input_count);
  if (output_capacity < expected) {
    return make_error("output_too_small",
                      "output buffer holds " + std::to_string(output_capacity) +
                          " samples but " + std::to_string(input_count) +
                          " input samples make " + std::to_string(expected));
  }
  return process_unchecked(input, input_count, output);
}

std::size_t Resampler::process_unchecked(const float* input, std::size_t input_count, float* output) noexcept {
  if (stage_count_ == 0) {
    if (input_count) std::memmove(output, input, input_count * sizeof(float));
    return input_count;
  }
  if (stage_count_ == 1) return first_.process(input, input_count, output);
  if (hold_back_) return process_held_back(input, input_count, output);
  std::size_t produced = 0;
  for (std::size_t done = 0; done < input_count;) {
    const std::size_t n = std::min(kBlock, input_count - done);
    const std::size_t mid = first_.process(input + done, n, between_.data());
    produced += second_.process(between_.data(), mid, output + produced);
    done += n;
  }
  return produced;
}

// Emits exactly output_count(input_count) samples (the caller checked the room): the held
// sample first, then the second stage's outputs; one finished early stays held.
std::size_t Resampler::process_held_back(const float* input, std::size_t input_count, float* output) noexcept {
  const std::size_t allowed = output_count(input_count);
  std::size_t written = 0;
  // Appends n samples: as many as allowed go out, the rest (at most one: the second stage is
  // never more than one output early) is held for the next call.
  const auto emit = [&](const float* samples, std::size_t n) {
    const std::size_t out = std::min(n, allowed - written);
    if (out > 0) std::memcpy(output + written, samples, out * sizeof(float));
    written += out;
    for (std::size_t i = out; i < n && held_count_ < sizeof held_ / sizeof held_[0]; ++i) held_[held_count_++] = samples[i];
  };
  float earlier[sizeof held_ / sizeof held_[0]];
  const std::size_t pending = held_count_;
  std::copy(held_, held_ + pending, earlier);
  held_count_ = 0;
  emit(earlier, pending);
  for (std::size_t done = 0; done < input_count;) {
    const std::size_t n = std::min(kBlock, input_count - done);
    const std::size_t mid = first_.process(input + done, n, between_.data());
    emit(after_.data(), second_.process(between_.data(), mid, after_.data()));
    done += n;
  }
  consumed_ += input_count;
  emitted_ += written;
  return written;
}

// --- one stage ------------------------------------------------------------------------------

void Stage::reset() noexcept {
  std::fill(history.begin(), history.end(), 0.0f);
  fill = taps - 1;  // the first output sees taps-1 zeros of silence before the input
  next = taps - 1;
  phase = 0;
}

std::size_t Stage::output_count(std::size_t input_count) const noexcept {
  const std::uint64_t available = fill + input_count;
  if (available <= next) return 0;
  // Outputs j = 0, 1, ... while next + floor((phase + j*M) / L) <= available - 1.
  const std::uint64_t room = (available - next) * phases - 1 - phase;
  return static_cast<std::size_t>(room / step + 1);
}

float Stage::output_sample(const float* window) const noexcept {
  if (!fold_length.empty()) {
    const std::size_t start = fold_start[phase];
    return folded_dot(&table[static_cast<std::size_t>(phase) * taps + start], window + start, fold_length[phase]);
  }
  if (!interpolated) return dot4n(&table[static_cast<std::size_t>(phase) * taps], window, taps);
  // Position of this phase among the table rows, split into a row and a fraction.
  const std::uint64_t scaled = static_cast<std::uint64_t>(phase) * kInterpolatedRows;
  const std::size_t row = static_cast<std::size_t>(scaled / phases);
  const float frac = static_cast<float>(scaled % phases) / static_cast<float>(phases);
  const float a = dot4n(&table[row * taps], window, taps);
  const float b = dot4n(&table[(row + 1) * taps], window, taps);
  return a + frac * (b - a);
}

// Produces every output whose newest input sample is in the history buffer.
std::size_t Stage::run_block(float* output) noexcept {
  if (halfband) return run_halfband(output);
  if (fused_three_two) return run_three_two(output);
  std::size_t produced = 0;
  // An integer upsampler by 2..4 (16k -> 32k/48k/64k) computes each input's L outputs in
  // one pass over their shared window. The choice depends only on the stage, never on
  // how the input was split, so the output stays bit-identical.
  if (step == 1 && phases >= 2 && phases <= 4) {
    for (; next < fill; ++next, produced += phases) {
      const float* window = &history[next + 1 - taps];
      if (phases == 2) detail::dot4n_rows<2>(table.data(), taps, window, taps, output + produced);
      if (phases == 3) detail::dot4n_rows<3>(table.data(), taps, window, taps, output + produced);
      if (phases == 4) detail::dot4n_rows<4>(table.data(), taps, window, taps, output + produced);
    }
  }
#if defined(PARLEY_AUDIO_HAS_TWO_WINDOWS) && !defined(__wasm__)
  // A decimator (one phase) computes outputs two at a time, sharing the row's loads; the
  // results are bit-identical to one at a time, so chunking still cannot change them.
  // Natively only: under V8 the extra accumulators spill and it measured slower.
  if (phases == 1 && !halfband) {
    for (; next + step < fill; next += 2 * step, produced += 2) {
      detail::dot4n_two_windows(table.data(), &history[next + 1 - taps], &history[next + step + 1 - taps],
                                taps, output[produced], output[produced + 1]);
    }
  }
#endif
  while (next < fill) {
    output[produced++] = output_sample(&history[next + 1 - taps]);
    phase += step_frac;
    next += step_whole;
    if (phase >= phases) {
      phase -= phases;
      ++next;
    }
  }
  return produced;
}

// Folded halfband (scalar kernels): consecutive outputs two at a time.
std::size_t Stage::run_halfband(float* output) noexcept {
  const std::size_t pairs = halfband_pairs, last = 4 * pairs - 2;
  const float* g = table.data();
  const float centre = table[pairs];
  std::size_t produced = 0;
  float unused = 0.0f;
  for (; next < fill; next += 4, produced += 2) {
    // The second output's window ends two samples later; if that is not in yet, it is
    // dropped and computed again, as the first of the next pass.
    const bool both = next + 2 < fill;
    symmetric_pair<2, 1, true, true>(&history[next + 2 - taps], last, pairs, g, g, centre, output[produced],
                               both ? output[produced + 1] : unused);
    if (!both) {
      next += 2;
      produced += 1;
      break;
    }
  }
  return produced;
}

// Folded 3:2 decimator (scalar kernels): output 2j (phase 0) ends at input 3j, output
// 2j+1 (phase 1) one sample later; both are read from the even output's window.
std::size_t Stage::run_three_two(float* output) noexcept {
  const std::size_t half = taps / 2, last = taps - 1;
  const float* even_row = table.data();
  const float* odd_row = even_row + taps + 1;  // its span starts at 1
  std::size_t produced = 0;
  float unused = 0.0f;
  while (next < fill) {
    if (phase == 0 && next + 1 < fill) {
      symmetric_pair<1, 2, false, false>(&history[next + 1 - taps], last, half, even_row, odd_row, 0.0f,
                                  output[produced], output[produced + 1]);
      produced += 2;
      next += 3;
    } else if (phase == 0) {  // the odd output's sample is not in yet
      symmetric_pair<1, 2, false, false>(&history[next + 1 - taps], last, half, even_row, odd_row, 0.0f,
                                  output[produced++], unused);
      phase = 1;
      next += 1;
    } else {  // the odd output alone, from its even partner's window
      symmetric_pair<1, 2, false, false>(&history[next - taps], last, half, even_row, odd_row, 0.0f, unused,
                                  output[produced++]);
      phase = 0;
      next += 2;
    }
  }
  return produced;
}

// Drops the samples no output needs any more, keeping `taps` (see Stage::history).
void Stage::compact() noexcept {
  const std::size_t discard = next > taps ? std::min(next - taps, fill) : 0;
  std::memmove(history.data(), history.data() + discard, (fill - discard) * sizeof(float));
  fill -= discard;
  next -= discard;
}

std::size_t Stage::process(const float* input, std::size_t input_count, float* output) noexcept {
  std::size_t produced = 0;
  while (input_count > 0) {
    // Compacting only when the room runs out moves the history once per several calls.
    const std::size_t room = history.size() - kSpare;
    if (room - fill < input_count) compact();
    const std::size_t take = std::min(input_count, room - fill);
    std::memcpy(history.data() + fill, input, take * sizeof(float));
    fill += take;
    input += take;
    input_count -= take;
    produced += run_block(output + produced);
  }
  return produced;
}

}  // namespace parley::audio
