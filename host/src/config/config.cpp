// parse_host_config: the one JSON config file, checked field by field (DESIGN §9).
//
// Each object of the file has one table of fields (config_table.hpp): key, reader with its
// type and limits, the rule, and the default (the struct's own, parley/host/config.hpp).
// Reading an object first refuses keys the table does not have (a typo must not silently drop
// a setting), then reads each row. Errors name the field by its path
// ("agents[0].tools[1].webhook.url") and the rule broken. Nothing here throws: JSON comes
// from parley::parse_json and types are checked before every get().
#include "parley/host/config.hpp"
#include "parley/host/trusted_proxies.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "config_check.hpp"
#include "config_table.hpp"
#include "parley/origin.hpp"

namespace parley::host {

using namespace config_detail;

std::string pattern_backreference(std::string_view pattern) {
  for (std::size_t i = 0; i + 1 < pattern.size(); ++i) {
    if (pattern[i] != '\\') continue;
    const char next = pattern[i + 1];
    if (next >= '1' && next <= '9') {
      std::size_t end = i + 2;
      while (end < pattern.size() && pattern[end] >= '0' && pattern[end] <= '9') ++end;
      return std::string(pattern.substr(i, end - i));
    }
    if (next == 'k') {
      const std::size_t close = pattern.find('>', i);
      return std::string(pattern.substr(i, close == std::string_view::npos || close - i > 40
                                                ? 2
                                                : close - i + 1));
    }
    ++i;  // an escaped character: "\\1" is a backslash and a 1
  }
  return {};
}

namespace {

constexpr std::size_t max_config_bytes = 4 * 1024 * 1024;
constexpr std::size_t max_text_bytes = 64 * 1024;   // prompts, replies, messages
constexpr std::size_t max_short_bytes = 1024;       // urls, keys, names
constexpr std::size_t max_pattern_bytes = 256;
constexpr std::uint32_t max_seconds_per_year = 366u * 86400u;

bool is_id_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
}

bool is_valid_agent_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), is_id_char);
}

bool is_valid_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto first = static_cast<unsigned char>(name[0]);
  if (std::isalpha(first) == 0 && name[0] != '_') return false;
  return std::all_of(name.begin(), name.end(), is_id_char);
}

// An HTTP token (RFC 9110 tchar): what a header name may be made of.
bool is_header_name(std::string_view name) {
  static constexpr std::string_view extra = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           extra.find(c) != std::string_view::npos;
  });
}

bool is_postgres_uri(std::string_view value) {
  return value.rfind("postgresql://", 0) == 0 || value.rfind("postgres://", 0) == 0;
}

bool is_header_value(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---- URLs

// An absolute http(s) (or ws(s)) URL with a host and no fragment; `schemes` lists the allowed.
Status check_url(const std::string& path, const std::string& text,
                 const std::vector<std::string>& schemes) {
  std::string allowed;
  for (const auto& s : schemes) allowed += (allowed.empty() ? "" : " or ") + s + "://";
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) {
    return invalid(path, to_json_text(json(text)) + " is not an absolute URL (" +
                             parsed.error().message() + ")");
  }
  std::string scheme = lower(std::string(parsed->scheme()));
  bool scheme_ok = std::find(schemes.begin(), schemes.end(), scheme) != schemes.end();
  if (!scheme_ok) {
    return invalid(path, to_json_text(json(text)) + " must start with " + allowed);
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    return invalid(path, to_json_text(json(text)) + " has no host");
  }
  if (parsed->has_port() && (parsed->port().empty() || parsed->port_number() == 0)) {
    return invalid(path, to_json_text(json(text)) + " has a bad port (1 to 65535)");
  }
  return ok_status();
}

// ---- origins: read and matched by the core (parley/origin.hpp), as every request is judged

Status check_origins(const std::string& path, const std::vector<std::string>& origins) {
  for (std::size_t i = 0; i < origins.size(); ++i) {
    if (auto origin = parse_allowed_origin(origins[i]); !origin)
      return invalid(index_path(path, i), origin.error().message);
  }
  return ok_status();
}

// ---- tools and rules

Status check_parameters_schema(const json& parameters, const std::string& path) {
  if (auto type = parameters.find("type"); type != parameters.end()) {
    if (*type != "object") {
      return invalid(join_path(path, "type"), "must be \"object\", not " + to_json_text(*type));
    }
  }
  auto properties = parameters.find("properties");
  if (properties != parameters.end() && !properties->is_object()) {
    return invalid(join_path(path, "properties"),
                   std::string("must be an object, not ") + json_type_name(*properties));
  }
  static const std::set<std::string> types = {"string", "number",  "integer", "boolean",
                                              "array",  "object", "null"};
  if (properties != parameters.end()) {
    for (auto it = properties->begin(); it != properties->end(); ++it) {
      std::string property_path = join_path(join_path(path, "properties"), it.key());
      if (it->is_boolean()) continue;
      if (!it->is_object()) {
        return invalid(property_path,
                       std::string("must be an object, not ") + json_type_name(*it));
      }
      auto type = it->find("type");
      if (type == it->end()) continue;
      json names = type->is_array() ? *type : json::array({*type});
      for (const auto& name : names) {
        if (!name.is_string() || types.count(name.get<std::string>()) == 0) {
          return invalid(join_path(property_path, "type"),
                         to_json_text(name) + " is not a JSON-schema type (string, number, "
                                              "integer, boolean, array, object, null)");
        }
      }
    }
  }
  if (auto required = parameters.find("required"); required != parameters.end()) {
    std::string required_path = join_path(path, "required");
    if (!required->is_array()) {
      return invalid(required_path,
                     std::string("must be an array of names, not ") + json_type_name(*required));
    }
    for (std::size_t i = 0; i < required->size(); ++i) {
      const json& name = (*required)[i];
      bool known = name.is_string() && properties != parameters.end() &&
                   properties->contains(name.get<std::string>());
      if (!known) {
        return invalid(index_path(required_path, i),
                       to_json_text(name) + " does not name one of the properties");
      }
    }
  }
  return ok_status();
}

