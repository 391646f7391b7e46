#include "test_speech.hpp"

#include <espeak-ng/speak_lib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <mutex>
#include <optional>
#include <random>

#include "parley/audio/pcm16.hpp"
#include "parley/audio/resampler.hpp"

namespace parley::test {
namespace {

using Clock = std::chrono::steady_clock;

Samples* g_capture = nullptr;

int capture(short* wav, int count, espeak_EVENT*) {
  if (wav != nullptr && count > 0 && g_capture != nullptr) g_capture->insert(g_capture->end(), wav, wav + count);
  return 0;
}

int espeak_rate() {
  static const int rate = [] {
    const int r = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 100, nullptr, espeakINITIALIZE_DONT_EXIT);
    espeak_SetSynthCallback(capture);
    return r;
  }();
  return rate;
}

}  // namespace

Samples espeak_16k(const std::string& text, const std::string& voice, float gain) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  const int rate = espeak_rate();
  if (rate <= 0 || espeak_SetVoiceByName(voice.c_str()) != EE_OK) return {};
  Samples raw;
  g_capture = &raw;
  espeak_Synth(text.c_str(), text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, nullptr, nullptr);
  g_capture = nullptr;
  auto resampler = audio::Resampler::create(rate, kSpeechRate);
  if (!resampler) return {};
  std::vector<float> in(raw.size() + static_cast<std::size_t>(resampler->delay_seconds() * rate) + 16, 0.0f);
  audio::decode_pcm16(raw.data(), raw.size(), in.data());
  std::vector<float> out(resampler->output_count(in.size()));
  if (!resampler->process(in.data(), in.size(), out.data(), out.size())) return {};
  // Drop the resampler's delay so the speech starts where espeak's did.
  const auto delay = static_cast<std::size_t>(resampler->delay_seconds() * kSpeechRate + 0.5);
  out.erase(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(std::min(delay, out.size())));
  for (auto& v : out) v *= gain;
  Samples pcm(out.size());
  audio::encode_pcm16(out.data(), out.size(), pcm.data());
  return pcm;
}

Samples room_noise(double seconds, double dbfs, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0.0, std::pow(10.0, dbfs / 20.0) * 32768.0);
  Samples s(static_cast<std::size_t>(seconds * kSpeechRate));
  for (auto& v : s) v = static_cast<std::int16_t>(std::clamp(g(rng), -32768.0, 32767.0));
  return s;
}

Samples mix_at(Samples a, const Samples& b, std::size_t at) {
  if (a.size() < at + b.size()) a.resize(at + b.size(), 0);
  for (std::size_t i = 0; i < b.size(); ++i)
    a[at + i] = static_cast<std::int16_t>(std::clamp(static_cast<int>(a[at + i]) + b[i], -32768, 32767));
  return a;
}

Samples concat(const std::vector<Samples>& parts) {
  Samples out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::size_t first_loud(const Samples& s, double dbfs) {
  const double level = std::pow(10.0, dbfs / 20.0) * 32768.0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (std::abs(static_cast<double>(s[i])) >= level) return i;
  return static_cast<std::size_t>(-1);
}

std::size_t last_loud(const Samples& s, double dbfs) {
  const double level = std::pow(10.0, dbfs / 20.0) * 32768.0;
  for (std::size_t i = s.size(); i > 0; --i)
    if (std::abs(static_cast<double>(s[i - 1])) >= level) return i - 1;
  return 0;
}

double rms_dbfs(const Samples& s) {
  if (s.empty()) return -120.0;
  double sum = 0;
  for (auto v : s) sum += static_cast<double>(v) * v;
  const double rms = std::sqrt(sum / static_cast<double>(s.size())) / 32768.0;
  return rms > 1e-6 ? 20.0 * std::log10(rms) : -120.0;
}

Samples from_bytes(const std::string& bytes) {
  Samples s(bytes.size() / 2);
  for (std::size_t i = 0; i < s.size(); ++i)
    s[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[2 * i])) |
                                     (static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[2 * i + 1])) << 8));
  return s;
}

