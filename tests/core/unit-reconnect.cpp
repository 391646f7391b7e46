#include <catch2/catch.hpp>

#include "parley/reconnect.hpp"

using namespace parley;

TEST_CASE("closes are classified: ended, refused, lost", "[reconnect]") {
  CHECK(classify_close(1000, false) == CloseDisposition::ended);
  CHECK(classify_close(4408, false) == CloseDisposition::ended);
  for (int code : {4400, 4401, 4403, 4404, 4413, 4429, 1011}) {
    INFO(code);
    CHECK(classify_close(code, false) == CloseDisposition::refused);
  }
  for (int code : {1001, 1005, 1006, 1012, 1013, 1014, 3000}) {
    INFO(code);
    CHECK(classify_close(code, false) == CloseDisposition::lost);
  }
  // Whatever the code, a close the client asked for is the end of the call.
  CHECK(classify_close(1006, true) == CloseDisposition::ended);
  CHECK(classify_close(4401, true) == CloseDisposition::ended);
  CHECK(to_string(CloseDisposition::lost) == "lost");
}

TEST_CASE("delays grow by the multiplier up to the cap, without jitter", "[reconnect]") {
  ReconnectConfig c;
  c.initial_delay_ms = 100;
  c.max_delay_ms = 1000;
  c.multiplier = 2;
  c.jitter = 0;
  c.max_attempts = 6;
  c.max_outage_ms = 100000;
  ReconnectPolicy p(c);
  CHECK_FALSE(p.in_outage());
  std::int64_t now = 5000;
  std::vector<std::int64_t> delays;
  for (int i = 0; i < 6; ++i) {
    auto d = p.on_lost(now, 0.9);
    REQUIRE(d);
    delays.push_back(*d);
    now += *d;
  }
  CHECK(delays == std::vector<std::int64_t>{100, 200, 400, 800, 1000, 1000});
  CHECK(p.in_outage());
  CHECK(p.outage_started() == std::optional<std::int64_t>(5000));
  CHECK(p.attempts() == 6);
  // The seventh failure in a row: give up, and the outage is over.
  CHECK_FALSE(p.on_lost(now, 0.5));
  CHECK_FALSE(p.in_outage());
  CHECK(p.attempts() == 6);
}

TEST_CASE("jitter spreads each delay within its fraction", "[reconnect]") {
  ReconnectConfig c;
  c.initial_delay_ms = 1000;
  c.jitter = 0.2;
  for (double r : {0.0, 0.25, 0.5, 0.999}) {
    ReconnectPolicy p(c);
    auto d = p.on_lost(0, r);
    REQUIRE(d);
    INFO(r);
    CHECK(*d >= 800);
    CHECK(*d <= 1200);
  }
  ReconnectPolicy low(c), high(c), mid(c);
  CHECK(*low.on_lost(0, 0.0) == 800);
  CHECK(*mid.on_lost(0, 0.5) == 1000);
  CHECK(*high.on_lost(0, 1.0) == 1200);
  // Out-of-range and NaN randoms are clamped, never a negative or huge delay.
  ReconnectPolicy nan(c), big(c), neg(c);
  CHECK(*nan.on_lost(0, std::nan("")) == 800);
  CHECK(*big.on_lost(0, 7.0) == 1200);
  CHECK(*neg.on_lost(0, -3.0) == 800);
}

TEST_CASE("the policy gives up when the outage would last too long", "[reconnect]") {
  ReconnectConfig c;
  c.initial_delay_ms = 1000;
  c.max_delay_ms = 1000;
  c.jitter = 0;
  c.max_attempts = 100;
  c.max_outage_ms = 2500;
  ReconnectPolicy p(c);
  CHECK(p.on_lost(10000, 0.5) == std::optional<std::int64_t>(1000));  // starts at 11000
  CHECK(p.on_lost(11000, 0.5) == std::optional<std::int64_t>(1000));  // at 12000
  CHECK_FALSE(p.on_lost(12000, 0.5));  // 13000 would be 3000 ms into the outage
  // A new loss later is a new outage.
  CHECK(p.on_lost(50000, 0.5) == std::optional<std::int64_t>(1000));
  CHECK(p.outage_started() == std::optional<std::int64_t>(50000));
}

TEST_CASE("a call ready again ends the outage and resets the schedule", "[reconnect]") {
  ReconnectConfig c;
  c.jitter = 0;
  ReconnectPolicy p(c);
  CHECK(p.on_lost(0, 0.5) == std::optional<std::int64_t>(250));
  CHECK(p.on_lost(250, 0.5) == std::optional<std::int64_t>(500));
  p.connected();
  CHECK_FALSE(p.in_outage());
  CHECK(p.attempts() == 0);
  CHECK(p.on_lost(90000, 0.5) == std::optional<std::int64_t>(250));
}

TEST_CASE("a clock set back does not count as elapsed outage time", "[reconnect]") {
  ReconnectConfig c;
  c.jitter = 0;
  c.max_outage_ms = 1000;
  ReconnectPolicy p(c);
  REQUIRE(p.on_lost(10000, 0.5));
  CHECK(p.on_lost(4000, 0.5) == std::optional<std::int64_t>(500));
}

TEST_CASE("max_attempts 0 never reconnects", "[reconnect]") {
  ReconnectConfig c;
  c.max_attempts = 0;
  ReconnectPolicy p(c);
  CHECK_FALSE(p.on_lost(0, 0.5));
}

TEST_CASE("reconnect configs are checked field by field", "[reconnect]") {
  CHECK(validate_reconnect_config({}).ok());
  auto bad = [](auto mutate, const char* field) {
    ReconnectConfig c;
    mutate(c);
    auto s = validate_reconnect_config(c);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == "reconnect_config_invalid");
    CHECK_THAT(s.error().message, Catch::Contains(field));
  };
  bad([](ReconnectConfig& c) { c.initial_delay_ms = 0; }, "initial_delay_ms");
  bad([](ReconnectConfig& c) { c.max_delay_ms = 10; }, "max_delay_ms");
  bad([](ReconnectConfig& c) { c.multiplier = 0.5; }, "multiplier");
  bad([](ReconnectConfig& c) { c.multiplier = std::nan(""); }, "multiplier");
  bad([](ReconnectConfig& c) { c.jitter = 1.5; }, "jitter");
  bad([](ReconnectConfig& c) { c.max_attempts = -1; }, "max_attempts");
  bad([](ReconnectConfig& c) { c.max_outage_ms = -5; }, "max_outage_ms");
  // An invalid config is not used: the policy falls back to the defaults.
  ReconnectConfig c;
  c.initial_delay_ms = -7;
  c.jitter = 0;
  ReconnectPolicy p(c);
  CHECK(p.config().initial_delay_ms == ReconnectConfig{}.initial_delay_ms);
}
