#include "parley/client_errors.hpp"

#include <string>

#include "parley/json.hpp"

namespace parley {

ClientErrorInfo describe(ClientError error) noexcept {
  switch (error) {
    case ClientError::microphone_denied:
      return {"microphone_denied",
              "Microphone access was denied. Allow the microphone for this site in the "
              "browser's settings, then press the microphone button again."};
    case ClientError::no_microphone:
      return {"no_microphone",
              "No microphone was found. Connect one or switch it on, then try again. You can "
              "still type your messages."};
    case ClientError::microphone_busy:
      return {"microphone_busy",
              "The microphone could not be started. Another application may be using it."};
    case ClientError::unsupported_browser:
      return {"unsupported_browser",
              "This browser cannot run voice calls here. Use a current Chrome, Edge, Firefox "
              "or Safari. You can still type your messages."};
    case ClientError::insecure_context:
      return {"insecure_context",
              "The microphone only works on secure (https) pages. You can still type your "
              "messages."};
    case ClientError::bad_key:
      return {"bad_key",
              "This widget's public key is not accepted by the agent. The site owner needs to "
              "check the key."};
    case ClientError::unknown_agent:
      return {"unknown_agent",
              "This agent does not exist. The site owner needs to check the agent id."};
    case ClientError::origin_not_allowed:
      return {"origin_not_allowed",
              "This website is not allowed to use the agent. The site owner needs to add it "
              "to the agent's allowed origins."};
    case ClientError::offline:
      return {"offline", "You are offline. Check your internet connection and try again."};
    case ClientError::server_gone:
      return {"server_gone",
              "The agent's server cannot be reached. Please try again in a moment."};
    case ClientError::server_error:
      return {"server_error",
              "The agent's server had a problem. Please try again in a moment."};
    case ClientError::bad_request:
      return {"bad_request", "The agent's server refused a message from this widget."};
    case ClientError::rate_limited:
      return {"rate_limited",
              "Too many messages in a short time. Please wait a moment and try again."};
    case ClientError::idle_timeout:
      return {"idle_timeout", "The call ended because nothing was heard for a while."};
  }
  return {"unknown", "Something went wrong."};
}

Error make_client_error(ClientError error, std::string_view detail) {
  const ClientErrorInfo info = describe(error);
  std::string message(info.message);
  if (!detail.empty()) {
    constexpr std::size_t max_detail = 300;
    std::string cut(detail.substr(0, max_detail));
    // Never cut inside a UTF-8 sequence: drop continuation bytes left at the end.
    while (!cut.empty() && !is_valid_utf8(cut)) cut.pop_back();
    message += " (" + cut + (detail.size() > max_detail ? "..." : "") + ")";
  }
  return make_error(std::string(info.code), std::move(message));
}

std::optional<ClientError> client_error_for_close(int close_code) noexcept {
  switch (close_code) {
    case 4400: return ClientError::bad_request;
    case 4401: return ClientError::bad_key;
    case 4403: return ClientError::origin_not_allowed;
    case 4404: return ClientError::unknown_agent;
    case 4408: return ClientError::idle_timeout;
    case 4413: return ClientError::bad_request;
    case 4429: return ClientError::rate_limited;
    case 1011: return ClientError::server_error;
    default: return std::nullopt;
  }
}

ClientError client_error_for_media(std::string_view name) noexcept {
  if (name == "NotAllowedError" || name == "SecurityError" || name == "PermissionDeniedError")
    return ClientError::microphone_denied;
  if (name == "NotFoundError" || name == "OverconstrainedError" || name == "DevicesNotFoundError")
    return ClientError::no_microphone;
  if (name == "NotReadableError" || name == "AbortError" || name == "TrackStartError")
    return ClientError::microphone_busy;
  return ClientError::unsupported_browser;
}

std::optional<ClientError> client_error_for_memori(int http_status,
                                                   std::optional<std::int64_t> result_code) noexcept {
  if (result_code) {
    switch (*result_code) {
      case -400: return ClientError::bad_request;
      case -403: return ClientError::origin_not_allowed;
      case -404: return ClientError::unknown_agent;
      case -500: return ClientError::server_error;
      default: break;
    }
  }
  if (http_status >= 500 && http_status <= 599) return ClientError::server_error;
  return std::nullopt;
}

ClientError client_error_for_unreachable(bool browser_online) noexcept {
  return browser_online ? ClientError::server_gone : ClientError::offline;
}

}  // namespace parley
