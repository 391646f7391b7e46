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
#include <boost/asio/steady_timer.hpp>

#include "call_leases.hpp"
#include "parley/host/agent.hpp"
#include "parley/host/async_store.hpp"
#include "parley/host/config.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/rate_limiter.hpp"
#include "parley/host/store.hpp"
#include "parley/json.hpp"
#include "parley/protocol.hpp"
#include "parley/result.hpp"

namespace parley::host {

std::int64_t now_epoch_ms();

// Who asks for a session (DESIGN §5), as the request presents it. The voice socket: the
// initiate's public_key and the page's Origin. REST (memori_api.cpp, README "Security"): the
// X-Parley-Public-Key header (or additionalInfo.publicKey on POST /Session), the loginToken as
// Authorization: Bearer (or additionalInfo.loginToken on POST /Session), and the Origin.
struct Caller {
  std::optional<std::string> public_key;
  std::string login_token;  // as presented: verified against the agent of the session asked for
  std::optional<std::string> origin;
};

// The caller as ownership is checked: its token verified into a user id.
struct Owner {
  std::string agent_id;                   // the agent the session must belong to; "" = any
  std::optional<std::string> public_key;  // presented key, if any
  std::string user_id;                    // verified loginToken's user; "" = none
  std::optional<std::string> origin;
};

// Error codes this service answers with (the voice socket maps them to close codes, the REST
// API to result codes): bad_request, unknown_agent, bad_public_key, origin_not_allowed,
// token_* (ids.hpp), not_found, expired, deleted, chat_line_id, db_error, internal.
struct OpenRequest {
  std::string channel;  // "voice", "rest" or "phone"
  std::string agent_id;
  std::optional<std::string> public_key;  // voice: required; REST: optional (binds the session)
  std::optional<std::string> origin;      // the browser's Origin, if any
  json metadata = json::object();         // validated by the caller (validate_metadata)
  json context_vars = json::object();     // REST initialContextVars (strings)
  bool include_metadata_in_prompt = false;
  std::string continue_session_id;   // session_continuation / continueFromSessionID
  std::string continue_chat_log_id;  // continueFromChatLogID
  std::string login_token;           // additionalInfo.loginToken
  bool continue_latest_for_user = false;  // extension: continue the user's latest session
  // Phone calls with the agent's memory.by_phone (DESIGN §11): the number on the other end,
  // whose latest call this one continues, if it has one; "" = none.
  std::string continue_by_phone;
  // Voice: the call named by continue_session_id dropped (connection_lost) less than the
  // reconnect grace ago: it is the same call coming back, under the same id ("resumed").
  // Otherwise (and always for REST) a new session continues the named one.
  bool rejoin = false;
  // The call's agent_config (DESIGN §3), null = none: read over the agent's config by
  // apply_agent_config, as far as its allow_overrides lets it.
  json agent_overrides;
  // Phone calls: the numbers (the extra_prompt_webhook's `from` and `to`) and "inbound" or
  // "outbound", kept with the session (the end-of-call report's `voip`); "" otherwise.
  std::string from;
  std::string to;
  std::string direction;
  // Phone calls: the call's id (GET /phone_calls/{call_id}), a custom LLM's `call_sid`.
  std::string phone_call_id;
  // Phone calls: the id the session gets, announced before the call was answered
  // (start_outbound_call answers with it at once); "" = a new id.
  std::string preset_session_id;
};

struct OpenedSession {
  SessionRecord record;
  std::shared_ptr<const AgentConfig> agent;  // the agent the call runs with (overrides applied)
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

// Every store call goes through AsyncStore (issue 17): the io thread never waits for the
// database. A callback (`done`) always runs later, on the io thread.
class SessionService {
 public:
  SessionService(boost::asio::io_context& io, const HostConfig& config, AsyncStore& db,
                 Metrics& metrics, HttpClient& http, OutboxDeliverer& outbox);

  const HostConfig& config() const { return config_; }
  AsyncStore& db() { return db_; }

  // Checks, continuation, prefetch webhook, conversation start; `done` runs once.
  void open(OpenRequest request, std::function<void(Result<OpenedSession>)> done);

  // limits.max_sessions_per_min for the client address in `remote` ("ip:port"): 0 when one
  // more session may be opened from it (and it is counted), else the seconds to wait. Every
  // door a stranger opens sessions by asks first (POST /Session, the voice socket's initiate).
  std::uint32_t session_opening_wait(const std::string& remote);
  std::string session_opening_refusal(std::uint32_t wait_s) const;