Status check_pattern(const std::string& path, const std::string& pattern) {
  if (pattern.size() > max_pattern_bytes) {
    return invalid(path, "is " + std::to_string(pattern.size()) +
                             " bytes, over the limit of " + std::to_string(max_pattern_bytes));
  }
  if (const std::string backreference = pattern_backreference(pattern); !backreference.empty()) {
    return invalid(path, to_json_text(json(pattern)) + " has a backreference (" + backreference +
                             "); rule patterns are matched without backreferences, so the rule "
                             "would never match: rewrite it without one");
  }
  try {
    std::regex compiled(pattern, std::regex::ECMAScript | std::regex::icase);
    (void)compiled;
  } catch (const std::regex_error& e) {
    return invalid(path, to_json_text(json(pattern)) +
                             " is not a valid regular expression (" + e.what() + ")");
  } catch (const std::exception& e) {
    return invalid(path, std::string("the regular expression could not be compiled (") +
                             e.what() + ")");
  }
  return ok_status();
}

// ---- the tables (one per object of the file; see config_table.hpp)

TextRule one_of(std::vector<std::string> allowed, std::string words) {
  return [=](const std::string& path, const std::string& value) -> Status {
    if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return ok_status();
    return invalid(path, json_quoted(value) + " " + words);
  };
}

TextRule url_rule(std::vector<std::string> schemes) {
  return [schemes](const std::string& path, const std::string& value) {
    return check_url(path, value, schemes);
  };
}

Field<WebhookConfig> webhook_headers() {
  return {"headers",
          [](const json& object, const std::string& path, WebhookConfig& hook) -> Status {
            auto headers = object_at(object, path, "headers");
            if (!headers) return headers.error();
            if (*headers == nullptr) return ok_status();
            std::string headers_path = join_path(path, "headers");
            hook.headers.clear();
            for (auto it = (*headers)->begin(); it != (*headers)->end(); ++it) {
              std::string header_path = join_path(headers_path, it.key());
              if (!is_header_name(it.key())) {
                return invalid(header_path, "is not a valid HTTP header name");
              }
              if (!it->is_string()) {
                return invalid(header_path,
                               std::string("must be a string, not ") + json_type_name(*it));
              }
              const auto& value = it->get_ref<const std::string&>();
              if (!is_header_value(value) || value.size() > max_short_bytes * 8) {
                return invalid(header_path, "is not a valid header value (no control "
                                            "characters, at most 8192 bytes)");
              }
              hook.headers.emplace_back(it.key(), value);
            }
            return ok_status();
          },
          "object of header name to value, sent as given",
          [](const WebhookConfig&) { return std::string("{}"); },
          {}};
}

Field<WebhookConfig> webhook_url() {
  return text("url", &WebhookConfig::url, Presence::required, max_short_bytes,
              "http:// or https://", url_rule({"http", "https"}));
}

Field<WebhookConfig> webhook_timeout() {
  return whole("timeout_ms", &WebhookConfig::timeout_ms, 1, 30000);
}

// A tool's webhook: the host calls it with the method given.
const FieldTable<WebhookConfig>& webhook_table() {
  static const FieldTable<WebhookConfig> table({
      webhook_url(),
      text("method", &WebhookConfig::method, Presence::non_empty, 16, "POST or GET",
           one_of({"POST", "GET"}, "must be \"POST\" or \"GET\"")),
      webhook_headers(),
      webhook_timeout(),
  });
  return table;
}

// Millis's webhooks, in their object form: the method is the protocol's (GET for the extra
// prompt, POST for the end-of-call report).
const FieldTable<WebhookConfig>& extra_prompt_hook_table() {
  static const FieldTable<WebhookConfig> table({webhook_url(), webhook_headers(), webhook_timeout()});
  return table;
}
const FieldTable<WebhookConfig>& session_data_hook_table() {
  static const FieldTable<WebhookConfig> table({webhook_url(), webhook_headers()});
  return table;
}

// A Millis webhook: its URL as a string, or an object read by `table`; sent with `method`.
template <class T>
Field<T> millis_webhook(const char* key, std::optional<WebhookConfig> T::*member,
                        const FieldTable<WebhookConfig>& table, const char* method) {
  return secret(Field<T>{
      key,
      [=, &table](const json& object, const std::string& path, T& out) -> Status {
        auto it = object.find(key);
        if (it == object.end() || it->is_null()) return ok_status();
        const std::string hook_path = join_path(path, key);
        WebhookConfig hook;
        hook.method = method;
        if (it->is_string()) {
          if (auto s = read_string(object, path, key, hook.url, Presence::required,
                                   max_short_bytes);
              !s) {
            return s;
          }
          if (auto s = check_url(hook_path, hook.url, {"http", "https"}); !s) return s;
        } else if (it->is_object()) {
          if (auto s = table.read(*it, hook_path, hook); !s) return s;
        } else {
          std::string keys;
          for (const auto& k : table.keys()) keys += (keys.empty() ? "" : ", ") + k;
          return invalid(hook_path, std::string("must be a URL string or an object {") + keys +
                                        "}, not " + json_type_name(*it));
        }
        out.*member = std::move(hook);
        return ok_status();
      },
      "a URL string or an object",
      {},
      [&table](const std::string& path, std::vector<ConfigKey>& out) {
        out.push_back({path, "a URL string (http:// or https://) or an object", ""});
        table.describe(path, out);
      }});
}

