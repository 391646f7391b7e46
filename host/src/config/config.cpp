// parse_host_config: the one JSON config file, checked field by field (DESIGN §9).
//
// Every object is first checked for unknown keys (a typo must not silently drop a setting),
// then each known field is read with its type and range. Errors name the field by its path
// ("agents[0].tools[1].webhook.url") and the rule broken. Nothing here throws: JSON comes
// from parley::parse_json and types are checked before every get().
#include "parley/host/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "config_check.hpp"

namespace parley::host {
namespace config_detail {

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, std::size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

Error invalid(const std::string& path, const std::string& rule) {
  return make_error("config_invalid", path + ": " + rule);
}

Status check_keys(const json& object, const std::string& path,
                  std::initializer_list<const char*> known) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool found = std::any_of(known.begin(), known.end(),
                             [&](const char* k) { return it.key() == k; });
    if (found) continue;
    std::string list;
    for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return make_error("config_unknown_key",
                      join_path(path, it.key()) + ": unknown key (known here: " + list + ")");
  }
  return ok_status();
}

Result<const json*> object_at(const json& parent, const std::string& parent_path,
                              const char* key) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return static_cast<const json*>(nullptr);
  if (!it->is_object()) {
    return invalid(join_path(parent_path, key),
                   std::string("must be an object, not ") + json_type_name(*it));
  }
  return &*it;
}

Status read_string(const json& parent, const std::string& parent_path, const char* key,
                   std::string& out, Presence presence, std::size_t max_bytes) {
  std::string path = join_path(parent_path, key);
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (presence != Presence::required) return ok_status();
    return invalid(path, "is required");
  }
  if (!it->is_string()) {
    return invalid(path, std::string("must be a string, not ") + json_type_name(*it));
  }
  const auto& text = it->get_ref<const std::string&>();
  if (text.empty() && presence != Presence::optional) return invalid(path, "must not be empty");
  if (text.size() > max_bytes) {
    return invalid(path, "is " + std::to_string(text.size()) + " bytes, over the limit of " +
                             std::to_string(max_bytes));
  }
  if (!is_valid_utf8(text)) return invalid(path, "is not valid UTF-8");
  out = text;
  return ok_status();
}

Status read_u32(const json& parent, const std::string& parent_path, const char* key,
                std::uint32_t& out, std::uint32_t min, std::uint32_t max) {
  std::string path = join_path(parent_path, key);
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
  if (!it->is_number_integer() && !it->is_number_unsigned()) {
    return invalid(path, std::string("must be a whole number ") + range + ", not " +
                             (it->is_number() ? to_json_text(*it) : json_type_name(*it)));
  }
  // Compare as signed 64-bit: a negative number must say "out of range", not wrap.
  bool in_range = false;
  std::int64_t value = 0;
  if (it->is_number_unsigned()) {
    auto u = it->get<std::uint64_t>();
    in_range = u <= max && u >= min;
    value = in_range ? static_cast<std::int64_t>(u) : 0;
  } else {
    value = it->get<std::int64_t>();
    in_range = value >= static_cast<std::int64_t>(min) && value <= static_cast<std::int64_t>(max);
  }
  if (!in_range) return invalid(path, to_json_text(*it) + " is out of range: must be " + range);
  out = static_cast<std::uint32_t>(value);
  return ok_status();
}

Status read_bool(const json& parent, const std::string& parent_path, const char* key,
                 bool& out) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  if (!it->is_boolean()) {
    return invalid(join_path(parent_path, key),
                   std::string("must be true or false, not ") + json_type_name(*it));
  }
  out = it->get<bool>();
  return ok_status();
}

Status read_string_list(const json& parent, const std::string& parent_path, const char* key,
                        std::vector<std::string>& out, std::size_t max_items,
                        std::size_t max_bytes) {
  std::string path = join_path(parent_path, key);
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  if (!it->is_array()) {
    return invalid(path, std::string("must be an array of strings, not ") +
                             json_type_name(*it));
  }
  if (it->size() > max_items) {
    return invalid(path, "has " + std::to_string(it->size()) + " items, over the limit of " +
                             std::to_string(max_items));
  }
  out.clear();
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    std::string item_path = index_path(path, i);
    if (!item.is_string()) {
      return invalid(item_path, std::string("must be a string, not ") + json_type_name(item));
    }
    const auto& text = item.get_ref<const std::string&>();
    if (text.empty()) return invalid(item_path, "must not be empty");
    if (text.size() > max_bytes) {
      return invalid(item_path, "is " + std::to_string(text.size()) +
                                    " bytes, over the limit of " + std::to_string(max_bytes));
    }
    if (!is_valid_utf8(text)) return invalid(item_path, "is not valid UTF-8");
    out.push_back(text);
  }
  return ok_status();
}

}  // namespace config_detail

