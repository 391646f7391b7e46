// Counts heap allocations (native only, by replacing the global operator new) while the
// capture chain, the playback chain, the meters and the VAD run their steady state: after
// construction and a warm-up there must be none. Prints "N passed, N failed".
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "parley/audio/capture.hpp"
#include "parley/audio/meter.hpp"
#include "parley/audio/pcm16.hpp"
#include "parley/audio/playback.hpp"
#include "parley/audio/vad.hpp"

namespace {
unsigned long long g_allocations = 0;
}

void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace pa = parley::audio;

int main() {
  int passed = 0, failed = 0;
  const auto check = [&](bool ok, const char* what, unsigned long long n) {
    std::printf("%s: %s (%llu allocations)\n", ok ? "ok" : "FAILED", what, n);
    (ok ? passed : failed) += 1;
  };
  for (int rate : {44100, 48000, 16000}) {
    auto capture = pa::CaptureChain::create(rate).value();
    auto playback = pa::PlaybackChain::create(rate).value();
    auto vad = pa::Vad::create({}).value();
    std::vector<float> quantum(128), out(128);
    std::vector<std::uint8_t> wire(640);
    std::size_t frames = 0, events = 0;
    const auto steady = [&](int quanta) {
      for (int q = 0; q < quanta; ++q) {
        // A sawtooth, loud for about a second and quiet the next, so the VAD decides too.
        const float gain = (q / 400) % 2 ? 0.7f : 0.001f;
        for (std::size_t i = 0; i < quantum.size(); ++i) {
          quantum[i] = gain * static_cast<float>(((q * 128 + static_cast<int>(i)) % 97) - 48) / 48.0f;
        }
        capture.set_muted(q % 500 > 450);
        capture.push(quantum.data(), quantum.size(), [&](const pa::FrameView&) { ++frames; });
        vad.push(quantum.data(), quantum.size(), [&](const pa::VadEvent&) { ++events; });
        if (q % 5 == 0) {
          pa::encode_pcm16_le(quantum.data(), 128, wire.data());
          (void)playback.push_pcm16(wire.data(), 256);
        }
        playback.pull(out.data(), out.size());
        (void)pa::measure_level(out.data(), out.size());
        if (q % 1000 == 999) playback.clear();
        if (q % 300 == 0) playback.pause();
        if (q % 300 == 10) playback.resume();
      }
    };
    steady(100);  // warm-up
    const auto before = g_allocations;
    steady(20000);  // about a minute of audio
    char what[96];
    std::snprintf(what, sizeof what, "steady state at %d Hz, %zu frames, %zu events", rate, frames, events);
    check(g_allocations == before && frames > 0 && events > 0, what, g_allocations - before);
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
