#include <cstring>
#include <iostream>

#include "command.hpp"

namespace parley::cli {

namespace {
std::vector<Command>& registry() {
  static std::vector<Command> all;
  return all;
}

void print_help(std::ostream& out) {
  out << "parley: see what the Parley widget core sees\n\nusage:\n";
  for (const auto& c : commands()) out << "  parley " << c.usage << "\n      " << c.summary << "\n";
  out << "\nexit codes: 0 ok, 2 bad input (the error names what is wrong), 64 usage\n";
}
}  // namespace

Registration::Registration(Command command) { registry().push_back(command); }
const std::vector<Command>& commands() { return registry(); }

int fail(const std::string& message) {
  std::cerr << "parley: " << message << "\n";
  return exit_bad_input;
}

int usage_error(const char* command_name, const std::string& problem) {
  for (const auto& c : commands()) {
    if (std::strcmp(c.name, command_name) == 0) {
      std::cerr << "parley " << command_name << ": " << problem << "\nusage: parley " << c.usage
                << "\n";
      return exit_usage;
    }
  }
  std::cerr << "parley: " << problem << "\n";
  return exit_usage;
}

}  // namespace parley::cli

int main(int argc, char** argv) {
  using namespace parley::cli;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_help(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? exit_usage : exit_ok;
  }
  for (const auto& c : commands()) {
    if (std::strcmp(c.name, argv[1]) == 0) {
      Args args(argv + 2, argv + argc);
      try {
        return c.run(args);
      } catch (const std::exception& e) {
        // The core answers with Result values; reaching here is a bug in the CLI itself.
        std::cerr << "parley: internal error: " << e.what() << "\n";
        return 70;
      }
    }
  }
  std::cerr << "parley: unknown command \"" << argv[1] << "\" (try parley --help)\n";
  return exit_usage;
}
