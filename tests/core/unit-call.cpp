#include <algorithm>

#include <catch2/catch.hpp>

#include "parley/call.hpp"

using parley::AgentState;
using parley::Call;
using parley::CallEvent;
using parley::ConnectionState;
using parley::Outgoing;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes speech(std::size_t size) {
  Bytes b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return b;
}

parley::StartRequest agent_request() {
  parley::StartRequest r;
  r.agent_id = "ag_1";
  r.metadata = {{"userName", "John"}};
  return r;
}

// A Call plus the server side of the conversation, with the drained output kept for checks.
struct Harness {
  Call call;
  std::vector<CallEvent> events;
  std::vector<Outgoing> sent;

  explicit Harness(std::int64_t ping_ms = 5000) : call(parley::CallConfig{"pk_test", ping_ms}) {}

  void drain() {
    for (auto& e : call.take_events()) events.push_back(std::move(e));
    for (auto& o : call.take_outgoing()) sent.push_back(std::move(o));
  }
  void clear_log() {
    drain();
    events.clear();
    sent.clear();
  }
  void server(const parley::ServerMessage& m, std::int64_t now) {
    call.on_text(parley::build_server_message(m), now);
    drain();
  }
  void agent_audio(std::size_t size, std::int64_t now) {
    call.on_binary(speech(size), now);
    drain();
  }
  void mic(std::size_t size, std::int64_t now) {
    REQUIRE(call.on_audio_captured(speech(size), now).ok());
    drain();
  }
  // Started and opened, initiate sent, log cleared.
  void open_at(std::int64_t now) {
    REQUIRE(call.start(agent_request(), now).ok());
    call.on_open(now);
    clear_log();
  }
  // Open, onready received, one microphone frame sent: ready.
  void ready_at(std::int64_t now) {
    open_at(now);
    server(parley::OnReady{"s-1", std::nullopt, std::nullopt}, now);
    mic(640, now);
    REQUIRE(call.connection_state() == ConnectionState::ready);
    clear_log();
  }

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events) {
      if (const auto* t = std::get_if<T>(&e)) out.push_back(*t);
    }
    return out;
  }
  std::vector<AgentState> agent_states() const {
    std::vector<AgentState> out;
    for (const auto& e : all<parley::AgentStateEvent>()) out.push_back(e.state);
    return out;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.emplace_back(parley::event_name(e));
    return out;
  }
  std::vector<Outgoing> sent_of(Outgoing::Kind kind) const {
    std::vector<Outgoing> out;
    std::copy_if(sent.begin(), sent.end(), std::back_inserter(out),
                 [kind](const Outgoing& o) { return o.kind == kind; });
    return out;
  }
};

}  // namespace

SCENARIO("a call connects and sends initiate when the socket opens", "[call]") {
  Harness h;
  GIVEN("an idle call") {
    CHECK(h.call.snapshot().connection == ConnectionState::idle);
    WHEN("it starts at t=100") {
      REQUIRE(h.call.start(agent_request(), 100).ok());
      h.drain();
      THEN("it is connecting and has sent nothing yet") {
        CHECK(h.call.connection_state() == ConnectionState::connecting);
        CHECK(h.sent.empty());
        CHECK(h.events.empty());
      }
      AND_WHEN("the socket opens at t=180") {
        h.call.on_open(180);
        h.drain();
        THEN("onopen is raised and initiate is the first frame") {
          CHECK(h.names() == std::vector<std::string>{"onopen"});
          REQUIRE(h.sent.size() == 1);
          CHECK(h.sent[0].kind == Outgoing::Kind::text);
          CHECK(h.sent[0].text == parley::make_initiate(agent_request(), "pk_test"));
          CHECK(h.call.connection_state() == ConnectionState::open);
        }
      }
      AND_WHEN("it is started again while connecting") {
        auto again = h.call.start(agent_request(), 150);
        THEN("it is refused") {
          REQUIRE_FALSE(again.ok());
          CHECK(again.error().code == "call_busy");
          CHECK_THAT(again.error().message, Catch::Contains("connecting"));
        }
      }
    }
  }
}

