// Speech on /v1/voice against a real parley-host (issue 5): pocketsphinx hears utterances that
// espeak-ng speaks at test time (streamed at real time by the native client), the demo agent's
// rules answer, espeak-ng speaks the reply in paced 20 ms frames; barge-in, echo, the agent's
// flow settings and session timeouts; a host without its model says so.
//
// Independent streams run concurrently on separate sockets (threads, one WsClient each; the
// Catch2 checks run afterwards on the test thread), which keeps the wall time to about the
// longest stream rather than their sum.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "host_fixture.hpp"
#include "parley/host/store.hpp"
#include "test_http_server.hpp"
#include "test_speech.hpp"

using namespace parley::test;
using parley::json;
using Clock = std::chrono::steady_clock;

namespace {


// The demo agent as shipped (its rules, voice, vocabulary), with its weather tool pointed at
// `weather_url`, plus `extra` agents derived from it by `tweak`s. Speech on (the defaults).
json speech_config(const std::string& weather_url,
                   const std::vector<std::pair<std::string, std::function<void(json&)>>>& variants) {
  json demo = demo_config_file()["agents"][0];
  demo["tools"][0]["webhook"]["url"] = weather_url;
  demo.erase("phone_numbers");  // a number belongs to one agent; these take no phone calls
  json agents = json::array();
  for (const auto& [id, tweak] : variants) {
    json a = demo;
    a["id"] = id;
    a["public_keys"] = {"pk-" + id};
    if (tweak) tweak(a);
    agents.push_back(a);
  }
  return json{{"server", {{"log_level", "debug"}, {"admin_key", "k"}}}, {"agents", agents}};
}

// connect + initiate + onready without Catch2 (for threads). "" on success.
std::string open_call(WsClient& ws, std::uint16_t port, const std::string& agent, json metadata,
                      std::string* session_id = nullptr, const std::string& continue_from = "") {
  if (auto e = ws.connect(port, "/v1/voice", std::string(test_origin)); !e.empty()) return e;
  if (!ws.send_text(initiate_text(agent, "pk-" + agent, std::move(metadata), continue_from)))
    return "initiate not sent";
  for (int i = 0; i < 50; ++i) {
    WsMessage m = ws.read(5000);
    if (m.kind != WsMessage::Kind::text) return "no onready: " + m.data;
    auto parsed = parley::parse_json(m.data, "frame", 64);
    if (parsed && (*parsed)["method"] == "onready") {
      if (session_id) *session_id = (*parsed)["payload"]["session_id"].get<std::string>();
      return "";
    }
  }
  return "no onready";
}

struct Transcript {
  std::string final_text;
  std::vector<std::string> partials;
  double final_at_ms = -1;
};

Transcript transcript_of(const std::vector<Received>& got) {
  Transcript t;
  for (const auto& r : got) {
    if (r.method != "ontranscript") continue;
    if (r.message["payload"]["is_final"] == true) {
      if (t.final_at_ms < 0) {
        t.final_text = r.message["data"].get<std::string>();
        t.final_at_ms = r.at_ms;
      }
    } else if (t.final_at_ms < 0) {
      t.partials.push_back(r.message["data"].get<std::string>());
    }
  }
  return t;
}

const Received* first(const std::vector<Received>& got, const std::string& method, double after_ms = -1e9) {
  for (const auto& r : got)
    if (r.method == method && r.at_ms >= after_ms) return &r;
  return nullptr;
}

struct Audio {
  std::size_t frames = 0;
  bool all_640 = true;
  double first_ms = -1, last_ms = -1;
  Samples samples;
};

Audio audio_between(const std::vector<Received>& got, double from_ms, double to_ms) {
  Audio a;
  for (const auto& r : got) {
    if (r.kind != Received::Kind::binary || r.at_ms < from_ms || r.at_ms > to_ms) continue;
    ++a.frames;
    a.all_640 = a.all_640 && r.data.size() == 640;
    if (a.first_ms < 0) a.first_ms = r.at_ms;
    a.last_ms = r.at_ms;
    const Samples s = from_bytes(r.data);
    a.samples.insert(a.samples.end(), s.begin(), s.end());
  }
  return a;
}

// Noise, then `speech` from `lead_s`, then `tail_s` more noise.
Samples utterance(const Samples& speech, double lead_s, double tail_s, unsigned seed = 3) {
  Samples bed = room_noise(lead_s + static_cast<double>(speech.size()) / kSpeechRate + tail_s, -65.0, seed);
  return mix_at(std::move(bed), speech, static_cast<std::size_t>(lead_s * kSpeechRate));
}

// The send time of the frame holding sample `s` (frame k goes at k * 20 ms).
double frame_time_ms(std::size_t s) { return static_cast<double>(s / 320) * 20.0; }

bool has_word(const std::string& text, const std::vector<std::string>& any_of) {
  const auto words = words_of(text);
  return std::any_of(any_of.begin(), any_of.end(), [&](const std::string& w) {
    return std::find(words.begin(), words.end(), w) != words.end();
  });
}

std::vector<parley::host::ChatLine> stored_lines(const std::string& db, const std::string& session) {
  auto store = parley::host::Store::open(db);
  REQUIRE(store.ok());
  auto lines = (*store)->lines_of(session);
  REQUIRE(lines.ok());
  return *lines;
}

void run_parallel(std::vector<std::function<void()>> jobs) {
  std::vector<std::thread> threads;
  for (auto& j : jobs) threads.emplace_back(j);
  for (auto& t : threads) t.join();
}

}  // namespace

