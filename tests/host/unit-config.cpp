#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include <unistd.h>

#include "parley/host/config.hpp"
#include "vectors.hpp"

using parley::json;
using parley::host::AgentConfig;
using parley::host::HostConfig;

namespace {

parley::Result<HostConfig> parse(const json& config, std::string_view base_dir = {}) {
  return parley::host::parse_host_config(parley::to_json_text(config), base_dir);
}

json base_config() { return parley::test::load_vectors("host-config")["base"]; }

}  // namespace

TEST_CASE("the shipped demo config parses", "[config]") {
  auto config = parley::host::load_host_config(std::string(PARLEY_SOURCE_DIR) +
                                               "/host/demo/config.json");
  INFO((config ? "" : config.error().message));
  REQUIRE(config.ok());
  const AgentConfig* demo = config->find_agent("demo");
  REQUIRE(demo != nullptr);
  CHECK(demo->has_public_key("demo-public-key"));
  CHECK(demo->origin_allowed(std::string_view("http://127.0.0.1:5173")));
  CHECK(demo->origin_allowed(std::string_view("http://localhost:8080")));
  CHECK_FALSE(demo->origin_allowed(std::string_view("https://evil.example")));
  CHECK_THAT(demo->first_message, Catch::Contains("{userName|there}"));
  REQUIRE(demo->find_tool("get_weather") != nullptr);
  CHECK(demo->find_tool("get_weather")->webhook.url == "http://127.0.0.1:8081/weather");
  bool weather_rule = false;
  for (const auto& rule : demo->rules) {
    if (rule.tool == "get_weather") {
      weather_rule = true;
      CHECK_THAT(rule.reply, Catch::Contains("{tool.summary|I could not reach"));
    }
  }
  CHECK(weather_rule);
  CHECK(config->server.admin_key == "demo-admin-key");
  CHECK(config->server.log_level == "info");
  // Relative paths resolve against the config file's own directory.
  CHECK(config->server.database == std::string(PARLEY_SOURCE_DIR) + "/host/demo/parley-demo.db");
  CHECK(config->server.web_root == std::string(PARLEY_SOURCE_DIR) + "/host/demo/../../build/wasm/web");
  CHECK(config->server.wasm_root ==
        std::string(PARLEY_SOURCE_DIR) + "/host/demo/../../build/wasm/sdk");
  // Phone calls: off unless asked for (--sip-listen, README); the demo agent then answers and
  // calls from the local trunk's number.
  CHECK(config->server.sip.listen.empty());
  CHECK(config->server.sip.rtp_port_min == 20000);
  CHECK(config->server.sip.rtp_port_max == 29998);
  CHECK(config->agent_for_number("+15550001111") == demo);
  REQUIRE(config->server.sip.trunk_for("+15550001111") != nullptr);
  CHECK(config->server.sip.trunk_for("+15550001111")->address == "127.0.0.1:5070");
  CHECK(config->agent_for_number("+15550002222") == nullptr);
  CHECK(config->server.api_keys.size() == 1);
}

TEST_CASE("the base vector config parses", "[config]") {
  auto config = parse(base_config());
  INFO((config ? "" : config.error().message));
  REQUIRE(config.ok());
  const AgentConfig& agent = config->agents.at(0);
  CHECK(agent.tools.size() == 2);
  CHECK(agent.tools[0].webhook.headers ==
        std::vector<std::pair<std::string, std::string>>{{"X-Key", "v"}});
  REQUIRE(agent.session_data_webhook.has_value());
  CHECK(agent.session_data_webhook->url == "https://hooks.example/end");
  CHECK_FALSE(agent.extra_prompt_webhook.has_value());
  CHECK(agent.session_data_webhook->method == "POST");
  CHECK(agent.allow_overrides.empty());
  CHECK(config->server.api_keys.empty());
  CHECK(agent.rules[1].pattern == "^good (morning|night)$");
  CHECK(agent.session_timeout.max_duration_s == 60);
  CHECK(config->server.limits.max_body_bytes == 4096);
}

TEST_CASE("each kind of config mistake names its path and rule", "[config]") {
  for (const auto& vec : parley::test::load_section("host-config", "invalid")) {
    INFO(vec["name"].get<std::string>());
    parley::Result<HostConfig> config = HostConfig{};
    if (vec.contains("text")) {
      config = parley::host::parse_host_config(vec["text"].get<std::string>());
    } else {
      json patched = base_config().patch(parley::test::expand(vec["patch"]));
      config = parse(patched);
    }
    REQUIRE_FALSE(config.ok());
    parley::test::check_error(config.error(), vec);
  }
}

