// Measures the io thread's queueing delay: a timer due every 10 ms records how late it fires
// into Metrics::io_loop_lag. A message that arrives while the thread is busy waits about as
// long, so this is the host's own share of a frame's latency beside its handling time.
#pragma once

#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "parley/host/metrics.hpp"

namespace parley::host::net {

class LoopLagProbe : public std::enable_shared_from_this<LoopLagProbe> {
 public:
  static constexpr std::chrono::milliseconds period{10};

  LoopLagProbe(boost::asio::io_context& io, Metrics& metrics);
  void start();
  void stop();

 private:
  void schedule();
  void on_timer(boost::system::error_code ec);

  boost::asio::steady_timer timer_;
  Metrics& metrics_;
  std::chrono::steady_clock::time_point due_{};
  bool running_ = false;
};

}  // namespace parley::host::net
