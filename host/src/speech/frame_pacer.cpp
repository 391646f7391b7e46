#include "frame_pacer.hpp"

#include <utility>

namespace parley::host {
namespace {

constexpr auto kTick = std::chrono::milliseconds(1);
constexpr std::uint64_t kMaxCatchUpTicks = 5 * FramePacer::kSlots;

}  // namespace

void FramePacer::add(std::weak_ptr<Client> client) {
  const Clock::time_point now = Clock::now();
  if (!running_) {
    running_ = true;
    origin_ = now;
    next_tick_ = 1;
    schedule();
  }
  // The slot of the tick now: it comes round again in 20 ms.
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - origin_).count();
  const auto slot = static_cast<std::size_t>(static_cast<std::uint64_t>(elapsed) % kSlots);
  slots_[slot].push_back(std::move(client));
  ++count_;
}

void FramePacer::schedule() {
  timer_.expires_at(origin_ + next_tick_ * kTick);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_tick();
  });
}

void FramePacer::on_tick() {
  const Clock::time_point now = Clock::now();
  const auto due = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - origin_).count());
  // Far behind: drop the missed rounds beyond the catch-up allowance.
  if (due >= next_tick_ + kMaxCatchUpTicks) next_tick_ = due - kMaxCatchUpTicks + 1;
  for (; next_tick_ <= due; ++next_tick_) {
    auto& slot = slots_[static_cast<std::size_t>(next_tick_ % kSlots)];
    for (std::size_t i = 0; i < slot.size();) {
      auto client = slot[i].lock();
      if (client && client->on_frame_due()) {
        ++i;
        continue;
      }
      // Done (or gone): swap-remove. A client's on_frame_due may add() others, never this one.
      slot[i] = std::move(slot.back());
      slot.pop_back();
      --count_;
    }
  }
  if (count_ == 0) {
    running_ = false;  // nobody is speaking: the clock stops until the next add()
    return;
  }
  schedule();
}

}  // namespace parley::host