TEST_CASE("a dozen spoken phrases: each final transcript holds its rule's keyword; WER printed",
          "[speech]") {
  TestHttpServer weather;
  weather.script("/weather", ScriptedReply{200, R"({"summary":"It is sunny in Zurich."})"});
  HostFixture host(speech_config(weather.url("/weather"),
                                 {{"demo", [](json& a) { a["flow"]["user_start_first"] = true; }}}));
  // The demo agent's rules and the words each listens for.
  const std::vector<std::string> hello = {"hello", "hi", "hey"}, name = {"name"}, plan = {"plan"},
                                 weather_w = {"weather"}, bye = {"bye", "goodbye"};
  struct Phrase {
    std::string text;
    std::vector<std::vector<std::string>> rules;  // each must be heard (any of its words)
  };
  const std::vector<Phrase> phrases = {
      {"hello there", {hello}},
      {"what is my name", {name}},
      {"tell me my name please", {name}},
      {"which plan am I on", {plan}},
      {"what plan do I have", {plan}},
      {"what is the weather today", {weather_w}},
      {"how is the weather in Zurich", {weather_w}},
      {"hello can you hear me", {hello}},
      {"goodbye for now", {bye}},
      {"bye bye", {bye}},
      {"tell me about my plan", {plan}},
      {"hey what is the weather like", {hello, weather_w}},
  };
  std::vector<Samples> audio;
  for (const auto& p : phrases) {
    Samples s = espeak_16k(p.text);
    REQUIRE(s.size() > 4000);
    audio.push_back(utterance(s, 0.4, 1.2, static_cast<unsigned>(audio.size() + 1)));
  }

  std::vector<std::vector<Received>> got(phrases.size());
  std::vector<std::string> errors(phrases.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < phrases.size(); i = next++) {
      WsClient ws;
      errors[i] = open_call(ws, host.port(), "demo", {{"userName", "Ada"}});
      if (!errors[i].empty()) continue;
      StreamOptions o;
      o.tail_ms = 4000;
      o.done_when = [](const Received& r) {
        return r.method == "ontranscript" && r.message["payload"]["is_final"] == true;
      };
      got[i] = stream_realtime(ws, audio[i], Clock::now(), o);
      ws.close();
    }
  };
  const auto t0 = Clock::now();
  run_parallel({worker, worker, worker, worker});
  const double wall_s = std::chrono::duration<double>(Clock::now() - t0).count();

  std::size_t edits = 0, ref_words = 0, partial_count = 0;
  std::string speech_log;
  {
    std::istringstream log(host.process().log_text());
    for (std::string line; std::getline(log, line);)
      if (line.find(" speech.") != std::string::npos && line.find("vad_") == std::string::npos)
        speech_log += line + "\n";
  }
  INFO("host speech log:\n" << speech_log);
  for (std::size_t i = 0; i < phrases.size(); ++i) {
    INFO("phrase " << i << ": \"" << phrases[i].text << "\" " << errors[i]);
    REQUIRE(errors[i].empty());
    const Transcript t = transcript_of(got[i]);
    INFO("heard: \"" << t.final_text << "\"");
    REQUIRE(t.final_at_ms >= 0);
    for (const auto& rule : phrases[i].rules) CHECK(has_word(t.final_text, rule));
    edits += word_edit_distance(words_of(phrases[i].text), words_of(t.final_text));
    ref_words += words_of(phrases[i].text).size();
    partial_count += t.partials.size();
    std::printf("  [speech] %-30s -> %s\n", phrases[i].text.c_str(), t.final_text.c_str());
  }
  const double wer = static_cast<double>(edits) / static_cast<double>(ref_words);
  std::printf("[speech] word error rate over %zu phrases: %.1f %% (%zu edits / %zu words); "
              "%zu partial transcripts; %.1f s wall time on 4 sockets\n",
              phrases.size(), 100.0 * wer, edits, ref_words, partial_count, wall_s);
  CHECK(partial_count > 0);   // is_final:false pieces come while the user speaks
  CHECK(wer < 0.5);           // measured 2026-12-01: see bench/speech/README.md

  const auto m = http(host.port(), "GET", "/metrics");
  CHECK(m.body.find("parley_speech_turns_total 12") != std::string::npos);
  CHECK(m.body.find("parley_speech_recognizer_up 1") != std::string::npos);
}