TEST_CASE("defaults apply to a minimal config", "[config]") {
  auto config = parse(json::parse(R"({"agents": [{"id": "a", "public_keys": ["k"]}]})"));
  REQUIRE(config.ok());
  const auto& server = config->server;
  CHECK(server.listen == "127.0.0.1:8080");
  CHECK(server.database == "parley.db");
  CHECK(server.web_root.empty());
  CHECK(server.admin_key.empty());
  CHECK(server.log_level == "info");
  CHECK(server.webhook_max_attempts == 8);
  CHECK(server.limits.max_ws_message_bytes == 64 * 1024);
  CHECK(server.limits.idle_timeout_s == 60);
  const AgentConfig& agent = config->agents.at(0);
  CHECK(agent.language == "en-US");
  CHECK(agent.voice.provider == "espeak-ng");
  CHECK(agent.resume_window_s == 3600);
  CHECK(agent.retention_s == 30u * 86400u);
  CHECK_FALSE(agent.opt_out_data_collection);
  CHECK(agent.flow.interruption_allowed);
  CHECK(agent.flow.keep_interruption_message);
  CHECK_FALSE(agent.flow.user_start_first);
  CHECK(agent.session_timeout.max_duration_s == 0);
  CHECK(agent.allowed_origins.empty());
  CHECK(agent.secret.empty());
  CHECK(agent.fallback_reply == "Sorry, I did not understand that.");
  CHECK(agent.custom_llm_websocket.empty());
  CHECK(config->find_agent("a") == &agent);
  CHECK(config->find_agent("b") == nullptr);
  CHECK(agent.find_tool("x") == nullptr);
}

