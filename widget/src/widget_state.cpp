#include "parley/widget_state.hpp"

namespace parley {

WidgetState get_state(std::string_view integration_id, const StoredSession& stored,
                      const SessionOrigin& origin, const CallSnapshot* call) {
  WidgetState s;
  s.integration_id = std::string(integration_id);
  s.resumed = origin.resumed;
  s.continued_from = origin.continued_from;
  if (stored.record) {
    s.session_id = stored.record->session_id;
    s.agent_id = stored.record->agent_id;
    s.last_activity_ms = stored.record->last_activity_ms;
    if (!s.continued_from) s.continued_from = stored.record->continued_from;
  }
  if (call) {
    s.connection = call->connection;
    s.agent = call->agent;
    s.muted = call->muted;
    if (!call->session_id.empty()) {
      if (s.session_id && *s.session_id != call->session_id) s.resumed = false;
      s.session_id = call->session_id;
      if (call->continued_from) s.continued_from = call->continued_from;
    }
  }
  return s;
}

WidgetState get_state(const SessionStore& store, std::string_view integration_id,
                      const SessionOrigin& origin, const CallSnapshot* call) {
  return get_state(integration_id, store.load(integration_id), origin, call);
}

json to_json(const WidgetState& s) {
  auto opt = [](const auto& v) -> json { return v ? json(*v) : json(nullptr); };
  return json{{"integrationID", s.integration_id},
              {"sessionID", opt(s.session_id)},
              {"agentID", opt(s.agent_id)},
              {"connection", std::string(to_string(s.connection))},
              {"agentState", std::string(to_string(s.agent))},
              {"muted", s.muted},
              {"resumed", s.resumed},
              {"continuedFrom", opt(s.continued_from)},
              {"lastActivity", opt(s.last_activity_ms)}};
}

}  // namespace parley
