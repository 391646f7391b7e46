#include "call_leases.hpp"

namespace parley::host {

std::optional<std::uint64_t> CallLeases::attach(const std::string& session_id) {
  Call& call = calls_[session_id];
  if (call.count++ > 0) return std::nullopt;
  call.attachment = ++next_attachment_;
  call.leased = false;
  return call.attachment;
}

void CallLeases::taken(const std::string& session_id, std::uint64_t attachment) {
  auto it = calls_.find(session_id);
  if (it != calls_.end() && it->second.attachment == attachment) it->second.leased = true;
}

bool CallLeases::detach(const std::string& session_id) {
  auto it = calls_.find(session_id);
  if (it == calls_.end()) return false;
  if (--it->second.count > 0) return false;
  calls_.erase(it);
  return true;
}

CallLeases::Snapshot CallLeases::held() const {
  Snapshot asked;
  for (const auto& [id, call] : calls_)
    if (call.leased) asked.emplace(id, call.attachment);
  return asked;
}

std::vector<std::string> CallLeases::lost(const Snapshot& asked,
                                          const std::set<std::string>& renewed) const {
  std::vector<std::string> gone;
  for (const auto& [id, attachment] : asked) {
    auto it = calls_.find(id);
    if (it == calls_.end() || it->second.attachment != attachment) continue;  // ended since
    if (!renewed.count(id)) gone.push_back(id);
  }
  return gone;
}

}  // namespace parley::host