using namespace config_detail;

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
                 std::initializer_list<const char*> schemes) {
  std::string allowed;
  for (const char* s : schemes) allowed += (allowed.empty() ? "" : " or ") + std::string(s) + "://";
  auto parsed = boost::urls::parse_absolute_uri(text);
  if (!parsed) {
    return invalid(path, to_json_text(json(text)) + " is not an absolute URL (" +
                             parsed.error().message() + ")");
  }
  std::string scheme = lower(std::string(parsed->scheme()));
  bool scheme_ok = std::any_of(schemes.begin(), schemes.end(),
                               [&](const char* s) { return scheme == s; });
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

Result<WebhookConfig> parse_webhook(const json& object, const std::string& path) {
  if (auto s = check_keys(object, path, {"url", "method", "headers", "timeout_ms"}); !s) {
    return s.error();
  }
  WebhookConfig hook;
  if (auto s = read_string(object, path, "url", hook.url, Presence::required, max_short_bytes);
      !s) {
    return s.error();
  }
  if (auto s = check_url(join_path(path, "url"), hook.url, {"http", "https"}); !s) {
    return s.error();
  }
  if (auto s = read_string(object, path, "method", hook.method, Presence::non_empty, 16); !s) {
    return s.error();
  }
  if (hook.method != "POST" && hook.method != "GET") {
    return invalid(join_path(path, "method"),
                   to_json_text(json(hook.method)) + " must be \"POST\" or \"GET\"");
  }
  auto headers = object_at(object, path, "headers");
  if (!headers) return headers.error();
  if (*headers != nullptr) {
    std::string headers_path = join_path(path, "headers");
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
        return invalid(header_path, "is not a valid header value (no control characters, "
                                    "at most 8192 bytes)");
      }
      hook.headers.emplace_back(it.key(), value);
    }
  }
  if (auto s = read_u32(object, path, "timeout_ms", hook.timeout_ms, 1, 30000); !s) {
    return s.error();
  }
  return hook;
}

Status read_webhook(const json& parent, const std::string& parent_path, const char* key,
                    std::optional<WebhookConfig>& out) {
  auto object = object_at(parent, parent_path, key);
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  auto hook = parse_webhook(**object, join_path(parent_path, key));
  if (!hook) return hook.error();
  out = std::move(*hook);
  return ok_status();
}

// ---- origins

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

bool is_port_text(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return false;
  }
  long value = std::stol(std::string(port));
  return value >= 1 && value <= 65535;
}

struct OriginParts {
  std::string scheme;  // lowercase
  std::string host;    // lowercase, brackets kept for IPv6
  std::string port;    // "" = default, "*" = any
};

// scheme://host[:port|:*] with no path, query or fragment. nullopt when it is not one.
std::optional<OriginParts> split_origin(std::string_view text, bool allow_wildcard) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  OriginParts parts;
  parts.scheme = lower(text.substr(0, sep));
  if (parts.scheme != "http" && parts.scheme != "https") return std::nullopt;
  std::string_view rest = text.substr(sep + 3);
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = rest.substr(0, close + 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
    std::string_view inner = host.substr(1, host.size() - 2);
    if (inner.empty() || !std::all_of(inner.begin(), inner.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
        })) {
      return std::nullopt;
    }
  } else {
    auto colon = rest.find(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_char)) {
      return std::nullopt;
    }
  }
  if (!port.empty() && !(allow_wildcard && port == "*") && !is_port_text(port)) {
    return std::nullopt;
  }
  parts.host = lower(host);
  parts.port = std::string(port);
  return parts;
}