TEST_CASE("every field is read from its nesting", "[config]") {
  json c = base_config();
  json& a = c["agents"][0];
  a["flow"] = {{"user_start_first", true}, {"response_delay", 250},
               {"interruption", {{"allowed", false}, {"keep_interruption_message", false}}}};
  a["session_timeout"] = {{"max_duration", 600}, {"max_idle", 30}, {"message", "bye"}};
  a["privacy_settings"] = {{"opt_out_data_collection", true}};
  a["voice"] = {{"provider", "espeak-ng"}, {"voice_id", "en-gb"}};
  a["custom_vocabulary"] = {{"keywords", {"Parley", "Zürich"}}};
  a["resume_window"] = 120;
  a["retention"] = 86400;
  a["custom_llm_websocket"] = "ws://127.0.0.1:9000/llm";
  a["extra_prompt_webhook"] = {{"url", "https://x.example/pre"},
                               {"headers", {{"Authorization", "Bearer t"}}},
                               {"timeout_ms", 500}};
  a["session_data_webhook"] = "https://x.example/end";
  a["allow_overrides"] = {"prompt", "voice", "flow"};
  c["server"]["api_keys"] = {"0123456789abcdef0123"};
  c["server"]["limits"]["max_text_messages_per_s"] = 5;
  auto config = parse(c);
  INFO((config ? "" : config.error().message));
  REQUIRE(config.ok());
  const AgentConfig& agent = config->agents[0];
  CHECK(agent.flow.user_start_first);
  CHECK(agent.flow.response_delay_ms == 250);
  CHECK_FALSE(agent.flow.interruption_allowed);
  CHECK_FALSE(agent.flow.keep_interruption_message);
  CHECK(agent.session_timeout.max_duration_s == 600);
  CHECK(agent.session_timeout.max_idle_s == 30);
  CHECK(agent.session_timeout.message == "bye");
  CHECK(agent.opt_out_data_collection);
  CHECK(agent.voice.voice_id == "en-gb");
  CHECK(agent.custom_vocabulary == std::vector<std::string>{"Parley", "Zürich"});
  CHECK(agent.resume_window_s == 120);
  CHECK(agent.retention_s == 86400);
  CHECK(agent.custom_llm_websocket == "ws://127.0.0.1:9000/llm");
  REQUIRE(agent.extra_prompt_webhook.has_value());
  CHECK(agent.extra_prompt_webhook->method == "GET");  // Millis's protocol, not configurable
  CHECK(agent.extra_prompt_webhook->timeout_ms == 500);
  CHECK(agent.extra_prompt_webhook->headers ==
        std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer t"}});
  REQUIRE(agent.session_data_webhook.has_value());  // the URL-string form
  CHECK(agent.session_data_webhook->url == "https://x.example/end");
  CHECK(agent.session_data_webhook->method == "POST");
  CHECK(agent.allow_overrides == std::vector<std::string>{"prompt", "voice", "flow"});
  CHECK(config->server.api_keys == std::vector<std::string>{"0123456789abcdef0123"});
  CHECK(config->server.limits.max_text_messages_per_s == 5);
}

TEST_CASE("relative paths resolve against the base directory", "[config]") {
  json c = base_config();
  c["server"]["database"] = "data/p.db";
  c["server"]["web_root"] = "/srv/web";
  c["server"]["wasm_root"] = "sdk";
  auto config = parse(c, "/etc/parley");
  REQUIRE(config.ok());
  CHECK(config->server.database == "/etc/parley/data/p.db");
  CHECK(config->server.web_root == "/srv/web");
  CHECK(config->server.wasm_root == "/etc/parley/sdk");
  c["server"]["database"] = ":memory:";
  auto memory = parse(c, "/etc/parley");
  REQUIRE(memory.ok());
  CHECK(memory->server.database == ":memory:");
}

TEST_CASE("server.database: a postgresql:// URI is kept as written; another scheme is named",
          "[config]") {
  json c = base_config();
  for (const char* uri : {"postgresql://parley@db.internal:5432/parley?sslmode=require",
                          "postgres://parley:secret@127.0.0.1/parley"}) {
    c["server"]["database"] = uri;
    auto config = parse(c, "/etc/parley");
    REQUIRE(config.ok());
    CHECK(config->server.database == uri);  // not resolved against /etc/parley
  }
  c["server"]["database"] = "mysql://root@localhost/parley";
  auto other = parse(c, "/etc/parley");
  REQUIRE_FALSE(other.ok());
  CHECK_THAT(other.error().message, Catch::Contains("server.database"));
  CHECK_THAT(other.error().message, Catch::Contains("mysql://"));
  CHECK_THAT(other.error().message, Catch::Contains("postgresql://"));
}

TEST_CASE("an unreadable config file is named", "[config]") {
  auto missing = parley::host::load_host_config("/nonexistent/parley/config.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "config_unreadable");
  CHECK_THAT(missing.error().message, Catch::Contains("/nonexistent/parley/config.json"));

  // A readable file with a mistake: the error names the file and the field.
  std::string path = "/tmp/parley-unit-config-" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream out(path);
    out << R"({"agents": [{"id": "a", "public_keys": ["k"], "retention": -5}]})";
  }
  auto bad = parley::host::load_host_config(path);
  std::remove(path.c_str());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "config_invalid");
  CHECK_THAT(bad.error().message, Catch::Contains(path));
  CHECK_THAT(bad.error().message, Catch::Contains("agents[0].retention"));
}

TEST_CASE("origin matching", "[config]") {
  for (const auto& vec : parley::test::load_section("host-config", "origins")) {
    INFO(vec["name"].get<std::string>());
    AgentConfig agent;
    agent.allowed_origins = vec["allowed"].get<std::vector<std::string>>();
    std::optional<std::string_view> origin;
    std::string text;
    if (!vec["origin"].is_null()) {
      text = vec["origin"].get<std::string>();
      origin = text;
    }
    CHECK(agent.origin_allowed(origin) == vec["expect"].get<bool>());
  }
}

TEST_CASE("listen addresses", "[config]") {
  for (const auto& vec : parley::test::load_section("host-config", "listen_valid")) {
    INFO(vec["text"].get<std::string>());
    auto listen = parley::host::parse_listen_address(vec["text"].get<std::string>());
    INFO((listen ? "" : listen.error().message));
    REQUIRE(listen.ok());
    CHECK(listen->address == vec["address"].get<std::string>());
    CHECK(listen->port == vec["port"].get<int>());
  }
  for (const auto& vec : parley::test::load_section("host-config", "listen_invalid")) {
    INFO(vec["text"].get<std::string>());
    auto listen = parley::host::parse_listen_address(vec["text"].get<std::string>());
    REQUIRE_FALSE(listen.ok());
    json expected = vec;
    expected["code"] = "bad_listen";
    parley::test::check_error(listen.error(), expected);
  }
}

