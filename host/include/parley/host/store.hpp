// The host's storage: sessions, chat lines and the webhook outbox in one SQLite file
// (DESIGN §5, issue 4). WAL mode, versioned migrations (PRAGMA user_version), every write in
// one transaction that is committed before the call returns, so a line the host has
// acknowledged survives a SIGKILL. All calls are synchronous and made from the host's
// io thread; a Store is not shared between threads.
//
// Errors: code "db_error" (message names the operation and SQLite's text), "not_found" for
// an id that is not there where the call needs it, "conflict" for a duplicate id / key.
// Nothing here decides policy (windows, ownership, opt-out): the session service does.
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

class Store {
 public:
  // Opens or creates the file, sets WAL + synchronous=NORMAL + foreign keys + a busy timeout,
  // and migrates the schema to the current version. A file from a newer version is refused
  // ("db_version" names both versions). ":memory:" works for tests.
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr int schema_version = 2;
  int user_version() const;

  // ---- sessions
  Status create_session(const SessionRecord& session);
  Result<std::optional<SessionRecord>> find_session(std::string_view session_id);
  Result<std::optional<SessionRecord>> find_session_by_chat_log(std::string_view chat_log_id);
  Status touch_session(std::string_view session_id, std::int64_t now_ms);
  // A call resumes the session in place: touched, and if it had ended, open again
  // (ended_ms/end_reason cleared, `reopened` + 1) so that this call's end is reported too.
  // not_found if absent.
  Status reopen_session(std::string_view session_id, std::int64_t now_ms);
  Status update_variables(std::string_view session_id, const json& variables);
  // Sets ended_ms/end_reason once (a second end keeps the first); not_found if absent.
  Status end_session(std::string_view session_id, std::int64_t now_ms, std::string_view reason);
  // The session chain: `session_id`, the session it continues, and so on (oldest first),
  // stopping at a missing link or after 64 hops. Empty when `session_id` itself is missing.
  Result<std::vector<SessionRecord>> session_chain(std::string_view session_id);
  // The user's latest session for the agent (by last activity), for continuation by user.
  // An empty user_id (anonymous) finds nothing.
  Result<std::optional<SessionRecord>> latest_user_session(std::string_view agent_id,
                                                           std::string_view user_id);
  // Newest created first; `total_count` (may be null) counts every match, ignoring paging.
  // An empty user_id lists nothing.
  Result<std::vector<SessionRecord>> user_sessions(const UserLogQuery& query,
                                                   std::uint32_t* total_count);
  // Every session with no ended_ms (for shutdown and for restart bookkeeping).
  Result<std::vector<SessionRecord>> open_sessions();

  // ---- chat lines
  // Appends the line and touches the session's last activity in one transaction; fills
  // seq, line_id and session_id of the returned copy.
  Result<ChatLine> append_line(std::string_view session_id, ChatLine line);
  Result<std::vector<ChatLine>> lines_of(std::string_view session_id);
  Result<std::uint32_t> count_lines(std::string_view session_id);
  // The session a chat line belongs to, if `line_id` is a line's id.
  Result<std::optional<std::string>> session_of_line(std::string_view line_id);
  // Sets `interrupted`; keep_text false also empties the text (the line and its seq stay).
  Status mark_interrupted(std::string_view line_id, bool keep_text);

  // ---- retention
  // Deletes sessions (and their lines) of `agent_id` whose last activity is older than
  // cutoff_ms; returns how many sessions went.
  Result<std::uint32_t> purge_sessions(std::string_view agent_id, std::int64_t cutoff_ms);

  // ---- webhook outbox (at least once, durable)
  // Stores the item (id, attempts, delivered_ms ignored); "conflict" if the idempotency key
  // exists already (the caller then treats it as queued).
  Result<std::int64_t> enqueue(const OutboxItem& item);
  // Undelivered, not given up, next_attempt_ms <= now_ms, oldest first, at most `limit`.
  Result<std::vector<OutboxItem>> due_items(std::int64_t now_ms, std::uint32_t limit);
  Status mark_delivered(std::int64_t id, std::int64_t now_ms);
  // attempts+1, last_error, next_attempt_ms; gave_up when attempts reaches max_attempts.
  Status mark_failed(std::int64_t id, std::int64_t next_attempt_ms, std::string_view error,
                     std::uint32_t max_attempts);
  Result<std::vector<OutboxItem>> outbox_items();  // all, for tests and /metrics
  Result<std::uint32_t> pending_count();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::host
