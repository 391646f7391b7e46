#include "test_store.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "test_postgres.hpp"

namespace parley::test {

TestDatabase::TestDatabase() : postgres_(store_suite_on_postgres()) {
  if (postgres_) {
    location_ = TestPostgres::instance().new_database();
    return;
  }
  char pattern[] = "/tmp/parley-unit-store-XXXXXX";
  const char* made = ::mkdtemp(pattern);
  REQUIRE(made != nullptr);
  dir_ = made;
  location_ = dir_ + "/store.db";
}

TestDatabase::~TestDatabase() {
  std::error_code ignored;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
}

std::unique_ptr<parley::host::Store> TestDatabase::open() const {
  auto store = parley::host::Store::open(location_);
  INFO((store ? "" : store.error().message));
  REQUIRE(store.ok());
  return std::move(*store);
}

std::string TestDatabase::sql(const std::string& sqlite, const std::string& postgres) const {
  if (postgres_) return TestPostgres::instance().sql(location_, postgres);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(location_.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  const char* tail = sqlite.c_str();
  std::string out;
  bool first = true;
  // Several statements: run each; the first row of the first one that returns rows counts.
  while (tail != nullptr && *tail != '\0') {
    int rc = sqlite3_prepare_v2(db, tail, -1, &stmt, &tail);
    INFO(sqlite << ": " << sqlite3_errmsg(db));
    REQUIRE(rc == SQLITE_OK);
    if (stmt == nullptr) break;  // only whitespace left
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && first && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      first = false;
    }
    while (rc == SQLITE_ROW) rc = sqlite3_step(stmt);
    INFO(sqlite << ": " << sqlite3_errmsg(db));
    REQUIRE(rc == SQLITE_DONE);
    sqlite3_finalize(stmt);
    stmt = nullptr;
  }
  sqlite3_close(db);
  return out;
}

}  // namespace parley::test
