#include "parley/start_request.hpp"

#include <string>

#include "parley/metadata.hpp"

namespace parley {
namespace {

std::string field(std::string_view where, std::string_view name) {
  std::string out(where);
  out += name;
  return out;
}

Error must_be(std::string code, const std::string& what, std::string_view rule, const json& got) {
  return make_error(std::move(code),
                    what + " must be " + std::string(rule) + ", not " + json_type_name(got));
}

// agent: {"agent_id": "..."} | {"agent_config": {...}} | both (DESIGN §3: agent_config alone is
// a temporary agent on the key's agent; with agent_id, an override of that agent).
Status read_agent(const json& agent, std::string_view where, StartRequest& out) {
  const std::string name = field(where, "agent");
  if (agent.is_null()) {
    return make_error("start_missing_agent",
                      name + " is missing: give " + name + ".agent_id or " + name +
                          ".agent_config");
  }
  if (!agent.is_object()) return must_be("bad_agent", name, "an object", agent);
  const auto id = agent.find("agent_id");
  const auto config = agent.find("agent_config");
  const bool has_id = id != agent.end() && !id->is_null();
  const bool has_config = config != agent.end() && !config->is_null();
  if (!has_id && !has_config) {
    return make_error("start_missing_agent",
                      name + " has neither agent_id nor agent_config: give one (or both)");
  }
  if (has_id) {
    if (!id->is_string()) return must_be("bad_agent_id", name + ".agent_id", "a string", *id);
    if (id->get_ref<const std::string&>().empty()) {
      return make_error("bad_agent_id", name + ".agent_id must not be empty");
    }
    out.agent_id = id->get<std::string>();
  }
  if (has_config) {
    if (!config->is_object()) {
      return must_be("bad_agent_config", name + ".agent_config", "a JSON object", *config);
    }
    out.agent_config = *config;
  }
  return ok_status();
}

Status read_include(const json& value, const std::string& name, StartRequest& out) {
  if (value.is_null()) return ok_status();
  if (!value.is_boolean()) {
    return must_be("bad_include_metadata_in_prompt", name, "a boolean", value);
  }
  out.include_metadata_in_prompt = value.get<bool>();
  return ok_status();
}

Status read_continuation(const json& value, std::string_view where, StartRequest& out) {
  if (value.is_null()) return ok_status();
  const std::string name = field(where, "session_continuation");
  if (!value.is_object()) {
    return must_be("bad_session_continuation", name, "an object with a session_id", value);
  }
  const auto id = value.find("session_id");
  if (id == value.end() || id->is_null()) {
    return make_error("bad_session_continuation", name + ".session_id is missing");
  }
  if (!id->is_string()) {
    return must_be("bad_session_continuation", name + ".session_id", "a string", *id);
  }
  if (id->get_ref<const std::string&>().empty()) {
    return make_error("bad_session_continuation", name + ".session_id must not be empty");
  }
  out.continue_session_id = id->get<std::string>();
  return ok_status();
}

const json& member_or_null(const json& object, const char* key) {
  static const json null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

// Appends `"key":value` to an object being written by hand (to keep the Millis key order,
// which nlohmann's sorted objects would lose).
void append_field(std::string& out, std::string_view key, const json& value) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += key;
  out += "\":";
  out += to_json_text(value);
}

}  // namespace

Result<StartRequest> parse_start_payload(const json& payload, std::string_view where) {
  if (!payload.is_object()) {
    std::string name = where.empty() ? "start payload" : std::string(where.substr(0, where.size() - 1));
    return must_be("bad_agent", name, "an object", payload);
  }
  StartRequest request;
  if (auto s = read_agent(member_or_null(payload, "agent"), where, request); !s) {
    return std::move(s).error();
  }
  const json& metadata = member_or_null(payload, "metadata");
  if (auto s = validate_metadata(metadata); !s) return std::move(s).error();
  request.metadata = metadata;
  if (auto s = read_include(member_or_null(payload, "include_metadata_in_prompt"),
                            field(where, "include_metadata_in_prompt"), request);
      !s) {
    return std::move(s).error();
  }
  if (auto s = read_continuation(member_or_null(payload, "session_continuation"), where, request);
      !s) {
    return std::move(s).error();
  }
  return request;
}

Result<StartRequest> normalize_start(const json& first, const json& metadata_arg,
                                     const json& include_arg) {
  if (first.is_null()) {
    return make_error("start_missing_agent",
                      "start needs an agent id, an agent config or a start payload as its "
                      "first argument");
  }
  // The SDK's own test: an object with `agent` (or `call_id`) is a full payload, and then the
  // other two arguments are ignored.
  if (first.is_object() && (first.contains("agent") || first.contains("call_id"))) {
    return parse_start_payload(first);
  }
  StartRequest request;
  if (first.is_string()) {
    if (first.get_ref<const std::string&>().empty()) {
      return make_error("bad_agent_id", "agent id (first argument) must not be empty");
    }
    request.agent_id = first.get<std::string>();
  } else if (first.is_object()) {
    request.agent_config = first;
  } else {
    return must_be("bad_agent_config", "agent config (first argument)", "a JSON object", first);
  }
  if (auto s = validate_metadata(metadata_arg); !s) return std::move(s).error();
  request.metadata = metadata_arg;
  if (auto s = read_include(include_arg, "includeMetadataInPrompt (third argument)", request); !s) {
    return std::move(s).error();
  }
  // The SDK copies the flag only when truthy: `false` is never sent in this form.
  if (request.include_metadata_in_prompt == false) request.include_metadata_in_prompt.reset();
  return request;
}

json start_payload_json(const StartRequest& request) {
  json payload = json::object();
  if (request.agent_id) payload["agent"]["agent_id"] = *request.agent_id;
  if (request.agent_config) payload["agent"]["agent_config"] = *request.agent_config;
  if (!request.metadata.is_null()) payload["metadata"] = request.metadata;
  if (request.include_metadata_in_prompt) {
    payload["include_metadata_in_prompt"] = *request.include_metadata_in_prompt;
  }
  if (request.continue_session_id) {
    payload["session_continuation"] = {{"session_id", *request.continue_session_id}};
  }
  return payload;
}

std::string make_initiate(const StartRequest& request, std::string_view public_key) {
  std::string data = "{";
  if (!public_key.empty()) append_field(data, "public_key", json(std::string(public_key)));
  if (request.agent_id && request.agent_config) {
    // Key order as written: agent_id, then agent_config.
    append_field(data, "agent", json::object());
    data.pop_back();  // the "}" of the empty object
    append_field(data, "agent_id", json(*request.agent_id));
    append_field(data, "agent_config", *request.agent_config);
    data += '}';
  } else if (request.agent_id) {
    append_field(data, "agent", json{{"agent_id", *request.agent_id}});
  } else if (request.agent_config) {
    append_field(data, "agent", json{{"agent_config", *request.agent_config}});
  }
  if (!request.metadata.is_null()) append_field(data, "metadata", request.metadata);
  if (request.include_metadata_in_prompt) {
    append_field(data, "include_metadata_in_prompt", json(*request.include_metadata_in_prompt));
  }
  if (request.continue_session_id) {
    append_field(data, "session_continuation",
                 json{{"session_id", *request.continue_session_id}});
  }
  data += '}';
  return "{\"method\":\"initiate\",\"data\":" + data + "}";
}

}  // namespace parley
