#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "parley/resume_flow.hpp"
#include "vectors.hpp"

using parley::json;

namespace {

json section(const std::string& key) {
  return parley::test::load_section("resume-flow", key);
}

parley::ResumeInput input_from(const json& in) {
  parley::ResumeInput input;
  input.integration_id = in["integration_id"].get<std::string>();
  input.agent_id = in["agent_id"].get<std::string>();
  if (in.contains("url_session_id")) input.url_session_id = in["url_session_id"].get<std::string>();
  if (in.contains("window_ms"))
    input.options.window.window_ms = in["window_ms"].get<std::int64_t>();
  if (in.contains("skew_ms"))
    input.options.window.max_clock_skew_ms = in["skew_ms"].get<std::int64_t>();
  if (in.contains("try_continuation"))
    input.options.try_continuation = in["try_continuation"].get<bool>();
  if (in.contains("initial_context_vars"))
    input.options.initial_context_vars = in["initial_context_vars"];
  if (in.contains("additional_info")) input.options.additional_info = in["additional_info"];
  if (in.contains("identity")) input.identity = in["identity"].get<std::string>();
  if (in.contains("metadata_update")) input.metadata_update = in["metadata_update"];
  if (in.contains("history_lines"))
    input.options.history_lines = in["history_lines"].get<std::size_t>();
  return input;
}

parley::HttpResponse response_from(const json& reply) {
  parley::HttpResponse r;
  r.status = reply["status"].get<int>();
  r.body = reply.contains("json") ? parley::to_json_text(reply["json"])
                                  : reply["text"].get<std::string>();
  return r;
}

void check_request(const parley::HttpRequest& got, const json& want) {
  CHECK(got.method == want["method"].get<std::string>());
  CHECK(got.path == want["path"].get<std::string>());
  CHECK(got.body.has_value() == want.contains("body"));
  if (got.body && want.contains("body")) CHECK(*got.body == want["body"]);
}

void check_lines(const std::vector<parley::ChatLine>& got, const json& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("line " << i);
    CHECK((got[i].inbound ? "user" : "agent") == want[i][0].get<std::string>());
    CHECK(got[i].text == want[i][1].get<std::string>());
    CHECK(got[i].earlier == want[i][2].get<bool>());
  }
}

void check_optional_error(const std::optional<parley::Error>& got, const json& want_code,
                          const json& mentions) {
  CHECK(got.has_value() == !want_code.is_null());
  if (!got || want_code.is_null()) return;
  INFO(got->message);
  CHECK(got->code == want_code.get<std::string>());
  for (const auto& word : mentions)
    CHECK_THAT(got->message, Catch::Contains(word.get<std::string>()));
}

void check_outcome(const parley::ResumeOutcome& outcome, const json& want) {
  const std::string kind = want["kind"].get<std::string>();
  if (kind == "resumed") {
    const auto* r = std::get_if<parley::ResumedSession>(&outcome);
    REQUIRE(r != nullptr);
    CHECK(r->session_id == want["session_id"].get<std::string>());
    check_lines(r->lines, want["lines"]);
    const json& index = want["last_agent_index"];
    CHECK(r->last_agent_index.has_value() == !index.is_null());
    if (r->last_agent_index && !index.is_null()) {
      CHECK(*r->last_agent_index == index.get<std::size_t>());
      // The accessor hands out the very line inside `lines`: rendering `lines` shows it once.
      CHECK(r->last_agent_message() == &r->lines[*r->last_agent_index]);
      CHECK_FALSE(r->last_agent_message()->inbound);
    } else {
      CHECK(r->last_agent_message() == nullptr);
    }
    check_optional_error(r->history_error, want["history_error"],
                         want.value("history_mentions", json::array()));
    CHECK(r->omitted_lines == want.value("omitted_lines", std::size_t{0}));
  } else if (kind == "new") {
    const auto* n = std::get_if<parley::NewSession>(&outcome);
    REQUIRE(n != nullptr);
    CHECK(n->session_id == want["session_id"].get<std::string>());
    CHECK(n->welcome == want["welcome"].get<std::string>());
    CHECK(parley::to_string(n->reason) == want["reason"].get<std::string>());
    CHECK(parley::to_string(n->continuation) == want["continuation"].get<std::string>());
    const json& from = want["continued_from"];
    CHECK(n->continued_from.has_value() == !from.is_null());
    if (n->continued_from && !from.is_null()) CHECK(*n->continued_from == from.get<std::string>());
    check_optional_error(n->continuation_refusal, want["refusal"],
                         want.value("refusal_mentions", json::array()));
    check_lines(n->earlier_lines, want["earlier_lines"]);
    check_optional_error(n->history_error, want["history_error"],
                         want.value("history_mentions", json::array()));
    CHECK(n->omitted_lines == want.value("omitted_lines", std::size_t{0}));
  } else {
    const auto* f = std::get_if<parley::ResumeFailure>(&outcome);
    REQUIRE(f != nullptr);
    INFO(f->error.message);
    CHECK(f->error.code == want["code"].get<std::string>());
    for (const auto& word : want["mentions"]) {
      CHECK_THAT(f->error.message, Catch::Contains(word.get<std::string>()));
    }
  }
}

