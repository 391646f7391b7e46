// The session rules of DESIGN §5, shared by the voice socket and the Memori REST API:
// opening (agent, key, origin, metadata, user token), resumption inside the window,
// continuation of past sessions, data opt-out, ownership (a foreign id looks exactly like an
// unknown one), turns (every line committed before the reply that reports it), and ending
// (the end-of-call webhook goes to the durable outbox).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "parley/host/agent.hpp"
#include "parley/host/config.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/store.hpp"
#include "parley/json.hpp"
#include "parley/protocol.hpp"
#include "parley/result.hpp"

namespace parley::host {

std::int64_t now_epoch_ms();

// Error codes this service answers with (the voice socket maps them to close codes, the REST
// API to result codes): bad_request, unknown_agent, bad_public_key, origin_not_allowed,
// token_* (ids.hpp), not_found, expired, deleted, chat_line_id, db_error, internal.
struct OpenRequest {
  std::string channel;  // "voice" or "rest"
  std::string agent_id;
  std::optional<std::string> public_key;  // voice: required; REST: none
  std::optional<std::string> origin;      // the browser's Origin, if any
  json metadata = json::object();         // validated by the caller (validate_metadata)
  json context_vars = json::object();     // REST initialContextVars (strings)
  bool include_metadata_in_prompt = false;
  std::string continue_session_id;   // session_continuation / continueFromSessionID
  std::string continue_chat_log_id;  // continueFromChatLogID
  std::string login_token;           // additionalInfo.loginToken
  bool continue_latest_for_user = false;  // extension: continue the user's latest session
  // Voice: a valid session named by continue_session_id goes on under the same id
  // ("resumed"). REST: POST /Session always opens a new session.
  bool resume_in_place = false;
};

struct OpenedSession {
  SessionRecord record;
  std::optional<Continuation> continuation;  // when a continuation was asked for
  std::vector<ChatLine> history;             // the lines of the sessions it continues
  std::string greeting;                      // welcome message, or the resume line, or ""
  std::shared_ptr<Conversation> conversation;
};

struct TurnResult {
  AgentReply reply;
  ChatLine user_line;   // as stored (line_id empty when the agent opts out of data)
  ChatLine agent_line;
};

class SessionService {
 public:
  SessionService(boost::asio::io_context& io, const HostConfig& config, Store& store,
                 Metrics& metrics, HttpClient& http, OutboxDeliverer& outbox);

  const HostConfig& config() const { return config_; }
  Store& store() { return store_; }

  // Checks, continuation, prefetch webhook, conversation start; `done` runs once.
  void open(OpenRequest request, std::function<void(Result<OpenedSession>)> done);

  // A session usable now by the agent `agent_id` (empty = any): exists, not deleted, last
  // activity inside the agent's window. Errors: not_found (also for a foreign or purged
  // id), expired, deleted.
  Result<SessionRecord> valid_session(const std::string& session_id, std::int64_t now_ms);

  // One user turn: stores the user's line, asks the conversation, stores the agent's line,
  // then calls done. The conversation is the live one of the session (created on demand).
  void turn(const SessionRecord& session, std::string text, TurnHooks hooks,
            std::function<void(Result<TurnResult>)> done);
  // Barge-in: the session's conversation keeps only `heard` of its reply in flight or its
  // last one (Conversation::interrupt). Nothing when the session has no live conversation.
  void interrupt(const std::string& session_id, std::string heard);

  // The page's metadata merged over the session's (its values win), within the DESIGN §6
  // limits (an error names the one exceeded); what templates see follows. The session's next
  // turn sees it (its cached conversation is dropped; a live call keeps its own until it ends).
  Status update_metadata(const SessionRecord& session, const json& page_metadata);

  // Ends the session (once), enqueues the end-of-call webhook, drops its conversation.
  void end(const std::string& session_id, const std::string& reason);

  // The chat logs (one per session) of `session_id`'s chain, oldest first; empty when the
  // agent opts out of data collection.
  Result<std::vector<SessionRecord>> chain(const std::string& session_id);

  const std::string* prompt_of(const std::string& session_id) const;

  // Retention and expiry sweep: ends sessions idle past their window (webhook), purges
  // sessions past retention. Called by a timer.
  void sweep(std::int64_t now_ms);
  // Shutdown: closes every conversation (pending turns get their fallback).
  void close_all();

  // A live voice call holds the session: the sweep does not end it while it lasts.
  void attach_call(const std::string& session_id) { ++calls_[session_id]; }
  void detach_call(const std::string& session_id);

  // Conversations held in memory (tests, metrics).
  std::size_t live_conversations() const { return conversations_.size(); }

 private:
  struct Live {
    std::shared_ptr<Conversation> conversation;
    std::int64_t last_used_ms = 0;
  };
  Result<std::optional<SessionRecord>> find_owned(const std::string& session_id,
                                                  const AgentConfig& agent,
                                                  const OpenRequest& request,
                                                  const std::string& user_id);
  void finish_open(OpenRequest request, const AgentConfig& agent, SessionRecord record,
                   std::optional<Continuation> continuation, std::vector<ChatLine> history,
                   bool resumed, std::function<void(Result<OpenedSession>)> done);
  std::shared_ptr<Conversation> conversation_for(const SessionRecord& session);
  std::shared_ptr<Conversation> make_for(const SessionRecord& session, std::vector<ChatLine> history);

  boost::asio::io_context& io_;
  const HostConfig& config_;
  Store& store_;
  Metrics& metrics_;
  HttpClient& http_;
  OutboxDeliverer& outbox_;
  std::map<std::string, Live> conversations_;
  std::map<std::string, int> calls_;
};

}  // namespace parley::host
