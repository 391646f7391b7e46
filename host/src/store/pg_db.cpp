#include "pg_db.hpp"

#include <cstdlib>
#include <cstring>
#include <thread>

namespace parley::host::pg {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

Error db_error(std::string_view code, std::string_view operation, std::string_view detail) {
  std::string text(detail);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return make_error(std::string(code), "database " + std::string(operation) + ": " + text);
}

// SQLSTATE classes that mean "the server is not there / went away" rather than "this
// statement is wrong": connection exceptions (08), operator intervention (57P01 admin
// shutdown, 57P02 crash shutdown, 57P03 cannot connect now).
bool unavailable_state(std::string_view state) {
  return starts_with(state, "08") || state == "57P01" || state == "57P02" || state == "57P03";
}

}  // namespace

bool is_uri(std::string_view location) {
  return starts_with(location, "postgresql://") || starts_with(location, "postgres://");
}

std::string redact(std::string_view location) {
  std::string out(location);
  const auto scheme = out.find("://");
  if (scheme == std::string::npos) return out;
  const std::size_t start = scheme + 3;
  // userinfo ends at the last '@' before the path / query.
  const std::size_t end = out.find_first_of("/?", start);
  const std::size_t at = out.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at != std::string::npos && at >= start) {
    const std::size_t colon = out.find(':', start);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // ...?password=secret&...
  const std::size_t query = out.find('?');
  if (query != std::string::npos) {
    std::size_t pos = query + 1;
    while (pos < out.size()) {
      std::size_t amp = out.find('&', pos);
      if (amp == std::string::npos) amp = out.size();
      if (out.compare(pos, 9, "password=") == 0) {
        out.replace(pos + 9, amp - pos - 9, "***");
        amp = out.find('&', pos);
        if (amp == std::string::npos) amp = out.size();
      }
      pos = amp + 1;
    }
  }
  return out;
}

// ---- Params

Params& Params::add(std::string_view text) {
  values_.emplace_back(std::string(text));
  return *this;
}
Params& Params::add(std::int64_t value) {
  values_.emplace_back(std::to_string(value));
  return *this;
}
Params& Params::add(std::optional<std::int64_t> value) {
  return value ? add(*value) : add_null();
}
Params& Params::add(bool value) {
  values_.emplace_back(value ? "true" : "false");
  return *this;
}
Params& Params::add_null() {
  values_.emplace_back(std::nullopt);
  return *this;
}
const char* const* Params::values() const {
  pointers_.clear();
  for (const auto& v : values_) pointers_.push_back(v ? v->c_str() : nullptr);
  return pointers_.data();
}

// ---- Rows

std::int64_t Rows::affected() const {
  const char* text = PQcmdTuples(result_.get());
  return (text != nullptr && *text != '\0') ? std::strtoll(text, nullptr, 10) : 0;
}
std::string Rows::text(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  return std::string(value, static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}
std::int64_t Rows::integer(int row, int column) const {
  return std::strtoll(PQgetvalue(result_.get(), row, column), nullptr, 10);
}
bool Rows::boolean(int row, int column) const {
  const char* value = PQgetvalue(result_.get(), row, column);
  return value != nullptr && value[0] == 't';
}
bool Rows::is_null(int row, int column) const {
  return PQgetisnull(result_.get(), row, column) != 0;
}

// ---- Connection

Result<std::unique_ptr<Connection>> Connection::connect(const std::string& uri) {
  // Defaults first, then the URI (expand_dbname), whose own settings win; the password comes
  // from the URI, PGPASSWORD or the password file, as libpq always does it.
  const char* keys[] = {"connect_timeout", "application_name", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                        "dbname", nullptr};
  const char* values[] = {"5", "parley-host", "5", "2", "3", "10000", uri.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keys, values, 1);
  if (conn == nullptr) return make_error("db_unavailable", "database: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    Error e = db_error("db_unavailable", "connect to " + redact(uri), PQerrorMessage(conn));
    PQfinish(conn);
    return e;
  }
  auto connection = std::unique_ptr<Connection>(new Connection(conn, uri));
  // A statement that runs this long is a server in trouble; the caller gets an error instead
  // of a thread held forever. Warnings (NOTICE) are not printed on stderr.
  if (auto s = connection->exec("SET statement_timeout = 10000; SET client_min_messages = warning",
                                "set up the session");
      !s)
    return s.error();
  return connection;
}

Connection::Connection(PGconn* conn, std::string uri)
    : conn_(conn), uri_(std::move(uri)), redacted_(redact(uri_)) {}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

bool Connection::broken() const { return conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK; }

Status Connection::ensure_connected(std::string_view operation) {
  if (!broken()) return ok_status();
  if (in_transaction_)
    return db_error("db_unavailable", operation, "the connection broke inside a transaction");
  const auto now = std::chrono::steady_clock::now();
  if (now < next_reconnect_)
    return db_error("db_unavailable", operation,
                    "the database at " + redacted_ + " is unreachable (retrying)");
  next_reconnect_ = now + reconnect_interval;
  prepared_.clear();  // a new server session has none of them
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK)
    return db_error("db_unavailable", operation,
                    "cannot reach the database at " + redacted_ + ": " + PQerrorMessage(conn_));
  PGresult* set = PQexec(conn_, "SET statement_timeout = 10000; SET client_min_messages = warning");
  PQclear(set);
  return ok_status();
}

