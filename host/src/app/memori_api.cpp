#include "memori_api.hpp"

#include <cstdio>
#include <utility>

#include "parley/chatlog.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/log.hpp"
#include "parley/memori_date.hpp"
#include "parley/metadata.hpp"
#include "parley/session_store.hpp"

namespace parley::host {

std::string iso8601_utc(std::int64_t epoch_ms) {
  std::int64_t days = epoch_ms >= 0 ? epoch_ms / 86400000 : -((-epoch_ms + 86399999) / 86400000);
  std::int64_t ms_of_day = epoch_ms - days * 86400000;
  std::int64_t year = 0;
  int month = 0, day = 0;
  civil_from_days(days, year, month, day);
  char text[40];
  std::snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
                static_cast<long long>(year), month, day, static_cast<int>(ms_of_day / 3600000),
                static_cast<int>(ms_of_day / 60000 % 60), static_cast<int>(ms_of_day / 1000 % 60),
                static_cast<int>(ms_of_day % 1000));
  return text;
}

namespace {

constexpr std::size_t max_text_bytes = 8 * 1024;

struct Outcome {
  int result_code;
  unsigned status;
};

// Error code of the session service → result code and HTTP status (README "Result codes").
Outcome outcome_of(const std::string& code) {
  if (code == "expired") return {-103, 410};
  if (code == "not_found" || code == "deleted") return {-263, 404};
  if (code == "unknown_agent") return {-404, 404};
  if (code == "origin_not_allowed") return {-403, 403};
  if (code.rfind("token_", 0) == 0) return {-401, 401};
  if (code == "db_error" || code == "internal" || code == "agent_unavailable") return {-500, 500};
  return {-400, 400};  // bad_request, chat_line_id, metadata_*, chat_log_filters_invalid, ...
}

json envelope(int result_code, const std::string& message) {
  return json{{"requestID", new_session_id()},
              {"requestDateTime", iso8601_utc(now_epoch_ms())},
              {"resultCode", result_code},
              {"resultMessage", message}};
}

bool origin_allowed_by_any(const HostConfig& config, std::optional<std::string_view> origin) {
  for (const auto& agent : config.agents)
    if (agent.origin_allowed(origin)) return true;
  return false;
}

HttpResponse respond(const HostConfig& config, const HttpRequest& request, unsigned status,
                     const json& body) {
  HttpResponse response;
  response.status = status;
  response.body = to_json_text(body);
  auto origin = request.header("origin");
  if (origin && origin_allowed_by_any(config, origin)) {
    response.headers.emplace_back("Access-Control-Allow-Origin", std::string(*origin));
    response.headers.emplace_back("Access-Control-Allow-Credentials", "true");
    response.headers.emplace_back("Vary", "Origin");
  }
  return response;
}

HttpResponse ok(const HostConfig& config, const HttpRequest& request, json body) {
  json out = envelope(0, "Ok");
  for (auto it = body.begin(); it != body.end(); ++it) out[it.key()] = std::move(it.value());
  return respond(config, request, 200, out);
}

HttpResponse failed(const HostConfig& config, const HttpRequest& request, const Error& error) {
  const Outcome o = outcome_of(error.code);
  json body = envelope(o.result_code, error.message);
  body["errorCode"] = error.code;  // ours: the stable machine-readable code
  return respond(config, request, o.status, body);
}

Error bad_request(const std::string& message) { return make_error("bad_request", message); }

// Memori context vars are strings; ours may be any JSON, written as its JSON text.
json string_context_vars(const json& variables) {
  json out = json::object();
  if (!variables.is_object()) return out;
  for (auto it = variables.begin(); it != variables.end(); ++it)
    out[it.key()] = it->is_string() ? it->get<std::string>() : to_json_text(*it);
  return out;
}

json current_state(const SessionRecord& session, const std::string& emission) {
  return json{{"state", "R1"},
              {"stateName", "WaitingForInput"},
              {"previousState", ""},
              {"emission", emission},
              {"completion", false},
              {"continuationEmitted", false},
              {"acceptsTimeout", false},
              {"acceptsMedia", false},
              {"hints", json::array()},
              {"contextVars", string_context_vars(session.variables)},
              {"currentDate", iso8601_utc(now_epoch_ms())}};
}

json chat_log_json(const SessionRecord& session, const std::vector<ChatLine>& lines) {
  json out_lines = json::array();
  for (const auto& line : lines) {
    json l = {{"timestamp", iso8601_utc(line.timestamp_ms)},
              {"inbound", line.inbound},
              {"text", line.text}};
    if (!line.emitter.empty()) l["emitter"] = line.emitter;
    if (!line.line_id.empty()) l["lineID"] = line.line_id;  // ours: names one line
    if (line.context_vars.is_object() && !line.context_vars.empty())
      l["contextVars"] = line.context_vars;
    out_lines.push_back(std::move(l));
  }
  return json{{"chatLogID", session.chat_log_id},
              {"sessionID", session.id},
              {"memoriID", session.agent_id},
              {"timestamp", iso8601_utc(session.created_ms)},
              {"lines", std::move(out_lines)}};
}

Result<json> parse_body(const HttpRequest& request) {
  if (request.body.empty()) return bad_request("request body: expected a JSON object, got nothing");
  auto body = parse_json(request.body, "request body", 32);
  if (!body) return bad_request(body.error().message);
  if (!body->is_object())
    return bad_request(std::string("request body: expected a JSON object, got ") +
                       json_type_name(*body));
  return body;
}

// An optional string member; a wrong type is an error naming it.
Result<std::string> optional_string(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return bad_request(std::string(name) + ": expected a string, got " + json_type_name(*it));
  return it->get<std::string>();
}

// A path segment that must be a session id; anything else cannot name a session.
bool valid_id_segment(const std::string& id) { return is_valid_session_id(id); }

std::vector<std::string> split_path(std::string_view rest) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= rest.size()) {
    std::size_t slash = rest.find('/', start);
    if (slash == std::string_view::npos) slash = rest.size();
    parts.emplace_back(rest.substr(start, slash - start));
    start = slash + 1;
  }
  if (!parts.empty() && parts.back().empty()) parts.pop_back();
  return parts;
}

}  // namespace

