// Energy VAD: silence, noise and tones behave; espeak-ng speech (spoken into the build tree
// when the tests are built, see tests/audio) is found within 60 ms of where it was placed.
#include <catch2/catch.hpp>

#include <random>

#include "audio/audio_measure.hpp"
#include "parley/audio/resampler.hpp"
#include "parley/audio/vad.hpp"
#include "vectors.hpp"

namespace pa = parley::audio;
namespace measure = parley::test::audio;
using Kind = pa::VadEvent::Kind;

namespace {

std::vector<pa::VadEvent> run_vad(const std::vector<float>& signal, pa::VadConfig config = {}) {
  auto vad = pa::Vad::create(config);
  REQUIRE(vad.ok());
  std::vector<pa::VadEvent> events;
  // 128-sample pushes, the way the audio thread delivers them.
  for (std::size_t pos = 0; pos < signal.size(); pos += 128) {
    vad.value().push(signal.data() + pos, std::min<std::size_t>(128, signal.size() - pos),
                     [&](const pa::VadEvent& e) { events.push_back(e); });
  }
  return events;
}

std::vector<float> noise(std::size_t n, double dbfs, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0.0, std::pow(10.0, dbfs / 20.0));
  std::vector<float> v(n);
  for (auto& s : v) s = static_cast<float>(g(rng));
  return v;
}

std::vector<float> load_speech_16k(const std::string& file) {
  const std::string path = std::string(PARLEY_AUDIO_GENERATED_DIR) + "/" + file;
  const auto wav = measure::read_wav(path);
  INFO("speech file " << path << " (made by the build: target parley-audio-speech)");
  REQUIRE(wav.samples.size() > 1000);
  auto r = pa::Resampler::create(wav.rate, 16000);
  REQUIRE(r.ok());
  std::vector<float> out(r.value().output_count(wav.samples.size()));
  REQUIRE(r.value().process(wav.samples.data(), wav.samples.size(), out.data(), out.size()).ok());
  // The resampler delays by its group delay: drop it so the clip starts where it did.
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r.value().delay_seconds() * 16000 + 0.5));
  return out;
}

}  // namespace

TEST_CASE("digital silence raises nothing", "[audio-vad]") {
  CHECK(run_vad(std::vector<float>(5 * 16000, 0.0f)).empty());
}

TEST_CASE("steady noise at any level raises nothing", "[audio-vad]") {
  for (double level : {-70.0, -45.0, -20.0}) {
    INFO("noise at " << level << " dBFS");
    CHECK(run_vad(noise(10 * 16000, level, 3)).empty());
  }
}

TEST_CASE("a steady tone from the start raises nothing", "[audio-vad]") {
  CHECK(run_vad(measure::tone(440, 16000, 8 * 16000, 0.3)).empty());
}

TEST_CASE("a tone burst starts and ends speech sample-accurately", "[audio-vad]") {
  const auto v = parley::test::load_vectors("audio-vad")["tone_burst"];
  const int rate = v["rate"].get<int>();
  auto signal = noise(static_cast<std::size_t>(v["total_s"].get<double>() * rate), v["noise_dbfs"].get<double>(), 5);
  const auto start = static_cast<std::size_t>(v["start_s"].get<double>() * rate);
  const auto end = static_cast<std::size_t>(v["end_s"].get<double>() * rate);
  const auto burst = measure::tone(v["freq"].get<double>(), rate, end - start,
                                   std::pow(10.0, v["dbfs"].get<double>() / 20.0) * std::sqrt(2.0));
  for (std::size_t i = 0; i < burst.size(); ++i) signal[start + i] += burst[i];
  const auto events = run_vad(signal);
  REQUIRE(events.size() == 2);
  const double tol = v["tolerance_samples"].get<double>();
  CHECK(events[0].kind == Kind::speech_start);
  CHECK(std::fabs(static_cast<double>(events[0].sample) - static_cast<double>(start)) <= tol);
  CHECK(events[1].kind == Kind::speech_end);
  CHECK(std::fabs(static_cast<double>(events[1].sample) - static_cast<double>(end)) <= tol);
}

TEST_CASE("the noise floor adapts to a louder background", "[audio-vad]") {
  // Quiet room, then a fan starts 30 dB louder and stays: at first that is "speech", but the
  // floor climbs to it and the detector lets go, for good.
  auto signal = noise(2 * 16000, -65, 8);
  const auto loud = noise(20 * 16000, -35, 9);
  signal.insert(signal.end(), loud.begin(), loud.end());
  auto vad = pa::Vad::create({});
  REQUIRE(vad.ok());
  std::vector<pa::VadEvent> events;
  vad.value().push(signal.data(), signal.size(), [&](const pa::VadEvent& e) { events.push_back(e); });
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == Kind::speech_start);
  CHECK(std::fabs(static_cast<double>(events[0].sample) - 32000.0) <= 160.0);
  CHECK(events[1].kind == Kind::speech_end);
  CHECK(events[1].sample < 12u * 16000);
  CHECK_FALSE(vad.value().speaking());
  CHECK(vad.value().noise_floor_dbfs() > -40.0f);
}

