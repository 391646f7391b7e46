// What only the PostgreSQL store has (the shared behaviour is in unit-store.cpp, which also
// runs on PostgreSQL): its migrations, hosts starting together, where the password comes
// from, a server that is not there or restarts, and several writers at once. One real
// PostgreSQL 15 for the whole file (test_postgres.hpp).
#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "parley/host/ids.hpp"
#include "parley/host/store.hpp"
#include "test_postgres.hpp"

using parley::host::ChatLine;
using parley::host::SessionRecord;
using parley::host::Store;
using parley::test::TestPostgres;

namespace {

std::unique_ptr<Store> open_store(const std::string& uri) {
  auto store = Store::open(uri);
  INFO((store ? "" : store.error().message));
  REQUIRE(store.ok());
  return std::move(*store);
}

SessionRecord make_session() {
  SessionRecord s;
  s.id = parley::host::new_session_id();
  s.chat_log_id = parley::host::new_session_id();
  s.agent_id = "a1";
  s.public_key = "pk";
  s.channel = "voice";
  s.created_ms = 1000;
  s.last_activity_ms = 1000;
  return s;
}

std::string database_name(const std::string& uri) { return uri.substr(uri.rfind('/') + 1); }

// Sets an environment variable for the scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("a PostgreSQL database records each schema version and refuses a newer one",
          "[store-postgres]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  SessionRecord s = make_session();
  {
    auto store = open_store(uri);
    CHECK(store->user_version() == Store::schema_version);
    REQUIRE(store->create_session(s).ok());
  }
  CHECK(pg.sql(uri, "SELECT string_agg(version::text, ',' ORDER BY version) FROM parley_schema") ==
        "1,2,3,4,5,6");
  // The upgrade from each earlier version: the shared store suite (unit-store.cpp).
  pg.sql(uri, "INSERT INTO parley_schema VALUES (99, 0)");
  auto newer = Store::open(uri);
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().code == "db_version");
  CHECK_THAT(newer.error().message, Catch::Contains("99"));
  CHECK_THAT(newer.error().message,
             Catch::Contains("version " + std::to_string(Store::schema_version)));
  CHECK_THAT(newer.error().message, Catch::Contains(database_name(uri)));
  CHECK_THAT(newer.error().message, !Catch::Contains(TestPostgres::password));
  CHECK(pg.sql(uri, "SELECT MAX(version) FROM parley_schema") == "99");  // left as it was
}

TEST_CASE("hosts that start together on a new database migrate it once", "[store-postgres]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  constexpr int hosts = 4;
  std::vector<std::thread> threads;
  std::atomic<int> opened{0};
  std::vector<std::string> errors(hosts);
  for (int i = 0; i < hosts; ++i) {
    threads.emplace_back([&, i] {
      auto store = Store::open(uri);
      if (store) ++opened;
      else errors[static_cast<std::size_t>(i)] = store.error().message;
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e.empty());
  CHECK(opened == hosts);
  CHECK(pg.sql(uri, "SELECT COUNT(*) FROM parley_schema") ==
        std::to_string(Store::schema_version));
}

TEST_CASE("the password comes from the URI, PGPASSWORD or the password file",
          "[store-postgres]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  const std::string name = database_name(uri);
  const std::string bare = pg.uri_without_password(name);
  CHECK(bare.find(TestPostgres::password) == std::string::npos);

  SECTION("in the URI") { open_store(uri); }
  SECTION("PGPASSWORD") {
    ScopedEnv password("PGPASSWORD", TestPostgres::password);
    open_store(bare);
  }
  SECTION("the password file (~/.pgpass, or where PGPASSFILE says)") {
    const std::string file = pg.data_dir() + "/../pgpass";
    {
      std::ofstream out(file);
      out << "127.0.0.1:" << pg.port() << ":*:" << TestPostgres::user << ":"
          << TestPostgres::password << "\n";
    }
    ::chmod(file.c_str(), 0600);  // libpq ignores a password file others can read
    ScopedEnv where("PGPASSFILE", file);
    open_store(bare);
    ::unlink(file.c_str());
  }
  SECTION("none, or a wrong one: a clear error that never shows the password") {
    ScopedEnv no_file("PGPASSFILE", "/nonexistent/pgpass");
    auto none = Store::open(bare);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().code == "db_unavailable");
    CHECK_THAT(none.error().message, Catch::Contains("password"));
    CHECK_THAT(none.error().message, Catch::Contains(name));

    std::string wrong = uri;
    const std::string secret = "wrong-secret-42";
    wrong.replace(wrong.find(TestPostgres::password), std::string(TestPostgres::password).size(),
                  secret);
    auto refused = Store::open(wrong);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "db_unavailable");
    CHECK_THAT(refused.error().message, Catch::Contains("password authentication failed"));
    CHECK_THAT(refused.error().message, !Catch::Contains(secret));
    CHECK_THAT(refused.error().message, Catch::Contains("***"));
  }
}