const FieldTable<ToolConfig>& tool_table() {
  static const FieldTable<ToolConfig> table({
      text("name", &ToolConfig::name, Presence::required, 64, "[A-Za-z_][A-Za-z0-9_-]{0,63}",
           [](const std::string& path, const std::string& name) -> Status {
             if (is_valid_tool_name(name)) return ok_status();
             return invalid(path, json_quoted(name) + " must match [A-Za-z_][A-Za-z0-9_-]{0,63}");
           }),
      text("description", &ToolConfig::description, Presence::optional, max_text_bytes),
      json_object("parameters", &ToolConfig::parameters,
                  "a JSON schema of type object (properties, required)",
                  check_parameters_schema),
      secret(Field<ToolConfig>{"webhook",
       [](const json& object, const std::string& path, ToolConfig& tool) -> Status {
         auto value = object_at(object, path, "webhook");
         if (!value) return value.error();
         if (*value == nullptr) return invalid(join_path(path, "webhook"), "is required");
         return webhook_table().read(**value, join_path(path, "webhook"), tool.webhook);
       },
       "object, required",
       {},
       [](const std::string& path, std::vector<ConfigKey>& out) {
         webhook_table().describe(path, out);
       }}),
  });
  return table;
}

const FieldTable<ReplyRule>& rule_table() {
  static const FieldTable<ReplyRule> table(
      {
          strings("words", &ReplyRule::words, 256, 256, "any of them as a whole word"),
          text("pattern", &ReplyRule::pattern, Presence::optional, max_short_bytes,
               "an ECMAScript regular expression of at most 256 bytes, case-insensitive",
               check_pattern),
          text("reply", &ReplyRule::reply, Presence::required, max_text_bytes, "a template"),
          text("tool", &ReplyRule::tool, Presence::optional, 64, "one of the agent's tools"),
          json_object("tool_arguments", &ReplyRule::tool_arguments,
                      "the model-side arguments; only with tool", {}),
      },
      [](const json& object, const std::string& path, ReplyRule& rule) -> Status {
        if (rule.words.empty() && rule.pattern.empty()) {
          return invalid(path, "needs \"words\" or \"pattern\" (at least one)");
        }
        auto arguments = object.find("tool_arguments");
        if (arguments != object.end() && !arguments->is_null() && rule.tool.empty()) {
          return invalid(join_path(path, "tool_arguments"),
                         "is given but the rule has no \"tool\"");
        }
        return ok_status();
      });
  return table;
}

const FieldTable<VoiceConfig>& voice_table() {
  static const FieldTable<VoiceConfig> table({
      text("provider", &VoiceConfig::provider, Presence::non_empty, 64,
           "\"espeak-ng\" or \"none\" (text only)",
           one_of({"espeak-ng", "none"}, "is not a speech provider here: use \"espeak-ng\" or "
                                         "\"none\" (text only)")),
      text("voice_id", &VoiceConfig::voice_id, Presence::optional, 64,
           "an espeak-ng voice name like \"en-us\" or \"en-gb+f3\"; empty: from language",
           [](const std::string& path, const std::string& id) -> Status {
             const bool name_ok = std::all_of(id.begin(), id.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' ||
                      c == '-' || c == '+';
             });
             if (name_ok) return ok_status();
             return invalid(path, "must be an espeak-ng voice name like \"en-us\" or "
                                  "\"en-gb+f3\" (letters, digits, _ - +)");
           }),
  });
  return table;
}

const FieldTable<SessionTimeout>& timeout_table() {
  static const FieldTable<SessionTimeout> table({
      whole("max_duration", &SessionTimeout::max_duration_s, 0, 86400),
      whole("max_idle", &SessionTimeout::max_idle_s, 0, 86400),
      text("message", &SessionTimeout::message, Presence::optional, max_text_bytes),
  });
  return table;
}

const FieldTable<FlowConfig>& flow_table() {
  static const FieldTable<FlowConfig> interruption({
      flag("allowed", &FlowConfig::interruption_allowed),
      flag("keep_interruption_message", &FlowConfig::keep_interruption_message),
  });
  static const FieldTable<FlowConfig> table({
      flag("user_start_first", &FlowConfig::user_start_first),
      whole("response_delay", &FlowConfig::response_delay_ms, 0, 10000),
      group("interruption", interruption),
  });
  return table;
}

// ---- the agent's LLM (DESIGN §13: an OpenAI-compatible chat-completions server)

bool is_env_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(letter || (digit && i > 0))) return false;
  }
  return true;
}

// An optional number in [low, high]; absent or null keeps it unset (the server's default).
template <class T, class N>
Field<T> optional_number(const char* key, std::optional<N> T::*member, double low, double high,
                         bool whole_only) {
  std::string words = std::string(whole_only ? "whole number" : "number") + " from " +
                      to_json_text(json(low)) + " to " + to_json_text(json(high)) +
                      "; absent: the server's default";
  return {key,
          [=](const json& object, const std::string& path, T& out) -> Status {
            auto it = object.find(key);
            if (it == object.end() || it->is_null()) return ok_status();
            const bool type_ok = whole_only ? it->is_number_integer() : it->is_number();
            if (!type_ok || it->template get<double>() < low || it->template get<double>() > high) {
              return invalid(join_path(path, key), "must be a " + words.substr(0, words.find(';')));
            }
            out.*member = it->template get<N>();
            return ok_status();
          },
          words,
          [](const T&) { return std::string("absent"); },
          {}};
}

