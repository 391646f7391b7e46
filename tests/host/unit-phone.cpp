// Phone calls through the real parley-host (issue 16), inside a private network namespace
// (tests/host/netns.sh: loopback only, so the fixed SIP ports collide with nothing):
// POST /start_outbound_call places a call through the trunk that owns from_phone to baresip,
// which answers, says its phrase and records what it hears. The agent greets with a metadata
// value, hears the phrase (a user turn), answers, and hangs up (BYE) at the call's max
// duration. Then an inbound call placed by baresip to the agent's number: the agent sees
// {from, to} in its prompt, and baresip's hang-up ends the call.
//
// What the far end heard is checked by its loudness envelope against the same words from the
// same espeak-ng voice (pocketsphinx's only en-us model is wideband and cannot read 8 kHz
// telephone audio: README, Phone calls); what the greeting said, by the stored chat line.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <regex>
#include <thread>

#include "parley/host/store.hpp"
#include "parley/json.hpp"
#include "millis_llm_server.hpp"
#include "test_client.hpp"
#include "test_phone.hpp"

using namespace parley::test;
using parley::json;

namespace {

constexpr const char* kApiKey = "phone-test-key-0123456789";
constexpr const char* kAdminKey = "phone-admin-key-0123";
constexpr int kHostSipPort = 5060;
constexpr const char* kAgentVoice = "en-us";

std::string host_config(const TempDir& dir, int max_duration_s) {
  json config = {
      {"server",
       {{"database", dir.file("parley.db")},
        {"api_keys", {kApiKey}},
        {"admin_key", kAdminKey},
        {"speech", {{"enabled", true}, {"workers", 2}}},
        {"sip",
         {{"listen", "127.0.0.1:" + std::to_string(kHostSipPort)},
          {"rtp_ports", {20000, 20998}},
          {"ring_timeout_s", 10},
          {"trunks",
           {{{"id", "local"},
             {"address", "127.0.0.1:5070"},
             {"numbers", {"+15550001111"}}}}}}}}},
      {"agents",
       {{{"id", "phone-agent"},
         {"public_keys", {"pk_phone_test_1"}},
         {"voice", {{"provider", "espeak-ng"}, {"voice_id", kAgentVoice}}},
         {"prompt", "Caller {from|unknown} dialled {to|unknown}."},
         {"first_message", "Hello, your table for {party|some} people is ready."},
         // +15550003333 is on no trunk: it could take calls, but places none.
         {"phone_numbers", {"+15550001111", "+15550003333"}},
         {"session_timeout", {{"max_duration", max_duration_s}}},
         {"fallback_reply", "Sorry, I did not catch that."},
         {"rules",
          {{{"words", {"book", "table", "booking"}},
            {"reply", "Good, I have booked it for you."}}}}}}}};
  return dir.write("config.json", config.dump(2));
}

// baresip's microphone: `quiet_s` of silence, the phrase, then silence up to `total_s`
// (baresip hangs up when its microphone file ends), at 8 kHz.
Samples mic(double quiet_s, const std::string& text, double total_s) {
  Samples speech = concat({Samples(static_cast<std::size_t>(quiet_s * kSpeechRate), 0),
                           espeak_16k(text)});
  const auto total = static_cast<std::size_t>(total_s * kSpeechRate);
  if (speech.size() < total) speech.resize(total, 0);
  return resample(speech, 16000, 8000);
}

// host_config with the agent's rules replaced by a custom LLM at `llm_url`; the file's path.
std::string llm_host_config(const TempDir& dir, int max_duration_s, const std::string& llm_url) {
  json config = json::parse(read_file(host_config(dir, max_duration_s)));
  config["agents"][0].erase("rules");
  config["agents"][0]["custom_llm_websocket"] = llm_url;
  return dir.write("config.json", config.dump(2));
}

json get_json(std::uint16_t port, const std::string& target) {
  auto r = http(port, "GET", target, "", {{"Authorization", kApiKey}});
  return json::parse(r.body, nullptr, false);
}

std::string wait_status(std::uint16_t port, const std::string& call_id,
                        const std::vector<std::string>& any_of, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string status;
  while (std::chrono::steady_clock::now() < end) {
    json j = get_json(port, "/phone_calls/" + call_id);
    status = j.is_object() ? j.value("status", "") : "";
    if (std::find(any_of.begin(), any_of.end(), status) != any_of.end()) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return status;
}

// The call log of an ended session (GET /call-logs/{id}: the end-of-call report's body), once
// the call's end is written; null if it never is.
json wait_call_log(std::uint16_t port, const std::string& session_id, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    auto r = http(port, "GET", "/call-logs/" + session_id, "", {{"Authorization", kApiKey}});
    if (r.status == 200) return json::parse(r.body, nullptr, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return nullptr;
}

// baresip as the caller: it dials the agent's number from `number`, plays `wav` and hangs up
// when the file ends (or after `quit_after_s`).
BaresipOptions dialing(const std::string& wav, int quit_after_s,
                       const std::string& number = "+15550002222") {
  BaresipOptions bo;
  bo.user = number;
  bo.microphone_wav = wav;
  bo.quit_after_s = quit_after_s;
  bo.commands = {"/dial sip:+15550001111@127.0.0.1:" + std::to_string(kHostSipPort)};
  return bo;
}

// The session ids /call-logs lists for `query`.
std::vector<std::string> logged_sessions(std::uint16_t port, const std::string& query) {
  json page = get_json(port, "/call-logs?" + query);
  std::vector<std::string> out;
  if (page.is_object() && page["histories"].is_array())
    for (const auto& h : page["histories"]) out.push_back(h.value("session_id", ""));
  return out;
}

std::vector<parley::host::ChatLine> lines_of(const std::string& db, const std::string& session) {
  auto store = parley::host::Store::open(db);
  INFO((store ? "" : store.error().message));
  REQUIRE(store.ok());
  auto lines = (*store)->lines_of(session);
  REQUIRE(lines.ok());
  return *lines;
}

std::string describe(const std::vector<parley::host::ChatLine>& lines) {
  std::string out;
  for (const auto& l : lines) out += (l.inbound ? "user: " : "agent: ") + l.text + "\n";
  return out;
}

}  // namespace

TEST_CASE("phone: start_outbound_call refuses what is wrong, naming it", "[phone]") {
  TempDir dir;
  HostProcess host({"--config", host_config(dir, 16)});
  REQUIRE(host.port() != 0);
  const parley::test::Headers key = {{"Authorization", kApiKey}};
  auto r = http(host.port(), "POST", "/start_outbound_call",
                R"({"from_phone":"+15550001111","to_phone":"+15550002222"})");
  CHECK(r.status == 401);
  r = http(host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550001111","to_phone":"+15550002222"})",
           {{"Authorization", "not-the-key-0123456789"}});
  CHECK(r.status == 401);
  r = http(host.port(), "POST", "/start_outbound_call", R"({"from_phone":"+15550001111"})", key);
  CHECK(r.status == 400);
  CHECK(r.body.find("to_phone") != std::string::npos);
  r = http(host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550007777","to_phone":"+15550002222"})", key);
  CHECK(r.status == 404);
  CHECK(r.body.find("+15550007777") != std::string::npos);
  r = http(host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550003333","to_phone":"+15550002222"})", key);
  CHECK(r.status == 404);
  CHECK(r.body.find("no trunk") != std::string::npos);
  r = http(host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550001111","to_phone":"555-CALL"})", key);
  CHECK(r.status == 400);
  CHECK(r.body.find("E.164") != std::string::npos);
  r = http(host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550001111","to_phone":"+15550002222","session_continuation":"x"})",
           key);
  CHECK(r.status == 400);
  CHECK(r.body.find("session_continuation") != std::string::npos);
  r = http(host.port(), "POST", "/start_outbound_call", "not json", key);
  CHECK(r.status == 400);
  r = http(host.port(), "GET", "/start_outbound_call", "", key);
  CHECK(r.status == 405);
  r = http(host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550001111","to_phone":"+15550002222","metadata":{"1bad key":"x"}})",
           key);
  CHECK(r.status == 400);
  CHECK(r.body.find("metadata") != std::string::npos);
  CHECK(r.body.find("1bad key") != std::string::npos);
  r = http(host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550001111","to_phone":"+15550002222","include_metadata_in_prompt":"yes"})",
           key);
  CHECK(r.status == 400);
  CHECK(r.body.find("include_metadata_in_prompt") != std::string::npos);
  r = http(host.port(), "GET", "/phone_calls/no-such-call", "", key);
  CHECK(r.status == 404);
  r = http(host.port(), "GET", "/phone_calls/no-such-call", "");
  CHECK(r.status == 401);
  REQUIRE(host.stop() == 0);

  // A host without server.sip.listen takes no phone calls, and says so.
  TempDir off_dir;
  json off = json::parse(read_file(host_config(off_dir, 16)));
  off["server"]["sip"]["listen"] = "";
  HostProcess off_host({"--config", off_dir.write("off.json", off.dump())});
  REQUIRE(off_host.port() != 0);
  r = http(off_host.port(), "POST", "/start_outbound_call",
           R"({"from_phone":"+15550001111","to_phone":"+15550002222"})", key);
  CHECK(r.status == 503);
  CHECK(r.body.find("server.sip.listen") != std::string::npos);
}

TEST_CASE("phone: start_outbound_call to baresip: greeting with metadata, a turn, BYE at the end",
          "[phone]") {
  TempDir dir;
  // The phrase after the greeting; 20 s of microphone, longer than the call's 14 s.
  write_wav(dir.file("mic.wav"), mic(5.0, "I would like to book a table", 20.0), 8000);
  BaresipOptions bo;
  bo.microphone_wav = dir.file("mic.wav");
  Baresip far(dir, bo);
  REQUIRE(far.ready());
  // The extra_prompt_webhook sees the call's numbers, as Millis sends them (DESIGN §6).
  parley::test::TestHttpServer hooks;
  hooks.script("/extra", parley::test::ScriptedReply{200, R"({"extra_prompt":"A regular."})"});
  json config = json::parse(read_file(host_config(dir, 14)));
  config["agents"][0]["extra_prompt_webhook"] = hooks.url("/extra");
  dir.write("config.json", config.dump(2));
  HostProcess host({"--config", dir.file("config.json")});
  REQUIRE(host.port() != 0);
  REQUIRE(wait_for_text(host.log_path(), "sip.listening", 3000));

  const auto t0 = std::chrono::steady_clock::now();
  auto r = http(host.port(), "POST", "/start_outbound_call",
                R"({"from_phone":"+15550001111","to_phone":"+15550002222",)"
                R"("metadata":{"party":"four"}})",
                {{"Authorization", kApiKey}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  json started = json::parse(r.body);
  CHECK(started["status"] == "queued");
  const std::string call_id = started["call_id"], session_id = started["session_id"];
  CHECK(session_id.size() == 36);
  CHECK(wait_status(host.port(), call_id, {"in-progress"}, 5000) == "in-progress");
  REQUIRE(hooks.wait_for_requests(1, std::chrono::seconds(3)));
  const auto asked = hooks.requests_to("/extra");
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].method == "GET");
  CHECK_THAT(asked[0].target, Catch::Contains("session_id=" + session_id));
  CHECK_THAT(asked[0].target, Catch::Contains("&from=%2B15550001111&to=%2B15550002222"));
  CHECK_THAT(asked[0].target, Catch::Contains("&party=four"));
  // max_duration 14 s: the host hangs up with BYE while baresip still has microphone left.
  const std::string final_status =
      wait_status(host.port(), call_id, {"completed", "failed", "busy", "no-answer"}, 25000);
  INFO(host.log_text());
  INFO(far.log());
  CHECK(final_status == "completed");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  json status = get_json(host.port(), "/phone_calls/" + call_id);
  CHECK(status["session_id"] == session_id);
  CHECK(status["agent_id"] == "phone-agent");
  CHECK(status["reason"] == "max_duration");
  CHECK(status["voip"] == json({{"from", "+15550001111"},
                                {"to", "+15550002222"},
                                {"direction", "outbound"}}));
  // The call log, as the end-of-call webhook sends it: Millis's call_status for the
  // max_duration hang-up, and voip with the numbers (DESIGN §6).
  json call_log = wait_call_log(host.port(), session_id, 3000);
  REQUIRE(call_log.is_object());
  CHECK(call_log["call_status"] == "timeout");
  CHECK(call_log["voip"] == status["voip"]);
  // /call-logs?phone_number finds the call by either number: encoded, or with the '+' written
  // raw (a URL decodes it as a space); another number finds nothing.
  using Ids = std::vector<std::string>;
  CHECK(logged_sessions(host.port(), "phone_number=%2B15550002222") == Ids{session_id});
  CHECK(logged_sessions(host.port(), "phone_number=+15550001111") == Ids{session_id});
  CHECK(logged_sessions(host.port(), "phone_number=%2B15550009999").empty());
  auto bad = http(host.port(), "GET", "/call-logs?phone_number=call-me", "",
                  {{"Authorization", kApiKey}});
  CHECK(bad.status == 400);
  json refused = json::parse(bad.body, nullptr, false);
  CHECK(refused["error"]["code"] == "bad_request");
  CHECK(refused["error"]["message"].get<std::string>().rfind(
            "phone_number: \"call-me\" is not a phone number", 0) == 0);
  auto metrics = http(host.port(), "GET", "/metrics");
  CHECK(metrics.body.find("parley_phone_calls_total{status=\"completed\"} 1") != std::string::npos);
  CHECK(metrics.body.find("parley_rtp_wrong_source_total 0") != std::string::npos);
  CHECK(metrics.body.find("# TYPE parley_rtp_send_lag_seconds histogram") != std::string::npos);
  CHECK(metrics.body.find("parley_rtp_send_lag_seconds_bucket{le=\"+Inf\"}") != std::string::npos);
  CHECK(metrics.body.find("parley_rtp_sent_late_total ") != std::string::npos);
  CHECK(metrics.body.find("parley_rtp_in_dropped_total ") != std::string::npos);

  // baresip is still up: the BYE was ours.
  REQUIRE(far.process().wait(100) == -1);
  far.process().stop();
  REQUIRE(host.stop() == 0);

  // The session: the greeting with the metadata value, a user turn (the agent heard the
  // phrase; what pocketsphinx made of telephone audio is not checked), an answer to it.
  const auto lines = lines_of(dir.file("parley.db"), session_id);
  INFO(describe(lines));
  REQUIRE(lines.size() >= 3);
  CHECK(!lines[0].inbound);
  CHECK(lines[0].text == "Hello, your table for four people is ready.");
  CHECK(std::any_of(lines.begin(), lines.end(), [](const auto& l) { return l.inbound; }));
  CHECK(!lines.back().inbound);

  // baresip heard the greeting: the same words in the agent's voice, by loudness envelope
  // (and not the greeting without the metadata value... which differs in one word only, so
  // the text check above is what says "four").
  const Samples heard = resample(far.recording(), 8000, 16000);
  REQUIRE(heard.size() > 8 * kSpeechRate);
  const double greeting =
      envelope_match(espeak_16k("Hello, your table for four people is ready.", kAgentVoice), heard,
                     16000);
  const double other =
      envelope_match(espeak_16k("the weather is fine in the north today", kAgentVoice), heard,
                     16000);
  INFO("greeting match " << greeting << ", another sentence " << other);
  CHECK(greeting > 0.9);
  CHECK(other < greeting - 0.1);
}

TEST_CASE("phone: an inbound call from baresip reaches the agent with metadata {from, to}",
          "[phone]") {
  TempDir dir;
  // The phone line is heard with its own settings (server.speech.phone): a hangover of 4 s
  // where the browser's is 600 ms, seen below in when the user's turn was taken.
  json config = json::parse(read_file(host_config(dir, 60)));
  config["server"]["speech"]["phone"] = {{"vad_hangover_ms", 4000}};
  dir.write("config.json", config.dump(2));
  HostProcess host({"--config", dir.file("config.json")});
  REQUIRE(host.port() != 0);
  REQUIRE(wait_for_text(host.log_path(), "sip.listening", 3000));
  // baresip calls, says its phrase after the greeting and hangs up when its microphone ends.
  const double phrase_s = espeak_16k("I would like to book a table").size() / double(kSpeechRate);
  write_wav(dir.file("mic.wav"), mic(5.0, "I would like to book a table", 15.0), 8000);
  Baresip far(dir, dialing(dir.file("mic.wav"), 25));
  REQUIRE(far.ready());
  REQUIRE(wait_for_text(host.log_path(), "phone.ready", 8000));
  std::smatch m;
  std::string log = host.log_text();
  INFO(log);
  REQUIRE(std::regex_search(log, m, std::regex("phone\\.ready call ([0-9a-f-]{36}) session ([0-9a-f-]{36})")));
  const std::string call_id = m[1].str(), session_id = m[2].str();
  auto prompt = http(host.port(), "GET", "/admin/sessions/" + session_id + "/prompt", "",
                     {{"Authorization", std::string("Bearer ") + kAdminKey}});
  INFO(prompt.body);
  CHECK(prompt.body.find("Caller +15550002222 dialled +15550001111.") != std::string::npos);
  // baresip's microphone ends at 15 s: its BYE ends the call.
  const std::string final_status = wait_status(host.port(), call_id, {"completed", "failed"}, 23000);
  log = host.log_text();
  INFO(log);
  INFO(far.log());
  CHECK(final_status == "completed");
  json status = get_json(host.port(), "/phone_calls/" + call_id);
  CHECK(status["voip"] == json({{"from", "+15550002222"},
                                {"to", "+15550001111"},
                                {"direction", "inbound"}}));
  CHECK(status["reason"] == "remote_hangup");
  // The caller hung up: Millis's user-ended, with voip as the call status has it.
  json call_log = wait_call_log(host.port(), session_id, 3000);
  REQUIRE(call_log.is_object());
  CHECK(call_log["call_status"] == "user-ended");
  CHECK(call_log["voip"] == status["voip"]);
  far.process().stop();
  REQUIRE(host.stop() == 0);
  const auto lines = lines_of(dir.file("parley.db"), session_id);
  INFO(describe(lines));
  REQUIRE(lines.size() >= 3);
  CHECK(lines[0].text == "Hello, your table for some people is ready.");
  auto user = std::find_if(lines.begin(), lines.end(), [](const auto& l) { return l.inbound; });
  REQUIRE(user != lines.end());
  // The turn is taken once 4 s of quiet followed the phrase (5 s after the answer, which the
  // greeting's line follows by less than a second): with the browser's 600 ms it would come
  // about 3.4 s sooner.
  const double turn_after_s = (user->timestamp_ms - lines[0].timestamp_ms) / 1000.0;
  INFO("phrase " << phrase_s << " s, turn taken " << turn_after_s << " s after the greeting");
  CHECK(turn_after_s > 5.0 + phrase_s + 4.0 - 1.5);
  const Samples heard = resample(far.recording(), 8000, 16000);
  const double greeting =
      envelope_match(espeak_16k("Hello, your table for some people is ready.", kAgentVoice), heard,
                     16000);
  INFO("greeting match " << greeting);
  CHECK(greeting > 0.9);
}

TEST_CASE("phone: memory.by_phone: a number's next call continues its last one", "[phone]") {
  TempDir dir;
  json config = json::parse(read_file(host_config(dir, 60)));
  config["agents"][0]["memory"] = {{"by_phone", true}};
  config["agents"][0]["resume_message"] = "Welcome back.";
  dir.write("config.json", config.dump(2));
  HostProcess host({"--config", dir.file("config.json")});
  REQUIRE(host.port() != 0);
  REQUIRE(wait_for_text(host.log_path(), "sip.listening", 3000));
  // Each caller stays 4 s (baresip hangs up when its microphone file ends).
  write_wav(dir.file("quiet.wav"), Samples(4 * 8000, 0), 8000);

  // One inbound call from `number`; the session id it got.
  int calls = 0;
  auto call_from = [&](const std::string& number) {
    Baresip far(dir, dialing(dir.file("quiet.wav"), 20, number));
    REQUIRE(far.ready());
    ++calls;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    std::vector<std::string> sessions;
    std::size_t ended = 0;
    while (std::chrono::steady_clock::now() < end) {
      const std::string log = host.log_text();
      sessions.clear();
      const std::regex ready("phone\\.ready call [0-9a-f-]{36} session ([0-9a-f-]{36})");
      for (auto it = std::sregex_iterator(log.begin(), log.end(), ready);
           it != std::sregex_iterator(); ++it)
        sessions.push_back((*it)[1].str());
      ended = 0;
      for (auto at = log.find("phone.ended"); at != std::string::npos;
           at = log.find("phone.ended", at + 1))
        ++ended;
      if (ended >= static_cast<std::size_t>(calls)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    INFO(host.log_text());
    INFO(far.log());
    REQUIRE(ended == static_cast<std::size_t>(calls));
    REQUIRE(sessions.size() == static_cast<std::size_t>(calls));
    far.process().stop();
    return sessions.back();
  };
  const std::string first = call_from("+15550002222");
  const std::string second = call_from("+15550002222");
  const std::string stranger = call_from("+15550004444");

  // The second call continued the first (no session id was given), and was greeted as a
  // caller coming back; another number's call continued nothing.
  json log1 = wait_call_log(host.port(), first, 3000);
  json log2 = wait_call_log(host.port(), second, 3000);
  json log3 = wait_call_log(host.port(), stranger, 3000);
  REQUIRE(log2.is_object());
  REQUIRE(log3.is_object());
  CHECK(log1["continued_from"].is_null());
  CHECK(log2["continued_from"] == first);
  CHECK(log3["continued_from"].is_null());
  REQUIRE(host.stop() == 0);
  const auto lines2 = lines_of(dir.file("parley.db"), second);
  const auto lines3 = lines_of(dir.file("parley.db"), stranger);
  REQUIRE(!lines2.empty());
  REQUIRE(!lines3.empty());
  CHECK(lines2[0].text == "Welcome back.");
  CHECK(lines3[0].text == "Hello, your table for some people is ready.");
}

TEST_CASE("phone: a custom LLM's start_call carries voip and call_sid, as Millis sends them",
          "[phone]") {
  TempDir dir;
  parley::test::TestLlmServer llm(parley::test::millis::millis_llm);
  HostProcess host({"--config", llm_host_config(dir, 60, llm.url())});
  REQUIRE(host.port() != 0);
  REQUIRE(wait_for_text(host.log_path(), "sip.listening", 3000));
  write_wav(dir.file("quiet.wav"), Samples(4 * 8000, 0), 8000);
  Baresip far(dir, dialing(dir.file("quiet.wav"), 20));
  REQUIRE(far.ready());
  REQUIRE(wait_for_text(host.log_path(), "phone.ready", 8000));
  std::smatch m;
  const std::string log = host.log_text();
  INFO(log);
  REQUIRE(std::regex_search(log, m, std::regex("phone\\.ready call ([0-9a-f-]{36}) session")));
  const json start = parley::test::millis::wait_message(llm, "start_call", {},
                                                        std::chrono::seconds(5));
  CHECK(start["data"]["voip"] == json({{"from", "+15550002222"},
                                       {"to", "+15550001111"},
                                       {"direction", "inbound"}}));
  CHECK(start["data"]["call_sid"] == m[1].str());
  CHECK(start["data"]["metadata"] == json({{"from", "+15550002222"}, {"to", "+15550001111"}}));
  far.process().stop();
  REQUIRE(host.stop() == 0);
}

// transfer_call on a phone call (issue 16): the custom LLM asks for a transfer right after its
// greeting, and the host sends the trunk (SIPp) a REFER whose Refer-To names the number at
// the trunk. Accepted (the trunk's NOTIFY says 200): the call ends as transferred. Refused:
// the LLM is told why with the SIP code, and the call goes on to its max_duration.
TEST_CASE("phone: transfer_call sends a SIP REFER to the trunk; a refusal reaches the LLM",
          "[phone]") {
  using parley::test::millis::frame;
  using parley::test::millis::type_of;
  TempDir dir;
  parley::test::TestLlmServer llm([](const json& m) {
    std::vector<parley::test::LlmFrame> out;
    if (type_of(m) != "start_call") return out;
    out.push_back({0, frame("stream_response", {{"stream_id", m["data"]["stream_id"]},
                                                {"content", "Let me put you through."},
                                                {"end_of_stream", true}})});
    out.push_back({800, frame("transfer_call", {{"stream_id", m["data"]["stream_id"]},
                                                {"destination", "+15550004444"}})});
    return out;
  });
  HostProcess host({"--config", llm_host_config(dir, 6, llm.url())});
  REQUIRE(host.port() != 0);
  REQUIRE(wait_for_text(host.log_path(), "sip.listening", 3000));
  const std::string target = "sip:\\+15550004444@127\\.0\\.0\\.1:5070[;>]";

  auto place = [&] {
    auto r = http(host.port(), "POST", "/start_outbound_call",
                  R"({"from_phone":"+15550001111","to_phone":"+15550002222"})",
                  {{"Authorization", kApiKey}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    return json::parse(r.body);
  };

  SECTION("accepted: the call ends as transferred, its report says agent-ended") {
    Sipp trunk(dir, sipp_transfer_scenario(target, "202 Accepted", "200 OK"), 5070);
    json started = place();
    const std::string call_id = started["call_id"], session_id = started["session_id"];
    const std::string status =
        wait_status(host.port(), call_id, {"completed", "failed", "busy", "no-answer"}, 5000);
    INFO(host.log_text());
    INFO(trunk.log());
    CHECK(status == "completed");  // well before max_duration (6 s)
    CHECK(get_json(host.port(), "/phone_calls/" + call_id)["reason"] == "transferred");
    CHECK(trunk.wait(5000) == 0);  // Refer-To matched, NOTIFYs answered, our BYE taken
    json log = wait_call_log(host.port(), session_id, 3000);
    REQUIRE(log.is_object());
    CHECK(log["call_status"] == "agent-ended");
    CHECK(log["reason"] == "transferred");
    CHECK(llm.messages().size() >= 1);
    for (const auto& m : llm.messages()) {
      INFO(m.dump());
      CHECK(type_of(m) != "error");
    }
  }
  SECTION("refused with 403: the LLM gets transfer_refused and the SIP code, the call goes on") {
    Sipp trunk(dir, sipp_transfer_scenario(target, "403 Forbidden", ""), 5070);
    json started = place();
    const std::string call_id = started["call_id"], session_id = started["session_id"];
    const json error = parley::test::millis::wait_message(llm, "error", {}, std::chrono::seconds(5));
    CHECK(error["data"]["code"] == "transfer_refused");
    CHECK(error["data"]["sip_code"] == 403);
    CHECK(error["data"]["stream_id"] == 0);
    CHECK_THAT(error["data"]["message"].get<std::string>(), Catch::Contains("403 Forbidden"));
    CHECK_THAT(error["data"]["message"].get<std::string>(), Catch::Contains("the call goes on"));
    CHECK(get_json(host.port(), "/phone_calls/" + call_id)["status"] == "in-progress");
    const std::string status =
        wait_status(host.port(), call_id, {"completed", "failed", "busy", "no-answer"}, 10000);
    INFO(host.log_text());
    INFO(trunk.log());
    CHECK(status == "completed");
    CHECK(get_json(host.port(), "/phone_calls/" + call_id)["reason"] == "max_duration");
    CHECK(trunk.wait(5000) == 0);
  }
  REQUIRE(host.stop() == 0);
}