TEST_CASE("the reference comes from the parser's tables", "[config]") {
  const auto keys = parley::host::config_reference();
  auto find = [&](const std::string& path) -> const parley::host::ConfigKey* {
    for (const auto& key : keys)
      if (key.path == path) return &key;
    return nullptr;
  };
  // Defaults are read off the structs, rules off the rows.
  const auto* delay = find("agents[].flow.response_delay");
  REQUIRE(delay != nullptr);
  CHECK(delay->default_value == "0");
  CHECK(delay->rule == "whole number from 0 to 10000");
  const auto* allowed = find("agents[].flow.interruption.allowed");
  REQUIRE(allowed != nullptr);
  CHECK(allowed->default_value == "true");
  const auto* body = find("server.limits.max_body_bytes");
  REQUIRE(body != nullptr);
  CHECK(body->default_value == "65536");
  const auto* echo = find("server.speech.echo_gate_db");
  REQUIRE(echo != nullptr);
  CHECK(echo->default_value == "-18");
  const auto* fallback = find("agents[].fallback_reply");
  REQUIRE(fallback != nullptr);
  CHECK(fallback->default_value == "\"Sorry, I did not understand that.\"");
  CHECK(find("agents[].tools[].webhook.url") != nullptr);
  CHECK(find("agents[].rules[].tool_arguments") != nullptr);
  CHECK(find("agents[].custom_vocabulary.keywords") != nullptr);
  // Every path once.
  std::set<std::string> paths;
  for (const auto& key : keys) CHECK(paths.insert(key.path).second);
}

TEST_CASE("issue 17: the database pool and the leases are server keys, checked together",
          "[config]") {
  auto defaults = parse(base_config());
  REQUIRE(defaults.ok());
  CHECK(defaults->server.database_threads == 4);
  CHECK(defaults->server.database_queue_per_thread == 1024);
  CHECK(defaults->server.call_lease_ms == 20000);
  CHECK(defaults->server.call_lease_renew_ms == 5000);
  CHECK(defaults->server.outbox_claim_ms == 60000);
  json c = base_config();
  c["server"]["database_threads"] = 2;
  c["server"]["database_queue_per_thread"] = 64;
  c["server"]["call_lease_ms"] = 2000;
  c["server"]["call_lease_renew_ms"] = 1000;  // exactly half: allowed
  c["server"]["outbox_claim_ms"] = 15000;
  auto set = parse(c);
  INFO((set ? "" : set.error().message));
  REQUIRE(set.ok());
  CHECK(set->server.database_threads == 2);
  CHECK(set->server.database_queue_per_thread == 64);
  CHECK(set->server.call_lease_ms == 2000);
  CHECK(set->server.call_lease_renew_ms == 1000);
  CHECK(set->server.outbox_claim_ms == 15000);
  c["server"]["call_lease_renew_ms"] = 1001;
  auto late = parse(c);
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().message ==
        "server.call_lease_renew_ms: 1001 is more than half of call_lease_ms (2000): one late "
        "renewal would let a live call's lease lapse");
  // The reference says the rule that spans two keys.
  bool listed = false;
  for (const auto& key : parley::host::config_reference()) {
    if (key.path != "server.call_lease_renew_ms") continue;
    listed = true;
    CHECK(key.rule == "whole number from 100 to 300000; at most half of call_lease_ms");
    CHECK(key.default_value == "5000");
  }
  CHECK(listed);
}

