// parley-host: the Parley server (issue 4). One process, one port, one io thread.
//
//   parley-host --config FILE [--listen ADDR:PORT] [--db FILE|URI] [--web-root DIR]
//               [--log-level debug|info|warn|error] [--sip-listen ADDR:PORT]
//   parley-host --config-reference     every config key with its rule and default
//   parley-host migrate --from FILE --to URI
//
// Prints one line when it listens ("parley-host listening on http://ADDR:PORT/"), then one
// line per agent with its embed URL; scripts and tests read the port from the first line.
// SIGTERM/SIGINT: stop accepting, let the application end its calls and persist pending
// work, close every socket with 1001, close the database, exit 0. A second signal exits
// at once (128 + signal number).
//
// Exit codes: 0 clean shutdown, 1 could not start (database, port), 2 bad config, 64 usage.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "parley/host/app.hpp"
#include "parley/host/config.hpp"
#include "parley/host/log.hpp"
#include "parley/host/metrics.hpp"
#include "parley/host/store.hpp"
#include "src/net/server.hpp"
#include "src/store/migrate.hpp"

namespace {

using namespace parley::host;
namespace asio = boost::asio;

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_bad_config = 2;
constexpr int exit_usage = 64;
constexpr const char* version_text = "parley-host 0.1.0";

// How long shutdown waits for the application, then for the sockets to close.
constexpr std::chrono::seconds app_shutdown_timeout{10};
constexpr std::chrono::seconds drain_timeout{5};
constexpr std::chrono::milliseconds drain_poll{20};

void print_usage(std::ostream& out) {
  out << "usage: parley-host --config FILE [--listen ADDR:PORT] [--db FILE|URI] [--web-root DIR]\n"
         "                   [--log-level debug|info|warn|error] [--sip-listen ADDR:PORT]\n"
         "       parley-host migrate --from FILE --to URI\n"
         "       parley-host --config-reference | --help | --version\n"
         "\n"
         "  --config FILE     the JSON config (server settings and agents)\n"
         "  --listen ADDR:PORT  overrides server.listen (port 0 = any free port)\n"
         "  --db FILE|URI     overrides server.database: an SQLite file (\":memory:\" for a\n"
         "                    throwaway one) or a postgresql:// URI (several hosts, one database)\n"
         "  --web-root DIR    overrides server.web_root (static files at /)\n"
         "  --log-level L     overrides server.log_level\n"
         "  --sip-listen ADDR:PORT  overrides server.sip.listen: phone calls over SIP (UDP and\n"
         "                    TCP) through server.sip.trunks\n"
         "  --config-reference  prints every config key: path, rule, default\n"
         "\n"
         "migrate: copies every session, chat line and pending webhook of the SQLite FILE into\n"
         "  the empty PostgreSQL database URI (its schema is created), in one transaction.\n"
         "  Stop the hosts using FILE first. The password comes from the URI, PGPASSWORD or\n"
         "  ~/.pgpass.\n"
         "\n"
         "exit codes: 0 clean shutdown, 1 could not start, 2 bad config, 64 usage\n";
}

struct Options {
  std::string config_path;
  std::optional<std::string> listen;
  std::optional<std::string> database;
  std::optional<std::string> web_root;
  std::optional<std::string> log_level;
  std::optional<std::string> sip_listen;
  bool help = false;
  bool version = false;
  bool reference = false;
};

int usage_error(const std::string& problem) {
  std::cerr << "parley-host: " << problem << "\n";
  print_usage(std::cerr);
  return exit_usage;
}

// Parses argv; returns an exit code when the program should stop here.
std::optional<int> parse_options(int argc, char** argv, Options& options) {
  struct ValueOption {
    const char* name;
    std::optional<std::string>* target;
  };
  std::optional<std::string> config_path;
  const ValueOption value_options[] = {{"--config", &config_path},
                                       {"--listen", &options.listen},
                                       {"--db", &options.database},
                                       {"--web-root", &options.web_root},
                                       {"--log-level", &options.log_level},
                                       {"--sip-listen", &options.sip_listen}};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      continue;
    }
    if (arg == "--version") {
      options.version = true;
      continue;
    }
    if (arg == "--config-reference") {
      options.reference = true;
      continue;
    }
    bool known = false;
    for (const auto& option : value_options) {
      const std::string_view name = option.name;
      if (arg == name) {
        if (i + 1 >= argc) return usage_error(std::string(name) + " needs a value");
        *option.target = argv[++i];
        known = true;
      } else if (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
                 arg[name.size()] == '=') {
        *option.target = std::string(arg.substr(name.size() + 1));
        known = true;
      }
      if (known) break;
    }
    if (!known) return usage_error("unknown argument '" + std::string(arg) + "'");
  }
  if (options.help) {
    print_usage(std::cout);
    return exit_ok;
  }
  if (options.version) {
    std::cout << version_text << "\n";
    return exit_ok;
  }
  if (options.reference) {
    // One line per key: path, rule, default (tab-separated; no default for lists of objects).
    for (const auto& key : config_reference())
      std::cout << key.path << "\t" << key.rule << "\t" << key.default_value << "\n";
    return exit_ok;
  }
  if (!config_path || config_path->empty()) return usage_error("--config FILE is required");
  options.config_path = *config_path;
  if (options.listen && !parse_listen_address(*options.listen))
    return usage_error("--listen: " + parse_listen_address(*options.listen).error().message);
  if (options.sip_listen && !parse_listen_address(*options.sip_listen))
    return usage_error("--sip-listen: " +
                       parse_listen_address(*options.sip_listen).error().message);
  if (options.log_level && !parse_log_level(*options.log_level, nullptr))
    return usage_error("--log-level: '" + *options.log_level +
                       "' is not one of debug, info, warn, error");
  return std::nullopt;
}