SCENARIO("ready needs onready and the first audio frame, in either order", "[call]") {
  Harness h;
  h.open_at(1000);
  WHEN("onready comes first, then a microphone frame") {
    h.server(parley::OnReady{"s-9", std::string("s-8"), parley::Continuation::resumed}, 1100);
    THEN("onready alone does not make the call ready, but the session id is known") {
      CHECK(h.call.connection_state() == ConnectionState::open);
      CHECK(h.all<parley::ReadyEvent>().empty());
      CHECK(h.call.snapshot().session_id == "s-9");
    }
    h.mic(640, 1120);
    THEN("the frame makes it ready and onready carries the server's payload") {
      CHECK(h.call.connection_state() == ConnectionState::ready);
      const auto ready = h.all<parley::ReadyEvent>();
      REQUIRE(ready.size() == 1);
      CHECK(ready[0].session_id == "s-9");
      CHECK(ready[0].continued_from == std::optional<std::string>("s-8"));
      CHECK(ready[0].continuation == parley::Continuation::resumed);
      const auto snap = h.call.snapshot();
      CHECK(snap.continued_from == std::optional<std::string>("s-8"));
      CHECK(snap.continuation == parley::Continuation::resumed);
    }
    h.mic(640, 1140);
    THEN("later frames do not raise onready again") {
      CHECK(h.all<parley::ReadyEvent>().size() == 1);
    }
  }
  WHEN("a microphone frame comes first, then onready") {
    h.mic(640, 1020);
    CHECK(h.call.connection_state() == ConnectionState::open);
    CHECK(h.all<parley::ReadyEvent>().empty());
    h.server(parley::OnReady{"s-2", std::nullopt, std::nullopt}, 1300);
    THEN("onready makes it ready") {
      CHECK(h.call.connection_state() == ConnectionState::ready);
      REQUIRE(h.all<parley::ReadyEvent>().size() == 1);
      CHECK(h.all<parley::ReadyEvent>()[0].session_id == "s-2");
    }
  }
  WHEN("the server sends onready twice") {
    h.server(parley::OnReady{"s-1", std::nullopt, std::nullopt}, 1100);
    h.server(parley::OnReady{"s-other", std::nullopt, std::nullopt}, 1200);
    THEN("the second is an error and the first session id stays") {
      const auto errors = h.all<parley::ErrorEvent>();
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].error.code == "unexpected_message");
      CHECK(h.call.snapshot().session_id == "s-1");
    }
  }
}

SCENARIO("no microphone audio is sent before the socket opens", "[call]") {
  Harness h;
  REQUIRE(h.call.start(agent_request(), 0).ok());
  WHEN("frames are captured while connecting") {
    h.mic(640, 10);
    h.mic(640, 30);
    THEN("nothing is queued") { CHECK(h.sent.empty()); }
    AND_WHEN("the socket opens and onready arrives") {
      h.call.on_open(50);
      h.server(parley::OnReady{"s-1", std::nullopt, std::nullopt}, 90);
      THEN("the dropped frames did not count towards ready") {
        CHECK(h.call.connection_state() == ConnectionState::open);
        CHECK(h.sent_of(Outgoing::Kind::binary).empty());
      }
      AND_WHEN("a frame is captured now") {
        h.mic(640, 110);
        THEN("it is sent and the call is ready") {
          const auto audio = h.sent_of(Outgoing::Kind::binary);
          REQUIRE(audio.size() == 1);
          CHECK(audio[0].audio == speech(640));
          CHECK(h.call.connection_state() == ConnectionState::ready);
        }
      }
    }
  }
  WHEN("a captured frame is not PCM16") {
    auto odd = h.call.on_audio_captured(speech(641), 10);
    THEN("it is refused with the rule broken") {
      REQUIRE_FALSE(odd.ok());
      CHECK(odd.error().code == "audio_odd_length");
      CHECK_THAT(odd.error().message, Catch::Contains("microphone"));
    }
  }
}

SCENARIO("muted microphone frames go out as silence of the same length", "[call]") {
  Harness h;
  h.ready_at(0);
  WHEN("muted") {
    h.call.mute();
    CHECK(h.call.snapshot().muted);
    h.mic(640, 20);
    THEN("the frame is all zeros, 640 bytes") {
      const auto audio = h.sent_of(Outgoing::Kind::binary);
      REQUIRE(audio.size() == 1);
      CHECK(audio[0].audio == Bytes(640, 0));
    }
    AND_WHEN("unmuted") {
      h.call.unmute();
      h.mic(320, 40);
      THEN("the real samples go out again") {
        const auto audio = h.sent_of(Outgoing::Kind::binary);
        REQUIRE(audio.size() == 2);
        CHECK(audio[1].audio == speech(320));
        CHECK_FALSE(h.call.snapshot().muted);
      }
    }
  }
}

