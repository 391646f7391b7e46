// Resampler quality (DESIGN §7, issue 3): stopband, passband ripple, SNR and delay measured
// with tone sweeps for each rate pair; bit-identical output however the input is chunked.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "audio/audio_measure.hpp"
#include "parley/audio/dsp_math.hpp"
#include "parley/audio/remez.hpp"
#include "parley/audio/resampler.hpp"
#include "vectors.hpp"

using parley::audio::Plan;
using parley::audio::Resampler;
namespace measure = parley::test::audio;

namespace {

std::vector<float> convert_all(Resampler& r, const std::vector<float>& in) {
  std::vector<float> out(r.output_count(in.size()));
  auto made = r.process(in.data(), in.size(), out.data(), out.size());
  REQUIRE(made.ok());
  REQUIRE(made.value() == out.size());
  return out;
}

// A fresh converter per signal: a copy of one designed once (the design is the slow part).
measure::ConvertFn ours(int in_rate, int out_rate, Plan plan) {
  auto designed = Resampler::create(in_rate, out_rate, plan);
  REQUIRE(designed.ok());
  return [prototype = std::move(designed).value()](const std::vector<float>& in) {
    Resampler r = prototype;
    return convert_all(r, in);
  };
}

void check_quality(const parley::json& pair, const parley::json& limits, Plan plan = Plan::build_default) {
  const int in = pair["in"].get<int>(), out = pair["out"].get<int>();
  const double max_delay = pair.value("max_delay_ms", limits["max_delay_ms"].get<double>());
  auto r = Resampler::create(in, out, plan);
  REQUIRE(r.ok());
  const auto q = measure::measure_quality(ours(in, out, plan), in, out);
  INFO(in << " -> " << out << (r.value().halfband_first() ? " (halfband first)" : "")
          << ": stopband " << q.stopband_db << " dB, ripple " << q.ripple_db << " dB, SNR " << q.snr_db
          << " dB, delay " << q.delay_ms << " ms (designed "
          << r.value().delay_seconds() * 1000 << " ms), " << r.value().macs_per_output()
          << " multiply-adds per output in " << r.value().stage_count() << " stage(s)");
  CHECK(q.stopband_db >= limits["stopband_db"].get<double>());
  CHECK(q.ripple_db <= limits["ripple_db"].get<double>());
  CHECK(q.max_gain_error_db <= limits["ripple_db"].get<double>());
  CHECK(q.snr_db >= limits["snr_db"].get<double>());
  CHECK(q.delay_ms <= max_delay);
  // The reported delay is the measured one.
  CHECK(std::fabs(q.delay_ms - r.value().delay_seconds() * 1000) <=
        limits["delay_tolerance_ms"].get<double>());
}

// The plan this build does not default to: both must meet every bar.
constexpr Plan kOtherPlan = parley::audio::kBuildDefaultPlan == Plan::direct ? Plan::halfband_first : Plan::direct;

// Whether the two plans convert in_rate -> out_rate differently.
bool plans_differ(int in_rate, int out_rate) {
  auto halfband = Resampler::create(in_rate, out_rate, Plan::halfband_first);
  REQUIRE(halfband.ok());
  return halfband.value().halfband_first();
}

}  // namespace

TEST_CASE("each required rate pair meets the quality bar", "[audio-resampler]") {
  const auto v = parley::test::load_vectors("audio-resampler");
  for (const auto& pair : v["pairs"]) check_quality(pair, v["limits"]);
}

TEST_CASE("other rate pairs, coprime ones included, meet it too", "[audio-resampler]") {
  const auto v = parley::test::load_vectors("audio-resampler");
  for (const auto& pair : v["other_pairs"]) check_quality(pair, v["limits"]);
}

TEST_CASE("the other plan meets the quality bar too", "[audio-resampler]") {
  const auto v = parley::test::load_vectors("audio-resampler");
  int differing = 0;
  for (const auto* list : {&v["pairs"], &v["other_pairs"]}) {
    for (const auto& pair : *list) {
      if (!plans_differ(pair["in"].get<int>(), pair["out"].get<int>())) continue;
      ++differing;
      check_quality(pair, v["limits"], kOtherPlan);
    }
  }
  CHECK(differing >= 2);  // 48k -> 16k and 96k -> 16k at least
}

TEST_CASE("each pair gets the planned stages", "[audio-resampler]") {
  // The vectors give the halfband_first plan's stages; the direct plan drops the halfband.
  const auto vectors = parley::test::load_vectors("audio-resampler");  // outlives the loop
  for (const auto& plan : vectors["stage_plans"]) {
    const int in = plan["in"].get<int>(), out = plan["out"].get<int>();
    INFO(plan.dump());
    auto halfband = Resampler::create(in, out, Plan::halfband_first);
    auto direct = Resampler::create(in, out, Plan::direct);
    auto by_default = Resampler::create(in, out);
    REQUIRE(halfband.ok());
    REQUIRE(direct.ok());
    REQUIRE(by_default.ok());
    const bool halves = halfband.value().halfband_first();
    CHECK(halfband.value().stage_count() == plan["stages"].get<std::size_t>());
    CHECK(direct.value().stage_count() == plan["stages"].get<std::size_t>() - (halves ? 1 : 0));
    CHECK_FALSE(direct.value().halfband_first());
    // build_default is this build's measured choice (bench/audio/README.md).
    const auto& expected = parley::audio::kBuildDefaultPlan == Plan::direct ? direct.value() : halfband.value();
    CHECK(by_default.value().stage_count() == expected.stage_count());
    CHECK(by_default.value().halfband_first() == expected.halfband_first());
  }
}