MemoriApi::MemoriApi(SessionService& sessions, Metrics& metrics)
    : sessions_(sessions), metrics_(metrics) {}

void MemoriApi::handle(const HttpRequest& request, HttpDone done) {
  const HostConfig& config = sessions_.config();
  if (request.method == "OPTIONS") {
    HttpResponse response = respond(config, request, 204, json());
    response.body.clear();
    response.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS");
    response.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type");
    response.headers.emplace_back("Access-Control-Max-Age", "600");
    return done(std::move(response));
  }
  const auto parts = split_path(std::string_view(request.path).substr(prefix.size()));
  const std::string& method = request.method;
  auto not_found = [&] {
    done(failed(config, request,
                make_error("not_found", "no such route: " + method + " " +
                                            (request.path.size() > 80
                                                 ? request.path.substr(0, 80) + "..."
                                                 : request.path))));
  };
  if (parts.empty()) return not_found();
  const std::string& route = parts[0];
  auto id_or_404 = [&](std::size_t i) -> const std::string* {
    if (parts.size() <= i || !valid_id_segment(parts[i])) return nullptr;
    return &parts[i];
  };
  if (route == "Session" && parts.size() == 1 && method == "POST")
    return open_session(request, std::move(done));
  if (route == "Session" && parts.size() == 2 &&
      (method == "GET" || method == "DELETE" || method == "PATCH")) {
    const std::string* id = id_or_404(1);
    if (!id) return done(failed(config, request, make_error("not_found", "no such session")));
    if (method == "GET") return get_session(request, *id, std::move(done));
    if (method == "PATCH") return patch_session(request, *id, std::move(done));
    return delete_session(request, *id, std::move(done));
  }
  if (route == "TextEnteredEvent" && parts.size() == 2 && method == "POST") {
    const std::string* id = id_or_404(1);
    if (!id) return done(failed(config, request, make_error("not_found", "no such session")));
    return text_entered(request, *id, std::move(done));
  }
  if (route == "SessionChatLogs" && parts.size() == 3 && method == "GET") {
    const std::string* id = id_or_404(1);
    const std::string* log_id = id_or_404(2);
    if (!id || !log_id)
      return done(failed(config, request, make_error("not_found", "no such session")));
    return session_chat_logs(request, *id, *log_id, std::move(done));
  }
  if (route == "UserChatLogsByTokenPaged" && parts.size() == 1 && method == "POST")
    return user_chat_logs(request, std::move(done));
  not_found();
}

