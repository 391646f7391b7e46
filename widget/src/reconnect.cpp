#include "parley/reconnect.hpp"

#include <cmath>
#include <string>

#include "parley/protocol.hpp"

namespace parley {
namespace {

Error invalid(const std::string& field, const std::string& range) {
  return make_error("reconnect_config_invalid", "reconnect " + field + " must be " + range);
}

}  // namespace

Status validate_reconnect_config(const ReconnectConfig& c) {
  if (c.initial_delay_ms < 1 || c.initial_delay_ms > 60000)
    return invalid("initial_delay_ms", "1..60000");
  if (c.max_delay_ms < c.initial_delay_ms || c.max_delay_ms > 600000)
    return invalid("max_delay_ms", "initial_delay_ms..600000");
  if (!(c.multiplier >= 1.0 && c.multiplier <= 10.0)) return invalid("multiplier", "1..10");
  if (!(c.jitter >= 0.0 && c.jitter <= 1.0)) return invalid("jitter", "0..1");
  if (c.max_attempts < 0 || c.max_attempts > 100) return invalid("max_attempts", "0..100");
  if (c.max_outage_ms < 0 || c.max_outage_ms > 3600000)
    return invalid("max_outage_ms", "0..3600000");
  return ok_status();
}

std::string_view to_string(CloseDisposition d) noexcept {
  switch (d) {
    case CloseDisposition::ended: return "ended";
    case CloseDisposition::refused: return "refused";
    case CloseDisposition::lost: return "lost";
  }
  return "unknown";
}

CloseDisposition classify_close(int close_code, bool client_asked) noexcept {
  if (client_asked) return CloseDisposition::ended;
  if (close_code == to_int(CloseCode::normal) || close_code == to_int(CloseCode::idle_timeout))
    return CloseDisposition::ended;
  if (is_refusal_close_code(close_code)) return CloseDisposition::refused;
  return CloseDisposition::lost;
}

ReconnectPolicy::ReconnectPolicy(ReconnectConfig config)
    : config_(validate_reconnect_config(config).ok() ? config : ReconnectConfig{}) {}

std::optional<std::int64_t> ReconnectPolicy::on_lost(std::int64_t now, double random01) {
  if (!outage_started_) {
    outage_started_ = now;
    attempts_ = 0;
  }
  const auto give_up = [this]() -> std::optional<std::int64_t> {
    outage_started_.reset();
    return std::nullopt;
  };
  if (attempts_ >= config_.max_attempts) return give_up();

  double delay = static_cast<double>(config_.initial_delay_ms) *
                 std::pow(config_.multiplier, static_cast<double>(attempts_));
  delay = std::fmin(delay, static_cast<double>(config_.max_delay_ms));
  if (!(random01 >= 0.0)) random01 = 0.0;  // also NaN
  if (random01 >= 1.0) random01 = 1.0;
  delay *= 1.0 + config_.jitter * (2.0 * random01 - 1.0);
  const auto ms = static_cast<std::int64_t>(std::llround(std::fmax(delay, 1.0)));

  // Compare the elapsed time without overflow: `now` may be earlier than the start (a clock
  // set back), which counts as no time elapsed.
  const std::int64_t elapsed = now > *outage_started_ ? now - *outage_started_ : 0;
  if (elapsed > config_.max_outage_ms || ms > config_.max_outage_ms - elapsed) return give_up();
  ++attempts_;
  return ms;
}

void ReconnectPolicy::connected() noexcept {
  outage_started_.reset();
  attempts_ = 0;
}

}  // namespace parley
