// One clock for every call's outgoing audio (issue 16). Each call used to arm a timer of its
// own for every 20 ms frame it sent; with 1,000 greetings playing at once that was 50,000
// timer waits a second on the io thread. Here one timer ticks every millisecond while any call
// is speaking, and each tick serves the calls of one of 20 slots, so each call is served every
// 20 ms on an absolute schedule, and calls that started together are spread over the slots.
//
// A late tick (a busy io thread) serves the slots it missed, up to five rounds (a call then
// sends up to five frames at once, as a client's playback queue absorbs); further behind than
// that, the missed slots are dropped rather than burst.
//
// Io thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace parley::host {

class FramePacer {
 public:
  class Client {
   public:
    virtual ~Client() = default;
    // A frame is due. Returns false when the client has nothing more to send: it is then
    // forgotten (add() it again for the next audio).
    virtual bool on_frame_due() = 0;
  };

  static constexpr int kSlots = 20;  // 1 ms each: one frame period

  explicit FramePacer(boost::asio::io_context& io) : timer_(io) {}
  FramePacer(const FramePacer&) = delete;
  FramePacer& operator=(const FramePacer&) = delete;

  // Serves `client` every 20 ms from the next round: its first call comes 20 ms from now
  // (the caller sends the frame due now itself). A client must not be added twice; it stays
  // until on_frame_due() returns false or it is destroyed.
  void add(std::weak_ptr<Client> client);
  std::size_t clients() const { return count_; }

 private:
  using Clock = std::chrono::steady_clock;
  void schedule();
  void on_tick();

  boost::asio::steady_timer timer_;
  std::array<std::vector<std::weak_ptr<Client>>, kSlots> slots_;
  std::size_t count_ = 0;
  bool running_ = false;
  Clock::time_point origin_{};     // tick 0
  std::uint64_t next_tick_ = 0;    // the next tick to serve
};

}  // namespace parley::host
