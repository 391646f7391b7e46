// The one check of a server API key (DESIGN §3b): Millis's REST routes (/call-logs, and
// /start_outbound_call) take `Authorization: <key>` with a key of server.api_keys, compared in
// constant time. A public key (an agent's public_keys) is never a server key.
#pragma once

#include <string>
#include <vector>

#include "parley/host/net_types.hpp"
#include "parley/result.hpp"

namespace parley::host {

class ServerApiKeys {
 public:
  explicit ServerApiKeys(const std::vector<std::string>& keys) : keys_(keys) {}

  // ok, or an Error with code "unauthorized" (HTTP 401) whose message says what is missing
  // or wrong, never which keys exist.
  Status check(const HttpRequest& request) const;

 private:
  const std::vector<std::string>& keys_;
};

}  // namespace parley::host
