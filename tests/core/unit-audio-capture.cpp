// Capture chain: context-rate Float32 quanta -> 16 kHz PCM16 20 ms frames; mute -> silence.
#include <catch2/catch.hpp>

#include "audio/audio_measure.hpp"
#include "parley/audio/capture.hpp"

namespace pa = parley::audio;
namespace measure = parley::test::audio;

namespace {

// Runs `seconds` of a 1 kHz tone through a chain in 128-sample quanta; returns the 16 kHz
// samples of every frame, in order.
std::vector<float> capture_tone(pa::CaptureChain& chain, double seconds, double amplitude) {
  const int rate = chain.context_rate();
  const auto input = measure::tone(1000.0, rate, static_cast<std::size_t>(seconds * rate), amplitude);
  std::vector<float> out;
  std::uint64_t expected_sequence = 0;
  for (std::size_t pos = 0; pos < input.size(); pos += pa::kRenderQuantum) {
    const std::size_t n = std::min(pa::kRenderQuantum, input.size() - pos);
    chain.push(input.data() + pos, n, [&](const pa::FrameView& f) {
      REQUIRE(f.sequence == expected_sequence++);
      for (std::size_t i = 0; i < pa::kFrameSamples; ++i) out.push_back(pa::pcm16_to_float(f.samples[i]));
    });
  }
  return out;
}

}  // namespace

TEST_CASE("capture turns any context rate into exact 20 ms frames", "[audio-capture]") {
  for (int rate : {8000, 16000, 22050, 44100, 48000, 96000}) {
    INFO("context rate " << rate);
    auto chain = pa::CaptureChain::create(rate);
    REQUIRE(chain.ok());
    const auto out = capture_tone(chain.value(), 3.0, 0.5);
    // 3 s of input -> ceil(3 s * 16000) samples at 16 kHz, cut into 320-sample frames.
    const std::uint64_t made = chain.value().framer().samples_in();
    CHECK(made == 48000);
    CHECK(out.size() == made / pa::kFrameSamples * pa::kFrameSamples);
    // The tone survives: a clean 1 kHz sine at the same level (PCM16 limits SNR to ~90 dB).
    const auto fit = measure::fit_sine(out, 800, 16000, 1000.0, pa::kWireRate);
    CHECK(std::fabs(20 * std::log10(fit.amplitude / 0.5)) <= 0.1);  // the passband bar
    CHECK(fit.snr_db > 80.0);
  }
}

TEST_CASE("muted capture sends silence frames at the same cadence", "[audio-capture]") {
  auto chain = pa::CaptureChain::create(48000);
  REQUIRE(chain.ok());
  auto& c = chain.value();
  const auto loud = measure::tone(440, 48000, 48000, 0.9);
  std::size_t frames = 0, silent = 0, loud_frames = 0;
  const auto count = [&](const pa::FrameView& f) {
    ++frames;
    bool all_zero = true;
    for (std::size_t i = 0; i < pa::kFrameSamples; ++i) all_zero = all_zero && f.samples[i] == 0;
    (all_zero ? silent : loud_frames) += 1;
  };
  c.set_muted(true);
  CHECK(c.muted());
  for (std::size_t pos = 0; pos < loud.size(); pos += 128) c.push(loud.data() + pos, 128, count);
  CHECK(frames == 50);  // one second of 20 ms frames
  CHECK(silent == 50);
  c.set_muted(false);
  for (std::size_t pos = 0; pos < loud.size(); pos += 128) c.push(loud.data() + pos, 128, count);
  CHECK(frames == 100);
  CHECK(loud_frames == 50);
}

TEST_CASE("muting mid-stream gives exact zeros, not the filter's tail", "[audio-capture]") {
  auto chain = pa::CaptureChain::create(48000);
  REQUIRE(chain.ok());
  auto& c = chain.value();
  const auto loud = measure::tone(3000, 48000, 48000, 0.9);
  std::size_t frames = 0;
  // 7,990 samples at 16 kHz: 24 frames and 310 pending, so the filter's memory of the tone
  // (~24 samples long) would reach into the second frame after the mute.
  c.push(loud.data(), 23970, [&](const pa::FrameView&) { ++frames; });
  c.set_muted(true);
  std::size_t after = 0, nonzero_after_first = 0;
  for (std::size_t pos = 0; pos < loud.size(); pos += 128) {
    c.push(loud.data() + pos, 128, [&](const pa::FrameView& f) {
      // The first frame still holds the samples pushed before the mute; every later one is
      // silent from its first sample, though the resampler still remembers the tone.
      if (after++ == 0) return;
      for (std::size_t i = 0; i < pa::kFrameSamples; ++i) nonzero_after_first += f.samples[i] != 0 ? 1 : 0;
    });
  }
  CHECK(frames == 24);
  CHECK(after == 50);
  CHECK(nonzero_after_first == 0);
}

TEST_CASE("push reports frames made and accepts any block size", "[audio-capture]") {
  auto chain = pa::CaptureChain::create(32000);
  REQUIRE(chain.ok());
  std::vector<float> big(32000, 0.1f);
  std::size_t seen = 0;
  const std::size_t made = chain.value().push(big.data(), big.size(), [&](const pa::FrameView&) { ++seen; });
  CHECK(made == 50);
  CHECK(seen == 50);
  CHECK(chain.value().push(big.data(), 0, [&](const pa::FrameView&) { ++seen; }) == 0);
}

TEST_CASE("a bad context rate is refused by name", "[audio-capture]") {
  auto chain = pa::CaptureChain::create(4000);
  REQUIRE_FALSE(chain.ok());
  CHECK(chain.error().code == "bad_sample_rate");
  CHECK_THAT(chain.error().message, Catch::Contains("context_rate") && Catch::Contains("4000"));
}
