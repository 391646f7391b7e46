// libFuzzer target for the audio pipeline (issue 3), built like tests/fuzz/fuzz-*.cpp:
// the bytes drive a playback chain (wire audio of any length and content, clear, pause,
// pulls), a capture chain and a VAD (raw floats, NaN and infinities included), and a
// differential check that the resampler's output does not depend on how its input is split.
// Any crash, sanitizer report or broken invariant (abort) is a finding.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "parley/audio/capture.hpp"
#include "parley/audio/meter.hpp"
#include "parley/audio/playback.hpp"
#include "parley/audio/resampler.hpp"
#include "parley/audio/vad.hpp"

namespace pa = parley::audio;

namespace {

constexpr int kRates[] = {8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000};

struct Reader {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  std::size_t take(std::size_t want, const std::uint8_t** out) {
    const std::size_t k = want < n ? want : n;
    *out = p;
    p += k;
    n -= k;
    return k;
  }
};

void require(bool ok) {
  if (!ok) std::abort();
}

// Designing a filter takes milliseconds: keep one designed resampler per pair and copy it.
const pa::Resampler& designed(int in, int out) {
  static std::map<std::pair<int, int>, pa::Resampler> cache;
  auto it = cache.find({in, out});
  if (it == cache.end()) it = cache.emplace(std::make_pair(in, out), pa::Resampler::create(in, out).value()).first;
  return it->second;
}

// Chains too are designed once per rate (and cap) and copied for each input.
template <class Chain, class Make>
Chain fresh(std::map<std::pair<int, std::uint32_t>, Chain>& cache, int rate, std::uint32_t cap, Make make) {
  auto it = cache.find({rate, cap});
  if (it == cache.end()) it = cache.emplace(std::make_pair(rate, cap), make()).first;
  return it->second;
}

void resampler_split_invariance(Reader& r) {
  const int in = kRates[r.byte() % 10], out = kRates[r.byte() % 10];
  const std::uint8_t* raw = nullptr;
  const std::size_t count = r.take(4 * 2048, &raw) / 4;
  std::vector<float> input(count);
  if (count) std::memcpy(input.data(), raw, count * 4);
  for (auto& s : input) {
    if (!std::isfinite(s)) s = 0.0f;  // finite audio: NaN would not compare equal to itself
    s = std::fmod(s, 4.0f);
  }
  pa::Resampler whole = designed(in, out), split = designed(in, out);
  std::vector<float> a(whole.output_count(count));
  require(whole.process(input.data(), count, a.data(), a.size()).value() == a.size());
  std::vector<float> b;
  for (std::size_t pos = 0; pos < count;) {
    const std::size_t n = std::min<std::size_t>(1 + r.byte() * 7u, count - pos);
    std::vector<float> piece(split.output_count(n));
    require(split.process(input.data() + pos, n, piece.data(), piece.size()).value() == piece.size());
    b.insert(b.end(), piece.begin(), piece.end());
    pos += n;
  }
  require(a.size() == b.size());
  require(a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

void chains(Reader& r) {
  static std::map<std::pair<int, std::uint32_t>, pa::PlaybackChain> playbacks;
  static std::map<std::pair<int, std::uint32_t>, pa::CaptureChain> captures;
  const int rate = kRates[r.byte() % 10];
  const std::uint32_t cap_ms = 1 + (r.byte() % 4) * 700u;  // 1 ms .. 2.1 s
  auto playback = fresh(playbacks, rate, cap_ms, [&] { return pa::PlaybackChain::create(rate, cap_ms).value(); });
  auto capture = fresh(captures, rate, 0, [&] { return pa::CaptureChain::create(rate).value(); });
  auto vad = pa::Vad::create({}).value();
  std::vector<float> out(1024);
  std::uint64_t frames = 0, drains = 0;
  while (r.n) {
    switch (r.byte() % 8) {
      case 0: {  // wire audio, odd lengths included
        const std::uint8_t* bytes = nullptr;
        const std::size_t want = static_cast<std::size_t>(r.byte()) * 16 + r.byte() % 16;
        const std::size_t k = r.take(want, &bytes);
        const std::size_t before = playback.queue().buffered_samples();
        auto s = playback.push_pcm16(bytes, k);
        if (!s) require(playback.queue().buffered_samples() == before);  // refused whole
        break;
      }
      case 1: {
        const std::size_t count = 1 + r.byte() * 4u;
        const auto got = playback.pull(out.data(), count);
        require(got.audio_samples <= count);
        for (std::size_t i = 0; i < count; ++i) require(std::isfinite(out[i]) && std::fabs(out[i]) <= 1.5f);
        for (std::size_t i = got.audio_samples; i < count; ++i) require(out[i] == 0.0f);
        drains += got.drained;
        break;
      }
      case 2:
        playback.clear();
        require(playback.queue().buffered_samples() == 0);
        break;
      case 3:
        playback.pause();
        break;
      case 4:
        playback.resume();
        break;
      case 5: {  // raw floats from a misbehaving microphone
        const std::uint8_t* raw = nullptr;
        const std::size_t count = r.take(4 * (1 + r.byte() % 64u), &raw) / 4;
        std::vector<float> samples(count);
        if (count) std::memcpy(samples.data(), raw, count * 4);
        capture.push(samples.data(), count, [&](const pa::FrameView& f) {
          require(f.sequence == frames++);
        });
        vad.push(samples.data(), count, [](const pa::VadEvent&) {});
        const auto level = pa::measure_level(samples.data(), count);
        require(!std::isnan(level.rms_dbfs) && !std::isnan(level.peak_dbfs));
        break;
      }
      case 6:
        capture.set_muted(!capture.muted());
        break;
      default:
        resampler_split_invariance(r);
        break;
    }
    require(playback.queue().buffered_samples() <= playback.queue().capacity_samples());
    require(playback.queue().drains() == drains);
  }
  require(capture.framer().samples_in() ==
          capture.framer().frames_out() * pa::kFrameSamples + capture.framer().pending());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader r{data, size};
  chains(r);
  return 0;
}
