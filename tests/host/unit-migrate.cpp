// `parley-host migrate --from FILE --to URI` (issue 17), run as an operator runs it: the real
// binary, a real SQLite file written by the SQLite store, a real PostgreSQL 15.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "host_fixture.hpp"
#include "parley/host/ids.hpp"
#include "parley/host/store.hpp"
#include "test_client.hpp"
#include "test_postgres.hpp"

using parley::json;
using parley::host::ChatLine;
using parley::host::OutboxItem;
using parley::host::SessionRecord;
using parley::host::Store;
using parley::test::HostFixture;
using parley::test::HostProcess;
using parley::test::TempDir;
using parley::test::TestPostgres;

namespace {

std::unique_ptr<Store> open_store(const std::string& location) {
  auto store = Store::open(location);
  INFO((store ? "" : store.error().message));
  REQUIRE(store.ok());
  return std::move(*store);
}

struct Run {
  int exit_code;
  std::vector<std::string> out;
  std::string err;
};

Run migrate(const std::vector<std::string>& args) {
  HostProcess::Options options;
  options.args = {"migrate"};
  options.args.insert(options.args.end(), args.begin(), args.end());
  options.add_ephemeral_listen = false;
  HostProcess process(options);
  const int code = process.wait(60000);
  return Run{code, process.stdout_lines(100), process.log_text()};
}

SessionRecord session(const std::string& agent, std::int64_t at) {
  SessionRecord s;
  s.id = parley::host::new_session_id();
  s.chat_log_id = parley::host::new_session_id();
  s.agent_id = agent;
  s.public_key = "pk";
  s.user_id = "user-7";
  s.channel = "voice";
  s.metadata = {{"userName", "Zoë"}, {"note", "tab\there, line\nbreak, back\\slash"}};
  s.variables = {{"userName", "Zoë"}};
  s.created_ms = at;
  s.last_activity_ms = at + 10;
  return s;
}

void check_same(const SessionRecord& a, const SessionRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.chat_log_id == b.chat_log_id);
  CHECK(a.agent_id == b.agent_id);
  CHECK(a.public_key == b.public_key);
  CHECK(a.user_id == b.user_id);
  CHECK(a.channel == b.channel);
  CHECK(a.metadata == b.metadata);
  CHECK(a.include_metadata_in_prompt == b.include_metadata_in_prompt);
  CHECK(a.variables == b.variables);
  CHECK(a.continued_from == b.continued_from);
  CHECK(a.opted_out == b.opted_out);
  CHECK(a.created_ms == b.created_ms);
  CHECK(a.last_activity_ms == b.last_activity_ms);
  CHECK(a.ended_ms == b.ended_ms);
  CHECK(a.end_reason == b.end_reason);
  CHECK(a.reopened == b.reopened);
  CHECK(a.agent_overrides == b.agent_overrides);
  CHECK(a.extra_prompt == b.extra_prompt);
  CHECK(a.function_calls == b.function_calls);
  CHECK(a.call_status == b.call_status);
}

}  // namespace

