// Trusted proxies (server.trusted_proxies, issue 17): which peers' X-Forwarded-For names the
// client, and which element of it does. The rate-limit test behind a proxy is in unit-limits.
#include <catch2/catch.hpp>

#include "parley/host/config.hpp"
#include "parley/host/trusted_proxies.hpp"
#include "parley/json.hpp"

using parley::host::parse_forwarded_address;
using parley::host::TrustedProxies;
namespace asio_ip = boost::asio::ip;

namespace {

TrustedProxies proxies(const std::vector<std::string>& entries) {
  auto parsed = TrustedProxies::parse(entries);
  INFO((parsed ? "" : parsed.error().message));
  REQUIRE(parsed.ok());
  return *parsed;
}

std::string client(const TrustedProxies& p, const std::string& peer, const std::string& xff) {
  return p.client(asio_ip::make_address(peer), xff).to_string();
}

}  // namespace

TEST_CASE("trusted proxies: addresses and CIDR ranges, v4 and v6", "[proxies]") {
  const TrustedProxies p = proxies({"127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"});
  CHECK(p.trusts(asio_ip::make_address("127.0.0.1")));
  CHECK_FALSE(p.trusts(asio_ip::make_address("127.0.0.2")));
  CHECK(p.trusts(asio_ip::make_address("10.255.0.1")));
  CHECK_FALSE(p.trusts(asio_ip::make_address("11.0.0.1")));
  CHECK(p.trusts(asio_ip::make_address("::1")));
  CHECK(p.trusts(asio_ip::make_address("fd12:3456::1")));
  CHECK_FALSE(p.trusts(asio_ip::make_address("fe80::1")));
  // A v4 peer on a dual-stack socket arrives v4-mapped.
  CHECK(p.trusts(asio_ip::make_address("::ffff:10.1.1.1")));
  CHECK(proxies({}).empty());
  // A range written with host bits set is its network ("10.1.2.3/8" is 10.0.0.0/8).
  CHECK(proxies({"10.1.2.3/8"}).trusts(asio_ip::make_address("10.200.0.1")));
}

TEST_CASE("trusted proxies: refused entries name themselves", "[proxies]") {
  for (const char* bad : {"localhost", "10.0.0.0/33", "10.0.0.1/", "1.2.3", "::1/129", "",
                          "10.0.0.0/8 ", "fd00::/x"}) {
    INFO(bad);
    auto parsed = TrustedProxies::parse({bad});
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "config_invalid");
    CHECK_THAT(parsed.error().message, Catch::Contains("\"" + std::string(bad) + "\""));
    CHECK_THAT(parsed.error().message, Catch::Contains("CIDR"));
  }
  // In the config file, the path of the entry is named.
  parley::json config = {{"server", {{"trusted_proxies", {"127.0.0.1", "proxy.local"}}}},
                         {"agents", {{{"id", "a"}, {"public_keys", {"pk"}}}}}};
  auto host = parley::host::parse_host_config(config.dump());
  REQUIRE_FALSE(host.ok());
  CHECK_THAT(host.error().message, Catch::Contains("server.trusted_proxies[1]"));
  CHECK_THAT(host.error().message, Catch::Contains("proxy.local"));
}

TEST_CASE("trusted proxies: the client is the rightmost address no trusted proxy wrote",
          "[proxies]") {
  const TrustedProxies p = proxies({"127.0.0.1", "10.0.0.0/8"});
  // Not a proxy: the peer is the client whatever it says.
  CHECK(client(p, "192.0.2.1", "203.0.113.7") == "192.0.2.1");
  // A trusted proxy without the header: the proxy is the client.
  CHECK(client(p, "127.0.0.1", "") == "127.0.0.1");
  CHECK(client(p, "127.0.0.1", "203.0.113.7") == "203.0.113.7");
  // What the client wrote to the left of its own address is skipped; chained proxies too.
  CHECK(client(p, "127.0.0.1", "1.1.1.1, 203.0.113.7") == "203.0.113.7");
  CHECK(client(p, "127.0.0.1", "1.1.1.1,203.0.113.7, 10.0.0.2,10.0.0.3") == "203.0.113.7");
  // Every element a proxy: the leftmost is the client.
  CHECK(client(p, "127.0.0.1", "10.0.0.9, 10.0.0.2") == "10.0.0.9");
  // Ports and brackets, as some proxies write them; IPv6.
  CHECK(client(p, "127.0.0.1", "203.0.113.7:41234") == "203.0.113.7");
  CHECK(client(p, "127.0.0.1", "[2001:db8::7]:41234") == "2001:db8::7");
  CHECK(client(p, "127.0.0.1", "2001:db8::7") == "2001:db8::7");
  CHECK(client(p, "127.0.0.1", "::ffff:203.0.113.7") == "203.0.113.7");
  // A proxy that wrote something that is not an address: nothing in the header is believed.
  CHECK(client(p, "127.0.0.1", "203.0.113.7, unknown") == "127.0.0.1");
  CHECK(client(p, "127.0.0.1", "203.0.113.7, ") == "127.0.0.1");
  CHECK(client(p, "127.0.0.1", "[2001:db8::7") == "127.0.0.1");
  // Garbage to the left of the client's address is the client's own business.
  CHECK(client(p, "127.0.0.1", "<script>, 203.0.113.7") == "203.0.113.7");
}

TEST_CASE("trusted proxies: X-Forwarded-For elements as addresses", "[proxies]") {
  CHECK(parse_forwarded_address(" 192.0.2.1 ")->to_string() == "192.0.2.1");
  CHECK(parse_forwarded_address("192.0.2.1:80")->to_string() == "192.0.2.1");
  CHECK(parse_forwarded_address("[::1]:80")->to_string() == "::1");
  CHECK_FALSE(parse_forwarded_address("unknown"));
  CHECK_FALSE(parse_forwarded_address("_hidden"));
  CHECK_FALSE(parse_forwarded_address(""));
  CHECK_FALSE(parse_forwarded_address("192.0.2.1:80:90"));
}
