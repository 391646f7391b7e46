// LLM latency benchmark (issue 15): the time from the end of the user's turn (a typed turn,
// so that recognition is not in the figure) to the first agent audio frame, with the agent's
// words coming from an OpenAI-compatible server whose first token arrives 0, 200 and 500 ms
// after it was asked. The server is the tests' (tests/host/test_llm_server.cpp), replaying
// OpenAI's wire format, in this process; parley-host is the real one, speech on.
//
// The host's own added latency is split where the server sees it:
//   before = the request reaching the LLM server - the turn sent by the client
//            (the turn parsed, the user's line stored, the request built and written),
//   after  = the first agent frame at the client - the first token leaving the server
//            (the stream read, the first sentence cut, espeak-ng's first audio, the frame sent),
// and host = before + after, against the budget of 30 ms p95 on top of the upstream's time.
//
// The reference row ("rules") is the same words from the built-in rule responder: the host's
// path with no upstream, the reply coming whole and synthesised as one text. The ratio is the
// LLM path's time to audio with the upstream's delay taken out, over the reference's (below
// 1: speaking from the first sentence pays for the stream).
//
//   parley-llm-bench PARLEY_HOST [--turns N] [--delays 0,200,500]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "parley/json.hpp"
#include "test_client.hpp"
#include "test_llm_server.hpp"

using namespace parley::test;
using parley::json;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(rank);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

json demo_agent() {
  std::ifstream in(std::string(PARLEY_SOURCE_DIR) + "/host/demo/config.json");
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parley::parse_json(text.str(), "demo config", 64);
  if (!parsed) {
    std::fprintf(stderr, "cannot read the demo config\n");
    std::exit(2);
  }
  json agent = (*parsed)["agents"][0];
  agent.erase("phone_numbers");  // the bench makes two agents of it; a number is one agent's
  return agent;
}

std::optional<json> read_json(WsClient& ws, int timeout_ms, bool* binary) {
  WsMessage m = ws.read(timeout_ms);
  *binary = m.kind == WsMessage::Kind::binary;
  if (m.kind != WsMessage::Kind::text) return std::nullopt;
  auto parsed = parley::parse_json(m.data, "frame", 64);
  if (!parsed) return std::nullopt;
  return *parsed;
}

struct Figures {
  std::vector<double> total, host_added, before, after, synth;
};

// The host's own debug log: each reply's synthesis time to its first audio (speech.first_audio),
// the last `count` of them.
std::vector<double> synth_times(const std::string& log_text, int count) {
  std::vector<double> synth;
  std::istringstream log(log_text);
  for (std::string line; std::getline(log, line);) {
    const auto at = line.find("speech.first_audio");
    const auto ms_at = line.find("ms_after_say=");
    if (at == std::string::npos || ms_at == std::string::npos) continue;
    synth.push_back(std::atof(line.c_str() + ms_at + 13));
  }
  if (synth.size() > static_cast<std::size_t>(count)) synth.erase(synth.begin(), synth.end() - count);
  return synth;
}