// For the printed embed URL: everything but unreserved characters is percent-encoded.
std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += hex[byte >> 4];
      out += hex[byte & 0x0F];
    }
  }
  return out;
}

void print_listening(const HostConfig& config, std::uint16_t port) {
  const auto address = parse_listen_address(config.server.listen);
  std::string host = address ? address->address : std::string("127.0.0.1");
  if (host.find(':') != std::string::npos) host = "[" + host + "]";  // IPv6
  const std::string base = "http://" + host + ":" + std::to_string(port);
  std::string text = "parley-host listening on " + base + "/\n";
  for (const auto& agent : config.agents) {
    text += "  agent " + agent.id + ": " + base + "/embed?id=" + url_encode(agent.id);
    if (!agent.public_keys.empty()) text += "&k=" + url_encode(agent.public_keys.front());
    text += "\n";
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// The SIGTERM/SIGINT sequence, on the io thread.
class Shutdown {
 public:
  Shutdown(asio::io_context& io, Server& server, Application& app)
      : io_(io), server_(server), app_(app), signals_(io, SIGINT, SIGTERM), timer_(io) {}

  void arm() {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal_number) {
      if (!ec) on_signal(signal_number);
    });
  }

 private:
  void on_signal(int signal_number) {
    if (started_) {
      log_event(LogLevel::warn, "host.exit_now", "signal=" + std::to_string(signal_number));
      std::_Exit(128 + signal_number);
    }
    started_ = true;
    log_event(LogLevel::info, "host.shutdown", "signal=" + std::to_string(signal_number));
    arm();  // a second signal exits at once
    server_.stop();
    timer_.expires_after(app_shutdown_timeout);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      log_event(LogLevel::warn, "host.shutdown_timeout", "the application did not finish");
      close_sockets();
    });
    app_.shutdown([this] { asio::post(io_, [this] { close_sockets(); }); });
  }

  void close_sockets() {
    if (closing_) return;
    closing_ = true;
    server_.close_all(1001, "server shutting down");
    drain_deadline_ = std::chrono::steady_clock::now() + drain_timeout;
    wait_for_drain();
  }

  // Sockets finish their closing handshakes; then the io_context stops.
  void wait_for_drain() {
    if (server_.connection_count() == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
      if (server_.connection_count() > 0) {
        log_event(LogLevel::warn, "host.drain_timeout",
                  "open=" + std::to_string(server_.connection_count()));
        // Closed now, while the application exists: a WebSocket still closing holds its
        // call and the call holds it, and only on_closed parts them.
        server_.abort_all();
      }
      io_.stop();
      return;
    }
    timer_.expires_after(drain_poll);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) wait_for_drain();
    });
  }

  asio::io_context& io_;
  Server& server_;
  Application& app_;
  asio::signal_set signals_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point drain_deadline_{};
  bool started_ = false;
  bool closing_ = false;
};

