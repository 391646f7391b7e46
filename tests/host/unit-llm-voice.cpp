// The LLM agent through a real parley-host (issue 15): a voice round trip where pocketsphinx
// hears the user, the agent's words come from the tests' LLM server and espeak-ng speaks them
// from the first sentence; a barge-in that closes the LLM's connection within one audio frame
// of the `clear` and leaves only what was heard in the history; tools over a webhook with a
// parameter filled from metadata; an upstream error the caller hears as the fallback, the
// call going on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "host_fixture.hpp"
#include "parley/host/recognizer.hpp"
#include "test_http_server.hpp"
#include "test_llm_server.hpp"
#include "test_speech.hpp"

using namespace parley::test;
using parley::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// The demo agent, thinking with the tests' LLM server; one tool that takes a metadata value.
json llm_config(const std::string& base_url, const std::string& tool_url, bool speech = true) {
  json agent = demo_llm_agent(
      base_url, "sk-voice-test-key", 5000, tool_url,
      {{"order_id", {{"type", "integer"}}}, {"user_id", {{"type", "string"}}}});
  json server = {{"log_level", "debug"}, {"admin_key", "k"}};
  if (!speech) server["speech"] = {{"enabled", false}};
  return json{{"server", server}, {"agents", {agent}}};
}

std::string open_demo(WsClient& ws, std::uint16_t port, json metadata = nullptr) {
  if (auto e = ws.connect(port, "/v1/voice", std::string(test_origin)); !e.empty()) return e;
  if (!ws.send_text(initiate_text("demo", "pk-demo", std::move(metadata)))) return "initiate not sent";
  for (int i = 0; i < 50; ++i) {
    WsMessage m = ws.read(5000);
    if (m.kind != WsMessage::Kind::text) return "no onready: " + m.data;
    auto parsed = parley::parse_json(m.data, "frame", 64);
    if (parsed && (*parsed)["method"] == "onready") return "";
  }
  return "no onready";
}

Samples utterance_at(const Samples& speech, double at_s, double total_s, unsigned seed) {
  Samples bed = room_noise(total_s, -65.0, seed);
  return mix_at(std::move(bed), speech, static_cast<std::size_t>(at_s * kSpeechRate));
}

const Received* first_of(const std::vector<Received>& got, const std::string& method,
                         double after_ms = -1e9) {
  for (const auto& r : got) {
    if (r.method == method && r.at_ms >= after_ms) return &r;
  }
  return nullptr;
}

const Received* final_text(const std::vector<Received>& got, double after_ms = -1e9) {
  for (const auto& r : got) {
    if (r.method == "onresponsetext" && r.at_ms >= after_ms && r.message["payload"]["is_final"] == true) return &r;
  }
  return nullptr;
}

std::string recognise(const Samples& audio, std::vector<std::string> hints) {
  parley::host::SpeechConfig sc;
  auto recognizer = parley::host::make_pocketsphinx_recognizer(sc);
  parley::host::RecognitionHints h;
  h.words = std::move(hints);
  for (int attempt = 0; attempt < 200; ++attempt) {
    auto stream = recognizer->open(h);
    if (!stream && stream.error().code == "recognizer_busy") {
      (void)recognizer->warm_up(h);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (!stream) return "";
    if (!(*stream)->feed(audio.data(), audio.size()).ok()) return "";
    auto text = (*stream)->finish();
    return text ? *text : std::string();
  }
  return "";
}

}  // namespace

