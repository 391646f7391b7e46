// The SQLite schema and its migrations, keyed on PRAGMA user_version. Version N is reached by
// running migrations[N-1] on a version N-1 file; to add v2, append one entry and raise
// Store::schema_version. A migration never edits an earlier entry.
#include "sqlite_schema.hpp"

#include <string>

#include "parley/host/store.hpp"

namespace parley::host::schema {

namespace {

// v1: sessions, their chat lines, and the webhook outbox. JSON columns are text.
constexpr const char* v1 = R"sql(
CREATE TABLE sessions (
  id                          TEXT PRIMARY KEY NOT NULL,
  chat_log_id                 TEXT NOT NULL UNIQUE,
  agent_id                    TEXT NOT NULL,
  public_key                  TEXT NOT NULL,
  user_id                     TEXT NOT NULL,
  channel                     TEXT NOT NULL,
  metadata                    TEXT NOT NULL,
  include_metadata_in_prompt  INTEGER NOT NULL,
  variables                   TEXT NOT NULL,
  continued_from              TEXT NOT NULL,
  opted_out                   INTEGER NOT NULL,
  created_ms                  INTEGER NOT NULL,
  last_activity_ms            INTEGER NOT NULL,
  ended_ms                    INTEGER,
  end_reason                  TEXT NOT NULL
) WITHOUT ROWID;
-- continuation by user, chat-log listings by user, purge by agent and age
CREATE INDEX sessions_by_user ON sessions(agent_id, user_id, last_activity_ms);
CREATE INDEX sessions_by_agent_activity ON sessions(agent_id, last_activity_ms);
CREATE INDEX sessions_open ON sessions(created_ms) WHERE ended_ms IS NULL;

CREATE TABLE chat_lines (
  row_id        INTEGER PRIMARY KEY,
  session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq           INTEGER NOT NULL,
  line_id       TEXT NOT NULL UNIQUE,
  timestamp_ms  INTEGER NOT NULL,
  inbound       INTEGER NOT NULL,
  text          TEXT NOT NULL,
  emitter       TEXT NOT NULL,
  interrupted   INTEGER NOT NULL,
  context_vars  TEXT NOT NULL,
  UNIQUE (session_id, seq)
);

CREATE TABLE outbox (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  kind             TEXT NOT NULL,
  url              TEXT NOT NULL,
  method           TEXT NOT NULL,
  headers          TEXT NOT NULL,
  body             TEXT NOT NULL,
  idempotency_key  TEXT NOT NULL UNIQUE,
  created_ms       INTEGER NOT NULL,
  next_attempt_ms  INTEGER NOT NULL,
  attempts         INTEGER NOT NULL,
  delivered_ms     INTEGER,
  gave_up          INTEGER NOT NULL,
  last_error       TEXT NOT NULL
);
-- the delivery loop's query: pending items by due time
CREATE INDEX outbox_due ON outbox(next_attempt_ms, id) WHERE delivered_ms IS NULL AND gave_up = 0;
)sql";

// v2: a session resumed in place by a later call is reopened, and each of its calls reports
// its own end; `reopened` counts the reopenings and makes each report's idempotency key.
constexpr const char* v2 = R"sql(
ALTER TABLE sessions ADD COLUMN reopened INTEGER NOT NULL DEFAULT 0;
)sql";

// v3 (issue 17, several hosts): the outbox's delivery lease, and live-call leases.
constexpr const char* v3 = R"sql(
ALTER TABLE outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
CREATE TABLE call_leases (
  session_id  TEXT PRIMARY KEY NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  host_id     TEXT NOT NULL,
  expires_ms  INTEGER NOT NULL
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
  row_id        INTEGER PRIMARY KEY,
  session_id    TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq           INTEGER NOT NULL,
  after_line    INTEGER NOT NULL,
  timestamp_ms  INTEGER NOT NULL,
  messages      TEXT NOT NULL,
  UNIQUE (session_id, seq)
);
)sql";

constexpr const char* migrations[] = {v1, v2, v3, v4, v5, v6};
static_assert(sizeof(migrations) / sizeof(migrations[0]) == Store::schema_version,
              "one migration per schema version");

Result<int> read_user_version(sqlite::Database& db) {
  auto statement = db.prepare("PRAGMA user_version", "read the schema version");
  if (!statement) return statement.error();
  auto row = statement->step("read the schema version");
  if (!row) return row.error();
  return *row ? static_cast<int>(statement->integer(0)) : 0;
}

Status set_user_version(sqlite::Database& db, int version) {
  // PRAGMA takes no bound parameters; `version` is our own small integer.
  std::string sql = "PRAGMA user_version = " + std::to_string(version);
  return db.exec(sql.c_str(), "set the schema version");
}

}  // namespace

Result<int> migrate(sqlite::Database& db) {
  auto version = read_user_version(db);
  if (!version) return version.error();
  if (*version > Store::schema_version) {
    return make_error("db_version", "database " + db.path() + " has schema version " +
                                        std::to_string(*version) + ", newer than version " +
                                        std::to_string(Store::schema_version) +
                                        " that this host knows: use a newer parley-host");
  }
  while (*version < Store::schema_version) {
    const int target = *version + 1;
    const std::string operation = "migrate to schema version " + std::to_string(target);
    // Re-read inside the write lock: another process may have migrated meanwhile.
    auto step = db.transaction(operation, [&]() -> Result<int> {
      auto current = read_user_version(db);
      if (!current) return current.error();
      if (*current >= target) return *current;
      if (auto s = db.exec(migrations[target - 1], operation); !s) return s.error();
      if (auto s = set_user_version(db, target); !s) return s.error();
      return target;
    });
    if (!step) return step.error();
    version = *step;
  }
  return *version;
}

}  // namespace parley::host::schema
