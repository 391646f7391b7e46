// `parley token --secret S --user U --expires EPOCH_S`: mints a loginToken (DESIGN §5) the way
// a site's backend would, for tests and for trying user-scoped chat logs by hand.
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "command.hpp"
#include "parley/host/ids.hpp"
#include "parley/json.hpp"

namespace parley::cli {
namespace {

constexpr const char* kName = "token";

struct Options {
  std::optional<std::string> secret;
  std::optional<std::string> user;
  std::optional<std::string> expires;
};

std::optional<int> read_options(const Args& args, Options& out) {
  const std::map<std::string, std::optional<std::string>*> valued = {
      {"--secret", &out.secret}, {"--user", &out.user}, {"--expires", &out.expires}};
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto it = valued.find(args[i]);
    if (it == valued.end()) return usage_error(kName, "unknown option \"" + args[i] + "\"");
    if (i + 1 >= args.size()) return usage_error(kName, args[i] + " needs a value");
    if (it->second->has_value()) return usage_error(kName, args[i] + " is given twice");
    *it->second = args[++i];
  }
  for (const auto& [flag, value] : valued) {
    if (!value->has_value()) return usage_error(kName, "missing " + flag);
  }
  return std::nullopt;
}

// Epoch seconds: decimal digits only, 1 .. 2^63-1.
std::optional<std::int64_t> parse_epoch(const std::string& text) {
  if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  errno = 0;
  long long value = std::strtoll(text.c_str(), nullptr, 10);
  if (errno != 0 || value <= 0) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

int run(const Args& args) {
  Options options;
  if (auto code = read_options(args, options)) return *code;
  if (options.secret->empty()) return fail("--secret: must not be empty");
  if (options.user->empty()) return fail("--user: must not be empty");
  if (!is_valid_utf8(*options.user)) return fail("--user: is not valid UTF-8");
  auto expires = parse_epoch(*options.expires);
  if (!expires) {
    return fail("--expires: \"" + *options.expires +
                "\" is not a time in epoch seconds (a whole number above 0)");
  }
  std::cout << host::mint_login_token(*options.secret, *options.user, *expires) << "\n";
  return exit_ok;
}

const Registration registration{Command{
    kName, "token --secret S --user U --expires EPOCH_S",
    "Mint a loginToken for user U, signed with the agent's secret S, valid until EPOCH_S.",
    run}};

}  // namespace
}  // namespace parley::cli
