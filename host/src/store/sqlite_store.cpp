// The Store over SQLite (see store.hpp, sqlite_store.hpp). Every mutating call runs in one BEGIN IMMEDIATE
// transaction that commits before the call returns; in WAL mode with synchronous=NORMAL a
// committed transaction survives the process being killed (it is in the WAL file the OS
// already holds), which is the durability the host promises for acknowledged lines.
#include "sqlite_store.hpp"

#include <algorithm>

#include "parley/host/ids.hpp"
#include "sqlite_schema.hpp"

namespace parley::host {

using sqlite::Database;
using sqlite::Statement;

namespace {

constexpr std::size_t max_chain_hops = 64;

Error not_found(const std::string& what) { return make_error("not_found", what + " not found"); }

// A JSON column read back; a value that does not parse is damage, reported as db_error.
Result<json> json_column(const Statement& row, int column, std::string_view what) {
  std::string text = row.text(column);
  if (text.empty()) return json();
  auto parsed = parse_json(text, what);
  if (!parsed) return make_error("db_error", "stored " + std::string(what) + " is not JSON");
  return parsed;
}

bool is_unique_violation(const Database& db) {
  int code = db.extended_errcode();
  return code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY;
}

// ---- sessions

#define PARLEY_SESSION_COLUMNS                                                             \
  "id, chat_log_id, agent_id, public_key, user_id, channel, metadata, "                   \
  "include_metadata_in_prompt, variables, continued_from, opted_out, created_ms, "        \
  "last_activity_ms, ended_ms, end_reason, reopened, agent_overrides, extra_prompt, "      \
  "function_calls, call_status, phone_from, phone_to, phone_direction"

Result<SessionRecord> read_session(const Statement& row) {
  SessionRecord s;
  s.id = row.text(0);
  s.chat_log_id = row.text(1);
  s.agent_id = row.text(2);
  s.public_key = row.text(3);
  s.user_id = row.text(4);
  s.channel = row.text(5);
  auto metadata = json_column(row, 6, "session metadata");
  if (!metadata) return metadata.error();
  s.metadata = std::move(*metadata);
  s.include_metadata_in_prompt = row.integer(7) != 0;
  auto variables = json_column(row, 8, "session variables");
  if (!variables) return variables.error();
  s.variables = std::move(*variables);
  s.continued_from = row.text(9);
  s.opted_out = row.integer(10) != 0;
  s.created_ms = row.integer(11);
  s.last_activity_ms = row.integer(12);
  if (!row.is_null(13)) s.ended_ms = row.integer(13);
  s.end_reason = row.text(14);
  s.reopened = row.integer(15);
  auto overrides = json_column(row, 16, "session agent_config");
  if (!overrides) return overrides.error();
  s.agent_overrides = std::move(*overrides);
  s.extra_prompt = row.text(17);
  auto calls = json_column(row, 18, "session function calls");
  if (!calls) return calls.error();
  s.function_calls = calls->is_array() ? std::move(*calls) : json::array();
  s.call_status = row.text(19);
  s.phone_from = row.text(20);
  s.phone_to = row.text(21);
  s.phone_direction = row.text(22);
  return s;
}

// Steps `statement` to the end, collecting sessions.
Result<std::vector<SessionRecord>> read_sessions(Statement& statement,
                                                 std::string_view operation) {
  std::vector<SessionRecord> out;
  for (;;) {
    auto row = statement.step(operation);
    if (!row) return row.error();
    if (!*row) return out;
    auto session = read_session(statement);
    if (!session) return session.error();
    out.push_back(std::move(*session));
  }
}

Result<std::optional<SessionRecord>> one_session(Database& db, const char* sql,
                                                 std::string_view key,
                                                 std::string_view operation) {
  auto statement = db.prepare(sql, operation);
  if (!statement) return statement.error();
  statement->bind(1, key);
  auto row = statement->step(operation);
  if (!row) return row.error();
  if (!*row) return std::optional<SessionRecord>();
  auto session = read_session(*statement);
  if (!session) return session.error();
  return std::optional<SessionRecord>(std::move(*session));
}

Result<bool> session_exists(Database& db, std::string_view session_id) {
  auto statement = db.prepare("SELECT 1 FROM sessions WHERE id = ?1", "look up a session");
  if (!statement) return statement.error();
  statement->bind(1, session_id);
  return statement->step("look up a session");
}

// An UPDATE keyed on one row; not_found when no row matched.
template <class Bind>
Status update_one(Database& db, const char* sql, std::string_view operation,
                  const std::string& what, Bind bind) {
  return db.transaction(operation, [&]() -> Status {
    auto statement = db.prepare(sql, operation);
    if (!statement) return statement.error();
    bind(*statement);
    if (auto s = statement->run(operation); !s) return s;
    if (db.changes() == 0) return not_found(what);
    return ok_status();
  });
}

// ---- chat lines

Result<ChatLine> read_line(const Statement& row) {
  ChatLine line;
  line.seq = row.integer(0);
  line.line_id = row.text(1);
  line.session_id = row.text(2);
  line.timestamp_ms = row.integer(3);
  line.inbound = row.integer(4) != 0;
  line.text = row.text(5);
  line.emitter = row.text(6);
  line.interrupted = row.integer(7) != 0;
  auto vars = json_column(row, 8, "chat line context");
  if (!vars) return vars.error();
  line.context_vars = vars->is_null() ? json::object() : std::move(*vars);
  return line;
}

Result<std::int64_t> next_seq(Database& db, std::string_view session_id) {
  auto statement = db.prepare(
      "SELECT COALESCE(MAX(seq), 0) + 1 FROM chat_lines WHERE session_id = ?1",
      "number a chat line");
  if (!statement) return statement.error();
  statement->bind(1, session_id);
  auto row = statement->step("number a chat line");
  if (!row) return row.error();
  return *row ? statement->integer(0) : std::int64_t{1};
}

Status insert_line(Database& db, const ChatLine& line) {
  const char* operation = "append a chat line";
  auto statement = db.prepare(
      "INSERT INTO chat_lines (session_id, seq, line_id, timestamp_ms, inbound, text, emitter, "
      "interrupted, context_vars) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      operation);
  if (!statement) return statement.error();
  statement->bind(1, line.session_id)
      .bind(2, line.seq)
      .bind(3, line.line_id)
      .bind(4, line.timestamp_ms)
      .bind(5, std::int64_t{line.inbound ? 1 : 0})
      .bind(6, line.text)
      .bind(7, line.emitter)
      .bind(8, std::int64_t{line.interrupted ? 1 : 0})
      .bind(9, to_json_text(line.context_vars.is_null() ? json::object() : line.context_vars));
  auto ran = statement->run(operation);
  if (!ran && is_unique_violation(db)) {
    return make_error("conflict", "chat line id already exists");
  }
  return ran;
}

// ---- outbox

#define PARLEY_OUTBOX_COLUMNS                                                               \
  "id, kind, url, method, headers, body, idempotency_key, created_ms, next_attempt_ms, "   \
  "attempts, delivered_ms, gave_up, last_error, lease_owner, lease_until_ms"

Result<OutboxItem> read_item(const Statement& row) {
  OutboxItem item;
  item.id = row.integer(0);
  item.kind = row.text(1);
  item.url = row.text(2);
  item.method = row.text(3);
  auto headers = json_column(row, 4, "outbox headers");
  if (!headers) return headers.error();
  item.headers = headers->is_null() ? json::array() : std::move(*headers);
  item.body = row.text(5);
  item.idempotency_key = row.text(6);
  item.created_ms = row.integer(7);
  item.next_attempt_ms = row.integer(8);
  item.attempts = static_cast<std::uint32_t>(std::max<std::int64_t>(0, row.integer(9)));
  if (!row.is_null(10)) item.delivered_ms = row.integer(10);
  item.gave_up = row.integer(11) != 0;
  item.last_error = row.text(12);
  item.lease_owner = row.text(13);
  item.lease_until_ms = row.integer(14);
  return item;
}

Result<std::vector<OutboxItem>> read_items(Statement& statement, std::string_view operation) {
  std::vector<OutboxItem> out;
  for (;;) {
    auto row = statement.step(operation);
    if (!row) return row.error();
    if (!*row) return out;
    auto item = read_item(statement);
    if (!item) return item.error();
    out.push_back(std::move(*item));
  }
}

Result<std::uint32_t> count_query(Database& db, const char* sql, std::string_view key,
                                  std::string_view operation) {
  auto statement = db.prepare(sql, operation);
  if (!statement) return statement.error();
  if (!key.empty()) statement->bind(1, key);
  auto row = statement->step(operation);
  if (!row) return row.error();
  return *row ? static_cast<std::uint32_t>(statement->integer(0)) : 0u;
}

}  // namespace

// ---- open

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  auto database = Database::open(path);
  if (!database) return database.error();
  Database db = std::move(*database);
  // busy_timeout first: it touches no file. journal_mode is the first read of the header,
  // so a file that is not a database fails there.
  const char* setup =
      "PRAGMA busy_timeout = 5000;"
      "PRAGMA journal_mode = WAL;"
      "PRAGMA synchronous = NORMAL;"
      "PRAGMA foreign_keys = ON;";
  if (auto s = db.exec(setup, "setup"); !s) {
    return make_error("db_error", "cannot open the database " + path + ": " + s.error().message);
  }
  auto version = schema::migrate(db);
  if (!version) {
    Error e = std::move(version).error();
    if (e.code == "db_error") e.message = "database " + path + ": " + e.message;
    return e;
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(db), *version));
}