const FieldTable<LlmConfig>& llm_table() {
  // A key in the file would end up in backups and logs: refused, with what to do instead.
  static const Field<LlmConfig> api_key = {
      "api_key",
      [](const json& object, const std::string& path, LlmConfig&) -> Status {
        if (object.find("api_key") == object.end()) return ok_status();
        return invalid(join_path(path, "api_key"),
                       "a key never goes into the config file: put it in an environment "
                       "variable and name that variable in api_key_env");
      },
      "refused: the key comes from the environment (api_key_env)",
      {},
      [](const std::string&, std::vector<ConfigKey>&) {},
      false};
  static const FieldTable<LlmConfig> table(
      {
          text("provider", &LlmConfig::provider, Presence::non_empty, 32,
               "\"openai\": OpenAI's chat-completions format (OpenAI, Ollama, llama.cpp, vLLM)",
               one_of({"openai"}, "is not a provider: \"openai\" (the OpenAI chat-completions "
                                  "format, which Ollama, llama.cpp's server and vLLM also speak)")),
          text("base_url", &LlmConfig::base_url, Presence::required, 2048,
               "http(s)://host[:port]/path, where /chat/completions follows (e.g. .../v1)",
               [](const std::string& path, const std::string& url) -> Status {
                 if (auto s = check_url(path, url, {"http", "https"}); !s) return s;
                 auto parsed = boost::urls::parse_absolute_uri(url);
                 if (parsed && (parsed->has_query() || parsed->has_fragment() ||
                                parsed->has_userinfo())) {
                   return invalid(path, json_quoted(url) +
                                            " must be scheme://host[:port]/path only (no user, "
                                            "query or fragment); the key goes in api_key_env");
                 }
                 return ok_status();
               }),
          text("model", &LlmConfig::model, Presence::required, 256),
          text("api_key_env", &LlmConfig::api_key_env, Presence::optional, 128,
               "the name of the environment variable holding the key; empty: no key is sent",
               [](const std::string& path, const std::string& name) -> Status {
                 if (is_env_name(name)) return ok_status();
                 return invalid(path, json_quoted(name) + " must be the name of an environment "
                                                          "variable ([A-Za-z_][A-Za-z0-9_]*)");
               }),
          optional_number("temperature", &LlmConfig::temperature, 0.0, 2.0, false),
          optional_number("max_tokens", &LlmConfig::max_tokens, 1.0, 1000000.0, true),
          whole("timeout_ms", &LlmConfig::timeout_ms, 100, 600000),
          api_key,
      },
      [](const json&, const std::string&, LlmConfig& llm) -> Status {
        while (!llm.base_url.empty() && llm.base_url.back() == '/') llm.base_url.pop_back();
        return ok_status();
      });
  return table;
}

// The optional `llm` object.
Field<AgentConfig> llm_field() {
  const auto& table = llm_table();
  return {"llm",
          [&table](const json& object, const std::string& path, AgentConfig& out) -> Status {
            auto value = object_at(object, path, "llm");
            if (!value) return value.error();
            if (*value == nullptr) return ok_status();
            LlmConfig llm;
            if (auto s = table.read(**value, join_path(path, "llm"), llm); !s) return s;
            out.llm = std::move(llm);
            return ok_status();
          },
          "object: an OpenAI-compatible LLM (not with custom_llm_websocket)",
          {},
          [&table](const std::string& path, std::vector<ConfigKey>& out) {
            table.describe(path, out);
          }};
}

const FieldTable<AgentConfig>& agent_table();

// Whether a call's agent_config may ever set the agent field `key` (the message says why not).
Status overridable(const std::string& key) {
  const Field<AgentConfig>* field = agent_table().find(key);
  if (field == nullptr || !field->listed) {
    std::string names;
    for (const auto& k : agent_table().keys()) {
      const Field<AgentConfig>* f = agent_table().find(k);
      if (f->exposure == Exposure::normal) names += (names.empty() ? "" : ", ") + k;
    }
    return make_error("not_overridable", json_quoted(key) + " is not an agent field (fields "
                                         "that may be overridden: " + names + ")");
  }
  if (field->exposure == Exposure::secret)
    return make_error("not_overridable",
                      json_quoted(key) + " can never be overridden: it carries a URL or a secret");
  if (field->exposure == Exposure::policy)
    return make_error("not_overridable",
                      json_quoted(key) + " can never be overridden: it is the agent's identity, "
                                         "access or data policy, or carries URLs");
  return ok_status();
}

Status check_agent(const json&, const std::string& path, AgentConfig& agent) {
  if (agent.public_keys.empty()) {
    return invalid(join_path(path, "public_keys"), "needs at least one key");
  }
  if (agent.llm && !agent.custom_llm_websocket.empty()) {
    return invalid(join_path(path, "llm"),
                   "an agent answers through custom_llm_websocket or through llm, not both");
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < agent.tools.size(); ++i) {
    if (!names.insert(agent.tools[i].name).second) {
      return invalid(index_path(join_path(path, "tools"), i) + ".name",
                     json_quoted(agent.tools[i].name) + " is a duplicate tool name");
    }
  }
  for (std::size_t i = 0; i < agent.rules.size(); ++i) {
    const std::string& tool = agent.rules[i].tool;
    if (!tool.empty() && agent.find_tool(tool) == nullptr) {
      return invalid(index_path(join_path(path, "rules"), i) + ".tool",
                     json_quoted(tool) + " is not one of this agent's tools");
    }
  }
  for (std::size_t i = 0; i < agent.allow_overrides.size(); ++i) {
    if (auto s = overridable(agent.allow_overrides[i]); !s)
      return invalid(index_path(join_path(path, "allow_overrides"), i), s.error().message);
  }
  return ok_status();
}

// E.164 as trunks write it: "+" and 2 to 15 digits.
bool is_phone_number(const std::string& number) {
  if (number.size() < 3 || number.size() > 16 || number[0] != '+') return false;
  for (std::size_t i = 1; i < number.size(); ++i)
    if (number[i] < '0' || number[i] > '9') return false;
  return true;
}

Status check_phone_numbers(const std::string& path, const std::vector<std::string>& numbers) {
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (!is_phone_number(numbers[i]))
      return invalid(index_path(path, i),
                     json_quoted(numbers[i]) + " is not an E.164 number (+ and 2 to 15 digits)");
  }
  return ok_status();
}

