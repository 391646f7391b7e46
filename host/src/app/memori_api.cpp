#include "memori_api.hpp"

#include <algorithm>
#include <cstdint>
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
constexpr std::size_t max_last_lines = 100000;  // ChatLogLimits::max_lines

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
  if (code.rfind("token_", 0) == 0 || code == "bad_public_key") return {-401, 401};
  if (code == "rate_limited") return {-429, 429};
  if (code == "db_error" || code == "internal" || code == "agent_unavailable") return {-500, 500};
  // The database is unreachable or saturated: this host refuses new work until it is back.
  if (code == "db_unavailable" || code == "db_busy" || code == "db_closed") return {-500, 503};
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
  // Sessions and chat logs are personal data: no cache keeps them (errors alike, so that an
  // error and an answer cannot be told apart by their headers either).
  response.headers.emplace_back("Cache-Control", "no-store");
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

constexpr std::size_t max_public_key_bytes = 256;

// The credentials a REST request presents (README "Security", "How a REST client presents its
// key and token"): `X-Parley-Public-Key: KEY` and `Authorization: Bearer LOGIN_TOKEN` on any
// route. A malformed one is a 400 naming the header, decided before any session is looked up.
Result<Caller> caller_of(const HttpRequest& request) {
  Caller caller;
  if (auto origin = request.header("origin")) caller.origin = std::string(*origin);
  if (auto key = request.header("x-parley-public-key")) {
    if (key->empty() || key->size() > max_public_key_bytes)
      return bad_request("X-Parley-Public-Key: 1 to " + std::to_string(max_public_key_bytes) +
                         " bytes");
    caller.public_key = std::string(*key);
  }
  if (auto auth = request.header("authorization")) {
    auto token = bearer_credentials(*auth);
    if (!token) return bad_request(token.error().message + " (a loginToken)");
    caller.login_token = std::string(*token);
  }
  return caller;
}

// `name=value` pairs of a raw query; the value of `name`, if given.
std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

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
    : sessions_(sessions),
      metrics_(metrics),
      per_session_(sessions.config().server.limits.max_session_requests_per_s,
                   sessions.config().server.limits.max_session_requests_per_s) {}

HttpResponse MemoriApi::refusal(const HttpRequest& request, unsigned status,
                                const std::string& code, const std::string& message) const {
  HttpResponse response = failed(sessions_.config(), request, make_error(code, message));
  response.status = status;
  return response;
}

namespace {
// The session a route names, owned by the caller (the ownership rule) and inside its resume
// window: what TextEnteredEvent and PATCH Session need.
Result<SessionRecord> owned_live_session(const SessionService& sessions, Store& store,
                                         const std::string& id, const Caller& caller) {
  const std::int64_t now = now_epoch_ms();
  auto session = sessions.owned_session(store, id, caller, now);
  if (!session) return session;
  if (!sessions.live(*session, now)) return sessions.expired_error(*session);
  return session;
}

HttpResponse rate_limited(const HostConfig& config, const HttpRequest& request,
                          const std::string& message, std::uint32_t wait_s) {
  HttpResponse response = failed(config, request, make_error("rate_limited", message));
  response.headers.emplace_back("Retry-After", std::to_string(wait_s));
  return response;
}
}  // namespace