Status SqliteStore::ping() { return db_.exec("SELECT 1", "check the database"); }

// ---- sessions

Status SqliteStore::create_session(const SessionRecord& session) {
  const char* operation = "create a session";
  Database& db = db_;
  return db.transaction(operation, [&]() -> Status {
    auto statement = db.prepare(
        "INSERT INTO sessions (" PARLEY_SESSION_COLUMNS ") VALUES "
        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, "
        "?19, ?20, ?21, ?22, ?23)",
        operation);
    if (!statement) return statement.error();
    statement->bind(1, session.id)
        .bind(2, session.chat_log_id)
        .bind(3, session.agent_id)
        .bind(4, session.public_key)
        .bind(5, session.user_id)
        .bind(6, session.channel)
        .bind(7, to_json_text(session.metadata))
        .bind(8, std::int64_t{session.include_metadata_in_prompt ? 1 : 0})
        .bind(9, to_json_text(session.variables))
        .bind(10, session.continued_from)
        .bind(11, std::int64_t{session.opted_out ? 1 : 0})
        .bind(12, session.created_ms)
        .bind(13, session.last_activity_ms)
        .bind(14, session.ended_ms)
        .bind(15, session.end_reason)
        .bind(16, session.reopened)
        .bind(17, session.agent_overrides.is_null() ? std::string()
                                                    : to_json_text(session.agent_overrides))
        .bind(18, session.extra_prompt)
        .bind(19, to_json_text(session.function_calls.is_array() ? session.function_calls
                                                                 : json::array()))
        .bind(20, session.call_status)
        .bind(21, session.phone_from)
        .bind(22, session.phone_to)
        .bind(23, session.phone_direction);
    auto ran = statement->run(operation);
    if (!ran && is_unique_violation(db)) {
      return make_error("conflict", "a session with this id or chat log id already exists");
    }
    return ran;
  });
}

