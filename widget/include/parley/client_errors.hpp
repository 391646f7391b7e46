// Errors a person can act on (issue 6): the browser SDK and the widget report every failure
// as one of these codes with a plain message, whatever layer it came from: the microphone
// (a DOMException name), the voice socket (a close code), the Memori REST API (an HTTP status
// and resultCode), or the network. The messages are for the person in front of the widget
// (or the site owner, where only they can fix it); the detail of what happened goes into
// Error::message after the plain sentence, in parentheses.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "parley/result.hpp"

namespace parley {

enum class ClientError {
  microphone_denied,    // the person (or the page's permissions policy) refused the microphone
  no_microphone,        // no audio input device
  microphone_busy,      // a device exists but could not be started
  unsupported_browser,  // no getUserMedia / AudioWorklet / WebSocket / WebAssembly
  insecure_context,     // the page is not a secure context (http on a public host)
  bad_key,              // 4401: the public key is not one of the agent's
  unknown_agent,        // 4404 / Memori -404: no such agent
  origin_not_allowed,   // 4403 / Memori -403: the page's origin is not allowed
  offline,              // the browser says it has no network
  server_gone,          // the server cannot be reached (or stopped answering for good)
  server_error,         // 1011 / HTTP 5xx: the server failed
  bad_request,          // 4400 / 4413 / Memori -400: the server refused a message as malformed
  rate_limited,         // 4429
  idle_timeout,         // 4408: the call ended because nothing was received for too long
};

struct ClientErrorInfo {
  std::string_view code;     // "microphone_denied", ... (stable, machine-readable)
  std::string_view message;  // one or two plain sentences
};

ClientErrorInfo describe(ClientError error) noexcept;

// All codes, in declaration order (for tests and for the TypeScript declarations).
inline constexpr ClientError all_client_errors[] = {
    ClientError::microphone_denied, ClientError::no_microphone,  ClientError::microphone_busy,
    ClientError::unsupported_browser, ClientError::insecure_context, ClientError::bad_key,
    ClientError::unknown_agent,     ClientError::origin_not_allowed, ClientError::offline,
    ClientError::server_gone,       ClientError::server_error,   ClientError::bad_request,
    ClientError::rate_limited,      ClientError::idle_timeout};

// Error{code, message}, the message being the plain one followed by " (detail)" when a
// detail is given (cut to 300 bytes, so a server's text cannot flood the widget).
Error make_client_error(ClientError error, std::string_view detail = {});

// A voice socket close code: the refusals of DESIGN §3 and 4408; nothing for 1000 and for
// codes that are not an error the person can act on (1001, 1006: those are reconnected).
std::optional<ClientError> client_error_for_close(int close_code) noexcept;

// The `name` of the DOMException getUserMedia rejected with:
//   NotAllowedError, SecurityError, PermissionDeniedError (old Chrome) -> microphone_denied
//   NotFoundError, OverconstrainedError, DevicesNotFoundError          -> no_microphone
//   NotReadableError, AbortError, TrackStartError                      -> microphone_busy
//   anything else (TypeError when mediaDevices is missing, ...)        -> unsupported_browser
ClientError client_error_for_media(std::string_view dom_exception_name) noexcept;

// A Memori v2 reply that failed (DESIGN §4): resultCode -403 -> origin_not_allowed, -404 ->
// unknown_agent, -400 -> bad_request, -500 -> server_error; otherwise HTTP 5xx ->
// server_error. Nothing otherwise (e.g. -103 and
// -263 are not errors: the resume flow opens a new session).
std::optional<ClientError> client_error_for_memori(int http_status,
                                                   std::optional<std::int64_t> result_code) noexcept;

// The server could not be reached at all: offline when the browser says so, else server_gone.
ClientError client_error_for_unreachable(bool browser_online) noexcept;

}  // namespace parley