TEST_CASE("a round trip: speech in, transcript, the rule's reply as text and paced audio",
          "[speech]") {
  TestHttpServer weather;
  HostFixture host(speech_config(weather.url("/weather"), {
      {"demo", [](json& a) { a["flow"]["user_start_first"] = true; }},
      {"slow", [](json& a) {
         a["flow"]["user_start_first"] = true;
         a["flow"]["response_delay"] = 400;
       }}}));
  const Samples speech = espeak_16k("hello there");
  const Samples in = utterance(speech, 0.4, 0.4);
  const double speech_end_ms = frame_time_ms(static_cast<std::size_t>(0.4 * kSpeechRate) + last_loud(speech));
  const std::string reply = "Hello Ada! How can I help you today?";
  // What the agent should send: the reply spoken with the agent's voice (en-us).
  const std::size_t expected = espeak_16k(reply, "en-us", 1.0f).size();
  REQUIRE(expected > 16000);

  std::vector<Received> got, slow;
  std::string error, slow_error, session;
  auto call = [&](const std::string& agent, std::vector<Received>& out, std::string& err, std::string* id) {
    WsClient ws;
    err = open_call(ws, host.port(), agent, {{"userName", "Ada"}}, id);
    if (!err.empty()) return;
    StreamOptions o;
    o.tail_ms = 2000 + static_cast<int>(expected / 16) + 1000;  // the reply plays at real time
    // Done once the reply's frames are all in (then 300 ms more, to see that no more come).
    const std::size_t all_frames = (expected + 319) / 320;
    o.done_when = [all_frames, frames = std::size_t{0}, answering = false](const Received& r) mutable {
      if (r.method == "start_answering") answering = true;
      if (answering && r.kind == Received::Kind::binary) ++frames;
      return frames >= all_frames;
    };
    o.linger_ms = 300;
    out = stream_realtime(ws, in, Clock::now(), o);
    ws.close();
  };
  run_parallel({[&] { call("demo", got, error, &session); }, [&] { call("slow", slow, slow_error, nullptr); }});
  REQUIRE(error.empty());
  REQUIRE(slow_error.empty());

  const Transcript t = transcript_of(got);
  INFO("heard: " << t.final_text);
  REQUIRE(t.final_at_ms >= 0);
  CHECK(has_word(t.final_text, {"hello", "hi", "hey"}));
  const Received* answering = first(got, "start_answering");
  REQUIRE(answering != nullptr);
  CHECK(answering->at_ms >= t.final_at_ms);
  const Received* text = nullptr;
  for (const auto& r : got)
    if (r.method == "onresponsetext" && r.message["payload"]["is_final"] == true) text = &r;
  REQUIRE(text != nullptr);
  CHECK(text->message["data"] == reply);

  const Audio a = audio_between(got, answering->at_ms, 1e12);
  INFO("frames " << a.frames << ", expected about " << static_cast<double>(expected) / 320.0);
  REQUIRE(a.frames > 0);
  CHECK(a.all_640);
  CHECK(a.first_ms >= answering->at_ms);
  // All of the reply, no more: the synthesised length rounded up to frames, plus at most the
  // resampler's tail (a few ms).
  // espeak-ng's timing varies by a few ms with its state (the voice used before): 3 %.
  CHECK(static_cast<double>(a.samples.size()) >= 0.97 * static_cast<double>(expected));
  CHECK(static_cast<double>(a.samples.size()) <= 1.03 * static_cast<double>(expected) + 480);
  CHECK(rms_dbfs(a.samples) > -35.0);
  CHECK(a.samples.size() == a.frames * 320);
  // Paced at real time, not dumped: the frames span the audio's duration.
  const double duration_ms = static_cast<double>(a.frames) * 20.0;
  CHECK(a.last_ms - a.first_ms >= 0.85 * (duration_ms - 20));
  CHECK(a.last_ms - a.first_ms <= 1.3 * duration_ms + 300);
  std::printf("[speech] round trip: end of speech -> first agent frame %.0f ms (VAD hangover 600 ms); "
              "reply %zu frames over %.0f ms\n",
              a.first_ms - speech_end_ms, a.frames, a.last_ms - a.first_ms);
  // Only a bound against "never": the budget (p95 <= 800 ms) is bench/speech's, measured there.
  CHECK(a.first_ms - speech_end_ms < 5000);

  // flow.response_delay: the answer starts no sooner than 400 ms after the turn ended.
  const Transcript st = transcript_of(slow);
  const Received* slow_answer = first(slow, "start_answering");
  REQUIRE(st.final_at_ms >= 0);
  REQUIRE(slow_answer != nullptr);
  CHECK(slow_answer->at_ms - st.final_at_ms >= 380);

  // Both lines are stored: the user's transcript, then the agent's reply.
  const auto lines = stored_lines(host.db_path(), session);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].inbound);
  CHECK(lines[0].text == t.final_text);
  CHECK(lines[1].text == reply);
  CHECK_FALSE(lines[1].interrupted);

  const auto m = http(host.port(), "GET", "/metrics");
  CHECK(m.body.find("parley_speech_frames_out_total 0") == std::string::npos);
  CHECK(m.body.find("parley_speech_replies_spoken_total") != std::string::npos);
}