Result<std::optional<SessionRecord>> SqliteStore::find_session(std::string_view session_id) {
  return one_session(db_,
                     "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE id = ?1",
                     session_id, "find a session");
}

Result<std::optional<SessionRecord>> SqliteStore::find_session_by_chat_log(
    std::string_view chat_log_id) {
  return one_session(db_,
                     "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE chat_log_id = ?1",
                     chat_log_id, "find a session by chat log");
}

Status SqliteStore::touch_session(std::string_view session_id, std::int64_t now_ms) {
  // MAX: a clock stepping back must not make a session look older than it is.
  return update_one(
      db_, "UPDATE sessions SET last_activity_ms = MAX(last_activity_ms, ?2) WHERE id = ?1",
      "touch a session", "session",
      [&](Statement& s) { s.bind(1, session_id).bind(2, now_ms); });
}

Status SqliteStore::reopen_session(std::string_view session_id, std::int64_t now_ms) {
  return update_one(db_,
                    "UPDATE sessions SET last_activity_ms = MAX(last_activity_ms, ?2), "
                    "reopened = reopened + (ended_ms IS NOT NULL), ended_ms = NULL, "
                    "end_reason = '' WHERE id = ?1",
                    "reopen a session", "session",
                    [&](Statement& s) { s.bind(1, session_id).bind(2, now_ms); });
}

Status SqliteStore::update_variables(std::string_view session_id, const json& variables) {
  return update_one(db_, "UPDATE sessions SET variables = ?2 WHERE id = ?1",
                    "update session variables", "session",
                    [&](Statement& s) { s.bind(1, session_id).bind(2, to_json_text(variables)); });
}

Status SqliteStore::update_metadata(std::string_view session_id, const json& metadata,
                                    const json& variables) {
  return update_one(db_, "UPDATE sessions SET metadata = ?2, variables = ?3 WHERE id = ?1",
                    "update session metadata", "session", [&](Statement& s) {
                      s.bind(1, session_id).bind(2, to_json_text(metadata)).bind(3, to_json_text(variables));
                    });
}