std::vector<Received> stream_realtime(WsClient& ws, const Samples& audio, Clock::time_point t0,
                                      const StreamOptions& options) {
  std::vector<Received> got;
  std::deque<Samples> echo;
  auto ms_since = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t - t0).count();
  };
  bool stop = false;
  std::optional<Clock::time_point> done_at;
  // Reads until `until`; returns false once the socket is gone.
  auto listen = [&](Clock::time_point until) {
    for (;;) {
      const auto now = Clock::now();
      const int wait = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count());
      if (done_at && Clock::now() >= *done_at) stop = true;
      WsMessage m = ws.read(std::max(wait, 0));
      Received r;
      r.at_ms = ms_since(Clock::now());
      switch (m.kind) {
        case WsMessage::Kind::timeout: return true;
        case WsMessage::Kind::text: {
          r.kind = Received::Kind::text;
          r.data = m.data;
          auto parsed = parse_json(m.data, "frame", 64);
          if (parsed) {
            r.message = *parsed;
            if (r.message.is_object() && r.message.contains("method") && r.message["method"].is_string())
              r.method = r.message["method"].get<std::string>();
          }
          break;
        }
        case WsMessage::Kind::binary:
          r.kind = Received::Kind::binary;
          r.data = m.data;
          if (options.echo_gain > 0) echo.push_back(from_bytes(m.data));
          break;
        case WsMessage::Kind::closed:
          r.kind = Received::Kind::closed;
          r.close_code = m.close_code;
          got.push_back(r);
          return false;
        default:
          r.kind = Received::Kind::error;
          r.data = m.data;
          got.push_back(r);
          return false;
      }
      got.push_back(r);
      if (!done_at && options.done_when && options.done_when(got.back()))
        done_at = Clock::now() + std::chrono::milliseconds(options.linger_ms);
      if (done_at && Clock::now() >= *done_at) stop = true;
      if (wait <= 0) return true;
    }
  };
  const std::size_t frame = 320;
  // After the audio the microphone stays open: room noise, on the same schedule.
  const std::size_t tail_frames = static_cast<std::size_t>(std::max(options.tail_ms, 0)) / 20;
  Samples tail_noise = room_noise(static_cast<double>(tail_frames) * 0.02, -65.0, 99);
  const std::size_t frames = (audio.size() + frame - 1) / frame;
  for (std::size_t k = 0; k < frames + tail_frames && (k < frames || !stop); ++k) {
    if (!listen(t0 + std::chrono::milliseconds(20 * k))) return got;
    Samples out(frame, 0);
    if (k < frames) {
      std::copy(audio.begin() + static_cast<std::ptrdiff_t>(k * frame),
                audio.begin() + static_cast<std::ptrdiff_t>(std::min(audio.size(), (k + 1) * frame)), out.begin());
    } else {
      std::copy(tail_noise.begin() + static_cast<std::ptrdiff_t>((k - frames) * frame),
                tail_noise.begin() + static_cast<std::ptrdiff_t>((k - frames + 1) * frame), out.begin());
    }
    if (!echo.empty()) {
      const Samples e = std::move(echo.front());
      echo.pop_front();
      for (std::size_t i = 0; i < frame && i < e.size(); ++i)
        out[i] = static_cast<std::int16_t>(std::clamp(
            static_cast<int>(out[i]) + static_cast<int>(std::lround(e[i] * options.echo_gain)), -32768, 32767));
    }
    std::string bytes(2 * frame, '\0');
    for (std::size_t i = 0; i < frame; ++i) {
      const auto v = static_cast<std::uint16_t>(out[i]);
      bytes[2 * i] = static_cast<char>(v & 0xFF);
      bytes[2 * i + 1] = static_cast<char>(v >> 8);
    }
    if (!ws.send_binary(bytes)) {
      // The host's close can arrive while this frame is being written (the client's reads run
      // during its writes): the write then fails, and the close frame waits in the inbox.
      for (int i = 0; i < 64; ++i)
        if (!listen(Clock::now())) return got;
      Received r;
      r.kind = Received::Kind::error;
      r.data = "send failed";
      r.at_ms = ms_since(Clock::now());
      got.push_back(r);
      return got;
    }
  }
  return got;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '\'') {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  if (!w.empty()) out.push_back(w);
  return out;
}

std::size_t word_edit_distance(const std::vector<std::string>& ref, const std::vector<std::string>& hyp) {
  std::vector<std::size_t> d(hyp.size() + 1);
  for (std::size_t j = 0; j <= hyp.size(); ++j) d[j] = j;
  for (std::size_t i = 1; i <= ref.size(); ++i) {
    std::size_t diag = d[0];
    d[0] = i;
    for (std::size_t j = 1; j <= hyp.size(); ++j) {
      const std::size_t up = d[j];
      d[j] = std::min({d[j] + 1, d[j - 1] + 1, diag + (ref[i - 1] == hyp[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return d[hyp.size()];
}

}  // namespace parley::test
