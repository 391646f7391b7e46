// The Memori engine v2 REST API (DESIGN §4) under /memori/v2: Session (POST/GET/DELETE),
// TextEnteredEvent, SessionChatLogs and UserChatLogsByTokenPaged, with the reply envelope
// {requestID, requestDateTime, resultCode, resultMessage} and CORS for the agents' origins.
//
// Result codes (README "Result codes"): 0 ok, -103 session expired, -263 not found (also a
// closed, purged or foreign session, and an unknown memoriID's sessions), -400 bad request
// (the message names the field), -401 bad or expired loginToken, or a public key not the
// agent's, -403 origin not allowed, -404 unknown memoriID, -429 rate limited (with
// Retry-After), -500 internal error. The HTTP status mirrors the class of error.
#pragma once

#include <string>

#include "parley/host/metrics.hpp"
#include "parley/host/rate_limiter.hpp"
#include "parley/host/net_types.hpp"
#include "sessions.hpp"

namespace parley::host {

class MemoriApi {
 public:
  static constexpr std::string_view prefix = "/memori/v2/";

  MemoriApi(SessionService& sessions, Metrics& metrics);
  // Handles any path under prefix (404 envelope for unknown ones).
  void handle(const HttpRequest& request, HttpDone done);
  // A refusal of the network layer (429) as a Memori envelope (resultCode -429).
  HttpResponse refusal(const HttpRequest& request, unsigned status, const std::string& code,
                       const std::string& message) const;

 private:
  void open_session(const HttpRequest& request, HttpDone done);
  void get_session(const HttpRequest& request, const std::string& id, HttpDone done);
  void delete_session(const HttpRequest& request, const std::string& id, HttpDone done);
  void patch_session(const HttpRequest& request, const std::string& id, HttpDone done);
  void text_entered(const HttpRequest& request, const std::string& id, HttpDone done);
  void session_chat_logs(const HttpRequest& request, const std::string& id,
                         const std::string& log_session_id, HttpDone done);
  void user_chat_logs(const HttpRequest& request, HttpDone done);

  SessionService& sessions_;
  Metrics& metrics_;
  RateLimiter per_session_;  // limits.max_session_requests_per_s, by the session id named
};

// "2026-11-23T10:00:00.123Z"
std::string iso8601_utc(std::int64_t epoch_ms);

}  // namespace parley::host