TEST_CASE("the first message is spoken at the start; a call after a pause speaks the resume "
          "line, one that goes on at once says nothing",
          "[speech]") {
  TestHttpServer weather;
  auto greets = [](json& a) { a["first_message"] = "Hi {userName|there}, I am listening."; };
  HostFixture host(speech_config(weather.url("/weather"), {
      {"demo", greets},
      // A window of 1 s: a call continuing it 1.2 s later continues a paused conversation.
      {"brief", [&](json& a) { greets(a); a["resume_window"] = 1; }}}));
  const std::string greeting = "Hi Ada, I am listening.";
  const std::string resume = "Welcome back, Ada. Where were we?";  // the demo's resume_message
  const Samples quiet = room_noise(0.5);
  auto call = [&](const std::string& agent, const std::string& continue_from, std::string* id,
                  std::size_t expected) {
    WsClient ws;
    INFO(open_call(ws, host.port(), agent, {{"userName", "Ada"}}, id, continue_from));
    REQUIRE(ws.is_open());
    StreamOptions o;
    o.tail_ms = 4000;
    o.done_when = [n = (expected + 319) / 320, frames = std::size_t{0}](const Received& r) mutable {
      if (r.kind == Received::Kind::binary) ++frames;
      return n > 0 && frames >= n;
    };
    o.linger_ms = 300;
    auto got = stream_realtime(ws, quiet, Clock::now(), o);
    ws.close();
    return got;
  };
  std::string id;
  const std::size_t expected = espeak_16k(greeting, "en-us", 1.0f).size();
  const std::size_t expected_resume = espeak_16k(resume, "en-us", 1.0f).size();
  auto first_call = call("brief", "", &id, expected);
  const Received* hello = first(first_call, "onresponsetext");
  REQUIRE(hello != nullptr);
  CHECK(hello->message["data"] == greeting);
  Audio a = audio_between(first_call, 0, 1e12);
  CHECK(static_cast<double>(a.samples.size()) >= 0.97 * static_cast<double>(expected));
  CHECK(static_cast<double>(a.samples.size()) <= 1.03 * static_cast<double>(expected) + 480);
  CHECK(rms_dbfs(a.samples) > -35.0);

  sleep_ms(1200);  // past brief's window: a paused conversation
  auto second_call = call("brief", id, nullptr, expected_resume);
  const Received* back = first(second_call, "onresponsetext");
  REQUIRE(back != nullptr);
  CHECK(back->message["data"] == resume);
  a = audio_between(second_call, 0, 1e12);
  CHECK(static_cast<double>(a.samples.size()) >= 0.97 * static_cast<double>(expected_resume));
  CHECK(static_cast<double>(a.samples.size()) <= 1.03 * static_cast<double>(expected_resume) + 480);

  // A call that picks the conversation up while it is going on (DESIGN §3): no greeting, no
  // audio, the conversation simply goes on.
  std::string demo_id;
  call("demo", "", &demo_id, expected);
  auto third_call = call("demo", demo_id, nullptr, 0);
  CHECK(first(third_call, "onresponsetext") == nullptr);
  CHECK(audio_between(third_call, 0, 1e12).frames == 0);
}