TEST_CASE("the designs' sine and cosine in turns are accurate and periodic", "[audio-resampler]") {
  // sincos_turns replaces libm's sin and cos (and their 3 KB argument reduction) in the
  // filter designs; checked against long double, and whole turns must change nothing.
  const long double two_pi = 6.283185307179586476925286766559L;
  double worst = 0.0;
  for (int i = -20000; i <= 20000; ++i) {
    const double t = i / 9973.0;  // [-2, 2], no special fractions
    double s = 0.0, c = 0.0;
    parley::audio::detail::sincos_turns(t, s, c);
    const long double arg = two_pi * static_cast<long double>(t);
    worst = std::max(worst, static_cast<double>(std::fabs(s - std::sin(arg))));
    worst = std::max(worst, static_cast<double>(std::fabs(c - std::cos(arg))));
    // Periodic to the bit: t' = i / 8192 and t' + 1000 are both exact.
    const double exact = i / 8192.0;
    double s1 = 0.0, c1 = 0.0, s2 = 0.0, c2 = 0.0;
    parley::audio::detail::sincos_turns(exact, s1, c1);
    parley::audio::detail::sincos_turns(exact + 1000.0, s2, c2);
    REQUIRE(s2 == s1);
    REQUIRE(c2 == c1);
  }
  CHECK(worst < 4e-16);
  CHECK(parley::audio::detail::cos_turns(0.25) == Approx(0.0).margin(1e-16));
  CHECK(parley::audio::detail::sin_turns(0.25) == 1.0);
  CHECK(parley::audio::detail::cos_turns(-0.5) == -1.0);
}

TEST_CASE("the equiripple design meets its deviations", "[audio-resampler]") {
  // 48 kHz prototype of the 48k -> 16k stage: flat to 7.2 kHz, down from 8.8 kHz.
  parley::audio::detail::LowpassSpec spec;
  spec.length = 139;
  spec.pass_edge = 7200.0 / 48000;
  spec.stop_edge = 8800.0 / 48000;
  spec.stop_weight = 500;
  const auto d = parley::audio::detail::design_lowpass_equiripple(spec);
  REQUIRE(d.ok);
  REQUIRE(d.taps.size() == 139);
  for (std::size_t i = 0; i < d.taps.size(); ++i) REQUIRE(d.taps[i] == Approx(d.taps[138 - i]).margin(1e-12));
  CHECK(d.stop_deviation < 5e-6);  // better than 106 dB
  CHECK(d.pass_deviation == Approx(500 * d.stop_deviation));
  // The response on a fine grid stays within the claimed deviations.
  const auto response = [&](double f) {
    double re = 0, im = 0;
    for (std::size_t i = 0; i < d.taps.size(); ++i) {
      re += d.taps[i] * std::cos(2 * measure::kPi * f * static_cast<double>(i));
      im -= d.taps[i] * std::sin(2 * measure::kPi * f * static_cast<double>(i));
    }
    return std::hypot(re, im);
  };
  for (int i = 0; i <= 400; ++i) {
    CHECK(std::fabs(response(spec.pass_edge * i / 400) - 1.0) <= d.pass_deviation * 1.02);
    CHECK(response(spec.stop_edge + (0.5 - spec.stop_edge) * i / 400) <= d.stop_deviation * 1.02);
  }
  // Impossible specs are refused, not half-designed.
  spec.length = 138;
  CHECK_FALSE(parley::audio::detail::design_lowpass_equiripple(spec).ok);
  spec.length = 139;
  spec.stop_edge = 0.1;
  CHECK_FALSE(parley::audio::detail::design_lowpass_equiripple(spec).ok);
}

namespace {

// Each pair with each plan that converts it differently.
std::vector<std::pair<parley::json, Plan>> chunking_cases(const parley::json& pairs) {
  std::vector<std::pair<parley::json, Plan>> cases;
  for (const auto& pair : pairs) {
    cases.emplace_back(pair, Plan::direct);
    if (plans_differ(pair["in"].get<int>(), pair["out"].get<int>())) cases.emplace_back(pair, Plan::halfband_first);
  }
  return cases;
}

}  // namespace