Error Connection::error_of(const PGresult* result, std::string_view operation) const {
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string detail =
      result != nullptr && PQresultErrorMessage(result)[0] != '\0' ? PQresultErrorMessage(result)
                                                                   : PQerrorMessage(conn_);
  if (state != nullptr && std::strcmp(state, "23505") == 0)
    return db_error("conflict", operation, detail);
  if ((state != nullptr && unavailable_state(state)) || broken())
    return db_error("db_unavailable", operation, detail);
  return db_error("db_error", operation, detail);
}

Result<Rows> Connection::query(const char* sql, const Params& params,
                               std::string_view operation) {
  if (auto s = ensure_connected(operation); !s) return s.error();
  auto found = prepared_.find(sql);
  if (found == prepared_.end()) {
    std::string name = "p" + std::to_string(++statement_counter_);
    PGresult* prepared = PQprepare(conn_, name.c_str(), sql, 0, nullptr);
    const bool ok = prepared != nullptr && PQresultStatus(prepared) == PGRES_COMMAND_OK;
    if (!ok) {
      Error e = error_of(prepared, operation);
      PQclear(prepared);
      return e;
    }
    PQclear(prepared);
    found = prepared_.emplace(sql, std::move(name)).first;
  }
  PGresult* result = PQexecPrepared(conn_, found->second.c_str(), params.size(), params.values(),
                                    nullptr, nullptr, 0);
  const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(result);
  const char* state = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  // 26000: the server session lost the statement (e.g. DISCARD ALL by a pooler): prepare again
  // next time.
  if (state != nullptr && std::strcmp(state, "26000") == 0) prepared_.erase(sql);
  Error e = error_of(result, operation);
  PQclear(result);
  return e;
}

Result<Rows> Connection::query_text(const std::string& sql, const Params& params,
                                    std::string_view operation) {
  if (auto s = ensure_connected(operation); !s) return s.error();
  PGresult* result = PQexecParams(conn_, sql.c_str(), params.size(), nullptr, params.values(),
                                  nullptr, nullptr, 0);
  const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(result);
  Error e = error_of(result, operation);
  PQclear(result);
  return e;
}

Status Connection::copy_begin(const std::string& sql, std::string_view operation) {
  if (auto s = ensure_connected(operation); !s) return s;
  PGresult* result = PQexec(conn_, sql.c_str());
  const bool ok = result != nullptr && PQresultStatus(result) == PGRES_COPY_IN;
  if (ok) {
    PQclear(result);
    return ok_status();
  }
  Error e = error_of(result, operation);
  PQclear(result);
  return e;
}

Status Connection::copy_put(std::string_view data, std::string_view operation) {
  if (data.empty()) return ok_status();
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1)
    return error_of(nullptr, operation);
  return ok_status();
}

Status Connection::copy_end(std::string_view operation) {
  if (PQputCopyEnd(conn_, nullptr) != 1) return error_of(nullptr, operation);
  Status outcome = ok_status();
  while (PGresult* result = PQgetResult(conn_)) {
    if (PQresultStatus(result) != PGRES_COMMAND_OK && outcome) outcome = error_of(result, operation);
    PQclear(result);
  }
  return outcome;
}

Status Connection::exec(const char* sql, std::string_view operation) {
  if (auto s = ensure_connected(operation); !s) return s.error();
  PGresult* result = PQexec(conn_, sql);
  const ExecStatusType status = result != nullptr ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY) {
    PQclear(result);
    return ok_status();
  }
  Error e = error_of(result, operation);
  PQclear(result);
  return e;
}

Status Connection::ping() {
  PGresult* result = nullptr;
  if (auto s = ensure_connected("check the connection"); !s) return s;
  result = PQexec(conn_, "SELECT 1");
  const bool ok = result != nullptr && PQresultStatus(result) == PGRES_TUPLES_OK;
  Error e = ok ? Error{} : error_of(result, "check the connection");
  PQclear(result);
  if (ok) return ok_status();
  return e;
}

void Connection::rollback() {
  in_transaction_ = false;
  if (broken()) return;  // the server rolled it back when the connection went
  PGresult* result = PQexec(conn_, "ROLLBACK");
  PQclear(result);
}

}  // namespace parley::host::pg
