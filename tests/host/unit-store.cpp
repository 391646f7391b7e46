// The shared store suite: every Store implementation passes it. Run on SQLite by default
// and on PostgreSQL with PARLEY_TEST_STORE=postgres (ctest: native.host.store and
// native.host.store.postgres); each case gets a fresh, empty database (test_store.hpp).
// What only one implementation has is tested in unit-store-sqlite.cpp and
// unit-store-postgres.cpp.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "parley/host/ids.hpp"
#include "parley/host/store.hpp"
#include "test_store.hpp"

using parley::json;
using parley::host::ChatLine;
using parley::host::OutboxItem;
using parley::host::SessionRecord;
using parley::host::Store;
using parley::host::UserLogQuery;
using parley::test::TestDatabase;

namespace {

SessionRecord make_session(const std::string& agent = "a1", const std::string& user = "",
                           std::int64_t created_ms = 1000) {
  SessionRecord s;
  s.id = parley::host::new_session_id();
  s.chat_log_id = parley::host::new_session_id();
  s.agent_id = agent;
  s.public_key = "pk";
  s.user_id = user;
  s.channel = "voice";
  s.metadata = {{"userName", "Ann"}, {"nested", {{"plan", "pro"}}}};
  s.include_metadata_in_prompt = true;
  s.variables = {{"userName", "Ann"}, {"weather", "sunny"}};
  s.created_ms = created_ms;
  s.last_activity_ms = created_ms;
  return s;
}

ChatLine make_line(const std::string& text, std::int64_t at_ms, bool inbound = true) {
  ChatLine line;
  line.text = text;
  line.timestamp_ms = at_ms;
  line.inbound = inbound;
  return line;
}

// Two sessions of agent a1 created at 1000 ms: the one a case writes to, and another whose
// lines must not mix with it.
std::pair<SessionRecord, SessionRecord> two_sessions(Store& store) {
  SessionRecord s = make_session("a1", "", 1000);
  SessionRecord other = make_session("a1", "", 1000);
  REQUIRE(store.create_session(s).ok());
  REQUIRE(store.create_session(other).ok());
  return {s, other};
}

SessionRecord find(Store& store, const std::string& id) {
  auto found = store.find_session(id);
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  return **found;
}

}  // namespace

TEST_CASE("a new store is at the current schema version, and opens again as it is", "[store]") {
  TestDatabase db;
  SessionRecord s = make_session();
  {
    auto store = db.open();
    CHECK(store->user_version() == Store::schema_version);
    REQUIRE(store->create_session(s).ok());
  }
  auto store = db.open();  // an existing current database is not migrated again
  CHECK(store->user_version() == Store::schema_version);
  CHECK(find(*store, s.id).agent_id == s.agent_id);
}

TEST_CASE("sessions: create, find, touch, update, end", "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord s = make_session("a1", "user-1", 5000);
  s.continued_from = "earlier";
  REQUIRE(store->create_session(s).ok());

  SessionRecord got = find(*store, s.id);
  CHECK(got.chat_log_id == s.chat_log_id);
  CHECK(got.agent_id == "a1");
  CHECK(got.public_key == "pk");
  CHECK(got.user_id == "user-1");
  CHECK(got.channel == "voice");
  CHECK(got.metadata == s.metadata);
  CHECK(got.include_metadata_in_prompt);
  CHECK(got.variables == s.variables);
  CHECK(got.continued_from == "earlier");
  CHECK_FALSE(got.opted_out);
  CHECK(got.created_ms == 5000);
  CHECK(got.last_activity_ms == 5000);
  CHECK_FALSE(got.ended_ms.has_value());

  auto by_log = store->find_session_by_chat_log(s.chat_log_id);
  REQUIRE(by_log.ok());
  REQUIRE(by_log->has_value());
  CHECK((*by_log)->id == s.id);
  auto by_id_as_log = store->find_session_by_chat_log(s.id);
  REQUIRE(by_id_as_log.ok());
  CHECK_FALSE(by_id_as_log->has_value());
  auto missing = store->find_session("no-such-session");
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->has_value());

  auto duplicate = store->create_session(s);
  REQUIRE_FALSE(duplicate.ok());
  CHECK(duplicate.error().code == "conflict");
  SessionRecord same_log = make_session();
  same_log.chat_log_id = s.chat_log_id;
  auto log_clash = store->create_session(same_log);
  REQUIRE_FALSE(log_clash.ok());
  CHECK(log_clash.error().code == "conflict");

  REQUIRE(store->touch_session(s.id, 9000).ok());
  CHECK(find(*store, s.id).last_activity_ms == 9000);
  REQUIRE(store->touch_session(s.id, 8000).ok());  // a clock stepping back
  CHECK(find(*store, s.id).last_activity_ms == 9000);
  CHECK(store->touch_session("nope", 1).error().code == "not_found");

  json vars = {{"userName", "Bob"}, {"tool", {{"summary", "ok"}}}};
  REQUIRE(store->update_variables(s.id, vars).ok());
  CHECK(find(*store, s.id).variables == vars);
  CHECK(store->update_variables("nope", vars).error().code == "not_found");

  // A resumed session takes its page's metadata and variables in one write; the rest stays.
  json page = {{"userName", "Ann"}, {"page", "/pricing"}, {"nested", {{"plan", "pro"}}}};
  json page_vars = {{"userName", "Ann"}, {"page", "/pricing"}};
  REQUIRE(store->update_metadata(s.id, page, page_vars).ok());
  got = find(*store, s.id);
  CHECK(got.metadata == page);
  CHECK(got.variables == page_vars);
  CHECK(got.agent_id == s.agent_id);
  CHECK(got.include_metadata_in_prompt);
  CHECK(store->update_metadata("nope", page, page_vars).error().code == "not_found");

  REQUIRE(store->end_session(s.id, 10000, "user_hangup").ok());
  REQUIRE(store->end_session(s.id, 11000, "timeout").ok());  // the first end is kept
  got = find(*store, s.id);
  REQUIRE(got.ended_ms.has_value());
  CHECK(*got.ended_ms == 10000);
  CHECK(got.end_reason == "user_hangup");
  auto end_missing = store->end_session("nope", 1, "x");
  REQUIRE_FALSE(end_missing.ok());
  CHECK(end_missing.error().code == "not_found");
}