Status check_origins(const std::vector<std::string>& origins, const std::string& path) {
  for (std::size_t i = 0; i < origins.size(); ++i) {
    if (!split_origin(origins[i], true)) {
      return invalid(index_path(path, i),
                     to_json_text(json(origins[i])) +
                         " is not an origin: must be scheme://host[:port] or "
                         "scheme://host:* (http or https, no path, no trailing slash)");
    }
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

Result<ToolConfig> parse_tool(const json& object, const std::string& path) {
  if (auto s = check_keys(object, path, {"name", "description", "parameters", "webhook"}); !s) {
    return s.error();
  }
  ToolConfig tool;
  if (auto s = read_string(object, path, "name", tool.name, Presence::required, 64); !s) {
    return s.error();
  }
  if (!is_valid_tool_name(tool.name)) {
    return invalid(join_path(path, "name"), to_json_text(json(tool.name)) +
                                                " must match [A-Za-z_][A-Za-z0-9_-]{0,63}");
  }
  if (auto s = read_string(object, path, "description", tool.description, Presence::optional,
                           max_text_bytes);
      !s) {
    return s.error();
  }
  auto parameters = object_at(object, path, "parameters");
  if (!parameters) return parameters.error();
  if (*parameters != nullptr) {
    if (auto s = check_parameters_schema(**parameters, join_path(path, "parameters")); !s) {
      return s.error();
    }
    tool.parameters = **parameters;
  }
  auto webhook = object_at(object, path, "webhook");
  if (!webhook) return webhook.error();
  if (*webhook == nullptr) return invalid(join_path(path, "webhook"), "is required");
  auto hook = parse_webhook(**webhook, join_path(path, "webhook"));
  if (!hook) return hook.error();
  tool.webhook = std::move(*hook);
  return tool;
}

Status check_pattern(const std::string& pattern, const std::string& path) {
  if (pattern.size() > max_pattern_bytes) {
    return invalid(path, "is " + std::to_string(pattern.size()) +
                             " bytes, over the limit of " + std::to_string(max_pattern_bytes));
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

Result<ReplyRule> parse_rule(const json& object, const std::string& path,
                             const std::vector<ToolConfig>& tools) {
  if (auto s = check_keys(object, path, {"words", "pattern", "reply", "tool", "tool_arguments"});
      !s) {
    return s.error();
  }
  ReplyRule rule;
  if (auto s = read_string_list(object, path, "words", rule.words, 256, 256); !s) {
    return s.error();
  }
  if (auto s = read_string(object, path, "pattern", rule.pattern, Presence::optional,
                           max_short_bytes);
      !s) {
    return s.error();
  }
  if (rule.words.empty() && rule.pattern.empty()) {
    return invalid(path, "needs \"words\" or \"pattern\" (at least one)");
  }
  if (!rule.pattern.empty()) {
    if (auto s = check_pattern(rule.pattern, join_path(path, "pattern")); !s) return s.error();
  }
  if (auto s = read_string(object, path, "reply", rule.reply, Presence::required,
                           max_text_bytes);
      !s) {
    return s.error();
  }
  if (auto s = read_string(object, path, "tool", rule.tool, Presence::optional, 64); !s) {
    return s.error();
  }
  if (!rule.tool.empty()) {
    bool known = std::any_of(tools.begin(), tools.end(),
                             [&](const ToolConfig& t) { return t.name == rule.tool; });
    if (!known) {
      return invalid(join_path(path, "tool"), to_json_text(json(rule.tool)) +
                                                  " is not one of this agent's tools");
    }
  }
  auto arguments = object_at(object, path, "tool_arguments");
  if (!arguments) return arguments.error();
  if (*arguments != nullptr) {
    if (rule.tool.empty()) {
      return invalid(join_path(path, "tool_arguments"), "is given but the rule has no \"tool\"");
    }
    rule.tool_arguments = **arguments;
  }
  return rule;
}

template <class T, class Parse>
Status read_object_list(const json& parent, const std::string& parent_path, const char* key,
                        std::size_t max_items, std::vector<T>& out, Parse parse) {
  std::string path = join_path(parent_path, key);
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  if (!it->is_array()) {
    return invalid(path, std::string("must be an array, not ") + json_type_name(*it));
  }
  if (it->size() > max_items) {
    return invalid(path, "has " + std::to_string(it->size()) + " items, over the limit of " +
                             std::to_string(max_items));
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    std::string item_path = index_path(path, i);
    if (!item.is_object()) {
      return invalid(item_path, std::string("must be an object, not ") + json_type_name(item));
    }
    auto parsed = parse(item, item_path);
    if (!parsed) return parsed.error();
    out.push_back(std::move(*parsed));
  }
  return ok_status();
}

// ---- agent sections

Status parse_agent_voice(const json& agent, const std::string& path, VoiceConfig& voice) {
  auto object = object_at(agent, path, "voice");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  std::string voice_path = join_path(path, "voice");
  if (auto s = check_keys(**object, voice_path, {"provider", "voice_id"}); !s) return s;
  if (auto s = read_string(**object, voice_path, "provider", voice.provider, Presence::non_empty,
                           64);
      !s) {
    return s;
  }
  if (voice.provider != "espeak-ng" && voice.provider != "none") {
    return invalid(join_path(voice_path, "provider"),
                   to_json_text(json(voice.provider)) + " is not a speech provider here: use "
                   "\"espeak-ng\" or \"none\" (text only)");
  }
  if (auto s = read_string(**object, voice_path, "voice_id", voice.voice_id, Presence::optional,
                           64);
      !s) {
    return s;
  }
  const bool name_ok = std::all_of(voice.voice_id.begin(), voice.voice_id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '+';
  });
  if (!name_ok) {
    return invalid(join_path(voice_path, "voice_id"),
                   "must be an espeak-ng voice name like \"en-us\" or \"en-gb+f3\" "
                   "(letters, digits, _ - +)");
  }
  return ok_status();
}

Status parse_agent_timeout(const json& agent, const std::string& path, SessionTimeout& timeout) {
  auto object = object_at(agent, path, "session_timeout");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  std::string p = join_path(path, "session_timeout");
  if (auto s = check_keys(**object, p, {"max_duration", "max_idle", "message"}); !s) return s;
  if (auto s = read_u32(**object, p, "max_duration", timeout.max_duration_s, 0, 86400); !s) {
    return s;
  }
  if (auto s = read_u32(**object, p, "max_idle", timeout.max_idle_s, 0, 86400); !s) return s;
  return read_string(**object, p, "message", timeout.message, Presence::optional,
                     max_text_bytes);
}

Status parse_agent_flow(const json& agent, const std::string& path, FlowConfig& flow) {
  auto object = object_at(agent, path, "flow");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  std::string p = join_path(path, "flow");
  if (auto s = check_keys(**object, p, {"user_start_first", "response_delay", "interruption"});
      !s) {
    return s;
  }
  if (auto s = read_bool(**object, p, "user_start_first", flow.user_start_first); !s) return s;
  if (auto s = read_u32(**object, p, "response_delay", flow.response_delay_ms, 0, 10000); !s) {
    return s;
  }
  auto interruption = object_at(**object, p, "interruption");
  if (!interruption) return interruption.error();
  if (*interruption == nullptr) return ok_status();
  std::string ip = join_path(p, "interruption");
  if (auto s = check_keys(**interruption, ip, {"allowed", "keep_interruption_message"}); !s) {
    return s;
  }
  if (auto s = read_bool(**interruption, ip, "allowed", flow.interruption_allowed); !s) return s;
  return read_bool(**interruption, ip, "keep_interruption_message",
                   flow.keep_interruption_message);
}

Status parse_agent_privacy(const json& agent, const std::string& path, bool& opt_out) {
  auto object = object_at(agent, path, "privacy_settings");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  std::string p = join_path(path, "privacy_settings");
  if (auto s = check_keys(**object, p, {"opt_out_data_collection"}); !s) return s;
  return read_bool(**object, p, "opt_out_data_collection", opt_out);
}

Status parse_agent_vocabulary(const json& agent, const std::string& path,
                              std::vector<std::string>& keywords) {
  auto object = object_at(agent, path, "custom_vocabulary");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  std::string p = join_path(path, "custom_vocabulary");
  if (auto s = check_keys(**object, p, {"keywords"}); !s) return s;
  return read_string_list(**object, p, "keywords", keywords, 1000, 128);
}

Status parse_agent_texts(const json& object, const std::string& path, AgentConfig& agent) {
  struct Field {
    const char* key;
    std::string* out;
    Presence presence;
    std::size_t max;
  };
  const Field fields[] = {
      {"name", &agent.name, Presence::optional, max_short_bytes},
      {"prompt", &agent.prompt, Presence::optional, max_text_bytes},
      {"first_message", &agent.first_message, Presence::optional, max_text_bytes},
      {"language", &agent.language, Presence::non_empty, 35},
      {"fallback_reply", &agent.fallback_reply, Presence::non_empty, max_text_bytes},
      {"resume_message", &agent.resume_message, Presence::optional, max_text_bytes},
      {"secret", &agent.secret, Presence::optional, max_short_bytes},
  };
  for (const Field& field : fields) {
    if (auto s = read_string(object, path, field.key, *field.out, field.presence, field.max);
        !s) {
      return s;
    }
  }
  return ok_status();
}

Status parse_agent_access(const json& object, const std::string& path, AgentConfig& agent) {
  if (auto s = read_string_list(object, path, "public_keys", agent.public_keys, 64, 256); !s) {
    return s;
  }
  if (agent.public_keys.empty()) {
    return invalid(join_path(path, "public_keys"), "needs at least one key");
  }
  if (auto s = read_string_list(object, path, "allowed_origins", agent.allowed_origins, 256,
                                max_short_bytes);
      !s) {
    return s;
  }
  return check_origins(agent.allowed_origins, join_path(path, "allowed_origins"));
}

Status parse_agent_behaviour(const json& object, const std::string& path, AgentConfig& agent) {
  if (auto s = read_object_list(object, path, "tools", 128, agent.tools, parse_tool); !s) {
    return s;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < agent.tools.size(); ++i) {
    if (!names.insert(agent.tools[i].name).second) {
      return invalid(index_path(join_path(path, "tools"), i) + ".name",
                     to_json_text(json(agent.tools[i].name)) + " is a duplicate tool name");
    }
  }
  auto parse = [&](const json& item, const std::string& item_path) {
    return parse_rule(item, item_path, agent.tools);
  };
  return read_object_list(object, path, "rules", 1024, agent.rules, parse);
}

Status parse_agent_integrations(const json& object, const std::string& path,
                                AgentConfig& agent) {
  if (auto s = read_webhook(object, path, "prefetch_data_webhook", agent.prefetch_data_webhook);
      !s) {
    return s;
  }
  if (auto s = read_webhook(object, path, "session_data_webhook", agent.session_data_webhook);
      !s) {
    return s;
  }
  if (auto s = read_string(object, path, "custom_llm_websocket", agent.custom_llm_websocket,
                           Presence::optional, max_short_bytes);
      !s) {
    return s;
  }
  if (agent.custom_llm_websocket.empty()) return ok_status();
  return check_url(join_path(path, "custom_llm_websocket"), agent.custom_llm_websocket,
                   {"ws", "wss"});
}

Result<AgentConfig> parse_agent(const json& object, const std::string& path) {
  if (auto s = check_keys(
          object, path,
          {"id", "name", "prompt", "first_message", "language", "voice", "tools", "rules",
           "fallback_reply", "resume_message", "privacy_settings", "session_timeout", "flow",
           "resume_window", "retention", "public_keys", "allowed_origins", "secret",
           "prefetch_data_webhook", "session_data_webhook", "custom_llm_websocket",
           "custom_vocabulary"});
      !s) {
    return s.error();
  }
  AgentConfig agent;
  if (auto s = read_string(object, path, "id", agent.id, Presence::required, 64); !s) {
    return s.error();
  }
  if (!is_valid_agent_id(agent.id)) {
    return invalid(join_path(path, "id"),
                   to_json_text(json(agent.id)) + " must be 1 to 64 of [A-Za-z0-9_-]");
  }
  Status steps[] = {
      parse_agent_texts(object, path, agent),
      parse_agent_access(object, path, agent),
      parse_agent_voice(object, path, agent.voice),
      parse_agent_behaviour(object, path, agent),
      parse_agent_privacy(object, path, agent.opt_out_data_collection),
      parse_agent_timeout(object, path, agent.session_timeout),
      parse_agent_flow(object, path, agent.flow),
      read_u32(object, path, "resume_window", agent.resume_window_s, 1, max_seconds_per_year),
      read_u32(object, path, "retention", agent.retention_s, 1, 10 * max_seconds_per_year),
      parse_agent_integrations(object, path, agent),
      parse_agent_vocabulary(object, path, agent.custom_vocabulary),
  };
  for (auto& step : steps) {
    if (!step) return step.error();
  }
  return agent;
}

// ---- server

Status parse_limits(const json& server, const std::string& path, ServerLimits& limits) {
  auto object = object_at(server, path, "limits");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  std::string p = join_path(path, "limits");
  if (auto s = check_keys(**object, p,
                          {"max_header_bytes", "max_body_bytes", "max_ws_message_bytes",
                           "max_send_queue", "idle_timeout_s", "handshake_timeout_s",
                           "max_connections", "max_audio_bytes_per_s",
                           "max_text_messages_per_s"});
      !s) {
    return s;
  }
  const json& o = **object;
  Status steps[] = {
      read_u32(o, p, "max_header_bytes", limits.max_header_bytes, 1024, 1024 * 1024),
      read_u32(o, p, "max_body_bytes", limits.max_body_bytes, 1024, 64 * 1024 * 1024),
      read_u32(o, p, "max_ws_message_bytes", limits.max_ws_message_bytes, 1024,
               16 * 1024 * 1024),
      read_u32(o, p, "max_send_queue", limits.max_send_queue, 1, 65536),
      read_u32(o, p, "idle_timeout_s", limits.idle_timeout_s, 1, 86400),
      read_u32(o, p, "handshake_timeout_s", limits.handshake_timeout_s, 1, 600),
      read_u32(o, p, "max_connections", limits.max_connections, 1, 1000000),
      read_u32(o, p, "max_audio_bytes_per_s", limits.max_audio_bytes_per_s, 1000,
               10 * 1024 * 1024),
      read_u32(o, p, "max_text_messages_per_s", limits.max_text_messages_per_s, 1, 10000),
  };
  for (auto& step : steps) {
    if (!step) return step;
  }
  return ok_status();
}

// A whole number (possibly negative) from min to max.
Status read_i32(const json& parent, const std::string& parent_path, const char* key,
                std::int32_t& out, std::int32_t min, std::int32_t max) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  const std::string path = join_path(parent_path, key);
  const std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
  if (!it->is_number_integer()) {
    return invalid(path, std::string("must be a whole number ") + range + ", not " +
                             (it->is_number() ? to_json_text(*it) : json_type_name(*it)));
  }
  const bool in_range = it->is_number_unsigned()
                            ? it->get<std::uint64_t>() <= static_cast<std::uint64_t>(max)
                            : it->get<std::int64_t>() >= min && it->get<std::int64_t>() <= max;
  if (!in_range) return invalid(path, to_json_text(*it) + " is out of range: must be " + range);
  out = static_cast<std::int32_t>(it->get<std::int64_t>());
  return ok_status();
}

// A number strictly between low and high.
Status read_fraction(const json& parent, const std::string& parent_path, const char* key,
                     double& out, double low, double high) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) return ok_status();
  const std::string path = join_path(parent_path, key);
  const std::string range = "above " + to_json_text(json(low)) + " and below " + to_json_text(json(high));
  if (!it->is_number()) return invalid(path, std::string("must be a number ") + range + ", not " + json_type_name(*it));
  const double v = it->get<double>();
  if (!(v > low && v < high)) return invalid(path, to_json_text(*it) + " is out of range: must be " + range);
  out = v;
  return ok_status();
}