// Every message the flow produced, to check that no session id appears whole in any of them.
std::vector<std::string> all_messages(const parley::ResumeFlow& flow) {
  std::vector<std::string> out;
  for (const auto& w : flow.warnings()) out.push_back(w.message);
  const parley::ResumeOutcome& o = *flow.outcome();
  if (const auto* f = std::get_if<parley::ResumeFailure>(&o)) out.push_back(f->error.message);
  if (const auto* r = std::get_if<parley::ResumedSession>(&o)) {
    if (r->history_error) out.push_back(r->history_error->message);
  }
  if (const auto* n = std::get_if<parley::NewSession>(&o)) {
    if (n->history_error) out.push_back(n->history_error->message);
    if (n->continuation_refusal) out.push_back(n->continuation_refusal->message);
  }
  return out;
}

void run_scenario(const json& sc) {
  parley::MapKeyValueStore kv;
  for (const auto& item : sc["store"].items()) {
    const json& value = item.value();
    kv.set(item.key(), value.is_string() ? value.get<std::string>() : parley::to_json_text(value));
  }
  const auto store_before = kv.entries();
  parley::SessionStore store(kv);
  std::int64_t now = sc["input"]["now"].get<std::int64_t>();
  parley::ResumeFlow flow(store, input_from(sc["input"]));

  std::optional<parley::HttpRequest> request = flow.start(now);
  std::size_t index = 0;
  for (const auto& step : sc["steps"]) {
    INFO("step " << index++);
    REQUIRE(request.has_value());
    check_request(*request, step["request"]);
    REQUIRE(flow.pending().has_value());
    CHECK(*flow.pending() == *request);
    CHECK_FALSE(flow.finished());
    if (step.contains("now")) now = step["now"].get<std::int64_t>();
    // likely_next: offered only while a session is being checked, and exactly the request a
    // valid session leads to (the history), never one with an effect on the server.
    const auto likely = flow.likely_next();
    CHECK(likely.has_value() == (request->method == "GET" &&
                                 request->path.find("/Session/") != std::string::npos));
    if (likely) CHECK(likely->method == "GET");
    const bool session_ok = step.contains("reply") && step["reply"].contains("json") &&
                            step["reply"]["status"] == 200 && step["reply"]["json"].is_object() &&
                            step["reply"]["json"].contains("resultCode") &&
                            step["reply"]["json"]["resultCode"] == 0;
    if (step.contains("transport_error")) {
      request = flow.on_transport_error(step["transport_error"].get<std::string>(), now);
    } else {
      request = flow.on_response(response_from(step["reply"]), now);
    }
    if (likely && session_ok) {
      REQUIRE(request.has_value());
      CHECK(*request == *likely);
    }
  }
  if (request) INFO("unexpected further request: " << request->method << " " << request->path);
  REQUIRE_FALSE(request.has_value());
  REQUIRE(flow.finished());
  CHECK_FALSE(flow.pending().has_value());
  REQUIRE(flow.outcome() != nullptr);
  check_outcome(*flow.outcome(), sc["outcome"]);

  std::vector<std::string> warning_codes;
  for (const auto& w : flow.warnings()) warning_codes.push_back(w.code);
  CHECK(warning_codes == sc["warnings"].get<std::vector<std::string>>());

  const json& after = sc["store_after"];
  if (after.contains("unchanged")) {
    CHECK(kv.entries() == store_before);
  } else {
    const std::string integration = after["integration_id"].get<std::string>();
    CHECK(parley::SessionStore::key_for(integration) == after["key"].get<std::string>());
    CHECK(kv.get(after["key"].get<std::string>()).has_value());
    auto loaded = store.load(integration);
    REQUIRE(loaded.record.has_value());
    const json& r = after["record"];
    CHECK(loaded.record->session_id == r["sessionID"].get<std::string>());
    CHECK(loaded.record->agent_id == r["agentID"].get<std::string>());
    CHECK(loaded.record->last_activity_ms == r["lastActivity"].get<std::int64_t>());
    CHECK(loaded.record->continued_from.has_value() == !r["continuedFrom"].is_null());
    if (loaded.record->continued_from && !r["continuedFrom"].is_null()) {
      CHECK(*loaded.record->continued_from == r["continuedFrom"].get<std::string>());
    }
    CHECK(loaded.record->identity == r.value("identity", std::string()));
  }
  CHECK(flow.stored() == !after.contains("unchanged"));

  const json secrets = section("secrets");
  for (const auto& message : all_messages(flow)) {
    for (const auto& secret : secrets) {
      CHECK_THAT(message, !Catch::Contains(secret.get<std::string>()));
    }
  }
}

}  // namespace

TEST_CASE("resume flow scenarios: requests, replies, outcome, warnings and store",
          "[resume-flow]") {
  for (const auto& sc : section("scenarios")) {
    SECTION(sc["name"].get<std::string>()) {
      run_scenario(sc);
    }
  }
}

