// Speech recognition behind a small interface (issue 5), so that an operator can plug in
// another engine: a Recognizer hands out one RecognizerStream per user utterance. The host's
// implementation is pocketsphinx (make_pocketsphinx_recognizer, speech/pocketsphinx_recognizer.cpp).
//
// Threads: a Recognizer is shared by the speech workers and must be thread-safe. A stream is
// used by one thread at a time (the host never runs two jobs of one utterance at once), and
// may be used from different worker threads one after another. Everything here may block for
// a while (loading a model, decoding): never call it on the io thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parley/host/config.hpp"
#include "parley/result.hpp"

namespace parley::host {

// Words to favour, lowercased and de-duplicated (an agent's rule words and its
// custom_vocabulary.keywords). Empty = the engine's plain model.
struct RecognitionHints {
  std::vector<std::string> words;
};

// The words of an agent that recognition should favour: every rule's `words` and the
// custom vocabulary (keywords of several words are split), lowercased, sorted, unique.
RecognitionHints hints_for_agent(const AgentConfig& agent);

// Engine state that follows one caller (a voice call) from utterance to utterance, opaque to
// the host: for pocketsphinx, the live cepstral mean, i.e. what it learnt of the caller's
// microphone and voice. Decoders are shared by calls one utterance at a time, and without
// this one caller's audio would shape the next caller's recognition. Empty = start afresh.
struct RecognizerAdaptation {
  std::vector<float> values;
};

class RecognizerStream {
 public:
  virtual ~RecognizerStream() = default;
  // 16 kHz mono PCM16 samples of the utterance, in order. Errors: "recognizer_failed".
  virtual Status feed(const std::int16_t* samples, std::size_t count) = 0;
  // The best hypothesis so far ("" when there is none yet).
  virtual std::string partial() = 0;
  // Ends the utterance and returns the final text ("" when nothing was recognised). The
  // stream is finished afterwards: feed() and finish() answer "recognizer_failed".
  virtual Result<std::string> finish() = 0;
  // The caller's adaptation after this utterance (meaningful after finish()), to pass to the
  // caller's next open().
  virtual RecognizerAdaptation adaptation() const = 0;
};

class Recognizer {
 public:
  virtual ~Recognizer() = default;
  virtual std::string_view name() const = 0;
  // Whether the engine can work at all (model files present, ...), with a message that says
  // plainly what is missing and how to fix it.
  virtual Status check() const = 0;
  // Opens a stream for one utterance. Errors: "recognizer_busy" when no decoder is free yet
  // (every one the configuration allows is in use, or the next is being loaded: try again
  // shortly), "recognizer_unavailable" (check()
  // failed), "recognizer_failed". The first open of a decoder loads its model (~0.5-1 s).
  virtual Result<std::unique_ptr<RecognizerStream>> open(
      const RecognitionHints& hints, const RecognizerAdaptation& adaptation = {}) = 0;
  // Starts loading decoders ahead of the calls (the first with the search for `hints`) and
  // from then on keeps a spare one built ahead, on a thread of the engine's own; returns at
  // once. Until then (and while every decoder is taken) open() answers recognizer_busy.
  virtual Status warm_up(const RecognitionHints& hints) = 0;
  // Decoders alive / in use now (for /metrics).
  virtual std::size_t decoders() const = 0;
  virtual std::size_t decoders_busy() const = 0;
  // The words of `hints` the engine cannot recognise at all (not in its dictionary).
  virtual std::vector<std::string> unknown_words(const RecognitionHints& hints) const = 0;
};

// pocketsphinx 5prealpha with the model in config.model_dir (Debian's pocketsphinx-en-us):
// a pool of at most config.max_decoders decoders, each serving one utterance at a time and
// keeping a search per hint set (at most 4; the least recently used is rebuilt). Hints are a
// unigram model over the hint words interpolated with the general English model.
std::unique_ptr<Recognizer> make_pocketsphinx_recognizer(const SpeechConfig& config);

}  // namespace parley::host