SCENARIO("agent state and latency follow start_answering and agent audio", "[call]") {
  Harness h;
  h.ready_at(0);
  WHEN("start_answering at t=1000 and the first agent audio at t=1350") {
    h.server(parley::StartAnswering{}, 1000);
    CHECK(h.call.agent_state() == AgentState::prepare_answer);
    h.agent_audio(640, 1350);
    h.agent_audio(640, 1370);
    THEN("latency is 350 ms, raised once, and the agent answers") {
      const auto latency = h.all<parley::LatencyEvent>();
      REQUIRE(latency.size() == 1);
      CHECK(latency[0].ms == 350);
      CHECK(h.call.snapshot().last_latency_ms == std::optional<std::int64_t>(350));
      CHECK(h.agent_states() ==
            std::vector<AgentState>{AgentState::prepare_answer, AgentState::answer});
      CHECK(h.all<parley::AudioEvent>().size() == 2);
      CHECK(h.all<parley::AudioEvent>()[0].pcm == speech(640));
    }
    AND_WHEN("playback drains, then a second turn answers after 120 ms") {
      h.call.on_playback_drained(1500);
      h.drain();
      CHECK(h.call.agent_state() == AgentState::idle);
      h.server(parley::StartAnswering{}, 2000);
      h.agent_audio(640, 2120);
      THEN("each turn has its own latency") {
        const auto latency = h.all<parley::LatencyEvent>();
        REQUIRE(latency.size() == 2);
        CHECK(latency[1].ms == 120);
        CHECK(h.call.snapshot().last_latency_ms == std::optional<std::int64_t>(120));
      }
    }
  }
  WHEN("playback drains while the agent only prepares an answer") {
    h.server(parley::StartAnswering{}, 1000);
    h.call.on_playback_drained(1010);
    h.drain();
    THEN("the agent keeps preparing") { CHECK(h.call.agent_state() == AgentState::prepare_answer); }
  }
  WHEN("agent audio arrives without start_answering") {
    h.agent_audio(640, 500);
    THEN("the agent answers, with no latency measured") {
      CHECK(h.call.agent_state() == AgentState::answer);
      CHECK(h.all<parley::LatencyEvent>().empty());
    }
  }
}

SCENARIO("clear, pause and unpause drive the agent state and the speaker", "[call]") {
  Harness h;
  h.ready_at(0);
  h.server(parley::StartAnswering{}, 100);
  h.agent_audio(640, 200);
  REQUIRE(h.call.agent_state() == AgentState::answer);
  h.clear_log();
  WHEN("the server clears (barge-in)") {
    h.server(parley::Clear{}, 300);
    THEN("playback is cleared and the agent is idle") {
      const auto playback = h.all<parley::PlaybackEvent>();
      REQUIRE(playback.size() == 1);
      CHECK(playback[0].command == parley::PlaybackCommand::clear);
      CHECK(h.agent_states() == std::vector<AgentState>{AgentState::idle});
    }
  }
  WHEN("start_answering is cleared before any audio") {
    h.server(parley::StartAnswering{}, 400);
    h.server(parley::Clear{}, 450);
    h.agent_audio(640, 900);
    THEN("no latency is measured from the cancelled answer") {
      CHECK(h.all<parley::LatencyEvent>().empty());
    }
  }
  WHEN("the server pauses, audio keeps coming, then it unpauses") {
    h.server(parley::Pause{}, 300);
    CHECK(h.call.agent_state() == AgentState::pause);
    h.agent_audio(640, 320);
    CHECK(h.call.agent_state() == AgentState::pause);
    h.server(parley::Unpause{}, 400);
    THEN("the speaker is told to pause and resume, and the agent answers again") {
      const auto playback = h.all<parley::PlaybackEvent>();
      REQUIRE(playback.size() == 2);
      CHECK(playback[0].command == parley::PlaybackCommand::pause);
      CHECK(playback[1].command == parley::PlaybackCommand::unpause);
      CHECK(h.agent_states() == std::vector<AgentState>{AgentState::pause, AgentState::answer});
    }
  }
}

