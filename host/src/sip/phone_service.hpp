// Phone calls (DESIGN §11): the SIP engine (sip_engine.hpp) and, for each call, a PhoneCall:
// the phone transport on the seam. A PhoneCall turns the engine's events (answered, the
// caller's audio at 16 kHz, DTMF, the end) into AgentCall input, and AgentCall's events
// (agent audio, clear, the end of the call) into RTP and SIP (BYE). Everything else (VAD,
// recognition, the agent, synthesis, barge-in, tools, templates, timeouts, webhooks) is the
// same AgentCall a browser call runs.
//
// Routes (a server API key, DESIGN §3b):
//   POST /start_outbound_call {from_phone, to_phone, metadata?, include_metadata_in_prompt?,
//        session_continuation?: {session_id}} -> 200 {session_id, call_id, status: "queued"}
//   GET  /phone_calls/{call_id} -> {call_id, session_id, agent_id, status, sip_code, reason,
//        voip: {from, to, direction}}   (an extension: where a call is now)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "parley/host/config.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/net_types.hpp"
#include "parley/host/speech.hpp"

namespace parley::host {

class SessionService;

class PhoneService {
 public:
  // nullptr when server.sip.listen is empty (no phone calls). A SIP listener that cannot start
  // is logged and also gives nullptr: the host serves everything else, and the phone routes
  // answer 503 saying so.
  static std::unique_ptr<PhoneService> create(boost::asio::io_context& io,
                                              const HostConfig& config, SessionService& sessions,
                                              Metrics& metrics, SpeechService* speech);
  virtual ~PhoneService() = default;

  // True when the request is one of the phone routes (answered through `done`).
  virtual bool handle_http(const HttpRequest& request, HttpDone& done) = 0;
  // Server shutdown: every call's session ends with `reason`, every call is hung up.
  virtual void shut_down(const std::string& reason) = 0;
  virtual std::string metrics_text() const = 0;
  virtual std::uint16_t sip_port() const = 0;
};

// The phone routes when the host takes no phone calls: 503 naming why (true), or false for
// any other path.
bool phone_routes_off(const HttpRequest& request, HttpDone& done, const std::string& why);

}  // namespace parley::host
