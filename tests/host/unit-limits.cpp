// Issue 14, limits on every door: bounded floods on loopback against a real parley-host. Per
// client address, every request (REST, static, the socket's upgrade) and every session opened
// (POST /Session and the socket's initiate share one budget); per session, every REST request
// naming it. Each refusal is 429 with Retry-After (or onerror + 4429 on the socket), names the
// limit's key, and is counted in /metrics; /healthz answers through a flood; another client
// address is not affected; the host is healthy afterwards.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <regex>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "host_fixture.hpp"
#include "parley/host/rate_limiter.hpp"

using namespace parley::test;
using parley::json;
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

json limits_config(int requests_per_s, int sessions_per_min, int session_requests_per_s) {
  json config = base_host_config();
  config["server"]["limits"] = {{"max_requests_per_s", requests_per_s},
                                {"max_sessions_per_min", sessions_per_min},
                                {"max_session_requests_per_s", session_requests_per_s}};
  return config;
}

std::uint64_t limited_count(HostFixture& host, const std::string& limit) {
  const HttpResult m = http(host.port(), "GET", "/metrics");
  const std::regex re("parley_rate_limited_total\\{limit=\"" + limit + "\"\\} (\\d+)");
  std::smatch match;
  if (!std::regex_search(m.body, match, re)) return UINT64_MAX;
  return std::stoull(match[1]);
}

std::string open(HostFixture& host) {
  json reply = body_of(host.rest("POST", "Session", json{{"memoriID", "alpha"}}));
  INFO(reply.dump());
  REQUIRE(reply["resultCode"] == 0);
  return reply["sessionID"];
}

}  // namespace

TEST_CASE("issue 14: sessions opened per address are limited, REST and socket alike", "[limits]") {
  HostFixture host(limits_config(0, 6, 0));
  for (int i = 0; i < 4; ++i) open(host);
  WsClient first;
  start_call(first, host.port(), "alpha", "pk-alpha");  // the fifth
  CHECK(read_final_text(first)["data"] == "Hello there!");
  open(host);                                           // the sixth
  const HttpResult refused = host.rest("POST", "Session", json{{"memoriID", "alpha"}});
  CHECK(refused.status == 429);
  const json body = body_of(refused);
  CHECK(body["resultCode"] == -429);
  CHECK(body["errorCode"] == "rate_limited");
  CHECK(body["resultMessage"].get<std::string>().find("limits.max_sessions_per_min") !=
        std::string::npos);
  CHECK(body.contains("requestID"));
  REQUIRE(refused.header("retry-after").has_value());
  CHECK(std::stoi(*refused.header("retry-after")) >= 1);
  CHECK(std::stoi(*refused.header("retry-after")) <= 10);  // 6 a minute: one every 10 s
  // The socket's initiate draws on the same budget: onerror, then 4429.
  WsClient second;
  REQUIRE(second.connect(host.port(), "/v1/voice", std::string(test_origin)) == "");
  REQUIRE(second.send_text(initiate_text("alpha", "pk-alpha")));
  const json error = read_method(second, "onerror");
  CHECK(error["data"]["code"] == "rate_limited");
  const WsMessage closed = read_close(second);
  CHECK(closed.close_code == 4429);
  CHECK(limited_count(host, "sessions_per_address") == 2);
  // The call already open goes on.
  REQUIRE(first.send_text(R"({"method":"text","data":"hello"})"));
  CHECK(read_final_text(first)["data"] == "Hi friend!");
  // A refused request for its content costs nothing of the budget (checked before it).
  CHECK(host.rest("POST", "Session", json{{"memoriID", 5}}).status == 400);
}

