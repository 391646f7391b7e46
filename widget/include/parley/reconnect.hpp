// Reconnecting a voice call that dropped (the browser SDK's transport, DESIGN §3 and §5), as a
// sans-I/O policy: which closes are worth another attempt, and how long to wait before each.
// The caller owns the socket and the timer; it passes the time and a random number in [0, 1)
// and gets back a delay, or "give up".
//
// Rules:
//  - A close is classified by classify_close():
//      ended    the call is over by design: 1000 (the server ended it: max_duration,
//               max_idle, the agent said goodbye), 4408 (idle timeout), or any close the
//               client itself asked for. Never retried.
//      refused  the server refused the call (is_refusal_close_code: 4400..4429 and 1011).
//               Retrying would be refused again. Never retried.
//      lost     everything else: 1006 (no close frame: the network or the server went),
//               1001 (the server is shutting down or restarting), 1012/1013/1014, 1005...
//               Retried.
//  - Only a call that was ready (the server's onready arrived) is reconnected: a first
//    connection that fails is reported at once, so a person pressing "start" is not kept
//    waiting through a whole backoff schedule.
//  - Delays grow: initial_delay_ms, then x multiplier each attempt, capped at max_delay_ms,
//    each spread by +-jitter (a fraction) so that many clients dropped by one server restart
//    do not all come back in the same millisecond.
//  - The outage starts at the first loss and ends when a reconnected call is ready again
//    (connected()); an attempt that opens a socket but never gets onready counts as failed.
//    The policy gives up when max_attempts attempts have failed in a row, or when the next
//    attempt would start more than max_outage_ms after the outage began.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "parley/result.hpp"

namespace parley {

struct ReconnectConfig {
  std::int64_t initial_delay_ms = 250;
  std::int64_t max_delay_ms = 5000;
  double multiplier = 2.0;
  double jitter = 0.2;              // 0..1: each delay is spread over [d*(1-j), d*(1+j)]
  int max_attempts = 8;             // 0 = never reconnect
  std::int64_t max_outage_ms = 30000;
};

// Error code reconnect_config_invalid, naming the field and its allowed range:
// initial_delay_ms 1..60000, max_delay_ms initial_delay_ms..600000, multiplier 1..10,
// jitter 0..1, max_attempts 0..100, max_outage_ms 0..3600000.
Status validate_reconnect_config(const ReconnectConfig& config);

enum class CloseDisposition { ended, refused, lost };
std::string_view to_string(CloseDisposition d) noexcept;

// `client_asked`: the application called stop() (or is unloading) before the close.
CloseDisposition classify_close(int close_code, bool client_asked) noexcept;

class ReconnectPolicy {
 public:
  // An invalid config is replaced by the defaults (check it with validate_reconnect_config).
  explicit ReconnectPolicy(ReconnectConfig config = {});

  // A ready call was lost, or a reconnection attempt failed, at `now` (epoch ms).
  // `random01` in [0, 1) picks the jitter (values outside are clamped). Returns the delay
  // before the next attempt, or nothing: give up (the outage is then over, and attempts()
  // says how many were made).
  std::optional<std::int64_t> on_lost(std::int64_t now, double random01);

  // A reconnected call is ready again: the outage is over, the next loss starts afresh.
  void connected() noexcept;

  bool in_outage() const noexcept { return outage_started_.has_value(); }
  std::optional<std::int64_t> outage_started() const noexcept { return outage_started_; }
  int attempts() const noexcept { return attempts_; }  // attempts scheduled in this outage
  const ReconnectConfig& config() const noexcept { return config_; }

 private:
  ReconnectConfig config_;
  std::optional<std::int64_t> outage_started_;
  int attempts_ = 0;
};

}  // namespace parley
