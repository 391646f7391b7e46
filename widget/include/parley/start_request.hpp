// The start request: what `client.start(...)` was asked for, normalised the way the Millis web
// SDK does it, and the `initiate` message (DESIGN §3) that carries it to the server.
//
// What @millisai/web-sdk 1.0.15 (the latest on npm) really does, read from its dist JS:
//  - Signature: start(payload: IStartPayload | AgentConfig | string, metadata?: object,
//    includeMetadataInPrompt?: boolean).
//  - Payload form: the first argument is taken as a full start payload when it is an object
//    with an `agent` key (or a `call_id` key) - the test is `typeof p === "object" &&
//    ("agent" in p || "call_id" in p)`. The payload is then used AS IS and the second and
//    third arguments are IGNORED entirely, even when the payload has no `metadata`: the
//    payload always wins.
//  - Otherwise a string is an agent id -> {agent: {agent_id: p}}; anything else (in practice
//    an object without `agent`) is a temporary agent config -> {agent: {agent_config: p}}.
//    The second argument is copied to `metadata` only when truthy, the third to
//    `include_metadata_in_prompt` only when truthy: `false` is never sent in this form, and
//    `session_continuation` cannot be given in this form at all.
//  - On socket open it sends JSON.stringify({method: "initiate", data: {public_key, agent,
//    metadata, include_metadata_in_prompt, session_continuation}}) in that key order;
//    JSON.stringify drops undefined fields, so absent options are absent on the wire (an
//    explicit null in a payload would be sent as null). `agent` is forwarded untouched:
//    {"agent_id": "..."} or {"agent_config": {...the config object...}}.
//  - Defaults: no metadata, include_metadata_in_prompt absent (the server treats it as
//    false), no continuation. The SDK itself validates nothing.
//
// Where we differ, on purpose (DESIGN §9: a clear error instead of a confusing server-side
// refusal): types are checked and errors name the field; an explicit null is read as
// "absent"; `agent` must hold agent_id, agent_config or both (DESIGN §3: with both, the config
// overrides that agent's fields, as far as the agent allows); keys other than the
// five above are dropped, as the SDK drops them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "parley/json.hpp"
#include "parley/result.hpp"

namespace parley {

struct StartRequest {
  // At least one is set: a non-empty agent id, an agent config (a JSON object), or both.
  std::optional<std::string> agent_id;
  std::optional<json> agent_config;
  // A JSON object that passed validate_metadata, or null when no metadata was given.
  json metadata;
  // Absent when not given (Millis positional form never sends `false`).
  std::optional<bool> include_metadata_in_prompt;
  // session_continuation.session_id, when the request continues a past session.
  std::optional<std::string> continue_session_id;

  friend bool operator==(const StartRequest& a, const StartRequest& b) {
    return a.agent_id == b.agent_id && a.agent_config == b.agent_config &&
           a.metadata == b.metadata &&
           a.include_metadata_in_prompt == b.include_metadata_in_prompt &&
           a.continue_session_id == b.continue_session_id;
  }
  friend bool operator!=(const StartRequest& a, const StartRequest& b) { return !(a == b); }
};

// start(first, metadata_arg, include_arg) with a JSON null standing for an absent argument.
// Error codes (messages name the field and the rule):
//   start_missing_agent, bad_agent, bad_agent_id, bad_agent_config,
//   bad_include_metadata_in_prompt, bad_session_continuation, and the metadata_* codes of
//   validate_metadata.
Result<StartRequest> normalize_start(const json& first, const json& metadata_arg = nullptr,
                                     const json& include_arg = nullptr);

// Reads a start payload {agent, metadata?, include_metadata_in_prompt?,
// session_continuation?} - the payload form of start() and the `data` of an `initiate`
// message share these rules. `where` prefixes the field names in errors ("data." for a
// wire message). Other keys are ignored.
Result<StartRequest> parse_start_payload(const json& payload, std::string_view where = "");

// The start payload as a JSON object (absent fields left out), e.g. for storing it.
json start_payload_json(const StartRequest& request);

// The DESIGN §3 `initiate` text frame for `request`, one line, keys in the Millis SDK's order
// (method, data: public_key, agent, metadata, include_metadata_in_prompt,
// session_continuation). An empty public key is left out (as the SDK leaves out an undefined
// one); the server then refuses the call.
std::string make_initiate(const StartRequest& request, std::string_view public_key);

}  // namespace parley
