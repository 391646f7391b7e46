// The host's storage (DESIGN §2, §5, §12): sessions, chat lines, the LLM's tool rounds, chat
// logs and the webhook outbox, each behind one interface; `Store` is all of them, as the one object a host opens
// (as LiveKit's service stores: one interface per kind of record, no SQL outside the store).
// Implementations: SQLite (host/src/store/sqlite_store.*, the embedded default) and
// PostgreSQL (host/src/store/pg_store.*, several hosts on one database).
//
// Adding storage: a feature adds a method to the interface it belongs to (or a new interface
// that Store inherits), to EVERY implementation, and a case to the shared store suite
// (tests/host/unit-store.cpp), which every implementation must pass. No SQL outside
// host/src/store/.
//
// Every implementation: each mutating call is one transaction, committed before the call
// returns, so a line the host has acknowledged survives a SIGKILL; a failed call leaves
// nothing partial. A Store object is used by one thread at a time.
//
// Errors: code "db_error" (message names the operation and the database's text),
// "not_found" for an id that is not there where the call needs it, "conflict" for a
// duplicate id / key. Nothing here decides policy (windows, ownership, opt-out): the session
// service does.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley::host {

struct SessionRecord {
  std::string id;            // 128-bit random UUID text (new_session_id())
  std::string chat_log_id;   // the id of this session's chat log (another random UUID)
  std::string agent_id;
  std::string public_key;    // the key the session was opened with ("" for REST sessions)
  std::string user_id;       // from a verified loginToken; "" = anonymous
  std::string channel;       // "voice" or "rest"
  json metadata = json::object();
  bool include_metadata_in_prompt = false;
  json variables = json::object();  // prefetched + metadata: what templates see
  std::string continued_from;       // session id this one continues, or ""
  bool opted_out = false;           // the agent's data opt-out applied to this session
  std::int64_t created_ms = 0;
  std::int64_t last_activity_ms = 0;
  std::optional<std::int64_t> ended_ms;
  std::string end_reason;
  // Times a later call resumed the session in place after it had ended (reopen_session).
  std::int64_t reopened = 0;
  // The call's agent_config (DESIGN §3) as it was accepted: applied over the agent's config
  // whenever the session's conversation is built. null = none.
  json agent_overrides;
  // The extra_prompt_webhook's `extra_prompt`, appended to the system prompt; "" = none.
  std::string extra_prompt;
  // The session's tool calls, in order: [{name, params, result, error?, ts}].
  json function_calls = json::array();
  // Millis's call_status, set when the session ends ("" while it lasts).
  std::string call_status;
  // Phone calls (the end-of-call report's `voip`, DESIGN §6): the calling and called numbers
  // and "inbound" | "outbound"; all "" for other channels.
  std::string phone_from;
  std::string phone_to;
  std::string phone_direction;
};

struct ChatLine {
  std::int64_t seq = 0;      // store order (assigned by append_line): 1, 2, 3… per session
  std::string line_id;       // random UUID text (assigned by append_line when empty)
  std::string session_id;
  std::int64_t timestamp_ms = 0;
  bool inbound = false;      // true = the user, false = the agent
  std::string text;
  std::string emitter;       // "" for plain lines; e.g. the tool name for tool-made lines
  bool interrupted = false;  // an agent line cut by barge-in
  json context_vars = json::object();
};

// One round of an LLM's tool calls within a turn (DESIGN §12, §13), in OpenAI's
// chat-completions shape: the assistant message with its `tool_calls` (id, name, arguments)
// followed by one `tool` message per call id. Stored as the round completes, so that a
// conversation rebuilt from the store (a continued session, a call that reconnects to this or
// another host) sends the model the same past, tool calls included.
struct ToolRound {
  std::int64_t seq = 0;         // store order per session (assigned by append_tool_round)
  std::string session_id;
  std::int64_t after_line = 0;  // the seq of the chat line (the user's) the round follows
  std::int64_t timestamp_ms = 0;
  json messages = json::array();
};

struct OutboxItem {
  std::int64_t id = 0;
  std::string kind;             // "session_data", "tool", ...
  std::string url;
  std::string method = "POST";
  json headers = json::array(); // [[name, value], ...]
  std::string body;             // JSON text
  std::string idempotency_key;  // unique; sent as the Idempotency-Key header
  std::int64_t created_ms = 0;
  std::int64_t next_attempt_ms = 0;
  std::uint32_t attempts = 0;
  std::optional<std::int64_t> delivered_ms;
  bool gave_up = false;
  std::string last_error;
  std::string lease_owner;          // the host delivering it now ("" = none)
  std::int64_t lease_until_ms = 0;  // its claim lapses then
};

// GET /call-logs (DESIGN §3b): ended sessions, newest first.
struct CallLogQuery {
  std::optional<std::string> agent_id;
  std::optional<std::string> call_status;
  std::optional<std::int64_t> created_before_ms;  // the cursor: created strictly before
  std::optional<std::int64_t> created_from_ms;    // start_time: created at or after
  std::optional<std::int64_t> created_to_ms;      // end_time: created at or before
  std::optional<std::string> phone_number;        // a phone call from or to this number
  std::uint32_t limit = 20;
};