TEST_CASE("open sessions and the latest session of a user", "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord old_one = make_session("a1", "u1", 1000);
  SessionRecord recent = make_session("a1", "u1", 2000);
  SessionRecord other_agent = make_session("a2", "u1", 3000);
  SessionRecord anonymous = make_session("a1", "", 4000);
  for (const auto* s : {&old_one, &recent, &other_agent, &anonymous}) {
    REQUIRE(store->create_session(*s).ok());
  }
  auto latest = store->latest_user_session("a1", "u1");
  REQUIRE(latest.ok());
  REQUIRE(latest->has_value());
  CHECK((*latest)->id == recent.id);
  // Activity, not creation, decides.
  REQUIRE(store->touch_session(old_one.id, 5000).ok());
  latest = store->latest_user_session("a1", "u1");
  REQUIRE(latest->has_value());
  CHECK((*latest)->id == old_one.id);
  auto nobody = store->latest_user_session("a1", "");
  REQUIRE(nobody.ok());
  CHECK_FALSE(nobody->has_value());
  auto stranger = store->latest_user_session("a1", "u2");
  REQUIRE(stranger.ok());
  CHECK_FALSE(stranger->has_value());

  REQUIRE(store->end_session(recent.id, 6000, "done").ok());
  auto open = store->open_sessions();
  REQUIRE(open.ok());
  std::set<std::string> ids;
  for (const auto& s : *open) ids.insert(s.id);
  CHECK(ids == std::set<std::string>{old_one.id, other_agent.id, anonymous.id});
}

TEST_CASE("the continuation chain, oldest first, ends at a missing link", "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord a = make_session();
  SessionRecord b = make_session();
  SessionRecord c = make_session();
  b.continued_from = a.id;
  c.continued_from = b.id;
  for (const auto* s : {&a, &b, &c}) REQUIRE(store->create_session(*s).ok());

  auto chain = store->session_chain(c.id);
  REQUIRE(chain.ok());
  REQUIRE(chain->size() == 3);
  CHECK((*chain)[0].id == a.id);
  CHECK((*chain)[1].id == b.id);
  CHECK((*chain)[2].id == c.id);

  SessionRecord orphan = make_session();
  orphan.continued_from = "purged-long-ago";
  REQUIRE(store->create_session(orphan).ok());
  chain = store->session_chain(orphan.id);
  REQUIRE(chain.ok());
  REQUIRE(chain->size() == 1);
  CHECK(chain->front().id == orphan.id);

  chain = store->session_chain("not-there");
  REQUIRE(chain.ok());
  CHECK(chain->empty());

  // A cycle (only a damaged file could hold one) stops after 64 hops.
  SessionRecord x = make_session();
  SessionRecord y = make_session();
  x.continued_from = y.id;
  y.continued_from = x.id;
  REQUIRE(store->create_session(x).ok());
  REQUIRE(store->create_session(y).ok());
  chain = store->session_chain(x.id);
  REQUIRE(chain.ok());
  CHECK(chain->size() == 64);
}

TEST_CASE("the newest lines of a session, oldest first, and the agent's last line", "[store]") {
  TestDatabase db;
  auto store = db.open();
  auto [s, other] = two_sessions(*store);
  // user 0, agent 1, user 2, ..., user 8, then two user lines (9, 10) with no answer.
  for (int i = 0; i < 11; ++i)
    REQUIRE(store->append_line(s.id, make_line("line " + std::to_string(i), 2000 + i,
                                               i % 2 == 0 || i == 9)).ok());
  REQUIRE(store->append_line(other.id, make_line("elsewhere", 2500, false)).ok());

  auto texts = [](const std::vector<ChatLine>& lines) {
    std::vector<std::string> out;
    for (const auto& line : lines) out.push_back(line.text);
    return out;
  };
  auto last3 = store->newest_lines(s.id, 3, false);
  REQUIRE(last3.ok());
  CHECK(texts(*last3) == std::vector<std::string>{"line 8", "line 9", "line 10"});
  CHECK((*last3)[0].seq == 9);
  CHECK((*last3)[2].seq == 11);
  auto all = store->newest_lines(s.id, 100, false);
  REQUIRE(all.ok());
  CHECK(texts(*all) == texts(*store->lines_of(s.id)));

  auto agent = store->newest_lines(s.id, 1, true);
  REQUIRE(agent.ok());
  CHECK(texts(*agent) == std::vector<std::string>{"line 7"});  // 9 and 10 are the user's
  auto agent2 = store->newest_lines(s.id, 2, true);
  CHECK(texts(*agent2) == std::vector<std::string>{"line 5", "line 7"});

  auto none = store->newest_lines("no-such-session", 5, false);
  REQUIRE(none.ok());
  CHECK(none->empty());
  auto zero = store->newest_lines(s.id, 0, false);
  REQUIRE(zero.ok());
  CHECK(zero->empty());
}

