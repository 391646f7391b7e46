// The `parley` CLI: each subcommand lives in its own cmd_<name>.cpp and registers itself here.
// Exit codes: 0 success, 2 bad input (the message on stderr names what is wrong), 64 usage.
#pragma once

#include <string>
#include <vector>

namespace parley::cli {

constexpr int exit_ok = 0;
constexpr int exit_bad_input = 2;
constexpr int exit_usage = 64;

using Args = std::vector<std::string>;

struct Command {
  const char* name;
  const char* usage;    // one line: "url <EMBED-URL>"
  const char* summary;  // one sentence
  int (*run)(const Args& args);
};

// Called from a static object in each cmd_*.cpp.
struct Registration {
  explicit Registration(Command command);
};

const std::vector<Command>& commands();

// Prints "parley: <message>" to stderr and returns exit_bad_input.
int fail(const std::string& message);
// Prints the usage line of `command` to stderr and returns exit_usage.
int usage_error(const char* command_name, const std::string& problem);

}  // namespace parley::cli
