// `parley-host migrate --from FILE --to URI`: moves an SQLite database over to PostgreSQL
// (DESIGN §12). Both are first brought to the current schema version (the SQLite file is
// migrated in place, as a host starting on it would do; the PostgreSQL database is created
// by the normal migrations), then every table of the schema is copied, all columns, in one
// PostgreSQL transaction: the copy is all or nothing. The destination must hold no rows.
//
// The tables and columns are read from the databases themselves (the PostgreSQL schema
// names them; the SQLite file must have the same columns), so a table a later schema
// version adds is copied without touching this file; a column one store has and the other
// lacks is an error naming it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "parley/result.hpp"

namespace parley::host {

struct MigrateReport {
  int schema_version = 0;
  std::vector<std::pair<std::string, std::int64_t>> rows;  // table, rows copied (in order)
};

// Errors: those of Store::open for either side; "db_not_empty" when the destination holds
// rows; "db_schema" when the two schemas differ (naming table and column); "db_error".
// `progress` (may be empty) gets one line per table as it is copied.
Result<MigrateReport> migrate_sqlite_to_postgres(
    const std::string& sqlite_path, const std::string& postgres_uri,
    const std::function<void(const std::string&)>& progress);

}  // namespace parley::host