TEST_CASE("issue 14: REST requests per session are limited; other sessions are not affected",
          "[limits]") {
  HostFixture host(limits_config(0, 0, 5));
  const std::string flooded = open(host);
  const std::string other = open(host);
  const std::string turn =
      "POST /memori/v2/TextEnteredEvent/" + flooded +
      " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n"
      "{\"text\":\"hello\"}";
  const auto started = std::chrono::steady_clock::now();
  const PipelinedTally t = pipelined(host.port(), "127.0.0.1", turn, 200);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  INFO("ok " << t.ok << ", 429 " << t.limited << ", other " << t.other << " in " << seconds << " s");
  CHECK(t.ok + t.limited == 200);
  CHECK(t.ok >= 5);
  CHECK(t.ok <= 5 + static_cast<int>(seconds * 5) + 1);  // the burst, then 5 a second
  CHECK(t.every_429_has_retry_after);
  CHECK(t.a_429_body.find("limits.max_session_requests_per_s") != std::string::npos);
  CHECK(t.a_429_body.find("\"resultCode\":-429") != std::string::npos);
  // Only the turns that were let through were stored (2 lines each, after the welcome).
  const json logs = body_of(host.rest("GET", "SessionChatLogs/" + other + "/" + other));
  CHECK(logs["chatLogs"][0]["lines"].size() == 1);
  CHECK(body_of(host.rest("POST", "TextEnteredEvent/" + other, json{{"text", "hello"}}))["resultCode"] == 0);
  sleep_ms(1100);
  const json after = body_of(host.rest("GET", "SessionChatLogs/" + flooded + "/" + flooded));
  CHECK(after["resultCode"] == 0);
  CHECK(after["chatLogs"][0]["lines"].size() == 1 + 2 * static_cast<std::size_t>(t.ok));
  CHECK(limited_count(host, "requests_per_session") == static_cast<std::uint64_t>(t.limited));
}

TEST_CASE("issue 14: requests per address are limited; /healthz and other addresses are served",
          "[limits]") {
  HostFixture host(limits_config(50, 0, 0));
  const std::string id = open(host);
  std::atomic<bool> flooding{true};
  PipelinedTally flood;
  std::thread attacker([&] {
    flood = pipelined(host.port(), "127.0.0.1",
                      "GET /memori/v2/Session/" + id + " HTTP/1.1\r\nHost: x\r\n\r\n", 1500, 20000);
    flooding = false;
  });
  // Meanwhile: /healthz from the flooding address, and a whole conversation from another one.
  int health_ok = 0, health_slow = 0, other_ok = 0;
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (http(host.port(), "GET", "/healthz").status == 200) ++health_ok;
    if (std::chrono::steady_clock::now() - t0 > std::chrono::milliseconds(500)) ++health_slow;
    const PipelinedTally other = pipelined(host.port(), "127.0.0.2",
                                  "GET /memori/v2/Session/" + id + " HTTP/1.1\r\nHost: x\r\n\r\n", 1);
    other_ok += other.ok;
    sleep_ms(10);
  }
  attacker.join();
  INFO("flood: ok " << flood.ok << ", 429 " << flood.limited << ", other " << flood.other);
  CHECK(health_ok == 20);
  CHECK(health_slow == 0);
  CHECK(other_ok == 20);  // another address has a budget of its own
  CHECK(flood.ok + flood.limited == 1500);
  CHECK(flood.limited > 1000);
  CHECK(flood.every_429_has_retry_after);
  CHECK(flood.a_429_body.find("limits.max_requests_per_s") != std::string::npos);
  CHECK(flood.a_429_body.find("\"resultCode\":-429") != std::string::npos);  // Memori's envelope
  CHECK(limited_count(host, "requests_per_address") >= static_cast<std::uint64_t>(flood.limited));
  // Static files and the socket's upgrade are counted too; the refusal is JSON with Retry-After.
  const PipelinedTally statics = pipelined(host.port(), "127.0.0.3", "GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n", 200);
  CHECK(statics.limited > 100);
  CHECK(statics.a_429_body.find("\"code\":\"rate_limited\"") != std::string::npos);
  int upgrades_refused = 0;
  for (int i = 0; i < 80; ++i) {
    WsClient w;
    if (w.connect(host.port(), "/v1/voice", std::string(test_origin)) != "" &&
        w.handshake_status() == 429)
      ++upgrades_refused;
  }
  CHECK(upgrades_refused > 0);
  sleep_ms(1100);
  // Healthy afterwards: the same address is served again.
  CHECK(body_of(host.rest("GET", "Session/" + id))["resultCode"] == 0);
  CHECK(host.process().running());
}