TEST_CASE("chat lines are numbered in order and found by id", "[store]") {
  TestDatabase db;
  auto store = db.open();
  auto [s, other] = two_sessions(*store);

  static const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ChatLine line = make_line("line " + std::to_string(i), 2000 + i, i % 2 == 0);
    if (i == 1) {
      line.emitter = "get_weather";
      line.context_vars = {{"city", "Zürich"}};
    }
    auto stored = store->append_line(s.id, line);
    INFO((stored ? "" : stored.error().message));
    REQUIRE(stored.ok());
    CHECK(stored->seq == i + 1);
    CHECK(stored->session_id == s.id);
    CHECK(std::regex_match(stored->line_id, uuid));
    ids.push_back(stored->line_id);
  }
  REQUIRE(store->append_line(other.id, make_line("elsewhere", 2500)).ok());
  CHECK(find(*store, s.id).last_activity_ms == 2002);  // touched by the append

  auto lines = store->lines_of(s.id);
  REQUIRE(lines.ok());
  REQUIRE(lines->size() == 3);
  for (int i = 0; i < 3; ++i) {
    const ChatLine& line = (*lines)[static_cast<std::size_t>(i)];
    CHECK(line.seq == i + 1);
    CHECK(line.line_id == ids[static_cast<std::size_t>(i)]);
    CHECK(line.text == "line " + std::to_string(i));
    CHECK(line.timestamp_ms == 2000 + i);
    CHECK(line.inbound == (i % 2 == 0));
    CHECK_FALSE(line.interrupted);
  }
  CHECK((*lines)[1].emitter == "get_weather");
  CHECK((*lines)[1].context_vars == json{{"city", "Zürich"}});
  CHECK((*lines)[0].context_vars == json::object());
  CHECK(*store->count_lines(s.id) == 3);
  CHECK(*store->count_lines(other.id) == 1);
  CHECK(*store->count_lines("nope") == 0);

  auto owner = store->session_of_line(ids[2]);
  REQUIRE(owner.ok());
  REQUIRE(owner->has_value());
  CHECK(**owner == s.id);
  auto no_owner = store->session_of_line(s.id);
  REQUIRE(no_owner.ok());
  CHECK_FALSE(no_owner->has_value());

  // A given line id is kept; a duplicate one is a conflict and changes nothing.
  ChatLine given = make_line("given id", 3000);
  given.line_id = "fixed-line-id";
  REQUIRE(store->append_line(s.id, given).ok());
  auto again = store->append_line(s.id, given);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == "conflict");
  CHECK(*store->count_lines(s.id) == 4);

  REQUIRE(store->mark_interrupted(ids[0], true).ok());
  REQUIRE(store->mark_interrupted(ids[1], false).ok());
  lines = store->lines_of(s.id);
  CHECK((*lines)[0].interrupted);
  CHECK((*lines)[0].text == "line 0");
  CHECK((*lines)[1].interrupted);
  CHECK((*lines)[1].text.empty());
  CHECK(store->mark_interrupted("nope", true).error().code == "not_found");
}

TEST_CASE("a failed append leaves nothing behind", "[store]") {
  TestDatabase db;
  auto store = db.open();
  auto missing = store->append_line("no-such-session", make_line("lost", 1));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "not_found");
  CHECK_THAT(missing.error().message, Catch::Contains("session"));
  CHECK(db.sql("SELECT COUNT(*) FROM chat_lines", "SELECT COUNT(*) FROM chat_lines") == "0");

  // A failure half-way (SQLite: the session touch after the insert; PostgreSQL: the insert
  // after the session's row was locked and touched) rolls back what was done.
  SessionRecord s = make_session("a1", "", 1000);
  REQUIRE(store->create_session(s).ok());
  db.sql("CREATE TRIGGER fail_touch BEFORE UPDATE OF last_activity_ms ON sessions "
         "BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
         "CREATE FUNCTION fail_line() RETURNS trigger LANGUAGE plpgsql AS "
         "$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$; "
         "CREATE TRIGGER fail_line AFTER INSERT ON chat_lines "
         "FOR EACH ROW EXECUTE FUNCTION fail_line()");
  auto failed = store->append_line(s.id, make_line("half", 2000));
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().code == "db_error");
  CHECK_THAT(failed.error().message, Catch::Contains("injected failure"));
  CHECK(*store->count_lines(s.id) == 0);
  CHECK(find(*store, s.id).last_activity_ms == 1000);
  db.sql("DROP TRIGGER fail_touch", "DROP TRIGGER fail_line ON chat_lines");
  // The store is usable afterwards, and numbering did not skip.
  auto ok = store->append_line(s.id, make_line("whole", 3000));
  REQUIRE(ok.ok());
  CHECK(ok->seq == 1);
}

TEST_CASE("chat logs of a user: filters, paging, total count", "[store]") {
  TestDatabase db;
  auto store = db.open();
  // u1 on a1: sessions created at 1000..4000 with 0..3 lines.
  std::vector<SessionRecord> mine;
  for (int i = 0; i < 4; ++i) {
    SessionRecord s = make_session("a1", "u1", 1000 * (i + 1));
    REQUIRE(store->create_session(s).ok());
    for (int n = 0; n < i; ++n) {
      REQUIRE(store->append_line(s.id, make_line("x", 10000 + n)).ok());
    }
    mine.push_back(s);
  }
  SessionRecord other_user = make_session("a1", "u2", 2500);
  SessionRecord other_agent = make_session("a2", "u1", 2500);
  SessionRecord anonymous = make_session("a1", "", 2500);
  for (const auto* s : {&other_user, &other_agent, &anonymous}) {
    REQUIRE(store->create_session(*s).ok());
    REQUIRE(store->append_line(s->id, make_line("y", 10000)).ok());
  }

  auto ids_of = [](const std::vector<SessionRecord>& list) {
    std::vector<std::string> out;
    for (const auto& s : list) out.push_back(s.id);
    return out;
  };
  UserLogQuery q;
  q.agent_id = "a1";
  q.user_id = "u1";
  std::uint32_t total = 99;
  auto page = store->user_sessions(q, &total);
  REQUIRE(page.ok());
  CHECK(total == 3);  // the session with no lines is left out by default
  CHECK(ids_of(*page) == std::vector<std::string>{mine[3].id, mine[2].id, mine[1].id});

  q.include_empty = true;
  page = store->user_sessions(q, &total);
  CHECK(total == 4);
  CHECK(page->size() == 4);
  CHECK(page->back().id == mine[0].id);

  q.include_empty = false;
  q.minimum_messages = 2;
  page = store->user_sessions(q, &total);
  CHECK(total == 2);
  CHECK(ids_of(*page) == std::vector<std::string>{mine[3].id, mine[2].id});

  q.minimum_messages = 0;
  q.date_from_ms = 2000;
  q.date_to_ms = 3000;
  page = store->user_sessions(q, &total);
  CHECK(total == 2);
  CHECK(ids_of(*page) == std::vector<std::string>{mine[2].id, mine[1].id});

  q.date_from_ms.reset();
  q.date_to_ms.reset();
  q.from = 1;
  q.how_many = 1;
  page = store->user_sessions(q, &total);
  CHECK(total == 3);  // the total ignores paging
  CHECK(ids_of(*page) == std::vector<std::string>{mine[2].id});
  q.from = 5;
  page = store->user_sessions(q, nullptr);
  REQUIRE(page.ok());
  CHECK(page->empty());

  UserLogQuery anonymous_query;
  anonymous_query.agent_id = "a1";
  page = store->user_sessions(anonymous_query, &total);
  REQUIRE(page.ok());
  CHECK(page->empty());  // "" is nobody: anonymous sessions are never listed
  CHECK(total == 0);
}

