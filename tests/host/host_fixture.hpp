// A real parley-host for the integration tests: a config written at test time (three agents
// covering the session rules), a temp database, the process on an ephemeral loopback port,
// and small helpers over the test client for the two protocols.
#pragma once

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "parley/json.hpp"
#include "parley/protocol.hpp"
#include "test_client.hpp"

namespace parley::test {

constexpr const char* test_origin = "http://127.0.0.1:5173";

// alpha: the ordinary agent (rules, templates, user tokens, an admin key on the server).
// brief: a 1 s resume window. private: opts out of data collection.
inline json base_host_config() {
  json alpha = {
      {"id", "alpha"},
      {"prompt", "You help {userName|someone}."},
      {"first_message", "Hello {userName|there}!"},
      {"resume_message", "Welcome back, {userName|friend}."},
      {"public_keys", {"pk-alpha", "pk-alpha-2"}},
      {"allowed_origins", {"http://127.0.0.1:*"}},
      {"secret", "alpha-secret"},
      {"rules",
       {{{"words", {"hello", "hi"}}, {"reply", "Hi {userName|friend}!"}},
        {{"words", {"plan"}}, {"reply", "Your plan is {plan|free}."}}}},
      {"fallback_reply", "I did not get that."}};
  json brief = {{"id", "brief"},
                {"first_message", "Hi from brief."},
                {"public_keys", {"pk-brief"}},
                {"allowed_origins", {"http://127.0.0.1:*"}},
                {"resume_window", 1},
                {"rules", {{{"words", {"hello"}}, {"reply", "Brief hello."}}}}};
  json priv = {{"id", "private"},
               {"first_message", "Private hello."},
               {"public_keys", {"pk-private"}},
               {"allowed_origins", {"http://127.0.0.1:*"}},
               {"privacy_settings", {{"opt_out_data_collection", true}}},
               {"rules", {{{"words", {"hello"}}, {"reply", "Private hi."}}}}};
  // Speech off: these suites test the protocols; tests/host/unit-speech*.cpp turn it on.
  return json{{"server",
               {{"admin_key", "test-admin-key"}, {"log_level", "debug"}, {"speech", {{"enabled", false}}}}},
              {"agents", {alpha, brief, priv}}};
}

// A running host over a config and a database in a temp dir.
class HostFixture {
 public:
  // `database`: "" = an SQLite file in the temp dir; else what --db is given (a
  // postgresql:// URI from TestPostgres).
  explicit HostFixture(json config = base_host_config(), const std::string& database = "")
      : config_(std::move(config)) {
    config_path_ = dir_.write("config.json", to_json_text(config_));
    db_path_ = database.empty() ? dir_.file("parley.db") : database;
    start();
  }
  void start() {
    host_ = std::make_unique<HostProcess>(
        std::vector<std::string>{"--config", config_path_, "--db", db_path_});
    INFO(host_->start_error());
    REQUIRE(host_->port() != 0);
  }
  std::uint16_t port() const { return host_->port(); }
  HostProcess& process() { return *host_; }
  const std::string& db_path() const { return db_path_; }
  TempDir& dir() { return dir_; }

  HttpResult rest(const std::string& method, const std::string& route, const json& body = nullptr,
                  Headers headers = {}) {
    headers.emplace_back("Content-Type", "application/json");
    return http(port(), method, "/memori/v2/" + route,
                body.is_null() ? std::string() : to_json_text(body), headers);
  }

 private:
  json config_;
  TempDir dir_;
  std::string config_path_;
  std::string db_path_;
  std::unique_ptr<HostProcess> host_;
};

inline json body_of(const HttpResult& r) {
  INFO(r.error << " " << r.body);
  auto parsed = parse_json(r.body, "reply", 64);
  REQUIRE(parsed.ok());
  return *parsed;
}

// Reads text frames until one with `method` (skipping others), or fails.
inline json read_method(WsClient& ws, const std::string& method, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    WsMessage m = ws.read(timeout_ms);
    if (m.kind == WsMessage::Kind::binary) continue;
    INFO("waiting for " << method << ", got kind " << static_cast<int>(m.kind) << " "
                        << m.data << " close " << m.close_code << " " << m.close_reason);
    REQUIRE(m.kind == WsMessage::Kind::text);
    auto parsed = parse_json(m.data, "frame", 64);
    REQUIRE(parsed.ok());
    if ((*parsed)["method"] == method) return *parsed;
  }
  FAIL("no " << method << " within " << timeout_ms << " ms");
  return nullptr;
}

