#include "server_api_keys.hpp"

#include <openssl/crypto.h>

namespace parley::host {

Status ServerApiKeys::check(const HttpRequest& request) const {
  if (keys_.empty())
    return make_error("unauthorized",
                      "this host has no server API keys (server.api_keys): the route is off");
  auto given = request.header("authorization");
  if (!given || given->empty())
    return make_error("unauthorized",
                      "the Authorization header is missing: send Authorization: <server API key>");
  // Every key is compared, so the time taken does not say which one matched.
  bool match = false;
  for (const auto& key : keys_) {
    if (key.size() == given->size() &&
        CRYPTO_memcmp(key.data(), given->data(), key.size()) == 0)
      match = true;
  }
  if (!match)
    return make_error("unauthorized",
                      "the Authorization header is not a server API key of this host "
                      "(send the key itself, with no scheme such as Bearer)");
  return ok_status();
}

}  // namespace parley::host