TEST_CASE("resume flow ignores events that come when no reply is awaited", "[resume-flow]") {
  parley::MapKeyValueStore kv;
  parley::SessionStore store(kv);
  parley::ResumeInput input;
  input.agent_id = "agent-7";
  parley::ResumeFlow flow(store, input);

  // Before start: nothing happens.
  CHECK_FALSE(flow.on_response({200, "{}"}, 1).has_value());
  CHECK_FALSE(flow.on_transport_error("x", 1).has_value());
  CHECK_FALSE(flow.finished());
  CHECK(flow.outcome() == nullptr);

  auto first = flow.start(1000);
  REQUIRE(first.has_value());
  CHECK(first->method == "POST");
  CHECK_FALSE(flow.start(1000).has_value());  // a second start is ignored
  CHECK(flow.pending().has_value());

  auto next = flow.on_response(
      {200, R"({"resultCode":0,"sessionID":"abc-1","currentState":{"emission":"Hi"}})"}, 2000);
  CHECK_FALSE(next.has_value());
  REQUIRE(flow.finished());
  const auto before = kv.entries();
  // After the end: nothing changes, not the outcome, not the store.
  CHECK_FALSE(flow.on_response({200, R"({"resultCode":0,"sessionID":"other"})"}, 3000).has_value());
  CHECK_FALSE(flow.on_transport_error("late", 3000).has_value());
  CHECK(kv.entries() == before);
  const auto* n = std::get_if<parley::NewSession>(flow.outcome());
  REQUIRE(n != nullptr);
  CHECK(n->session_id == "abc-1");
  CHECK(n->welcome == "Hi");
}

TEST_CASE("a huge or hostile reply is an error, not a crash", "[resume-flow]") {
  parley::MapKeyValueStore kv;
  parley::SessionStore store(kv);
  parley::ResumeInput input;
  input.agent_id = "agent-7";
  {
    parley::ResumeFlow flow(store, input);
    REQUIRE(flow.start(1).has_value());
    std::string big = R"({"resultCode":0,"sessionID":"abc","pad":")" +
                      std::string(parley::ResumeFlow::max_session_reply_bytes, 'x') + "\"}";
    CHECK_FALSE(flow.on_response({200, big}, 2).has_value());
    const auto* f = std::get_if<parley::ResumeFailure>(flow.outcome());
    REQUIRE(f != nullptr);
    CHECK(f->error.code == "resume_bad_reply");
    CHECK_THAT(f->error.message, Catch::Contains("over the limit"));
  }
  {
    parley::ResumeFlow flow(store, input);
    REQUIRE(flow.start(1).has_value());
    std::string deep = std::string(10000, '[') + std::string(10000, ']');
    CHECK_FALSE(flow.on_response({200, deep}, 2).has_value());
    const auto* f = std::get_if<parley::ResumeFailure>(flow.outcome());
    REQUIRE(f != nullptr);
    CHECK_THAT(f->error.message, Catch::Contains("deeper"));
  }
  CHECK(kv.entries().empty());
}

TEST_CASE("the rest of a history: history_request and read_history", "[resume-flow]") {
  const std::string s0 = "5f0c1c2e-8d1a-4c3b-9e2f-000000000000";
  const std::string s1 = "5f0c1c2e-8d1a-4c3b-9e2f-000000000001";
  const parley::HttpRequest request = parley::history_request(s1);
  CHECK(request.method == "GET");
  CHECK(request.path == "/memori/v2/SessionChatLogs/" + s1 + "/" + s1 + "?chain=true");  // all of it
  CHECK_FALSE(request.body.has_value());

  auto log = [](const std::string& sid, json lines) {
    return json{{"chatLogID", "cl-" + sid}, {"sessionID", sid}, {"memoriID", "a"}, {"lines", lines}};
  };
  auto line = [](bool inbound, const char* text) {
    return json{{"timestamp", "2024-05-01T09:00:00.000Z"}, {"inbound", inbound}, {"text", text}};
  };
  json reply = {{"resultCode", 0}, {"totalLines", 3},
                {"chatLogs", json::array({log(s0, json::array({line(true, "old question")})),
                                          log(s1, json::array({line(false, "Hi"),
                                                               line(true, "new question")}))})}};
  auto lines = parley::read_history({200, parley::to_json_text(reply)}, s1);
  INFO((lines.ok() ? std::string() : lines.error().message));
  REQUIRE(lines.ok());
  REQUIRE(lines->size() == 3);
  CHECK((*lines)[0].text == "old question");
  CHECK((*lines)[0].earlier);  // another session's: earlier
  CHECK_FALSE((*lines)[1].earlier);
  CHECK((*lines)[2].inbound);

  auto http = parley::read_history({503, "busy"}, s1);
  REQUIRE_FALSE(http.ok());
  CHECK_THAT(http.error().message, Catch::Contains("SessionChatLogs") && Catch::Contains("503"));
  CHECK_THAT(http.error().message, !Catch::Contains(s1));
  auto bad = parley::read_history({200, "{\"resultCode\":0,\"totalLines\":\"many\"}"}, s1);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("totalLines"));
}