TEST_CASE("every key of the reference is named in the README", "[config]") {
  std::ifstream in(std::string(PARLEY_SOURCE_DIR) + "/README.md");
  REQUIRE(in);
  std::string readme((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& key : parley::host::config_reference()) {
    const std::string leaf = key.path.substr(key.path.find_last_of(".]") + 1);
    INFO(key.path);
    CHECK(readme.find("`" + leaf + "`") != std::string::npos);
  }
}

TEST_CASE("agent_config: the fields allow_overrides lists, by the config's rules", "[config]") {
  json c = base_config();
  c["agents"][0]["allow_overrides"] = {"prompt", "voice", "flow", "first_message"};
  c["agents"][0]["voice"] = {{"provider", "espeak-ng"}, {"voice_id", "en-us"}};
  c["agents"][0]["secret"] = "s3cret";
  auto config = parse(c);
  INFO((config ? "" : config.error().message));
  REQUIRE(config.ok());
  const AgentConfig& base = config->agents[0];

  // Allowed fields are read over the agent's own; nested objects merge field by field.
  auto effective = parley::host::apply_agent_config(
      base, json{{"prompt", "You are terse."}, {"voice", {{"voice_id", "en-gb"}}},
                 {"flow", {{"response_delay", 200}}}});
  INFO((effective ? "" : effective.error().message));
  REQUIRE(effective.ok());
  CHECK(effective->prompt == "You are terse.");
  CHECK(effective->voice.voice_id == "en-gb");
  CHECK(effective->voice.provider == "espeak-ng");
  CHECK(effective->flow.response_delay_ms == 200);
  CHECK(effective->flow.interruption_allowed == base.flow.interruption_allowed);
  CHECK(effective->tools.size() == base.tools.size());
  CHECK(effective->id == base.id);
  CHECK(base.prompt == "Hi {userName|there}");  // the configured agent is untouched

  struct Refusal {
    json overrides;
    std::vector<std::string> mentions;
  };
  const Refusal refusals[] = {
      {json::array(), {"agent.agent_config", "object", "array"}},
      {{{"language", "de-DE"}}, {"agent.agent_config.language", "allow_overrides"}},
      {{{"tools", json::array()}}, {"agent.agent_config.tools", "never"}},
      {{{"custom_llm_websocket", "ws://evil.example/"}},
       {"agent.agent_config.custom_llm_websocket", "URL or a secret"}},
      {{{"session_data_webhook", "https://evil.example/"}},
       {"agent.agent_config.session_data_webhook", "URL or a secret"}},
      {{{"extra_prompt_webhook", "https://evil.example/"}},
       {"agent.agent_config.extra_prompt_webhook", "URL or a secret"}},
      {{{"secret", "x"}}, {"agent.agent_config.secret", "URL or a secret"}},
      {{{"public_keys", {"k"}}}, {"agent.agent_config.public_keys", "URL or a secret"}},
      {{{"id", "other"}}, {"agent.agent_config.id", "identity"}},
      {{{"llm", {{"model", "gpt-4o"}}}}, {"agent.agent_config.llm", "URL or a secret"}},
      {{{"prompt", 5}}, {"agent.agent_config.prompt", "string", "number"}},
      {{{"voice", {{"provider", "elevenlabs"}}}},
       {"agent.agent_config.voice.provider", "elevenlabs", "espeak-ng"}},
      {{{"flow", {{"response_delay", 99999}}}}, {"agent.agent_config.flow.response_delay", "10000"}},
      {{{"voice", {{"speed", 2}}}}, {"agent.agent_config.voice.speed", "unknown key"}},
  };
  for (const auto& refusal : refusals) {
    INFO(parley::to_json_text(refusal.overrides));
    auto refused = parley::host::apply_agent_config(base, refusal.overrides);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == "bad_agent_config");
    for (const auto& m : refusal.mentions) CHECK_THAT(refused.error().message, Catch::Contains(m));
  }
  // An agent that lists nothing allows nothing.
  AgentConfig closed = base;
  closed.allow_overrides.clear();
  auto none = parley::host::apply_agent_config(closed, json{{"prompt", "x"}});
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.error().message, Catch::Contains("allow_overrides"));
  CHECK(parley::host::apply_agent_config(closed, json::object()).ok());
}

TEST_CASE("agent_config_json writes every field but the secret ones", "[config]") {
  json c = base_config();
  c["agents"][0]["secret"] = "s3cret";
  c["agents"][0]["extra_prompt_webhook"] = "https://hooks.example/pre";
  c["agents"][0]["custom_llm_websocket"] = "ws://llm.example/";
  auto config = parse(c);
  REQUIRE(config.ok());
  const json written = parley::host::agent_config_json(config->agents[0]);
  CHECK(written["id"] == "a1");
  CHECK(written["prompt"] == "Hi {userName|there}");
  CHECK(written["flow"]["interruption"]["allowed"] == true);
  CHECK(written["session_timeout"]["max_duration"] == 60);
  CHECK(written["tools"][0]["name"] == "get_weather");
  CHECK(written["tools"][0]["parameters"]["required"][0] == "city");
  for (const char* hidden : {"secret", "public_keys", "session_data_webhook",
                             "extra_prompt_webhook", "custom_llm_websocket"})
    CHECK_FALSE(written.contains(hidden));
  CHECK_FALSE(written["tools"][0].contains("webhook"));
  const std::string text = parley::to_json_text(written);
  for (const char* leak : {"s3cret", "hooks.example", "llm.example", "127.0.0.1:9", "X-Key"})
    CHECK(text.find(leak) == std::string::npos);
}
