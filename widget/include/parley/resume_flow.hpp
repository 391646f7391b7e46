// The widget's resume flow (DESIGN §5) as a sans-I/O state machine: it emits the HTTP
// requests of the Memori v2 API (DESIGN §4) as data, is fed the replies, and ends in one
// outcome. The caller does the I/O (fetch in the browser, canned replies in the tests).
//
//   start(now) --> candidate: URL sessionID, else the one stored for this integration id
//                  (a stored one for another agent is not a candidate)
//     no candidate ----------------------------------------------------------+
//     stored last activity outside the window (local check) -----------------+
//     otherwise: GET /Session/{id}                                           |
//        resultCode 0 --> GET /SessionChatLogs/{id}/{id}?chain=true --> Resumed |
//        resultCode -103 / -263 ---------------------------------------------+
//                                                                            v
//        (then, when the page has non-identity metadata that the session's contextVars do
//         not already hold: PATCH /Session/{id} {metadata} --> Resumed; a refusal is only a
//         warning)
//     POST /Session {memoriID, continueFromSessionID?: old id,
//                    initialContextVars?, additionalInfo?}
//        refused (HTTP 4xx or resultCode != 0) while continuing
//            --> POST /Session again, without continueFromSessionID
//        ok, continued --> GET /SessionChatLogs/{new}/{new}?chain=true --> NewSession (earlier lines)
//        ok, not continued --> NewSession
//   anything else (transport error, HTTP 5xx, a reply that is not JSON, lacks resultCode or a
//   valid sessionID...) --> Failed, naming the route and what was wrong.
//
// Decisions:
//  - The history fetch comes after the session is in hand. If it fails, the outcome is still
//    Resumed/NewSession with `history_error` set: losing the live session because the history
//    did not load would be worse for the user (DESIGN §9: nothing else changes).
//  - Earlier lines after a continuation come from SessionChatLogs/{new}/{new}?chain=true, the
//    host's option (the default is the session's own log only), which holds the
//    new session's logs and those of the sessions it continues (DESIGN §4). Lines of the new
//    session itself are left out: at this point they can only be the welcome message, which
//    NewSession::welcome already carries (so it is not shown twice).
//  - Resumed::lines holds the whole history, oldest first, and last_agent_index points at the
//    agent's last message inside it. The UI renders `lines` once and uses the index to
//    present that message as the current one (speak it, highlight it) without adding it again.
//  - Lines of a session the current one continues are marked `earlier`, in both outcomes.
//  - Session ids never appear whole in error messages (they are bearer secrets, DESIGN §5);
//    routes are named by their templates, e.g. "GET /memori/v2/Session/{sessionID}".
//  - The store is written only when a session is in hand (Resumed or NewSession), with the id
//    in use, last activity = the time of the last reply, and the page's identity. A Failed
//    flow leaves it unchanged.
//  - One person per conversation (DESIGN §5 step 6, identity.hpp): a stored session whose
//    identity differs from the page's is no candidate (warning resume_other_person): the page
//    gets a new session, not continuing it, so none of its lines are shown.
//  - A sessionID from the URL holds for this load only: a flow that used it never writes the
//    store (stored() is false), so a link cannot pin later visits to its session.
//  - Events that arrive when no reply is awaited are ignored (no request, no change).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "parley/chatlog.hpp"
#include "parley/json.hpp"
#include "parley/result.hpp"
#include "parley/session_store.hpp"

namespace parley {

inline constexpr std::string_view memori_api_base = "/memori/v2";

struct HttpRequest {
  std::string method;        // "GET" or "POST"
  std::string path;          // e.g. "/memori/v2/Session/<id>"
  std::optional<json> body;  // a JSON body for POST

  friend bool operator==(const HttpRequest& a, const HttpRequest& b) {
    return a.method == b.method && a.path == b.path && a.body == b.body;
  }
};

struct HttpResponse {
  int status = 0;    // HTTP status code
  std::string body;  // the body text
};

enum class ContinuationResult { not_attempted, continued, refused };
enum class NewSessionReason { no_candidate, expired_locally, invalid_on_server };
const char* to_string(ContinuationResult r) noexcept;
const char* to_string(NewSessionReason r) noexcept;

struct ResumedSession {
  std::string session_id;
  std::vector<ChatLine> lines;                  // oldest first
  std::optional<std::size_t> last_agent_index;  // into lines
  std::optional<Error> history_error;           // the history could not be fetched
  std::size_t omitted_lines = 0;  // older lines not fetched (ResumeOptions::history_lines)

