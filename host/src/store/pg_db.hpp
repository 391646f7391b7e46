// A thin layer over libpq for the PostgreSQL store: one connection with a cache of prepared
// statements, result rows that free themselves, parameters kept as text, and transactions
// that roll back on any failure. Blocking calls: a Connection belongs to one thread (the
// store's database threads, the migrate command, the tests), never to the io thread.
//
// Errors: "conflict" for a unique violation (SQLSTATE 23505), "db_unavailable" when the
// server cannot be reached or the connection broke (the next call reconnects, at most once
// per reconnect_interval), "db_error" for anything else. Messages name the operation and
// carry the server's text; they never carry the password.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "parley/result.hpp"

namespace parley::host::pg {

// True when `location` is a PostgreSQL URI (postgresql:// or postgres://), as libpq reads it.
bool is_uri(std::string_view location);
// The URI with any password replaced by "***", for logs and error messages.
std::string redact(std::string_view location);

// Query parameters, all sent as text ($1, $2, ... in order of add()).
class Params {
 public:
  Params& add(std::string_view text);
  Params& add(std::int64_t value);
  Params& add(std::optional<std::int64_t> value);  // nullopt is NULL
  Params& add(bool value);
  Params& add_null();
  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const;

 private:
  std::vector<std::optional<std::string>> values_;
  mutable std::vector<const char*> pointers_;
};

// The rows of one statement; frees the PGresult.
class Rows {
 public:
  explicit Rows(PGresult* result) : result_(result, &PQclear) {}
  int count() const { return PQntuples(result_.get()); }
  std::int64_t affected() const;  // rows an INSERT/UPDATE/DELETE touched
  std::string text(int row, int column) const;
  std::int64_t integer(int row, int column) const;
  bool boolean(int row, int column) const;
  bool is_null(int row, int column) const;

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

class Connection {
 public:
  // Connects (connect_timeout 5 s unless the URI says otherwise; TCP keepalives and a TCP
  // user timeout so a dead server is noticed in seconds) and sets statement_timeout.
  static Result<std::unique_ptr<Connection>> connect(const std::string& uri);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with parameters, prepared once per distinct SQL literal (the cache is
  // keyed by the pointer, so pass string literals). Reconnects first if the connection
  // broke. Inside a transaction a broken connection is not repaired (the transaction is
  // lost); the error says so.
  Result<Rows> query(const char* sql, const Params& params, std::string_view operation);
  // One statement built at run time (table names from the catalog): not prepared, not cached.
  Result<Rows> query_text(const std::string& sql, const Params& params,
                          std::string_view operation);
  // COPY ... FROM STDIN: begin, send data in pieces (text format), end (the server's verdict).
  Status copy_begin(const std::string& sql, std::string_view operation);
  Status copy_put(std::string_view data, std::string_view operation);
  Status copy_end(std::string_view operation);
  // Runs SQL without parameters; may hold several statements (schema, BEGIN, COMMIT).
  Status exec(const char* sql, std::string_view operation);

  // Runs `body` inside BEGIN … COMMIT; ROLLBACK when the body or the commit fails.
  template <class Body>
  auto transaction(std::string_view operation, Body body) -> decltype(body()) {
    if (auto begun = exec("BEGIN", operation); !begun) return begun.error();
    in_transaction_ = true;
    auto result = body();
    if (!result) {
      rollback();
      return result;
    }
    auto committed = exec("COMMIT", operation);
    in_transaction_ = false;
    if (!committed) {
      rollback();
      return committed.error();
    }
    return result;
  }

  // Cheap: the state libpq knows without a round trip.
  bool broken() const;
  // One round trip ("SELECT 1"), reconnecting first if needed: for health checks.
  Status ping();
  const std::string& location() const { return redacted_; }

  // How long a broken connection waits before the next reconnect attempt.
  static constexpr std::chrono::milliseconds reconnect_interval{500};

 private:
  Connection(PGconn* conn, std::string uri);
  Status ensure_connected(std::string_view operation);
  Error error_of(const PGresult* result, std::string_view operation) const;
  void rollback();

  PGconn* conn_;
  std::string uri_;
  std::string redacted_;
  bool in_transaction_ = false;
  std::chrono::steady_clock::time_point next_reconnect_{};
  std::unordered_map<const char*, std::string> prepared_;  // SQL literal -> statement name
  std::uint64_t statement_counter_ = 0;
};

}  // namespace parley::host::pg