TEST_CASE("output is bit-identical however the input is chunked", "[audio-resampler]") {
  const auto v = parley::test::load_vectors("audio-resampler");
  std::mt19937 rng(20240603);
  for (const auto& [pair, plan] : chunking_cases(v["chunking_pairs"])) {
    const int in = pair["in"].get<int>(), out = pair["out"].get<int>();
    INFO(in << " -> " << out << (plan == Plan::halfband_first ? " halfband first" : " direct"));
    std::vector<float> input(static_cast<std::size_t>(in) * 2);
    std::normal_distribution<float> noise(0.0f, 0.3f);
    for (auto& s : input) s = noise(rng);
    auto whole = Resampler::create(in, out, plan);
    REQUIRE(whole.ok());
    const auto reference = convert_all(whole.value(), input);

    for (int trial = 0; trial < 3; ++trial) {
      auto chunked = Resampler::create(in, out, plan);
      REQUIRE(chunked.ok());
      std::vector<float> got;
      std::uniform_int_distribution<std::size_t> size(1, 4096);
      for (std::size_t pos = 0; pos < input.size();) {
        const std::size_t n = trial == 0 && pos < 3000 ? 1 : std::min(size(rng), input.size() - pos);
        std::vector<float> piece(chunked.value().output_count(n));
        auto made = chunked.value().process(input.data() + pos, n, piece.data(), piece.size());
        REQUIRE(made.ok());
        REQUIRE(made.value() == piece.size());
        got.insert(got.end(), piece.begin(), piece.end());
        pos += n;
      }
      REQUIRE(got.size() == reference.size());
      CHECK(std::memcmp(got.data(), reference.data(), got.size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("output length tracks the exact rate ratio", "[audio-resampler]") {
  // Output k sits at input time k * in / out: after n inputs, ceil(n * out / in) outputs.
  for (auto [in, out, plan] : {std::tuple{48000, 16000, Plan::halfband_first}, {48000, 16000, Plan::direct},
                               {44100, 16000, Plan::build_default}, {16000, 44100, Plan::build_default},
                               {44101, 16000, Plan::build_default}, {96000, 44100, Plan::build_default},
                               {22050, 16000, Plan::build_default}, {96000, 16000, Plan::halfband_first}}) {
    INFO(in << " -> " << out << " plan " << static_cast<int>(plan));
    auto r = Resampler::create(in, out, plan);
    REQUIRE(r.ok());
    std::vector<float> input(997, 0.25f), output(4096);
    std::uint64_t total_in = 0, total_out = 0;
    for (int i = 0; i < 500; ++i) {
      auto made = r.value().process(input.data(), input.size(), output.data(), output.size());
      REQUIRE(made.ok());
      total_in += input.size();
      total_out += made.value();
      const std::uint64_t expected = (total_in * static_cast<std::uint64_t>(out) + static_cast<std::uint64_t>(in) - 1) / static_cast<std::uint64_t>(in);
      REQUIRE(total_out == expected);
    }
  }
}

TEST_CASE("equal rates copy the input unchanged", "[audio-resampler]") {
  auto r = Resampler::create(16000, 16000);
  REQUIRE(r.ok());
  CHECK(r.value().delay_seconds() == 0.0);
  CHECK(r.value().stage_count() == 0);
  const std::vector<float> in = {0.1f, -0.5f, 1.0f, 0.0f};
  std::vector<float> out(4);
  REQUIRE(r.value().process(in.data(), in.size(), out.data(), out.size()).value() == 4);
  CHECK(out == in);
}

TEST_CASE("bad rates are refused naming the parameter and the range", "[audio-resampler]") {
  const auto vectors = parley::test::load_vectors("audio-resampler");  // outlives the loop
  for (const auto& vec : vectors["bad_rates"]) {
    auto r = Resampler::create(vec["in"].get<int>(), vec["out"].get<int>());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == "bad_sample_rate");
    for (const auto& word : vec["mentions"]) {
      CHECK_THAT(r.error().message, Catch::Contains(word.get<std::string>()));
    }
  }
}

TEST_CASE("a short output buffer is refused and nothing is consumed", "[audio-resampler]") {
  auto r = Resampler::create(16000, 48000);
  REQUIRE(r.ok());
  const std::vector<float> in(100, 0.5f);
  const std::size_t need = r.value().output_count(in.size());
  std::vector<float> out(need);
  auto refused = r.value().process(in.data(), in.size(), out.data(), need - 1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "output_too_small");
  CHECK_THAT(refused.error().message, Catch::Contains(std::to_string(need)));
  CHECK(r.value().output_count(in.size()) == need);  // state unchanged
  CHECK(r.value().process(in.data(), in.size(), out.data(), need).value() == need);
}

TEST_CASE("reset forgets the history", "[audio-resampler]") {
  auto fresh = Resampler::create(44100, 16000);
  auto used = Resampler::create(44100, 16000);
  REQUIRE(fresh.ok());
  REQUIRE(used.ok());
  const auto noise = measure::tone(3000, 44100, 5000, 0.9);
  (void)convert_all(used.value(), noise);
  used.value().reset();
  const auto sine = measure::tone(440, 44100, 4410);
  CHECK(convert_all(used.value(), sine) == convert_all(fresh.value(), sine));
}
