#include "parley/host/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

#include <boost/asio/ip/address.hpp>

namespace parley::host {

RateLimiter::RateLimiter(double rate_per_s, double burst, std::size_t max_keys)
    : rate_(rate_per_s), burst_(std::max(1.0, burst)), max_keys_(std::max<std::size_t>(1, max_keys)) {}

std::uint32_t RateLimiter::take(std::string_view key, Clock::time_point now) {
  if (rate_ <= 0) return 0;
  auto it = buckets_.find(std::string(key));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) make_room(now);
    lru_.emplace_front(key);
    it = buckets_.emplace(std::string(key), Bucket{burst_, now, lru_.begin()}).first;
  } else {
    const double seconds = std::chrono::duration<double>(now - it->second.updated).count();
    it->second.tokens = std::min(burst_, it->second.tokens + std::max(0.0, seconds) * rate_);
    it->second.updated = now;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Bucket& bucket = it->second;
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    return 0;
  }
  const double wait = (1.0 - bucket.tokens) / rate_;
  return static_cast<std::uint32_t>(std::max(1.0, std::ceil(wait)));
}

void RateLimiter::make_room(Clock::time_point now) {
  // Full buckets first: a bucket refilled to `burst` holds nothing an absent one would not.
  const double refill_s = burst_ / rate_;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double idle = std::chrono::duration<double>(now - it->second.updated).count();
    if (idle >= refill_s) {
      lru_.erase(it->second.lru);
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  // Then the least recently used, down to 7/8 of the table, so that this runs rarely.
  while (!buckets_.empty() && buckets_.size() >= max_keys_ - max_keys_ / 8) {
    buckets_.erase(lru_.back());
    lru_.pop_back();
  }
}

std::string client_address_key(std::string_view remote) {
  // "[v6]:port", "v4:port", or an address alone.
  std::string_view host = remote;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    host = host.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(std::string(host), ec);
  if (ec) return std::string(remote);
  if (address.is_v4()) return address.to_string();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace parley::host
