// The parsers under the LLM path (issue 15), without a network: the SSE parser, the stream
// decoder with its tool-call assembly fed every replayed wire format and quirk of the test
// server (tests/host/test_llm_server.cpp), the <think> filter and the sentence splitter.
// These parse a stranger's bytes, so this suite also runs under ASan + UBSan.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "agent/openai_stream.hpp"
#include "agent/sentence_splitter.hpp"
#include "agent/sse_parser.hpp"
#include "test_llm_server.hpp"

using parley::json;
using namespace parley::host;
using namespace parley::test;

namespace {

std::vector<SseEvent> parse_all(const std::string& bytes, std::size_t split_every = 0,
                                std::size_t max = 1024 * 1024) {
  SseParser parser(max);
  std::vector<SseEvent> events;
  auto on = [&](SseEvent& e) { events.push_back(e); };
  if (split_every == 0) {
    REQUIRE(parser.feed(bytes, on).ok());
  } else {
    for (std::size_t i = 0; i < bytes.size(); i += split_every) {
      REQUIRE(parser.feed(std::string_view(bytes).substr(i, split_every), on).ok());
    }
  }
  parser.finish(on);
  return events;
}

struct Decoded {
  std::string text;
  std::vector<StreamedToolCall> calls;
  std::string finish;
  bool done = false;
  std::optional<parley::Error> error;
  ChatUsage usage;
  std::size_t bad = 0;
};

// The replay's body, split at random places (as TCP may deliver it), decoded.
Decoded decode(const std::vector<StreamPiece>& pieces, unsigned seed = 1) {
  std::string body;
  for (const auto& p : pieces) body += p.bytes;
  std::mt19937 rng(seed);
  SseParser parser;
  ChatStreamDecoder decoder;
  Decoded out;
  auto on = [&](SseEvent& e) {
    auto piece = decoder.apply(e);
    out.text += piece.content;
    if (piece.finish_reason) out.finish = *piece.finish_reason;
    if (piece.done) out.done = true;
    if (piece.error && !out.error) out.error = piece.error;
  };
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t n = std::uniform_int_distribution<std::size_t>(1, 40)(rng);
    REQUIRE(parser.feed(std::string_view(body).substr(at, n), on).ok());
    at += n;
  }
  parser.finish(on);
  out.text += decoder.finish_content();
  out.calls = decoder.tool_calls();
  out.usage = decoder.usage();
  out.bad = decoder.bad_chunks();
  return out;
}

const std::vector<Wire> all_wires = {Wire::openai, Wire::ollama, Wire::llamacpp, Wire::vllm};

AnswerPlan text_plan() { return AnswerPlan{{"Hello", ", Ann", ". It is", " sunny."}, {}, 0, 0, ""}; }

AnswerPlan tool_plan() {
  return AnswerPlan{{},
                    {{"", "get_weather", R"({"city":"Paris","unit":"celsius"})"},
                     {"", "lookup_order", R"({"order_id":1234})"}},
                    0,
                    0,
                    ""};
}

}  // namespace

// ---- SSE ---------------------------------------------------------------------------------

TEST_CASE("SSE: fields, comments, multi-line data, every line ending, any split", "[llm-wire]") {
  const std::string stream =
      "\xEF\xBB\xBF: a comment\r\n"
      "event: update\r\n"
      "id: 7\r\n"
      "data: first\r\n"
      "data:second\r\n"
      "\r\n"
      "data:  two spaces\n\n"
      "data\r\r"
      "retry: 100\nunknown: x\n\n"  // no data: not dispatched
      "data: last";                 // no blank line: dispatched at the end
  for (std::size_t split : {0, 1, 2, 3, 5, 7, 64}) {
    INFO("split " << split);
    auto events = parse_all(stream, split);
    REQUIRE(events.size() == 4);
    CHECK(events[0].type == "update");
    CHECK(events[0].id == "7");
    CHECK(events[0].data == "first\nsecond");
    CHECK(events[1].type.empty());
    CHECK(events[1].id == "7");  // the last id persists
    CHECK(events[1].data == " two spaces");
    CHECK(events[2].data.empty());
    CHECK(events[3].data == "last");
  }
}