Status parse_speech(const json& server, const std::string& path, SpeechConfig& speech) {
  auto object = object_at(server, path, "speech");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  std::string p = join_path(path, "speech");
  if (auto s = check_keys(**object, p,
                          {"enabled", "model_dir", "keyword_hints", "hint_weight", "vocabulary", "workers",
                           "queue_limit",
                           "max_decoders", "vad_hangover_ms", "vad_onset_ms",
                           "vad_threshold_db", "echo_gate_db", "echo_tail_ms",
                           "max_utterance_s"});
      !s) {
    return s;
  }
  const json& o = **object;
  Status steps[] = {
      read_bool(o, p, "enabled", speech.enabled),
      read_string(o, p, "model_dir", speech.model_dir, Presence::non_empty, 4096),
      read_bool(o, p, "keyword_hints", speech.keyword_hints),
      read_fraction(o, p, "hint_weight", speech.hint_weight, 0.0, 1.0),
      read_u32(o, p, "vocabulary", speech.vocabulary, 0, 200000),
      read_u32(o, p, "workers", speech.workers, 1, 64),
      read_u32(o, p, "queue_limit", speech.queue_limit, 1, 100000),
      read_u32(o, p, "max_decoders", speech.max_decoders, 1, 256),
      read_u32(o, p, "vad_hangover_ms", speech.vad_hangover_ms, 100, 5000),
      read_u32(o, p, "vad_onset_ms", speech.vad_onset_ms, 10, 500),
      read_u32(o, p, "vad_threshold_db", speech.vad_threshold_db, 3, 40),
      read_i32(o, p, "echo_gate_db", speech.echo_gate_db, -40, 20),
      read_u32(o, p, "echo_tail_ms", speech.echo_tail_ms, 0, 5000),
      read_u32(o, p, "max_utterance_s", speech.max_utterance_s, 1, 120),
  };
  for (auto& step : steps) {
    if (!step) return step;
  }
  return ok_status();
}

