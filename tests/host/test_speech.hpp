// Speech for the tests (issue 5): utterances spoken at test time by espeak-ng (nothing is
// committed), brought to 16 kHz by the core's resampler, and a real-time streamer that sends
// them over /v1/voice in 20 ms frames while it collects, with arrival times, whatever the
// host sends back. Nothing here uses Catch2 macros, so streams may run on threads (one
// WsClient per thread); espeak_16k() itself is not thread-safe (espeak-ng is global): make
// the audio first, then start the threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "parley/json.hpp"
#include "test_client.hpp"

namespace parley::test {

using Samples = std::vector<std::int16_t>;
constexpr int kSpeechRate = 16000;

// The user's voice in the speech tests: espeak-ng's en-us with the klatt3 variant, the one
// pocketsphinx's en-us model follows best (bench/speech/README.md).
constexpr const char* kUserVoice = "en-us+klatt3";
// The user's level: espeak-ng at half amplitude, about -27 dBFS RMS over a phrase, which is
// where a microphone with automatic gain puts speech (espeak-ng's own full level, -21 dBFS
// RMS with peaks at 0 dBFS, is louder than pocketsphinx's model expects; see bench/speech).
constexpr float kUserGain = 0.5f;

// `text` spoken by espeak-ng with `voice`, at 16 kHz, times `gain`. Empty on failure.
Samples espeak_16k(const std::string& text, const std::string& voice = kUserVoice,
                   float gain = kUserGain);
// Quiet room noise (Gaussian, deterministic for a seed).
Samples room_noise(double seconds, double dbfs = -65.0, unsigned seed = 1);
// a then b, with b mixed in from `at` (extending a if needed).
Samples mix_at(Samples a, const Samples& b, std::size_t at);
Samples concat(const std::vector<Samples>& parts);
// The first / last sample louder than `dbfs` (as amplitude), or npos / 0.
std::size_t first_loud(const Samples& s, double dbfs = -40.0);
std::size_t last_loud(const Samples& s, double dbfs = -40.0);
double rms_dbfs(const Samples& s);
// PCM16 LE bytes -> samples (an odd length drops the last byte).
Samples from_bytes(const std::string& bytes);

struct Received {
  enum class Kind { text, binary, closed, timeout, error } kind = Kind::error;
  std::string data;     // text, binary payload, or the error
  json message;         // parsed text frame (null otherwise)
  std::string method;   // its method
  double at_ms = 0;     // since the stream's t0
  std::uint16_t close_code = 0;
};

struct StreamOptions {
  int tail_ms = 2000;     // keep listening (and sending room noise, as a microphone does)
                          // this long after the audio
  // Stop listening (after the audio is sent) once this returns true for a message, and
  // `linger_ms` later (to see that nothing else comes).
  std::function<bool(const Received&)> done_when;
  int linger_ms = 0;
  // Mix the agent's audio back into what is sent, times this gain (a speaker next to the
  // microphone), from the frame after it arrived. 0 = none.
  float echo_gain = 0.0f;
};

// Sends `audio` in 20 ms frames (the last one padded) on an absolute schedule from t0 (frame
// k at t0 + 20k ms), reading meanwhile, then listens per options. Returns every message.
std::vector<Received> stream_realtime(WsClient& ws, const Samples& audio,
                                      std::chrono::steady_clock::time_point t0,
                                      const StreamOptions& options = {});

// Word error rate pieces: words of a text (lowercased, letters/digits/apostrophes) and the
// edit distance between two word lists.
std::vector<std::string> words_of(const std::string& text);
std::size_t word_edit_distance(const std::vector<std::string>& ref,
                               const std::vector<std::string>& hyp);

}  // namespace parley::test
