#include "migrate.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <set>

#include "parley/host/store.hpp"
#include "pg_db.hpp"
#include "pg_store.hpp"
#include "sqlite_store.hpp"

namespace parley::host {

namespace {

using pg::Params;

// Table names come from our own catalog query, but they are quoted all the same.
std::string quoted(const std::string& name) {
  std::string out = "\"";
  for (char c : name) out += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// COPY text format: backslash escapes for the four characters that would end a field/row.
void append_copy_field(std::string& out, const unsigned char* text, int size) {
  for (int i = 0; i < size; ++i) {
    const char c = static_cast<char>(text[i]);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out += c;
    }
  }
}

// The schema's tables in an order that satisfies foreign keys (a referenced table first).
Result<std::vector<std::string>> postgres_tables(pg::Connection& db) {
  auto tables = db.query_text(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
      "AND table_type = 'BASE TABLE' AND table_name <> 'parley_schema' ORDER BY table_name",
      Params(), "list the tables");
  if (!tables) return tables.error();
  auto references = db.query_text(
      "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
      "WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
      Params(), "list the foreign keys");
  if (!references) return references.error();
  std::map<std::string, std::set<std::string>> needs;
  for (int r = 0; r < references->count(); ++r) {
    auto strip = [](std::string name) {  // regclass text may be quoted
      name.erase(std::remove(name.begin(), name.end(), '"'), name.end());
      return name;
    };
    needs[strip(references->text(r, 0))].insert(strip(references->text(r, 1)));
  }
  std::vector<std::string> pending;
  for (int r = 0; r < tables->count(); ++r) pending.push_back(tables->text(r, 0));
  std::vector<std::string> ordered;
  std::set<std::string> done;
  while (!pending.empty()) {
    auto ready = std::find_if(pending.begin(), pending.end(), [&](const std::string& t) {
      for (const auto& n : needs[t])
        if (n != t && !done.count(n)) return false;
      return true;
    });
    if (ready == pending.end()) return make_error("db_schema", "the tables' foreign keys form a cycle");
    ordered.push_back(*ready);
    done.insert(*ready);
    pending.erase(ready);
  }
  return ordered;
}

Result<std::vector<std::string>> postgres_columns(pg::Connection& db, const std::string& table) {
  Params p;
  p.add(table);
  auto rows = db.query_text(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
      "AND table_name = $1 ORDER BY ordinal_position",
      p, "list the columns of " + table);
  if (!rows) return rows.error();
  std::vector<std::string> out;
  for (int r = 0; r < rows->count(); ++r) out.push_back(rows->text(r, 0));
  return out;
}

class SqliteFile {
 public:
  explicit SqliteFile(sqlite3* db) : db_(db) {}
  ~SqliteFile() { sqlite3_close_v2(db_); }
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_;
};

Result<std::set<std::string>> sqlite_columns(sqlite3* db, const std::string& table) {
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = "SELECT name FROM pragma_table_info(?1)";
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
    return make_error("db_error", std::string("read the SQLite schema: ") + sqlite3_errmsg(db));
  sqlite3_bind_text(stmt, 1, table.c_str(), -1, SQLITE_TRANSIENT);
  std::set<std::string> out;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    out.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  return out;
}

// Streams one table from SQLite into COPY, in pieces of about 1 MiB.
Result<std::int64_t> copy_table(sqlite3* from, pg::Connection& to, const std::string& table,
                                const std::vector<std::string>& columns) {
  std::string list;
  for (const auto& c : columns) list += (list.empty() ? "" : ", ") + quoted(c);
  const std::string operation = "copy table " + table;
  // rowid order keeps the order rows were written in (chat lines, outbox).
  const std::string select = "SELECT " + list + " FROM " + quoted(table) + " ORDER BY rowid";
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(from, select.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    // A WITHOUT ROWID table (sessions) has no rowid: its primary key order will do.
    const std::string plain = "SELECT " + list + " FROM " + quoted(table);
    if (sqlite3_prepare_v2(from, plain.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      return make_error("db_error", "read " + table + " from SQLite: " + sqlite3_errmsg(from));
  }
  if (auto s = to.copy_begin("COPY " + quoted(table) + " (" + list + ") FROM STDIN", operation);
      !s) {
    sqlite3_finalize(stmt);
    return s.error();
  }
  std::string buffer;
  std::int64_t rows = 0;
  int rc = SQLITE_ROW;
  const int width = static_cast<int>(columns.size());
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    for (int c = 0; c < width; ++c) {
      if (c > 0) buffer += '\t';
      if (sqlite3_column_type(stmt, c) == SQLITE_NULL) {
        buffer += "\\N";
      } else {
        const unsigned char* text = sqlite3_column_text(stmt, c);
        append_copy_field(buffer, text, sqlite3_column_bytes(stmt, c));
      }
    }
    buffer += '\n';
    ++rows;
    if (buffer.size() >= (1u << 20)) {
      if (auto s = to.copy_put(buffer, operation); !s) {
        sqlite3_finalize(stmt);
        return s.error();
      }
      buffer.clear();
    }
  }
  const std::string read_error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(from);
  sqlite3_finalize(stmt);
  if (auto s = to.copy_put(buffer, operation); !s) return s.error();
  if (!read_error.empty()) {
    (void)to.copy_end(operation);
    return make_error("db_error", "read " + table + " from SQLite: " + read_error);
  }
  if (auto s = to.copy_end(operation); !s) return s.error();
  return rows;
}

}  // namespace

Result<MigrateReport> migrate_sqlite_to_postgres(
    const std::string& sqlite_path, const std::string& postgres_uri,
    const std::function<void(const std::string&)>& progress) {
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  if (!pg::is_uri(postgres_uri))
    return make_error("db_location", "--to must be a postgresql:// URI");
  if (pg::is_uri(sqlite_path) || sqlite_path == ":memory:")
    return make_error("db_location", "--from must be an SQLite file");
  {
    // Both to the current schema, by the stores' own migrations. A file that does not exist
    // is not created: migrating nothing is a mistake worth naming.
    sqlite3* probe = nullptr;
    const int rc = sqlite3_open_v2(sqlite_path.c_str(), &probe, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_close_v2(probe);
    if (rc != SQLITE_OK)
      return make_error("db_error", "cannot open the SQLite database " + sqlite_path);
    auto source = SqliteStore::open(sqlite_path);
    if (!source) return source.error();
  }
  auto target = PgStore::open(postgres_uri);
  if (!target) return target.error();
  pg::Connection& to = (*target)->connection();

  sqlite3* raw = nullptr;
  if (sqlite3_open_v2(sqlite_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string detail = raw != nullptr ? sqlite3_errmsg(raw) : "out of memory";
    sqlite3_close_v2(raw);
    return make_error("db_error", "cannot open the SQLite database " + sqlite_path + ": " + detail);
  }
  SqliteFile from(raw);

  MigrateReport report;
  report.schema_version = (*target)->user_version();
  auto copied = to.transaction("copy the database", [&]() -> Status {
    auto tables = postgres_tables(to);
    if (!tables) return tables.error();
    // Nothing in the destination: a second run, or a database already in use, stops here.
    for (const auto& table : *tables) {
      auto count = to.query_text("SELECT COUNT(*) FROM " + quoted(table), Params(),
                                 "count " + table);
      if (!count) return count.error();
      if (count->integer(0, 0) > 0)
        return make_error("db_not_empty", "the destination " + to.location() + " already has " +
                                              count->text(0, 0) + " rows in " + table +
                                              ": migrate copies into an empty database only");
    }
    // Every table and column of one store must be in the other.
    for (const auto& table : *tables) {
      auto pg_cols = postgres_columns(to, table);
      if (!pg_cols) return pg_cols.error();
      auto lite_cols = sqlite_columns(from.get(), table);
      if (!lite_cols) return lite_cols.error();
      if (lite_cols->empty())
        return make_error("db_schema", "the SQLite file has no table " + table);
      for (const auto& c : *pg_cols)
        if (!lite_cols->count(c))
          return make_error("db_schema", "column " + table + "." + c +
                                             " is in PostgreSQL but not in the SQLite file");
      for (const auto& c : *lite_cols)
        if (std::find(pg_cols->begin(), pg_cols->end(), c) == pg_cols->end())
          return make_error("db_schema", "column " + table + "." + c +
                                             " is in the SQLite file but not in PostgreSQL");
      auto rows = copy_table(from.get(), to, table, *pg_cols);
      if (!rows) return rows.error();
      // Serial columns go on after the highest copied id.
      for (const auto& c : *pg_cols) {
        Params p;
        p.add(table).add(c);
        auto sequence = to.query_text("SELECT pg_get_serial_sequence($1, $2)", p,
                                      "find the sequence of " + table + "." + c);
        if (!sequence) return sequence.error();
        if (sequence->is_null(0, 0)) continue;
        auto set = to.query_text("SELECT setval(" + std::string("$1") + "::regclass, " +
                                     "COALESCE((SELECT MAX(" + quoted(c) + ") FROM " +
                                     quoted(table) + "), 1), " + "(SELECT COUNT(*) > 0 FROM " +
                                     quoted(table) + "))",
                                 Params().add(sequence->text(0, 0)),
                                 "set the sequence of " + table + "." + c);
        if (!set) return set.error();
      }
      report.rows.emplace_back(table, *rows);
      say("copied " + std::to_string(*rows) + " rows of " + table);
    }
    return ok_status();
  });
  if (!copied) return copied.error();
  return report;
}

}  // namespace parley::host
