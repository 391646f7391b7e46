// The Store on PostgreSQL (DESIGN §12: several hosts share one database), over one libpq
// connection (pg_db.hpp). Versioned migrations (pg_schema.cpp, numbered as SQLite's). Every
// write is one statement or one transaction, committed before the call returns. Blocking:
// a PgStore belongs to one thread that is not the io thread (see db_pool.hpp).
//
// Several writers: each statement is written to stay correct when other hosts run it at the
// same moment under READ COMMITTED (row locks taken by UPDATE, counters on the locked row,
// conflicts reported as "conflict"), so no call needs SERIALIZABLE or a retry loop.
#pragma once

#include <memory>
#include <string>

#include "parley/host/store.hpp"
#include "pg_db.hpp"

namespace parley::host {

class PgStore final : public Store {
 public:
  // Connects to `uri` (a postgresql:// URI; the password from the URI, PGPASSWORD or the
  // password file) and migrates the schema to the current version.
  static Result<std::unique_ptr<PgStore>> open(const std::string& uri);
  // The connection, for health checks (ping) and the migrate command.
  pg::Connection& connection() { return *db_; }

  int user_version() const override { return version_; }
  Status ping() override { return db_->ping(); }

  // ---- issue 17: leases
  Status take_call_lease(std::string_view session_id, std::string_view host_id,
                         std::int64_t now_ms, std::int64_t ttl_ms) override;
  Result<std::vector<std::string>> renew_call_leases(std::string_view host_id,
                                                     std::int64_t now_ms,
                                                     std::int64_t ttl_ms) override;
  Status release_call_lease(std::string_view session_id, std::string_view host_id) override;
  Result<std::optional<std::string>> call_lease_holder(std::string_view session_id,
                                                       std::int64_t now_ms) override;
  Result<std::vector<std::string>> leased_sessions(std::int64_t now_ms) override;
  Result<std::vector<OutboxItem>> claim_due(std::int64_t now_ms, std::uint32_t limit,
                                            std::string_view owner,
                                            std::int64_t lease_ms) override;

  // ---- SessionStore
  Status create_session(const SessionRecord& session) override;
  Result<std::optional<SessionRecord>> find_session(std::string_view session_id) override;
  Result<std::optional<SessionRecord>> find_session_by_chat_log(
      std::string_view chat_log_id) override;
  Status touch_session(std::string_view session_id, std::int64_t now_ms) override;
  Status reopen_session(std::string_view session_id, std::int64_t now_ms) override;
  Status update_variables(std::string_view session_id, const json& variables) override;
  Status update_metadata(std::string_view session_id, const json& metadata,
                         const json& variables) override;
  using SessionStore::end_session;
  Status end_session(std::string_view session_id, std::int64_t now_ms, std::string_view reason,
                     std::string_view call_status) override;
  Status add_function_call(std::string_view session_id, const json& call) override;
  Result<std::vector<SessionRecord>> session_chain(std::string_view session_id) override;
  Result<std::optional<SessionRecord>> latest_user_session(std::string_view agent_id,
                                                           std::string_view user_id) override;
  Result<std::optional<SessionRecord>> latest_phone_session(std::string_view agent_id,
                                                            std::string_view number) override;
  Result<std::vector<SessionRecord>> open_sessions() override;
  Result<std::uint32_t> purge_sessions(std::string_view agent_id,
                                       std::int64_t cutoff_ms) override;

  // ---- LineStore
  Result<ChatLine> append_line(std::string_view session_id, ChatLine line) override;
  Result<std::vector<ChatLine>> lines_of(std::string_view session_id) override;
  Result<std::vector<ChatLine>> newest_lines(std::string_view session_id, std::uint32_t n,
                                             bool agent_only) override;
  Result<std::uint32_t> count_lines(std::string_view session_id) override;
  Result<std::optional<std::string>> session_of_line(std::string_view line_id) override;
  Status mark_interrupted(std::string_view line_id, bool keep_text) override;

  // ---- ToolRoundStore
  Result<ToolRound> append_tool_round(std::string_view session_id, ToolRound round) override;
  Result<std::vector<ToolRound>> tool_rounds_of(std::string_view session_id) override;

  // ---- ChatLogStore
  Result<std::vector<SessionRecord>> user_sessions(const UserLogQuery& query,
                                                   std::uint32_t* total_count) override;
  Result<std::vector<SessionRecord>> call_logs(const CallLogQuery& query) override;

  // ---- OutboxStore
  Result<std::int64_t> enqueue(const OutboxItem& item) override;
  Result<std::vector<OutboxItem>> due_items(std::int64_t now_ms, std::uint32_t limit) override;
  Status mark_delivered(std::int64_t id, std::int64_t now_ms) override;
  Status mark_failed(std::int64_t id, std::int64_t next_attempt_ms, std::string_view error,
                     std::uint32_t max_attempts) override;
  Result<std::vector<OutboxItem>> outbox_items() override;
  Result<std::uint32_t> pending_count() override;

 private:
  PgStore(std::unique_ptr<pg::Connection> db, int version)
      : db_(std::move(db)), version_(version) {}

  std::unique_ptr<pg::Connection> db_;
  int version_ = 0;
};

}  // namespace parley::host