struct UserLogQuery {
  std::string agent_id;
  std::string user_id;
  std::optional<std::int64_t> date_from_ms;  // session created at or after
  std::optional<std::int64_t> date_to_ms;    // session created at or before
  std::uint32_t minimum_messages = 0;
  bool include_empty = false;  // showChatsWithNoHistory
  std::uint32_t from = 0;      // paging offset
  std::uint32_t how_many = 20;
};


// ---- sessions
class SessionStore {
 public:
  virtual ~SessionStore() = default;

  virtual Status create_session(const SessionRecord& session) = 0;
  virtual Result<std::optional<SessionRecord>> find_session(std::string_view session_id) = 0;
  virtual Result<std::optional<SessionRecord>> find_session_by_chat_log(
      std::string_view chat_log_id) = 0;
  virtual Status touch_session(std::string_view session_id, std::int64_t now_ms) = 0;
  // A call resumes the session in place: touched, and if it had ended, open again
  // (ended_ms/end_reason cleared, `reopened` + 1) so that this call's end is reported too.
  // not_found if absent.
  virtual Status reopen_session(std::string_view session_id, std::int64_t now_ms) = 0;
  virtual Status update_variables(std::string_view session_id, const json& variables) = 0;
  // A resumed session takes its page's metadata, and what templates see with it (one write);
  // not_found if absent.
  virtual Status update_metadata(std::string_view session_id, const json& metadata,
                                 const json& variables) = 0;
  // Sets ended_ms/end_reason/call_status once (a second end keeps the first); not_found if
  // absent.
  virtual Status end_session(std::string_view session_id, std::int64_t now_ms,
                             std::string_view reason, std::string_view call_status) = 0;
  Status end_session(std::string_view session_id, std::int64_t now_ms,
                     std::string_view reason) {
    return end_session(session_id, now_ms, reason, {});
  }
  // Appends one tool call to the session's function_calls; not_found if absent.
  virtual Status add_function_call(std::string_view session_id, const json& call) = 0;
  // The session chain: `session_id`, the session it continues, and so on (oldest first),
  // stopping at a missing link or after 64 hops. Empty when `session_id` itself is missing.
  virtual Result<std::vector<SessionRecord>> session_chain(std::string_view session_id) = 0;
  // The user's latest session for the agent (by last activity), for continuation by user.
  // An empty user_id (anonymous) finds nothing.
  virtual Result<std::optional<SessionRecord>> latest_user_session(std::string_view agent_id,
                                                                   std::string_view user_id) = 0;
  // The latest phone call (by last activity) of the agent with `number` on either end, for
  // memory by phone (DESIGN §11). An empty number finds nothing.
  virtual Result<std::optional<SessionRecord>> latest_phone_session(std::string_view agent_id,
                                                                    std::string_view number) = 0;
  // Every session with no ended_ms (for shutdown and for restart bookkeeping).
  virtual Result<std::vector<SessionRecord>> open_sessions() = 0;
  // Retention: deletes sessions (and their lines and tool rounds) of `agent_id` whose last activity is older
  // than cutoff_ms; returns how many sessions went.
  virtual Result<std::uint32_t> purge_sessions(std::string_view agent_id,
                                               std::int64_t cutoff_ms) = 0;

  // ---- live-call leases (DESIGN §12): a live call belongs to one host at a time. A host
  // renews the leases of its calls (heartbeat); a host that dies stops renewing, and its
  // leases lapse at expires_ms.
  // `host_id` takes the lease of `session_id` until now_ms + ttl_ms, whoever held it: the
  // client that reconnected to this host is the truth about where the call is.
  virtual Status take_call_lease(std::string_view session_id, std::string_view host_id,
                                 std::int64_t now_ms, std::int64_t ttl_ms) = 0;
  // Heartbeat: every lease `host_id` holds now lasts until now_ms + ttl_ms; returns the
  // session ids it holds (a call missing from them was taken over by another host).
  virtual Result<std::vector<std::string>> renew_call_leases(std::string_view host_id,
                                                             std::int64_t now_ms,
                                                             std::int64_t ttl_ms) = 0;
  // Drops the lease if `host_id` holds it (a call that ended here).
  virtual Status release_call_lease(std::string_view session_id, std::string_view host_id) = 0;
  // The host whose lease on `session_id` is live at now_ms, if any.
  virtual Result<std::optional<std::string>> call_lease_holder(std::string_view session_id,
                                                               std::int64_t now_ms) = 0;
  // The sessions with a live lease at now_ms (any host): the idle sweep leaves them alone.
  virtual Result<std::vector<std::string>> leased_sessions(std::int64_t now_ms) = 0;
};

// ---- chat lines
class LineStore {
 public:
  virtual ~LineStore() = default;