void MemoriApi::open_session(const HttpRequest& request, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto fail = [&](const Error& e) { done(failed(config, request, e)); };
  auto body = parse_body(request);
  if (!body) return fail(body.error());
  auto memori_id = optional_string(*body, "memoriID");
  if (!memori_id) return fail(memori_id.error());
  if (memori_id->empty()) return fail(bad_request("memoriID: is required"));

  OpenRequest open;
  open.channel = "rest";
  open.agent_id = *memori_id;
  if (auto origin = request.header("origin")) open.origin = std::string(*origin);
  if (auto it = body->find("initialContextVars"); it != body->end() && !it->is_null()) {
    if (auto valid = validate_metadata(*it); !valid)
      return fail(bad_request("initialContextVars: " + valid.error().message));
    open.metadata = *it;
  }
  if (auto it = body->find("include_metadata_in_prompt"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean())
      return fail(bad_request(std::string("include_metadata_in_prompt: expected a boolean, got ") +
                              json_type_name(*it)));
    open.include_metadata_in_prompt = it->get<bool>();
  }
  auto from_session = optional_string(*body, "continueFromSessionID");
  if (!from_session) return fail(from_session.error());
  auto from_log = optional_string(*body, "continueFromChatLogID");
  if (!from_log) return fail(from_log.error());
  if (!from_session->empty() && !from_log->empty())
    return fail(bad_request(
        "continueFromSessionID and continueFromChatLogID: give one of them, not both"));
  if (!from_session->empty() && !valid_id_segment(*from_session))
    return fail(bad_request("continueFromSessionID: not a session id (1-128 of A-Z a-z 0-9 _ -)"));
  if (!from_log->empty() && !valid_id_segment(*from_log))
    return fail(bad_request("continueFromChatLogID: not a chat log id (1-128 of A-Z a-z 0-9 _ -)"));
  open.continue_session_id = *from_session;
  open.continue_chat_log_id = *from_log;
  if (auto it = body->find("additionalInfo"); it != body->end() && !it->is_null()) {
    if (!it->is_object())
      return fail(bad_request(std::string("additionalInfo: expected an object, got ") +
                              json_type_name(*it)));
    auto token = optional_string(*it, "loginToken");
    if (!token) return fail(make_error("bad_request", "additionalInfo." + token.error().message));
    open.login_token = *token;
    if (auto c = it->find("continueFromUser"); c != it->end() && !c->is_null()) {
      // additionalInfo values are strings in the Memori client's type; a boolean works too.
      if (c->is_boolean())
        open.continue_latest_for_user = c->get<bool>();
      else if (c->is_string() && (*c == "true" || *c == "false"))
        open.continue_latest_for_user = *c == "true";
      else
        return fail(bad_request(
            "additionalInfo.continueFromUser: expected true or false (boolean or string)"));
    }
  }
  const bool asked = !open.continue_session_id.empty() || !open.continue_chat_log_id.empty() ||
                     open.continue_latest_for_user;
  sessions_.open(std::move(open), [this, request, asked, done = std::move(done)](
                                      Result<OpenedSession> opened) {
    const HostConfig& cfg = sessions_.config();
    if (!opened) {
      metrics_.error(opened.error().code);
      return done(failed(cfg, request, opened.error()));
    }
    OpenedSession& s = *opened;
    if (!s.greeting.empty() && !s.record.opted_out) {
      ChatLine line;
      line.timestamp_ms = now_epoch_ms();
      line.inbound = false;
      line.text = s.greeting;
      if (auto stored = sessions_.store().append_line(s.record.id, std::move(line)); !stored)
        return done(failed(cfg, request, stored.error()));
    }
    json reply = {{"sessionID", s.record.id}, {"currentState", current_state(s.record, s.greeting)}};
    if (asked && s.continuation) {
      reply["continuation"] = std::string(to_string(*s.continuation));
      if (!s.record.continued_from.empty()) reply["continuedFromSessionID"] = s.record.continued_from;
    }
    done(ok(cfg, request, std::move(reply)));
  });
}