TEST_CASE("migrate copies every session, line and webhook of a file into PostgreSQL",
          "[migrate]") {
  TempDir dir;
  const std::string file = dir.file("parley.db");
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();

  // A file as a host leaves it: a chain of two sessions (one ended, reopened once), lines
  // with every awkward character, an interrupted line, webhooks delivered and pending.
  SessionRecord first = session("alpha", 1000);
  SessionRecord second = session("alpha", 5000);
  second.continued_from = first.id;
  second.opted_out = true;
  second.include_metadata_in_prompt = true;
  second.agent_overrides = {{"prompt", "Be brief.\nVery."}};
  second.extra_prompt = "The caller is a \"gold\" customer.";
  std::vector<ChatLine> lines;
  std::vector<OutboxItem> items;
  {
    auto lite = open_store(file);
    REQUIRE(lite->create_session(first).ok());
    REQUIRE(lite->create_session(second).ok());
    const char* texts[] = {"hello", "tab\tnew\nline\r\\N back\\slash", "ünïcödé ✓", "", "\\."};
    for (int i = 0; i < 5; ++i) {
      ChatLine line;
      line.text = texts[i];
      line.timestamp_ms = 2000 + i;
      line.inbound = i % 2 == 0;
      if (i == 2) {
        line.emitter = "get_weather";
        line.context_vars = {{"city", "Zürich"}};
      }
      auto stored = lite->append_line(first.id, line);
      REQUIRE(stored.ok());
    }
    REQUIRE(lite->mark_interrupted((*lite->lines_of(first.id))[1].line_id, true).ok());
    REQUIRE(lite->end_session(first.id, 3000, "client_ended").ok());
    REQUIRE(lite->reopen_session(first.id, 3500).ok());
    REQUIRE(lite->add_function_call(first.id, {{"name", "get_weather"},
                                               {"params", {{"city", "Zürich"}}}})
                .ok());
    REQUIRE(lite->end_session(first.id, 3600, "connection_lost", "error").ok());
    // The LLM's tool round after the first line (OpenAI's messages, awkward characters).
    parley::host::ToolRound round;
    round.after_line = 1;
    round.timestamp_ms = 2001;
    round.messages = json::array(
        {{{"role", "assistant"},
          {"content", nullptr},
          {"tool_calls",
           {{{"id", "call_1"},
             {"type", "function"},
             {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Z\u00fcrich\t\"}"}}}}}}},
         {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "{\"sky\":\"clear\\nwarm\"}"}}});
    REQUIRE(lite->append_tool_round(first.id, round).ok());
    for (int i = 0; i < 3; ++i) {
      OutboxItem item;
      item.kind = "session_data";
      item.url = "http://127.0.0.1:9/hook";
      item.headers = json::array({json::array({"X-Key", "v\t1"})});
      item.body = R"({"chat":"line\nbreak"})";
      item.idempotency_key = "session_data:" + std::to_string(i);
      item.created_ms = 4000 + i;
      item.next_attempt_ms = 4000 + i;
      REQUIRE(lite->enqueue(item).ok());
    }
    auto queued = lite->outbox_items();
    REQUIRE(queued.ok());
    REQUIRE(lite->mark_delivered((*queued)[0].id, 4100).ok());
    REQUIRE(lite->mark_failed((*queued)[1].id, 9000, "HTTP 503", 5).ok());
    first = **lite->find_session(first.id);
    second = **lite->find_session(second.id);
    lines = *lite->lines_of(first.id);
    items = *lite->outbox_items();
  }

  Run run = migrate({"--from", file, "--to", uri});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  std::string out;
  for (const auto& l : run.out) out += l + "\n";
  CHECK_THAT(out, Catch::Contains("copied 2 rows of sessions"));
  CHECK_THAT(out, Catch::Contains("copied 5 rows of chat_lines"));
  CHECK_THAT(out, Catch::Contains("copied 3 rows of outbox"));
  CHECK_THAT(out, Catch::Contains("copied 1 rows of tool_rounds"));
  CHECK_THAT(out, Catch::Contains("done: 11 rows"));
  CHECK_THAT(out, !Catch::Contains(TestPostgres::password));  // the URI is shown redacted

  auto moved = open_store(uri);
  check_same(**moved->find_session(first.id), first);
  check_same(**moved->find_session(second.id), second);
  auto chain = moved->session_chain(second.id);
  REQUIRE(chain.ok());
  REQUIRE(chain->size() == 2);
  CHECK((*chain)[0].id == first.id);
  auto moved_lines = moved->lines_of(first.id);
  REQUIRE(moved_lines.ok());
  REQUIRE(moved_lines->size() == lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const ChatLine& a = lines[i];
    const ChatLine& b = (*moved_lines)[i];
    CHECK(a.seq == b.seq);
    CHECK(a.line_id == b.line_id);
    CHECK(a.timestamp_ms == b.timestamp_ms);
    CHECK(a.inbound == b.inbound);
    CHECK(a.text == b.text);
    CHECK(a.emitter == b.emitter);
    CHECK(a.interrupted == b.interrupted);
    CHECK(a.context_vars == b.context_vars);
  }
  auto moved_items = moved->outbox_items();
  REQUIRE(moved_items.ok());
  REQUIRE(moved_items->size() == items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const OutboxItem& a = items[i];
    const OutboxItem& b = (*moved_items)[i];
    CHECK(a.id == b.id);
    CHECK(a.headers == b.headers);
    CHECK(a.body == b.body);
    CHECK(a.idempotency_key == b.idempotency_key);
    CHECK(a.attempts == b.attempts);
    CHECK(a.delivered_ms == b.delivered_ms);
    CHECK(a.gave_up == b.gave_up);
    CHECK(a.last_error == b.last_error);
    CHECK(a.next_attempt_ms == b.next_attempt_ms);
  }
  CHECK(*moved->pending_count() == 2);
  auto moved_rounds = moved->tool_rounds_of(first.id);
  REQUIRE(moved_rounds.ok());
  REQUIRE(moved_rounds->size() == 1);
  CHECK((*moved_rounds)[0].seq == 1);
  CHECK((*moved_rounds)[0].after_line == 1);
  CHECK((*moved_rounds)[0].timestamp_ms == 2001);
  CHECK((*moved_rounds)[0].messages == (*open_store(file)->tool_rounds_of(first.id))[0].messages);
  CHECK((*moved_rounds)[0].messages[0]["tool_calls"][0]["function"]["arguments"] ==
        "{\"city\":\"Z\u00fcrich\t\"}");

  // The moved database goes on: numbering after the copied lines, new ids after the old.
  ChatLine next;
  next.text = "after the move";
  next.timestamp_ms = 9000;
  auto appended = moved->append_line(first.id, next);
  REQUIRE(appended.ok());
  CHECK(appended->seq == 6);
  OutboxItem later;
  later.kind = "tool";
  later.url = "http://127.0.0.1:9/x";
  later.body = "{}";
  later.idempotency_key = "new";
  auto id = moved->enqueue(later);
  REQUIRE(id.ok());
  CHECK(*id > items.back().id);

  // A second run finds the destination in use and changes nothing.
  Run again = migrate({"--from", file, "--to", uri});
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("already has"));
  CHECK_THAT(again.err, Catch::Contains("empty database"));
  CHECK(*open_store(uri)->count_lines(first.id) == 6);
}

