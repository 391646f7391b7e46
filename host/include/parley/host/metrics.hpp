// Counters for GET /metrics (Prometheus text format 0.0.4). Everything runs on the one io
// thread, so plain integers suffice. Each part of the host bumps its own counters; the
// network layer renders them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace parley::host {

// A Prometheus histogram of durations with fixed bucket bounds. The bounds are dense around
// the host's budgets (a frame handled in microseconds, p99 <= 5 ms end to end), so the load
// benchmark can read quantiles off two scrapes. observe() is a short search and three adds:
// cheap enough for every frame.
struct DurationHistogram {
  // Upper bounds in microseconds; the last bucket (+Inf) is implicit.
  static constexpr std::array<std::uint32_t, 22> bounds_us = {
      2,    5,    10,   20,    35,    50,    75,    100,   150,   250,    500,
      1000, 1500, 2000, 3000,  4000,  5000,  7500,  10000, 25000, 100000, 1000000};
  std::array<std::uint64_t, bounds_us.size() + 1> counts{};  // per bucket, not cumulative
  std::uint64_t count = 0;
  std::uint64_t sum_us = 0;

  void observe_us(std::uint64_t us) noexcept {
    std::size_t i = 0;
    while (i < bounds_us.size() && us > bounds_us[i]) ++i;
    ++counts[i];
    ++count;
    sum_us += us;
  }
  // Appends `name` as a Prometheus histogram in seconds (name_bucket{le=...}, _sum, _count),
  // with `labels` (e.g. `kind="binary"`, or "") inside every sample's braces.
  void render(std::string& out, std::string_view name, std::string_view labels) const;
};

// The same for latencies a person notices (an LLM's first token, the first agent audio):
// bounds from 5 ms to 30 s.
struct LatencyHistogram {
  static constexpr std::array<std::uint32_t, 18> bounds_us = {
      5000,   10000,  20000,  30000,   50000,   75000,   100000,  150000,  200000,
      300000, 500000, 750000, 1000000, 1500000, 2000000, 3000000, 10000000, 30000000};
  std::array<std::uint64_t, bounds_us.size() + 1> counts{};
  std::uint64_t count = 0;
  std::uint64_t sum_us = 0;

  void observe_us(std::uint64_t us) noexcept {
    std::size_t i = 0;
    while (i < bounds_us.size() && us > bounds_us[i]) ++i;
    ++counts[i];
    ++count;
    sum_us += us;
  }
  void render(std::string& out, std::string_view name, std::string_view labels) const;
};

struct Metrics {
  std::uint64_t http_requests = 0;
  std::uint64_t ws_connections_total = 0;
  std::int64_t ws_connections_open = 0;
  std::int64_t sessions_open = 0;          // voice calls and REST sessions in memory
  std::uint64_t sessions_started = 0;
  std::uint64_t frames_in_text = 0;
  std::uint64_t frames_in_binary = 0;
  std::uint64_t frames_out_text = 0;
  std::uint64_t frames_out_binary = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t webhook_deliveries = 0;    // delivered (2xx)
  std::uint64_t webhook_failures = 0;      // failed attempts (each retry counts)
  std::map<std::string, std::uint64_t, std::less<>> errors;  // by kind: "bad_request", ...
  // Time the application took to handle one received WebSocket message, by frame type.
  DurationHistogram ws_handling_text;
  DurationHistogram ws_handling_binary;
  // How late a 10 ms timer on the io thread fires: the wait any frame arriving now has
  // before the host gets to it (the host's own queueing delay).
  DurationHistogram io_loop_lag;

  // The agent's LLM (issue 15): requests made, tokens the upstreams reported, errors by kind
  // (llm_unreachable, llm_unauthorized, llm_model_not_found, llm_rate_limited,
  // llm_stream_cut, ...), time to the first token, and the time from the end of a user's turn
  // to the first agent audio frame (any agent, not only LLM ones).
  std::uint64_t llm_requests = 0;
  std::uint64_t llm_tokens_in = 0;
  std::uint64_t llm_tokens_out = 0;
  std::map<std::string, std::uint64_t, std::less<>> llm_errors;
  LatencyHistogram llm_first_token;
  LatencyHistogram first_audio;

  void llm_error(std::string_view kind) {
    auto it = llm_errors.find(kind);
    if (it == llm_errors.end()) it = llm_errors.emplace(std::string(kind), 0).first;
    ++it->second;
  }

  // Refusals by rate limit (issue 14): requests_per_address, sessions_per_address,
  // requests_per_session, text_per_session, audio_per_session (each rendered, 0 included).
  std::map<std::string, std::uint64_t, std::less<>> rate_limited;
  void limited(std::string_view limit) {
    auto it = rate_limited.find(limit);
    if (it == rate_limited.end()) it = rate_limited.emplace(std::string(limit), 0).first;
    ++it->second;
  }

  void error(std::string_view kind) {
    auto it = errors.find(kind);
    if (it == errors.end()) it = errors.emplace(std::string(kind), 0).first;
    ++it->second;
  }
  // All counters as Prometheus text, names prefixed "parley_".
  std::string prometheus_text() const;
};

}  // namespace parley::host
