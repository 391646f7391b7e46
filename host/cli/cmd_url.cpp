// `parley url <EMBED-URL>`: the widget configuration an embed URL gives, as one line of JSON.
#include <iostream>

#include "command.hpp"
#include "parley/embed_url.hpp"

namespace parley::cli {
namespace {

int run_url(const Args& args) {
  if (args.size() != 1) {
    return usage_error("url", args.empty() ? "missing the embed URL" : "expects one embed URL");
  }
  auto config = parse_embed_url(args[0]);
  if (!config) return fail(config.error().message);
  std::cout << config_json_text(*config) << "\n";
  return exit_ok;
}

const Registration registration{Command{
    "url", "url <EMBED-URL>",
    "Print the widget config (agent, key, session, metadata) an embed URL gives, as JSON.",
    run_url}};

}  // namespace
}  // namespace parley::cli
