// The database under the shared store suite (tests/host/unit-store.cpp): a fresh SQLite
// file in a temporary directory, or, when PARLEY_TEST_STORE=postgres, a fresh database on
// the test process's PostgreSQL (test_postgres.hpp). The suite's cases never say which:
// both stores are held to one behaviour.
#pragma once

#include <memory>
#include <string>

#include "parley/host/store.hpp"

namespace parley::test {

class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // Opens (another) store on this database; REQUIREs success.
  std::unique_ptr<parley::host::Store> open() const;
  // What Store::open was given: a file path or a postgresql:// URI.
  const std::string& location() const { return location_; }
  bool postgres() const { return postgres_; }
  // Runs SQL through a connection of its own (as another process would): `sqlite` on an
  // SQLite file, `postgres` on PostgreSQL. Returns the first column of the first row, or "".
  std::string sql(const std::string& sqlite, const std::string& postgres) const;

 private:
  bool postgres_;
  std::string dir_;
  std::string location_;
};

}  // namespace parley::test
