// Schema migrations of the SQLite store (PRAGMA user_version).
#pragma once

#include "parley/result.hpp"
#include "sqlite_db.hpp"

namespace parley::host::schema {

// Brings the file to Store::schema_version, one transaction per version step. Refuses a file
// of a newer version ("db_version", naming the file and both versions). Returns the version.
Result<int> migrate(sqlite::Database& db);

}  // namespace parley::host::schema