namespace {
// The session named in a REST path, usable now, and visible from this request's origin.
Result<SessionRecord> session_for(SessionService& sessions, const HttpRequest& request,
                                  const std::string& id) {
  auto session = sessions.valid_session(id, now_epoch_ms());
  if (!session) return session;
  const AgentConfig* agent = sessions.config().find_agent(session->agent_id);
  auto origin = request.header("origin");
  if (!agent || !agent->origin_allowed(origin))
    return make_error("origin_not_allowed", "this origin is not allowed for the session's agent");
  return session;
}
}  // namespace

void MemoriApi::get_session(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto session = session_for(sessions_, request, id);
  if (!session) return done(failed(config, request, session.error()));
  auto lines = sessions_.store().lines_of(id);
  if (!lines) return done(failed(config, request, lines.error()));
  std::string emission;
  for (auto it = lines->rbegin(); it != lines->rend(); ++it)
    if (!it->inbound) {
      emission = it->text;
      break;
    }
  if (auto touched = sessions_.store().touch_session(id, now_epoch_ms()); !touched)
    return done(failed(config, request, touched.error()));
  done(ok(config, request, json{{"currentState", current_state(*session, emission)}}));
}

void MemoriApi::delete_session(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto session = session_for(sessions_, request, id);
  // An expired session may still be closed; a missing, foreign or closed one is not found.
  if (!session && session.error().code != "expired")
    return done(failed(config, request, session.error()));
  sessions_.end(id, "deleted");
  done(ok(config, request, json::object()));
}

// Parley's extension: PATCH /Session/{id} {metadata}: the widget's page, resuming the session,
// hands it its metadata that is not identity (DESIGN §5 step 6: the page path, the plan). The
// values are merged over the session's (the page's win), within the DESIGN §6 limits.
void MemoriApi::patch_session(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto body = parse_body(request);
  if (!body) return done(failed(config, request, body.error()));
  auto metadata = body->find("metadata");
  if (metadata == body->end() || !metadata->is_object())
    return done(failed(config, request, bad_request("metadata: expected an object of the page's metadata")));
  if (auto valid = validate_metadata(*metadata); !valid)
    return done(failed(config, request, bad_request("metadata: " + valid.error().message)));
  auto session = session_for(sessions_, request, id);
  if (!session) return done(failed(config, request, session.error()));
  if (auto updated = sessions_.update_metadata(*session, *metadata); !updated)
    return done(failed(config, request, updated.error()));
  done(ok(config, request, json::object()));
}

void MemoriApi::text_entered(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto body = parse_body(request);
  if (!body) return done(failed(config, request, body.error()));
  auto text = optional_string(*body, "text");
  if (!text) return done(failed(config, request, text.error()));
  if (text->empty()) return done(failed(config, request, bad_request("text: is required")));
  if (text->size() > max_text_bytes)
    return done(failed(config, request,
                       bad_request("text: " + std::to_string(text->size()) +
                                   " bytes; at most " + std::to_string(max_text_bytes))));
  auto session = session_for(sessions_, request, id);
  if (!session) return done(failed(config, request, session.error()));
  auto record = std::make_shared<SessionRecord>(std::move(*session));
  sessions_.turn(*record, std::move(*text), nullptr,
                 [this, request, record, done = std::move(done)](Result<TurnResult> result) {
                   const HostConfig& cfg = sessions_.config();
                   if (!result) return done(failed(cfg, request, result.error()));
                   json state = current_state(*record, result->reply.text);
                   if (!result->reply.actions.empty()) {
                     json actions = json::array();
                     for (const auto& a : result->reply.actions)
                       actions.push_back({{"name", a.name},
                                          {"arguments", a.arguments},
                                          {"result", a.result},
                                          {"error", a.error}});
                     state["actions"] = std::move(actions);  // ours
                   }
                   done(ok(cfg, request, json{{"currentState", std::move(state)}}));
                 });
}

