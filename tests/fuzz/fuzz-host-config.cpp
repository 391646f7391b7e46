// Config files from operators (and from whoever can write one): any text must give a config
// or an Error whose message names where the mistake is. A config that parses must survive a
// second look: every agent has an id and the listen address parses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "parley/host/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parley::host::parse_host_config(text, "/nonexistent/base");
  if (!parsed) {
    if (parsed.error().message.empty() || parsed.error().code.empty()) std::abort();
    return 0;
  }
  for (const auto& agent : parsed->agents)
    if (agent.id.empty() || parsed->find_agent(agent.id) == nullptr) std::abort();
  if (!parley::host::parse_listen_address(parsed->server.listen)) std::abort();
  return 0;
}