TEST_CASE("voice round trip: pocketsphinx hears the user, the LLM's words are spoken from the "
          "first sentence",
          "[llm-voice]") {
  TestLlmHttpServer llm;
  // A first sentence at once, then the rest slowly: speech must start long before the end.
  AnswerPlan plan{{"Sure.", " The weather", " in Paris", " is sunny", " and warm", " today."}, {}, 50, 350, ""};
  llm.push(llm_reply(Wire::openai, plan));
  TestHttpServer tools;
  HostFixture host(llm_config(llm.base_url(), tools.url("/tools")));

  const Samples speech = espeak_16k("what is the weather like");
  REQUIRE(speech.size() > 4000);
  const Samples in = utterance_at(speech, 0.4, 0.4 + static_cast<double>(speech.size()) / kSpeechRate + 0.3, 5);
  WsClient ws;
  REQUIRE(open_demo(ws, host.port(), {{"userName", "Ada"}}) == "");
  StreamOptions o;
  o.tail_ms = 15000;
  o.done_when = [](const Received& r) {
    return r.method == "onresponsetext" && r.message["payload"]["is_final"] == true;
  };
  o.linger_ms = 5000;  // the rest of the spoken reply
  const auto t0 = Clock::now();
  std::vector<Received> got = stream_realtime(ws, in, t0, o);
  ws.close();

  const Received* heard = nullptr;
  for (const auto& r : got) {
    if (r.method == "ontranscript" && r.message["payload"]["is_final"] == true) heard = &r;
  }
  REQUIRE(heard != nullptr);
  const std::string transcript = heard->message["data"].get<std::string>();
  INFO("heard: " << transcript);
  CHECK(transcript.find("weather") != std::string::npos);
  // What pocketsphinx heard is what the LLM was asked.
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 1);
  CHECK(bodies[0]["messages"].back() == json({{"role", "user"}, {"content", transcript}}));

  const Received* answering = first_of(got, "start_answering");
  REQUIRE(answering != nullptr);
  const Received* done = final_text(got);
  REQUIRE(done != nullptr);
  const std::string reply = "Sure. The weather in Paris is sunny and warm today.";
  CHECK(done->message["data"] == reply);
  std::string pieces;
  int piece_count = 0;
  for (const auto& r : got) {
    if (r.method == "onresponsetext" && r.message["payload"]["is_final"] == false) {
      pieces += r.message["data"].get<std::string>();
      ++piece_count;
    }
  }
  CHECK(piece_count == 6);  // streamed as the model wrote them
  CHECK(pieces == reply);

  Samples agent_audio;
  double first_frame_ms = -1;
  for (const auto& r : got) {
    if (r.kind != Received::Kind::binary || r.at_ms < answering->at_ms) continue;
    if (first_frame_ms < 0) first_frame_ms = r.at_ms;
    Samples s = from_bytes(r.data);
    agent_audio.insert(agent_audio.end(), s.begin(), s.end());
  }
  REQUIRE(first_frame_ms > 0);
  // Spoken from the first sentence: the first frame came while the model was still writing
  // (its last token came 1.75 s after its first).
  CHECK(first_frame_ms < done->at_ms - 1000);
  std::printf("[llm-voice] final transcript -> start_answering %.0f ms, -> first agent frame %.0f ms; "
              "last token at +%.0f ms\n",
              answering->at_ms - heard->at_ms, first_frame_ms - heard->at_ms, done->at_ms - heard->at_ms);

  // The agent's audio says the LLM's words.
  const std::string said = recognise(agent_audio, {"weather", "paris", "sunny", "warm", "today"});
  INFO("the agent said: " << said);
  int found = 0;
  const auto said_words = words_of(said);
  for (const char* w : {"weather", "paris", "sunny", "warm", "today"}) {
    found += std::find(said_words.begin(), said_words.end(), w) != said_words.end() ? 1 : 0;
  }
  CHECK(found >= 2);

  // The metrics a person watches: one request, its first token and the turn's first audio
  // timed, the tokens the server reported (OpenAI's usage chunk: 57 in, 12 out).
  const auto m = http(host.port(), "GET", "/metrics");
  CHECK(m.body.find("parley_llm_requests_total 1\n") != std::string::npos);
  CHECK(m.body.find("parley_llm_first_token_seconds_count 1\n") != std::string::npos);
  CHECK(m.body.find("parley_first_audio_seconds_count 1\n") != std::string::npos);
  CHECK(m.body.find("parley_llm_tokens_in_total 57\n") != std::string::npos);
  CHECK(m.body.find("parley_llm_tokens_out_total 12\n") != std::string::npos);
}

