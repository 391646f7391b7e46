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
// The single-stage fallback: a Kaiser design estimate that measures >= 90 dB.
constexpr double kFallbackAttenuationDb = 92.0;
// Rate pairs whose reduced ratio needs more phases than this (e.g. 44101 -> 16000) use a
// table of kInterpolatedRows phases with linear interpolation between neighbouring rows:
// the coefficient error is ~1e-7, far below the 90 dB bar, and the table stays small.
constexpr std::uint32_t kMaxExactPhases = 1024;
constexpr std::uint32_t kInterpolatedRows = 1024;
// New input samples taken per pass; the history buffer holds taps-1 more.
constexpr std::size_t kBlock = 512;

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

void finish(Stage& s) {
  s.history.assign(s.taps - 1 + kBlock, 0.0f);
  s.reset();
}

double sinc(double x) {
  if (std::fabs(x) < 1e-12) return 1.0;
  return std::sin(kPi * x) / (kPi * x);
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

Result<Resampler> Resampler::create(int in_rate_hz, int out_rate_hz) {
  if (auto s = check_sample_rate(in_rate_hz, "in_rate"); !s) return std::move(s).error();
  if (auto s = check_sample_rate(out_rate_hz, "out_rate"); !s) return std::move(s).error();
  Resampler r;
  r.in_rate_ = in_rate_hz;
  r.out_rate_ = out_rate_hz;
  if (in_rate_hz == out_rate_hz) return r;

  const int low = std::min(in_rate_hz, out_rate_hz), high = std::max(in_rate_hz, out_rate_hz);
  const double pass = kPassbandEdge * low, stop = kStopbandEdge * low;
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
  const auto per_output = [](const Stage& s) { return static_cast<double>(s.taps) * (s.interpolated ? 2 : 1); };
  if (stage_count_ == 0) return 0.0;
  if (stage_count_ == 1) return per_output(first_);
  return per_output(first_) * first_.out_rate / out_rate_ + per_output(second_);
}

double Resampler::delay_seconds() const noexcept {
  return (stage_count_ >= 1 ? first_.delay_seconds : 0.0) + (stage_count_ == 2 ? second_.delay_seconds : 0.0);
}

std::size_t Resampler::memory_bytes() const noexcept {
  const auto bytes = [](const Stage& s) { return (s.table.capacity() + s.history.capacity()) * sizeof(float); };
  return bytes(first_) + bytes(second_) + between_.capacity() * sizeof(float);
}

void Resampler::reset() noexcept {
  if (stage_count_ >= 1) first_.reset();
  if (stage_count_ == 2) second_.reset();
}

std::size_t Resampler::output_count(std::size_t input_count) const noexcept {
  if (stage_count_ == 0) return input_count;
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
  if (stage_count_ == 0) {
    if (input_count) std::memmove(output, input, input_count * sizeof(float));
    return input_count;
  }
  if (stage_count_ == 1) return first_.process(input, input_count, output);
  std::size_t produced = 0;
  for (std::size_t done = 0; done < input_count;) {
    const std::size_t n = std::min(kBlock, input_count - done);
    const std::size_t mid = first_.process(input + done, n, between_.data());
    produced += second_.process(between_.data(), mid, output + produced);
    done += n;
  }
  return produced;
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
  if (phases == 1) {
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
  // Keep only the taps-1 samples the next output still needs.
  const std::size_t discard = std::min(next + 1 - taps, fill);
  std::memmove(history.data(), history.data() + discard, (fill - discard) * sizeof(float));
  fill -= discard;
  next -= discard;
  return produced;
}

std::size_t Stage::process(const float* input, std::size_t input_count, float* output) noexcept {
  std::size_t produced = 0;
  while (input_count > 0) {
    const std::size_t take = std::min(input_count, history.size() - fill);
    std::memcpy(history.data() + fill, input, take * sizeof(float));
    fill += take;
    input += take;
    input_count -= take;
    produced += run_block(output + produced);
  }
  return produced;
}

}  // namespace parley::audio
