#include "parley/host/trusted_proxies.hpp"

#include <algorithm>

namespace parley::host {

namespace asio_ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

asio_ip::address unmapped(const asio_ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio_ip::make_address_v4(asio_ip::v4_mapped, address.to_v6());
  return address;
}

}  // namespace

std::optional<asio_ip::address> parse_forwarded_address(std::string_view text) {
  std::string_view host = trim(text);
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = host.substr(1, close - 1);
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));  // IPv4 with a port
  }
  boost::system::error_code ec;
  const auto address = asio_ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return unmapped(address);
}

Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
  TrustedProxies out;
  for (const auto& entry : entries) {
    boost::system::error_code ec;
    if (entry.find('/') != std::string::npos) {
      if (entry.find(':') != std::string::npos) {
        auto net = asio_ip::make_network_v6(entry, ec);
        if (!ec) {
          out.v6_.push_back(net.canonical());
          continue;
        }
      } else {
        auto net = asio_ip::make_network_v4(entry, ec);
        if (!ec) {
          out.v4_.push_back(net.canonical());
          continue;
        }
      }
    } else {
      const auto address = asio_ip::make_address(entry, ec);
      if (!ec) {
        const auto plain = unmapped(address);
        if (plain.is_v4()) out.v4_.emplace_back(plain.to_v4(), 32);
        else out.v6_.emplace_back(plain.to_v6(), 128);
        continue;
      }
    }
    return make_error("config_invalid",
                      "\"" + entry + "\" is not an IP address or a CIDR range "
                      "(e.g. \"10.0.0.1\", \"10.0.0.0/8\", \"::1\", \"fd00::/8\")");
  }
  return out;
}

bool TrustedProxies::trusts(const asio_ip::address& address) const {
  const auto plain = unmapped(address);
  if (plain.is_v4()) {
    const asio_ip::network_v4 one(plain.to_v4(), 32);
    return std::any_of(v4_.begin(), v4_.end(), [&](const auto& net) {
      return one == net || one.is_subnet_of(net);
    });
  }
  const asio_ip::network_v6 one(plain.to_v6(), 128);
  return std::any_of(v6_.begin(), v6_.end(), [&](const auto& net) {
    return one == net || one.is_subnet_of(net);
  });
}

asio_ip::address TrustedProxies::client(const asio_ip::address& peer,
                                        std::string_view forwarded_for) const {
  if (forwarded_for.empty() || !trusts(peer)) return peer;
  // From the right: the last element was written by `peer`, a trusted proxy.
  std::string_view rest = forwarded_for;
  while (true) {
    const auto comma = rest.rfind(',');
    const std::string_view element =
        comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    const auto address = parse_forwarded_address(element);
    // What a trusted proxy wrote is not an address: that proxy is misconfigured, and nothing
    // to its left can be believed.
    if (!address) return peer;
    if (!trusts(*address) || comma == std::string_view::npos) return *address;
    rest = rest.substr(0, comma);
  }
}

}  // namespace parley::host