TEST_CASE("barge-in closes the LLM's connection within one audio frame of the clear; the "
          "history keeps what was heard",
          "[llm-voice]") {
  TestLlmHttpServer llm;
  std::vector<std::string> tokens = {"Let me tell you", " a long story."};
  for (int i = 0; i < 40; ++i) tokens.push_back(" Sentence number " + std::to_string(i) + ".");
  llm.set({llm_reply(Wire::vllm, AnswerPlan{tokens, {}, 50, 150, ""}),
           llm_reply(Wire::vllm, AnswerPlan{{"Okay, I will stop."}, {}, 0, 0, ""})});
  TestHttpServer tools;
  HostFixture host(llm_config(llm.base_url(), tools.url("/tools")));

  const Samples ask = espeak_16k("tell me a story");
  const Samples stop = espeak_16k("stop please stop");
  REQUIRE(ask.size() > 4000);
  Samples in = utterance_at(ask, 0.4, 7.5, 6);
  in = mix_at(std::move(in), stop, static_cast<std::size_t>(5.5 * kSpeechRate));
  WsClient ws;
  REQUIRE(open_demo(ws, host.port()) == "");
  StreamOptions o;
  o.tail_ms = 8000;
  int finals = 0;
  o.done_when = [&finals](const Received& r) {
    return r.method == "onresponsetext" && r.message["payload"]["is_final"] == true && ++finals == 2;
  };
  o.linger_ms = 300;
  const auto t0 = Clock::now();
  std::vector<Received> got = stream_realtime(ws, in, t0, o);
  ws.close();

  const Received* clear = first_of(got, "clear");
  REQUIRE(clear != nullptr);
  REQUIRE(llm.http().wait_for_closes(1, 3s));
  const auto closes = llm.http().closes();
  REQUIRE_FALSE(closes.empty());
  CHECK(closes[0].mid_reply);  // the stream was still running: the host closed it
  const double clear_at = std::chrono::duration<double, std::milli>(t0.time_since_epoch()).count() + clear->at_ms;
  const double close_at =
      std::chrono::duration<double, std::milli>(llm.http().epoch().time_since_epoch()).count() + closes[0].at_ms;
  std::printf("[llm-voice] barge-in: the LLM server saw the close %.1f ms %s the client saw clear\n",
              std::abs(close_at - clear_at), close_at <= clear_at ? "before" : "after");
  CHECK(std::abs(close_at - clear_at) <= 20.0);

  // The next request carries what the user heard of the story: a start of it, not all of it.
  REQUIRE(llm.http().wait_for_requests(2, 10s));
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 2);
  const json& m = bodies[1]["messages"];
  REQUIRE(m.size() >= 4);
  const json& told = m[m.size() - 2];
  CHECK(told["role"] == "assistant");
  std::string full;
  for (const auto& t : tokens) full += t;
  const std::string kept = told["content"].get<std::string>();
  INFO("kept: " << kept);
  CHECK_FALSE(kept.empty());
  CHECK(kept.size() < full.size() / 2);
  CHECK(full.compare(0, kept.size(), kept) == 0);
}

TEST_CASE("tools over a webhook, a parameter filled from metadata, through the host", "[llm-voice]") {
  TestHttpServer tools;
  tools.script("/tools/order", ScriptedReply{200, R"({"order":{"id":1234,"status":"shipped"}})"});
  TestLlmHttpServer llm;
  llm.set({llm_reply(Wire::ollama, AnswerPlan{{}, {{"", "lookup_order", R"({"order_id":1234})"}}, 0, 0, ""}),
           llm_reply(Wire::ollama, AnswerPlan{{"Order 1234", " has shipped."}, {}, 0, 0, ""})});
  HostFixture host(llm_config(llm.base_url(), tools.url("/tools/order"), false));
  WsClient ws;
  REQUIRE(open_demo(ws, host.port(), {{"user_id", "u-42"}, {"userName", "Ann"}}) == "");
  REQUIRE(ws.send_text(R"({"method":"text","data":"Where is order 1234?"})"));
  // Millis's onfunction (text empty, payload {name, params}) for the model's tool call, then
  // ours with the result.
  json function = read_method(ws, "onfunction");
  CHECK(function["data"] == "");
  CHECK(function["payload"] ==
        json({{"name", "lookup_order"}, {"params", {{"order_id", 1234}, {"user_id", "u-42"}}}}));
  json action = read_method(ws, "ai_action");
  CHECK(action["data"]["name"] == "lookup_order");
  CHECK(action["data"]["arguments"] == json({{"order_id", 1234}, {"user_id", "u-42"}}));
  CHECK(action["data"]["result"]["order"]["status"] == "shipped");
  json text = read_final_text(ws);
  CHECK(text["data"] == "Order 1234 has shipped.");
  auto calls = tools.requests_to("/tools/order");
  REQUIRE(calls.size() == 1);
  CHECK(parley::parse_json(calls[0].body, "b").value()["arguments"]["user_id"] == "u-42");
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 2);
  CHECK(bodies[1]["messages"].back()["role"] == "tool");
  // The user_id parameter is metadata's to fill: the model is not asked for it.
  CHECK_FALSE(bodies[0]["tools"][0]["function"]["parameters"]["properties"].contains("user_id"));
}

