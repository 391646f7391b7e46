// Several hosts on one PostgreSQL behind HAProxy, as an operator runs them (issue 17,
// DESIGN §12): real parley-host processes, a real PostgreSQL 15 (test_postgres.hpp) and a
// real HAProxy (Debian `haproxy`, installed by scripts/setup.sh) on loopback ports. The
// clients talk to HAProxy only. Release only (multi-process behaviour, not memory).
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host_fixture.hpp"
#include "test_http_server.hpp"
#include "test_postgres.hpp"

using namespace parley::test;
using parley::json;

namespace {

// HAProxy in the foreground (-db) over `servers`, with the health check an operator would
// use (GET /healthz every 300 ms): a dead host is out of rotation within about a second, and
// a connection that fails before that is retried on another host (option redispatch). It
// tells the hosts who the client is (option forwardfor: X-Forwarded-For).
class Haproxy {
 public:
  explicit Haproxy(const std::vector<std::uint16_t>& servers) {
    port_ = unused_port();
    std::string cfg =
        "global\n  maxconn 4000\n"
        "defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n"
        "  timeout server 60s\n  timeout tunnel 1h\n  retries 3\n  option redispatch 1\n"
        "  option forwardfor\n"
        "frontend parley\n  bind 127.0.0.1:" + std::to_string(port_) + "\n"
        "  default_backend hosts\n"
        "backend hosts\n  balance roundrobin\n  option httpchk GET /healthz\n"
        "  http-check expect status 200\n";
    for (std::size_t i = 0; i < servers.size(); ++i)
      cfg += "  server h" + std::to_string(i + 1) + " 127.0.0.1:" + std::to_string(servers[i]) +
             " check inter 300ms fall 2 rise 1\n";
    config_ = dir_.write("haproxy.cfg", cfg);
    const std::string log = dir_.file("haproxy.log");
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      FILE* out = std::freopen(log.c_str(), "w", stderr);
      (void)out;
      ::execlp("haproxy", "haproxy", "-db", "-f", config_.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready when it answers (a /healthz through it reaches a host).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (http(port_, "GET", "/healthz").status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL("haproxy did not come up on port " << port_);
  }
  ~Haproxy() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::uint16_t port() const { return port_; }
  Haproxy(const Haproxy&) = delete;
  Haproxy& operator=(const Haproxy&) = delete;

 private:
  TempDir dir_;
  std::string config_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

HttpResult rest(std::uint16_t port, const std::string& method, const std::string& route,
                const json& body = nullptr) {
  return http(port, method, "/memori/v2/" + route,
              body.is_null() ? std::string() : parley::to_json_text(body),
              {{"Content-Type", "application/json"}});
}

// The parley_http_requests_total counter of one host (asked directly, not through HAProxy).
long requests_served(std::uint16_t host_port) {
  HttpResult r = http(host_port, "GET", "/metrics");
  const std::string key = "\nparley_http_requests_total ";  // the sample, not its # HELP
  auto at = r.body.find(key);
  if (at == std::string::npos) return -1;
  return std::stol(r.body.substr(at + key.size()));
}

}  // namespace

TEST_CASE("through HAProxy, any host serves any turn of a conversation, in order", "[hosts]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  HostFixture a(base_host_config(), uri);
  HostFixture b(base_host_config(), uri);
  Haproxy lb({a.port(), b.port()});
  const long a0 = requests_served(a.port()), b0 = requests_served(b.port());

  json opened = body_of(rest(lb.port(), "POST", "Session", json{{"memoriID", "alpha"}}));
  REQUIRE(opened["resultCode"] == 0);
  const std::string id = opened["sessionID"];
  std::vector<std::string> said = {"hello", "what is my plan", "hi", "plan", "hello", "plan"};
  for (const auto& text : said) {
    json r = body_of(rest(lb.port(), "POST", "TextEnteredEvent/" + id, json{{"text", text}}));
    REQUIRE(r["resultCode"] == 0);
  }
  json state = body_of(rest(lb.port(), "GET", "Session/" + id));
  CHECK(state["resultCode"] == 0);
  json logs = body_of(rest(lb.port(), "GET", "SessionChatLogs/" + id + "/" + id));
  REQUIRE(logs["chatLogs"].size() == 1);
  const json& lines = logs["chatLogs"][0]["lines"];
  REQUIRE(lines.size() == 1 + 2 * said.size());  // welcome + (user, agent) per turn
  for (std::size_t i = 0; i < said.size(); ++i) {
    CHECK(lines[1 + 2 * i]["inbound"] == true);
    CHECK(lines[1 + 2 * i]["text"] == said[i]);
    CHECK(lines[2 + 2 * i]["inbound"] == false);
  }
  // Both hosts served the conversation's requests (round robin), not one of them alone.
  CHECK(requests_served(a.port()) - a0 >= 3);
  CHECK(requests_served(b.port()) - b0 >= 3);
}

TEST_CASE("kill -9 of the host holding a live call: the call goes on at another host, one report",
          "[hosts]") {
  TestHttpServer receiver;
  receiver.script("/ended", ScriptedReply{200, "{}", 0, "application/json"});
  json config = base_host_config();
  // Millis's shape: {url, headers} (a delivery's timeout is the outbox's).
  config["agents"][0]["session_data_webhook"] = {{"url", receiver.url("/ended")}};
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  std::vector<std::unique_ptr<HostFixture>> hosts;
  hosts.push_back(std::make_unique<HostFixture>(config, uri));
  hosts.push_back(std::make_unique<HostFixture>(config, uri));
  Haproxy lb({hosts[0]->port(), hosts[1]->port()});

  WsClient first;
  json ready = start_call(first, lb.port(), "alpha", "pk-alpha", {{"userName", "Ada"}});
  const std::string id = ready["session_id"];
  CHECK(read_final_text(first)["data"] == "Hello Ada!");
  first.send_text(R"({"method":"text","data":"hello"})");
  CHECK(read_final_text(first)["data"] == "Hi Ada!");  // acknowledged: stored, then said

  // Which host holds the call: its lease names its pid.
  std::string holder;
  for (int i = 0; i < 100 && holder.empty(); ++i) {
    holder = pg.sql(uri, "SELECT host_id FROM call_leases WHERE session_id = '" + id + "'");
    if (holder.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_FALSE(holder.empty());
  std::size_t dead = 2;
  for (std::size_t i = 0; i < hosts.size(); ++i)
    if (holder.find(":" + std::to_string(hosts[i]->process().pid()) + ":") != std::string::npos)
      dead = i;
  REQUIRE(dead < hosts.size());
  hosts[dead]->process().kill();  // SIGKILL: no goodbye, no end, no report
  WsMessage gone = read_close(first, 5000);
  CHECK(gone.kind != WsMessage::Kind::timeout);

  // The SDK reconnects with session_continuation; HAProxy sends it to the survivor.
  WsClient second;
  json again = start_call(second, lb.port(), "alpha", "pk-alpha", nullptr, id);
  CHECK(again["session_id"] == id);
  CHECK(again["continuation"] == "resumed");
  second.send_text(R"({"method":"text","data":"what is my plan"})");
  // The same call going on: no greeting, no resume line; the next thing said is the reply.
  CHECK(read_final_text(second)["data"] == "Your plan is free.");
  CHECK(pg.sql(uri, "SELECT host_id FROM call_leases WHERE session_id = '" + id + "'")
            .find(":" + std::to_string(hosts[1 - dead]->process().pid()) + ":") !=
        std::string::npos);
  second.close(1000);

  // Exactly one end-of-call report, with every acknowledged line of both hosts.
  REQUIRE(receiver.wait_for_requests(1, std::chrono::seconds(10)));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto reports = receiver.requests_to("/ended");
  REQUIRE(reports.size() == 1);
  auto body = parley::parse_json(reports[0].body, "webhook", 64);
  REQUIRE(body.ok());
  CHECK((*body)["session_id"] == id);
  CHECK((*body)["call_status"] == "user-ended");
  // Millis's body: `chat` is the transcript as a JSON string of {role, content}.
  auto chat = parley::parse_json((*body)["chat"].get<std::string>(), "chat", 64);
  REQUIRE(chat.ok());
  REQUIRE(chat->size() == 5);
  CHECK((*chat)[0]["content"] == "Hello Ada!");
  CHECK((*chat)[1]["content"] == "hello");
  CHECK((*chat)[2]["content"] == "Hi Ada!");
  CHECK((*chat)[3]["content"] == "what is my plan");
  CHECK((*chat)[4]["content"] == "Your plan is free.");
}

TEST_CASE("server.call_lease_ms: a dead host's call is given up in about that time; "
          "database_threads sizes the pool",
          "[hosts]") {
  // A 2 s lease renewed every 0.5 s, against the default 20 s / 5 s. The agent `brief` has a
  // resume window of 1 s, so once the dead host's lease lapses, the survivor's next sweep
  // (every 5 s) ends the session and reports it. With the default lease that takes 20 s or
  // more; here it is within the lease plus one sweep.
  TestHttpServer receiver;
  receiver.script("/ended", ScriptedReply{200, "{}", 0, "application/json"});
  json config = base_host_config();
  config["server"]["call_lease_ms"] = 2000;
  config["server"]["call_lease_renew_ms"] = 500;
  config["server"]["database_threads"] = 2;
  config["agents"][1]["session_data_webhook"] = {{"url", receiver.url("/ended")}};
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  HostFixture a(config, uri);
  HostFixture b(config, uri);
  CHECK(body_of(http(a.port(), "GET", "/healthz"))["database"]["threads"] == 2);

  WsClient call;
  const std::string id = start_call(call, a.port(), "brief", "pk-brief")["session_id"];
  CHECK(read_final_text(call)["data"] == "Hi from brief.");
  call.send_text(R"({"method":"text","data":"hello"})");
  CHECK(read_final_text(call)["data"] == "Brief hello.");

  auto epoch_ms = [] {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  };
  const std::string lease_sql =
      "SELECT expires_ms FROM call_leases WHERE session_id = '" + id + "'";
  // Renewed every 0.5 s, each time to 2 s ahead: over 2 s the expiry moves (four renewals;
  // at least two asked for) and is never further than the lease ahead.
  std::set<long long> expiries;
  const auto watch_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
  while (std::chrono::steady_clock::now() < watch_until) {
    const long long asked = epoch_ms();
    const std::string text = pg.sql(uri, lease_sql);
    REQUIRE_FALSE(text.empty());
    const long long expires = std::stoll(text);
    CHECK(expires <= epoch_ms() + 2000);
    CHECK(expires > asked);
    expiries.insert(expires);
    sleep_ms(100);
  }
  CHECK(expiries.size() >= 3);

  const auto killed = std::chrono::steady_clock::now();
  a.process().kill();  // SIGKILL: no renewal, no release, no end
  const long long lapses = std::stoll(pg.sql(uri, lease_sql));
  REQUIRE(receiver.wait_for_requests(1, std::chrono::seconds(15)));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  INFO("report " << seconds << " s after the kill");
  CHECK(seconds < 2.0 + 5.0 + 2.0);  // the lease, one sweep, room for a loaded machine
  auto reports = receiver.requests_to("/ended");
  REQUIRE(reports.size() == 1);
  auto body = parley::parse_json(reports[0].body, "webhook", 64);
  REQUIRE(body.ok());
  CHECK((*body)["session_id"] == id);
  CHECK((*body)["reason"] == "idle_expired");
  // Not before the lease lapsed: the survivor left the session alone while it was held.
  CHECK(std::stoll(pg.sql(uri, "SELECT ended_ms FROM sessions WHERE id = '" + id + "'")) >=
        lapses);
}

TEST_CASE("/healthz reports the database; without it a host refuses new sessions, then recovers",
          "[hosts]") {
  auto& pg = TestPostgres::instance();
  const std::string uri = pg.new_database();
  HostFixture host(base_host_config(), uri);
  json healthy = body_of(http(host.port(), "GET", "/healthz"));
  CHECK(healthy["status"] == "ok");
  CHECK(healthy["database"]["backend"] == "postgresql");
  CHECK(healthy["database"]["ok"] == true);

  pg.stop();
  // The idle probe notices within its interval (1 s) and a few seconds of connect timeout.
  HttpResult down;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    down = http(host.port(), "GET", "/healthz");
    if (down.status == 503) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  REQUIRE(down.status == 503);
  json why = body_of(down);
  CHECK(why["status"] == "unavailable");
  CHECK(why["database"]["ok"] == false);
  CHECK_FALSE(why["database"]["error"].get<std::string>().empty());
  HttpResult refused = rest(host.port(), "POST", "Session", json{{"memoriID", "alpha"}});
  CHECK(refused.status == 503);
  CHECK_THAT(refused.body, Catch::Contains("database is unreachable"));

  pg.start();
  HttpResult up;
  const auto back = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < back) {
    up = http(host.port(), "GET", "/healthz");
    if (up.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  REQUIRE(up.status == 200);
  json opened = body_of(rest(host.port(), "POST", "Session", json{{"memoriID", "alpha"}}));
  CHECK(opened["resultCode"] == 0);
}

TEST_CASE("through HAProxy, each client has its own request budget when the proxy is trusted",
          "[hosts]") {
  // One client floods through HAProxy, then another asks once. A host that trusts the proxy
  // (server.trusted_proxies) tells them apart by X-Forwarded-For; one that does not sees a
  // single address, the proxy's, and refuses the second client too.
  const std::string request = "GET /no-such-file HTTP/1.1\r\nHost: x\r\n\r\n";
  for (const bool trusted : {true, false}) {
    INFO("trusted: " << trusted);
    json config = base_host_config();
    // 5 a second: too slow a refill for a stalled test to find the budget full again.
    config["server"]["limits"] = {{"max_requests_per_s", 5}};
    if (trusted) config["server"]["trusted_proxies"] = {"127.0.0.1"};
    HostFixture host(config);
    Haproxy lb({host.port()});
    const PipelinedTally flood = pipelined(lb.port(), "127.0.0.2", request, 300);
    CHECK(flood.limited > 250);
    // Five asks: a budget of its own serves all five; the proxy's emptied one cannot.
    const PipelinedTally other = pipelined(lb.port(), "127.0.0.3", request, 5);
    CHECK(other.ok + other.other + other.limited == 5);
    if (trusted) CHECK(other.limited == 0);
    else CHECK(other.limited > 0);
  }
}