Status SqliteStore::end_session(std::string_view session_id, std::int64_t now_ms,
                                std::string_view reason, std::string_view call_status) {
  // The first end wins: ended_ms/end_reason/call_status are only set while ended_ms is NULL,
  // but the row must exist either way.
  return update_one(db_,
                    "UPDATE sessions SET ended_ms = COALESCE(ended_ms, ?2), "
                    "end_reason = CASE WHEN ended_ms IS NULL THEN ?3 ELSE end_reason END, "
                    "call_status = CASE WHEN ended_ms IS NULL THEN ?4 ELSE call_status END "
                    "WHERE id = ?1",
                    "end a session", "session", [&](Statement& s) {
                      s.bind(1, session_id).bind(2, now_ms).bind(3, reason).bind(4, call_status);
                    });
}

Status SqliteStore::add_function_call(std::string_view session_id, const json& call) {
  return update_one(db_,
                    "UPDATE sessions SET function_calls = json_insert(function_calls, '$[#]', "
                    "json(?2)) WHERE id = ?1",
                    "record a function call", "session",
                    [&](Statement& s) { s.bind(1, session_id).bind(2, to_json_text(call)); });
}

Result<std::vector<SessionRecord>> SqliteStore::session_chain(std::string_view session_id) {
  std::vector<SessionRecord> chain;
  std::string next(session_id);
  while (!next.empty() && chain.size() < max_chain_hops) {
    auto found = find_session(next);
    if (!found) return found.error();
    if (!found->has_value()) break;  // a purged link ends the chain
    next = (*found)->continued_from;
    chain.push_back(std::move(**found));
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

Result<std::optional<SessionRecord>> SqliteStore::latest_user_session(std::string_view agent_id,
                                                                std::string_view user_id) {
  if (user_id.empty()) return std::optional<SessionRecord>();  // anonymous is nobody
  const char* operation = "find the user's latest session";
  auto statement = db_.prepare(
      "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE agent_id = ?1 AND user_id = ?2 "
      "ORDER BY last_activity_ms DESC, created_ms DESC LIMIT 1",
      operation);
  if (!statement) return statement.error();
  statement->bind(1, agent_id).bind(2, user_id);
  auto sessions = read_sessions(*statement, operation);
  if (!sessions) return sessions.error();
  if (sessions->empty()) return std::optional<SessionRecord>();
  return std::optional<SessionRecord>(std::move(sessions->front()));
}

Result<std::optional<SessionRecord>> SqliteStore::latest_phone_session(std::string_view agent_id,
                                                                 std::string_view number) {
  if (number.empty()) return std::optional<SessionRecord>();  // not a phone call
  const char* operation = "find the number's latest phone call";
  auto statement = db_.prepare(
      "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE agent_id = ?1 AND channel = 'phone' "
      "AND (phone_from = ?2 OR phone_to = ?2) "
      "ORDER BY last_activity_ms DESC, created_ms DESC LIMIT 1",
      operation);
  if (!statement) return statement.error();
  statement->bind(1, agent_id).bind(2, number);
  auto sessions = read_sessions(*statement, operation);
  if (!sessions) return sessions.error();
  if (sessions->empty()) return std::optional<SessionRecord>();
  return std::optional<SessionRecord>(std::move(sessions->front()));
}

Result<std::vector<SessionRecord>> SqliteStore::user_sessions(const UserLogQuery& query,
                                                        std::uint32_t* total_count) {
  if (total_count != nullptr) *total_count = 0;
  if (query.user_id.empty()) return std::vector<SessionRecord>{};  // never list anonymous
  const char* operation = "list the user's sessions";
  // Sessions with no lines count only when asked for (showChatsWithNoHistory).
  const std::int64_t minimum = std::max<std::int64_t>(query.minimum_messages,
                                                      query.include_empty ? 0 : 1);
  auto bind_filters = [&](Statement& s) {
    s.bind(1, query.agent_id)
        .bind(2, query.user_id)
        .bind(3, query.date_from_ms)
        .bind(4, query.date_to_ms)
        .bind(5, minimum);
  };
  Database& db = db_;
  if (total_count != nullptr) {
    auto counter = db.prepare(
        "SELECT COUNT(*) FROM sessions s WHERE s.agent_id = ?1 AND s.user_id = ?2 "
        "AND (?3 IS NULL OR s.created_ms >= ?3) AND (?4 IS NULL OR s.created_ms <= ?4) "
        "AND (SELECT COUNT(*) FROM chat_lines l WHERE l.session_id = s.id) >= ?5",
        operation);
    if (!counter) return counter.error();
    bind_filters(*counter);
    auto row = counter->step(operation);
    if (!row) return row.error();
    *total_count = *row ? static_cast<std::uint32_t>(counter->integer(0)) : 0u;
  }
  auto statement = db.prepare(
      "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions s WHERE s.agent_id = ?1 "
      "AND s.user_id = ?2 "
      "AND (?3 IS NULL OR s.created_ms >= ?3) AND (?4 IS NULL OR s.created_ms <= ?4) "
      "AND (SELECT COUNT(*) FROM chat_lines l WHERE l.session_id = s.id) >= ?5 "
      "ORDER BY s.created_ms DESC, s.id LIMIT ?6 OFFSET ?7",
      operation);
  if (!statement) return statement.error();
  bind_filters(*statement);
  statement->bind(6, std::int64_t{query.how_many}).bind(7, std::int64_t{query.from});
  return read_sessions(*statement, operation);
}

Result<std::vector<SessionRecord>> SqliteStore::call_logs(const CallLogQuery& query) {
  const char* operation = "list call logs";
  auto statement = db_.prepare(
      "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE ended_ms IS NOT NULL "
      "AND (?1 IS NULL OR agent_id = ?1) AND (?2 IS NULL OR call_status = ?2) "
      "AND (?3 IS NULL OR created_ms < ?3) AND (?4 IS NULL OR created_ms >= ?4) "
      "AND (?5 IS NULL OR created_ms <= ?5) "
      "AND (?7 IS NULL OR (?7 <> '' AND (phone_from = ?7 OR phone_to = ?7))) "
      "ORDER BY created_ms DESC, id DESC LIMIT ?6",
      operation);
  if (!statement) return statement.error();
  if (query.agent_id) statement->bind(1, *query.agent_id);
  else statement->bind_null(1);
  if (query.call_status) statement->bind(2, *query.call_status);
  else statement->bind_null(2);
  statement->bind(3, query.created_before_ms)
      .bind(4, query.created_from_ms)
      .bind(5, query.created_to_ms)
      .bind(6, std::int64_t{query.limit});
  if (query.phone_number) statement->bind(7, *query.phone_number);
  else statement->bind_null(7);
  return read_sessions(*statement, operation);
}

Result<std::vector<SessionRecord>> SqliteStore::open_sessions() {
  const char* operation = "list open sessions";
  auto statement = db_.prepare("SELECT " PARLEY_SESSION_COLUMNS
                                     " FROM sessions WHERE ended_ms IS NULL ORDER BY created_ms",
                                     operation);
  if (!statement) return statement.error();
  return read_sessions(*statement, operation);
}

// ---- chat lines

Result<ChatLine> SqliteStore::append_line(std::string_view session_id, ChatLine line) {
  const char* operation = "append a chat line";
  Database& db = db_;
  line.session_id = std::string(session_id);
  if (line.line_id.empty()) line.line_id = new_session_id();
  return db.transaction(operation, [&]() -> Result<ChatLine> {
    auto exists = session_exists(db, session_id);
    if (!exists) return exists.error();
    if (!*exists) return not_found("session");
    auto seq = next_seq(db, session_id);
    if (!seq) return seq.error();
    line.seq = *seq;
    if (auto s = insert_line(db, line); !s) return s.error();
    auto touch = db.prepare(
        "UPDATE sessions SET last_activity_ms = MAX(last_activity_ms, ?2) WHERE id = ?1",
        "touch a session");
    if (!touch) return touch.error();
    touch->bind(1, session_id).bind(2, line.timestamp_ms);
    if (auto s = touch->run(operation); !s) return s.error();
    return line;
  });
}

Result<std::vector<ChatLine>> SqliteStore::lines_of(std::string_view session_id) {
  const char* operation = "read chat lines";
  auto statement = db_.prepare(
      "SELECT seq, line_id, session_id, timestamp_ms, inbound, text, emitter, interrupted, "
      "context_vars FROM chat_lines WHERE session_id = ?1 ORDER BY seq",
      operation);
  if (!statement) return statement.error();
  statement->bind(1, session_id);
  std::vector<ChatLine> out;
  for (;;) {
    auto row = statement->step(operation);
    if (!row) return row.error();
    if (!*row) return out;
    auto line = read_line(*statement);
    if (!line) return line.error();
    out.push_back(std::move(*line));
  }
}

Result<std::vector<ChatLine>> SqliteStore::newest_lines(std::string_view session_id,
                                                        std::uint32_t n, bool agent_only) {
  const char* operation = "read the newest chat lines";
  // Backwards along UNIQUE (session_id, seq): only the rows returned are read.
  auto statement = db_.prepare(
      agent_only
          ? "SELECT seq, line_id, session_id, timestamp_ms, inbound, text, emitter, interrupted, "
            "context_vars FROM chat_lines WHERE session_id = ?1 AND inbound = 0 "
            "ORDER BY seq DESC LIMIT ?2"
          : "SELECT seq, line_id, session_id, timestamp_ms, inbound, text, emitter, interrupted, "
            "context_vars FROM chat_lines WHERE session_id = ?1 ORDER BY seq DESC LIMIT ?2",
      operation);
  if (!statement) return statement.error();
  statement->bind(1, session_id);
  statement->bind(2, static_cast<std::int64_t>(n));
  std::vector<ChatLine> out;
  for (;;) {
    auto row = statement->step(operation);
    if (!row) return row.error();
    if (!*row) break;
    auto line = read_line(*statement);
    if (!line) return line.error();
    out.push_back(std::move(*line));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Result<std::uint32_t> SqliteStore::count_lines(std::string_view session_id) {
  return count_query(db_, "SELECT COUNT(*) FROM chat_lines WHERE session_id = ?1",
                     session_id, "count chat lines");
}

Result<std::optional<std::string>> SqliteStore::session_of_line(std::string_view line_id) {
  const char* operation = "find a chat line";
  auto statement =
      db_.prepare("SELECT session_id FROM chat_lines WHERE line_id = ?1", operation);
  if (!statement) return statement.error();
  statement->bind(1, line_id);
  auto row = statement->step(operation);
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(statement->text(0));
}

Status SqliteStore::mark_interrupted(std::string_view line_id, bool keep_text) {
  // keep_text false (flow.interruption.keep_interruption_message off): the line stays, so
  // seq numbers and line ids remain stable, but its text is dropped.
  return update_one(db_,
                    "UPDATE chat_lines SET interrupted = 1, "
                    "text = CASE WHEN ?2 THEN text ELSE '' END WHERE line_id = ?1",
                    "mark a chat line interrupted", "chat line", [&](Statement& s) {
                      s.bind(1, line_id).bind(2, std::int64_t{keep_text ? 1 : 0});
                    });
}

// ---- the LLM's tool rounds

Result<ToolRound> SqliteStore::append_tool_round(std::string_view session_id, ToolRound round) {
  const char* operation = "store a tool round";
  Database& db = db_;
  round.session_id = std::string(session_id);
  return db.transaction(operation, [&]() -> Result<ToolRound> {
    auto exists = session_exists(db, session_id);
    if (!exists) return exists.error();
    if (!*exists) return not_found("session");
    auto next = db.prepare(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM tool_rounds WHERE session_id = ?1", operation);
    if (!next) return next.error();
    next->bind(1, session_id);
    auto row = next->step(operation);
    if (!row) return row.error();
    round.seq = *row ? next->integer(0) : std::int64_t{1};
    auto statement = db.prepare(
        "INSERT INTO tool_rounds (session_id, seq, after_line, timestamp_ms, messages) "
        "VALUES (?1, ?2, ?3, ?4, ?5)",
        operation);
    if (!statement) return statement.error();
    statement->bind(1, session_id)
        .bind(2, round.seq)
        .bind(3, round.after_line)
        .bind(4, round.timestamp_ms)
        .bind(5, to_json_text(round.messages.is_array() ? round.messages : json::array()));
    if (auto s = statement->run(operation); !s) return s.error();
    auto touch = db.prepare(
        "UPDATE sessions SET last_activity_ms = MAX(last_activity_ms, ?2) WHERE id = ?1",
        "touch a session");
    if (!touch) return touch.error();
    touch->bind(1, session_id).bind(2, round.timestamp_ms);
    if (auto s = touch->run(operation); !s) return s.error();
    return round;
  });
}

Result<std::vector<ToolRound>> SqliteStore::tool_rounds_of(std::string_view session_id) {
  const char* operation = "read tool rounds";
  auto statement = db_.prepare(
      "SELECT seq, session_id, after_line, timestamp_ms, messages FROM tool_rounds "
      "WHERE session_id = ?1 ORDER BY seq",
      operation);
  if (!statement) return statement.error();
  statement->bind(1, session_id);
  std::vector<ToolRound> out;
  for (;;) {
    auto row = statement->step(operation);
    if (!row) return row.error();
    if (!*row) return out;
    ToolRound round;
    round.seq = statement->integer(0);
    round.session_id = statement->text(1);
    round.after_line = statement->integer(2);
    round.timestamp_ms = statement->integer(3);
    auto messages = json_column(*statement, 4, "tool round");
    if (!messages) return messages.error();
    round.messages = messages->is_array() ? std::move(*messages) : json::array();
    out.push_back(std::move(round));
  }
}

// ---- retention

Result<std::uint32_t> SqliteStore::purge_sessions(std::string_view agent_id, std::int64_t cutoff_ms) {
  const char* operation = "purge old sessions";
  Database& db = db_;
  return db.transaction(operation, [&]() -> Result<std::uint32_t> {
    // Lines go with their session (ON DELETE CASCADE).
    auto statement = db.prepare(
        "DELETE FROM sessions WHERE agent_id = ?1 AND last_activity_ms < ?2", operation);
    if (!statement) return statement.error();
    statement->bind(1, agent_id).bind(2, cutoff_ms);
    if (auto s = statement->run(operation); !s) return s.error();
    return static_cast<std::uint32_t>(db.changes());
  });
}

// ---- live-call leases

Status SqliteStore::take_call_lease(std::string_view session_id, std::string_view host_id,
                                    std::int64_t now_ms, std::int64_t ttl_ms) {
  const char* operation = "take a call lease";
  Database& db = db_;
  return db.transaction(operation, [&]() -> Status {
    auto statement = db.prepare(
        "INSERT INTO call_leases (session_id, host_id, expires_ms) SELECT ?1, ?2, ?3 "
        "WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?1) "
        "ON CONFLICT (session_id) DO UPDATE SET host_id = excluded.host_id, "
        "expires_ms = excluded.expires_ms",
        operation);
    if (!statement) return statement.error();
    statement->bind(1, session_id).bind(2, host_id).bind(3, now_ms + ttl_ms);
    if (auto s = statement->run(operation); !s) return s.error();
    if (db.changes() == 0) return make_error("not_found", "session not found");
    return ok_status();
  });
}

Result<std::vector<std::string>> SqliteStore::renew_call_leases(std::string_view host_id,
                                                                std::int64_t now_ms,
                                                                std::int64_t ttl_ms) {
  const char* operation = "renew call leases";
  Database& db = db_;
  return db.transaction(operation, [&]() -> Result<std::vector<std::string>> {
    auto update =
        db.prepare("UPDATE call_leases SET expires_ms = ?2 WHERE host_id = ?1", operation);
    if (!update) return update.error();
    update->bind(1, host_id).bind(2, now_ms + ttl_ms);
    if (auto s = update->run(operation); !s) return s.error();
    auto held = db.prepare("SELECT session_id FROM call_leases WHERE host_id = ?1 ORDER BY 1",
                           operation);
    if (!held) return held.error();
    held->bind(1, host_id);
    std::vector<std::string> out;
    for (;;) {
      auto row = held->step(operation);
      if (!row) return row.error();
      if (!*row) return out;
      out.push_back(held->text(0));
    }
  });
}

Status SqliteStore::release_call_lease(std::string_view session_id, std::string_view host_id) {
  const char* operation = "release a call lease";
  Database& db = db_;
  return db.transaction(operation, [&]() -> Status {
    auto statement =
        db.prepare("DELETE FROM call_leases WHERE session_id = ?1 AND host_id = ?2", operation);
    if (!statement) return statement.error();
    statement->bind(1, session_id).bind(2, host_id);
    return statement->run(operation);
  });
}

Result<std::optional<std::string>> SqliteStore::call_lease_holder(std::string_view session_id,
                                                                  std::int64_t now_ms) {
  const char* operation = "read a call lease";
  auto statement = db_.prepare(
      "SELECT host_id FROM call_leases WHERE session_id = ?1 AND expires_ms > ?2", operation);
  if (!statement) return statement.error();
  statement->bind(1, session_id).bind(2, now_ms);
  auto row = statement->step(operation);
  if (!row) return row.error();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(statement->text(0));
}

Result<std::vector<std::string>> SqliteStore::leased_sessions(std::int64_t now_ms) {
  const char* operation = "list call leases";
  auto statement =
      db_.prepare("SELECT session_id FROM call_leases WHERE expires_ms > ?1", operation);
  if (!statement) return statement.error();
  statement->bind(1, now_ms);
  std::vector<std::string> out;
  for (;;) {
    auto row = statement->step(operation);
    if (!row) return row.error();
    if (!*row) return out;
    out.push_back(statement->text(0));
  }
}

// ---- outbox

Result<std::int64_t> SqliteStore::enqueue(const OutboxItem& item) {
  const char* operation = "queue a webhook delivery";
  Database& db = db_;
  return db.transaction(operation, [&]() -> Result<std::int64_t> {
    auto statement = db.prepare(
        "INSERT INTO outbox (kind, url, method, headers, body, idempotency_key, created_ms, "
        "next_attempt_ms, attempts, delivered_ms, gave_up, last_error) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, NULL, 0, '')",
        operation);
    if (!statement) return statement.error();
    statement->bind(1, item.kind)
        .bind(2, item.url)
        .bind(3, item.method)
        .bind(4, to_json_text(item.headers.is_null() ? json::array() : item.headers))
        .bind(5, item.body)
        .bind(6, item.idempotency_key)
        .bind(7, item.created_ms)
        .bind(8, item.next_attempt_ms);
    auto ran = statement->run(operation);
    if (!ran && is_unique_violation(db)) {
      return make_error("conflict", "a delivery with this idempotency key is already queued");
    }
    if (!ran) return ran.error();
    return db.last_insert_rowid();
  });
}

Result<std::vector<OutboxItem>> SqliteStore::due_items(std::int64_t now_ms, std::uint32_t limit) {
  const char* operation = "list due webhook deliveries";
  auto statement = db_.prepare(
      "SELECT " PARLEY_OUTBOX_COLUMNS " FROM outbox WHERE delivered_ms IS NULL AND gave_up = 0 "
      "AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2",
      operation);
  if (!statement) return statement.error();
  statement->bind(1, now_ms).bind(2, std::int64_t{limit});
  return read_items(*statement, operation);
}

Result<std::vector<OutboxItem>> SqliteStore::claim_due(std::int64_t now_ms, std::uint32_t limit,
                                                       std::string_view owner,
                                                       std::int64_t lease_ms) {
  const char* operation = "claim due webhook deliveries";
  Database& db = db_;
  // One transaction (SQLite has one writer at a time): read what is due and unclaimed, then
  // lease exactly those.
  return db.transaction(operation, [&]() -> Result<std::vector<OutboxItem>> {
    auto statement = db.prepare(
        "SELECT " PARLEY_OUTBOX_COLUMNS " FROM outbox WHERE delivered_ms IS NULL AND gave_up = 0 "
        "AND next_attempt_ms <= ?1 AND lease_until_ms <= ?1 ORDER BY next_attempt_ms, id "
        "LIMIT ?2",
        operation);
    if (!statement) return statement.error();
    statement->bind(1, now_ms).bind(2, std::int64_t{limit});
    auto items = read_items(*statement, operation);
    if (!items) return items;
    for (auto& item : *items) {
      auto lease = db.prepare(
          "UPDATE outbox SET lease_owner = ?2, lease_until_ms = ?3 WHERE id = ?1", operation);
      if (!lease) return lease.error();
      lease->bind(1, item.id).bind(2, owner).bind(3, now_ms + lease_ms);
      if (auto s = lease->run(operation); !s) return s.error();
      item.lease_owner = std::string(owner);
      item.lease_until_ms = now_ms + lease_ms;
    }
    return items;
  });
}

Status SqliteStore::mark_delivered(std::int64_t id, std::int64_t now_ms) {
  return update_one(db_,
                    "UPDATE outbox SET delivered_ms = COALESCE(delivered_ms, ?2), lease_owner = '', "
                    "lease_until_ms = 0 WHERE id = ?1",
                    "mark a webhook delivered", "outbox item",
                    [&](Statement& s) { s.bind(1, id).bind(2, now_ms); });
}

Status SqliteStore::mark_failed(std::int64_t id, std::int64_t next_attempt_ms, std::string_view error,
                          std::uint32_t max_attempts) {
  // The right-hand sides all see the old row, so `attempts + 1` is the new count.
  return update_one(db_,
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?3, "
                    "next_attempt_ms = ?2, gave_up = (attempts + 1 >= ?4), lease_owner = '', "
                    "lease_until_ms = 0 "
                    "WHERE id = ?1 AND delivered_ms IS NULL AND gave_up = 0",
                    "mark a webhook attempt failed", "pending outbox item", [&](Statement& s) {
                      s.bind(1, id)
                          .bind(2, next_attempt_ms)
                          .bind(3, error)
                          .bind(4, std::int64_t{max_attempts});
                    });
}

Result<std::vector<OutboxItem>> SqliteStore::outbox_items() {
  const char* operation = "list webhook deliveries";
  auto statement =
      db_.prepare("SELECT " PARLEY_OUTBOX_COLUMNS " FROM outbox ORDER BY id", operation);
  if (!statement) return statement.error();
  return read_items(*statement, operation);
}

Result<std::uint32_t> SqliteStore::pending_count() {
  return count_query(db_,
                     "SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL AND gave_up = 0", {},
                     "count pending webhook deliveries");
}

#undef PARLEY_SESSION_COLUMNS
#undef PARLEY_OUTBOX_COLUMNS

}  // namespace parley::host