TEST_CASE("the extra_prompt_webhook's text and metadata reach the model's system prompt",
          "[llm-voice]") {
  // Millis's prefetch webhook (extra_prompt_webhook): its metadata fills the prompt's
  // variables, its extra_prompt follows the prompt.
  TestHttpServer hooks;
  hooks.script("/extra", ScriptedReply{200, R"({"metadata":{"customer_tier":"gold"},)"
                                            R"("extra_prompt":"The customer prefers short answers."})"});
  TestLlmHttpServer llm;
  llm.set({llm_reply(Wire::openai, AnswerPlan{{"Hello."}, {}, 0, 0, ""})});
  json config = llm_config(llm.base_url(), hooks.url("/unused"), false);
  config["agents"][0]["prompt"] = "You help a {customer_tier|standard} customer.";
  config["agents"][0]["extra_prompt_webhook"] = hooks.url("/extra");
  HostFixture host(config);
  WsClient ws;
  REQUIRE(open_demo(ws, host.port(), {{"userName", "Ann"}}) == "");
  REQUIRE(ws.send_text(R"({"method":"text","data":"Hi"})"));
  CHECK(read_final_text(ws)["data"] == "Hello.");
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 1);
  const json& system = bodies[0]["messages"][0];
  CHECK(system["role"] == "system");
  CHECK_THAT(system["content"].get<std::string>(),
             Catch::StartsWith("You help a gold customer.\n\nThe customer prefers short answers."));
  REQUIRE(hooks.requests_to("/extra").size() == 1);
  CHECK(hooks.requests_to("/extra")[0].target.find("userName=Ann") != std::string::npos);
}

TEST_CASE("an upstream error: logged once with its cause, the caller hears the fallback, the "
          "call goes on",
          "[llm-voice]") {
  TestLlmHttpServer llm;
  llm.set({llm_error(Wire::openai, 401), llm_reply(Wire::openai, AnswerPlan{{"Hello again."}, {}, 0, 0, ""})});
  TestHttpServer tools;
  json config = llm_config(llm.base_url(), tools.url("/t"), false);
  const std::string fallback = config["agents"][0]["fallback_reply"].get<std::string>();
  HostFixture host(config);
  WsClient ws;
  REQUIRE(open_demo(ws, host.port()) == "");
  REQUIRE(ws.send_text(R"({"method":"text","data":"Hello?"})"));
  CHECK(read_final_text(ws)["data"] == fallback);
  REQUIRE(ws.send_text(R"({"method":"text","data":"Hello??"})"));
  CHECK(read_final_text(ws)["data"] == "Hello again.");
  const std::string log = host.process().log_text();
  CHECK(log.find("kind=llm_unauthorized") != std::string::npos);
  CHECK(log.find(llm_key_env) != std::string::npos);
  CHECK(log.find("sk-voice-test-key") == std::string::npos);
  const auto m = http(host.port(), "GET", "/metrics");
  CHECK(m.body.find("parley_llm_errors_total{kind=\"llm_unauthorized\"} 1") != std::string::npos);
  CHECK(m.body.find("parley_llm_requests_total 2") != std::string::npos);
}

TEST_CASE("history: a call that continues a session sends the model that session's lines",
          "[llm-voice]") {
  TestLlmHttpServer llm;
  llm.set({llm_reply(Wire::openai, AnswerPlan{{"Which", " order?"}, {}, 0, 0, ""}),
           llm_reply(Wire::openai, AnswerPlan{{"Order 1234", " has shipped."}, {}, 0, 0, ""})});
  TestHttpServer tools;
  HostFixture host(llm_config(llm.base_url(), tools.url("/t"), false));
  std::string first;
  {
    WsClient ws;
    first = start_call(ws, host.port(), "demo", "pk-demo")["session_id"];
    REQUIRE(ws.send_text(R"({"method":"text","data":"My order is late."})"));
    CHECK(read_final_text(ws)["data"] == "Which order?");
    ws.close(1000);
  }
  WsClient ws;
  json ready = start_call(ws, host.port(), "demo", "pk-demo", nullptr, first);
  CHECK(ready["continuation"] == "continued");  // a new call continuing it (DESIGN §3)
  REQUIRE(ws.send_text(R"({"method":"text","data":"Number 1234."})"));
  CHECK(read_final_text(ws)["data"] == "Order 1234 has shipped.");
  auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 2);
  const json& messages = bodies[1]["messages"];
  REQUIRE(messages.size() == 4);
  CHECK(messages[0]["role"] == "system");
  CHECK(messages[1] == json({{"role", "user"}, {"content", "My order is late."}}));
  CHECK(messages[2] == json({{"role", "assistant"}, {"content", "Which order?"}}));
  CHECK(messages[3] == json({{"role", "user"}, {"content", "Number 1234."}}));
}