const FieldTable<AgentConfig>& agent_table() {
  static const FieldTable<AgentConfig> privacy({
      flag("opt_out_data_collection", &AgentConfig::opt_out_data_collection),
  });
  static const FieldTable<AgentConfig> memory({
      flag("by_phone", &AgentConfig::memory_by_phone),
  });
  static const FieldTable<AgentConfig> vocabulary({
      strings("keywords", &AgentConfig::custom_vocabulary, 1000, 128, "speech hints"),
  });
  static const FieldTable<AgentConfig> table(
      {
          policy(text("id", &AgentConfig::id, Presence::required, 64, "1 to 64 of [A-Za-z0-9_-]",
                      [](const std::string& path, const std::string& id) -> Status {
                        if (is_valid_agent_id(id)) return ok_status();
                        return invalid(path,
                                       json_quoted(id) + " must be 1 to 64 of [A-Za-z0-9_-]");
                      })),
          text("name", &AgentConfig::name, Presence::optional, max_short_bytes),
          text("prompt", &AgentConfig::prompt, Presence::optional, max_text_bytes,
               "the system prompt, a template"),
          text("first_message", &AgentConfig::first_message, Presence::optional,
               max_text_bytes, "the welcome message, a template"),
          text("language", &AgentConfig::language, Presence::non_empty, 35),
          text("fallback_reply", &AgentConfig::fallback_reply, Presence::non_empty,
               max_text_bytes),
          text("resume_message", &AgentConfig::resume_message, Presence::optional,
               max_text_bytes, "said when a call continues a conversation; empty: none"),
          secret(text("secret", &AgentConfig::secret, Presence::optional, max_short_bytes,
                      "HMAC key of loginToken; empty: user tokens are refused")),
          secret(strings("public_keys", &AgentConfig::public_keys, 64, 256, "at least one")),
          policy(strings("allowed_origins", &AgentConfig::allowed_origins, 256, max_short_bytes,
                         "scheme://host[:port] or scheme://host:*", check_origins)),
          section("voice", &AgentConfig::voice, voice_table()),
          policy(objects("tools", &AgentConfig::tools, 128, tool_table())),
          objects("rules", &AgentConfig::rules, 1024, rule_table()),
          group("privacy_settings", privacy),
          // Which agent a number reaches: never a call's to set (DESIGN §3).
          policy(strings("phone_numbers", &AgentConfig::phone_numbers, 100, 16,
                         "E.164 numbers this agent answers and calls from (through the trunk "
                         "that lists it)",
                         check_phone_numbers)),
          // Whose past a phone call sees: the agent's data policy, never a call's to set.
          policy(group("memory", memory)),
          section("session_timeout", &AgentConfig::session_timeout, timeout_table()),
          section("flow", &AgentConfig::flow, flow_table()),
          policy(whole("resume_window", &AgentConfig::resume_window_s, 1, max_seconds_per_year)),
          policy(whole("retention", &AgentConfig::retention_s, 1, 10 * max_seconds_per_year)),
          millis_webhook("extra_prompt_webhook", &AgentConfig::extra_prompt_webhook,
                         extra_prompt_hook_table(), "GET"),
          millis_webhook("session_data_webhook", &AgentConfig::session_data_webhook,
                         session_data_hook_table(), "POST"),
          retired<AgentConfig>(
              "prefetch_data_webhook",
              "use extra_prompt_webhook, Millis's name and protocol (a GET with session_id, "
              "agent_id, from, to and the metadata in the query; the reply's metadata and "
              "extra_prompt are used; README, Webhooks)"),
          secret(text("custom_llm_websocket", &AgentConfig::custom_llm_websocket,
                      Presence::optional, max_short_bytes,
                      "ws:// or wss://; empty: the built-in responder", url_rule({"ws", "wss"}))),
          // An LLM server's URL and key name: never a call's to set (DESIGN §3).
          secret(llm_field()),
          group("custom_vocabulary", vocabulary),
          policy(strings("allow_overrides", &AgentConfig::allow_overrides, 64, 64,
                         "agent fields a call's agent_config may set; none by default")),
      },
      check_agent);
  return table;
}

const FieldTable<ServerLimits>& limits_table() {
  static const FieldTable<ServerLimits> table({
      whole("max_header_bytes", &ServerLimits::max_header_bytes, 1024, 1024 * 1024),
      whole("max_body_bytes", &ServerLimits::max_body_bytes, 1024, 64 * 1024 * 1024),
      whole("max_ws_message_bytes", &ServerLimits::max_ws_message_bytes, 1024,
            16 * 1024 * 1024),
      whole("max_send_queue", &ServerLimits::max_send_queue, 1, 65536),
      whole("idle_timeout_s", &ServerLimits::idle_timeout_s, 1, 86400),
      whole("handshake_timeout_s", &ServerLimits::handshake_timeout_s, 1, 600),
      whole("max_connections", &ServerLimits::max_connections, 1, 1000000),
      whole("max_audio_bytes_per_s", &ServerLimits::max_audio_bytes_per_s, 1000,
            10 * 1024 * 1024),
      whole("max_text_messages_per_s", &ServerLimits::max_text_messages_per_s, 1, 10000),
      whole("max_requests_per_s", &ServerLimits::max_requests_per_s, 0, 1000000),
      whole("max_sessions_per_min", &ServerLimits::max_sessions_per_min, 0, 1000000),
      whole("max_session_requests_per_s", &ServerLimits::max_session_requests_per_s, 0, 10000),
  });
  return table;
}

const FieldTable<LineSpeechConfig>& line_speech_table() {
  static const FieldTable<LineSpeechConfig> table({
      whole("vad_hangover_ms", &LineSpeechConfig::vad_hangover_ms, 100, 5000),
      whole("vad_onset_ms", &LineSpeechConfig::vad_onset_ms, 10, 500),
      whole("vad_threshold_db", &LineSpeechConfig::vad_threshold_db, 3, 40),
      whole("echo_gate_db", &LineSpeechConfig::echo_gate_db, -40, 20),
      whole("echo_tail_ms", &LineSpeechConfig::echo_tail_ms, 0, 5000),
      whole("max_utterance_s", &LineSpeechConfig::max_utterance_s, 1, 120),
  });
  return table;
}

