// parley-speech-bench: voice-to-voice latency and streams per core with speech on (issue 5),
// against a running parley-host (run.sh starts one pinned to a core).
//
// latency: the scripted phrases (espeak-ng, made here at start, nothing stored), each in a
//   call of its own, streamed at real time in 20 ms frames over /v1/voice with room noise
//   around them. Latency = the first agent audio frame - the end of the user's speech (the
//   send time of the frame holding the last sample above -40 dBFS). It includes the VAD
//   hangover, printed beside it so that the engines' own share shows. Budget p95 <= 800 ms.
// load: N calls at once, each saying a phrase, waiting (microphone open: room noise) until the
//   agent's spoken reply has finished, and saying the next, for --duration seconds. Prints the
//   turns done, their latency, and parley-host's CPU per stream-second (/proc/PID/stat), and
//   from that the streams one core carries with speech on, beside the speech-off figure
//   (--speech-off-ms, the host load benchmark's ms_cpu/s/st, which run.sh measures).
//
//   parley-speech-bench --port P [--pid HOST_PID] [--agent demo] [--key demo-public-key]
//       [--rounds 2] [--clients 1,2,4] [--duration 20] [--hangover-ms 600] [--speech-off-ms X]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "parley/json.hpp"
#include "test_client.hpp"
#include "test_speech.hpp"

using namespace parley::test;
using parley::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::uint16_t port = 0;
  long pid = 0;
  std::string agent = "demo";
  std::string key = "demo-public-key";
  int rounds = 2;
  std::vector<int> clients = {1, 2, 4};
  double duration_s = 20;
  int hangover_ms = 600;
  double speech_off_ms = 0;  // host CPU ms per stream-second with speech off (host-load)
};

const std::vector<std::string> kPhrases = {
    "hello there",          "what is my name",         "tell me my name please",
    "which plan am I on",   "what plan do I have",      "what is the weather today",
    "how is the weather in Zurich", "hello can you hear me", "goodbye for now",
    "bye bye",              "tell me about my plan",    "hey what is the weather like"};