TEST_CASE("SSE: a CR at the end of one piece and its LF in the next are one line end",
          "[llm-wire]") {
  SseParser parser;
  std::vector<std::string> data;
  auto on = [&](SseEvent& e) { data.push_back(e.data); };
  REQUIRE(parser.feed("data: a\r", on).ok());
  REQUIRE(parser.feed("\n\r", on).ok());
  REQUIRE(parser.feed("\ndata: b\r\n\r\n", on).ok());
  CHECK(data == std::vector<std::string>{"a", "b"});
}

TEST_CASE("SSE: llama.cpp's error field is kept; an event over the limit is refused",
          "[llm-wire]") {
  auto events = parse_all("error: {\"code\":400}\n\ndata: [DONE]\n\n");
  REQUIRE(events.size() == 2);
  CHECK(events[0].error == "{\"code\":400}");
  CHECK(events[1].data == "[DONE]");

  SseParser parser(100);
  auto status = parser.feed("data: " + std::string(200, 'x'), [](SseEvent&) {});
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == "sse_too_large");
  CHECK_THAT(status.error().message, Catch::Contains("100 bytes"));
  CHECK_FALSE(parser.feed("data: y\n\n", [](SseEvent&) {}).ok());

  SseParser lines(100);  // many small lines that add up to one big event
  std::string many;
  for (int i = 0; i < 30; ++i) many += "data: 0123456789\n";
  CHECK_FALSE(lines.feed(many, [](SseEvent&) {}).ok());
}

// ---- the decoder, on every replayed format ----------------------------------------------

TEST_CASE("decoder: the text of a streamed answer in every server's format", "[llm-wire]") {
  for (Wire wire : all_wires) {
    for (unsigned seed : {1u, 2u, 3u}) {
      INFO(wire_name(wire) << " seed " << seed);
      Decoded d = decode(sse_answer(wire, text_plan()), seed);
      CHECK(d.text == "Hello, Ann. It is sunny.");
      CHECK(d.finish == "stop");
      CHECK(d.done);
      CHECK(d.calls.empty());
      CHECK(d.bad == 0);
      CHECK_FALSE(d.error.has_value());
      CHECK(d.usage.prompt_tokens == 57);
      CHECK(d.usage.completion_tokens == 12);
    }
  }
}

TEST_CASE("decoder: two streamed tool calls in every server's format", "[llm-wire]") {
  for (Wire wire : all_wires) {
    INFO(wire_name(wire));
    Decoded d = decode(sse_answer(wire, tool_plan()));
    CHECK(d.finish == "tool_calls");
    CHECK(d.text.empty());
    REQUIRE(d.calls.size() == 2);
    CHECK(d.calls[0].name == "get_weather");
    CHECK(d.calls[0].arguments == json({{"city", "Paris"}, {"unit", "celsius"}}));
    CHECK(d.calls[0].error.empty());
    CHECK_FALSE(d.calls[0].id.empty());
    CHECK(d.calls[1].name == "lookup_order");
    CHECK(d.calls[1].arguments == json({{"order_id", 1234}}));
    CHECK(d.calls[0].id != d.calls[1].id);
  }
}

TEST_CASE("decoder: text then a tool call in one answer", "[llm-wire]") {
  AnswerPlan plan{{"Let me", " check."}, {{"", "get_weather", R"({"city":"Rome"})"}}, 0, 0, ""};
  for (Wire wire : all_wires) {
    INFO(wire_name(wire));
    Decoded d = decode(sse_answer(wire, plan));
    CHECK(d.text == "Let me check.");
    REQUIRE(d.calls.size() == 1);
    CHECK(d.calls[0].arguments == json({{"city", "Rome"}}));
  }
}