// server.speech.phone: the phone line's settings, each key it leaves out the browser's (read
// after the browser's, which are rows above it).
Field<SpeechConfig> phone_speech_row() {
  Field<SpeechConfig> row = section("phone", &SpeechConfig::phone, line_speech_table());
  row.read = [](const json& object, const std::string& path, SpeechConfig& out) -> Status {
    out.phone = out.browser;
    auto value = object_at(object, path, "phone");
    if (!value) return value.error();
    if (*value == nullptr) return ok_status();
    return line_speech_table().read(**value, join_path(path, "phone"), out.phone);
  };
  row.describe = [](const std::string& path, std::vector<ConfigKey>& out) {
    std::vector<ConfigKey> keys;
    line_speech_table().describe(path, keys);
    for (auto& key : keys) {
      key.default_value = "server.speech." + key.path.substr(key.path.rfind('.') + 1);
      out.push_back(std::move(key));
    }
  };
  return row;
}

const FieldTable<SpeechConfig>& speech_table() {
  static const FieldTable<SpeechConfig> table([] {
    std::vector<Field<SpeechConfig>> rows = {
      flag("enabled", &SpeechConfig::enabled),
      text("model_dir", &SpeechConfig::model_dir, Presence::non_empty, 4096,
           "relative to the config file"),
      flag("keyword_hints", &SpeechConfig::keyword_hints),
      fraction("hint_weight", &SpeechConfig::hint_weight, 0.0, 1.0),
      whole("vocabulary", &SpeechConfig::vocabulary, 0, 200000),
      whole("workers", &SpeechConfig::workers, 1, 64),
      whole("queue_limit", &SpeechConfig::queue_limit, 1, 100000),
      whole("max_decoders", &SpeechConfig::max_decoders, 1, 256),
      whole("synth_cache_mb", &SpeechConfig::synth_cache_mb, 0, 4096),
      whole("synth_backlog", &SpeechConfig::synth_backlog, 1, 100000),
    };
    for (auto& row : lifted(&SpeechConfig::browser, line_speech_table())) rows.push_back(std::move(row));
    rows.push_back(phone_speech_row());
    return rows;
  }());
  return table;
}


const FieldTable<SipTrunkConfig>& trunk_table() {
  static const FieldTable<SipTrunkConfig> table({
      text("id", &SipTrunkConfig::id, Presence::required, 64, "1 to 64 of [A-Za-z0-9_-]",
           [](const std::string& path, const std::string& id) -> Status {
             for (char c : id)
               if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
                 return invalid(path, json_quoted(id) + " must be 1 to 64 of [A-Za-z0-9_-]");
             return ok_status();
           }),
      text("address", &SipTrunkConfig::address, Presence::required, 300,
           "HOST:PORT of the trunk's SIP server",
           [](const std::string& path, const std::string& value) -> Status {
             if (auto a = parse_listen_address(value); !a || a->port == 0)
               return invalid(path, json_quoted(value) + " must be HOST:PORT with a port");
             return ok_status();
           }),
      text("transport", &SipTrunkConfig::transport, Presence::non_empty, 8, "udp or tcp",
           one_of({"udp", "tcp"}, "must be \"udp\" or \"tcp\"")),
      text("username", &SipTrunkConfig::username, Presence::optional, 256,
           "digest auth user name"),
      text("password_env", &SipTrunkConfig::password_env, Presence::optional, 128,
           "environment variable holding the digest password"),
      strings("numbers", &SipTrunkConfig::numbers, 1000, 16, "E.164 numbers (+15550001111)",
              check_phone_numbers),
  });
  return table;
}

template <class T>
Field<T> port_range(const char* key, std::uint32_t T::*low, std::uint32_t T::*high) {
  return {key,
          [=](const json& object, const std::string& path, T& out) -> Status {
            auto it = object.find(key);
            if (it == object.end() || it->is_null()) return ok_status();
            const std::string p = join_path(path, key);
            if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() ||
                !(*it)[1].is_number_unsigned())
              return invalid(p, "must be [LOW, HIGH], two port numbers");
            const auto lo = (*it)[0].get<std::uint64_t>(), hi = (*it)[1].get<std::uint64_t>();
            if (lo < 1024 || hi > 65535 || lo + 1 >= hi)
              return invalid(p, "must be [LOW, HIGH] with 1024 <= LOW < HIGH <= 65535 and room "
                                "for an RTP and an RTCP port");
            out.*low = static_cast<std::uint32_t>(lo);
            out.*high = static_cast<std::uint32_t>(hi);
            return ok_status();
          },
          "[LOW, HIGH] ports for RTP (RTCP on the next)",
          [=](const T& d) {
            return "[" + std::to_string(d.*low) + ", " + std::to_string(d.*high) + "]";
          },
          {}};
}

const FieldTable<SipConfig>& sip_table() {
  static const FieldTable<SipConfig> table(
      {
          text("listen", &SipConfig::listen, Presence::optional, 300,
               "ADDR:PORT for SIP over UDP and TCP (port 0: ephemeral); empty: no phone calls",
               [](const std::string& path, const std::string& value) -> Status {
                 if (auto listen = parse_listen_address(value); !listen)
                   return invalid(path, listen.error().message);
                 return ok_status();
               }),
          text("public_address", &SipConfig::public_address, Presence::optional, 256,
               "the IP address written into SDP and Contact; empty: listen's"),
          port_range("rtp_ports", &SipConfig::rtp_port_min, &SipConfig::rtp_port_max),
          whole("ring_timeout_s", &SipConfig::ring_timeout_s, 1, 600),
          whole("invites_per_s", &SipConfig::invites_per_s, 1, 10000),
          whole("max_calls", &SipConfig::max_calls, 1, 100000),
          objects("trunks", &SipConfig::trunks, 100, trunk_table()),
      },
      [](const json&, const std::string& path, SipConfig& sip) -> Status {
        std::set<std::string> ids, numbers;
        for (std::size_t i = 0; i < sip.trunks.size(); ++i) {
          const std::string tp = index_path(join_path(path, "trunks"), i);
          if (!ids.insert(sip.trunks[i].id).second)
            return invalid(tp + ".id", json_quoted(sip.trunks[i].id) + " is a duplicate trunk id");
          for (const auto& n : sip.trunks[i].numbers)
            if (!numbers.insert(n).second)
              return invalid(tp + ".numbers", json_quoted(n) + " belongs to two trunks");
          if (!sip.trunks[i].username.empty() && sip.trunks[i].password_env.empty())
            return invalid(tp + ".password_env", "is required with a username");
        }
        return ok_status();
      });
  return table;
}