SCENARIO("pings go out every interval and pongs give the RTT", "[call]") {
  GIVEN("a 5 s ping interval, open at t=1000") {
    Harness h(5000);
    REQUIRE(h.call.start(agent_request(), 900).ok());
    h.call.tick(950);  // not open yet: no ping
    h.call.on_open(1000);
    h.clear_log();
    h.call.tick(5999);
    h.drain();
    THEN("nothing before the interval has passed") { CHECK(h.sent.empty()); }
    h.call.tick(6000);
    h.call.tick(7000);
    h.call.tick(11000);
    h.drain();
    THEN("one ping at 6000 and one at 11000, carrying the time as a string") {
      const auto texts = h.sent_of(Outgoing::Kind::text);
      REQUIRE(texts.size() == 2);
      CHECK(texts[0].text == parley::build_ping(6000));
      CHECK(texts[1].text == R"({"method":"ping","data":"11000"})");
    }
    WHEN("the pong for the 6000 ping arrives at 6042") {
      h.server(parley::Pong{"6000"}, 6042);
      THEN("the RTT is 42 ms") {
        const auto rtt = h.all<parley::RttEvent>();
        REQUIRE(rtt.size() == 1);
        CHECK(rtt[0].ms == 42);
        CHECK(h.call.snapshot().last_rtt_ms == std::optional<std::int64_t>(42));
      }
    }
    WHEN("a pong carries something that is not a time") {
      h.server(parley::Pong{"soon"}, 6042);
      h.server(parley::Pong{"9999999"}, 6042);  // from the future
      THEN("no RTT is reported") {
        CHECK(h.all<parley::RttEvent>().empty());
        CHECK_FALSE(h.call.snapshot().last_rtt_ms.has_value());
      }
    }
  }
  GIVEN("pings turned off") {
    Harness h(0);
    h.open_at(0);
    h.call.tick(1000000);
    h.drain();
    THEN("no ping is sent") { CHECK(h.sent.empty()); }
  }
}

SCENARIO("server messages become events", "[call]") {
  Harness h;
  h.ready_at(0);
  h.server(parley::OnTranscript{"what time", false}, 10);
  h.server(parley::OnTranscript{"what time is it", true}, 20);
  h.server(parley::OnResponseText{"It is noon.", true}, 30);
  h.server(parley::AiAction{{{"name", "get_time"}}, nullptr}, 40);
  h.server(parley::GenericServerMessage{"onfunctioncall", {1, 2}, {{"k", "v"}}}, 50);
  h.server(parley::OnError{"unknown_agent", "no agent \"x\""}, 60);
  h.server(parley::OnSessionEnded{std::string("max_duration")}, 70);
  THEN("each is raised under its Millis name, in order, with its fields") {
    CHECK(h.names() == std::vector<std::string>{"ontranscript", "ontranscript", "onresponsetext",
                                                "ai_action", "onmessage", "onerror",
                                                "onsessionended"});
    CHECK(h.all<parley::TranscriptEvent>()[1].text == "what time is it");
    CHECK(h.all<parley::TranscriptEvent>()[1].is_final);
    CHECK_FALSE(h.all<parley::TranscriptEvent>()[0].is_final);
    CHECK(h.all<parley::ResponseTextEvent>()[0].text == "It is noon.");
    CHECK(h.all<parley::AiActionEvent>()[0].data["name"] == "get_time");
    const auto generic = h.all<parley::MessageEvent>()[0];
    CHECK(generic.method == "onfunctioncall");
    CHECK(generic.data == parley::json({1, 2}));
    CHECK(generic.payload["k"] == "v");
    const auto error = h.all<parley::ErrorEvent>()[0];
    CHECK(error.source == parley::ErrorEvent::Source::server);
    CHECK(error.error.code == "unknown_agent");
    CHECK(h.all<parley::SessionEndedEvent>()[0].reason == std::optional<std::string>("max_duration"));
  }
}

