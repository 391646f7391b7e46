// Playback queue semantics (issue 3): zero-fill on underrun, clear (barge-in), pause,
// drained exactly once, buffered-ms and underrun counters, the cap; and the wire chain.
#include <catch2/catch.hpp>

#include "audio/audio_measure.hpp"
#include "parley/audio/pcm16.hpp"
#include "parley/audio/playback.hpp"

namespace pa = parley::audio;
namespace measure = parley::test::audio;

namespace {

std::vector<float> ramp(std::size_t n, float start = 1.0f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

bool all_zero(const float* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] != 0.0f) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("an idle queue plays silence and counts nothing", "[audio-playback]") {
  auto q = pa::PlaybackQueue::create(48000).value();
  float out[128];
  std::fill(out, out + 128, 9.0f);
  const auto r = q.pull(out);
  CHECK(r.audio_samples == 0);
  CHECK_FALSE(r.drained);
  CHECK(all_zero(out, 128));
  CHECK(q.underruns() == 0);
  CHECK(q.drains() == 0);
}

TEST_CASE("audio comes out in order, then zero-fill, one underrun, one drained", "[audio-playback]") {
  auto q = pa::PlaybackQueue::create(48000).value();
  const auto in = ramp(300);
  REQUIRE(q.push(in.data(), in.size()).ok());
  CHECK(q.buffered_samples() == 300);
  CHECK(q.buffered_ms() == Approx(6.25));
  float out[128];
  std::vector<float> got;
  int drained = 0;
  for (int i = 0; i < 6; ++i) {
    const auto r = q.pull(out);
    drained += r.drained;
    got.insert(got.end(), out, out + 128);
  }
  CHECK(std::equal(in.begin(), in.end(), got.begin()));
  CHECK(all_zero(got.data() + 300, got.size() - 300));
  CHECK(drained == 1);
  CHECK(q.drains() == 1);
  CHECK(q.underruns() == 1);  // the third quantum held 44 samples and 84 zeros
  CHECK(q.buffered_samples() == 0);
}

TEST_CASE("a queue that empties on a quantum boundary drains without an underrun", "[audio-playback]") {
  auto q = pa::PlaybackQueue::create(16000).value();
  const auto in = ramp(256);
  REQUIRE(q.push(in.data(), in.size()).ok());
  float out[128];
  CHECK_FALSE(q.pull(out).drained);
  const auto last = q.pull(out);
  CHECK(last.drained);
  CHECK(last.audio_samples == 128);
  CHECK_FALSE(q.pull(out).drained);
  CHECK(q.underruns() == 0);
  CHECK(q.drains() == 1);
}

TEST_CASE("clear is silent from the next quantum and raises no drained", "[audio-playback]") {
  auto q = pa::PlaybackQueue::create(48000).value();
  const auto in = ramp(4800);
  REQUIRE(q.push(in.data(), in.size()).ok());
  float out[128];
  q.pull(out);
  CHECK(out[0] == 1.0f);
  q.clear();
  CHECK(q.buffered_samples() == 0);
  const auto r = q.pull(out);
  CHECK(r.audio_samples == 0);
  CHECK_FALSE(r.drained);
  CHECK(all_zero(out, 128));
  // New audio after a barge-in plays from its first sample.
  REQUIRE(q.push(in.data(), 10).ok());
  q.pull(out);
  CHECK(out[0] == 1.0f);
  CHECK(out[9] == 10.0f);
  CHECK(out[10] == 0.0f);
}

TEST_CASE("pause holds the audio, resume continues where it stopped", "[audio-playback]") {
  auto q = pa::PlaybackQueue::create(48000).value();
  const auto in = ramp(256);
  REQUIRE(q.push(in.data(), in.size()).ok());
  float out[128];
  q.pull(out);
  q.pause();
  CHECK(q.paused());
  for (int i = 0; i < 5; ++i) {
    const auto r = q.pull(out);
    CHECK(r.audio_samples == 0);
    CHECK_FALSE(r.drained);
    CHECK(all_zero(out, 128));
  }
  CHECK(q.buffered_samples() == 128);
  CHECK(q.underruns() == 0);
  q.resume();
  CHECK(q.pull(out).drained);
  CHECK(out[0] == 129.0f);
}

TEST_CASE("the cap refuses a push whole, with a clear error", "[audio-playback]") {
  auto q = pa::PlaybackQueue::create(16000, 100).value();  // 1600 samples
  CHECK(q.capacity_samples() == 1600);
  const auto in = ramp(1000);
  REQUIRE(q.push(in.data(), 1000).ok());
  auto refused = q.push(in.data(), 601);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "playback_queue_full");
  CHECK_THAT(refused.error().message, Catch::Contains("100 ms") && Catch::Contains("cap"));
  CHECK(q.buffered_samples() == 1000);  // nothing of it was queued
  CHECK(q.push(in.data(), 600).ok());  // exactly full is fine
  // Wrap-around keeps order.
  float out[128];
  for (int i = 0; i < 10; ++i) q.pull(out);
  REQUIRE(q.push(in.data(), 1000).ok());
  std::vector<float> rest;
  for (int i = 0; i < 20; ++i) {
    q.pull(out);
    rest.insert(rest.end(), out, out + 128);
  }
  CHECK(rest[0] == 281.0f);  // 1280 of the 1600 were played: 281..600 remain
  CHECK(rest[320] == 1.0f);
  CHECK(rest[1319] == 1000.0f);
}