void MemoriApi::session_chat_logs(const HttpRequest& request, const std::string& id,
                                  const std::string& log_session_id, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto session = session_for(sessions_, request, id);
  if (!session) return done(failed(config, request, session.error()));
  auto target = sessions_.store().find_session(log_session_id);
  if (!target) return done(failed(config, request, target.error()));
  const bool visible = target->has_value() && (*target)->agent_id == session->agent_id &&
                       ((*target)->user_id.empty() || (*target)->user_id == session->user_id);
  if (!visible) return done(failed(config, request, make_error("not_found", "no such session")));
  json logs = json::array();
  const AgentConfig* agent = config.find_agent(session->agent_id);
  if (agent && !agent->opt_out_data_collection) {
    auto chain = sessions_.chain(log_session_id);
    if (!chain) return done(failed(config, request, chain.error()));
    for (const auto& link : *chain) {
      if (link.agent_id != session->agent_id) continue;
      auto lines = sessions_.store().lines_of(link.id);
      if (!lines) return done(failed(config, request, lines.error()));
      if (lines->empty()) continue;
      logs.push_back(chat_log_json(link, *lines));
    }
  }
  done(ok(config, request, json{{"chatLogs", std::move(logs)}}));
}

void MemoriApi::user_chat_logs(const HttpRequest& request, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto fail = [&](const Error& e) { done(failed(config, request, e)); };
  auto body = parse_body(request);
  if (!body) return fail(body.error());
  auto filters = parse_chat_log_filters_body(*body);
  if (!filters) return fail(filters.error());
  const AgentConfig* agent = config.find_agent(filters->memori_id);
  if (!agent) return fail(make_error("unknown_agent", "memoriID: no such agent"));
  if (!agent->origin_allowed(request.header("origin")))
    return fail(make_error("origin_not_allowed", "this origin is not allowed for the agent"));
  if (agent->secret.empty())
    return fail(make_error("token_no_secret", "loginToken: this agent does not accept user tokens"));
  auto user = verify_login_token(agent->secret, filters->login_token, now_epoch_ms() / 1000);
  if (!user) return fail(user.error());
  json logs = json::array();
  std::uint32_t total = 0;
  if (!agent->opt_out_data_collection) {
    UserLogQuery query;
    query.agent_id = agent->id;
    query.user_id = user->user_id;
    query.date_from_ms = filters->date_from_ms;
    query.date_to_ms = filters->date_to_ms;
    query.minimum_messages =
        static_cast<std::uint32_t>(filters->minimum_messages_per_chat.value_or(0));
    query.include_empty = filters->show_chats_with_no_history.value_or(false);
    query.from = static_cast<std::uint32_t>(std::min<std::int64_t>(filters->from, UINT32_MAX));
    query.how_many = static_cast<std::uint32_t>(filters->how_many);
    auto sessions = sessions_.store().user_sessions(query, &total);
    if (!sessions) return fail(sessions.error());
    for (const auto& s : *sessions) {
      auto lines = sessions_.store().lines_of(s.id);
      if (!lines) return fail(lines.error());
      logs.push_back(chat_log_json(s, *lines));
    }
  }
  const std::size_t count = logs.size();
  done(ok(config, request,
          json{{"chatLogs", std::move(logs)}, {"count", count}, {"totalCount", total}}));
}

}  // namespace parley::host
