// A thin layer over the SQLite C API for the Store: a connection with a cache of prepared
// statements, a borrowed statement that resets itself, and transactions that roll back on
// any failure. Errors are "db_error" values naming the operation and SQLite's own text.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "parley/result.hpp"

namespace parley::host::sqlite {

// A cached prepared statement, borrowed for one use: bind, step, read columns. The
// destructor resets it and clears its bindings so the next user starts clean.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~Statement();
  Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
    other.stmt_ = nullptr;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement& operator=(Statement&&) = delete;

  // Parameters are 1-based, as in SQLite. Text is copied (SQLITE_TRANSIENT).
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::optional<std::int64_t> value);  // nullopt binds NULL
  Statement& bind_null(int index);

  // SQLITE_ROW or SQLITE_DONE; any other code is an error naming `operation`.
  Result<bool> step(std::string_view operation);  // true = a row
  // Steps to completion (for INSERT/UPDATE/DELETE).
  Status run(std::string_view operation);

  std::string text(int column) const;
  std::int64_t integer(int column) const;
  bool is_null(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_status_ = ok_status();  // the first bind failure, reported by step()
  void note_bind(int rc, int index);
};

class Database {
 public:
  // Opens (creating if needed) the file; nothing is read until the first statement.
  static Result<Database> open(const std::string& path);
  Database(Database&& other) noexcept;
  Database& operator=(Database&&) = delete;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // A prepared statement from the cache (prepared once per distinct SQL text).
  Result<Statement> prepare(const char* sql, std::string_view operation);
  // Runs SQL without results (PRAGMAs, schema); may hold several statements.
  Status exec(const char* sql, std::string_view operation);

  // Runs `body` inside BEGIN IMMEDIATE … COMMIT; ROLLBACK when the body or the commit fails,
  // so nothing partial is left. `body` returns a Status or a Result<T>.
  template <class Body>
  auto transaction(std::string_view operation, Body body) -> decltype(body()) {
    if (auto begun = exec("BEGIN IMMEDIATE", operation); !begun) return begun.error();
    auto result = body();
    if (!result) {
      rollback();
      return result;
    }
    if (auto committed = exec("COMMIT", operation); !committed) {
      rollback();
      return committed.error();
    }
    return result;
  }

  Error error(std::string_view operation) const;  // db_error with sqlite3_errmsg
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  int extended_errcode() const { return sqlite3_extended_errcode(db_); }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  void rollback();

  sqlite3* db_;
  std::string path_;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;  // keyed by the SQL literal
};

}  // namespace parley::host::sqlite
