#include "loop_lag_probe.hpp"

#include <cstdint>

namespace parley::host::net {

LoopLagProbe::LoopLagProbe(boost::asio::io_context& io, Metrics& metrics)
    : timer_(io), metrics_(metrics) {}

void LoopLagProbe::start() {
  if (running_) return;
  running_ = true;
  due_ = std::chrono::steady_clock::now() + period;
  schedule();
}

void LoopLagProbe::stop() {
  running_ = false;
  timer_.cancel();
}

void LoopLagProbe::schedule() {
  timer_.expires_at(due_);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) { self->on_timer(ec); });
}

void LoopLagProbe::on_timer(boost::system::error_code ec) {
  if (ec || !running_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto late = std::chrono::duration_cast<std::chrono::microseconds>(now - due_).count();
  metrics_.io_loop_lag.observe_us(late > 0 ? static_cast<std::uint64_t>(late) : 0);
  // The next tick is a period after this one fired, not after it was due: a stall is
  // recorded once, not as a burst of late ticks catching up.
  due_ = now + period;
  schedule();
}

}  // namespace parley::host::net
