// The PostgreSQL schema and its migrations, numbered exactly as the SQLite ones
// (sqlite_schema.cpp): version N on either store means the same tables, columns and rules,
// so that `parley-host migrate` can copy one into the other. To add version N: append one
// entry here AND in sqlite_schema.cpp, and raise Store::schema_version. A migration never
// edits an earlier entry.
#include "pg_schema.hpp"

#include <string>

#include "parley/host/store.hpp"

namespace parley::host::pg_schema {

namespace {

// v1: sessions, their chat lines, and the webhook outbox. JSON columns are text (the bytes
// the host wrote, as in SQLite); times are epoch milliseconds.
constexpr const char* v1 = R"sql(
CREATE TABLE sessions (
  id                          TEXT PRIMARY KEY NOT NULL,
  chat_log_id                 TEXT NOT NULL UNIQUE,
  agent_id                    TEXT NOT NULL,
  public_key                  TEXT NOT NULL,
  user_id                     TEXT NOT NULL,
  channel                     TEXT NOT NULL,
  metadata                    TEXT NOT NULL,
  include_metadata_in_prompt  BOOLEAN NOT NULL,
  variables                   TEXT NOT NULL,
  continued_from              TEXT NOT NULL,
  opted_out                   BOOLEAN NOT NULL,
  created_ms                  BIGINT NOT NULL,
  last_activity_ms            BIGINT NOT NULL,
  ended_ms                    BIGINT,
  end_reason                  TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(agent_id, user_id, last_activity_ms);
CREATE INDEX sessions_by_agent_activity ON sessions(agent_id, last_activity_ms);
CREATE INDEX sessions_open ON sessions(created_ms) WHERE ended_ms IS NULL;

CREATE TABLE chat_lines (
  row_id        BIGSERIAL PRIMARY KEY,
  session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq           BIGINT NOT NULL,
  line_id       TEXT NOT NULL UNIQUE,
  timestamp_ms  BIGINT NOT NULL,
  inbound       BOOLEAN NOT NULL,
  text          TEXT NOT NULL,
  emitter       TEXT NOT NULL,
  interrupted   BOOLEAN NOT NULL,
  context_vars  TEXT NOT NULL,
  UNIQUE (session_id, seq)
);

CREATE TABLE outbox (
  id               BIGSERIAL PRIMARY KEY,
  kind             TEXT NOT NULL,
  url              TEXT NOT NULL,
  method           TEXT NOT NULL,
  headers          TEXT NOT NULL,
  body             TEXT NOT NULL,
  idempotency_key  TEXT NOT NULL UNIQUE,
  created_ms       BIGINT NOT NULL,
  next_attempt_ms  BIGINT NOT NULL,
  attempts         INTEGER NOT NULL,
  delivered_ms     BIGINT,
  gave_up          BOOLEAN NOT NULL,
  last_error       TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox(next_attempt_ms, id) WHERE delivered_ms IS NULL AND NOT gave_up;
)sql";

// v2: a session resumed in place by a later call is reopened; `reopened` counts it.
constexpr const char* v2 = R"sql(
ALTER TABLE sessions ADD COLUMN reopened BIGINT NOT NULL DEFAULT 0;
)sql";

// v3 (issue 17, several hosts): the outbox's delivery lease, and live-call leases.
constexpr const char* v3 = R"sql(
ALTER TABLE outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
CREATE TABLE call_leases (
  session_id  TEXT PRIMARY KEY NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  host_id     TEXT NOT NULL,
  expires_ms  BIGINT NOT NULL
);
CREATE INDEX call_leases_by_host ON call_leases(host_id);
)sql";

// v4 (Millis drop-in, issue 12): a call's agent_config overrides, the extra_prompt webhook's
// text, the tool calls and the call_status of the end-of-call report; call logs are listed by
// creation time.
constexpr const char* v4 = R"sql(
ALTER TABLE sessions ADD COLUMN agent_overrides TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN extra_prompt TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN function_calls TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN call_status TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_call_logs ON sessions(created_ms) WHERE ended_ms IS NOT NULL;
)sql";

// v5 (phone calls in the call logs, issue 16): the numbers and direction of a phone call, the
// end-of-call report's `voip`; /call-logs?phone_number and memory.by_phone find a number's
// calls by them.
constexpr const char* v5 = R"sql(
ALTER TABLE sessions ADD COLUMN phone_from TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN phone_to TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN phone_direction TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_by_phone_from ON sessions(agent_id, phone_from);
CREATE INDEX sessions_by_phone_to ON sessions(agent_id, phone_to);
)sql";

// v6 (issue 17, conversation state): the LLM's tool rounds within a turn (the assistant's
// tool_calls and the tool results, OpenAI's messages as JSON text), each after the chat line
// of the turn it belongs to, so that a conversation rebuilt on any host includes them.
constexpr const char* v6 = R"sql(
CREATE TABLE tool_rounds (
  row_id        BIGSERIAL PRIMARY KEY,
  session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq           BIGINT NOT NULL,
  after_line    BIGINT NOT NULL,
  timestamp_ms  BIGINT NOT NULL,
  messages      TEXT NOT NULL,
  UNIQUE (session_id, seq)
);
)sql";

constexpr const char* migrations[] = {v1, v2, v3, v4, v5, v6};
static_assert(sizeof(migrations) / sizeof(migrations[0]) == Store::schema_version,
              "one migration per schema version");

// Serialises migrations across hosts (any constant; this one spells "parley").
constexpr const char* lock_sql = "SELECT pg_advisory_xact_lock(7364419876212332)";

constexpr const char* create_version_table =
    "CREATE TABLE IF NOT EXISTS parley_schema (version INTEGER PRIMARY KEY, "
    "applied_ms BIGINT NOT NULL)";

}  // namespace

Result<int> read_version(pg::Connection& db) {
  auto exists = db.query("SELECT to_regclass('parley_schema') IS NOT NULL", pg::Params(),
                         "read the schema version");
  if (!exists) return exists.error();
  if (!exists->boolean(0, 0)) return 0;
  auto rows = db.query("SELECT COALESCE(MAX(version), 0) FROM parley_schema", pg::Params(),
                       "read the schema version");
  if (!rows) return rows.error();
  return static_cast<int>(rows->integer(0, 0));
}

Result<int> migrate(pg::Connection& db) {
  for (;;) {
    auto step = db.transaction("migrate the schema", [&]() -> Result<int> {
      if (auto s = db.exec(lock_sql, "lock the schema"); !s) return s.error();
      if (auto s = db.exec(create_version_table, "create the schema table"); !s)
        return s.error();
      auto current = read_version(db);
      if (!current) return current.error();
      if (*current > Store::schema_version)
        return make_error("db_version",
                          "database " + db.location() + " has schema version " +
                              std::to_string(*current) + ", newer than version " +
                              std::to_string(Store::schema_version) +
                              " that this host knows: use a newer parley-host");
      if (*current == Store::schema_version) return *current;
      const int target = *current + 1;
      const std::string operation = "migrate to schema version " + std::to_string(target);
      if (auto s = db.exec(migrations[target - 1], operation); !s) return s.error();
      pg::Params params;
      params.add(std::int64_t{target});
      auto recorded = db.query(
          "INSERT INTO parley_schema (version, applied_ms) "
          "VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
          params, operation);
      if (!recorded) return recorded.error();
      return target;
    });
    if (!step) return step.error();
    if (*step == Store::schema_version) return *step;
  }
}

}  // namespace parley::host::pg_schema