std::string resolve_path(const std::string& path, std::string_view base_dir) {
  if (path.empty() || path == ":memory:" || path.front() == '/' || base_dir.empty()) {
    return path;
  }
  std::string base(base_dir);
  if (base.back() != '/') base += '/';
  return base + path;
}

Status parse_server(const json& root, ServerConfig& server, std::string_view base_dir) {
  auto object = object_at(root, "", "server");
  if (!object) return object.error();
  if (*object == nullptr) return ok_status();
  const json& o = **object;
  const std::string p = "server";
  if (auto s = check_keys(o, p,
                          {"listen", "database", "web_root", "wasm_root", "admin_key",
                           "log_level", "webhook_max_attempts", "limits", "speech"});
      !s) {
    return s;
  }
  Status steps[] = {
      read_string(o, p, "listen", server.listen, Presence::non_empty, 300),
      read_string(o, p, "database", server.database, Presence::non_empty, 4096),
      read_string(o, p, "web_root", server.web_root, Presence::optional, 4096),
      read_string(o, p, "wasm_root", server.wasm_root, Presence::optional, 4096),
      read_string(o, p, "admin_key", server.admin_key, Presence::optional, 256),
      read_string(o, p, "log_level", server.log_level, Presence::non_empty, 16),
      read_u32(o, p, "webhook_max_attempts", server.webhook_max_attempts, 1, 100),
      parse_limits(o, p, server.limits),
      parse_speech(o, p, server.speech),
  };
  for (auto& step : steps) {
    if (!step) return step;
  }
  if (auto listen = parse_listen_address(server.listen); !listen) {
    return invalid("server.listen", listen.error().message);
  }
  static const char* const levels[] = {"debug", "info", "warn", "error"};
  if (std::none_of(std::begin(levels), std::end(levels),
                   [&](const char* l) { return server.log_level == l; })) {
    return invalid("server.log_level", to_json_text(json(server.log_level)) +
                                           " must be one of debug, info, warn, error");
  }
  if (!server.admin_key.empty() && !is_header_value(server.admin_key)) {
    return invalid("server.admin_key", "must not contain control characters");
  }
  server.database = resolve_path(server.database, base_dir);
  server.web_root = resolve_path(server.web_root, base_dir);
  server.wasm_root = resolve_path(server.wasm_root, base_dir);
  server.speech.model_dir = resolve_path(server.speech.model_dir, base_dir);
  return ok_status();
}

