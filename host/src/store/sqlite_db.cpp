#include "sqlite_db.hpp"

#include <limits>

namespace parley::host::sqlite {

namespace {

Error db_error(std::string_view operation, std::string_view detail) {
  return make_error("db_error", "database " + std::string(operation) + ": " + std::string(detail));
}

}  // namespace

// ---- Statement

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void Statement::note_bind(int rc, int index) {
  if (rc == SQLITE_OK || !bind_status_) return;
  bind_status_ = make_error("db_error", "binding parameter " + std::to_string(index) + ": " +
                                            sqlite3_errstr(rc));
}

Statement& Statement::bind(int index, std::string_view text) {
  // An empty view may have a null data pointer, which SQLite would bind as NULL.
  const char* data = text.data() != nullptr ? text.data() : "";
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    note_bind(SQLITE_TOOBIG, index);
    return *this;
  }
  note_bind(sqlite3_bind_text(stmt_, index, data, static_cast<int>(text.size()), SQLITE_TRANSIENT),
            index);
  return *this;
}

Statement& Statement::bind(int index, std::int64_t value) {
  note_bind(sqlite3_bind_int64(stmt_, index, value), index);
  return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_null(int index) {
  note_bind(sqlite3_bind_null(stmt_, index), index);
  return *this;
}

Result<bool> Statement::step(std::string_view operation) {
  if (!bind_status_) return db_error(operation, bind_status_.error().message);
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_error(operation, sqlite3_errmsg(db_));
}

Status Statement::run(std::string_view operation) {
  for (;;) {
    auto row = step(operation);
    if (!row) return row.error();
    if (!*row) return ok_status();
  }
}

std::string Statement::text(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::int64_t Statement::integer(int column) const { return sqlite3_column_int64(stmt_, column); }

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// ---- Database

Result<Database> Database::open(const std::string& path) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return make_error("db_error", "cannot open the database " + path + ": " + detail);
  }
  sqlite3_extended_result_codes(db, 1);
  return Database(db, path);
}

Database::Database(Database&& other) noexcept
    : db_(other.db_), path_(std::move(other.path_)), cache_(std::move(other.cache_)) {
  other.db_ = nullptr;
  other.cache_.clear();
}

Database::~Database() {
  for (auto& entry : cache_) sqlite3_finalize(entry.second);
  // close_v2 also checkpoints the WAL when this is the last connection.
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Result<Statement> Database::prepare(const char* sql, std::string_view operation) {
  auto found = cache_.find(sql);
  if (found != cache_.end()) return Statement(db_, found->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return error(operation);
  cache_.emplace(sql, stmt);
  return Statement(db_, stmt);
}

Status Database::exec(const char* sql, std::string_view operation) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK) return ok_status();
  std::string detail = message != nullptr ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return db_error(operation, detail);
}

Error Database::error(std::string_view operation) const {
  return db_error(operation, sqlite3_errmsg(db_));
}

void Database::rollback() {
  // Harmless when SQLite already rolled back by itself (e.g. after SQLITE_FULL).
  if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

}  // namespace parley::host::sqlite