TEST_CASE("issue 14: the token buckets refill at their rate, up to their burst, in bounded memory",
          "[limits]") {
  using parley::host::RateLimiter;
  const auto t0 = RateLimiter::Clock::now();
  RateLimiter limiter(2.0, 4.0, 8);  // 2 a second, bursts of 4, at most 8 keys
  for (int i = 0; i < 4; ++i) CHECK(limiter.take("a", t0) == 0);
  CHECK(limiter.take("a", t0) == 1);                                   // empty: retry in 1 s
  CHECK(limiter.take("b", t0) == 0);                                   // its own bucket
  CHECK(limiter.take("a", t0 + std::chrono::milliseconds(499)) == 1);  // 0.998 tokens
  CHECK(limiter.take("a", t0 + std::chrono::milliseconds(500)) == 0);
  CHECK(limiter.take("a", t0 + std::chrono::seconds(60)) == 0);        // capped at the burst:
  for (int i = 0; i < 3; ++i) CHECK(limiter.take("a", t0 + std::chrono::seconds(60)) == 0);
  CHECK(limiter.take("a", t0 + std::chrono::seconds(60)) == 1);
  // Slow refill: Retry-After in whole seconds, rounded up.
  RateLimiter slow(0.1, 1.0);
  CHECK(slow.take("k", t0) == 0);
  CHECK(slow.take("k", t0) == 10);
  // Memory: a flood of new keys never holds more than the cap; full buckets go first.
  for (int i = 0; i < 1000; ++i) limiter.take("key" + std::to_string(i), t0 + std::chrono::seconds(61));
  CHECK(limiter.keys() <= 8);
  // Off.
  RateLimiter off(0, 0);
  for (int i = 0; i < 100; ++i) CHECK(off.take("x") == 0);
}

TEST_CASE("issue 14: client addresses are keyed by IPv4 address and IPv6 /64", "[limits]") {
  using parley::host::client_address_key;
  CHECK(client_address_key("203.0.113.7:5123") == "203.0.113.7");
  CHECK(client_address_key("203.0.113.7:80") == "203.0.113.7");
  CHECK(client_address_key("[2001:db8:1:2:3:4:5:6]:443") == "2001:db8:1:2::/64");
  CHECK(client_address_key("[2001:db8:1:2:ffff::9]:1") == "2001:db8:1:2::/64");
  CHECK(client_address_key("[::1]:9") == "::/64");
  CHECK(client_address_key("[::ffff:192.0.2.1]:9") == "192.0.2.1");
  CHECK(client_address_key("not an address") == "not an address");
}

TEST_CASE("issue 17: behind a trusted proxy, each client behind it has its own budget",
          "[limits]") {
  // 127.0.0.5 is the proxy (as HAProxy on the same machine would be); 127.0.0.6 is not one.
  // 5 a second: a budget that refills too slowly for a stalled test to see it full again, so
  // each check below holds however long the machine takes between them.
  json config = limits_config(5, 0, 0);
  config["server"]["trusted_proxies"] = {"127.0.0.5", "10.0.0.0/8"};
  HostFixture host(config);
  const std::string id = open(host);
  auto through = [&](const std::string& source, const std::string& forwarded, int count) {
    return pipelined(host.port(), source,
                     "GET /memori/v2/Session/" + id + " HTTP/1.1\r\nHost: x\r\n" +
                         (forwarded.empty() ? "" : "X-Forwarded-For: " + forwarded + "\r\n") +
                         "\r\n",
                     count);
  };
  // One client behind the proxy floods: its own budget runs out...
  const PipelinedTally flood = through("127.0.0.5", "203.0.113.7", 300);
  CHECK(flood.limited > 250);
  // ...and another client behind the same proxy is served: the proxy's address is not the key.
  CHECK(through("127.0.0.5", "203.0.113.8", 1).ok == 1);
  // A client cannot escape its budget by writing addresses to the left of what the proxy
  // appended, nor through a second trusted proxy (10.1.2.3) that passed it on.
  // (10 asks: even a budget refilled in full lets 5 through.)
  CHECK(through("127.0.0.5", "198.51.100.1, 203.0.113.7", 10).limited >= 5);
  CHECK(through("127.0.0.5", "198.51.100.2, 203.0.113.7, 10.1.2.3", 10).limited >= 5);
  // A peer that is not a trusted proxy is the client, whatever its X-Forwarded-For says: a
  // stranger cannot pick another address's budget (203.0.113.8's is untouched) nor spend one.
  const PipelinedTally stranger = through("127.0.0.6", "203.0.113.8", 300);
  CHECK(stranger.limited > 250);
  CHECK(through("127.0.0.5", "203.0.113.8", 1).ok == 1);
  // What the trusted proxy wrote is not an address (a misconfigured proxy): the proxy is the
  // client, and nothing to its left is believed.
  CHECK(through("127.0.0.5", "203.0.113.9, not-an-address", 1).ok == 1);
}
