// Millis's REST routes (DESIGN §3b), server to server, with a server API key
// (`Authorization: <key>`, server.api_keys): JSON in and out, errors
// {"error": {"code", "message"}} with the HTTP status.
//
//   GET /call-logs?limit&start_after_ts&start_time&end_time&agent_id&call_status&phone_number
//       → {histories: [CallLog], next_cursor}: ended sessions, newest first. limit 1..100
//       (default 20); start_after_ts is the next_cursor of the page before (a session's `ts`,
//       epoch seconds); start_time/end_time bound `ts`.
//   GET /call-logs/{session_id} → CallLog
//
// A CallLog is the end-of-call report the session_data_webhook gets (end_of_call_payload), so
// an operator can read what the webhook would have sent. /start_outbound_call (phones) joins
// here later with the same key check.
#pragma once

#include <string_view>

#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"
#include "server_api_keys.hpp"
#include "sessions.hpp"

namespace parley::host {

class MillisApi {
 public:
  MillisApi(SessionService& sessions, Metrics& metrics);

  // True when `path` is one of these routes.
  static bool serves(std::string_view path);
  void handle(const HttpRequest& request, HttpDone done);

 private:
  void list(const HttpRequest& request, HttpDone& done);
  void one(const std::string& session_id, HttpDone& done);

  SessionService& sessions_;
  Metrics& metrics_;
  ServerApiKeys keys_;
};

}  // namespace parley::host