TEST_CASE("turn-taking: barge-in clears within 150 ms, echo is not the user, interruption rules",
          "[speech]") {
  TestHttpServer weather;
  auto long_greeting = [](json& a) {
    a["first_message"] = "Hi {userName|there}! I am the Parley demo agent, and you can ask me about your name or your plan.";
  };
  HostFixture host(speech_config(weather.url("/weather"), {
      {"demo", long_greeting},
      {"dropper", [&](json& a) { long_greeting(a); a["flow"]["interruption"]["keep_interruption_message"] = false; }},
      {"polite", [&](json& a) { long_greeting(a); a["flow"]["interruption"]["allowed"] = false; }},
      {"echoey", [](json& a) { a["first_message"] = "Hello, I am speaking through your speaker now."; }},
  }));
  const Samples hello = espeak_16k("hello there");
  REQUIRE(!hello.empty());
  // While the greeting plays (it lasts ~5 s): the user says hello from 1.5 s.
  const double lead_s = 1.5;
  const Samples over = utterance(hello, lead_s, 3.0);
  const double onset_ms = frame_time_ms(static_cast<std::size_t>(lead_s * kSpeechRate) + first_loud(hello));
  // The echo case: the agent's own voice comes back 24 dB down (more than a browser's echo
  // canceller leaves, and well above the room noise, so without the gate it would be heard)
  // while it talks (~3 s); the user speaks only after it finished.
  const double echo_lead_s = 4.5;
  const Samples after = utterance(hello, echo_lead_s, 1.5);
  const double echo_onset_ms = frame_time_ms(static_cast<std::size_t>(echo_lead_s * kSpeechRate) + first_loud(hello));

  struct Run {
    std::vector<Received> got;
    std::string error, session;
  };
  Run keep, drop, polite, echo;
  auto run = [&](const std::string& agent, const Samples& audio, Run& r, float echo_gain, int tail_ms) {
    WsClient ws;
    r.error = open_call(ws, host.port(), agent, {{"userName", "Ada"}}, &r.session);
    if (!r.error.empty()) return;
    StreamOptions o;
    o.tail_ms = tail_ms;
    o.echo_gain = echo_gain;
    r.got = stream_realtime(ws, audio, Clock::now(), o);
    ws.close();
  };
  run_parallel({[&] { run("demo", over, keep, 0, 3000); }, [&] { run("dropper", over, drop, 0, 500); },
                [&] { run("polite", over, polite, 0, 1500); },
                [&] { run("echoey", after, echo, 0.063f, 1500); }});
  for (Run* r : {&keep, &drop, &polite, &echo}) REQUIRE(r->error.empty());

  SECTION("barge-in: clear at speech onset, no more of that reply, the line kept as interrupted") {
    // The agent was talking when the user started.
    CHECK(audio_between(keep.got, onset_ms - 500, onset_ms).frames > 10);
    const Received* clear = first(keep.got, "clear");
    REQUIRE(clear != nullptr);
    std::printf("[speech] barge-in: clear %.0f ms after the user's speech onset\n", clear->at_ms - onset_ms);
    CHECK(clear->at_ms >= onset_ms);
    CHECK(clear->at_ms - onset_ms <= 150);
    // No agent audio between `clear` and the answer to what the user said.
    const Received* answer = first(keep.got, "start_answering", clear->at_ms);
    REQUIRE(answer != nullptr);
    CHECK(audio_between(keep.got, clear->at_ms, answer->at_ms).frames == 0);
    INFO("heard: " << transcript_of(keep.got).final_text);
    CHECK(has_word(transcript_of(keep.got).final_text, {"hello", "hi", "hey"}));
    CHECK(audio_between(keep.got, answer->at_ms, 1e12).frames > 0);  // the reply is spoken
    const auto lines = stored_lines(host.db_path(), keep.session);
    REQUIRE(lines.size() >= 1);
    CHECK(lines[0].interrupted);
    CHECK(lines[0].text.find("Parley demo agent") != std::string::npos);
  }
  SECTION("keep_interruption_message false: the cut line stays, marked, without its text") {
    const Received* clear = first(drop.got, "clear");
    REQUIRE(clear != nullptr);
    CHECK(clear->at_ms - onset_ms <= 150);
    const auto lines = stored_lines(host.db_path(), drop.session);
    REQUIRE(lines.size() >= 1);
    CHECK(lines[0].interrupted);
    CHECK(lines[0].text.empty());
  }
  SECTION("interruption not allowed: the agent finishes, the user's words then are not heard") {
    CHECK(first(polite.got, "clear") == nullptr);
    CHECK(first(polite.got, "ontranscript") == nullptr);
    const Audio a = audio_between(polite.got, 0, 1e12);
    const std::size_t whole = espeak_16k("Hi Ada! I am the Parley demo agent, and you can ask me about your name or your plan.", "en-us", 1.0f).size();
    CHECK(static_cast<double>(a.samples.size()) >= 0.97 * static_cast<double>(whole));  // all of it
    const auto lines = stored_lines(host.db_path(), polite.session);
    REQUIRE(lines.size() == 1);
    CHECK_FALSE(lines[0].interrupted);
  }
  SECTION("echo: the agent's own voice 24 dB down is not the user; the user after it is") {
    const Audio greeting = audio_between(echo.got, 0, echo_onset_ms);
    REQUIRE(greeting.frames > 50);
    CHECK(greeting.last_ms < echo_onset_ms);  // the greeting was over before the user spoke
    CHECK(first(echo.got, "clear") == nullptr);
    const Received* heard = first(echo.got, "ontranscript");
    REQUIRE(heard != nullptr);
    CHECK(heard->at_ms > echo_onset_ms);  // nothing of the echo reached the recognizer
    INFO("heard: " << transcript_of(echo.got).final_text);
    CHECK(has_word(transcript_of(echo.got).final_text, {"hello", "hi", "hey"}));
  }
}