TEST_CASE("decoder: every quirk of real servers", "[llm-wire]") {
  struct Case {
    Wire wire;
    Quirk quirk;
  };
  SECTION("tool-call quirks assemble the same two calls") {
    for (Case c : {Case{Wire::ollama, Quirk::ollama_no_index},
                   Case{Wire::ollama, Quirk::ollama_same_index},
                   Case{Wire::ollama, Quirk::ollama_index_without_id},
                   Case{Wire::llamacpp, Quirk::llamacpp_object_args},
                   Case{Wire::openai, Quirk::openai_split_index},
                   Case{Wire::openai, Quirk::crlf_lines}}) {
      INFO(wire_name(c.wire) << " quirk " << static_cast<int>(c.quirk));
      for (unsigned seed : {1u, 7u}) {
        Decoded d = decode(sse_answer(c.wire, tool_plan(), c.quirk), seed);
        REQUIRE(d.calls.size() == 2);
        CHECK(d.calls[0].name == "get_weather");
        CHECK(d.calls[0].arguments == json({{"city", "Paris"}, {"unit", "celsius"}}));
        CHECK(d.calls[1].name == "lookup_order");
        CHECK(d.calls[1].arguments == json({{"order_id", 1234}}));
        CHECK(d.calls[0].error.empty());
        CHECK(d.calls[1].error.empty());
        CHECK(d.calls[0].id != d.calls[1].id);
        CHECK(d.bad == 0);
      }
    }
  }
  SECTION("text quirks give the same text") {
    for (Case c : {Case{Wire::vllm, Quirk::vllm_no_finish_reason},
                   Case{Wire::vllm, Quirk::vllm_null_choices},
                   Case{Wire::vllm, Quirk::think_tags}, Case{Wire::ollama, Quirk::think_tags},
                   Case{Wire::openai, Quirk::crlf_lines}}) {
      INFO(wire_name(c.wire) << " quirk " << static_cast<int>(c.quirk));
      Decoded d = decode(sse_answer(c.wire, text_plan(), c.quirk));
      const std::string expected = c.quirk == Quirk::think_tags
                                       ? "\n\nHello, Ann. It is sunny."
                                       : "Hello, Ann. It is sunny.";
      CHECK(d.text == expected);
      CHECK(d.done);
      CHECK(d.usage.completion_tokens == 12);
    }
  }
  SECTION("errors inside a 200 stream") {
    Decoded field = decode(sse_answer(Wire::llamacpp, text_plan(), Quirk::llamacpp_error_field));
    REQUIRE(field.error.has_value());
    CHECK_THAT(field.error->message, Catch::Contains("exceeds the available context size"));
    CHECK_THAT(field.error->message, Catch::Contains("invalid_request_error"));
    Decoded data = decode(sse_answer(Wire::llamacpp, text_plan(), Quirk::llamacpp_error_data));
    REQUIRE(data.error.has_value());
    CHECK_THAT(data.error->message, Catch::Contains("out of memory"));
  }
}