TEST_CASE("bad queue settings are refused by name", "[audio-playback]") {
  auto zero = pa::PlaybackQueue::create(48000, 0);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().code == "bad_playback_cap");
  CHECK_THAT(zero.error().message, Catch::Contains("max_buffered_ms"));
  auto rate = pa::PlaybackQueue::create(200000);
  REQUIRE_FALSE(rate.ok());
  CHECK(rate.error().code == "bad_sample_rate");
}

TEST_CASE("the wire chain plays 16 kHz PCM16 at the context rate", "[audio-playback]") {
  auto chain = pa::PlaybackChain::create(48000).value();
  // 1 s of a 1 kHz tone as PCM16 LE, sent in odd-sized (but even-byte) chunks.
  const auto tone = measure::tone(1000.0, 16000, 16000, 0.5);
  std::vector<std::uint8_t> bytes(2 * tone.size());
  pa::encode_pcm16_le(tone.data(), tone.size(), bytes.data());
  for (std::size_t pos = 0; pos < bytes.size();) {
    const std::size_t n = std::min<std::size_t>(2 * 333, bytes.size() - pos);
    REQUIRE(chain.push_pcm16(bytes.data() + pos, n).ok());
    pos += n;
  }
  CHECK(chain.queue().buffered_samples() == 48000);
  CHECK(chain.queue().buffered_ms() == Approx(1000.0));
  std::vector<float> played(48000);
  int drained = 0;
  for (std::size_t pos = 0; pos < played.size(); pos += 128) {
    drained += chain.pull(played.data() + pos, std::min<std::size_t>(128, played.size() - pos)).drained;
  }
  CHECK(drained == 1);
  const auto fit = measure::fit_sine(played, 4800, 38400, 1000.0, 48000);
  CHECK(std::fabs(20 * std::log10(fit.amplitude / 0.5)) <= 0.1);  // the passband bar
  CHECK(fit.snr_db > 80.0);
}

TEST_CASE("the wire chain refuses odd lengths and overflows without changing", "[audio-playback]") {
  auto chain = pa::PlaybackChain::create(44100, 50).value();  // 2205 samples
  std::vector<std::uint8_t> bytes(2 * 800, 0x11);
  auto odd = chain.push_pcm16(bytes.data(), 5);
  REQUIRE_FALSE(odd.ok());
  CHECK(odd.error().code == "audio_odd_length");
  CHECK_THAT(odd.error().message, Catch::Contains("5 bytes"));
  CHECK(chain.queue().buffered_samples() == 0);
  REQUIRE(chain.push_pcm16(bytes.data(), bytes.size()).ok());  // 800 -> 2205 samples
  const auto held = chain.queue().buffered_samples();
  auto full = chain.push_pcm16(bytes.data(), 2);
  REQUIRE_FALSE(full.ok());
  CHECK(full.error().code == "playback_queue_full");
  CHECK(chain.queue().buffered_samples() == held);
}

TEST_CASE("clear on the chain drops queued audio and the resampler's memory", "[audio-playback]") {
  auto a = pa::PlaybackChain::create(48000).value();
  auto b = pa::PlaybackChain::create(48000).value();
  const auto loud = measure::tone(3000.0, 16000, 1600, 0.9);
  std::vector<std::uint8_t> bytes(2 * loud.size());
  pa::encode_pcm16_le(loud.data(), loud.size(), bytes.data());
  REQUIRE(a.push_pcm16(bytes.data(), bytes.size()).ok());
  a.clear();
  const auto quiet = measure::tone(200.0, 16000, 1600, 0.1);
  pa::encode_pcm16_le(quiet.data(), quiet.size(), bytes.data());
  REQUIRE(a.push_pcm16(bytes.data(), bytes.size()).ok());
  REQUIRE(b.push_pcm16(bytes.data(), bytes.size()).ok());
  std::vector<float> qa(128), qb(128);
  for (int i = 0; i < 30; ++i) {
    a.pull(qa.data());
    b.pull(qb.data());
    REQUIRE(qa == qb);  // as if the barged-in audio had never been there
  }
}