TEST_CASE("purge removes old sessions of one agent with their lines", "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord old_a1 = make_session("a1", "", 1000);
  SessionRecord new_a1 = make_session("a1", "", 1000);
  SessionRecord old_a2 = make_session("a2", "", 1000);
  for (const auto* s : {&old_a1, &new_a1, &old_a2}) REQUIRE(store->create_session(*s).ok());
  auto line = store->append_line(old_a1.id, make_line("old", 1500));
  REQUIRE(line.ok());
  REQUIRE(store->touch_session(new_a1.id, 5000).ok());

  auto purged = store->purge_sessions("a1", 2000);
  REQUIRE(purged.ok());
  CHECK(*purged == 1);
  CHECK_FALSE(store->find_session(old_a1.id)->has_value());
  CHECK(store->find_session(new_a1.id)->has_value());
  CHECK(store->find_session(old_a2.id)->has_value());
  CHECK_FALSE(store->session_of_line(line->line_id)->has_value());
  CHECK(*store->count_lines(old_a1.id) == 0);
  CHECK(*store->purge_sessions("a1", 2000) == 0);
}

TEST_CASE("the webhook outbox: enqueue, due, failure, backoff, give up, delivery", "[store]") {
  TestDatabase db;
  auto store = db.open();
  OutboxItem item;
  item.kind = "session_data";
  item.url = "https://hooks.example/end";
  item.headers = json::array({json::array({"X-Key", "v"})});
  item.body = R"({"session_id":"s1"})";
  item.idempotency_key = "session_data:s1";
  item.created_ms = 1000;
  item.next_attempt_ms = 1000;
  auto first = store->enqueue(item);
  REQUIRE(first.ok());

  auto duplicate = store->enqueue(item);
  REQUIRE_FALSE(duplicate.ok());
  CHECK(duplicate.error().code == "conflict");

  OutboxItem later = item;
  later.idempotency_key = "tool:t1";
  later.kind = "tool";
  later.method = "GET";
  later.next_attempt_ms = 5000;
  auto second = store->enqueue(later);
  REQUIRE(second.ok());
  CHECK(*second != *first);
  CHECK(*store->pending_count() == 2);

  auto due = store->due_items(1000, 10);
  REQUIRE(due.ok());
  REQUIRE(due->size() == 1);
  const OutboxItem& got = due->front();
  CHECK(got.id == *first);
  CHECK(got.kind == "session_data");
  CHECK(got.url == item.url);
  CHECK(got.method == "POST");
  CHECK(got.headers == item.headers);
  CHECK(got.body == item.body);
  CHECK(got.idempotency_key == item.idempotency_key);
  CHECK(got.created_ms == 1000);
  CHECK(got.attempts == 0);
  CHECK_FALSE(got.delivered_ms.has_value());
  CHECK_FALSE(got.gave_up);
  CHECK(store->due_items(5000, 10)->size() == 2);
  CHECK(store->due_items(5000, 1)->size() == 1);

  // A failure: attempts+1, the error kept, the next attempt pushed back.
  REQUIRE(store->mark_failed(*first, 3000, "connection refused", 3).ok());
  auto items = store->outbox_items();
  REQUIRE(items.ok());
  CHECK(items->at(0).attempts == 1);
  CHECK(items->at(0).last_error == "connection refused");
  CHECK(items->at(0).next_attempt_ms == 3000);
  CHECK_FALSE(items->at(0).gave_up);
  CHECK(store->due_items(2999, 10)->empty());
  CHECK(store->due_items(3000, 10)->size() == 1);

  REQUIRE(store->mark_failed(*first, 4000, "HTTP 500", 3).ok());
  REQUIRE(store->mark_failed(*first, 9000, "HTTP 503", 3).ok());  // third of three attempts
  items = store->outbox_items();
  CHECK(items->at(0).attempts == 3);
  CHECK(items->at(0).gave_up);
  CHECK(items->at(0).last_error == "HTTP 503");
  CHECK(store->due_items(100000, 10)->size() == 1);  // only the tool item
  CHECK(*store->pending_count() == 1);
  CHECK(store->mark_failed(*first, 1, "again", 3).error().code == "not_found");

  REQUIRE(store->mark_delivered(*second, 6000).ok());
  REQUIRE(store->mark_delivered(*second, 7000).ok());  // the first delivery time stays
  items = store->outbox_items();
  REQUIRE(items->at(1).delivered_ms.has_value());
  CHECK(*items->at(1).delivered_ms == 6000);
  CHECK(store->due_items(100000, 10)->empty());
  CHECK(*store->pending_count() == 0);
  CHECK(store->mark_delivered(424242, 1).error().code == "not_found");
  CHECK(store->mark_failed(*second, 1, "late", 3).error().code == "not_found");

  // The queue survives a reopen.
  store.reset();
  auto reopened = db.open();
  auto all = reopened->outbox_items();
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
}