int run(const Options& options) {
  auto loaded = load_host_config(options.config_path);
  if (!loaded) {
    std::cerr << "parley-host: " << loaded.error().message << "\n";
    return exit_bad_config;
  }
  HostConfig config = std::move(loaded).value();
  if (options.listen) config.server.listen = *options.listen;
  if (options.database) config.server.database = *options.database;
  if (options.web_root) config.server.web_root = *options.web_root;
  if (options.log_level) config.server.log_level = *options.log_level;
  if (options.sip_listen) config.server.sip.listen = *options.sip_listen;
  LogLevel level = LogLevel::info;
  if (!parse_log_level(config.server.log_level, &level)) {
    std::cerr << "parley-host: server.log_level: '" << config.server.log_level
              << "' is not one of debug, info, warn, error\n";
    return exit_bad_config;
  }
  set_log_level(level);

  // Declared in this order so that they are destroyed in reverse: the server, the
  // application, then the store (which closes the database); the io_context last, as the
  // objects above own timers and sockets of it.
  asio::io_context io(1);
  AsyncStoreOptions store_options;
  store_options.threads = config.server.database_threads;
  store_options.queue_limit = config.server.database_queue_per_thread;
  auto opened = AsyncStore::open(io, config.server.database, store_options);
  if (!opened) {
    std::cerr << "parley-host: database " << redact_location(config.server.database) << ": "
              << opened.error().message << "\n";
    return exit_failed;
  }
  std::unique_ptr<AsyncStore> store = std::move(opened).value();
  Metrics metrics;
  std::unique_ptr<Application> app = make_application(io, config, *store, metrics);
  auto server = std::make_unique<Server>(io, config, *app, metrics);
  auto port = server->listen();
  if (!port) {
    std::cerr << "parley-host: " << port.error().message << "\n";
    return exit_failed;
  }
  Shutdown shutdown(io, *server, *app);
  shutdown.arm();
  log_event(LogLevel::info, "host.listening",
            "listen=" + config.server.listen + " port=" + std::to_string(*port) +
                " agents=" + std::to_string(config.agents.size()));
  print_listening(config, *port);

  io.run();

  server.reset();
  store->stop();  // the database threads finish what was queued before the application goes
  app.reset();
  store.reset();
  log_event(LogLevel::info, "host.stopped", "");
  return exit_ok;
}

}  // namespace

// parley-host migrate --from FILE --to URI
int run_migrate(int argc, char** argv) {
  std::string from;
  std::string to;
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    std::string* target = arg == "--from" ? &from : arg == "--to" ? &to : nullptr;
    if (target == nullptr) return usage_error("migrate: unknown argument '" + std::string(arg) + "'");
    if (i + 1 >= argc) return usage_error("migrate: " + std::string(arg) + " needs a value");
    *target = argv[++i];
  }
  if (from.empty() || to.empty()) return usage_error("migrate needs --from FILE and --to URI");
  if (!is_postgres_location(to))
    return usage_error("migrate: --to must be a postgresql:// URI, not '" + redact_location(to) + "'");
  auto report = migrate_sqlite_to_postgres(from, to, [](const std::string& line) {
    std::cout << "parley-host migrate: " << line << std::endl;
  });
  if (!report) {
    std::cerr << "parley-host migrate: " << report.error().message << "\n";
    return exit_failed;
  }
  std::int64_t total = 0;
  for (const auto& [table, rows] : report->rows) total += rows;
  std::cout << "parley-host migrate: done: " << total << " rows from " << from << " to "
            << redact_location(to) << " (schema version " << report->schema_version << ")"
            << std::endl;
  return exit_ok;
}

int main(int argc, char** argv) {
  // Writes to a closed stdout pipe (a test that read the first line and went) must not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && std::string_view(argv[1]) == "migrate") return run_migrate(argc, argv);
  Options options;
  if (const auto exit_code = parse_options(argc, argv, options)) return *exit_code;
  try {
    return run(options);
  } catch (const std::exception& e) {
    // Everything reports errors as values; reaching this is a bug, but say so plainly.
    std::cerr << "parley-host: internal error: " << e.what() << "\n";
    return 70;
  }
}
