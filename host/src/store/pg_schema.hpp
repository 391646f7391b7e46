// Schema migrations of the PostgreSQL store (table parley_schema).
#pragma once

#include "parley/result.hpp"
#include "pg_db.hpp"

namespace parley::host::pg_schema {

// Brings the database to Store::schema_version, one transaction per version step, each
// under an advisory lock so that hosts starting together migrate once. Refuses a database
// of a newer version ("db_version", naming both versions). Returns the version.
Result<int> migrate(pg::Connection& db);

// The version the database is at (0 when it has no parley_schema table yet).
Result<int> read_version(pg::Connection& db);

}  // namespace parley::host::pg_schema