TEST_CASE("espeak-ng speech is found within 60 ms of where it was placed", "[audio-vad]") {
  const auto v = parley::test::load_vectors("audio-vad")["speech"];
  const auto clip = load_speech_16k(v["file"].get<std::string>());
  const int rate = v["rate"].get<int>();
  // Truth, from the clip itself: its first and last sample within 40 dB of its peak.
  double peak = 0.0;
  for (float s : clip) peak = std::max(peak, static_cast<double>(std::fabs(s)));
  const double floor = peak * std::pow(10.0, v["truth_rel_peak_db"].get<double>() / 20.0);
  std::size_t first = 0, last = 0;
  for (std::size_t i = 0; i < clip.size(); ++i) {
    if (std::fabs(clip[i]) >= floor) {
      if (first == 0) first = i;
      last = i + 1;
    }
  }
  const double tolerance = v["tolerance_ms"].get<double>() * rate / 1000.0;
  for (const auto& scene : v["scenes"]) {
    INFO(scene["name"].get<std::string>());
    auto signal = noise(static_cast<std::size_t>(scene["total_s"].get<double>() * rate),
                        scene["noise_dbfs"].get<double>(), 11);
    std::vector<std::pair<double, double>> truth;
    for (const auto& at : scene["placements_s"]) {
      const auto offset = static_cast<std::size_t>(at.get<double>() * rate);
      REQUIRE(offset + clip.size() <= signal.size());
      for (std::size_t i = 0; i < clip.size(); ++i) signal[offset + i] += clip[i];
      truth.emplace_back(static_cast<double>(offset + first), static_cast<double>(offset + last));
    }
    const auto events = run_vad(signal);
    REQUIRE(events.size() == 2 * truth.size());
    for (std::size_t k = 0; k < truth.size(); ++k) {
      const auto& on = events[2 * k];
      const auto& off = events[2 * k + 1];
      INFO("utterance " << k << ": truth " << truth[k].first / rate << " .. " << truth[k].second / rate
                        << " s, found " << static_cast<double>(on.sample) / rate << " .. "
                        << static_cast<double>(off.sample) / rate << " s");
      CHECK(on.kind == Kind::speech_start);
      CHECK(off.kind == Kind::speech_end);
      CHECK(std::fabs(static_cast<double>(on.sample) - truth[k].first) <= tolerance);
      CHECK(std::fabs(static_cast<double>(off.sample) - truth[k].second) <= tolerance);
    }
  }
}

TEST_CASE("bad VAD settings are refused naming the field", "[audio-vad]") {
  const auto vectors = parley::test::load_vectors("audio-vad");  // outlives the loop
  for (const auto& vec : vectors["bad_configs"]) {
    pa::VadConfig c;
    const auto field = vec["field"].get<std::string>();
    const double value = vec["value"].get<double>();
    if (field == "window_ms") c.window_ms = static_cast<int>(value);
    if (field == "threshold_db") c.threshold_db = static_cast<float>(value);
    if (field == "onset_ms") c.onset_ms = static_cast<int>(value);
    if (field == "hangover_ms") c.hangover_ms = static_cast<int>(value);
    if (field == "sample_rate") c.sample_rate = static_cast<int>(value);
    auto vad = pa::Vad::create(c);
    INFO(field);
    REQUIRE_FALSE(vad.ok());
    CHECK_THAT(vad.error().message, Catch::Contains(field));
  }
}

TEST_CASE("a gate keeps echo below it from counting; a louder voice still starts speech",
          "[audio-vad]") {
  // The agent talks from 1 s to 4 s; its voice comes back through a speaker as a tone at
  // -32 dBFS. The host gates at -26 dBFS (its own output level -20 dBFS, minus 6 dB). The
  // user speaks over it at -18 dBFS from 2.5 s to 3.5 s.
  const int rate = 16000;
  auto signal = noise(6 * rate, -65, 21);
  const auto add_tone = [&](double from_s, double to_s, double freq, double dbfs) {
    const auto from = static_cast<std::size_t>(from_s * rate);
    const auto burst = measure::tone(freq, rate, static_cast<std::size_t>((to_s - from_s) * rate),
                                     std::pow(10.0, dbfs / 20.0) * std::sqrt(2.0));
    for (std::size_t i = 0; i < burst.size(); ++i) signal[from + i] += burst[i];
  };
  add_tone(1.0, 4.0, 300, -32);
  auto vad = pa::Vad::create({});
  REQUIRE(vad.ok());
  CHECK(vad.value().gate_dbfs() == pa::Vad::kNoGate);

  SECTION("without a gate the echo is speech") {
    CHECK(run_vad(signal).size() == 2);
  }
  SECTION("with the gate the echo is ignored, and the user over it is found") {
    add_tone(2.5, 3.5, 700, -18);
    std::vector<pa::VadEvent> events;
    for (std::size_t pos = 0; pos < signal.size(); pos += 320) {
      const double t = static_cast<double>(pos) / rate;
      // The gate follows the agent's talking (set a window ahead of its voice, as the host
      // sets it before it sends a frame).
      vad.value().set_gate_dbfs(t >= 0.9 && t < 4.1 ? -26.0f : pa::Vad::kNoGate);
      vad.value().push(signal.data() + pos, 320, [&](const pa::VadEvent& e) { events.push_back(e); });
    }
    REQUIRE(events.size() == 2);
    CHECK(events[0].kind == Kind::speech_start);
    CHECK(std::fabs(static_cast<double>(events[0].sample) / rate - 2.5) <= 0.02);
    CHECK(events[1].kind == Kind::speech_end);
    // While the gate stays up, the user's end is found where the user stopped, not where
    // the echo stopped.
    CHECK(std::fabs(static_cast<double>(events[1].sample) / rate - 3.5) <= 0.02);
  }
  SECTION("a NaN gate is no gate") {
    vad.value().set_gate_dbfs(std::nanf(""));
    CHECK(vad.value().gate_dbfs() == pa::Vad::kNoGate);
  }
}
