// Store::open: the one place that turns `server.database` into a store implementation: a
// postgresql:// (or postgres://) URI is PostgreSQL, anything else an SQLite file path.
#include "parley/host/store.hpp"

#include "pg_db.hpp"
#include "pg_store.hpp"
#include "sqlite_store.hpp"

namespace parley::host {

bool is_postgres_location(std::string_view location) { return pg::is_uri(location); }

std::string redact_location(std::string_view location) { return pg::redact(location); }

Result<std::unique_ptr<Store>> Store::open(const std::string& location) {
  if (pg::is_uri(location)) {
    auto postgres = PgStore::open(location);
    if (!postgres) return std::move(postgres).error();
    return std::unique_ptr<Store>(std::move(*postgres));
  }
  if (const auto scheme = location.find("://"); scheme != std::string::npos)
    return make_error("db_location", "the database '" + pg::redact(location) +
                                         "' is neither an SQLite file path nor a "
                                         "postgresql:// URI");
  auto sqlite = SqliteStore::open(location);
  if (!sqlite) return std::move(sqlite).error();
  return std::unique_ptr<Store>(std::move(*sqlite));
}

}  // namespace parley::host
