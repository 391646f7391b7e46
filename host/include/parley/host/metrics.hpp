// Counters for GET /metrics (Prometheus text format 0.0.4). Everything runs on the one io
// thread, so plain integers suffice. Each part of the host bumps its own counters; the
// network layer renders them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace parley::host {

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

  void error(std::string_view kind) {
    auto it = errors.find(kind);
    if (it == errors.end()) it = errors.emplace(std::string(kind), 0).first;
    ++it->second;
  }
  // All counters as Prometheus text, names prefixed "parley_".
  std::string prometheus_text() const;
};

}  // namespace parley::host
