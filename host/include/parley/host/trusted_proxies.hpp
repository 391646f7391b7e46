// Which TCP peers are proxies (a load balancer such as HAProxy) whose X-Forwarded-For says who
// the client is: `server.trusted_proxies`. Behind a proxy every client arrives from the proxy's
// address, so without this the per-address limits would put all of them in one bucket.
//
// Every proxy appends the address it saw to X-Forwarded-For, so the header reads
// "client, proxy1, proxy2" and only its right end is trustworthy: the client may write anything
// to the left. client() walks from the right, skipping trusted proxies, and takes the first
// address that is not one. A peer that is not trusted is the client, whatever it sends.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include "parley/result.hpp"

namespace parley::host {

class TrustedProxies {
 public:
  TrustedProxies() = default;

  // Each entry an address ("10.0.0.1", "::1") or a CIDR range ("10.0.0.0/8", "fd00::/8").
  // Error "config_invalid" naming the entry that is neither.
  static Result<TrustedProxies> parse(const std::vector<std::string>& entries);

  bool empty() const { return v4_.empty() && v6_.empty(); }
  bool trusts(const boost::asio::ip::address& address) const;

  // The client behind `peer`. `forwarded_for` is the X-Forwarded-For value (several headers
  // joined by ", "); empty when there was none. `peer` itself when it is not trusted, when the
  // header is missing, or when the address the last trusted proxy wrote is not an address.
  boost::asio::ip::address client(const boost::asio::ip::address& peer,
                                  std::string_view forwarded_for) const;

 private:
  std::vector<boost::asio::ip::network_v4> v4_;
  std::vector<boost::asio::ip::network_v6> v6_;
};

// One X-Forwarded-For element as an address: "1.2.3.4", "1.2.3.4:5678", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:5678"; an IPv4-mapped IPv6 address as its IPv4 address.
std::optional<boost::asio::ip::address> parse_forwarded_address(std::string_view text);

}  // namespace parley::host
