// espeak-ng (libespeak-ng) behind the Synthesizer interface, in synchronous mode: espeak_Synth
// returns when the text is spoken, calling back with each buffer of audio as it is made.
//
// espeak-ng keeps one global state (voice, parameters, the callback), so the library is
// initialised once per process and every synthesis holds one lock: syntheses take turns. It
// makes speech far faster than real time (bench/speech measures it), so a reply waits for
// another one for a few milliseconds at most; barge-in stops a synthesis at its next buffer.
#include <espeak-ng/speak_lib.h>

#include <cstring>
#include <mutex>

#include "parley/host/synthesizer.hpp"

namespace parley::host {
namespace {

constexpr int kBufferMs = 40;  // audio per callback: small, so the first audio comes early

std::mutex& engine_mutex() {
  static std::mutex m;
  return m;
}

// The sink of the synthesis running now (set and cleared under engine_mutex()).
const Synthesizer::AudioSink* current_sink = nullptr;
bool current_stopped = false;

int on_espeak_audio(short* wav, int count, espeak_EVENT*) {
  if (wav == nullptr || count <= 0 || current_sink == nullptr) return current_stopped ? 1 : 0;
  if (!(*current_sink)(reinterpret_cast<const std::int16_t*>(wav), static_cast<std::size_t>(count))) {
    current_stopped = true;
    return 1;  // abort the synthesis
  }
  return 0;
}

class EspeakSynthesizer final : public Synthesizer {
 public:
  EspeakSynthesizer() {
    std::lock_guard<std::mutex> lock(engine_mutex());
    static const int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, kBufferMs, nullptr,
                                              espeakINITIALIZE_DONT_EXIT);
    rate_ = rate;
    if (rate_ <= 0) {
      status_ = make_error("synth_unavailable",
                           "espeak-ng could not start (its data is missing: install the Debian "
                           "package espeak-ng-data)");
    } else {
      espeak_SetSynthCallback(on_espeak_audio);
    }
  }

  std::string_view name() const override { return "espeak-ng"; }
  Status check() const override { return status_; }
  int sample_rate() const override { return rate_ > 0 ? rate_ : 22050; }

  Status check_voice(const std::string& voice) override {
    if (!status_) return status_;
    std::lock_guard<std::mutex> lock(engine_mutex());
    return select_voice(voice);
  }

  Status synthesize(std::string_view text, const std::string& voice,
                    const AudioSink& on_audio) override {
    if (!status_) return status_;
    std::lock_guard<std::mutex> lock(engine_mutex());
    if (auto selected = select_voice(voice); !selected) return selected;
    const std::string copy(text);  // espeak reads up to the terminating NUL
    current_sink = &on_audio;
    current_stopped = false;
    const espeak_ERROR rc = espeak_Synth(copy.c_str(), copy.size() + 1, 0, POS_CHARACTER, 0,
                                         espeakCHARS_UTF8, nullptr, nullptr);
    current_sink = nullptr;
    if (rc != EE_OK && !current_stopped)
      return make_error("synth_failed", "espeak-ng failed to synthesise (error " +
                                            std::to_string(static_cast<int>(rc)) + ")");
    return ok_status();
  }

 private:
  // Under engine_mutex(). Voices are switched only when they change.
  // A name is a voice file ("en-us", "gmw/en") or a language ("en-gb"), either with an
  // optional "+variant"; a language is looked up among the voices that speak it.
  Status select_voice(const std::string& voice) {
    if (voice == selected_) return ok_status();
    if (espeak_SetVoiceByName(voice.c_str()) != EE_OK) {
      const auto plus = voice.find('+');
      const std::string base = voice.substr(0, plus);
      const std::string variant = plus == std::string::npos ? "" : voice.substr(plus);
      bool found = false;
      const espeak_VOICE** voices = espeak_ListVoices(nullptr);
      for (int i = 0; voices && voices[i] && !found; ++i) {
        // languages: [priority byte][name NUL] ... then a 0 byte.
        for (const char* l = voices[i]->languages; l && *l; l += std::strlen(l + 1) + 2) {
          if (base == l + 1 && voices[i]->identifier) {
            found = espeak_SetVoiceByName((std::string(voices[i]->identifier) + variant).c_str()) == EE_OK;
            break;
          }
        }
      }
      if (!found) return make_error("synth_unknown_voice", "espeak-ng has no voice '" + voice + "'");
    }
    selected_ = voice;
    return ok_status();
  }

  int rate_ = 0;
  Status status_ = ok_status();
  std::string selected_;
};

}  // namespace

std::unique_ptr<Synthesizer> make_espeak_synthesizer() {
  return std::make_unique<EspeakSynthesizer>();
}

}  // namespace parley::host