SCENARIO("bad frames from the server are errors, and the call goes on", "[call]") {
  Harness h;
  h.ready_at(0);
  WHEN("a text frame is not JSON, or a known message lacks a field") {
    h.call.on_text("{not json", 10);
    h.call.on_text(R"({"method":"ontranscript"})", 20);
    h.drain();
    THEN("two protocol errors, and nothing else changes") {
      const auto errors = h.all<parley::ErrorEvent>();
      REQUIRE(errors.size() == 2);
      CHECK(errors[0].source == parley::ErrorEvent::Source::protocol);
      CHECK(errors[0].error.code == "bad_json");
      CHECK(errors[1].error.code == "missing_field");
      CHECK(h.events.size() == 2);
      CHECK(h.call.connection_state() == ConnectionState::ready);
    }
    AND_WHEN("a good message follows") {
      h.server(parley::OnResponseText{"still here", true}, 30);
      THEN("it is handled") { CHECK(h.all<parley::ResponseTextEvent>().size() == 1); }
    }
  }
  WHEN("agent audio has an odd length or is empty") {
    h.agent_audio(3, 10);
    h.agent_audio(0, 20);
    THEN("it is dropped with an error naming the rule") {
      CHECK(h.all<parley::AudioEvent>().empty());
      const auto errors = h.all<parley::ErrorEvent>();
      REQUIRE(errors.size() == 2);
      CHECK(errors[0].error.code == "audio_odd_length");
      CHECK_THAT(errors[0].error.message, Catch::Contains("agent audio frame"));
      CHECK(errors[1].error.code == "audio_empty");
      CHECK(h.call.agent_state() == AgentState::idle);
    }
  }
  WHEN("the socket reports an error") {
    h.call.on_socket_error("network down", 40);
    h.drain();
    THEN("onerror names it") {
      const auto errors = h.all<parley::ErrorEvent>();
      REQUIRE(errors.size() == 1);
      CHECK(errors[0].source == parley::ErrorEvent::Source::socket);
      CHECK_THAT(errors[0].error.message, Catch::Contains("network down"));
    }
  }
}

SCENARIO("a call ends: stop, server close, refusals", "[call]") {
  Harness h;
  WHEN("the application stops a ready call while the agent answers") {
    h.ready_at(0);
    h.server(parley::StartAnswering{}, 100);
    h.agent_audio(640, 150);
    h.clear_log();
    h.call.stop(200);
    h.drain();
    THEN("a normal close is queued and the call is closing") {
      REQUIRE(h.sent.size() == 1);
      CHECK(h.sent[0].kind == Outgoing::Kind::close);
      CHECK(h.sent[0].close_code == 1000);
      CHECK(h.call.connection_state() == ConnectionState::closing);
    }
    AND_WHEN("the socket closes with 1006 as it goes") {
      h.call.on_close(1006, "", 250);
      h.drain();
      THEN("the call is closed (it was asked to), the agent idle, onclose raised") {
        CHECK(h.call.connection_state() == ConnectionState::closed);
        CHECK(h.names() == std::vector<std::string>{"onclose", "onagentstate"});
        CHECK_FALSE(h.all<parley::CloseEvent>()[0].failed);
        CHECK(h.call.agent_state() == AgentState::idle);
        CHECK(h.call.snapshot().close_code == std::optional<int>(1006));
        CHECK(h.call.snapshot().session_id == "s-1");
      }
      AND_WHEN("more frames arrive after the close") {
        h.server(parley::OnResponseText{"late", true}, 300);
        h.agent_audio(640, 310);
        THEN("they are ignored") { CHECK(h.events.size() == 2); }
      }
    }
  }
  WHEN("the server refuses the call with 4404 after an onerror") {
    h.open_at(0);
    h.server(parley::OnError{"unknown_agent", "no agent \"ag_1\""}, 50);
    h.call.on_close(4404, "unknown agent", 60);
    h.drain();
    THEN("the call failed and onclose carries the code and reason") {
      CHECK(h.call.connection_state() == ConnectionState::failed);
      const auto close = h.all<parley::CloseEvent>();
      REQUIRE(close.size() == 1);
      CHECK(close[0].code == 4404);
      CHECK(close[0].reason == "unknown agent");
      CHECK(close[0].failed);
      CHECK(h.names().front() == "onerror");
    }
  }
  WHEN("the socket never opens") {
    REQUIRE(h.call.start(agent_request(), 0).ok());
    h.call.on_close(1006, "", 3000);
    h.drain();
    THEN("the call failed") {
      CHECK(h.call.connection_state() == ConnectionState::failed);
      CHECK(h.all<parley::CloseEvent>()[0].failed);
    }
  }
  WHEN("a ready call loses its connection without a close frame") {
    h.ready_at(0);
    h.call.on_close(1006, "", 500);
    h.drain();
    THEN("the call failed") { CHECK(h.call.connection_state() == ConnectionState::failed); }
  }
  WHEN("the server ends the session and closes normally") {
    h.ready_at(0);
    h.server(parley::OnSessionEnded{std::nullopt}, 400);
    h.call.on_close(1000, "", 410);
    h.drain();
    THEN("the call is closed, not failed") {
      CHECK(h.call.connection_state() == ConnectionState::closed);
      CHECK(h.names() == std::vector<std::string>{"onsessionended", "onclose"});
    }
    AND_WHEN("a new call starts") {
      h.call.mute();
      REQUIRE(h.call.start(agent_request(), 1000).ok());
      THEN("nothing of the old one carries over") {
        const auto snap = h.call.snapshot();
        CHECK(snap.connection == ConnectionState::connecting);
        CHECK(snap.session_id.empty());
        CHECK_FALSE(snap.close_code.has_value());
        CHECK_FALSE(snap.muted);
      }
    }
  }
  WHEN("stop is called on an idle call") {
    h.call.stop(0);
    h.drain();
    THEN("nothing happens") {
      CHECK(h.sent.empty());
      CHECK(h.call.connection_state() == ConnectionState::idle);
    }
  }
}

