// parley initiate: prints the `initiate` message (DESIGN §3) a widget would send for a start
// request, so a person can see exactly what goes on the wire and why a request is refused.
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "command.hpp"
#include "parley/json.hpp"
#include "parley/start_request.hpp"

namespace parley::cli {
namespace {

constexpr const char* kName = "initiate";

struct Options {
  std::optional<std::string> agent;
  std::optional<std::string> config;
  std::optional<std::string> metadata;
  std::optional<std::string> continue_from;
  std::string key;
  bool in_prompt = false;
};

// The flag a start-request error is about, from its code, so the message points at the
// user's own input.
const char* flag_for(const std::string& code) {
  if (code.rfind("metadata_", 0) == 0) return "--metadata";
  if (code == "bad_agent_config") return "--config";
  if (code == "bad_session_continuation") return "--continue";
  return "--agent";
}

// Reads the flags; returns an exit code when the command line is unusable.
std::optional<int> read_options(const Args& args, Options& out) {
  std::map<std::string, std::optional<std::string>*> valued = {
      {"--agent", &out.agent},      {"--config", &out.config},
      {"--metadata", &out.metadata}, {"--continue", &out.continue_from}};
  std::optional<std::string> key;
  valued["--key"] = &key;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--in-prompt") {
      out.in_prompt = true;
      continue;
    }
    const auto it = valued.find(flag);
    if (it == valued.end()) return usage_error(kName, "unknown option \"" + flag + "\"");
    if (i + 1 >= args.size()) return usage_error(kName, flag + " needs a value");
    if (it->second->has_value()) return usage_error(kName, flag + " is given twice");
    *it->second = args[++i];
  }
  if (!out.agent && !out.config) return usage_error(kName, "give --agent ID or --config JSON");
  if (out.agent && out.config) {
    return usage_error(kName, "--agent and --config are alternatives: give one");
  }
  out.key = key.value_or("");
  return std::nullopt;
}

// A flag's JSON value, or an exit code after saying what is wrong with it.
std::optional<int> parse_flag_json(const char* flag, const std::string& text, json& out) {
  auto parsed = parse_json(text, std::string(flag) + " value");
  if (!parsed) return fail(std::string(flag) + ": " + parsed.error().message);
  out = std::move(parsed).value();
  return std::nullopt;
}

int run(const Args& args) {
  Options options;
  if (auto code = read_options(args, options)) return *code;

  // The payload form of start(): the only one that can carry a session continuation.
  json payload = json::object();
  if (options.agent) {
    payload["agent"] = {{"agent_id", *options.agent}};
  } else {
    json config;
    if (auto code = parse_flag_json("--config", *options.config, config)) return *code;
    payload["agent"] = {{"agent_config", config}};
  }
  if (options.metadata) {
    json metadata;
    if (auto code = parse_flag_json("--metadata", *options.metadata, metadata)) return *code;
    payload["metadata"] = metadata;
  }
  if (options.in_prompt) payload["include_metadata_in_prompt"] = true;
  if (options.continue_from) {
    payload["session_continuation"] = {{"session_id", *options.continue_from}};
  }

  auto request = normalize_start(payload);
  if (!request) {
    return fail(std::string(flag_for(request.error().code)) + ": " + request.error().message);
  }
  std::cout << make_initiate(*request, options.key) << "\n";
  return exit_ok;
}

const Registration registration(Command{
    kName,
    "initiate (--agent ID | --config JSON) [--metadata JSON] [--in-prompt] [--continue SID] "
    "[--key PK]",
    "Print the initiate message a widget sends to start a voice call.", run});

}  // namespace
}  // namespace parley::cli