void MemoriApi::handle(const HttpRequest& request, HttpDone done) {
  const HostConfig& config = sessions_.config();
  if (request.method == "OPTIONS") {
    HttpResponse response = respond(config, request, 204, json());
    response.body.clear();
    response.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS");
    response.headers.emplace_back("Access-Control-Allow-Headers",
                                  "Content-Type, Authorization, X-Parley-Public-Key");
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
  // What cannot be an id answers as an unknown one does.
  auto no_such_session = [&] {
    done(failed(config, request, SessionService::not_found_error()));
  };
  // limits.max_session_requests_per_s for the session a route names, before it is looked up
  // (so an unknown id is limited as a known one is).
  const bool names_session =
      ((route == "Session" || route == "TextEnteredEvent") && parts.size() == 2) ||
      (route == "SessionChatLogs" && parts.size() == 3);
  if (names_session && valid_id_segment(parts[1])) {
    if (const auto wait = per_session_.take(parts[1])) {
      metrics_.limited("requests_per_session");
      return done(rate_limited(
          config, request,
          "too many requests for this session: at most " +
              std::to_string(config.server.limits.max_session_requests_per_s) +
              " a second (limits.max_session_requests_per_s); retry in " + std::to_string(wait) +
              " s",
          wait));
    }
  }
  if (route == "Session" && parts.size() == 1 && method == "POST")
    return open_session(request, std::move(done));
  if (route == "Session" && parts.size() == 2 &&
      (method == "GET" || method == "DELETE" || method == "PATCH")) {
    const std::string* id = id_or_404(1);
    if (!id) return no_such_session();
    if (method == "GET") return get_session(request, *id, std::move(done));
    if (method == "PATCH") return patch_session(request, *id, std::move(done));
    return delete_session(request, *id, std::move(done));
  }
  if (route == "TextEnteredEvent" && parts.size() == 2 && method == "POST") {
    const std::string* id = id_or_404(1);
    if (!id) return no_such_session();
    return text_entered(request, *id, std::move(done));
  }
  if (route == "SessionChatLogs" && parts.size() == 3 && method == "GET") {
    const std::string* id = id_or_404(1);
    const std::string* log_id = id_or_404(2);
    if (!id || !log_id) return no_such_session();
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

  auto caller = caller_of(request);
  if (!caller) return fail(caller.error());
  OpenRequest open;
  open.channel = "rest";
  open.agent_id = *memori_id;
  open.origin = caller->origin;
  open.public_key = caller->public_key;
  open.login_token = caller->login_token;
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
    if (!token->empty()) {
      if (!open.login_token.empty() && open.login_token != *token)
        return fail(bad_request(
            "additionalInfo.loginToken and Authorization: two different loginTokens; give one"));
      open.login_token = *token;
    }
    auto key = optional_string(*it, "publicKey");
    if (!key) return fail(make_error("bad_request", "additionalInfo." + key.error().message));
    if (!key->empty()) {
      if (open.public_key && *open.public_key != *key)
        return fail(bad_request(
            "additionalInfo.publicKey and X-Parley-Public-Key: two different keys; give one"));
      open.public_key = *key;
    }
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
  // Last, so that a request refused for its content costs no session of the address's budget.
  if (const auto wait = sessions_.session_opening_wait(request.remote))
    return done(rate_limited(config, request, sessions_.session_opening_refusal(wait), wait));
  sessions_.open(std::move(open), [this, request, asked, done = std::move(done)](
                                      Result<OpenedSession> opened) {
    const HostConfig& cfg = sessions_.config();
    if (!opened) {
      metrics_.error(opened.error().code);
      return done(failed(cfg, request, opened.error()));
    }
    auto s = std::make_shared<OpenedSession>(std::move(*opened));
    auto reply = [this, request, asked, s, done]() {
      json answer = {{"sessionID", s->record.id},
                     {"currentState", current_state(s->record, s->greeting)}};
      if (asked && s->continuation) {
        answer["continuation"] = std::string(to_string(*s->continuation));
        if (!s->record.continued_from.empty())
          answer["continuedFromSessionID"] = s->record.continued_from;
      }
      done(ok(sessions_.config(), request, std::move(answer)));
    };
    if (s->greeting.empty() || s->record.opted_out) return reply();
    ChatLine line;
    line.timestamp_ms = now_epoch_ms();
    line.inbound = false;
    line.text = s->greeting;
    sessions_.append_line(s->record.id, std::move(line),
                          [this, request, reply, done](Result<ChatLine> stored) {
                            if (!stored) return done(failed(sessions_.config(), request, stored.error()));
                            reply();
                          });
  });
}

// Every route below reads the store on a database thread (AsyncStore, keyed by the session it
// names so that its work keeps order with the session's other writes) and answers on the io
// thread. The ownership rule is SessionService::owns, applied inside that work.

void MemoriApi::get_session(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig* config = &sessions_.config();
  auto caller = caller_of(request);
  if (!caller) return done(failed(*config, request, caller.error()));
  struct Got {
    SessionRecord session;
    std::string emission;
  };
  SessionService* sessions = &sessions_;
  sessions_.db().run(
      id,
      [sessions, caller = std::move(*caller), id](Store& store) -> Result<Got> {
        const std::int64_t now = now_epoch_ms();
        auto session = sessions->owned_session(store, id, caller, now);
        if (!session) return std::move(session).error();
        if (!sessions->live(*session, now)) return sessions->expired_error(*session);
        // The agent's last line only (a long conversation is not read for it).
        auto last = store.newest_lines(id, 1, /*agent_only=*/true);
        if (!last) return std::move(last).error();
        Got got{std::move(*session), {}};
        if (!last->empty()) got.emission = std::move(last->back().text);
        if (auto touched = store.touch_session(id, now); !touched)
          return std::move(touched).error();
        return got;
      },
      [config, request, done = std::move(done)](Result<Got> got) {
        if (!got) return done(failed(*config, request, got.error()));
        done(ok(*config, request,
                json{{"currentState", current_state(got->session, got->emission)}}));
      });
}

void MemoriApi::delete_session(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig* config = &sessions_.config();
  auto caller = caller_of(request);
  if (!caller) return done(failed(*config, request, caller.error()));
  SessionService* sessions = &sessions_;
  sessions_.db().run(
      id,
      [sessions, caller = std::move(*caller), id](Store& store) -> Status {
        // An expired session may still be closed by its owner; after that it is gone for
        // everyone.
        auto session = sessions->owned_session(store, id, caller, now_epoch_ms());
        if (!session) return std::move(session).error();
        return ok_status();
      },
      [this, config, request, id, done = std::move(done)](Status closable) {
        if (!closable) return done(failed(*config, request, closable.error()));
        sessions_.end(id, "deleted",
                      [config, request, done]() { done(ok(*config, request, json::object())); });
      });
}

// Parley's extension: PATCH /Session/{id} {metadata}: the widget's page, resuming the session,
// hands it its metadata that is not identity (DESIGN §5 step 6: the page path, the plan). The
// values are merged over the session's (the page's win), within the DESIGN §6 limits.
void MemoriApi::patch_session(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig* config = &sessions_.config();
  auto body = parse_body(request);
  if (!body) return done(failed(*config, request, body.error()));
  auto metadata = body->find("metadata");
  if (metadata == body->end() || !metadata->is_object())
    return done(failed(*config, request,
                       bad_request("metadata: expected an object of the page's metadata")));
  if (auto valid = validate_metadata(*metadata); !valid)
    return done(failed(*config, request, bad_request("metadata: " + valid.error().message)));
  auto caller = caller_of(request);
  if (!caller) return done(failed(*config, request, caller.error()));
  SessionService* sessions = &sessions_;
  sessions_.db().run(
      id,
      [sessions, caller = std::move(*caller), id](Store& store) -> Result<SessionRecord> {
        return owned_live_session(*sessions, store, id, caller);
      },
      [this, config, request, page = std::move(*metadata),
       done = std::move(done)](Result<SessionRecord> session) mutable {
        if (!session) return done(failed(*config, request, session.error()));
        sessions_.update_metadata(*session, page,
                                  [config, request, done = std::move(done)](Status updated) {
                                    if (!updated)
                                      return done(failed(*config, request, updated.error()));
                                    done(ok(*config, request, json::object()));
                                  });
      });
}

void MemoriApi::text_entered(const HttpRequest& request, const std::string& id, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto caller = caller_of(request);
  if (!caller) return done(failed(config, request, caller.error()));
  auto body = parse_body(request);
  if (!body) return done(failed(config, request, body.error()));
  auto text = optional_string(*body, "text");
  if (!text) return done(failed(config, request, text.error()));
  if (text->empty()) return done(failed(config, request, bad_request("text: is required")));
  if (text->size() > max_text_bytes)
    return done(failed(config, request,
                       bad_request("text: " + std::to_string(text->size()) +
                                   " bytes; at most " + std::to_string(max_text_bytes))));
  SessionService* sessions = &sessions_;
  sessions_.db().run(
      id,
      [sessions, caller = std::move(*caller), id](Store& store) -> Result<SessionRecord> {
        return owned_live_session(*sessions, store, id, caller);
      },
      [this, request, text = std::move(*text), done = std::move(done)](
          Result<SessionRecord> session) mutable {
        if (!session) return done(failed(sessions_.config(), request, session.error()));
        auto record = std::make_shared<SessionRecord>(std::move(*session));
        sessions_.turn(
            *record, std::move(text), nullptr,
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
      });
}

// GET /SessionChatLogs/{sessionID}/{chatLogSessionID}[?chain=true]: the chat log of
// chatLogSessionID (chatLogs[0], as memori-react reads it), or with chain=true (ours) the logs
// of the sessions it continues too, oldest first. Both ids must be the caller's (owns). The
// same id twice reads that session's log while it is retained, expired or not (memori-react's
// reopen step); two different ids need a live sessionID. A log with no line is left out, so a
// session without lines gives chatLogs: [] (memori-react reads chatLogs[0].lines' last line).
void MemoriApi::session_chat_logs(const HttpRequest& request, const std::string& id,
                                  const std::string& log_session_id, HttpDone done) {
  const HostConfig* config = &sessions_.config();
  auto caller = caller_of(request);
  if (!caller) return done(failed(*config, request, caller.error()));
  bool chain = false;
  if (auto value = query_value(request.query, "chain")) {
    if (*value != "true" && *value != "false")
      return done(failed(*config, request, bad_request("chain: expected true or false")));
    chain = *value == "true";
  }
  // Ours: ?lastLines=N keeps only the newest N lines of what is asked for (a log left without
  // lines is omitted), so that a widget resuming a long conversation fetches what it shows;
  // totalLines always counts every line, fetched or not.
  std::optional<std::size_t> last_lines;
  if (auto text = query_value(request.query, "lastLines")) {
    std::size_t n = 0;
    bool valid = !text->empty() && text->size() <= 6;
    for (char c : *text) valid = valid && c >= '0' && c <= '9';
    if (valid) n = std::stoul(std::string(*text));
    if (!valid || n < 1 || n > max_last_lines) {
      return done(failed(*config, request,
                         bad_request("lastLines: expected a whole number from 1 to " +
                                     std::to_string(max_last_lines) + ", got \"" +
                                     std::string(text->substr(0, 32)) + "\"")));
    }
    last_lines = n;
  }
  SessionService* sessions = &sessions_;
  sessions_.db().run(
      log_session_id,
      [sessions, config, caller = std::move(*caller), id, log_session_id,
       chain, last_lines](Store& store) -> Result<json> {
        const std::int64_t now = now_epoch_ms();
        auto asker = sessions->owned_session(store, id, caller, now);
        if (!asker) return std::move(asker).error();
        const AgentConfig* agent = config->find_agent(asker->agent_id);
        if (!agent) return SessionService::not_found_error();
        if (log_session_id != id && !sessions->live(*asker, now))
          return sessions->expired_error(*asker);
        Owner who = sessions->owner_for(caller, *agent, now);
        who.agent_id = agent->id;
        std::vector<SessionRecord> links;
        if (log_session_id == id) {
          links.push_back(std::move(*asker));
        } else {
          auto target = sessions->owned_session(store, log_session_id, caller, now);
          if (!target || target->agent_id != agent->id)
            return target || target.error().code == "not_found"
                       ? SessionService::not_found_error()
                       : target.error();
          links.push_back(std::move(*target));
        }
        if (chain) {
          auto owned = sessions->owned_chain(store, links.front().id, who, now);
          if (!owned) return std::move(owned).error();
          links = std::move(*owned);
        }
        // Newest link first, so that with lastLines only the lines sent are read (each
        // link's count comes from the index); the logs go out oldest first.
        std::vector<std::pair<const SessionRecord*, std::vector<ChatLine>>> parts;
        std::size_t total = 0;
        std::size_t room = last_lines ? *last_lines : SIZE_MAX;
        if (!agent->opt_out_data_collection) {
          for (auto link = links.rbegin(); link != links.rend(); ++link) {
            auto count = store.count_lines(link->id);
            if (!count) return std::move(count).error();
            total += *count;
            if (*count == 0 || room == 0) continue;
            auto lines = room >= *count
                             ? store.lines_of(link->id)
                             : store.newest_lines(link->id, static_cast<std::uint32_t>(room),
                                                  /*agent_only=*/false);
            if (!lines) return std::move(lines).error();
            if (lines->empty()) continue;
            room -= std::min(room, lines->size());
            parts.emplace_back(&*link, std::move(*lines));
          }
        }
        json logs = json::array();
        for (auto part = parts.rbegin(); part != parts.rend(); ++part)
          logs.push_back(chat_log_json(*part->first, part->second));
        return json{{"chatLogs", std::move(logs)}, {"totalLines", total}};
      },
      [config, request, done = std::move(done)](Result<json> reply) {
        if (!reply) return done(failed(*config, request, reply.error()));
        done(ok(*config, request, std::move(*reply)));
      });
}

void MemoriApi::user_chat_logs(const HttpRequest& request, HttpDone done) {
  const HostConfig& config = sessions_.config();
  auto fail = [&](const Error& e) { done(failed(config, request, e)); };
  auto caller = caller_of(request);
  if (!caller) return fail(caller.error());
  auto body = parse_body(request);
  if (!body) return fail(body.error());
  // The token as Authorization: Bearer works here too (the body's loginToken is then optional).
  if (!caller->login_token.empty()) {
    auto given = body->find("loginToken");
    if (given == body->end() || given->is_null())
      (*body)["loginToken"] = caller->login_token;
    else if (!given->is_string() || *given != caller->login_token)
      return fail(bad_request("loginToken and Authorization: two different loginTokens; give one"));
  }
  auto filters = parse_chat_log_filters_body(*body);
  if (!filters) return fail(filters.error());
  const AgentConfig* agent = config.find_agent(filters->memori_id);
  if (!agent) return fail(make_error("unknown_agent", "memoriID: no such agent"));
  if (!agent->origin_allowed(request.header("origin")))
    return fail(make_error("origin_not_allowed", "this origin is not allowed for the agent"));
  if (agent->secret.empty())
    return fail(make_error("token_no_secret", "loginToken: this agent does not accept user tokens"));
  const std::int64_t now = now_epoch_ms();
  auto user = verify_login_token(agent->secret, filters->login_token, now / 1000);
  if (!user) return fail(user.error());
  if (agent->opt_out_data_collection)
    return done(ok(config, request,
                   json{{"chatLogs", json::array()}, {"count", 0}, {"totalCount", 0}}));
  Owner who = sessions_.owner_for(*caller, *agent, now);
  who.agent_id = agent->id;
  who.user_id = user->user_id;
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
  SessionService* sessions = &sessions_;
  sessions_.db().run(
      user->user_id,
      [sessions, query, who, now](Store& store) -> Result<json> {
        std::uint32_t total = 0;
        auto owned = sessions->owned_user_sessions(store, query, who, &total, now);
        if (!owned) return std::move(owned).error();
        json logs = json::array();
        for (const auto& s : *owned) {
          auto lines = store.lines_of(s.id);
          if (!lines) return std::move(lines).error();
          logs.push_back(chat_log_json(s, *lines));
        }
        const std::size_t count = logs.size();
        return json{{"chatLogs", std::move(logs)}, {"count", count}, {"totalCount", total}};
      },
      [config = &config, request, done = std::move(done)](Result<json> page) {
        if (!page) return done(failed(*config, request, page.error()));
        done(ok(*config, request, std::move(*page)));
      });
}

}  // namespace parley::host