TEST_CASE("session timeouts speak their message, then end the call with the reason", "[speech]") {
  TestHttpServer weather;
  HostFixture host(speech_config(weather.url("/weather"), {
      {"idle", [](json& a) {
         a["flow"]["user_start_first"] = true;
         a["session_timeout"] = {{"max_idle", 1}, {"message", "Are you still there, {userName|friend}? Goodbye."}};
       }},
      {"short", [](json& a) {
         a["first_message"] = "Hello! This call is short, and this greeting is long enough to be cut off by the end of the call.";
         a["session_timeout"] = {{"max_duration", 2}, {"message", "Time is up."}};
       }}}));
  struct Run {
    std::vector<Received> got;
    std::string error;
  };
  Run idle, duration;
  auto run = [&](const std::string& agent, Run& r) {
    WsClient ws;
    r.error = open_call(ws, host.port(), agent, {{"userName", "Ada"}});
    if (!r.error.empty()) return;
    StreamOptions o;
    o.tail_ms = 6000;
    o.done_when = [](const Received& x) { return x.kind == Received::Kind::closed; };
    r.got = stream_realtime(ws, room_noise(0.5), Clock::now(), o);
  };
  run_parallel({[&] { run("idle", idle); }, [&] { run("short", duration); }});
  REQUIRE(idle.error.empty());
  REQUIRE(duration.error.empty());

  auto check_end = [](const std::vector<Received>& got, const std::string& message,
                      const std::string& reason, double not_before_ms) {
    const Received* said = nullptr;
    for (const auto& r : got)
      if (r.method == "onresponsetext" && r.message["data"] == message) said = &r;
    REQUIRE(said != nullptr);
    CHECK(said->at_ms >= not_before_ms);
    const Received* ended = first(got, "onsessionended");
    REQUIRE(ended != nullptr);
    CHECK(ended->message["payload"]["reason"] == reason);
    // The message was spoken, all of it, before the end.
    const Audio a = audio_between(got, said->at_ms, ended->at_ms);
    const std::size_t expected = espeak_16k(message, "en-us", 1.0f).size();
    CHECK(static_cast<double>(a.samples.size()) >= 0.97 * static_cast<double>(expected));
    CHECK(audio_between(got, ended->at_ms, 1e12).frames == 0);
    REQUIRE(!got.empty());
    CHECK(got.back().kind == Received::Kind::closed);
    CHECK(got.back().close_code == 1000);
  };
  SECTION("max_idle") { check_end(idle.got, "Are you still there, Ada? Goodbye.", "max_idle", 900); }
  SECTION("max_duration cuts the greeting, then says its message") {
    const Received* clear = first(duration.got, "clear");
    REQUIRE(clear != nullptr);
    CHECK(clear->at_ms >= 1900);
    check_end(duration.got, "Time is up.", "max_duration", 1900);
  }
}

