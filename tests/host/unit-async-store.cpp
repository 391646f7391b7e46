// The store as the io thread uses it (AsyncStore, issue 17): results always come back later
// on the io thread; one session's work runs in the order it was asked for even on several
// database threads; a full queue refuses at once; a database that goes away is reported
// down (health) and up again when it returns. SQLite inline, PostgreSQL on a real server
// (test_postgres.hpp). Release only: it tests behaviour, not memory.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "parley/host/async_store.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/store.hpp"
#include "test_http_server.hpp"
#include "test_postgres.hpp"

using namespace std::chrono_literals;
using parley::host::AsyncStore;
using parley::host::AsyncStoreOptions;
using parley::host::ChatLine;
using parley::host::SessionRecord;
using parley::host::Store;
using parley::test::TestPostgres;

namespace {

SessionRecord make_session() {
  SessionRecord s;
  s.id = parley::host::new_session_id();
  s.chat_log_id = parley::host::new_session_id();
  s.agent_id = "a1";
  s.channel = "rest";
  s.created_ms = s.last_activity_ms = 1000;
  return s;
}

std::unique_ptr<AsyncStore> open_async(boost::asio::io_context& io, const std::string& location,
                                       AsyncStoreOptions options = {}) {
  auto opened = AsyncStore::open(io, location, options);
  INFO((opened ? "" : opened.error().message));
  REQUIRE(opened.ok());
  return std::move(*opened);
}

}  // namespace

TEST_CASE("async store on SQLite: work runs inline, the result comes later on the io thread",
          "[async-store]") {
  boost::asio::io_context io(1);
  auto db = open_async(io, ":memory:");
  CHECK(db->is_inline());
  SessionRecord s = make_session();
  bool done = false;
  db->run(
      s.id, [s](Store& store) { return store.create_session(s); },
      [&](parley::Status created) {
        CHECK(created.ok());
        done = true;
      });
  CHECK_FALSE(done);  // never called back from inside run()
  REQUIRE(parley::test::run_until(io, [&] { return done; }, 2s));
  auto health = db->health();
  CHECK(health.ok);
  CHECK(health.backend == "sqlite");
  CHECK(health.threads == 0);
}

TEST_CASE("async store on PostgreSQL: one session's lines keep the order they were asked in",
          "[async-store]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  boost::asio::io_context io(1);
  AsyncStoreOptions options;
  options.threads = 4;
  auto db = open_async(io, uri, options);
  CHECK_FALSE(db->is_inline());
  CHECK(db->health().backend == "postgresql");
  CHECK(db->health().location.find(TestPostgres::password) == std::string::npos);

  std::vector<SessionRecord> sessions(3);
  int created = 0;
  for (auto& s : sessions) {
    s = make_session();
    db->run(
        s.id, [s](Store& store) { return store.create_session(s); },
        [&](parley::Status st) {
          REQUIRE(st.ok());
          ++created;
        });
  }
  REQUIRE(parley::test::run_until(io, [&] { return created == 3; }, 10s));

  // 3 × 40 lines submitted interleaved; each session's seq must follow its submit order.
  constexpr int per_session = 40;
  std::vector<std::vector<std::pair<int, std::int64_t>>> got(sessions.size());
  int answered = 0;
  for (int i = 0; i < per_session; ++i) {
    for (std::size_t k = 0; k < sessions.size(); ++k) {
      const std::string id = sessions[k].id;
      db->run(
          id,
          [id, i](Store& store) {
            ChatLine line;
            line.text = "line " + std::to_string(i);
            line.timestamp_ms = 2000 + i;
            return store.append_line(id, line);
          },
          [&, k, i](parley::Result<ChatLine> line) {
            REQUIRE(line.ok());
            got[k].emplace_back(i, line->seq);
            ++answered;
          });
    }
  }
  REQUIRE(parley::test::run_until(
      io, [&] { return answered == per_session * static_cast<int>(sessions.size()); }, 30s));
  for (const auto& lines : got) {
    REQUIRE(lines.size() == static_cast<std::size_t>(per_session));
    for (int i = 0; i < per_session; ++i) {
      CHECK(lines[static_cast<std::size_t>(i)].first == i);  // callbacks in submit order
      CHECK(lines[static_cast<std::size_t>(i)].second == i + 1);  // stored in submit order
    }
  }
}

TEST_CASE("async store: a full queue refuses new work at once with db_busy", "[async-store]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  boost::asio::io_context io(1);
  AsyncStoreOptions options;
  options.threads = 1;
  options.queue_limit = 2;
  auto db = open_async(io, uri, options);
  // The one thread is held by a slow job; two more wait; the fourth is refused.
  std::vector<std::string> codes;
  std::atomic<bool> started{false};
  auto note = [&](parley::Status st) { codes.push_back(st ? "ok" : st.error().code); };
  db->run(
      "k",
      [&started](Store& store) {
        started = true;
        std::this_thread::sleep_for(300ms);
        return store.ping();
      },
      note);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!started && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  REQUIRE(started);
  for (int i = 0; i < 3; ++i) db->run("k", [](Store& store) { return store.ping(); }, note);
  REQUIRE(parley::test::run_until(io, [&] { return codes.size() == 4; }, 10s));
  // The refusal comes back first (it never waited), then the three in order.
  CHECK(codes == std::vector<std::string>{"db_busy", "ok", "ok", "ok"});
  CHECK(db->health().ok);  // busy is not down
}

TEST_CASE("async store: health says the database is down while it is, and up again after",
          "[async-store]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  boost::asio::io_context io(1);
  AsyncStoreOptions options;
  options.threads = 2;
  options.probe_interval = 100ms;
  auto db = open_async(io, uri, options);
  REQUIRE(db->health().ok);

  pg.stop();
  std::string code;
  db->run(
      "", [](Store& store) { return store.ping(); },
      [&](parley::Status st) { code = st ? "ok" : st.error().code; });
  REQUIRE(parley::test::run_until(io, [&] { return !code.empty(); }, 10s));
  CHECK(code == "db_unavailable");
  auto down = db->health();
  CHECK_FALSE(down.ok);
  CHECK_FALSE(down.error.empty());

  pg.start();
  // Nobody asks anything: the idle probe notices the database is back.
  REQUIRE(parley::test::run_until(io, [&] { return db->health().ok; }, 15s));
  CHECK(db->health().error.empty());
}
