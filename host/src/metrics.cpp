#include "parley/host/metrics.hpp"

#include <string>

namespace parley::host {
namespace {

void add(std::string& out, const char* name, const char* type, const char* help,
         std::uint64_t value) {
  out += "# HELP parley_";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE parley_";
  out += name;
  out += ' ';
  out += type;
  out += "\nparley_";
  out += name;
  out += ' ';
  out += std::to_string(value);
  out += '\n';
}

std::uint64_t gauge(std::int64_t value) { return value < 0 ? 0 : static_cast<std::uint64_t>(value); }

}  // namespace

std::string Metrics::prometheus_text() const {
  std::string out;
  add(out, "http_requests_total", "counter", "HTTP requests received.", http_requests);
  add(out, "ws_connections_total", "counter", "WebSocket connections accepted.",
      ws_connections_total);
  add(out, "ws_connections_open", "gauge", "WebSocket connections open now.",
      gauge(ws_connections_open));
  add(out, "sessions_open", "gauge", "Sessions with a live call.", gauge(sessions_open));
  add(out, "sessions_started_total", "counter", "Sessions opened.", sessions_started);
  add(out, "frames_in_text_total", "counter", "Text frames received.", frames_in_text);
  add(out, "frames_in_binary_total", "counter", "Audio frames received.", frames_in_binary);
  add(out, "frames_out_text_total", "counter", "Text frames sent.", frames_out_text);
  add(out, "frames_out_binary_total", "counter", "Audio frames sent.", frames_out_binary);
  add(out, "bytes_in_total", "counter", "WebSocket payload bytes received.", bytes_in);
  add(out, "bytes_out_total", "counter", "WebSocket payload bytes sent.", bytes_out);
  add(out, "webhook_deliveries_total", "counter", "Webhook deliveries acknowledged with 2xx.",
      webhook_deliveries);
  add(out, "webhook_failures_total", "counter", "Webhook attempts that failed.", webhook_failures);
  out += "# HELP parley_errors_total Errors by kind.\n# TYPE parley_errors_total counter\n";
  for (const auto& [kind, count] : errors)
    out += "parley_errors_total{kind=\"" + kind + "\"} " + std::to_string(count) + '\n';
  return out;
}

}  // namespace parley::host
