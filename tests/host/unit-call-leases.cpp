// CallLeases: which of this host's live calls a lease renewal speaks for. Regression of the
// false `call.lease_lost` alarms seen in bench/phone (issue 16): a renewal's answer was
// checked against every call live when it came back, including those attached after it was
// asked, whose leases it could not have found.
#include <catch2/catch.hpp>

#include "app/call_leases.hpp"

using parley::host::CallLeases;

namespace {
const std::set<std::string> none;
}

TEST_CASE("a call attached after a renewal was asked is not lost when the answer lacks it",
          "[call-leases]") {
  CallLeases calls;
  auto a = calls.attach("A");
  REQUIRE(a);
  calls.taken("A", *a);
  const auto asked = calls.held();  // the renewal asks about A

  auto b = calls.attach("B");  // B attaches and takes its lease while the renewal runs
  REQUIRE(b);
  calls.taken("B", *b);

  CHECK(calls.lost(asked, {"A"}).empty());  // the answer found A; B was not asked about
  CHECK(calls.lost(calls.held(), {"A"}) == std::vector<std::string>{"B"});  // the next one was
}

TEST_CASE("a call whose take has not completed is not asked about", "[call-leases]") {
  CallLeases calls;
  auto a = calls.attach("A");
  REQUIRE(a);
  CHECK(calls.held().empty());
  CHECK(calls.live("A"));
  calls.taken("A", *a);
  CHECK(calls.held() == CallLeases::Snapshot{{"A", *a}});
}

TEST_CASE("a held lease the answer lacks is lost", "[call-leases]") {
  CallLeases calls;
  for (const char* id : {"A", "B", "C"}) calls.taken(id, *calls.attach(id));
  const auto asked = calls.held();
  CHECK(calls.lost(asked, {"A", "C"}) == std::vector<std::string>{"B"});
  CHECK(calls.lost(asked, none) == std::vector<std::string>{"A", "B", "C"});
}

TEST_CASE("a call that ended, or ended and came back, while the renewal ran is not lost",
          "[call-leases]") {
  CallLeases calls;
  calls.taken("A", *calls.attach("A"));
  calls.taken("B", *calls.attach("B"));
  const auto asked = calls.held();

  CHECK(calls.detach("A"));  // A ended: its lease was released
  CHECK_FALSE(calls.live("A"));
  CHECK(calls.detach("B"));  // B ended and a new call of B took the lease again
  auto again = calls.attach("B");
  REQUIRE(again);
  calls.taken("B", *again);

  CHECK(calls.lost(asked, none).empty());
}

TEST_CASE("several calls of one session: the first takes, the last releases", "[call-leases]") {
  CallLeases calls;
  auto first = calls.attach("A");
  REQUIRE(first);
  CHECK_FALSE(calls.attach("A"));  // a second call of the same session: no new take
  CHECK_FALSE(calls.detach("A"));  // one of two ended: the lease stays
  CHECK(calls.live("A"));
  calls.taken("A", *first);
  CHECK(calls.held() == CallLeases::Snapshot{{"A", *first}});
  CHECK(calls.detach("A"));  // the last: release
  CHECK(calls.empty());
  CHECK_FALSE(calls.detach("A"));  // an unknown session: nothing to release
}

TEST_CASE("a take that completes after its call ended does not mark a later call",
          "[call-leases]") {
  CallLeases calls;
  auto old = calls.attach("A");
  REQUIRE(old);
  CHECK(calls.detach("A"));
  auto now = calls.attach("A");
  REQUIRE(now);
  calls.taken("A", *old);  // the first call's take answers late
  CHECK(calls.held().empty());
  calls.taken("A", *now);
  CHECK(calls.held() == CallLeases::Snapshot{{"A", *now}});
}
