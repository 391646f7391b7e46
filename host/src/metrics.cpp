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

void append_seconds_us(std::string& out, std::uint64_t us) {
  // Exact decimal seconds from microseconds, without locale or float formatting.
  out += std::to_string(us / 1000000);
  const std::uint64_t frac = us % 1000000;
  if (frac == 0) return;
  std::string digits = std::to_string(frac);
  digits.insert(0, 6 - digits.size(), '0');
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  out += '.';
  out += digits;
}

void sample(std::string& out, std::string_view name, std::string_view suffix,
            std::string_view labels, std::string_view le) {
  out += "parley_";
  out += name;
  out += suffix;
  if (!labels.empty() || !le.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !le.empty()) out += ',';
    if (!le.empty()) {
      out += "le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

}  // namespace

template <class Bounds, class Counts>
static void render_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const Bounds& bounds_us, const Counts& counts, std::uint64_t sum_us,
                      std::uint64_t count) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_us.size(); ++i) {
    cumulative += counts[i];
    std::string le;
    if (i < bounds_us.size())
      append_seconds_us(le, bounds_us[i]);
    else
      le = "+Inf";
    sample(out, name, "_bucket", labels, le);
    out += std::to_string(cumulative);
    out += '\n';
  }
  sample(out, name, "_sum", labels, "");
  append_seconds_us(out, sum_us);
  out += '\n';
  sample(out, name, "_count", labels, "");
  out += std::to_string(count);
  out += '\n';
}

void DurationHistogram::render(std::string& out, std::string_view name,
                               std::string_view labels) const {
  render_histogram(out, name, labels, bounds_us, counts, sum_us, count);
}

void LatencyHistogram::render(std::string& out, std::string_view name,
                              std::string_view labels) const {
  render_histogram(out, name, labels, bounds_us, counts, sum_us, count);
}

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
  out += "# HELP parley_rate_limited_total Requests and messages refused by a rate limit, by "
         "limit.\n# TYPE parley_rate_limited_total counter\n";
  for (const char* limit : {"requests_per_address", "sessions_per_address",
                            "requests_per_session", "text_per_session", "audio_per_session"}) {
    auto it = rate_limited.find(limit);
    out += std::string("parley_rate_limited_total{limit=\"") + limit + "\"} " +
           std::to_string(it == rate_limited.end() ? 0 : it->second) + '\n';
  }
  out += "# HELP parley_ws_message_handling_seconds Time the host took to handle one received "
         "WebSocket message.\n# TYPE parley_ws_message_handling_seconds histogram\n";
  ws_handling_text.render(out, "ws_message_handling_seconds", "kind=\"text\"");
  ws_handling_binary.render(out, "ws_message_handling_seconds", "kind=\"binary\"");
  out += "# HELP parley_io_loop_lag_seconds How late a 10 ms timer on the io thread fired.\n"
         "# TYPE parley_io_loop_lag_seconds histogram\n";
  io_loop_lag.render(out, "io_loop_lag_seconds", "");
  add(out, "llm_requests_total", "counter", "Chat-completion requests sent to LLM upstreams.",
      llm_requests);
  add(out, "llm_tokens_in_total", "counter", "Prompt tokens the LLM upstreams reported.",
      llm_tokens_in);
  add(out, "llm_tokens_out_total", "counter", "Completion tokens the LLM upstreams reported.",
      llm_tokens_out);
  out += "# HELP parley_llm_errors_total LLM upstream errors by kind.\n"
         "# TYPE parley_llm_errors_total counter\n";
  for (const auto& [kind, n] : llm_errors)
    out += "parley_llm_errors_total{kind=\"" + kind + "\"} " + std::to_string(n) + '\n';
  out += "# HELP parley_llm_first_token_seconds From a chat-completion request to its first "
         "token.\n# TYPE parley_llm_first_token_seconds histogram\n";
  llm_first_token.render(out, "llm_first_token_seconds", "");
  out += "# HELP parley_first_audio_seconds From the end of a user's turn to the agent's first "
         "audio frame.\n# TYPE parley_first_audio_seconds histogram\n";
  first_audio.render(out, "first_audio_seconds", "");
  return out;
}

}  // namespace parley::host