TEST_CASE("every acknowledged line survives a SIGKILL", "[store]") {
  TestDatabase db;
  SessionRecord s = make_session("a1", "", 1000);
  {
    auto store = db.open();
    REQUIRE(store->create_session(s).ok());
  }
  int acks[2];
  REQUIRE(::pipe(acks) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // The child: append as fast as it can, acknowledging each line id once append_line
    // has returned (as the host would before replying), until it is killed.
    ::close(acks[0]);
    auto store = Store::open(db.location());
    if (!store) ::_exit(3);
    for (int i = 0; i < 1000000; ++i) {
      auto line = (*store)->append_line(s.id, make_line("line " + std::to_string(i), 2000 + i));
      if (!line) ::_exit(4);
      std::string ack = line->line_id + "\n";
      if (::write(acks[1], ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) {
        ::_exit(5);
      }
    }
    ::_exit(0);
  }
  ::close(acks[1]);

  // Read acknowledgements until 200 arrived (every wait bounded), then kill mid-stream.
  std::string received;
  auto count_lines_in = [](const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool killed = false;
  char buffer[4096];
  for (;;) {
    if (!killed && (count_lines_in(received) >= 200 ||
                    std::chrono::steady_clock::now() > deadline)) {
      ::kill(child, SIGKILL);
      killed = true;
    }
    pollfd p{acks[0], POLLIN, 0};
    int ready = ::poll(&p, 1, 2000);
    if (ready <= 0) break;  // nothing for 2 s: the child is gone (or stuck: killed above)
    ssize_t n = ::read(acks[0], buffer, sizeof buffer);
    if (n <= 0) break;  // EOF: the child is dead and the pipe drained
    received.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(acks[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);

  // Only complete ack lines count: a partial one was not acknowledged.
  std::vector<std::string> acked;
  std::size_t start = 0;
  for (std::size_t nl = received.find('\n'); nl != std::string::npos;
       nl = received.find('\n', start)) {
    acked.push_back(received.substr(start, nl - start));
    start = nl + 1;
  }
  REQUIRE(acked.size() >= 200);

  auto store = db.open();
  auto lines = store->lines_of(s.id);
  REQUIRE(lines.ok());
  std::set<std::string> stored;
  for (const auto& line : *lines) stored.insert(line.line_id);
  std::size_t lost = 0;
  for (const auto& id : acked) lost += stored.count(id) == 0 ? 1 : 0;
  INFO("acknowledged " << acked.size() << ", stored " << stored.size());
  CHECK(lost == 0);
  CHECK(stored.size() >= acked.size());
  // Numbering has no gaps after recovery either.
  for (std::size_t i = 0; i < lines->size(); ++i) {
    CHECK((*lines)[i].seq == static_cast<std::int64_t>(i + 1));
  }
}

TEST_CASE("reopen_session: an ended session opens again and counts it; a live one is touched", "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord s = make_session();
  REQUIRE(store->create_session(s).ok());
  REQUIRE(store->reopen_session(s.id, s.last_activity_ms + 10).ok());
  CHECK(find(*store, s.id).reopened == 0);  // it had not ended
  CHECK(find(*store, s.id).last_activity_ms == s.last_activity_ms + 10);

  REQUIRE(store->end_session(s.id, s.last_activity_ms + 20, "client_ended").ok());
  REQUIRE(store->reopen_session(s.id, s.last_activity_ms + 30).ok());
  SessionRecord again = find(*store, s.id);
  CHECK(again.reopened == 1);
  CHECK_FALSE(again.ended_ms.has_value());
  CHECK(again.end_reason.empty());
  REQUIRE(store->end_session(s.id, s.last_activity_ms + 40, "max_idle").ok());
  CHECK(find(*store, s.id).end_reason == "max_idle");  // the reopened call's own end

  parley::Status missing = store->reopen_session("no-such-session", 1);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "not_found");
}

TEST_CASE("outbox claims: a claimed item is no one else's until it is marked or its lease lapses",
          "[store]") {
  TestDatabase db;
  auto host_a = db.open();
  auto host_b = db.open();  // a second connection, as a second host has
  for (int i = 0; i < 3; ++i) {
    OutboxItem item;
    item.kind = "session_data";
    item.url = "https://hooks.example/end";
    item.body = "{}";
    item.idempotency_key = "session_data:" + std::to_string(i);
    item.created_ms = 1000;
    item.next_attempt_ms = 1000 + i;
    REQUIRE(host_a->enqueue(item).ok());
  }
  auto a = host_a->claim_due(2000, 2, "host-a", 60000);
  REQUIRE(a.ok());
  REQUIRE(a->size() == 2);
  CHECK((*a)[0].idempotency_key == "session_data:0");  // oldest first
  CHECK((*a)[0].lease_owner == "host-a");
  CHECK((*a)[0].lease_until_ms == 62000);
  auto b = host_b->claim_due(2000, 10, "host-b", 100000);  // B's until 102000
  REQUIRE(b.ok());
  REQUIRE(b->size() == 1);  // only what A did not claim
  CHECK((*b)[0].idempotency_key == "session_data:2");
  CHECK(host_b->claim_due(2000, 10, "host-b", 60000)->empty());

  // A delivers one; the other it holds until the lease lapses (A died), then B may send it.
  REQUIRE(host_a->mark_delivered((*a)[0].id, 2100).ok());
  CHECK(host_b->claim_due(61999, 10, "host-b", 60000)->empty());
  auto after = host_b->claim_due(62000, 10, "host-b", 60000);
  REQUIRE(after.ok());
  REQUIRE(after->size() == 1);
  CHECK(after->front().id == (*a)[1].id);
  CHECK(after->front().lease_owner == "host-b");

  // A failure ends the lease: the retry is anyone's once it is due.
  REQUIRE(host_b->mark_failed(after->front().id, 70000, "503", 8).ok());
  auto retry = host_a->claim_due(70000, 10, "host-a", 60000);
  REQUIRE(retry.ok());
  std::set<std::int64_t> ids;
  for (const auto& item : *retry) ids.insert(item.id);
  CHECK(ids.count(after->front().id) == 1);
  CHECK(ids.count((*b)[0].id) == 0);  // still B's (until 102000)
  CHECK(ids.count((*a)[0].id) == 0);  // delivered
}

TEST_CASE("outbox claims from many connections at once never hand one item to two",
          "[store]") {
  TestDatabase db;
  auto writer = db.open();
  constexpr int items = 60;
  for (int i = 0; i < items; ++i) {
    OutboxItem item;
    item.kind = "session_data";
    item.url = "https://hooks.example/end";
    item.body = "{}";
    item.idempotency_key = "k" + std::to_string(i);
    item.created_ms = item.next_attempt_ms = 1000;
    REQUIRE(writer->enqueue(item).ok());
  }
  constexpr int hosts = 4;
  std::vector<std::unique_ptr<Store>> stores;
  for (int h = 0; h < hosts; ++h) stores.push_back(db.open());
  std::vector<std::vector<std::int64_t>> claimed(hosts);
  std::vector<std::string> errors(hosts);
  std::vector<std::thread> threads;
  for (int h = 0; h < hosts; ++h)
    threads.emplace_back([&, h] {
      for (;;) {
        auto got = stores[static_cast<std::size_t>(h)]->claim_due(2000, 5, "h" + std::to_string(h), 60000);
        if (!got) {
          errors[static_cast<std::size_t>(h)] = got.error().message;
          return;
        }
        if (got->empty()) return;
        for (const auto& item : *got) claimed[static_cast<std::size_t>(h)].push_back(item.id);
      }
    });
  for (auto& t : threads) t.join();
  std::set<std::int64_t> all;
  std::size_t total = 0;
  for (int h = 0; h < hosts; ++h) {
    INFO(errors[static_cast<std::size_t>(h)]);
    CHECK(errors[static_cast<std::size_t>(h)].empty());
    total += claimed[static_cast<std::size_t>(h)].size();
    all.insert(claimed[static_cast<std::size_t>(h)].begin(), claimed[static_cast<std::size_t>(h)].end());
  }
  CHECK(total == static_cast<std::size_t>(items));  // each claimed once
  CHECK(all.size() == static_cast<std::size_t>(items));
}

TEST_CASE("call leases: taken, renewed by the heartbeat, taken over, released, lapsed",
          "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord s = make_session();
  SessionRecord t = make_session();
  REQUIRE(store->create_session(s).ok());
  REQUIRE(store->create_session(t).ok());
  auto missing = store->take_call_lease("no-such-session", "A", 1000, 20000);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "not_found");

  REQUIRE(store->take_call_lease(s.id, "A", 1000, 20000).ok());
  REQUIRE(store->take_call_lease(t.id, "A", 1000, 20000).ok());
  CHECK(store->call_lease_holder(s.id, 20999).value() == std::optional<std::string>("A"));
  CHECK_FALSE(store->call_lease_holder(s.id, 21000).value().has_value());  // lapsed
  auto leased = store->leased_sessions(5000);
  REQUIRE(leased.ok());
  CHECK(std::set<std::string>(leased->begin(), leased->end()) ==
        std::set<std::string>{s.id, t.id});

  // Heartbeat at 15 s: both last until 35 s.
  auto held = store->renew_call_leases("A", 15000, 20000);
  REQUIRE(held.ok());
  CHECK(std::set<std::string>(held->begin(), held->end()) == std::set<std::string>{s.id, t.id});
  CHECK(store->call_lease_holder(s.id, 34999).value() == std::optional<std::string>("A"));

  // The client of s reconnects to host B: B takes the lease; A's heartbeat no longer has it,
  // and A's release does not take it from B.
  REQUIRE(store->take_call_lease(s.id, "B", 16000, 20000).ok());
  held = store->renew_call_leases("A", 17000, 20000);
  REQUIRE(held.ok());
  CHECK(*held == std::vector<std::string>{t.id});
  REQUIRE(store->release_call_lease(s.id, "A").ok());
  CHECK(store->call_lease_holder(s.id, 17000).value() == std::optional<std::string>("B"));
  REQUIRE(store->release_call_lease(s.id, "B").ok());
  CHECK_FALSE(store->call_lease_holder(s.id, 17000).value().has_value());
  CHECK(*store->leased_sessions(17000) == std::vector<std::string>{t.id});
}

TEST_CASE("the Millis columns: agent_config, extra prompt, function calls, call logs", "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord s = make_session("a1", "", 1000);
  s.agent_overrides = {{"prompt", "terse"}};
  s.extra_prompt = "The caller is premium.";
  REQUIRE(store->create_session(s).ok());
  SessionRecord got = find(*store, s.id);
  CHECK(got.agent_overrides == s.agent_overrides);
  CHECK(got.extra_prompt == s.extra_prompt);
  CHECK(got.function_calls == parley::json::array());
  CHECK(got.call_status.empty());

  REQUIRE(store->add_function_call(s.id, {{"name", "a"}, {"params", {{"x", 1}}}}).ok());
  REQUIRE(store->add_function_call(s.id, {{"name", "b"}, {"params", parley::json::object()}}).ok());
  got = find(*store, s.id);
  REQUIRE(got.function_calls.size() == 2);
  CHECK(got.function_calls[0]["params"]["x"] == 1);
  CHECK(got.function_calls[1]["name"] == "b");
  CHECK(store->add_function_call("nope", parley::json::object()).error().code == "not_found");

  // The first end keeps its call_status too.
  REQUIRE(store->end_session(s.id, 5000, "client_ended", "user-ended").ok());
  REQUIRE(store->end_session(s.id, 6000, "max_idle", "timeout").ok());
  got = find(*store, s.id);
  CHECK(got.call_status == "user-ended");
  CHECK(got.end_reason == "client_ended");

  // Call logs: ended sessions only, newest created first, filtered, paged by creation time.
  SessionRecord open_one = make_session("a1", "", 1500);
  REQUIRE(store->create_session(open_one).ok());
  std::vector<std::string> ended;
  for (int i = 0; i < 4; ++i) {
    SessionRecord e = make_session(i == 3 ? "a2" : "a1", "", 2000 + i * 100);
    REQUIRE(store->create_session(e).ok());
    REQUIRE(store->end_session(e.id, 9000, "agent_ended", i == 0 ? "agent-ended" : "timeout").ok());
    ended.push_back(e.id);
  }
  auto ids = [](const std::vector<SessionRecord>& v) {
    std::vector<std::string> out;
    for (const auto& r : v) out.push_back(r.id);
    return out;
  };
  parley::host::CallLogQuery all;
  auto everything = store->call_logs(all);
  REQUIRE(everything.ok());
  CHECK(ids(*everything) == std::vector<std::string>{ended[3], ended[2], ended[1], ended[0], s.id});
  parley::host::CallLogQuery page;
  page.limit = 2;
  CHECK(ids(*store->call_logs(page)) == std::vector<std::string>{ended[3], ended[2]});
  page.created_before_ms = 2200;  // the cursor: the last one's creation time
  CHECK(ids(*store->call_logs(page)) == std::vector<std::string>{ended[1], ended[0]});
  parley::host::CallLogQuery by;
  by.agent_id = "a2";
  CHECK(ids(*store->call_logs(by)) == std::vector<std::string>{ended[3]});
  by.agent_id.reset();
  by.call_status = "agent-ended";
  CHECK(ids(*store->call_logs(by)) == std::vector<std::string>{ended[0]});
  parley::host::CallLogQuery window;
  window.created_from_ms = 2100;
  window.created_to_ms = 2200;
  CHECK(ids(*store->call_logs(window)) == std::vector<std::string>{ended[2], ended[1]});
}

TEST_CASE("phone calls: the numbers and direction are kept, and call logs find them by either",
          "[store]") {
  TestDatabase db;
  auto store = db.open();
  SessionRecord web = make_session("a1", "", 1000);
  SessionRecord out = make_session("a1", "", 2000);
  out.channel = "phone";
  out.phone_from = "+15550001111";
  out.phone_to = "+15550002222";
  out.phone_direction = "outbound";
  SessionRecord in = make_session("a1", "", 3000);
  in.channel = "phone";
  in.phone_from = "+15550002222";
  in.phone_to = "+15550001111";
  in.phone_direction = "inbound";
  for (const auto* s : {&web, &out, &in}) {
    REQUIRE(store->create_session(*s).ok());
    REQUIRE(store->end_session(s->id, 9000, "client_ended", "user-ended").ok());
  }
  SessionRecord got = find(*store, out.id);
  CHECK(got.phone_from == "+15550001111");
  CHECK(got.phone_to == "+15550002222");
  CHECK(got.phone_direction == "outbound");
  CHECK(find(*store, web.id).phone_direction.empty());

  auto ids = [&](const std::string& number) {
    parley::host::CallLogQuery query;
    query.phone_number = number;
    auto logs = store->call_logs(query);
    REQUIRE(logs.ok());
    std::vector<std::string> out_ids;
    for (const auto& r : *logs) out_ids.push_back(r.id);
    return out_ids;
  };
  CHECK(ids("+15550002222") == std::vector<std::string>{in.id, out.id});  // from or to
  CHECK(ids("+15550001111") == std::vector<std::string>{in.id, out.id});
  CHECK(ids("+15550003333").empty());
  CHECK(ids("").empty());  // a web call has no number: "" finds nothing
}

TEST_CASE("tool rounds: kept in order after their line, read back as written, gone with the "
          "session",
          "[store]") {
  TestDatabase db;
  auto store = db.open();
  auto [s, other] = two_sessions(*store);
  auto user = store->append_line(s.id, make_line("Where is order 1234?", 2000));
  REQUIRE(user.ok());
  // OpenAI's shape, with what JSON text must keep exactly: quotes, a newline, non-ASCII.
  const json first = json::array(
      {{{"role", "assistant"},
        {"content", "Let me look.\n"},
        {"tool_calls",
         {{{"id", "call_1"},
           {"type", "function"},
           {"function", {{"name", "lookup_order"}, {"arguments", R"({"order_id":1234})"}}}}}}},
       {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", R"({"status":"versandt ✓"})"}}});
  json second = first;
  second[0]["content"] = nullptr;
  second[0]["tool_calls"][0]["id"] = "call_2";
  second[1]["tool_call_id"] = "call_2";
  parley::host::ToolRound round;
  round.after_line = user->seq;
  round.timestamp_ms = 2100;
  round.messages = first;
  auto stored = store->append_tool_round(s.id, round);
  REQUIRE(stored.ok());
  CHECK(stored->seq == 1);
  CHECK(stored->session_id == s.id);
  round.messages = second;
  round.timestamp_ms = 2200;
  REQUIRE(store->append_tool_round(s.id, round).ok());
  round.messages = first;
  REQUIRE(store->append_tool_round(other.id, round).ok());

  auto rounds = store->tool_rounds_of(s.id);
  REQUIRE(rounds.ok());
  REQUIRE(rounds->size() == 2);
  CHECK((*rounds)[0].seq == 1);
  CHECK((*rounds)[0].after_line == user->seq);
  CHECK((*rounds)[0].timestamp_ms == 2100);
  CHECK((*rounds)[0].messages == first);
  CHECK((*rounds)[1].seq == 2);
  CHECK((*rounds)[1].messages == second);
  CHECK(store->tool_rounds_of(other.id)->size() == 1);
  // A round is activity; the lines are not touched by it.
  CHECK(find(*store, s.id).last_activity_ms == 2200);
  CHECK(*store->count_lines(s.id) == 1);
  // Seen from another connection (another host) as written.
  auto again = db.open();
  CHECK(again->tool_rounds_of(s.id)->at(1).messages == second);

  auto missing = store->append_tool_round("no-such-session", round);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == "not_found");
  CHECK(store->tool_rounds_of("no-such-session")->empty());

  REQUIRE(*store->purge_sessions("a1", 3000) == 2);
  CHECK(store->tool_rounds_of(s.id)->empty());
  CHECK(store->tool_rounds_of(other.id)->empty());
}

TEST_CASE("a database of an earlier schema version is migrated and keeps its sessions",
          "[store]") {
  TestDatabase db;
  SessionRecord s = make_session();
  {
    auto store = db.open();
    CHECK(store->user_version() == Store::schema_version);
    REQUIRE(store->create_session(s).ok());
    REQUIRE(store->append_line(s.id, make_line("hello", 1500)).ok());
  }
  {
    auto store = db.open();  // a current database is not migrated again
    CHECK(store->user_version() == Store::schema_version);
    CHECK(store->lines_of(s.id)->size() == 1);
  }
  // Each step turns the database back to `version` (what the later versions added dropped,
  // in each dialect), then a store opened on it must have migrated it to the current version
  // and kept the session. A step's SQL adds to the steps' before it.
  struct Step {
    int version;
    const char* what;
    std::string sqlite, postgres;
    std::function<void(Store&)> check;
  };
  auto found = [&s](Store& store) {
    auto record = store.find_session(s.id);
    REQUIRE(record.ok());
    REQUIRE(record->has_value());
    CHECK((*record)->agent_id == s.agent_id);
    return **record;
  };
  const std::vector<Step> steps = {
      {5, "before the tool rounds of v6", "DROP TABLE tool_rounds; ", "DROP TABLE tool_rounds; ",
       [&](Store& store) {
         CHECK(store.lines_of(s.id)->size() == 1);
         CHECK(store.tool_rounds_of(s.id)->empty());
         parley::host::ToolRound round;
         round.after_line = 1;
         round.messages = json::array({{{"role", "tool"}}});
         REQUIRE(store.append_tool_round(s.id, round).ok());
         CHECK(store.tool_rounds_of(s.id)->size() == 1);
       }},
      {4, "before the phone columns of v5",
       "DROP INDEX sessions_by_phone_from; DROP INDEX sessions_by_phone_to; "
       "ALTER TABLE sessions DROP COLUMN phone_from; ALTER TABLE sessions DROP COLUMN phone_to; "
       "ALTER TABLE sessions DROP COLUMN phone_direction; ",
       "DROP INDEX sessions_by_phone_from, sessions_by_phone_to; "
       "ALTER TABLE sessions DROP COLUMN phone_from, DROP COLUMN phone_to, "
       "DROP COLUMN phone_direction; ",
       [&](Store& store) {
         const SessionRecord record = found(store);
         CHECK(record.phone_from.empty());
         CHECK(record.phone_to.empty());
         CHECK(record.phone_direction.empty());
       }},
      {3, "before the Millis columns of v4",
       "DROP INDEX sessions_call_logs; ALTER TABLE sessions DROP COLUMN agent_overrides; "
       "ALTER TABLE sessions DROP COLUMN extra_prompt; "
       "ALTER TABLE sessions DROP COLUMN function_calls; "
       "ALTER TABLE sessions DROP COLUMN call_status; ",
       "DROP INDEX sessions_call_logs; ALTER TABLE sessions DROP COLUMN agent_overrides, "
       "DROP COLUMN extra_prompt, DROP COLUMN function_calls, DROP COLUMN call_status; ",
       [&](Store& store) {
         const SessionRecord record = found(store);
         CHECK(record.agent_overrides.is_null());
         CHECK(record.extra_prompt.empty());
         CHECK(record.function_calls == json::array());
         CHECK(record.call_status.empty());
       }},
      {1, "before sessions.reopened (v2) and the leases (v3)",
       "DROP TABLE call_leases; ALTER TABLE outbox DROP COLUMN lease_owner; "
       "ALTER TABLE outbox DROP COLUMN lease_until_ms; "
       "ALTER TABLE sessions DROP COLUMN reopened; ",
       "DROP TABLE call_leases; ALTER TABLE outbox DROP COLUMN lease_owner, "
       "DROP COLUMN lease_until_ms; ALTER TABLE sessions DROP COLUMN reopened; ",
       [&](Store& store) { CHECK(found(store).reopened == 0); }},
  };
  std::string sqlite, postgres;
  for (const Step& step : steps) {
    INFO("back to version " << step.version << ", " << step.what);
    sqlite += step.sqlite;
    postgres += step.postgres;
    db.sql(sqlite + "PRAGMA user_version = " + std::to_string(step.version),
           postgres + "DELETE FROM parley_schema WHERE version > " + std::to_string(step.version));
    auto store = db.open();
    CHECK(store->user_version() == Store::schema_version);
    CHECK(db.sql("PRAGMA user_version",
                 "SELECT string_agg(version::text, ',' ORDER BY version) FROM parley_schema") ==
          (db.postgres() ? "1,2,3,4,5,6" : std::to_string(Store::schema_version)));
    step.check(*store);
  }
}
