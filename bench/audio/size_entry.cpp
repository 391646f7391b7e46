// Size probe: a small wasm entry with or without the audio pipeline (and with or without the
// metadata core), built -Oz; the gzip sizes' differences are what the audio part adds.
#include <cstdint>
#include <emscripten/emscripten.h>

#if PARLEY_SIZE_AUDIO
#include "parley/audio/capture.hpp"
#include "parley/audio/meter.hpp"
#include "parley/audio/playback.hpp"
#include "parley/audio/vad.hpp"
#endif
#if PARLEY_SIZE_CORE
#include "parley/json.hpp"
#include "parley/metadata.hpp"
#endif

extern "C" {

EMSCRIPTEN_KEEPALIVE int probe_version() { return 1; }

#if PARLEY_SIZE_CORE
EMSCRIPTEN_KEEPALIVE int probe_metadata(const char* text) {
  auto j = parley::parse_json(text, "metadata", 16);
  return j && parley::validate_metadata(j.value()).ok() ? 1 : 0;
}
#endif

#if PARLEY_SIZE_AUDIO
namespace pa = parley::audio;
// Everything the widget uses: capture, playback, meters, VAD.
EMSCRIPTEN_KEEPALIVE void* probe_capture_new(int rate) {
  auto c = pa::CaptureChain::create(rate);
  return c ? new pa::CaptureChain(std::move(c).value()) : nullptr;
}
EMSCRIPTEN_KEEPALIVE int probe_capture_push(void* c, const float* s, int n, std::uint8_t* frame) {
  return static_cast<int>(static_cast<pa::CaptureChain*>(c)->push(
      s, static_cast<std::size_t>(n), [frame](const pa::FrameView& f) {
        for (std::size_t i = 0; i < 640; ++i) frame[i] = f.bytes[i];
      }));
}
EMSCRIPTEN_KEEPALIVE void probe_capture_mute(void* c, int m) { static_cast<pa::CaptureChain*>(c)->set_muted(m != 0); }
EMSCRIPTEN_KEEPALIVE void* probe_playback_new(int rate) {
  auto p = pa::PlaybackChain::create(rate);
  return p ? new pa::PlaybackChain(std::move(p).value()) : nullptr;
}
EMSCRIPTEN_KEEPALIVE int probe_playback_push(void* p, const std::uint8_t* b, int n) {
  return static_cast<pa::PlaybackChain*>(p)->push_pcm16(b, static_cast<std::size_t>(n)).ok();
}
EMSCRIPTEN_KEEPALIVE int probe_playback_pull(void* p, float* out) {
  auto* chain = static_cast<pa::PlaybackChain*>(p);
  return chain->pull(out).drained ? 1 : 0;
}
EMSCRIPTEN_KEEPALIVE void probe_playback_clear(void* p) { static_cast<pa::PlaybackChain*>(p)->clear(); }
EMSCRIPTEN_KEEPALIVE void probe_playback_pause(void* p, int on) {
  auto* chain = static_cast<pa::PlaybackChain*>(p);
  if (on) chain->pause(); else chain->resume();
}
EMSCRIPTEN_KEEPALIVE float probe_level(const float* s, int n) {
  const auto l = pa::measure_level(s, static_cast<std::size_t>(n));
  return l.rms_dbfs + l.peak_dbfs;
}
EMSCRIPTEN_KEEPALIVE void* probe_vad_new(int rate) {
  pa::VadConfig c;
  c.sample_rate = rate;
  auto v = pa::Vad::create(c);
  return v ? new pa::Vad(std::move(v).value()) : nullptr;
}
EMSCRIPTEN_KEEPALIVE int probe_vad_push(void* v, const float* s, int n) {
  int events = 0;
  static_cast<pa::Vad*>(v)->push(s, static_cast<std::size_t>(n), [&](const pa::VadEvent&) { ++events; });
  return events;
}
#endif

}  // extern "C"