// The next final agent text (skipping the partial pieces that stream before it).
inline json read_final_text(WsClient& ws, int timeout_ms = 5000) {
  for (int i = 0; i < 1000; ++i) {
    json m = read_method(ws, "onresponsetext", timeout_ms);
    if (m["payload"]["is_final"] == true) return m;
  }
  FAIL("no final onresponsetext");
  return nullptr;
}

// Reads until the socket closes; returns the close frame (skipping text and audio).
inline WsMessage read_close(WsClient& ws, int timeout_ms = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    WsMessage m = ws.read(timeout_ms);
    if (m.kind == WsMessage::Kind::text || m.kind == WsMessage::Kind::binary) continue;
    return m;
  }
  return WsMessage{WsMessage::Kind::timeout, "", 0, ""};
}

inline std::string initiate_text(const std::string& agent, const std::string& key,
                                 json metadata = nullptr, const std::string& continue_from = "") {
  json data = {{"public_key", key}, {"agent", {{"agent_id", agent}}}};
  if (!metadata.is_null()) data["metadata"] = std::move(metadata);
  if (!continue_from.empty()) data["session_continuation"] = {{"session_id", continue_from}};
  return to_json_text(json{{"method", "initiate"}, {"data", data}});
}

// Connects, initiates and returns the onready payload.
inline json start_call(WsClient& ws, std::uint16_t port, const std::string& agent,
                       const std::string& key, json metadata = nullptr,
                       const std::string& continue_from = "") {
  REQUIRE(ws.connect(port, "/v1/voice", std::string(test_origin)) == "");
  REQUIRE(ws.send_text(initiate_text(agent, key, std::move(metadata), continue_from)));
  json ready = read_method(ws, "onready");
  return ready["payload"];
}

#ifdef PARLEY_SOURCE_DIR
// The shipped demo config (host/demo/config.json), as JSON.
inline json demo_config_file() {
  std::ifstream in(std::string(PARLEY_SOURCE_DIR) + "/host/demo/config.json");
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_json(text.str(), "demo config", 64);
  REQUIRE(parsed.ok());
  return *parsed;
}

// The demo agent thinking with the tests' OpenAI-compatible server at `base_url` (its key,
// `key`, in $PARLEY_TEST_LLM_KEY): no rules, the user speaks first, and one webhook tool,
// lookup_order, at `tool_url`, whose arguments are `properties` (all required).
constexpr const char* llm_key_env = "PARLEY_TEST_LLM_KEY";
inline json demo_llm_agent(const std::string& base_url, const std::string& key, int timeout_ms,
                           const std::string& tool_url, const json& properties) {
  ::setenv(llm_key_env, key.c_str(), 1);
  json agent = demo_config_file()["agents"][0];
  agent["public_keys"] = {"pk-demo"};
  agent["flow"]["user_start_first"] = true;
  agent.erase("rules");
  agent["llm"] = {{"provider", "openai"},
                  {"base_url", base_url},
                  {"model", "gpt-4o-mini"},
                  {"api_key_env", llm_key_env},
                  {"timeout_ms", timeout_ms}};
  json required = json::array();
  for (const auto& [name, type] : properties.items()) required.push_back(name);
  agent["tools"] = json::array(
      {{{"name", "lookup_order"},
        {"description", "Find an order"},
        {"parameters", {{"type", "object"}, {"properties", properties}, {"required", required}}},
        {"webhook", {{"url", tool_url}, {"timeout_ms", 2000}}}}});
  return agent;
}
#endif

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace parley::test