const FieldTable<ServerConfig>& server_table() {
  static const FieldTable<ServerConfig> table({
      text("listen", &ServerConfig::listen, Presence::non_empty, 300,
           "ADDR:PORT (port 0: ephemeral)",
           [](const std::string& path, const std::string& value) -> Status {
             if (auto listen = parse_listen_address(value); !listen) {
               return invalid(path, listen.error().message);
             }
             return ok_status();
           }),
      text("database", &ServerConfig::database, Presence::non_empty, 4096,
           "SQLite file, relative to the config file (\":memory:\" for a throwaway one), or a "
           "postgresql:// URI (several hosts on one database; password from the URI, "
           "PGPASSWORD or ~/.pgpass)",
           [](const std::string& path, const std::string& value) -> Status {
             const auto scheme = value.find("://");
             if (scheme == std::string::npos || is_postgres_uri(value)) return ok_status();
             return invalid(path, "must be an SQLite file path or a postgresql:// URI; '" +
                                      value.substr(0, scheme) +
                                      "://' is not a database this host knows");
           }),
      text("web_root", &ServerConfig::web_root, Presence::optional, 4096,
           "static files, relative to the config file"),
      text("wasm_root", &ServerConfig::wasm_root, Presence::optional, 4096,
           "the SDK build, served under /sdk/"),
      text("admin_key", &ServerConfig::admin_key, Presence::optional, 256,
           "guards /admin/*; empty: admin routes off",
           [](const std::string& path, const std::string& key) -> Status {
             if (is_header_value(key)) return ok_status();
             return invalid(path, "must not contain control characters");
           }),
      text("log_level", &ServerConfig::log_level, Presence::non_empty, 16,
           "debug, info, warn or error",
           one_of({"debug", "info", "warn", "error"}, "must be one of debug, info, warn, error")),
      whole("webhook_max_attempts", &ServerConfig::webhook_max_attempts, 1, 100),
      strings("api_keys", &ServerConfig::api_keys, 64, 256,
              "server API keys (Authorization: <key>), each at least 16 bytes",
              [](const std::string& path, const std::vector<std::string>& keys) -> Status {
                for (std::size_t i = 0; i < keys.size(); ++i) {
                  if (keys[i].size() < 16)
                    return invalid(index_path(path, i),
                                   "is " + std::to_string(keys[i].size()) +
                                       " bytes: a server API key needs at least 16");
                  if (!is_header_value(keys[i]) || keys[i].find(' ') != std::string::npos)
                    return invalid(index_path(path, i),
                                   "must not contain spaces or control characters");
                }
                return ok_status();
              }),
      whole("reconnect_grace_s", &ServerConfig::reconnect_grace_s, 1, 600),
      strings("trusted_proxies", &ServerConfig::trusted_proxies, 256, 64,
              "addresses or CIDR ranges of proxies whose X-Forwarded-For names the client",
              [](const std::string& path, const std::vector<std::string>& entries) -> Status {
                for (std::size_t i = 0; i < entries.size(); ++i)
                  if (auto parsed = TrustedProxies::parse({entries[i]}); !parsed)
                    return invalid(index_path(path, i), parsed.error().message);
                return ok_status();
              }),
      whole("database_threads", &ServerConfig::database_threads, 1, 64),
      whole("database_queue_per_thread", &ServerConfig::database_queue_per_thread, 1, 1000000),
      whole("call_lease_ms", &ServerConfig::call_lease_ms, 1000, 600000),
      noted(whole("call_lease_renew_ms", &ServerConfig::call_lease_renew_ms, 100, 300000),
            "at most half of call_lease_ms"),
      noted(whole("outbox_claim_ms", &ServerConfig::outbox_claim_ms, 15000, 86400000),
            "above one webhook delivery's 10 s timeout"),
      section("limits", &ServerConfig::limits, limits_table()),
      section("speech", &ServerConfig::speech, speech_table()),
      section("sip", &ServerConfig::sip, sip_table()),
  },
  [](const json&, const std::string& path, ServerConfig& server) -> Status {
    // A heartbeat rides the database queue like any job: with room for one late one, a
    // live call's lease never lapses under a slow database.
    if (std::uint64_t{server.call_lease_renew_ms} * 2 > server.call_lease_ms)
      return invalid(join_path(path, "call_lease_renew_ms"),
                     std::to_string(server.call_lease_renew_ms) +
                         " is more than half of call_lease_ms (" +
                         std::to_string(server.call_lease_ms) +
                         "): one late renewal would let a live call's lease lapse");
    return ok_status();
  });
  return table;
}

Status check_agents(const json& root, const std::string&, HostConfig& config) {
  auto it = root.find("agents");
  if (it == root.end() || it->is_null()) return invalid("agents", "is required");
  if (config.agents.empty()) return invalid("agents", "needs at least one agent");
  std::set<std::string> ids, numbers;
  for (std::size_t i = 0; i < config.agents.size(); ++i) {
    if (!ids.insert(config.agents[i].id).second) {
      return invalid(index_path("agents", i) + ".id",
                     json_quoted(config.agents[i].id) + " is a duplicate agent id");
    }
    for (std::size_t n = 0; n < config.agents[i].phone_numbers.size(); ++n) {
      const std::string& number = config.agents[i].phone_numbers[n];
      const std::string path = index_path(index_path("agents", i) + ".phone_numbers", n);
      // A number on no trunk still takes inbound calls; placing a call from it is refused
      // then, naming the trunks (POST /start_outbound_call).
      if (!numbers.insert(number).second)
        return invalid(path, json_quoted(number) + " belongs to two agents");
    }
  }
  return ok_status();
}