double process_cpu_s(long pid) {
  if (pid <= 0) return std::nan("");
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nan("");
  std::istringstream fields(line.substr(line.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string x; fields >> x;) f.push_back(x);
  if (f.size() < 13) return std::nan("");
  return (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[i];
}

std::string open_call(WsClient& ws, const Options& o) {
  if (auto e = ws.connect(o.port, "/v1/voice"); !e.empty()) return e;
  json data = {{"public_key", o.key}, {"agent", {{"agent_id", o.agent}}}, {"metadata", {{"userName", "Ada"}}}};
  if (!ws.send_text(parley::to_json_text(json{{"method", "initiate"}, {"data", data}}))) return "initiate not sent";
  for (int i = 0; i < 50; ++i) {
    WsMessage m = ws.read(10000);
    if (m.kind != WsMessage::Kind::text) return "no onready";
    if (m.data.find("\"onready\"") != std::string::npos) return "";
  }
  return "no onready";
}

struct Clip {
  std::string text;
  Samples audio;   // noise, the phrase, noise
  double end_ms;   // send time of the frame with the phrase's last loud sample
};

struct Turn {
  bool heard = false, answered = false;
  double latency_ms = 0, final_ms = 0;  // first agent frame / final transcript, after the end
  double reply_ms = 0;                  // first agent frame after the final transcript
  std::string transcript;
};

// One phrase in the open call `ws`, then the microphone stays open until the agent's audio has
// stopped for 400 ms (or `max_wait_ms`).
Turn say(WsClient& ws, const Clip& clip, int max_wait_ms) {
  Turn t;
  double first_frame = -1, final_at = -1, last_frame = -1;
  StreamOptions o;
  o.tail_ms = max_wait_ms;
  o.done_when = [&](const Received& r) {
    if (r.method == "ontranscript" && r.message["payload"]["is_final"] == true && final_at < 0) {
      final_at = r.at_ms;
      t.transcript = r.message["data"].get<std::string>();
    }
    if (r.kind == Received::Kind::binary && r.at_ms > clip.end_ms && final_at >= 0) {
      if (first_frame < 0) first_frame = r.at_ms;
      last_frame = r.at_ms;
    }
    return false;
  };
  // Listen in slices so that the wait ends 400 ms after the reply's last frame.
  const auto t0 = Clock::now();
  auto got = stream_realtime(ws, clip.audio, t0, [&] {
    StreamOptions s = o;
    s.tail_ms = 0;
    return s;
  }());
  for (const auto& r : got) o.done_when(r);
  const auto deadline = t0 + std::chrono::milliseconds(static_cast<int>(clip.end_ms) + max_wait_ms);
  const Samples quiet = room_noise(0.1, -65.0, 7);
  while (Clock::now() < deadline) {
    if (last_frame >= 0 && std::chrono::duration<double, std::milli>(Clock::now() - t0).count() - last_frame > 400) break;
    // 100 ms more of open microphone, on the same clock.
    const double at = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    auto more = stream_realtime(ws, quiet, Clock::now(), [&] {
      StreamOptions s;
      s.tail_ms = 0;
      return s;
    }());
    for (auto& r : more) {
      r.at_ms += at;
      o.done_when(r);
    }
    if (!more.empty() && more.back().kind == Received::Kind::closed) break;
  }
  t.heard = final_at >= 0;
  t.answered = first_frame >= 0;
  t.final_ms = final_at - clip.end_ms;
  t.latency_ms = first_frame - clip.end_ms;
  t.reply_ms = first_frame - final_at;
  return t;
}

// parley_speech_<name> from the host's /metrics (NaN if absent).
double host_metric(const Options& o, const std::string& name) {
  const HttpResult r = http(o.port, "GET", "/metrics");
  const std::string key = "\nparley_speech_" + name + " ";
  const auto at = r.body.find(key);
  return at == std::string::npos ? std::nan("") : std::atof(r.body.c_str() + at + key.size());
}

void run_latency(const Options& o, const std::vector<Clip>& clips) {
  std::vector<double> latency, finals, replies;
  const double final_sum0 = host_metric(o, "final_seconds_sum"), final_n0 = host_metric(o, "final_seconds_count");
  std::size_t edits = 0, words = 0, missing = 0;
  for (int round = 0; round < o.rounds; ++round) {
    for (const Clip& clip : clips) {
      WsClient ws;
      if (auto e = open_call(ws, o); !e.empty()) {
        std::printf("  call failed: %s\n", e.c_str());
        ++missing;
        continue;
      }
      Turn t = say(ws, clip, 4000);
      ws.close();
      if (!t.heard || !t.answered) {
        ++missing;
        std::printf("  %-30s (no %s)\n", clip.text.c_str(), t.heard ? "agent audio" : "transcript");
        continue;
      }
      latency.push_back(t.latency_ms);
      finals.push_back(t.final_ms);
      replies.push_back(t.reply_ms);
      if (round == 0) {
        edits += word_edit_distance(words_of(clip.text), words_of(t.transcript));
        words += words_of(clip.text).size();
      }
      std::printf("  %-30s -> %-32s final %+5.0f ms, first agent frame %+5.0f ms\n", clip.text.c_str(),
                  t.transcript.c_str(), t.final_ms, t.latency_ms);
    }
  }
  std::printf("\nvoice-to-voice latency over %zu turns (end of user speech -> first agent audio frame):\n",
              latency.size());
  const double host_final_ms = (host_metric(o, "final_seconds_sum") - final_sum0) * 1000.0 /
                               (host_metric(o, "final_seconds_count") - final_n0);
  std::printf("  p50 %.0f ms, p95 %.0f ms (budget p95 <= 800 ms), with the VAD hangover of %d ms in it\n"
              "  (the VAD ends speech where its 10 ms windows fall to the noise floor, a little before\n"
              "  the last sample above -40 dBFS that the client counts from)\n"
              "  the host's own share: VAD end -> final transcript %.0f ms on average (parley_speech_final_seconds);\n"
              "  final transcript -> first agent frame (rule, store, synthesis, first frame): p50 %.0f ms, p95 %.0f ms\n"
              "  final transcript after the end of speech (client): p50 %.0f ms, p95 %.0f ms\n",
              percentile(latency, 0.5), percentile(latency, 0.95), o.hangover_ms, host_final_ms,
              percentile(replies, 0.5), percentile(replies, 0.95), percentile(finals, 0.5), percentile(finals, 0.95));
  std::printf("  WER %.1f %% over the %zu phrases (first round); %zu turns without transcript or reply\n",
              words ? 100.0 * static_cast<double>(edits) / static_cast<double>(words) : 0.0, clips.size(), missing);
}

void run_load(const Options& o, const std::vector<Clip>& clips) {
  std::printf("\nload: N calls talking at once (say a phrase, wait for the spoken reply, repeat), %.0f s each\n",
              o.duration_s);
  std::printf("%6s %7s %8s %8s %8s %9s %12s %12s\n", "N", "turns", "missed", "lat_p50", "lat_p95",
              "host_cpu", "ms_cpu/s/st", "streams/core");
  double best_streams = 0;
  int best_n = 0;
  for (int n : o.clients) {
    std::atomic<bool> stop{false};
    std::vector<std::vector<Turn>> turns(static_cast<std::size_t>(n));
    std::vector<std::thread> threads;
    const double cpu0 = process_cpu_s(o.pid);
    const auto t0 = Clock::now();
    for (int c = 0; c < n; ++c) {
      threads.emplace_back([&, c] {
        WsClient ws;
        if (!open_call(ws, o).empty()) return;
        for (std::size_t k = static_cast<std::size_t>(c); !stop.load(); ++k) {
          turns[static_cast<std::size_t>(c)].push_back(say(ws, clips[k % clips.size()], 5000));
          if (!ws.is_open()) break;
        }
        ws.close();
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(o.duration_s));
    stop = true;
    const double cpu1 = process_cpu_s(o.pid);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    for (auto& t : threads) t.join();
    std::vector<double> lat;
    std::size_t done = 0, missed = 0;
    for (const auto& per : turns)
      for (const auto& t : per) {
        if (t.heard && t.answered) {
          ++done;
          lat.push_back(t.latency_ms);
        } else {
          ++missed;
        }
      }
    const double ms_per_stream_s = (cpu1 - cpu0) * 1000.0 / (wall * n);
    const double streams = ms_per_stream_s > 0 ? 1000.0 / ms_per_stream_s : 0;
    std::printf("%6d %7zu %8zu %8.0f %8.0f %8.1f%% %12.1f %12.1f\n", n, done, missed, percentile(lat, 0.5),
                percentile(lat, 0.95), 100.0 * (cpu1 - cpu0) / wall, ms_per_stream_s, streams);
    if (percentile(lat, 0.95) <= 800 && missed == 0) {
      best_n = n;
      best_streams = streams;
    }
  }
  std::printf("\nstreams per core, speech ON: %.1f by host CPU (at N=%d, the largest N held with p95 <= 800 ms)\n",
              best_streams, best_n);
  if (o.speech_off_ms > 0)
    std::printf("streams per core, speech OFF (host load benchmark, silence frames): %.0f (%.3f ms CPU per "
                "stream-second)\n",
                1000.0 / o.speech_off_ms, o.speech_off_ms);
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');) out.push_back(std::atoi(item.c_str()));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string mode = "all";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--port") o.port = static_cast<std::uint16_t>(std::atoi(value.c_str()));
    else if (flag == "--pid") o.pid = std::atol(value.c_str());
    else if (flag == "--agent") o.agent = value;
    else if (flag == "--key") o.key = value;
    else if (flag == "--rounds") o.rounds = std::atoi(value.c_str());
    else if (flag == "--clients") o.clients = parse_list(value);
    else if (flag == "--duration") o.duration_s = std::atof(value.c_str());
    else if (flag == "--hangover-ms") o.hangover_ms = std::atoi(value.c_str());
    else if (flag == "--speech-off-ms") o.speech_off_ms = std::atof(value.c_str());
    else if (flag == "--mode") mode = value;
    else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 64;
    }
  }
  if (o.port == 0) {
    std::fprintf(stderr, "usage: parley-speech-bench --port P [--pid PID] [--mode all|latency|load] ...\n");
    return 64;
  }
  std::vector<Clip> clips;
  for (const auto& text : kPhrases) {
    const Samples speech = espeak_16k(text);
    if (speech.empty()) {
      std::fprintf(stderr, "espeak-ng could not speak \"%s\" (install espeak-ng)\n", text.c_str());
      return 2;
    }
    Clip c;
    c.text = text;
    c.audio = mix_at(room_noise(0.4 + static_cast<double>(speech.size()) / kSpeechRate + 0.2, -65.0, 5), speech, 6400);
    c.end_ms = static_cast<double>((6400 + last_loud(speech)) / 320) * 20.0;
    clips.push_back(std::move(c));
  }
  if (mode == "all" || mode == "latency") run_latency(o, clips);
  if (mode == "all" || mode == "load") run_load(o, clips);
  return 0;
}
