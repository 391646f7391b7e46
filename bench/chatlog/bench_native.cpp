// Native run of the ChatLog benchmark: the same parse as the wasm module, on the same reply
// (written by `node bench/chatlog/run.mjs ... --write FILE`), next to nlohmann's DOM parse.
//   parley-bench-chatlog FILE [RUNS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "parley/chatlog.hpp"
#include "parley/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double median_ms;
  double p90_ms;
};

Stats stats_of(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[static_cast<std::size_t>(q * static_cast<double>(ms.size() - 1) + 0.5)];
  };
  return {at(0.5), at(0.9)};
}

template <class F>
Stats time_runs(int warmup, int runs, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto t0 = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return stats_of(std::move(ms));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s REPLY.json [RUNS]\n", argv[0]);
    return 64;
  }
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const int runs = argc > 2 ? std::atoi(argv[2]) : 50;

  auto check = parley::parse_chat_logs_reply(text);
  if (!check) {
    std::fprintf(stderr, "%s\n", check.error().message.c_str());
    return 2;
  }
  std::size_t lines = check->line_count;
  Stats ours = time_runs(10, runs, [&] {
    auto r = parley::parse_chat_logs_reply(text);
    if (!r || r->line_count != lines) std::abort();
  });
  Stats dom = time_runs(10, runs, [&] {
    auto j = parley::json::parse(text, nullptr, false);
    if (j.is_discarded()) std::abort();
  });
  std::printf("native: %zu bytes, %zu lines, %d runs\n", text.size(), lines, runs);
  std::printf("  parley scanner (incl. freeing)  median %7.3f ms  p90 %7.3f ms\n", ours.median_ms,
              ours.p90_ms);
  std::printf("  nlohmann DOM parse (reference)  median %7.3f ms  p90 %7.3f ms\n", dom.median_ms,
              dom.p90_ms);
  std::printf("  ratio nlohmann / parley (median): %.2fx\n", dom.median_ms / ours.median_ms);
  return 0;
}
