// The Store over PostgreSQL (see store.hpp, pg_store.hpp). Each call is as few round trips
// as its meaning allows: most are one statement (a data-modifying CTE where SQLite needs
// several), the chain walk is one recursive query.
#include "pg_store.hpp"

#include <algorithm>

#include "parley/host/ids.hpp"
#include "pg_schema.hpp"

namespace parley::host {

using pg::Params;
using pg::Rows;

namespace {

constexpr int max_chain_hops = 64;

Error not_found(const std::string& what) { return make_error("not_found", what + " not found"); }

Result<json> json_column(const Rows& rows, int row, int column, std::string_view what) {
  std::string text = rows.text(row, column);
  if (text.empty()) return json();
  auto parsed = parse_json(text, what);
  if (!parsed) return make_error("db_error", "stored " + std::string(what) + " is not JSON");
  return parsed;
}

// ---- sessions

#define PARLEY_SESSION_COLUMNS                                                             \
  "id, chat_log_id, agent_id, public_key, user_id, channel, metadata, "                   \
  "include_metadata_in_prompt, variables, continued_from, opted_out, created_ms, "        \
  "last_activity_ms, ended_ms, end_reason, reopened, agent_overrides, extra_prompt, "      \
  "function_calls, call_status, phone_from, phone_to, phone_direction"

// The number of PARLEY_SESSION_COLUMNS (a query's next column follows them).
constexpr int session_column_count = 23;

Result<SessionRecord> read_session(const Rows& rows, int r) {
  SessionRecord s;
  s.id = rows.text(r, 0);
  s.chat_log_id = rows.text(r, 1);
  s.agent_id = rows.text(r, 2);
  s.public_key = rows.text(r, 3);
  s.user_id = rows.text(r, 4);
  s.channel = rows.text(r, 5);
  auto metadata = json_column(rows, r, 6, "session metadata");
  if (!metadata) return metadata.error();
  s.metadata = std::move(*metadata);
  s.include_metadata_in_prompt = rows.boolean(r, 7);
  auto variables = json_column(rows, r, 8, "session variables");
  if (!variables) return variables.error();
  s.variables = std::move(*variables);
  s.continued_from = rows.text(r, 9);
  s.opted_out = rows.boolean(r, 10);
  s.created_ms = rows.integer(r, 11);
  s.last_activity_ms = rows.integer(r, 12);
  if (!rows.is_null(r, 13)) s.ended_ms = rows.integer(r, 13);
  s.end_reason = rows.text(r, 14);
  s.reopened = rows.integer(r, 15);
  auto overrides = json_column(rows, r, 16, "session agent_config");
  if (!overrides) return overrides.error();
  s.agent_overrides = std::move(*overrides);
  s.extra_prompt = rows.text(r, 17);
  auto calls = json_column(rows, r, 18, "session function calls");
  if (!calls) return calls.error();
  s.function_calls = calls->is_array() ? std::move(*calls) : json::array();
  s.call_status = rows.text(r, 19);
  s.phone_from = rows.text(r, 20);
  s.phone_to = rows.text(r, 21);
  s.phone_direction = rows.text(r, 22);
  return s;
}

Result<std::vector<SessionRecord>> read_sessions(const Rows& rows) {
  std::vector<SessionRecord> out;
  out.reserve(static_cast<std::size_t>(rows.count()));
  for (int r = 0; r < rows.count(); ++r) {
    auto session = read_session(rows, r);
    if (!session) return session.error();
    out.push_back(std::move(*session));
  }
  return out;
}

Result<std::optional<SessionRecord>> one_session(pg::Connection& db, const char* sql,
                                                 std::string_view key,
                                                 std::string_view operation) {
  Params params;
  params.add(key);
  auto rows = db.query(sql, params, operation);
  if (!rows) return rows.error();
  if (rows->count() == 0) return std::optional<SessionRecord>();
  auto session = read_session(*rows, 0);
  if (!session) return session.error();
  return std::optional<SessionRecord>(std::move(*session));
}

// An UPDATE keyed on one row; not_found when no row matched.
Status update_one(pg::Connection& db, const char* sql, const Params& params,
                  std::string_view operation, const std::string& what) {
  auto rows = db.query(sql, params, operation);
  if (!rows) return rows.error();
  if (rows->affected() == 0) return not_found(what);
  return ok_status();
}

// ---- chat lines

#define PARLEY_LINE_COLUMNS                                                                 \
  "seq, line_id, session_id, timestamp_ms, inbound, text, emitter, interrupted, context_vars"

Result<ChatLine> read_line(const Rows& rows, int r) {
  ChatLine line;
  line.seq = rows.integer(r, 0);
  line.line_id = rows.text(r, 1);
  line.session_id = rows.text(r, 2);
  line.timestamp_ms = rows.integer(r, 3);
  line.inbound = rows.boolean(r, 4);
  line.text = rows.text(r, 5);
  line.emitter = rows.text(r, 6);
  line.interrupted = rows.boolean(r, 7);
  auto vars = json_column(rows, r, 8, "chat line context");
  if (!vars) return vars.error();
  line.context_vars = vars->is_null() ? json::object() : std::move(*vars);
  return line;
}

// ---- outbox

#define PARLEY_OUTBOX_COLUMNS                                                               \
  "id, kind, url, method, headers, body, idempotency_key, created_ms, next_attempt_ms, "   \
  "attempts, delivered_ms, gave_up, last_error, lease_owner, lease_until_ms"

Result<OutboxItem> read_item(const Rows& rows, int r) {
  OutboxItem item;
  item.id = rows.integer(r, 0);
  item.kind = rows.text(r, 1);
  item.url = rows.text(r, 2);
  item.method = rows.text(r, 3);
  auto headers = json_column(rows, r, 4, "outbox headers");
  if (!headers) return headers.error();
  item.headers = headers->is_null() ? json::array() : std::move(*headers);
  item.body = rows.text(r, 5);
  item.idempotency_key = rows.text(r, 6);
  item.created_ms = rows.integer(r, 7);
  item.next_attempt_ms = rows.integer(r, 8);
  item.attempts = static_cast<std::uint32_t>(std::max<std::int64_t>(0, rows.integer(r, 9)));
  if (!rows.is_null(r, 10)) item.delivered_ms = rows.integer(r, 10);
  item.gave_up = rows.boolean(r, 11);
  item.last_error = rows.text(r, 12);
  item.lease_owner = rows.text(r, 13);
  item.lease_until_ms = rows.integer(r, 14);
  return item;
}

Result<std::vector<OutboxItem>> read_items(const Rows& rows) {
  std::vector<OutboxItem> out;
  for (int r = 0; r < rows.count(); ++r) {
    auto item = read_item(rows, r);
    if (!item) return item.error();
    out.push_back(std::move(*item));
  }
  return out;
}

Result<std::uint32_t> count_query(pg::Connection& db, const char* sql, const Params& params,
                                  std::string_view operation) {
  auto rows = db.query(sql, params, operation);
  if (!rows) return rows.error();
  return rows->count() > 0 ? static_cast<std::uint32_t>(rows->integer(0, 0)) : 0u;
}

std::string json_text_or(const json& value, const json& fallback) {
  return to_json_text(value.is_null() ? fallback : value);
}

}  // namespace

// ---- open

Result<std::unique_ptr<PgStore>> PgStore::open(const std::string& uri) {
  auto connection = pg::Connection::connect(uri);
  if (!connection) return connection.error();
  auto version = pg_schema::migrate(**connection);
  if (!version) return version.error();
  return std::unique_ptr<PgStore>(new PgStore(std::move(*connection), *version));
}

// ---- sessions

Status PgStore::create_session(const SessionRecord& session) {
  Params p;
  p.add(session.id)
      .add(session.chat_log_id)
      .add(session.agent_id)
      .add(session.public_key)
      .add(session.user_id)
      .add(session.channel)
      .add(to_json_text(session.metadata))
      .add(session.include_metadata_in_prompt)
      .add(to_json_text(session.variables))
      .add(session.continued_from)
      .add(session.opted_out)
      .add(session.created_ms)
      .add(session.last_activity_ms)
      .add(session.ended_ms)
      .add(session.end_reason)
      .add(session.reopened)
      .add(session.agent_overrides.is_null() ? std::string()
                                             : to_json_text(session.agent_overrides))
      .add(session.extra_prompt)
      .add(to_json_text(session.function_calls.is_array() ? session.function_calls
                                                          : json::array()))
      .add(session.call_status)
      .add(session.phone_from)
      .add(session.phone_to)
      .add(session.phone_direction);
  auto rows = db_->query("INSERT INTO sessions (" PARLEY_SESSION_COLUMNS ") VALUES "
                         "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
                         "$17, $18, $19, $20, $21, $22, $23)",
                         p, "create a session");
  if (!rows && rows.error().code == "conflict")
    return make_error("conflict", "a session with this id or chat log id already exists");
  if (!rows) return rows.error();
  return ok_status();
}

Result<std::optional<SessionRecord>> PgStore::find_session(std::string_view session_id) {
  return one_session(*db_, "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE id = $1",
                     session_id, "find a session");
}

Result<std::optional<SessionRecord>> PgStore::find_session_by_chat_log(
    std::string_view chat_log_id) {
  return one_session(*db_,
                     "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE chat_log_id = $1",
                     chat_log_id, "find a session by chat log");
}

Status PgStore::touch_session(std::string_view session_id, std::int64_t now_ms) {
  Params p;
  p.add(session_id).add(now_ms);
  return update_one(*db_,
                    "UPDATE sessions SET last_activity_ms = GREATEST(last_activity_ms, $2) "
                    "WHERE id = $1",
                    p, "touch a session", "session");
}

Status PgStore::reopen_session(std::string_view session_id, std::int64_t now_ms) {
  Params p;
  p.add(session_id).add(now_ms);
  return update_one(*db_,
                    "UPDATE sessions SET last_activity_ms = GREATEST(last_activity_ms, $2), "
                    "reopened = reopened + (CASE WHEN ended_ms IS NULL THEN 0 ELSE 1 END), "
                    "ended_ms = NULL, end_reason = '' WHERE id = $1",
                    p, "reopen a session", "session");
}

Status PgStore::update_variables(std::string_view session_id, const json& variables) {
  Params p;
  p.add(session_id).add(to_json_text(variables));
  return update_one(*db_, "UPDATE sessions SET variables = $2 WHERE id = $1", p,
                    "update session variables", "session");
}

Status PgStore::update_metadata(std::string_view session_id, const json& metadata,
                                const json& variables) {
  Params p;
  p.add(session_id).add(to_json_text(metadata)).add(to_json_text(variables));
  return update_one(*db_, "UPDATE sessions SET metadata = $2, variables = $3 WHERE id = $1", p,
                    "update session metadata", "session");
}

Status PgStore::end_session(std::string_view session_id, std::int64_t now_ms,
                            std::string_view reason, std::string_view call_status) {
  // The first end wins: ended_ms/end_reason/call_status are only set while ended_ms is NULL.
  Params p;
  p.add(session_id).add(now_ms).add(reason).add(call_status);
  return update_one(*db_,
                    "UPDATE sessions SET ended_ms = COALESCE(ended_ms, $2), "
                    "end_reason = CASE WHEN ended_ms IS NULL THEN $3 ELSE end_reason END, "
                    "call_status = CASE WHEN ended_ms IS NULL THEN $4 ELSE call_status END "
                    "WHERE id = $1",
                    p, "end a session", "session");
}

Status PgStore::add_function_call(std::string_view session_id, const json& call) {
  // One statement appends to the stored array, so two hosts' appends never lose one.
  Params p;
  p.add(session_id).add(to_json_text(call));
  return update_one(*db_,
                    "UPDATE sessions SET function_calls = "
                    "(function_calls::jsonb || jsonb_build_array($2::jsonb))::text WHERE id = $1",
                    p, "record a function call", "session");
}

Result<std::vector<SessionRecord>> PgStore::session_chain(std::string_view session_id) {
  // One query, one snapshot: the walk cannot see a link half-purged by another host.
  Params p;
  p.add(session_id).add(std::int64_t{max_chain_hops});
  auto rows = db_->query(
      "WITH RECURSIVE chain(id, hop) AS ("
      "  SELECT id, 1 FROM sessions WHERE id = $1"
      "  UNION ALL"
      "  SELECT s.id, c.hop + 1 FROM chain c"
      "  JOIN sessions p ON p.id = c.id"
      "  JOIN sessions s ON s.id = p.continued_from"
      "  WHERE p.continued_from <> '' AND c.hop < $2)"
      " SELECT " PARLEY_SESSION_COLUMNS " FROM sessions JOIN chain USING (id)"
      " ORDER BY chain.hop DESC",
      p, "walk the session chain");
  if (!rows) return rows.error();
  return read_sessions(*rows);
}

Result<std::optional<SessionRecord>> PgStore::latest_user_session(std::string_view agent_id,
                                                                  std::string_view user_id) {
  if (user_id.empty()) return std::optional<SessionRecord>();  // anonymous is nobody
  Params p;
  p.add(agent_id).add(user_id);
  auto rows = db_->query("SELECT " PARLEY_SESSION_COLUMNS
                         " FROM sessions WHERE agent_id = $1 AND user_id = $2 "
                         "ORDER BY last_activity_ms DESC, created_ms DESC LIMIT 1",
                         p, "find the user's latest session");
  if (!rows) return rows.error();
  if (rows->count() == 0) return std::optional<SessionRecord>();
  auto session = read_session(*rows, 0);
  if (!session) return session.error();
  return std::optional<SessionRecord>(std::move(*session));
}

Result<std::optional<SessionRecord>> PgStore::latest_phone_session(std::string_view agent_id,
                                                                   std::string_view number) {
  if (number.empty()) return std::optional<SessionRecord>();  // not a phone call
  Params p;
  p.add(agent_id).add(number);
  auto rows = db_->query("SELECT " PARLEY_SESSION_COLUMNS
                         " FROM sessions WHERE agent_id = $1 AND channel = 'phone' "
                         "AND (phone_from = $2 OR phone_to = $2) "
                         "ORDER BY last_activity_ms DESC, created_ms DESC LIMIT 1",
                         p, "find the number's latest phone call");
  if (!rows) return rows.error();
  if (rows->count() == 0) return std::optional<SessionRecord>();
  auto session = read_session(*rows, 0);
  if (!session) return session.error();
  return std::optional<SessionRecord>(std::move(*session));
}

Result<std::vector<SessionRecord>> PgStore::open_sessions() {
  auto rows = db_->query("SELECT " PARLEY_SESSION_COLUMNS
                         " FROM sessions WHERE ended_ms IS NULL ORDER BY created_ms",
                         Params(), "list open sessions");
  if (!rows) return rows.error();
  return read_sessions(*rows);
}

Result<std::uint32_t> PgStore::purge_sessions(std::string_view agent_id,
                                              std::int64_t cutoff_ms) {
  Params p;
  p.add(agent_id).add(cutoff_ms);
  auto rows = db_->query("DELETE FROM sessions WHERE agent_id = $1 AND last_activity_ms < $2", p,
                         "purge old sessions");
  if (!rows) return rows.error();
  return static_cast<std::uint32_t>(rows->affected());
}

// ---- live-call leases

Status PgStore::take_call_lease(std::string_view session_id, std::string_view host_id,
                                std::int64_t now_ms, std::int64_t ttl_ms) {
  Params p;
  p.add(session_id).add(host_id).add(now_ms + ttl_ms);
  auto rows = db_->query(
      "INSERT INTO call_leases (session_id, host_id, expires_ms) SELECT $1, $2, $3 "
      "WHERE EXISTS (SELECT 1 FROM sessions WHERE id = $1) "
      "ON CONFLICT (session_id) DO UPDATE SET host_id = EXCLUDED.host_id, "
      "expires_ms = EXCLUDED.expires_ms",
      p, "take a call lease");
  if (!rows) return rows.error();
  if (rows->affected() == 0) return not_found("session");
  return ok_status();
}

Result<std::vector<std::string>> PgStore::renew_call_leases(std::string_view host_id,
                                                            std::int64_t now_ms,
                                                            std::int64_t ttl_ms) {
  Params p;
  p.add(host_id).add(now_ms + ttl_ms);
  auto rows = db_->query(
      "UPDATE call_leases SET expires_ms = $2 WHERE host_id = $1 RETURNING session_id", p,
      "renew call leases");
  if (!rows) return rows.error();
  std::vector<std::string> held;
  for (int r = 0; r < rows->count(); ++r) held.push_back(rows->text(r, 0));
  return held;
}

Status PgStore::release_call_lease(std::string_view session_id, std::string_view host_id) {
  Params p;
  p.add(session_id).add(host_id);
  auto rows = db_->query("DELETE FROM call_leases WHERE session_id = $1 AND host_id = $2", p,
                         "release a call lease");
  if (!rows) return rows.error();
  return ok_status();
}

Result<std::optional<std::string>> PgStore::call_lease_holder(std::string_view session_id,
                                                              std::int64_t now_ms) {
  Params p;
  p.add(session_id).add(now_ms);
  auto rows = db_->query(
      "SELECT host_id FROM call_leases WHERE session_id = $1 AND expires_ms > $2", p,
      "read a call lease");
  if (!rows) return rows.error();
  if (rows->count() == 0) return std::optional<std::string>();
  return std::optional<std::string>(rows->text(0, 0));
}

Result<std::vector<std::string>> PgStore::leased_sessions(std::int64_t now_ms) {
  Params p;
  p.add(now_ms);
  auto rows = db_->query("SELECT session_id FROM call_leases WHERE expires_ms > $1", p,
                         "list call leases");
  if (!rows) return rows.error();
  std::vector<std::string> out;
  for (int r = 0; r < rows->count(); ++r) out.push_back(rows->text(r, 0));
  return out;
}

// ---- chat lines

Result<ChatLine> PgStore::append_line(std::string_view session_id, ChatLine line) {
  line.session_id = std::string(session_id);
  if (line.line_id.empty()) line.line_id = new_session_id();
  // The number comes from the session's own lines, read while the session row is locked by
  // the UPDATE in the same transaction: two hosts appending to one session queue on that
  // lock, and each sees the other's committed line (READ COMMITTED re-reads per statement).
  auto appended = db_->transaction("append a chat line", [&]() -> Result<ChatLine> {
    Params touch;
    touch.add(session_id).add(line.timestamp_ms);
    auto locked = db_->query(
        "UPDATE sessions SET last_activity_ms = GREATEST(last_activity_ms, $2) WHERE id = $1",
        touch, "append a chat line");
    if (!locked) return locked.error();
    if (locked->affected() == 0) return not_found("session");
    Params p;
    p.add(line.session_id)
        .add(line.line_id)
        .add(line.timestamp_ms)
        .add(line.inbound)
        .add(line.text)
        .add(line.emitter)
        .add(line.interrupted)
        .add(json_text_or(line.context_vars, json::object()));
    auto rows = db_->query(
        "INSERT INTO chat_lines (session_id, seq, line_id, timestamp_ms, inbound, text, emitter, "
        "interrupted, context_vars) SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5, $6, "
        "$7, $8 FROM chat_lines WHERE session_id = $1 RETURNING seq",
        p, "append a chat line");
    if (!rows && rows.error().code == "conflict")
      return make_error("conflict", "chat line id already exists");
    if (!rows) return rows.error();
    line.seq = rows->integer(0, 0);
    return line;
  });
  return appended;
}

Result<std::vector<ChatLine>> PgStore::lines_of(std::string_view session_id) {
  Params p;
  p.add(session_id);
  auto rows = db_->query("SELECT " PARLEY_LINE_COLUMNS
                         " FROM chat_lines WHERE session_id = $1 ORDER BY seq",
                         p, "read chat lines");
  if (!rows) return rows.error();
  std::vector<ChatLine> out;
  out.reserve(static_cast<std::size_t>(rows->count()));
  for (int r = 0; r < rows->count(); ++r) {
    auto line = read_line(*rows, r);
    if (!line) return line.error();
    out.push_back(std::move(*line));
  }
  return out;
}

// ---- the LLM's tool rounds

Result<ToolRound> PgStore::append_tool_round(std::string_view session_id, ToolRound round) {
  round.session_id = std::string(session_id);
  // Numbered as chat lines are: under the session row's lock, taken by the touch.
  return db_->transaction("store a tool round", [&]() -> Result<ToolRound> {
    Params touch;
    touch.add(session_id).add(round.timestamp_ms);
    auto locked = db_->query(
        "UPDATE sessions SET last_activity_ms = GREATEST(last_activity_ms, $2) WHERE id = $1",
        touch, "store a tool round");
    if (!locked) return locked.error();
    if (locked->affected() == 0) return not_found("session");
    Params p;
    p.add(round.session_id)
        .add(round.after_line)
        .add(round.timestamp_ms)
        .add(json_text_or(round.messages.is_array() ? round.messages : json::array(),
                          json::array()));
    auto rows = db_->query(
        "INSERT INTO tool_rounds (session_id, seq, after_line, timestamp_ms, messages) "
        "SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4 FROM tool_rounds WHERE session_id = $1 "
        "RETURNING seq",
        p, "store a tool round");
    if (!rows) return rows.error();
    round.seq = rows->integer(0, 0);
    return round;
  });
}

Result<std::vector<ToolRound>> PgStore::tool_rounds_of(std::string_view session_id) {
  Params p;
  p.add(session_id);
  auto rows = db_->query(
      "SELECT seq, session_id, after_line, timestamp_ms, messages FROM tool_rounds "
      "WHERE session_id = $1 ORDER BY seq",
      p, "read tool rounds");
  if (!rows) return rows.error();
  std::vector<ToolRound> out;
  out.reserve(static_cast<std::size_t>(rows->count()));
  for (int r = 0; r < rows->count(); ++r) {
    ToolRound round;
    round.seq = rows->integer(r, 0);
    round.session_id = rows->text(r, 1);
    round.after_line = rows->integer(r, 2);
    round.timestamp_ms = rows->integer(r, 3);
    auto messages = json_column(*rows, r, 4, "tool round");
    if (!messages) return messages.error();
    round.messages = messages->is_array() ? std::move(*messages) : json::array();
    out.push_back(std::move(round));
  }
  return out;
}

Result<std::vector<ChatLine>> PgStore::newest_lines(std::string_view session_id, std::uint32_t n,
                                                    bool agent_only) {
  Params p;
  p.add(session_id);
  p.add(static_cast<std::int64_t>(n));
  // Backwards along UNIQUE (session_id, seq): only the rows returned are read.
  auto rows = db_->query(agent_only ? "SELECT " PARLEY_LINE_COLUMNS
                                      " FROM chat_lines WHERE session_id = $1 AND NOT inbound"
                                      " ORDER BY seq DESC LIMIT $2"
                                    : "SELECT " PARLEY_LINE_COLUMNS
                                      " FROM chat_lines WHERE session_id = $1"
                                      " ORDER BY seq DESC LIMIT $2",
                         p, "read the newest chat lines");
  if (!rows) return rows.error();
  std::vector<ChatLine> out;
  out.reserve(static_cast<std::size_t>(rows->count()));
  for (int r = rows->count() - 1; r >= 0; --r) {
    auto line = read_line(*rows, r);
    if (!line) return line.error();
    out.push_back(std::move(*line));
  }
  return out;
}

Result<std::uint32_t> PgStore::count_lines(std::string_view session_id) {
  Params p;
  p.add(session_id);
  return count_query(*db_, "SELECT COUNT(*) FROM chat_lines WHERE session_id = $1", p,
                     "count chat lines");
}

Result<std::optional<std::string>> PgStore::session_of_line(std::string_view line_id) {
  Params p;
  p.add(line_id);
  auto rows = db_->query("SELECT session_id FROM chat_lines WHERE line_id = $1", p,
                         "find a chat line");
  if (!rows) return rows.error();
  if (rows->count() == 0) return std::optional<std::string>();
  return std::optional<std::string>(rows->text(0, 0));
}

Status PgStore::mark_interrupted(std::string_view line_id, bool keep_text) {
  Params p;
  p.add(line_id).add(keep_text);
  return update_one(*db_,
                    "UPDATE chat_lines SET interrupted = TRUE, "
                    "text = CASE WHEN $2 THEN text ELSE '' END WHERE line_id = $1",
                    p, "mark a chat line interrupted", "chat line");
}

// ---- chat logs

Result<std::vector<SessionRecord>> PgStore::call_logs(const CallLogQuery& query) {
  Params p;
  if (query.agent_id) p.add(*query.agent_id);
  else p.add_null();
  if (query.call_status) p.add(*query.call_status);
  else p.add_null();
  p.add(query.created_before_ms)
      .add(query.created_from_ms)
      .add(query.created_to_ms)
      .add(std::int64_t{query.limit});
  if (query.phone_number) p.add(*query.phone_number);
  else p.add_null();
  auto rows = db_->query(
      "SELECT " PARLEY_SESSION_COLUMNS " FROM sessions WHERE ended_ms IS NOT NULL "
      "AND ($1::text IS NULL OR agent_id = $1) AND ($2::text IS NULL OR call_status = $2) "
      "AND ($3::bigint IS NULL OR created_ms < $3) AND ($4::bigint IS NULL OR created_ms >= $4) "
      "AND ($5::bigint IS NULL OR created_ms <= $5) "
      "AND ($7::text IS NULL OR ($7 <> '' AND (phone_from = $7 OR phone_to = $7))) "
      "ORDER BY created_ms DESC, id DESC LIMIT $6",
      p, "list call logs");
  if (!rows) return rows.error();
  return read_sessions(*rows);
}

Result<std::vector<SessionRecord>> PgStore::user_sessions(const UserLogQuery& query,
                                                          std::uint32_t* total_count) {
  if (total_count != nullptr) *total_count = 0;
  if (query.user_id.empty()) return std::vector<SessionRecord>{};  // never list anonymous
  const char* operation = "list the user's sessions";
  const std::int64_t minimum =
      std::max<std::int64_t>(query.minimum_messages, query.include_empty ? 0 : 1);
  Params p;
  p.add(query.agent_id)
      .add(query.user_id)
      .add(query.date_from_ms)
      .add(query.date_to_ms)
      .add(minimum)
      .add(std::int64_t{query.how_many})
      .add(std::int64_t{query.from});
  // One statement: the page and the total count from one snapshot (a window count).
  auto rows = db_->query(
      "SELECT " PARLEY_SESSION_COLUMNS ", COUNT(*) OVER () FROM sessions s "
      "WHERE s.agent_id = $1 AND s.user_id = $2 "
      "AND ($3::bigint IS NULL OR s.created_ms >= $3) "
      "AND ($4::bigint IS NULL OR s.created_ms <= $4) "
      "AND (SELECT COUNT(*) FROM chat_lines l WHERE l.session_id = s.id) >= $5 "
      "ORDER BY s.created_ms DESC, s.id LIMIT $6 OFFSET $7",
      p, operation);
  if (!rows) return rows.error();
  if (total_count != nullptr) {
    if (rows->count() > 0) {
      *total_count = static_cast<std::uint32_t>(rows->integer(0, session_column_count));
    } else if (query.from > 0) {
      // A page past the end has no row to carry the count: count on its own.
      Params c;
      c.add(query.agent_id).add(query.user_id).add(query.date_from_ms).add(query.date_to_ms).add(
          minimum);
      auto counted = count_query(
          *db_,
          "SELECT COUNT(*) FROM sessions s WHERE s.agent_id = $1 AND s.user_id = $2 "
          "AND ($3::bigint IS NULL OR s.created_ms >= $3) "
          "AND ($4::bigint IS NULL OR s.created_ms <= $4) "
          "AND (SELECT COUNT(*) FROM chat_lines l WHERE l.session_id = s.id) >= $5",
          c, operation);
      if (!counted) return counted.error();
      *total_count = *counted;
    }
  }
  return read_sessions(*rows);
}

// ---- outbox

Result<std::int64_t> PgStore::enqueue(const OutboxItem& item) {
  Params p;
  p.add(item.kind)
      .add(item.url)
      .add(item.method)
      .add(json_text_or(item.headers, json::array()))
      .add(item.body)
      .add(item.idempotency_key)
      .add(item.created_ms)
      .add(item.next_attempt_ms);
  auto rows = db_->query(
      "INSERT INTO outbox (kind, url, method, headers, body, idempotency_key, created_ms, "
      "next_attempt_ms, attempts, delivered_ms, gave_up, last_error) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, NULL, FALSE, '') RETURNING id",
      p, "queue a webhook delivery");
  if (!rows && rows.error().code == "conflict")
    return make_error("conflict", "a delivery with this idempotency key is already queued");
  if (!rows) return rows.error();
  return rows->integer(0, 0);
}

Result<std::vector<OutboxItem>> PgStore::due_items(std::int64_t now_ms, std::uint32_t limit) {
  Params p;
  p.add(now_ms).add(std::int64_t{limit});
  auto rows = db_->query("SELECT " PARLEY_OUTBOX_COLUMNS
                         " FROM outbox WHERE delivered_ms IS NULL AND NOT gave_up "
                         "AND next_attempt_ms <= $1 ORDER BY next_attempt_ms, id LIMIT $2",
                         p, "list due webhook deliveries");
  if (!rows) return rows.error();
  return read_items(*rows);
}

Result<std::vector<OutboxItem>> PgStore::claim_due(std::int64_t now_ms, std::uint32_t limit,
                                                   std::string_view owner,
                                                   std::int64_t lease_ms) {
  Params p;
  p.add(now_ms).add(std::int64_t{limit}).add(owner).add(now_ms + lease_ms);
  // One statement, one transaction: the rows another host is claiming right now are skipped
  // (not waited for), and a row is claimable again only once its lease has lapsed.
  auto rows = db_->query(
      "UPDATE outbox SET lease_owner = $3, lease_until_ms = $4 WHERE id IN ("
      "SELECT id FROM outbox WHERE delivered_ms IS NULL AND NOT gave_up "
      "AND next_attempt_ms <= $1 AND lease_until_ms <= $1 "
      "ORDER BY next_attempt_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED) "
      "RETURNING " PARLEY_OUTBOX_COLUMNS,
      p, "claim due webhook deliveries");
  if (!rows) return rows.error();
  auto items = read_items(*rows);
  if (!items) return items;
  std::sort(items->begin(), items->end(), [](const OutboxItem& a, const OutboxItem& b) {
    return a.next_attempt_ms != b.next_attempt_ms ? a.next_attempt_ms < b.next_attempt_ms
                                                  : a.id < b.id;
  });
  return items;
}

Status PgStore::mark_delivered(std::int64_t id, std::int64_t now_ms) {
  Params p;
  p.add(id).add(now_ms);
  return update_one(*db_,
                    "UPDATE outbox SET delivered_ms = COALESCE(delivered_ms, $2), lease_owner = '', "
                    "lease_until_ms = 0 WHERE id = $1",
                    p, "mark a webhook delivered", "outbox item");
}

Status PgStore::mark_failed(std::int64_t id, std::int64_t next_attempt_ms,
                            std::string_view error, std::uint32_t max_attempts) {
  Params p;
  p.add(id).add(next_attempt_ms).add(error).add(std::int64_t{max_attempts});
  return update_one(*db_,
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $3, "
                    "next_attempt_ms = $2, gave_up = (attempts + 1 >= $4), lease_owner = '', "
                    "lease_until_ms = 0 "
                    "WHERE id = $1 AND delivered_ms IS NULL AND NOT gave_up",
                    p, "mark a webhook attempt failed", "pending outbox item");
}

Result<std::vector<OutboxItem>> PgStore::outbox_items() {
  auto rows = db_->query("SELECT " PARLEY_OUTBOX_COLUMNS " FROM outbox ORDER BY id", Params(),
                         "list webhook deliveries");
  if (!rows) return rows.error();
  return read_items(*rows);
}

Result<std::uint32_t> PgStore::pending_count() {
  return count_query(*db_,
                     "SELECT COUNT(*) FROM outbox WHERE delivered_ms IS NULL AND NOT gave_up",
                     Params(), "count pending webhook deliveries");
}

#undef PARLEY_SESSION_COLUMNS
#undef PARLEY_LINE_COLUMNS
#undef PARLEY_OUTBOX_COLUMNS

}  // namespace parley::host
