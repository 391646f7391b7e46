// Speech synthesis behind a small interface (issue 5), so that an operator can plug in
// another engine. The host's implementation is espeak-ng (make_espeak_synthesizer,
// speech/espeak_synthesizer.cpp).
//
// Threads: synthesize() is called from the speech workers, possibly from several at once; an
// implementation serialises internally what its engine cannot share (espeak-ng has one
// global state, so its syntheses take turns under one lock). Never call it on the io thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "parley/result.hpp"

namespace parley::host {

class Synthesizer {
 public:
  virtual ~Synthesizer() = default;
  virtual std::string_view name() const = 0;
  // Whether the engine works, with a plain message when it does not.
  virtual Status check() const = 0;
  // The rate of the audio synthesize() produces (mono PCM16).
  virtual int sample_rate() const = 0;
  // Whether `voice` ("en-us", "en-gb+f3") exists. Errors: "synth_unknown_voice".
  virtual Status check_voice(const std::string& voice) = 0;
  // Speaks `text` (plain UTF-8; no markup is interpreted) with `voice`, handing the audio to
  // on_audio as it is produced, on the calling thread. on_audio returns false to stop
  // (barge-in): synthesize() then returns soon after. Errors: "synth_unknown_voice",
  // "synth_failed".
  using AudioSink = std::function<bool(const std::int16_t* samples, std::size_t count)>;
  virtual Status synthesize(std::string_view text, const std::string& voice,
                            const AudioSink& on_audio) = 0;
};

// espeak-ng in synchronous mode (libespeak-ng, its own data directory). One per process.
std::unique_ptr<Synthesizer> make_espeak_synthesizer();

}  // namespace parley::host