  // THE ownership rule (DESIGN §5), the one every session route applies (GET/DELETE/PATCH
  // /Session, TextEnteredEvent, SessionChatLogs for both ids, continuation by session id, chat
  // log id or user, the voice socket's session_continuation, UserChatLogsByTokenPaged): the
  // session is not deleted, its agent is configured and it is inside the agent's retention; it
  // belongs to `who.agent_id` when one is named; the agent allows the caller's origin; the
  // session's public key, when it was opened with one, is the caller's; its user, when it was
  // opened with a loginToken, is the caller's verified user.
  //
  // The functions below that take a Store read the database: call them inside AsyncStore
  // work (a database thread). They read only the config besides, which outlives the service.
  bool owns(const Owner& who, const SessionRecord& session, std::int64_t now_ms) const;
  // The caller as an Owner for `agent`: its token verified with the agent's secret (a token
  // that does not verify is no user).
  Owner owner_for(const Caller& caller, const AgentConfig& agent, std::int64_t now_ms) const;
  // The session `session_id` if `caller` owns it (its token verified against the session's own
  // agent), expired or not (the route decides). Anything else, whatever the reason (unknown,
  // deleted, purged, another agent's, key's or user's, an origin the agent does not allow),
  // is not_found_error(): the same code and message, so that no answer tells them apart.
  Result<SessionRecord> owned_session(Store& store, const std::string& session_id,
                                      const Caller& caller, std::int64_t now_ms) const;
  static Error not_found_error();
  // Inside the agent's resume window (the session goes on under its id).
  bool live(const SessionRecord& session, std::int64_t now_ms) const;
  Error expired_error(const SessionRecord& session) const;

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
  // `done` runs on the io thread once it is stored (or refused).
  void update_metadata(const SessionRecord& session, const json& page_metadata,
                       std::function<void(Status)> done);

  // Ends the session (once) at `ended_ms` (default: now) with `reason`, records its
  // call_status (call_status_for), enqueues the end-of-call webhook, drops its conversation.
  // `ended` (may be empty) runs on the io thread once that is stored (or failed, logged).
  void end(const std::string& session_id, const std::string& reason,
           std::function<void()> ended = nullptr,
           std::optional<std::int64_t> ended_ms = std::nullopt);
  // The live call's socket dropped (connection_lost): the session waits the reconnect grace
  // (server.reconnect_grace_s) for the same call to come back (open() with rejoin), and ends
  // then, as of the drop, if it did not. Its conversation stays up meanwhile.
  void drop(const std::string& session_id);
  // A voice call continuing a conversation whose last activity is more recent than this
  // (still inside its window) goes on without a greeting: the chat is still going on.
  static constexpr std::int64_t kOngoingMs = 5 * 60 * 1000;

  // The agent `session` runs with: its agent's config with the session's agent_config
  // applied. Null when the agent is no longer configured. (Reads only the config: any thread.)
  std::shared_ptr<const AgentConfig> effective_agent(const SessionRecord& session) const;
  // The session's end-of-call report, as the session_data_webhook gets it and
  // GET /call-logs answers it (end_of_call_payload). For an ended session. (Database thread.)
  Result<json> call_log(Store& store, const SessionRecord& session) const;

  // The sessions of `session_id`'s chain (it, the one it continues, ...), oldest first, that
  // `who` owns: a deleted or foreign link is left out with its lines. (Database thread.)
  Result<std::vector<SessionRecord>> owned_chain(Store& store, const std::string& session_id,
                                                 const Owner& who, std::int64_t now_ms) const;
  // The user's sessions of `who.agent_id` that `who` owns, newest created first, after `from`
  // and at most `how_many` of them; `total` counts all that match (query's paging is ignored).
  // (Database thread.)
  Result<std::vector<SessionRecord>> owned_user_sessions(Store& store, UserLogQuery query,
                                                         const Owner& who, std::uint32_t* total,
                                                         std::int64_t now_ms) const;

  // Appends a line the call made itself (greeting, last words), in order with the turns.
  void append_line(const std::string& session_id, ChatLine line,
                   std::function<void(Result<ChatLine>)> done);
  // Marks a line interrupted (barge-in); a failure is logged.
  void mark_interrupted(const std::string& session_id, const std::string& line_id,
                        bool keep_text);

  const std::string* prompt_of(const std::string& session_id) const;