  // Appends the line and touches the session's last activity in one transaction; fills
  // seq, line_id and session_id of the returned copy.
  virtual Result<ChatLine> append_line(std::string_view session_id, ChatLine line) = 0;
  virtual Result<std::vector<ChatLine>> lines_of(std::string_view session_id) = 0;
  // The newest `n` lines of the session (only the agent's when agent_only), oldest first:
  // what a page resuming a long conversation shows, read without the rest.
  virtual Result<std::vector<ChatLine>> newest_lines(std::string_view session_id,
                                                     std::uint32_t n, bool agent_only) = 0;
  virtual Result<std::uint32_t> count_lines(std::string_view session_id) = 0;
  // The session a chat line belongs to, if `line_id` is a line's id.
  virtual Result<std::optional<std::string>> session_of_line(std::string_view line_id) = 0;
  // Sets `interrupted`; keep_text false also empties the text (the line and its seq stay).
  virtual Status mark_interrupted(std::string_view line_id, bool keep_text) = 0;
};

// ---- the LLM's tool rounds (conversation state beside the lines)
class ToolRoundStore {
 public:
  virtual ~ToolRoundStore() = default;

  // Stores the round (seq assigned, session_id filled in the returned copy) and touches the
  // session's last activity, in one transaction; not_found if the session is absent.
  virtual Result<ToolRound> append_tool_round(std::string_view session_id, ToolRound round) = 0;
  // The session's rounds in store order.
  virtual Result<std::vector<ToolRound>> tool_rounds_of(std::string_view session_id) = 0;
};

// ---- chat logs (one per session), listed by user
class ChatLogStore {
 public:
  virtual ~ChatLogStore() = default;

  // Newest created first; `total_count` (may be null) counts every match, ignoring paging.
  // An empty user_id lists nothing.
  virtual Result<std::vector<SessionRecord>> user_sessions(const UserLogQuery& query,
                                                           std::uint32_t* total_count) = 0;
  // Ended sessions matching the query, newest created first, at most query.limit.
  virtual Result<std::vector<SessionRecord>> call_logs(const CallLogQuery& query) = 0;
};

// ---- webhook outbox (at least once, durable)
class OutboxStore {
 public:
  virtual ~OutboxStore() = default;

  // Stores the item (id, attempts, delivered_ms ignored); "conflict" if the idempotency key
  // exists already (the caller then treats it as queued).
  virtual Result<std::int64_t> enqueue(const OutboxItem& item) = 0;
  // Undelivered, not given up, next_attempt_ms <= now_ms, oldest first, at most `limit`.
  virtual Result<std::vector<OutboxItem>> due_items(std::int64_t now_ms,
                                                    std::uint32_t limit) = 0;
  // What a deliverer sends: like due_items, but only items no other owner has a live lease
  // on, and each returned item is leased to `owner` until now_ms + lease_ms, in one
  // transaction (PostgreSQL: FOR UPDATE SKIP LOCKED, so hosts claiming at once get disjoint
  // items). mark_delivered and mark_failed end the lease; a host that dies with a claim
  // leaves it to lapse, and another host sends the item then (at least once, never by two
  // hosts at the same time while the lease holds).
  virtual Result<std::vector<OutboxItem>> claim_due(std::int64_t now_ms, std::uint32_t limit,
                                                    std::string_view owner,
                                                    std::int64_t lease_ms) = 0;
  virtual Status mark_delivered(std::int64_t id, std::int64_t now_ms) = 0;
  // attempts+1, last_error, next_attempt_ms; gave_up when attempts reaches max_attempts.
  virtual Status mark_failed(std::int64_t id, std::int64_t next_attempt_ms,
                             std::string_view error, std::uint32_t max_attempts) = 0;
  virtual Result<std::vector<OutboxItem>> outbox_items() = 0;  // all, for tests and /metrics
  virtual Result<std::uint32_t> pending_count() = 0;
};

// True for a location Store::open reads as PostgreSQL.
bool is_postgres_location(std::string_view location);
// The location with any password replaced by "***", for logs and messages.
std::string redact_location(std::string_view location);

// Everything a host stores, as one object.
class Store : public SessionStore,
              public LineStore,
              public ToolRoundStore,
              public ChatLogStore,
              public OutboxStore {
 public:
  // Opens the store `location` names and migrates its schema to schema_version:
  // - a postgresql:// (or postgres://) URI in libpq's syntax: PostgreSQL; the password from
  //   the URI, PGPASSWORD or ~/.pgpass (libpq's own rules). Errors "db_unavailable" (cannot
  //   connect), "db_error";
  // - anything else: an SQLite file path, created if needed (":memory:" works for tests),
  //   in WAL mode with synchronous=NORMAL, foreign keys and a busy timeout.
  // A database of a newer schema version is refused ("db_version" names both versions).
  // Blocking: a PostgreSQL store must not be used from the io thread.
  static Result<std::unique_ptr<Store>> open(const std::string& location);

  // The schema version this build writes; every implementation migrates to it.
  static constexpr int schema_version = 6;
  // The schema version of the opened database (== schema_version once open succeeded).
  virtual int user_version() const = 0;
  // One round trip to the database (PostgreSQL reconnects first if it must): for health.
  virtual Status ping() = 0;

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store() override = default;

 protected:
  Store() = default;
};

}  // namespace parley::host