const FieldTable<HostConfig>& root_table() {
  static const FieldTable<HostConfig> table(
      {
          section("server", &HostConfig::server, server_table()),
          objects("agents", &HostConfig::agents, 1000, agent_table()),
      },
      check_agents);
  return table;
}

std::string resolve_path(const std::string& path, std::string_view base_dir) {
  // A postgresql:// URI is not a path (server.database).
  if (path.empty() || path == ":memory:" || path.front() == '/' || base_dir.empty() ||
      is_postgres_uri(path)) {
    return path;
  }
  std::string base(base_dir);
  if (base.back() != '/') base += '/';
  return base + path;
}

}  // namespace

// ---- AgentConfig / HostConfig

const AgentConfig* HostConfig::agent_for_number(std::string_view number) const {
  for (const auto& agent : agents)
    for (const auto& n : agent.phone_numbers)
      if (n == number) return &agent;
  return nullptr;
}

const ToolConfig* AgentConfig::find_tool(std::string_view tool_name) const {
  for (const auto& tool : tools) {
    if (tool.name == tool_name) return &tool;
  }
  return nullptr;
}

bool AgentConfig::origin_allowed(std::optional<std::string_view> origin) const {
  if (!origin) return true;  // a native client sends no Origin
  // "null" (sandboxed frames, file://) and anything else that is no origin never matches.
  const auto given = parse_request_origin(*origin);
  if (!given) return false;
  for (const auto& allowed_text : allowed_origins) {
    if (auto allowed = parse_allowed_origin(allowed_text); allowed && origin_matches(*allowed, *given))
      return true;
  }
  return false;
}

bool AgentConfig::has_public_key(std::string_view key) const {
  return std::find(public_keys.begin(), public_keys.end(), key) != public_keys.end();
}

const AgentConfig* HostConfig::find_agent(std::string_view agent_id) const {
  for (const auto& agent : agents) {
    if (agent.id == agent_id) return &agent;
  }
  return nullptr;
}

Result<HostConfig> parse_host_config(std::string_view text, std::string_view base_dir) {
  if (text.size() > max_config_bytes) {
    return make_error("config_invalid", "the config is " + std::to_string(text.size()) +
                                            " bytes, over the limit of " +
                                            std::to_string(max_config_bytes));
  }
  auto root = parse_json(text, "config file", 32);
  if (!root) return make_error("config_bad_json", root.error().message);
  if (!root->is_object()) {
    return make_error("config_invalid", std::string("the config must be a JSON object, not ") +
                                            json_type_name(*root));
  }
  HostConfig config;
  if (auto s = root_table().read(*root, "", config); !s) return s.error();
  ServerConfig& server = config.server;
  server.database = resolve_path(server.database, base_dir);
  server.web_root = resolve_path(server.web_root, base_dir);
  server.wasm_root = resolve_path(server.wasm_root, base_dir);
  server.speech.model_dir = resolve_path(server.speech.model_dir, base_dir);
  return config;
}

Result<AgentConfig> apply_agent_config(const AgentConfig& base, const json& overrides) {
  const std::string path = "agent.agent_config";
  auto refuse = [&](const std::string& where, const std::string& why) {
    return make_error("bad_agent_config", where + ": " + why);
  };
  if (!overrides.is_object())
    return refuse(path, std::string("must be an object, not ") + json_type_name(overrides));
  for (auto it = overrides.begin(); it != overrides.end(); ++it) {
    const std::string where = join_path(path, it.key());
    if (auto s = overridable(it.key()); !s) return refuse(where, s.error().message);
    const auto& allowed = base.allow_overrides;
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end())
      return refuse(where, "agent " + json_quoted(base.id) +
                               " does not allow overriding it (its allow_overrides)");
  }
  AgentConfig effective = base;
  if (auto s = agent_table().read_given(overrides, path, effective); !s)
    return make_error("bad_agent_config", s.error().message);
  return effective;
}

json agent_config_json(const AgentConfig& agent) { return agent_table().write(agent); }

std::vector<ConfigKey> config_reference() {
  std::vector<ConfigKey> keys;
  root_table().describe("", keys);
  return keys;
}

Result<HostConfig> load_host_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("config_unreadable", "cannot read the config file " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return make_error("config_unreadable", "cannot read the config file " + path);
  auto slash = path.find_last_of('/');
  std::string base_dir = slash == std::string::npos ? "" : path.substr(0, slash + 1);
  auto config = parse_host_config(contents.str(), base_dir);
  if (!config) {
    Error e = std::move(config).error();
    e.message = path + ": " + e.message;
    return e;
  }
  return config;
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  auto bad = [&](const std::string& rule) {
    return make_error("bad_listen",
                      "listen address " + to_json_text(json(std::string(text))) + ": " + rule);
  };
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("must be ADDR:PORT (e.g. 127.0.0.1:8080)");
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return bad("the port must be a number from 0 to 65535");
  }
  long port_number = std::stol(std::string(port));
  if (port_number > 65535) return bad("the port must be a number from 0 to 65535");
  ListenAddress out;
  out.port = static_cast<std::uint16_t>(port_number);
  if (host == "localhost") {
    out.address = "127.0.0.1";
    return out;
  }
  unsigned char buffer[16];
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string inner(host.substr(1, host.size() - 2));
    if (inet_pton(AF_INET6, inner.c_str(), buffer) != 1) {
      return bad("\"" + inner + "\" is not an IPv6 address");
    }
    out.address = inner;
    return out;
  }
  std::string address(host);
  if (address.find(':') != std::string::npos) {
    return bad("write an IPv6 address in brackets, e.g. [::1]:8080");
  }
  if (inet_pton(AF_INET, address.c_str(), buffer) != 1) {
    return bad("\"" + address + "\" is not an IPv4 address (or [IPv6], or localhost)");
  }
  out.address = address;
  return out;
}

}  // namespace parley::host