TEST_CASE("decoder: stranger input is skipped and counted, never thrown", "[llm-wire]") {
  ChatStreamDecoder decoder;
  auto apply = [&](const std::string& data) {
    SseEvent e;
    e.data = data;
    return decoder.apply(e);
  };
  CHECK(apply("not json").content.empty());
  CHECK(apply("[1,2]").content.empty());
  CHECK(apply(R"({"choices":"no"})").content.empty());
  CHECK(apply(R"({"choices":[{"delta":{"content":7}}]})").content.empty());
  CHECK(apply(R"({"choices":[{"delta":{"tool_calls":[5]}}]})").content.empty());
  CHECK(apply(R"({"choices":[{"index":1,"delta":{"content":"other choice"}}]})").content.empty());
  CHECK(apply(R"({"choices":[{"delta":{"content":"ok"}}]})").content == "ok");
  CHECK(decoder.bad_chunks() == 4);
  CHECK_THAT(decoder.first_problem(), Catch::Contains("not JSON"));

  ChatStreamDecoder calls;
  SseEvent e;
  for (int i = 0; i < 20; ++i) {
    e.data = R"({"choices":[{"delta":{"tool_calls":[{"index":)" + std::to_string(i) +
             R"(,"id":"c)" + std::to_string(i) + R"(","function":{"name":"f","arguments":"{}"}}]}}]})";
    calls.apply(e);
  }
  CHECK(calls.tool_calls().size() == ChatStreamDecoder::max_tool_calls);
  CHECK(calls.bad_chunks() == 4);

  ChatStreamDecoder broken;
  e.data = R"({"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"a\":"}}]}}]})";
  broken.apply(e);
  auto result = broken.tool_calls();
  REQUIRE(result.size() == 1);
  CHECK_FALSE(result[0].error.empty());
  CHECK(result[0].id == "call_0");  // made up: the server sent none
}

TEST_CASE("think filter: tags split anywhere, text outside kept", "[llm-wire]") {
  const std::string text = "<think>plan a</think>Hi <think>x</think>there.";
  for (std::size_t split = 1; split <= text.size(); ++split) {
    ThinkFilter f;
    std::string out;
    for (std::size_t i = 0; i < text.size(); i += split) out += f.feed(text.substr(i, split));
    out += f.finish();
    INFO("split " << split);
    CHECK(out == "Hi there.");
  }
  ThinkFilter lone;
  CHECK(lone.feed("a < b and <thin") == "a < b and ");
  CHECK(lone.finish() == "<thin");
}

// ---- sentences ---------------------------------------------------------------------------

TEST_CASE("sentences are cut as soon as they end", "[llm-wire]") {
  SentenceSplitter s;
  CHECK(s.feed("Sure").empty());
  CHECK(s.feed("!").size() == 1);  // '!' ends at once
  CHECK(s.feed(" It is 3.5 degrees").empty());
  CHECK(s.feed(".").size() == 1);  // after a plain word a '.' ends at once
  CHECK(s.feed(" Call Dr.").empty());  // after an abbreviation it waits for the next word
  auto out = s.feed(" Smith at 3.");
  CHECK(out.empty());  // after a digit too ("3.5")
  out = s.feed(" He said so, e.g. yesterday. Next");
  REQUIRE(out.size() == 2);
  CHECK(out[0] == "Call Dr. Smith at 3.");
  CHECK(out[1] == "He said so, e.g. yesterday.");
  CHECK(s.finish() == "Next");

  SentenceSplitter lines;
  auto l = lines.feed("1. Eggs\n2. Milk\n");
  REQUIRE(l.size() == 2);
  CHECK(l[0] == "1. Eggs");
  CHECK(l[1] == "2. Milk");

  SentenceSplitter quotes;
  auto qs = quotes.feed("He said \"stop.\" Then we left. ");
  REQUIRE(qs.size() == 2);
  CHECK(qs[0] == "He said \"stop.\"");
  CHECK(qs[1] == "Then we left.");
  CHECK(quotes.finish().empty());

  SentenceSplitter cjk;
  auto c = cjk.feed("你好。今天天气很好！");
  REQUIRE(c.size() == 2);
  CHECK(c[0] == "你好。");
}

TEST_CASE("a long run without an end is cut at a clause, then at a space", "[llm-wire]") {
  SentenceSplitter s(60);
  std::string run;
  for (int i = 0; i < 20; ++i) run += "word ";
  run += "and, then more words without any end at all";
  auto out = s.feed(run);
  REQUIRE_FALSE(out.empty());
  for (const auto& part : out) CHECK(part.size() <= 60);
  std::string joined;
  for (const auto& part : out) joined += part + " ";
  joined += s.finish();
  CHECK(joined.find("without any end at all") != std::string::npos);
}