SCENARIO("typed text goes out only on an open socket", "[call]") {
  Harness h;
  WHEN("text is sent before the call opens") {
    auto early = h.call.send_text("hi", 0);
    THEN("it is refused") {
      REQUIRE_FALSE(early.ok());
      CHECK(early.error().code == "not_connected");
    }
  }
  WHEN("the call is open") {
    h.open_at(0);
    REQUIRE(h.call.send_text("What are your hours?", 10).ok());
    auto empty = h.call.send_text("", 20);
    auto bad = h.call.send_text("\xFF", 30);
    h.drain();
    THEN("a text frame is sent; empty or non-UTF-8 text is refused") {
      REQUIRE(h.sent.size() == 1);
      CHECK(h.sent[0].text == parley::build_text("What are your hours?"));
      REQUIRE_FALSE(empty.ok());
      CHECK(empty.error().code == "bad_value");
      REQUIRE_FALSE(bad.ok());
      CHECK_THAT(bad.error().message, Catch::Contains("UTF-8"));
    }
  }
}

TEST_CASE("a hand-built request with no agent cannot start a call", "[call]") {
  Call call(parley::CallConfig{"pk", 5000});
  parley::StartRequest nothing;
  auto status = call.start(nothing, 0);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == "start_missing_agent");
  parley::StartRequest bad_config = agent_request();
  bad_config.agent_config = parley::json::array();  // not an object
  auto refused = call.start(bad_config, 0);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == "bad_agent_config");
  CHECK(call.connection_state() == ConnectionState::idle);
  // agent_id with agent_config is an override of that agent (DESIGN §3): it starts.
  parley::StartRequest both = agent_request();
  both.agent_config = parley::json{{"prompt", "p"}};
  CHECK(call.start(both, 0).ok());
}

TEST_CASE("state and event names are the ones the SDK uses", "[call]") {
  CHECK(parley::to_string(AgentState::prepare_answer) == "prepare_answer");
  CHECK(parley::to_string(AgentState::pause) == "pause");
  CHECK(parley::to_string(ConnectionState::closing) == "closing");
  CHECK(parley::to_string(ConnectionState::failed) == "failed");
  CHECK(parley::event_name(CallEvent{parley::LatencyEvent{5}}) == "onlatency");
  CHECK(parley::event_name(CallEvent{parley::AgentStateEvent{}}) == "onagentstate");
  CHECK(parley::event_name(CallEvent{parley::MessageEvent{}}) == "onmessage");
  CHECK(parley::event_name(CallEvent{parley::RttEvent{}}) == "onrtt");
}