TEST_CASE("a server that is not there is db_unavailable, named, within seconds",
          "[store-postgres]") {
  // A loopback port nothing listens on (the test server's port + 1 is free in practice;
  // connection refused is immediate).
  const std::string uri = "postgresql://parley:x@127.0.0.1:1/parley";
  const auto start = std::chrono::steady_clock::now();
  auto store = Store::open(uri);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(store.ok());
  CHECK(store.error().code == "db_unavailable");
  CHECK_THAT(store.error().message, Catch::Contains("127.0.0.1:1"));
  CHECK_THAT(store.error().message, !Catch::Contains("parley:x@"));
  CHECK(took < std::chrono::seconds(6));
}

TEST_CASE("a store goes on after the server restarts", "[store-postgres]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  auto store = open_store(uri);
  SessionRecord s = make_session();
  REQUIRE(store->create_session(s).ok());

  pg.stop();
  auto lost = store->find_session(s.id);
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().code == "db_unavailable");
  pg.start();

  // The next call after the reconnect interval reconnects (prepared statements again).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  parley::Result<std::optional<SessionRecord>> found = parley::make_error("none", "not yet");
  while (std::chrono::steady_clock::now() < deadline) {
    found = store->find_session(s.id);
    if (found) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  INFO((found ? "" : found.error().message));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  ChatLine line;
  line.text = "after the restart";
  line.timestamp_ms = 2000;
  auto appended = store->append_line(s.id, line);
  REQUIRE(appended.ok());
  CHECK(appended->seq == 1);
}

TEST_CASE("writers on several connections keep one total order of a session's lines",
          "[store-postgres]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  SessionRecord s = make_session();
  REQUIRE(open_store(uri)->create_session(s).ok());
  constexpr int writers = 4;
  constexpr int per_writer = 50;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(writers);
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto store = Store::open(uri);
      if (!store) {
        errors[static_cast<std::size_t>(w)] = store.error().message;
        return;
      }
      for (int i = 0; i < per_writer; ++i) {
        ChatLine line;
        line.text = std::to_string(w) + ":" + std::to_string(i);
        line.timestamp_ms = 2000 + i;
        auto appended = (*store)->append_line(s.id, line);
        if (!appended) {
          errors[static_cast<std::size_t>(w)] = appended.error().message;
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e.empty());
  auto lines = open_store(uri)->lines_of(s.id);
  REQUIRE(lines.ok());
  REQUIRE(lines->size() == writers * per_writer);
  std::map<int, int> last_of_writer;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    const ChatLine& line = (*lines)[i];
    CHECK(line.seq == static_cast<std::int64_t>(i + 1));  // no gap, no duplicate
    const int writer = std::stoi(line.text.substr(0, line.text.find(':')));
    const int index = std::stoi(line.text.substr(line.text.find(':') + 1));
    auto it = last_of_writer.find(writer);
    if (it != last_of_writer.end()) CHECK(index == it->second + 1);  // each writer's order kept
    last_of_writer[writer] = index;
  }
}
