// Token buckets by key (a client address, a session id): `rate` tokens a second up to `burst`,
// one token per request. Memory is bounded: at most `max_keys` buckets; when the table is full,
// buckets that have refilled completely (as good as absent) are dropped first, then the least
// recently used. Runs on the io thread only (no locks). A rate of 0 turns the limiter off.
//
// client_address_key() turns a peer address into the key the per-address limits use: an IPv4
// address as is, an IPv6 address by its /64 prefix (one subscriber's whole block, which a single
// client can hop across at will).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace parley::host {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(double rate_per_s, double burst, std::size_t max_keys = 100000);

  // Takes one token for `key`. 0: allowed. Otherwise refused, and the whole seconds until a
  // token is there (for Retry-After; at least 1).
  std::uint32_t take(std::string_view key, Clock::time_point now);
  std::uint32_t take(std::string_view key) { return take(key, Clock::now()); }

  bool enabled() const { return rate_ > 0; }
  std::size_t keys() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point updated;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  void make_room(Clock::time_point now);

  double rate_;
  double burst_;
  std::size_t max_keys_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::list<std::string> lru_;
};

// "203.0.113.7" from "203.0.113.7:5123"; "2001:db8:1:2::/64" from "[2001:db8:1:2:3:4:5:6]:443"
// (the network layer writes IPv6 peers in brackets); an IPv4-mapped IPv6 address as IPv4;
// anything unparsable is its own key.
std::string client_address_key(std::string_view remote);

}  // namespace parley::host