  const ChatLine* last_agent_message() const {
    return last_agent_index ? &lines[*last_agent_index] : nullptr;
  }
};

struct NewSession {
  std::string session_id;
  std::string welcome;  // currentState.emission ("" when the agent has none)
  NewSessionReason reason = NewSessionReason::no_candidate;
  ContinuationResult continuation = ContinuationResult::not_attempted;
  std::optional<std::string> continued_from;  // set when continuation == continued
  std::optional<Error> continuation_refusal;  // the server's answer when refused
  std::vector<ChatLine> earlier_lines;        // all marked earlier, oldest first
  std::optional<Error> history_error;
  std::size_t omitted_lines = 0;  // older lines not fetched (ResumeOptions::history_lines)
};

struct ResumeFailure {
  Error error;
};

using ResumeOutcome = std::variant<ResumedSession, NewSession, ResumeFailure>;

struct ResumeOptions {
  ResumeWindow window;           // resume window and tolerated clock skew
  bool try_continuation = true;  // continue from the old session when opening a new one
  json initial_context_vars;     // null, or an object within the DESIGN §6 limits
  json additional_info;          // null, or an object sent as additionalInfo
  ChatLogLimits chat_log_limits;
  // 0: the whole history. N: only its newest N lines (SessionChatLogs?lastLines=N, Parley's
  // extension); the outcome's omitted_lines counts the older ones, which history_request()
  // fetches when the user asks for them.
  std::size_t history_lines = 0;
};

struct ResumeInput {
  std::string integration_id;                 // "" = the default integration
  std::string agent_id;                       // memoriID
  std::optional<std::string> url_session_id;  // the sessionID URL parameter / attribute
  std::string identity;                       // identity_fingerprint() of the page
  // The page's metadata that is not identity (the page path, the plan...): a resumed session
  // takes it (PATCH /Session/{id}, Parley's extension of the Memori API). Null or {}: none.
  json metadata_update;
  ResumeOptions options;
};

// The whole history of a session, for a widget that resumed it with only its newest lines:
// GET /SessionChatLogs/{id}/{id}, and its reply read into lines, oldest first, those of the
// sessions it continues marked earlier. Errors name the route.
HttpRequest history_request(std::string_view session_id);
Result<std::vector<ChatLine>> read_history(const HttpResponse& response,
                                           std::string_view session_id,
                                           const ChatLogLimits& limits = {});

class ResumeFlow {
 public:
  // Replies larger than this (GET/POST /Session) are refused; chat logs have their own limit.
  static constexpr std::size_t max_session_reply_bytes = 1u << 20;

  ResumeFlow(SessionStore& store, ResumeInput input);

  // Checks the input and returns the first request, or nothing when the flow is already
  // finished (bad input → Failed; no candidate → first request is POST /Session anyway).
  std::optional<HttpRequest> start(std::int64_t now_ms);

  // The reply to the pending request. Returns the next request, or nothing when finished.
  std::optional<HttpRequest> on_response(const HttpResponse& response, std::int64_t now_ms);

  // The pending request could not be made (network down, CORS, timeout...).
  std::optional<HttpRequest> on_transport_error(std::string_view message, std::int64_t now_ms);

  bool finished() const { return step_ == Step::done; }
  const ResumeOutcome* outcome() const { return outcome_ ? &*outcome_ : nullptr; }
  const std::optional<HttpRequest>& pending() const { return pending_; }
  // The request that usually follows the pending one, known before its reply: while the
  // session is being checked, the history fetch that a valid session leads to. A read with no
  // effect on the server, so a caller may send it beside the pending request to save a round
  // trip, and use its reply if the flow does ask for exactly it (replies still go in one at a
  // time, in the flow's order). Nothing otherwise.
  std::optional<HttpRequest> likely_next() const;
  // Whether the outcome was written to the store (false for a URL sessionID's load).
  bool stored() const { return stored_; }

  // Things worth reporting that did not stop the flow: session_store_corrupt,
  // resume_bad_session_id (a malformed URL sessionID, ignored), resume_other_agent (the
  // stored session belongs to another agent), resume_other_person (it was opened for another
  // identity), resume_clock_skew (stored activity time in the future),
  // resume_metadata_not_updated (the server refused the page's metadata),
  // session_store_write_failed.
  const std::vector<Error>& warnings() const { return warnings_; }

 private:
  enum class Step {
    not_started, check_session, fetch_history, update_metadata, open_continued, open_plain, done
  };

  Status validate_input() const;
  void choose_candidate(std::int64_t now_ms);
  std::optional<HttpRequest> send(HttpRequest request);
  std::optional<HttpRequest> open_session(bool continue_from_candidate);
  std::optional<HttpRequest> finish(ResumeOutcome outcome, std::int64_t now_ms);
  std::optional<HttpRequest> fail(Error error);

  std::optional<HttpRequest> on_session_checked(const HttpResponse& response, std::int64_t now_ms);
  std::optional<HttpRequest> on_session_opened(const HttpResponse& response, std::int64_t now_ms);
  std::optional<HttpRequest> on_history(const HttpResponse& response, std::int64_t now_ms);
  std::optional<HttpRequest> finish_history(std::optional<Error> error, std::int64_t now_ms);
  std::optional<HttpRequest> on_metadata_updated(const HttpResponse* response, std::int64_t now_ms);
  void take_history(ChatLogsReply& reply);

  SessionStore& store_;
  ResumeInput input_;
  Step step_ = Step::not_started;
  std::optional<HttpRequest> pending_;
  std::optional<ResumeOutcome> outcome_;
  std::vector<Error> warnings_;

  std::optional<std::string> candidate_;  // the old session id, if any
  bool from_url_ = false;                 // the candidate is the URL's sessionID
  bool metadata_current_ = false;         // the resumed session has the page's metadata
  bool stored_ = false;
  std::optional<std::string> stored_continued_from_;
  NewSessionReason new_reason_ = NewSessionReason::no_candidate;
  std::optional<ResumedSession> resumed_;  // being filled (history fetch)
  std::optional<NewSession> opened_;       // being filled (history fetch)
};

}  // namespace parley
