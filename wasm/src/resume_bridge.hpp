// The DESIGN §5 resume flow for the browser SDK: the core's ResumeFlow with JSON in and out,
// so that the JS only runs fetch(). Also the typed-message round trip over the Memori REST
// API (POST /TextEnteredEvent), which the SDK uses when no voice call is open.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "parley/json.hpp"
#include "parley/resume_flow.hpp"
#include "parley/session_store.hpp"

namespace parley::sdk {

class ResumeBridge {
 public:
  // input: {integrationId?, agentId, sessionId?, metadata?, identityKeys? ("a,b"; default
  // parley::default_identity_keys), additionalInfo?, windowMs?, continuation? (default true),
  // historyLines? (default 0: the whole history; N: its newest N lines, the outcome's
  // omittedLines counting the others)}. Or {historyOf: sessionId}: only the whole history of
  // that session (outcome {kind: "history"}, lines()), for the lines historyLines left out.
  // A bad input is reported by start() as a failed outcome.
  ResumeBridge(KeyValueStore& kv, std::string_view input_json);

  // The first request as {method, path, body?} JSON text, or "" when the flow is finished.
  std::string start(std::int64_t now);
  std::string on_response(int status, std::string_view body, std::int64_t now);
  std::string on_transport_error(std::string_view message, std::int64_t now);
  // ResumeFlow::likely_next as {method, path} JSON text, or "".
  std::string likely_next() const;

  // {kind: "resumed" | "new" | "failed", ...}; null before the flow has finished. A session
  // in hand also has `stored` (false: a URL sessionID's load, nothing remembered) and
  // `identity` (the page's identity fingerprint, which the client stores with its calls).
  std::string outcome() const;
  // The outcome's lines (resumed: the history; new: the earlier lines), nullptr before the
  // flow has finished or when it failed. Not in outcome()'s JSON: a history of thousands of
  // lines goes to the JS as a table of heap offsets (pl_resume_lines).
  const std::vector<ChatLine>* lines() const;
  std::string warnings() const;

 private:
  std::string next(std::optional<HttpRequest> request);

  SessionStore store_;
  std::optional<ResumeFlow> flow_;
  std::optional<Error> input_error_;
  int last_status_ = 0;
  std::optional<std::int64_t> last_result_code_;
  bool transport_failed_ = false;
  std::string identity_;
  std::optional<std::string> history_of_;         // {historyOf}
  bool history_done_ = false;
  std::optional<std::vector<ChatLine>> history_;  // its lines
  std::optional<Error> history_error_;
};

// POST /memori/v2/TextEnteredEvent/{sessionID} {text}, as {method, path, body} JSON, or an
// error {error: {code, message}} for a bad session id or text.
std::string text_request(std::string_view session_id, std::string_view text);
// The reply: {text} (currentState.emission, "" when none), or {error: {code, message},
// expired: bool} where expired means the session is gone (-103 / -263: resume again).
std::string text_reply(int status, std::string_view body);

}  // namespace parley::sdk