// `turns` typed turns (after 3 unmeasured) on one call to `agent_id`; delay < 0: no upstream.
bool run_call(HostProcess& host, TestLlmHttpServer& llm, const std::string& agent_id, int delay,
              int turns, Figures& f) {
  WsClient ws;
  if (!ws.connect(host.port(), "/v1/voice", std::string("http://127.0.0.1:5173")).empty()) return false;
  ws.send_text(R"({"method":"initiate","data":{"public_key":"pk-bench","agent":{"agent_id":")" + agent_id +
               R"("}}})");
  bool binary = false;
  for (int i = 0; i < 20; ++i) {
    auto m = read_json(ws, 5000, &binary);
    if (m && (*m)["method"] == "onready") break;
  }
  const int warm = 3;
  for (int t = 0; t < turns + warm; ++t) {
    const std::size_t requests_before = llm.http().requests().size();
    const auto sent = Clock::now();
    ws.send_text(R"({"method":"text","data":"What is the weather?"})");
    Clock::time_point first_frame{};
    bool got_final = false;
    Clock::time_point last_audio = Clock::now();
    // Read the whole reply: its first frame, its final text, then quiet for 300 ms.
    for (;;) {
      auto m = read_json(ws, 300, &binary);
      const auto now = Clock::now();
      if (binary) {
        if (first_frame == Clock::time_point{}) first_frame = now;
        last_audio = now;
        continue;
      }
      if (m && (*m)["method"] == "onresponsetext" && (*m)["payload"]["is_final"] == true) got_final = true;
      if (!m && got_final && first_frame != Clock::time_point{} && ms(now - last_audio) >= 300) break;
      if (ms(now - sent) > 15000) break;
    }
    if (first_frame == Clock::time_point{}) {
      std::fprintf(stderr, "%s turn %d: no agent audio\n", agent_id.c_str(), t);
      return false;
    }
    if (t < warm) continue;
    const double turn_to_audio = ms(first_frame - sent);
    f.total.push_back(turn_to_audio);
    if (delay < 0) continue;
    auto requests = llm.http().requests();
    if (requests.size() <= requests_before) return false;
    const auto asked = llm.http().epoch() +
                       std::chrono::microseconds(static_cast<long long>(requests.back().at_ms * 1000));
    const double b = ms(asked - sent);
    const double a = ms(first_frame - asked) - delay;
    f.before.push_back(b);
    f.after.push_back(a);
    f.host_added.push_back(b + a);
  }
  ws.close();
  f.synth = synth_times(host.log_text(), turns);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PARLEY_HOST [--turns N] [--delays 0,200,500]\n", argv[0]);
    return 64;
  }
  const std::string host_binary = argv[1];
  int turns = 40;
  std::vector<int> delays = {0, 200, 500};
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--turns") turns = std::max(5, std::atoi(value.c_str()));
    if (flag == "--delays") {
      delays.clear();
      std::stringstream ss(value);
      for (std::string d; std::getline(ss, d, ',');) delays.push_back(std::atoi(d.c_str()));
    }
  }

  // The LLM's answer, and the same words from a rule (the reference: the host's path with no
  // upstream, the reply coming whole and spoken as one text).
  const std::string first_sentence = "Sure, it is sunny.", rest = " Anything else?";
  TestLlmHttpServer llm;
  json agent = demo_agent();
  agent["public_keys"] = {"pk-bench"};
  agent["flow"]["user_start_first"] = true;
  agent["session_timeout"] = {{"max_duration", 3600}, {"max_idle", 3600}, {"message", ""}};
  agent.erase("tools");
  json rules_agent = agent;
  rules_agent["id"] = "bench-rules";
  rules_agent["rules"] = json::array({{{"words", {"weather"}}, {"reply", first_sentence + rest}}});
  agent.erase("rules");
  agent["id"] = "bench-llm";
  agent["llm"] = {{"provider", "openai"}, {"base_url", llm.base_url()}, {"model", "bench"}, {"timeout_ms", 5000}};
  // Debug: the host logs each reply's synthesis time to its first audio (speech.first_audio).
  // No synthesis cache: every turn says the same words here, and a model would not; with the
  // cache, every measured turn's audio would come from memory and espeak-ng would never run.
  json config = {{"server", {{"log_level", "debug"}, {"speech", {{"synth_cache_mb", 0}}}}},
                 {"agents", {agent, rules_agent}}};
  TempDir dir;
  const std::string config_path = dir.write("config.json", parley::to_json_text(config));
  HostProcess::Options options;
  options.binary = host_binary;
  options.args = {"--config", config_path, "--db", dir.file("bench.db")};
  HostProcess host(options);
  if (host.port() == 0) {
    std::fprintf(stderr, "parley-host did not start: %s\n", host.start_error().c_str());
    return 1;
  }

  std::printf("parley-llm-bench: %d turns per row; a typed turn -> the first agent audio frame\n", turns);
  std::printf("%-7s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s\n", "first", "turn>aud", "turn>aud",
              "host", "host", "before", "before", "after", "after", "synth", "ratio", "budget");
  std::printf("%-7s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s %8s\n", "token", "p50 ms", "p95 ms",
              "p50 ms", "p95 ms", "p50 ms", "p95 ms", "p50 ms", "p95 ms", "p95 ms", "vs rules", "30 p95");
  Figures reference;
  if (!run_call(host, llm, "bench-rules", -1, turns, reference)) return 1;
  const double reference_p50 = percentile(reference.total, 50);
  auto synth_text = [](const Figures& f) {
    return f.synth.empty() ? std::string("-") : std::to_string(static_cast<int>(percentile(f.synth, 95)));
  };
  std::printf("%-7s %9.1f %9.1f %9s %9s %9s %9s %9s %9s %9s %8s %8s\n", "rules", reference_p50,
              percentile(reference.total, 95), "-", "-", "-", "-", "-", "-", synth_text(reference).c_str(),
              "1.00", "-");
  std::fflush(stdout);
  bool all_ok = true;
  for (int delay : delays) {
    // One short sentence first (a complete sentence in the first token), then a little more.
    AnswerPlan plan{{first_sentence, rest}, {}, static_cast<std::uint32_t>(delay), 20, ""};
    llm.set({llm_reply(Wire::openai, plan)});
    Figures f;
    if (!run_call(host, llm, "bench-llm", delay, turns, f)) return 1;
    const double host_p95 = percentile(f.host_added, 95);
    const bool ok = host_p95 <= 30.0;
    all_ok = all_ok && ok;
    // ratio: this path's time to audio, the upstream's delay taken out, against the rule
    // responder's for the same words (below 1: speaking from the first sentence pays).
    const double ratio = (percentile(f.total, 50) - delay) / reference_p50;
    std::printf("%-7s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9s %8.2f %8s\n",
                (std::to_string(delay) + " ms").c_str(), percentile(f.total, 50), percentile(f.total, 95),
                percentile(f.host_added, 50), host_p95, percentile(f.before, 50), percentile(f.before, 95),
                percentile(f.after, 50), percentile(f.after, 95), synth_text(f).c_str(), ratio,
                ok ? "met" : "NOT MET");
    std::fflush(stdout);
  }
  host.stop();
  return all_ok ? 0 : 3;
}
