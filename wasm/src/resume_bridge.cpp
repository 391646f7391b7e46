#include "resume_bridge.hpp"

#include <algorithm>

#include <utility>

#include "parley/client_errors.hpp"
#include "parley/identity.hpp"
#include "parley/metadata.hpp"

namespace parley::sdk {
namespace {

json request_json(const HttpRequest& r) {
  json out = {{"method", r.method}, {"path", r.path}};
  if (r.body) out["body"] = *r.body;
  return out;
}

json error_json(const Error& e) { return json{{"code", e.code}, {"message", e.message}}; }

// resultCode of a reply, if the body is a JSON object that has an integer one.
std::optional<std::int64_t> result_code_of(std::string_view body) {
  if (body.size() > ResumeFlow::max_session_reply_bytes) return std::nullopt;
  auto parsed = parse_json(body, "reply", 32);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  auto it = parsed->find("resultCode");
  if (it == parsed->end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

Result<ResumeInput> parse_input(std::string_view text) {
  auto bad = [](const std::string& what) { return make_error("resume_bad_input", what); };
  auto parsed = parse_json(text, "resume input", 16);
  if (!parsed) return bad(parsed.error().message);
  const json& in = *parsed;
  if (!in.is_object()) return bad("the resume input must be an object");
  ResumeInput input;
  auto str = [&](const char* key, std::string& out) -> Status {
    auto it = in.find(key);
    if (it == in.end() || it->is_null()) return ok_status();
    if (!it->is_string()) return bad(std::string(key) + " must be a string");
    out = it->get<std::string>();
    return ok_status();
  };
  if (auto s = str("integrationId", input.integration_id); !s) return std::move(s).error();
  if (auto s = str("agentId", input.agent_id); !s) return std::move(s).error();
  std::string session;
  if (auto s = str("sessionId", session); !s) return std::move(s).error();
  if (!session.empty()) input.url_session_id = session;
  if (auto it = in.find("metadata"); it != in.end() && !it->is_null()) {
    if (auto v = validate_metadata(*it); !v) return std::move(v).error();
    if (!it->empty()) input.options.initial_context_vars = *it;
  }
  if (auto it = in.find("additionalInfo"); it != in.end() && !it->is_null())
    input.options.additional_info = *it;
  // The page's identity (identity.hpp): its identity keys' values and its token's user.
  std::vector<std::string> keys(std::begin(default_identity_keys), std::end(default_identity_keys));
  if (auto it = in.find("identityKeys"); it != in.end() && !it->is_null()) {
    if (!it->is_string()) return bad("identityKeys must be a string of comma-separated keys");
    auto parsed_keys = parse_identity_keys(it->get_ref<const std::string&>());
    if (!parsed_keys) return std::move(parsed_keys).error();
    keys = std::move(*parsed_keys);
  }
  std::string token_user;
  if (const json& info = input.options.additional_info; info.is_object()) {
    if (auto token = info.find("loginToken"); token != info.end() && token->is_string())
      token_user = login_token_user(token->get_ref<const std::string&>());
  }
  const auto metadata = in.find("metadata");
  input.identity = identity_fingerprint(metadata == in.end() ? json() : *metadata, keys, token_user);
  // What a resumed session takes from the page: its metadata but the identity.
  if (metadata != in.end() && metadata->is_object()) {
    json update = json::object();
    for (auto it = metadata->begin(); it != metadata->end(); ++it)
      if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) update[it.key()] = it.value();
    input.metadata_update = std::move(update);
  }
  if (auto it = in.find("windowMs"); it != in.end() && !it->is_null()) {
    if (!it->is_number_integer()) return bad("windowMs must be an integer");
    input.options.window.window_ms = it->get<std::int64_t>();
    if (input.options.window.max_clock_skew_ms > input.options.window.window_ms)
      input.options.window.max_clock_skew_ms = input.options.window.window_ms;
  }
  if (auto it = in.find("continuation"); it != in.end() && !it->is_null()) {
    if (!it->is_boolean()) return bad("continuation must be a boolean");
    input.options.try_continuation = it->get<bool>();
  }
  if (auto it = in.find("historyLines"); it != in.end() && !it->is_null()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() > 100000)
      return bad("historyLines must be a whole number from 0 (all) to 100000");
    input.options.history_lines = it->get<std::size_t>();
  }
  return input;
}

}  // namespace

ResumeBridge::ResumeBridge(KeyValueStore& kv, std::string_view input_json) : store_(kv) {
  // {historyOf: id}: the whole history of a session in use, nothing else.
  if (auto parsed = parse_json(input_json, "resume input", 16);
      parsed && parsed->is_object() && parsed->contains("historyOf")) {
    const json& id = (*parsed)["historyOf"];
    if (!id.is_string() || !is_valid_session_id(id.get_ref<const std::string&>()))
      input_error_ = make_error("resume_bad_input", "historyOf must be a session id");
    else
      history_of_ = id.get<std::string>();
    return;
  }
  auto input = parse_input(input_json);
  if (!input) {
    input_error_ = std::move(input).error();
    return;
  }
  identity_ = input->identity;
  flow_.emplace(store_, std::move(*input));
}

std::string ResumeBridge::next(std::optional<HttpRequest> request) {
  return request ? to_json_text(request_json(*request)) : std::string();
}

std::string ResumeBridge::start(std::int64_t now) {
  if (history_of_ && !history_done_) return next(history_request(*history_of_));
  if (!flow_) return "";
  return next(flow_->start(now));
}

std::string ResumeBridge::likely_next() const {
  if (history_of_ || !flow_) return "";
  auto request = flow_->likely_next();
  return request ? to_json_text(request_json(*request)) : std::string();
}

std::string ResumeBridge::on_response(int status, std::string_view body, std::int64_t now) {
  if (history_of_) {
    if (history_done_) return "";
    history_done_ = true;
    auto lines = read_history(HttpResponse{status, std::string(body)}, *history_of_);
    if (lines)
      history_ = std::move(*lines);
    else
      history_error_ = std::move(lines).error();
    return "";
  }
  if (!flow_) return "";
  last_status_ = status;
  transport_failed_ = false;
  std::string request = next(flow_->on_response(HttpResponse{status, std::string(body)}, now));
  // The reply's resultCode, for the error a person is shown, only when the flow failed on it
  // (reading it means parsing the reply again, and a history of thousands of lines is big).
  last_result_code_.reset();
  if (const ResumeOutcome* o = flow_->outcome(); o && std::holds_alternative<ResumeFailure>(*o))
    last_result_code_ = result_code_of(body);
  return request;
}

std::string ResumeBridge::on_transport_error(std::string_view message, std::int64_t now) {
  if (history_of_) {
    if (history_done_) return "";
    history_done_ = true;
    transport_failed_ = true;
    history_error_ = make_error("unreachable", std::string(message));
    return "";
  }
  if (!flow_) return "";
  transport_failed_ = true;
  return next(flow_->on_transport_error(message, now));
}

std::string ResumeBridge::outcome() const {
  if (input_error_) {
    return to_json_text(json{{"kind", "failed"}, {"error", error_json(*input_error_)},
                             {"transport", false}});
  }
  if (history_of_) {
    if (!history_done_) return "null";
    if (history_error_) {
      return to_json_text(json{{"kind", "failed"}, {"error", error_json(*history_error_)},
                               {"transport", transport_failed_}});
    }
    return to_json_text(json{{"kind", "history"}, {"sessionID", *history_of_}});
  }
  const ResumeOutcome* outcome = flow_ ? flow_->outcome() : nullptr;
  if (!outcome) return "null";
  json out;
  if (const auto* resumed = std::get_if<ResumedSession>(outcome)) {
    out = {{"kind", "resumed"},
           {"sessionID", resumed->session_id},
           {"lastAgentIndex", resumed->last_agent_index ? json(*resumed->last_agent_index)
                                                        : json(nullptr)}};
    if (resumed->history_error) out["historyError"] = error_json(*resumed->history_error);
    out["omittedLines"] = resumed->omitted_lines;
  } else if (const auto* opened = std::get_if<NewSession>(outcome)) {
    out = {{"kind", "new"},
           {"sessionID", opened->session_id},
           {"welcome", opened->welcome},
           {"reason", to_string(opened->reason)},
           {"continuation", to_string(opened->continuation)},
           {"continuedFrom", opened->continued_from ? json(*opened->continued_from) : json(nullptr)}};
    if (opened->continuation_refusal)
      out["continuationRefusal"] = error_json(*opened->continuation_refusal);
    if (opened->history_error) out["historyError"] = error_json(*opened->history_error);
    out["omittedLines"] = opened->omitted_lines;
  } else {
    const Error& error = std::get<ResumeFailure>(*outcome).error;
    out = {{"kind", "failed"}, {"error", error_json(error)}, {"transport", transport_failed_}};
    // What a person can act on, when the server's answer says it (a bad agent id, an origin
    // the agent does not allow, a server error); transport failures are left to the JS,
    // which knows whether the browser is online.
    if (!transport_failed_) {
      if (auto client = client_error_for_memori(last_status_, last_result_code_))
        out["clientError"] = error_json(make_client_error(*client, error.message));
    }
  }
  if (out["kind"] != "failed") {
    out["stored"] = flow_->stored();
    out["identity"] = identity_;
  }
  return to_json_text(out);
}

const std::vector<ChatLine>* ResumeBridge::lines() const {
  if (history_of_) return history_ ? &*history_ : nullptr;
  const ResumeOutcome* outcome = flow_ ? flow_->outcome() : nullptr;
  if (!outcome) return nullptr;
  if (const auto* resumed = std::get_if<ResumedSession>(outcome)) return &resumed->lines;
  if (const auto* opened = std::get_if<NewSession>(outcome)) return &opened->earlier_lines;
  return nullptr;
}

std::string ResumeBridge::warnings() const {
  json out = json::array();
  if (flow_)
    for (const Error& w : flow_->warnings()) out.push_back(error_json(w));
  return to_json_text(out);
}

std::string text_request(std::string_view session_id, std::string_view text) {
  if (!is_valid_session_id(session_id))
    return to_json_text(json{{"error", error_json(make_error(
                                           "bad_session_id",
                                           "no valid session to send the message in"))}});
  if (text.empty() || !is_valid_utf8(text))
    return to_json_text(
        json{{"error", error_json(make_error("bad_value", "text must be non-empty UTF-8"))}});
  json out = {{"method", "POST"},
              {"path", std::string(memori_api_base) + "/TextEnteredEvent/" + std::string(session_id)},
              {"body", json{{"text", std::string(text)}}}};
  return to_json_text(out);
}

std::string text_reply(int status, std::string_view body) {
  const char* route = "POST /memori/v2/TextEnteredEvent/{sessionID}";
  auto fail = [&](Error e, bool expired) {
    return to_json_text(json{{"error", error_json(e)}, {"expired", expired}});
  };
  auto parsed = parse_json(body, "reply", 32);
  if (!parsed || !parsed->is_object())
    return fail(make_error("bad_reply", std::string(route) + ": HTTP " + std::to_string(status) +
                                            ", the reply is not a JSON object"),
                false);
  const json& reply = *parsed;
  auto code = reply.find("resultCode");
  if (code == reply.end() || !code->is_number_integer())
    return fail(make_error("bad_reply", std::string(route) + ": HTTP " + std::to_string(status) +
                                            ", the reply has no resultCode"),
                false);
  const std::int64_t result = code->get<std::int64_t>();
  if (result == -103 || result == -263)
    return fail(make_error("session_gone", "the session expired or was closed"), true);
  if (result != 0 || status < 200 || status > 299) {
    std::string message;
    if (auto m = reply.find("resultMessage"); m != reply.end() && m->is_string())
      message = m->get<std::string>().substr(0, 200);
    const std::string detail =
        "HTTP " + std::to_string(status) + ", resultCode " + std::to_string(result) +
        (message.empty() ? "" : " (" + message + ")");
    if (auto client = client_error_for_memori(status, result))
      return fail(make_client_error(*client, detail), false);
    return fail(make_error("bad_reply", std::string(route) + ": " + detail), false);
  }
  std::string text;
  if (auto state = reply.find("currentState"); state != reply.end() && state->is_object())
    if (auto e = state->find("emission"); e != state->end() && e->is_string())
      text = e->get<std::string>();
  return to_json_text(json{{"text", text}});
}

}  // namespace parley::sdk
