#include "parley/resume_flow.hpp"

#include "parley/metadata.hpp"

namespace parley {
namespace {

constexpr std::int64_t result_session_expired = -103;
constexpr std::int64_t result_not_found = -263;
constexpr std::size_t max_agent_id_bytes = 256;

// Routes by their templates: messages never carry a whole session id (DESIGN §5).
constexpr const char* route_get_session = "GET /memori/v2/Session/{sessionID}";
constexpr const char* route_post_session = "POST /memori/v2/Session";
constexpr const char* route_session_chat_logs =
    "GET /memori/v2/SessionChatLogs/{sessionID}/{chatLogSessionID}";
constexpr const char* route_patch_session = "PATCH /memori/v2/Session/{sessionID}";
// The host's option for the logs of the sessions a session continues too (Memori's default is
// the session's own log only, DESIGN §4): the earlier lines shown above a continued chat.
constexpr const char* chain_query = "?chain=true";

std::string api_path(std::string_view suffix) {
  std::string path(memori_api_base);
  path += suffix;
  return path;
}

bool is_success_status(int status) {
  return status >= 200 && status <= 299;
}
bool is_client_error_status(int status) {
  return status >= 400 && status <= 499;
}

Error reply_error(const char* route, const std::string& what) {
  return make_error("resume_bad_reply", std::string(route) + ": " + what);
}

// GET /SessionChatLogs/{id}/{id}, asking for only the newest `last` lines when not 0.
HttpRequest chat_logs_request(std::string_view session_id, std::size_t last) {
  std::string id(session_id);
  std::string path = api_path("/SessionChatLogs/" + id + "/" + id + chain_query);
  if (last > 0) path += "&lastLines=" + std::to_string(last);
  return {"GET", std::move(path), std::nullopt};
}

// Lines of logs of other sessions than `current` are marked earlier.
void mark_earlier(std::vector<ChatLog>& logs, std::string_view current) {
  for (auto& log : logs) {
    if (log.session_id != current) {
      for (auto& line : log.lines) line.earlier = true;
    }
  }
}

// A Memori v2 reply read as far as the envelope: the JSON object and its resultCode.
struct Envelope {
  json body;
  std::int64_t result_code = 0;
  std::string result_message;
};

Result<Envelope> read_envelope(const char* route, const HttpResponse& response) {
  const std::string status = "HTTP " + std::to_string(response.status);
  if (response.body.size() > ResumeFlow::max_session_reply_bytes) {
    return reply_error(route, status + ", reply of " + std::to_string(response.body.size()) +
                                  " bytes is over the limit of " +
                                  std::to_string(ResumeFlow::max_session_reply_bytes));
  }
  auto parsed = parse_json(response.body, "reply");
  if (!parsed) return reply_error(route, status + ", " + parsed.error().message);
  if (!parsed->is_object()) {
    return reply_error(route,
                       status + ", reply is a JSON " + json_type_name(*parsed) + ", not an object");
  }
  Envelope env;
  env.body = std::move(*parsed);
  auto code = env.body.find("resultCode");
  if (code == env.body.end() || !code->is_number_integer() ||
      (code->is_number_unsigned() && code->get<std::uint64_t>() > 1'000'000)) {
    return reply_error(route, status + ", reply has no integer resultCode");
  }
  env.result_code = code->get<std::int64_t>();
  if (auto msg = env.body.find("resultMessage"); msg != env.body.end() && msg->is_string()) {
    env.result_message = msg->get<std::string>();
  }
  return env;
}

std::string describe(int status, const Envelope& env) {
  std::string out =
      "HTTP " + std::to_string(status) + ", resultCode " + std::to_string(env.result_code);
  if (!env.result_message.empty()) out += " (" + env.result_message.substr(0, 200) + ")";
  return out;
}

}  // namespace

const char* to_string(ContinuationResult r) noexcept {
  switch (r) {
    case ContinuationResult::not_attempted: return "not_attempted";
    case ContinuationResult::continued: return "continued";
    case ContinuationResult::refused: return "refused";
  }
  return "unknown";
}

const char* to_string(NewSessionReason r) noexcept {
  switch (r) {
    case NewSessionReason::no_candidate: return "no_candidate";
    case NewSessionReason::expired_locally: return "expired_locally";
    case NewSessionReason::invalid_on_server: return "invalid_on_server";
  }
  return "unknown";
}

ResumeFlow::ResumeFlow(SessionStore& store, ResumeInput input)
    : store_(store), input_(std::move(input)) {}

Status ResumeFlow::validate_input() const {
  const auto bad = [](const std::string& what) { return make_error("resume_bad_input", what); };
  const std::string& agent = input_.agent_id;
  if (agent.empty() || agent.size() > max_agent_id_bytes || !is_valid_utf8(agent)) {
    return bad("agent id (memoriID) must be 1..256 bytes of UTF-8");
  }
  if (!is_valid_integration_id(input_.integration_id)) {
    return bad("integrationID of " + std::to_string(input_.integration_id.size()) +
               " bytes is not 0..128 bytes of printable ASCII");
  }
  if (auto w = validate_resume_window(input_.options.window); !w) return w;
  const json& vars = input_.options.initial_context_vars;
  if (!vars.is_null()) {
    if (auto v = validate_metadata(vars); !v) {
      return bad("initialContextVars: " + v.error().message);
    }
  }
  if (const json& update = input_.metadata_update; !update.is_null()) {
    if (auto v = validate_metadata(update); !v) return bad("metadata: " + v.error().message);
  }
  const json& info = input_.options.additional_info;
  if (!info.is_null() && !info.is_object()) {
    return bad(std::string("additionalInfo must be an object, not a ") + json_type_name(info));
  }
  return ok_status();
}

std::optional<HttpRequest> ResumeFlow::start(std::int64_t now_ms) {
  if (step_ != Step::not_started) return std::nullopt;
  if (auto valid = validate_input(); !valid) return fail(std::move(valid).error());
  choose_candidate(now_ms);
  if (candidate_ && step_ == Step::check_session) {
    return send({"GET", api_path("/Session/" + *candidate_), std::nullopt});
  }
  return open_session(candidate_.has_value() && input_.options.try_continuation);
}

// Step 1 (candidate) and step 2 (local check). Leaves step_ at check_session when the
// candidate should be asked about, else at not_started with new_reason_ set.
void ResumeFlow::choose_candidate(std::int64_t now_ms) {
  StoredSession stored = store_.load(input_.integration_id);
  if (stored.problem) warnings_.push_back(std::move(*stored.problem));
  if (stored.record && stored.record->agent_id != input_.agent_id) {
    warnings_.push_back(make_error("resume_other_agent",
                                   "the stored session belongs to another agent; not resumed"));
    stored.record.reset();
  }
  if (stored.record && stored.record->identity != input_.identity) {
    warnings_.push_back(make_error("resume_other_person",
                                   "the stored session was opened for another visitor (the "
                                   "identity metadata differ); a new session starts"));
    stored.record.reset();
  }

  std::optional<std::int64_t> last_activity;
  if (input_.url_session_id) {
    if (is_valid_session_id(*input_.url_session_id)) {
      candidate_ = *input_.url_session_id;
      from_url_ = true;
    } else {
      warnings_.push_back(
          make_error("resume_bad_session_id",
                     "sessionID parameter is not 1..128 bytes of [A-Za-z0-9_-]; ignored"));
    }
  }
  if (!candidate_ && stored.record) candidate_ = stored.record->session_id;
  if (candidate_ && stored.record && stored.record->session_id == *candidate_) {
    last_activity = stored.record->last_activity_ms;
    stored_continued_from_ = stored.record->continued_from;
  }

  if (!candidate_) {
    new_reason_ = NewSessionReason::no_candidate;
    return;
  }
  if (last_activity) {
    const Freshness fresh = check_freshness(*last_activity, now_ms, input_.options.window);
    if (fresh == Freshness::from_future) {
      warnings_.push_back(make_error("resume_clock_skew",
                                     "stored last activity is in the future beyond the allowed "
                                     "clock skew; the session is not resumed"));
    }
    if (fresh != Freshness::fresh) {
      new_reason_ = NewSessionReason::expired_locally;
      return;
    }
  }
  step_ = Step::check_session;
}

std::optional<HttpRequest> ResumeFlow::send(HttpRequest request) {
  pending_ = std::move(request);
  return pending_;
}

// Step 4: POST /Session, with continueFromSessionID when asked to.
std::optional<HttpRequest> ResumeFlow::open_session(bool continue_from_candidate) {
  json body = {{"memoriID", input_.agent_id}};
  if (continue_from_candidate) body["continueFromSessionID"] = *candidate_;
  if (!input_.options.initial_context_vars.is_null()) {
    body["initialContextVars"] = input_.options.initial_context_vars;
  }
  if (!input_.options.additional_info.is_null()) {
    body["additionalInfo"] = input_.options.additional_info;
  }
  step_ = continue_from_candidate ? Step::open_continued : Step::open_plain;
  return send({"POST", api_path("/Session"), std::move(body)});
}

std::optional<HttpRequest> ResumeFlow::fail(Error error) {
  step_ = Step::done;
  pending_.reset();
  outcome_ = ResumeFailure{std::move(error)};
  return std::nullopt;
}

std::optional<HttpRequest> ResumeFlow::finish(ResumeOutcome outcome, std::int64_t now_ms) {
  SessionRecord record;
  record.agent_id = input_.agent_id;
  record.last_activity_ms = now_ms;
  if (auto* resumed = std::get_if<ResumedSession>(&outcome)) {
    record.session_id = resumed->session_id;
    record.continued_from = stored_continued_from_;
  } else if (auto* opened = std::get_if<NewSession>(&outcome)) {
    record.session_id = opened->session_id;
    record.continued_from = opened->continued_from;
  }
  record.identity = input_.identity;
  if (from_url_) {
    // The URL's session is for this load only: what is stored stays as it was.
  } else if (auto saved = store_.save(input_.integration_id, record); !saved) {
    warnings_.push_back(make_error("session_store_write_failed", saved.error().message));
  } else {
    stored_ = true;
  }
  step_ = Step::done;
  pending_.reset();
  outcome_ = std::move(outcome);
  return std::nullopt;
}

std::optional<HttpRequest> ResumeFlow::on_response(const HttpResponse& response,
                                                   std::int64_t now_ms) {
  switch (step_) {
    case Step::check_session: return on_session_checked(response, now_ms);
    case Step::open_continued:
    case Step::open_plain: return on_session_opened(response, now_ms);
    case Step::fetch_history: return on_history(response, now_ms);
    case Step::update_metadata: return on_metadata_updated(&response, now_ms);
    case Step::not_started:
    case Step::done: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<HttpRequest> ResumeFlow::on_transport_error(std::string_view message,
                                                          std::int64_t now_ms) {
  const std::string what = "transport error: " + std::string(message.substr(0, 200));
  switch (step_) {
    case Step::check_session:
      return fail(make_error("resume_transport", std::string(route_get_session) + ": " + what));
    case Step::open_continued:
    case Step::open_plain:
      return fail(make_error("resume_transport", std::string(route_post_session) + ": " + what));
    case Step::fetch_history:
      return finish_history(
          make_error("resume_transport", std::string(route_session_chat_logs) + ": " + what),
          now_ms);
    case Step::update_metadata:
      warnings_.push_back(make_error("resume_metadata_not_updated",
                                     std::string(route_patch_session) + ": " + what));
      return on_metadata_updated(nullptr, now_ms);
    case Step::not_started:
    case Step::done: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<HttpRequest> ResumeFlow::likely_next() const {
  if (step_ != Step::check_session || !candidate_) return std::nullopt;
  return chat_logs_request(*candidate_, input_.options.history_lines);
}

// Step 3: the server's word on the candidate.
std::optional<HttpRequest> ResumeFlow::on_session_checked(const HttpResponse& response,
                                                          std::int64_t now_ms) {
  (void)now_ms;
  auto env = read_envelope(route_get_session, response);
  if (!env) return fail(std::move(env).error());
  if (is_success_status(response.status) && env->result_code == 0) {
    resumed_.emplace();
    resumed_->session_id = *candidate_;
    // The session already holds the page's metadata (the same page again): nothing to send.
    const json& update = input_.metadata_update;
    metadata_current_ = true;
    if (update.is_object() && !update.empty()) {
      const auto state = env->body.find("currentState");
      const json* vars = nullptr;
      if (state != env->body.end() && state->is_object()) {
        if (auto v = state->find("contextVars"); v != state->end() && v->is_object()) vars = &*v;
      }
      for (auto it = update.begin(); it != update.end() && metadata_current_; ++it) {
        metadata_current_ = vars != nullptr && vars->contains(it.key()) && (*vars)[it.key()] == it.value();
      }
    }
    step_ = Step::fetch_history;
    return send(chat_logs_request(*candidate_, input_.options.history_lines));
  }
  const bool invalid =
      env->result_code == result_session_expired || env->result_code == result_not_found;
  if (invalid && (is_success_status(response.status) || is_client_error_status(response.status))) {
    new_reason_ = NewSessionReason::invalid_on_server;
    return open_session(input_.options.try_continuation);
  }
  return fail(
      reply_error(route_get_session, "unexpected reply: " + describe(response.status, *env)));
}

std::optional<HttpRequest> ResumeFlow::on_session_opened(const HttpResponse& response,
                                                         std::int64_t now_ms) {
  const bool continuing = step_ == Step::open_continued;
  auto env = read_envelope(route_post_session, response);

  // A refused continuation (the old session is gone, not ours, opted out...) is retried
  // without it: the user still gets a session. Server errors (5xx) are not refusals.
  const bool refused = is_client_error_status(response.status) ||
                       (env && is_success_status(response.status) && env->result_code != 0);
  if (continuing && refused) {
    Error why = env ? reply_error(route_post_session,
                                  "continuation refused: " + describe(response.status, *env))
                    : reply_error(route_post_session,
                                  "continuation refused: HTTP " + std::to_string(response.status));
    auto next = open_session(false);
    opened_.emplace();
    opened_->continuation = ContinuationResult::refused;
    opened_->continuation_refusal = std::move(why);
    return next;
  }
  if (!env) return fail(std::move(env).error());
  if (!is_success_status(response.status) || env->result_code != 0) {
    return fail(
        reply_error(route_post_session, "unexpected reply: " + describe(response.status, *env)));
  }

  const json& body = env->body;
  auto id = body.find("sessionID");
  if (id == body.end() || !id->is_string() ||
      !is_valid_session_id(id->get_ref<const std::string&>())) {
    return fail(reply_error(route_post_session,
                            "reply has no valid sessionID (1..128 bytes of [A-Za-z0-9_-])"));
  }
  std::string welcome;
  if (auto state = body.find("currentState"); state != body.end() && !state->is_null()) {
    if (!state->is_object()) {
      return fail(reply_error(route_post_session, std::string("currentState is a ") +
                                                      json_type_name(*state) + ", not an object"));
    }
    if (auto emission = state->find("emission"); emission != state->end() && !emission->is_null()) {
      if (!emission->is_string()) {
        return fail(reply_error(route_post_session, std::string("currentState.emission is a ") +
                                                        json_type_name(*emission) +
                                                        ", not a string"));
      }
      welcome = emission->get<std::string>();
    }
  }

  if (!opened_) opened_.emplace();
  opened_->session_id = id->get<std::string>();
  opened_->welcome = std::move(welcome);
  opened_->reason = new_reason_;
  if (continuing) {
    opened_->continuation = ContinuationResult::continued;
    opened_->continued_from = candidate_;
    step_ = Step::fetch_history;
    const std::string& sid = opened_->session_id;
    return send(chat_logs_request(sid, input_.options.history_lines));
  }
  NewSession done = std::move(*opened_);
  opened_.reset();
  return finish(std::move(done), now_ms);
}

// The history reply, for either outcome.
std::optional<HttpRequest> ResumeFlow::on_history(const HttpResponse& response,
                                                  std::int64_t now_ms) {
  std::optional<Error> error;
  if (!is_success_status(response.status)) {
    error = reply_error(route_session_chat_logs, "HTTP " + std::to_string(response.status));
  } else {
    auto reply = parse_chat_logs_reply(response.body, input_.options.chat_log_limits);
    if (reply) {
      take_history(*reply);
    } else {
      error = make_error(reply.error().code,
                         std::string(route_session_chat_logs) + ": " + reply.error().message);
    }
  }
  return finish_history(std::move(error), now_ms);
}

std::optional<HttpRequest> ResumeFlow::finish_history(std::optional<Error> error,
                                                      std::int64_t now_ms) {
  if (resumed_) {
    resumed_->history_error = std::move(error);
    const json& update = input_.metadata_update;
    if (!metadata_current_ && update.is_object() && !update.empty()) {
      step_ = Step::update_metadata;
      return send({"PATCH", api_path("/Session/" + resumed_->session_id),
                   json{{"metadata", update}}});
    }
    return on_metadata_updated(nullptr, now_ms);
  }
  opened_->history_error = std::move(error);
  NewSession done = std::move(*opened_);
  opened_.reset();
  return finish(std::move(done), now_ms);
}

// The resumed session took the page's metadata (or the server said no: a warning, the
// session goes on with what it had).
std::optional<HttpRequest> ResumeFlow::on_metadata_updated(const HttpResponse* response,
                                                           std::int64_t now_ms) {
  if (response) {
    auto env = read_envelope(route_patch_session, *response);
    if (!env) {
      warnings_.push_back(make_error("resume_metadata_not_updated", env.error().message));
    } else if (!is_success_status(response->status) || env->result_code != 0) {
      warnings_.push_back(make_error("resume_metadata_not_updated",
                                     std::string(route_patch_session) + ": " +
                                         describe(response->status, *env)));
    }
  }
  ResumedSession done = std::move(*resumed_);
  resumed_.reset();
  return finish(std::move(done), now_ms);
}

void ResumeFlow::take_history(ChatLogsReply& reply) {
  std::vector<ChatLog>& logs = reply.chat_logs;
  const std::string& current = resumed_ ? resumed_->session_id : opened_->session_id;
  // Lines the server counts but did not send (?lastLines): the oldest ones.
  const std::size_t omitted =
      reply.total_lines && *reply.total_lines > static_cast<std::int64_t>(reply.line_count)
          ? static_cast<std::size_t>(*reply.total_lines) - reply.line_count
          : 0;
  if (resumed_) {
    mark_earlier(logs, current);
    resumed_->lines = take_lines(logs);
    resumed_->last_agent_index = last_agent_message_index(resumed_->lines);
    resumed_->omitted_lines = omitted;
    return;
  }
  opened_->omitted_lines = omitted;
  // A new session: only the sessions it continues; its own log holds just the welcome.
  std::vector<ChatLog> earlier;
  for (auto& log : logs) {
    if (log.session_id != current) earlier.push_back(std::move(log));
  }
  opened_->earlier_lines = take_lines(earlier);
  for (auto& line : opened_->earlier_lines) line.earlier = true;
}

HttpRequest history_request(std::string_view session_id) {
  return chat_logs_request(session_id, 0);
}

Result<std::vector<ChatLine>> read_history(const HttpResponse& response,
                                           std::string_view session_id,
                                           const ChatLogLimits& limits) {
  if (!is_success_status(response.status))
    return reply_error(route_session_chat_logs, "HTTP " + std::to_string(response.status));
  auto reply = parse_chat_logs_reply(response.body, limits);
  if (!reply) {
    return make_error(reply.error().code,
                      std::string(route_session_chat_logs) + ": " + reply.error().message);
  }
  mark_earlier(reply->chat_logs, session_id);
  return take_lines(reply->chat_logs);
}

}  // namespace parley
