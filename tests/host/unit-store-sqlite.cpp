// What only the SQLite store has (the shared behaviour is in unit-store.cpp): WAL mode,
// its indexes, PRAGMA user_version migrations, and files that are not databases.
#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "parley/host/ids.hpp"
#include "parley/host/store.hpp"

using parley::host::ChatLine;
using parley::host::SessionRecord;
using parley::host::Store;

namespace {

// A fresh directory under /tmp, removed with what SQLite left in it (db, -wal, -shm).
class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/parley-unit-store-XXXXXX";
    const char* made = mkdtemp(pattern);
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    for (const char* leaf : {"store.db", "store.db-wal", "store.db-shm", "store.db-journal", "garbage.db",
                             "garbage.db-wal", "garbage.db-shm", "garbage.db-journal"}) {
      std::remove((path_ + "/" + leaf).c_str());
    }
    ::rmdir(path_.c_str());
  }
  std::string db() const { return path_ + "/store.db"; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::unique_ptr<Store> open_store(const std::string& path) {
  auto store = Store::open(path);
  INFO((store ? "" : store.error().message));
  REQUIRE(store.ok());
  return std::move(*store);
}

// Runs SQL on the file through a separate connection (as another process would).
void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  std::string text = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  INFO(text);
  REQUIRE(rc == SQLITE_OK);
}

std::string raw_text(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
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

SessionRecord find(Store& store, const std::string& id) {
  auto found = store.find_session(id);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  return **found;
}

}  // namespace

TEST_CASE("a store file is created in WAL mode at the current schema version", "[store-sqlite]") {
  TempDir dir;
  {
    auto store = open_store(dir.db());
    CHECK(store->user_version() == Store::schema_version);
    REQUIRE(store->create_session(make_session()).ok());
  }
  CHECK(raw_text(dir.db(), "PRAGMA journal_mode") == "wal");
  CHECK(raw_text(dir.db(), "PRAGMA user_version") == std::to_string(Store::schema_version));
  // The indexes the queries rely on exist.
  for (const char* index : {"sessions_by_user", "sessions_by_agent_activity", "outbox_due",
                            "sqlite_autoindex_sessions_2", "sqlite_autoindex_chat_lines_1",
                            "sqlite_autoindex_chat_lines_2"}) {
    INFO(index);
    CHECK(raw_text(dir.db(), std::string("SELECT name FROM sqlite_master WHERE type = 'index' "
                                         "AND name = '") + index + "'") == index);
  }
  auto memory = Store::open(":memory:");
  REQUIRE(memory.ok());
  CHECK((*memory)->user_version() == Store::schema_version);
}

// The upgrade from each earlier version: the shared store suite (unit-store.cpp).
TEST_CASE("migrations: a newer file, a file that is not a database", "[store-sqlite]") {
  TempDir dir;
  {
    auto store = open_store(dir.db());
    REQUIRE(store->create_session(make_session()).ok());
  }
  raw_exec(dir.db(), "PRAGMA user_version = 99");
  auto newer = Store::open(dir.db());
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().code == "db_version");
  CHECK_THAT(newer.error().message, Catch::Contains("99"));
  CHECK_THAT(newer.error().message, Catch::Contains("version " + std::to_string(Store::schema_version)));
  CHECK_THAT(newer.error().message, Catch::Contains(dir.db()));
  CHECK(raw_text(dir.db(), "PRAGMA user_version") == "99");  // left as it was

  std::string garbage = dir.path() + "/garbage.db";  // a name TempDir cleans up
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 200; ++i) out << "this is not an SQLite database, just text. ";
  }
  auto not_db = Store::open(garbage);
  REQUIRE_FALSE(not_db.ok());
  CHECK(not_db.error().code == "db_error");
  CHECK_THAT(not_db.error().message, Catch::Contains(garbage));
  CHECK_THAT(not_db.error().message, Catch::Contains("not a database"));

  auto no_dir = Store::open(dir.path() + "/missing/dir/x.db");
  REQUIRE_FALSE(no_dir.ok());
  CHECK(no_dir.error().code == "db_error");
  CHECK_THAT(no_dir.error().message, Catch::Contains("missing/dir/x.db"));
}
