// A custom LLM written from Millis's documentation (millis_llm_server.hpp) on a voice call
// with speech on, against the real parley-host: the user's words reach it as
// partial_transcript before the turn's stream_request; its `flush` and `pause` shape what is
// spoken (the first part, `pause`, silence, `unpause`, the second part); it hears
// playback_finished when the reply has played. Real time (espeak-ng and pocketsphinx), so a
// suite of its own that runs once, in the release preset.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <string>

#include "host_fixture.hpp"
#include "millis_llm_server.hpp"
#include "test_http_server.hpp"
#include "test_speech.hpp"

using namespace parley::test;
using namespace parley::test::millis;
using parley::json;

TEST_CASE("custom LLM with speech: partial_transcript, flush and pause, playback_finished",
          "[millis-speech]") {
  TestLlmServer llm(millis_llm);
  TestHttpServer receiver;
  receiver.script("/end", ScriptedReply{200, "{}"});
  json config = llm_config(llm.url(), receiver.url("/end"), "");
  config["server"]["speech"] = {{"enabled", true}};
  config["agents"].back()["custom_vocabulary"] = {{"keywords", {"hello", "there", "plan", "weather"}}};
  config["agents"].back()["voice"] = {{"provider", "espeak-ng"}, {"voice_id", "en-us"}};
  HostFixture host(config);

  // The reply as the agent's voice says it: both parts, and 800 ms of silence between them.
  // Measured first, while this process's espeak-ng has said nothing unfinished: after a text
  // with no final punctuation (the user's words below) it makes "First part." 6 % longer
  // (40.9 frames instead of 38.4), which is not what the host, whose every reply ends a
  // sentence, makes of it.
  const std::size_t first_part = espeak_16k("First part.", "en-us", 1.0f).size();
  const std::size_t second_part = espeak_16k("Second part.", "en-us", 1.0f).size();
  // Long enough for the recognizer to give partial results while the user speaks.
  const Samples speech = espeak_16k("hello there, I would like to hear about my plan and the weather today");
  REQUIRE(!speech.empty());
  const Samples bed = room_noise(3.0 + static_cast<double>(speech.size()) / kSpeechRate + 2.0, -65.0, 5);
  const Samples in = mix_at(bed, speech, static_cast<std::size_t>(3.0 * kSpeechRate));

  WsClient ws;
  REQUIRE(ws.connect(host.port(), "/v1/voice", std::string(test_origin)) == "");
  REQUIRE(ws.send_text(initiate_text("llm", "pk-llm")));
  StreamOptions options;
  options.tail_ms = 12000;
  bool answer_started = false;
  int finals = 0;
  options.done_when = [&](const Received& r) {
    if (r.method == "start_answering") answer_started = true;
    if (answer_started && r.method == "onresponsetext" && r.message["payload"]["is_final"] == true)
      ++finals;
    if (finals < 1) return false;
    const auto played = of_type(llm.messages(), "playback_finished");
    return std::any_of(played.begin(), played.end(),
                       [](const json& m) { return m["data"]["stream_id"] == 1; });
  };
  options.linger_ms = 200;
  const auto got = stream_realtime(ws, in, std::chrono::steady_clock::now(), options);

  const auto messages = llm.messages();
  auto partials = of_type(messages, "partial_transcript");
  INFO("LLM messages: " << parley::to_json_text(json(messages)));
  REQUIRE_FALSE(partials.empty());
  CHECK(partials.back()["data"]["is_final"] == true);
  CHECK(std::any_of(partials.begin(), partials.end(),
                    [](const json& m) { return m["data"]["is_final"] == false; }));
  // The final transcript comes before the turn's request.
  const auto final_at = std::find_if(messages.begin(), messages.end(), [](const json& m) {
    return type_of(m) == "partial_transcript" && m["data"]["is_final"] == true;
  });
  const auto request_at = std::find_if(messages.begin(), messages.end(), [](const json& m) {
    return type_of(m) == "stream_request";
  });
  CHECK(final_at < request_at);

  // The reply: the first part's audio (flushed before the stream ended), `pause`, 800 ms
  // with no audio, `unpause`, the second part's audio.
  const Received* answering = nullptr;
  const Received* paused = nullptr;
  const Received* unpaused = nullptr;
  std::size_t before = 0, during = 0, after = 0;
  for (const auto& r : got) {
    if (r.method == "start_answering" && !answering) answering = &r;
    if (!answering) continue;
    if (r.method == "pause" && !paused) paused = &r;
    if (r.method == "unpause" && paused && !unpaused) unpaused = &r;
    if (r.kind != Received::Kind::binary) continue;
    (unpaused ? after : paused ? during : before) += 1;
  }
  REQUIRE(paused != nullptr);
  REQUIRE(unpaused != nullptr);
  const double held_ms = unpaused->at_ms - paused->at_ms;
  INFO("frames before " << before << ", during " << during << ", after " << after
                        << "; held " << held_ms << " ms");
  CHECK(held_ms >= 750);
  CHECK(held_ms < 1500);
  CHECK(during == 0);
  // Each part's frames: its synthesised length in 20 ms frames, within 3 % (padding to whole
  // frames and the resampler's tail make a few frames more). One part (~39 frames) is told
  // from both (~82).
  CHECK(static_cast<double>(before) >= 0.97 * static_cast<double>(first_part) / 320.0);
  CHECK(static_cast<double>(before) <= 1.03 * static_cast<double>(first_part) / 320.0 + 3);
  CHECK(static_cast<double>(after) >= 0.97 * static_cast<double>(second_part) / 320.0);
  CHECK(static_cast<double>(after) <= 1.03 * static_cast<double>(second_part) / 320.0 + 3);
  auto played = of_type(messages, "playback_finished");
  CHECK(std::any_of(played.begin(), played.end(),
                    [](const json& m) { return m["data"]["stream_id"] == 1; }));
}