  // Retention and expiry sweep: ends sessions idle past their window (webhook), purges
  // sessions past retention. Called by a timer.
  void sweep(std::int64_t now_ms);
  // Shutdown: closes every conversation (pending turns get their fallback).
  void close_all();

  // A live voice call holds the session: the sweep does not end it while it lasts. The first
  // call of a session on this host takes the session's call lease in the database (DESIGN
  // §12) for server.call_lease_ms, renewed by heartbeat() every server.call_lease_renew_ms
  // (a timer of the application) and dropped by the last detach: no host's sweep or
  // end-of-call acts on a session another live host holds, and a dead host's calls are free
  // call_lease_ms after its last renewal.
  void attach_call(const std::string& session_id);
  void detach_call(const std::string& session_id);
  // Renews this host's call leases; logs the calls whose lease another host took over
  // (only those whose take had completed before the renewal was asked: CallLeases).
  void heartbeat(std::int64_t now_ms);

  // Conversations held in memory (tests, metrics).
  std::size_t live_conversations() const { return conversations_.size(); }

 private:
  struct Live {
    std::shared_ptr<Conversation> conversation;
    std::int64_t last_used_ms = 0;
    std::string agent_id;
    // How many of the session's own stored lines this conversation has seen (-1: not
    // tracked, e.g. opted out). Another host may have added lines (round robin): a turn that
    // finds more in the store rebuilds the conversation from them first.
    std::int64_t seen = -1;
  };
  // The session if `who` owns it, else nothing (also for a missing one). (Database thread.)
  Result<std::optional<SessionRecord>> find_owned(Store& store, const std::string& session_id,
                                                  const Owner& who, std::int64_t now_ms) const;
  // The lines of the chain `who` owns, oldest first (a continuation's history), and the
  // LLM's tool rounds of those sessions into `tool_rounds`. (Database thread.)
  Result<std::vector<ChatLine>> owned_history(Store& store, const std::string& session_id,
                                              const Owner& who, std::int64_t now_ms,
                                              std::vector<ToolRound>& tool_rounds) const;
  struct Lookup;
  struct Dropped {
    std::int64_t at_ms = 0;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  // What open() decided, carried through the extra_prompt webhook to finish_open().
  struct Opening {
    OpenRequest request;
    std::shared_ptr<const AgentConfig> agent;
    SessionRecord record;
    std::optional<Continuation> continuation;
    std::vector<ChatLine> history;
    std::vector<ToolRound> tool_rounds;      // of the history's sessions
    bool resumed = false;                    // the same call came back: same id
    std::int64_t continued_activity_ms = 0;  // the continued session's last activity
  };
  void continue_open(OpenRequest request, const AgentConfig& agent,
                     std::shared_ptr<const AgentConfig> effective, std::string user_id,
                     Lookup lookup, std::function<void(Result<OpenedSession>)> done);
  void finish_open(Opening opening, std::function<void(Result<OpenedSession>)> done);
  void start_conversation(Opening opening, std::function<void(Result<OpenedSession>)> done);
  // Merges the extra_prompt_webhook's reply into the new session (or says why not).
  static Status use_extra_prompt(SessionRecord& record, const ExtraPrompt& extra);
  // `call_sid`: the phone call's id (a custom LLM's start_call), "" for other calls.
  std::shared_ptr<Conversation> make_for(const SessionRecord& session,
                                         std::shared_ptr<const AgentConfig> agent,
                                         std::vector<ChatLine> history,
                                         std::vector<ToolRound> tool_rounds,
                                         const std::string& call_sid = {});
  // A line of `session_id` stored by this host at `seq`: seen by its live conversation.
  void note_seen(const std::string& session_id, std::int64_t seq);
  // A TurnHooks::tool_round that stores each round of `session_id` after its line
  // `after_line` (the turn's user line), then calls `also` if set.
  std::function<void(const json&)> store_tool_round(const std::string& session_id,
                                                    std::int64_t after_line,
                                                    std::function<void(const json&)> also);

  boost::asio::io_context& io_;
  const HostConfig& config_;
  AsyncStore& db_;
  Metrics& metrics_;
  HttpClient& http_;
  OutboxDeliverer& outbox_;
  std::map<std::string, Live> conversations_;
  RateLimiter openings_;  // limits.max_sessions_per_min, by client address
  CallLeases calls_;  // live calls, and which hold their lease
  std::map<std::string, Dropped> dropped_;
  std::int64_t grace_ms_;  // server.reconnect_grace_s
  std::int64_t lease_ms_;  // server.call_lease_ms
};

}  // namespace parley::host