TEST_CASE("migrate: mistakes are named", "[migrate]") {
  TempDir dir;
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();

  Run no_to = migrate({"--from", dir.file("x.db")});
  CHECK(no_to.exit_code == 64);
  CHECK_THAT(no_to.err, Catch::Contains("--to URI"));

  Run file_to = migrate({"--from", dir.file("x.db"), "--to", dir.file("y.db")});
  CHECK(file_to.exit_code == 64);
  CHECK_THAT(file_to.err, Catch::Contains("postgresql://"));

  Run missing = migrate({"--from", dir.file("missing.db"), "--to", uri});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("missing.db"));
  CHECK_THAT(pg.sql(uri, "SELECT to_regclass('sessions') IS NULL"), Catch::Equals("t"));

  // An unreachable server: named, without the password.
  {
    auto lite = open_store(dir.file("ok.db"));
  }
  Run down = migrate({"--from", dir.file("ok.db"), "--to",
                      "postgresql://parley:hunter2@127.0.0.1:1/parley"});
  CHECK(down.exit_code == 1);
  CHECK_THAT(down.err, Catch::Contains("127.0.0.1:1"));
  CHECK_THAT(down.err, !Catch::Contains("hunter2"));
}

TEST_CASE("a host runs on the moved database: a session continued there has the old lines",
          "[migrate]") {
  TempDir dir;
  const std::string file = dir.file("parley.db");
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  SessionRecord old = session("alpha", now - 60000);
  old.user_id.clear();
  old.public_key = "pk-alpha";  // bound to the agent's key: the REST calls below present it
  const parley::test::Headers key = {{"X-Parley-Public-Key", "pk-alpha"}};
  {
    auto lite = open_store(file);
    REQUIRE(lite->create_session(old).ok());
    for (const char* text : {"hello", "Hi friend!"}) {
      ChatLine line;
      line.text = text;
      line.timestamp_ms = now - 50000;
      REQUIRE(lite->append_line(old.id, line).ok());
    }
  }
  REQUIRE(migrate({"--from", file, "--to", uri}).exit_code == 0);

  HostFixture host(parley::test::base_host_config(), uri);
  json opened = parley::test::body_of(
      host.rest("POST", "Session", json{{"memoriID", "alpha"}, {"continueFromSessionID", old.id}},
                key));
  INFO(opened.dump());
  REQUIRE(opened["resultCode"] == 0);
  const std::string id = opened["sessionID"];
  CHECK(opened["continuation"] == "continued");  // a new session continuing it (DESIGN §3)
  json reply = parley::test::body_of(
      host.rest("POST", "TextEnteredEvent/" + id, json{{"text", "hello"}}, key));
  CHECK(reply["resultCode"] == 0);
  json logs =
      parley::test::body_of(host.rest("GET", "SessionChatLogs/" + id + "/" + old.id, nullptr, key));
  INFO(logs.dump());
  REQUIRE(logs["chatLogs"].size() >= 1);
  CHECK(logs["chatLogs"][0]["lines"].size() == 2);
  host.process().stop();

  auto moved = open_store(uri);
  auto record = moved->find_session(id);
  REQUIRE(record.ok());
  REQUIRE(record->has_value());
  CHECK((*record)->continued_from == old.id);
  auto lines = moved->lines_of(id);  // the greeting and the new turn, stored in PostgreSQL
  REQUIRE(lines.ok());
  REQUIRE(lines->size() == 3);
  CHECK((*lines)[0].text == "Welcome back, friend.");
  CHECK((*lines)[1].text == "hello");
  CHECK((*lines)[2].inbound == false);
}