Status parse_agents(const json& root, std::vector<AgentConfig>& agents) {
  auto it = root.find("agents");
  if (it == root.end() || it->is_null()) return invalid("agents", "is required");
  if (auto s = read_object_list(root, "", "agents", 1000, agents, parse_agent); !s) return s;
  if (agents.empty()) return invalid("agents", "needs at least one agent");
  std::set<std::string> ids;
  for (std::size_t i = 0; i < agents.size(); ++i) {
    if (!ids.insert(agents[i].id).second) {
      return invalid(index_path("agents", i) + ".id",
                     to_json_text(json(agents[i].id)) + " is a duplicate agent id");
    }
  }
  return ok_status();
}

}  // namespace

// ---- AgentConfig / HostConfig

const ToolConfig* AgentConfig::find_tool(std::string_view tool_name) const {
  for (const auto& tool : tools) {
    if (tool.name == tool_name) return &tool;
  }
  return nullptr;
}

bool AgentConfig::origin_allowed(std::optional<std::string_view> origin) const {
  if (!origin) return true;  // a native client sends no Origin
  // "null" (sandboxed frames, file://) and anything else unparsable never matches.
  auto given = split_origin(*origin, false);
  if (!given) return false;
  for (const auto& allowed_text : allowed_origins) {
    auto allowed = split_origin(allowed_text, true);
    if (!allowed || allowed->scheme != given->scheme || allowed->host != given->host) continue;
    if (allowed->port == "*" || allowed->port == given->port) return true;
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
  if (auto s = check_keys(*root, "", {"server", "agents"}); !s) return s.error();
  HostConfig config;
  if (auto s = parse_server(*root, config.server, base_dir); !s) return s.error();
  if (auto s = parse_agents(*root, config.agents); !s) return s.error();
  return config;
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
