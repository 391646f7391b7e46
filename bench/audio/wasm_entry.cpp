// Raw C entry points over the audio core for the node benchmark (bench/audio/bench.mjs):
// heap offsets in, counts out, the way DESIGN §8 has JS call the core for audio.
#include <cstdint>
#include <cstring>
#include <new>

#include "parley/audio/capture.hpp"
#include "parley/audio/resampler.hpp"

namespace pa = parley::audio;

extern "C" {

// plan: 0 the build's default, 1 halfband first, 2 direct (pa::Plan's order).
pa::Resampler* pa_resampler_new(int in_rate, int out_rate, int plan) {
  auto r = pa::Resampler::create(in_rate, out_rate, static_cast<pa::Plan>(plan));
  return r ? new (std::nothrow) pa::Resampler(std::move(r).value()) : nullptr;
}

int pa_resampler_process(pa::Resampler* r, const float* in, int count, float* out, int capacity) {
  auto made = r->process(in, static_cast<std::size_t>(count), out, static_cast<std::size_t>(capacity));
  return made ? static_cast<int>(made.value()) : -1;
}

void pa_resampler_free(pa::Resampler* r) { delete r; }

struct Capture {
  pa::CaptureChain chain;
  std::uint8_t* frame_out;  // the last frame's 640 bytes are copied here (the "send")
};

Capture* pa_capture_new(int context_rate, std::uint8_t* frame_out, int plan) {
  auto c = pa::CaptureChain::create(context_rate, static_cast<pa::Plan>(plan));
  return c ? new (std::nothrow) Capture{std::move(c).value(), frame_out} : nullptr;
}

// Returns the number of 20 ms frames completed.
int pa_capture_push(Capture* c, const float* samples, int count) {
  return static_cast<int>(c->chain.push(samples, static_cast<std::size_t>(count), [c](const pa::FrameView& f) {
    std::memcpy(c->frame_out, f.bytes, 2 * pa::kFrameSamples);
  }));
}

void pa_capture_free(Capture* c) { delete c; }

}  // extern "C"
