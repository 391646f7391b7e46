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
  return (*parsed)["agents"][0];
}

std::optional<json> read_json(WsClient& ws, int timeout_ms, bool* binary) {
  WsMessage m = ws.read(timeout_ms);
  *binary = m.kind == WsMessage::Kind::binary;
  if (m.kind != WsMessage::Kind::text) return std::nullopt;
  auto parsed = parley::parse_json(m.data, "frame", 64);
  if (!parsed) return std::nullopt;
  return *parsed;
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

  TestLlmHttpServer llm;
  json agent = demo_agent();
  agent["public_keys"] = {"pk-bench"};
  agent["flow"]["user_start_first"] = true;
  agent["session_timeout"] = {{"max_duration", 3600}, {"max_idle", 3600}, {"message", ""}};
  agent.erase("rules");
  agent.erase("tools");
  agent["llm"] = {{"provider", "openai"}, {"base_url", llm.base_url()}, {"model", "bench"}, {"timeout_ms", 5000}};
  // Debug: the host logs each reply's synthesis time to its first audio (speech.first_audio).
  json config = {{"server", {{"log_level", "debug"}}}, {"agents", {agent}}};
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

  std::printf("parley-llm-bench: %d turns per delay; a typed turn -> the first agent audio frame\n", turns);
  std::printf("%-7s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s\n", "first", "turn>aud", "turn>aud",
              "host", "host", "before", "before", "after", "after", "synth", "budget");
  std::printf("%-7s %9s %9s %9s %9s %9s %9s %9s %9s %9s %8s\n", "token", "p50 ms", "p95 ms",
              "p50 ms", "p95 ms", "p50 ms", "p95 ms", "p50 ms", "p95 ms", "p95 ms", "30 p95");
  bool all_ok = true;
  for (int delay : delays) {
    // One short sentence first (a complete sentence in the first token), then a little more.
    AnswerPlan plan{{"Sure, it is sunny.", " Anything else?"}, {}, static_cast<std::uint32_t>(delay), 20, ""};
    llm.set({llm_reply(Wire::openai, plan)});
    WsClient ws;
    if (!ws.connect(host.port(), "/v1/voice", std::string("http://127.0.0.1:5173")).empty()) return 1;
    ws.send_text(R"({"method":"initiate","data":{"public_key":"pk-bench","agent":{"agent_id":"demo"}}})");
    bool binary = false;
    for (int i = 0; i < 20; ++i) {
      auto m = read_json(ws, 5000, &binary);
      if (m && (*m)["method"] == "onready") break;
    }
    std::vector<double> total, host_added, before, after;
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
        std::fprintf(stderr, "turn %d: no agent audio\n", t);
        return 1;
      }
      if (t < warm) continue;
      auto requests = llm.http().requests();
      if (requests.size() <= requests_before) return 1;
      const auto asked = llm.http().epoch() +
                         std::chrono::microseconds(static_cast<long long>(requests.back().at_ms * 1000));
      const double turn_to_audio = ms(first_frame - sent);
      const double b = ms(asked - sent);
      const double a = ms(first_frame - asked) - delay;
      total.push_back(turn_to_audio);
      before.push_back(b);
      after.push_back(a);
      host_added.push_back(b + a);
    }
    ws.close();
    const double host_p95 = percentile(host_added, 95);
    const bool ok = host_p95 <= 30.0;
    all_ok = all_ok && ok;
    // The synthesis share of "after", from the host's own debug log (say -> first audio).
    std::vector<double> synth;
    {
      std::istringstream log(host.log_text());
      for (std::string line; std::getline(log, line);) {
        const auto at = line.find("speech.first_audio");
        const auto ms_at = line.find("ms_after_say=");
        if (at == std::string::npos || ms_at == std::string::npos) continue;
        synth.push_back(std::atof(line.c_str() + ms_at + 13));
      }
      if (synth.size() > static_cast<std::size_t>(turns)) {
        synth.erase(synth.begin(), synth.end() - turns);  // this delay's turns
      }
    }
    std::printf("%-7s %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %9s %8s\n",
                (std::to_string(delay) + " ms").c_str(), percentile(total, 50), percentile(total, 95),
                percentile(host_added, 50), host_p95, percentile(before, 50), percentile(before, 95),
                percentile(after, 50), percentile(after, 95),
                synth.empty() ? "-" : std::to_string(static_cast<int>(percentile(synth, 95))).c_str(),
                ok ? "met" : "NOT MET");
    std::fflush(stdout);
  }
  host.stop();
  return all_ok ? 0 : 3;
}