TEST_CASE("a host whose pocketsphinx model is missing says so at start and per call", "[speech]") {
  TestHttpServer weather;
  json config = speech_config(weather.url("/weather"), {{"demo", nullptr}});
  config["server"]["speech"] = {{"model_dir", "/nonexistent/pocketsphinx-model"}};
  HostFixture host(config);
  sleep_ms(200);
  const std::string log = host.process().log_text();
  CHECK(log.find("the pocketsphinx model is missing: /nonexistent/pocketsphinx-model/en-us does not exist") !=
        std::string::npos);
  CHECK(log.find("pocketsphinx-en-us") != std::string::npos);
  WsClient ws;
  start_call(ws, host.port(), "demo", "pk-demo");
  read_final_text(ws);  // the welcome, spoken (the synthesizer works)
  REQUIRE(ws.send_binary(std::string(640, '\0')));
  const json notice = read_final_text(ws);
  CHECK(notice["data"].get<std::string>().find("cannot hear you: speech recognition is unavailable on this host") !=
        std::string::npos);
  const auto m = http(host.port(), "GET", "/metrics");
  CHECK(m.body.find("parley_speech_recognizer_up 0") != std::string::npos);
  CHECK(m.body.find("parley_speech_synthesizer_up 1") != std::string::npos);
}
