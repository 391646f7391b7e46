// getState(integrationId?): one snapshot of what a widget integration is doing, assembled
// from the session store (what is remembered), the resume flow's outcome (how the session
// came to be) and the live call, if any (what is happening now). The JS SDK returns it to the
// page as `{sessionID, agentID, ...}`; the embed loader mirrors it to the host page.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "parley/call.hpp"
#include "parley/json.hpp"
#include "parley/session_store.hpp"

namespace parley {

// How the session in use came about, as the resume flow (or a call) decided it.
struct SessionOrigin {
  bool resumed = false;                        // a stored / URL session id was still valid
  std::optional<std::string> continued_from;   // a new session continuing an older one
};

struct WidgetState {
  std::string integration_id;                  // "" = the default integration
  std::optional<std::string> session_id;       // the id in use; none before any session
  std::optional<std::string> agent_id;
  ConnectionState connection = ConnectionState::idle;
  AgentState agent = AgentState::idle;
  bool muted = false;
  bool resumed = false;
  std::optional<std::string> continued_from;
  std::optional<std::int64_t> last_activity_ms;
};

// Rules: a live call that has its session id (after `onready`) wins over the stored id,
// because a voice call that continues a session changes the id in use (DESIGN §5 step 5);
// the call's continued_from likewise wins over the resume flow's. Without a call, connection
// and agent state are idle and muted is false. A corrupt stored record counts as none.
WidgetState get_state(std::string_view integration_id, const StoredSession& stored,
                      const SessionOrigin& origin, const CallSnapshot* call);

// Convenience: loads the record from `store` first.
WidgetState get_state(const SessionStore& store, std::string_view integration_id,
                      const SessionOrigin& origin, const CallSnapshot* call);

// The JS shape: {"integrationID", "sessionID", "agentID", "connection", "agentState", "muted",
// "resumed", "continuedFrom", "lastActivity"}; absent values are null.
json to_json(const WidgetState& state);

}  // namespace parley
