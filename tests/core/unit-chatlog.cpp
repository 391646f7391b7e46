#include <catch2/catch.hpp>
#include <string>

#include "parley/chatlog.hpp"
#include "vectors.hpp"

using parley::json;

namespace {

json section(const std::string& key) {
  return parley::test::load_section("chatlog", key);
}

// A vector's reply: raw text ("text") or a JSON value to serialise ("reply").
std::string reply_text(const json& vec) {
  if (vec.contains("text")) return vec["text"].get<std::string>();
  return parley::to_json_text(vec["reply"]);
}

parley::ChatLogLimits limits_of(const json& vec) {
  parley::ChatLogLimits limits;
  if (!vec.contains("limits")) return limits;
  const json& l = vec["limits"];
  if (l.contains("max_bytes")) limits.max_bytes = l["max_bytes"].get<std::size_t>();
  if (l.contains("max_logs")) limits.max_logs = l["max_logs"].get<std::size_t>();
  if (l.contains("max_lines")) limits.max_lines = l["max_lines"].get<std::size_t>();
  if (l.contains("max_depth")) limits.max_depth = l["max_depth"].get<std::size_t>();
  return limits;
}

using parley::test::check_error;

// The same reply read by nlohmann's DOM parser must give the same lines: an independent
// reference for every field the scanner extracts.
void check_against_dom(const std::string& text, const parley::ChatLogsReply& reply) {
  json dom = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/false);
  REQUIRE_FALSE(dom.is_discarded());
  const json& logs = dom["chatLogs"];
  REQUIRE(logs.size() == reply.chat_logs.size());
  std::size_t total = 0;
  for (std::size_t i = 0; i < logs.size(); ++i) {
    const auto& log = reply.chat_logs[i];
    CHECK(log.chat_log_id == logs[i]["chatLogID"].get<std::string>());
    CHECK(log.session_id == logs[i]["sessionID"].get<std::string>());
    const json& lines = logs[i]["lines"];
    REQUIRE(lines.size() == log.lines.size());
    for (std::size_t j = 0; j < lines.size(); ++j) {
      const auto& line = log.lines[j];
      CHECK(line.text == lines[j]["text"].get<std::string>());
      CHECK(line.inbound == lines[j]["inbound"].get<bool>());
      CHECK(line.timestamp == lines[j]["timestamp"].get<std::string>());
      const json emitter = lines[j].value("emitter", json());
      CHECK(line.emitter.has_value() == emitter.is_string());
      if (line.emitter && emitter.is_string()) CHECK(*line.emitter == emitter.get<std::string>());
      CHECK(line.context_vars == lines[j].value("contextVars", json()));
      CHECK_FALSE(line.earlier);
    }
    total += lines.size();
  }
  CHECK(reply.line_count == total);
}

std::string who(const parley::ChatLine& line) {
  return line.inbound ? "user" : "agent";
}

}  // namespace

TEST_CASE("valid ChatLog replies become chat lines", "[chatlog]") {
  for (const auto& vec : section("valid")) {
    INFO(vec["name"].get<std::string>());
    const std::string text = reply_text(vec);
    auto parsed = parley::parse_chat_logs_reply(text, limits_of(vec));
    INFO((parsed ? "" : parsed.error().message));
    REQUIRE(parsed.ok());
    const json& expect = vec["expect"];
    CHECK(parsed->chat_logs.size() == expect["logs"].get<std::size_t>());

    std::vector<parley::ChatLog> logs = parsed->chat_logs;
    std::vector<parley::ChatLine> lines = parley::take_lines(logs);
    REQUIRE(lines.size() == expect["lines"].size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      CHECK(who(lines[i]) == expect["lines"][i][0].get<std::string>());
      CHECK(lines[i].text == expect["lines"][i][1].get<std::string>());
    }
    for (const auto& log : logs) CHECK(log.lines.empty());

    if (expect.contains("first_log")) {
      const auto& log = parsed->chat_logs.at(0);
      const json& f = expect["first_log"];
      CHECK(log.chat_log_id == f["chatLogID"].get<std::string>());
      CHECK(log.session_id == f["sessionID"].get<std::string>());
      CHECK(log.memori_id == f["memoriID"].get<std::string>());
      CHECK(log.timestamp == f["timestamp"].get<std::string>());
    }
    if (expect.contains("emitters")) {
      for (std::size_t i = 0; i < lines.size(); ++i) {
        const json& e = expect["emitters"][i];
        CHECK(lines[i].emitter.has_value() == !e.is_null());
        if (!e.is_null() && lines[i].emitter) CHECK(*lines[i].emitter == e.get<std::string>());
      }
    }
    if (expect.contains("context_vars")) {
      for (std::size_t i = 0; i < lines.size(); ++i) {
        CHECK(lines[i].context_vars == expect["context_vars"][i]);
      }
    }
    if (expect.contains("last_agent_index")) {
      const json& want = expect["last_agent_index"];
      auto got = parley::last_agent_message_index(lines);
      CHECK(got.has_value() == !want.is_null());
      if (got && !want.is_null()) CHECK(*got == want.get<std::size_t>());
    }
    if (expect.contains("header")) {
      const json& h = expect["header"];
      CHECK(parsed->header.request_id == h["requestID"].get<std::string>());
      CHECK(parsed->header.request_date_time == h["requestDateTime"].get<std::string>());
      CHECK(parsed->header.result_message == h["resultMessage"].get<std::string>());
      CHECK(parsed->header.result_code == 0);
    }
    if (expect.contains("count")) {
      REQUIRE(parsed->count.has_value());
      CHECK(*parsed->count == expect["count"].get<std::int64_t>());
      REQUIRE(parsed->total_count.has_value());
      CHECK(*parsed->total_count == expect["total_count"].get<std::int64_t>());
    } else {
      CHECK_FALSE(parsed->count.has_value());
    }
    check_against_dom(text, *parsed);
  }
}

TEST_CASE("malformed ChatLog replies are errors naming the path and the rule", "[chatlog]") {
  for (const auto& vec : section("invalid")) {
    INFO(vec["name"].get<std::string>());
    auto parsed = parley::parse_chat_logs_reply(vec["text"].get<std::string>(), limits_of(vec));
    REQUIRE_FALSE(parsed.ok());
    check_error(parsed.error(), vec);
  }
}

TEST_CASE("invalid UTF-8 anywhere in a string is refused", "[chatlog]") {
  const std::string head =
      R"({"chatLogs":[{"chatLogID":"c","sessionID":"s","lines":[{"timestamp":"t","inbound":true,"text":")";
  const std::string tail = R"("}]}],"resultCode":0})";
  const std::vector<std::string> bad = {
      "\xC3\x28",          // lead byte, then not a continuation
      "\xC0\x80",          // overlong NUL
      "\xE0\x80\xAF",      // overlong '/'
      "\xED\xA0\x80",      // UTF-16 surrogate
      "\xF4\x90\x80\x80",  // above U+10FFFF
      "\xF5\x80\x80\x80",  // no such lead byte
      "\xFF",              // never valid
      "\x80",              // a continuation byte alone
      "ok \xE6\x97",       // cut short before the closing quote
  };
  for (const auto& bytes : bad) {
    auto parsed = parley::parse_chat_logs_reply(head + bytes + tail);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "chatlog_bad_json");
    CHECK_THAT(parsed.error().message, Catch::Contains("lines[0].text"));
  }
  // ...also in a field name, and in a skipped value.
  auto in_key = parley::parse_chat_logs_reply("{\"x\xFF\":1,\"chatLogs\":[],\"resultCode\":0}");
  REQUIRE_FALSE(in_key.ok());
  CHECK_THAT(in_key.error().message, Catch::Contains("UTF-8"));
  auto in_skipped =
      parley::parse_chat_logs_reply("{\"x\":\"\xC3\",\"chatLogs\":[],\"resultCode\":0}");
  REQUIRE_FALSE(in_skipped.ok());
  CHECK_THAT(in_skipped.error().message, Catch::Contains("UTF-8"));
  // The well-formed neighbours pass.
  auto good = parley::parse_chat_logs_reply(
      head + "\xC3\xA9 \xE6\x9D\xB1 \xF0\x9F\x8E\x89 \xF4\x8F\xBF\xBF" + tail);
  REQUIRE(good.ok());
  CHECK(good->chat_logs[0].lines[0].text ==
        "\xC3\xA9 \xE6\x9D\xB1 \xF0\x9F\x8E\x89 \xF4\x8F\xBF\xBF");
}

TEST_CASE("special bytes are found at every offset of a string", "[chatlog]") {
  // The scanner skips plain bytes eight at a time: put each kind of byte that needs a look
  // at every position around those eight-byte steps.
  const std::string head =
      R"({"chatLogs":[{"chatLogID":"c","sessionID":"s","lines":[{"timestamp":"t","inbound":true,"text":")";
  const std::string tail = R"("}]}],"resultCode":0})";
  struct Special {
    std::string raw;      // as written in the JSON text
    std::string decoded;  // what the text must hold ("" + ok=false: must be refused)
    bool ok;
  };
  const Special specials[] = {
      {"\\\"", "\"", true},   {"\\\\", "\\", true},
      {"\\n", "\n", true},    {"\xC3\xA9", "\xC3\xA9", true},
      {"\x7F", "\x7F", true}, {" ", " ", true},
      {"\n", "", false},      {"\x1F", "", false},
      {"\xFF", "", false},
  };
  for (std::size_t before = 0; before < 20; ++before) {
    for (const auto& special : specials) {
      for (std::size_t after : {std::size_t{0}, std::size_t{1}, std::size_t{9}}) {
        const std::string raw = std::string(before, 'a') + special.raw + std::string(after, 'b');
        auto parsed = parley::parse_chat_logs_reply(head + raw + tail);
        INFO("before " << before << ", after " << after << ", special " << special.raw);
        REQUIRE(parsed.ok() == special.ok);
        if (special.ok) {
          CHECK(parsed->chat_logs[0].lines[0].text ==
                std::string(before, 'a') + special.decoded + std::string(after, 'b'));
        }
      }
    }
  }
}

TEST_CASE("every truncation of a valid reply is an error, never a crash", "[chatlog]") {
  const json vec = section("valid")[1];
  const std::string text = reply_text(vec);
  REQUIRE(parley::parse_chat_logs_reply(text).ok());
  for (std::size_t n = 0; n < text.size(); ++n) {
    auto parsed = parley::parse_chat_logs_reply(std::string_view(text).substr(0, n));
    INFO(n);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == "chatlog_bad_json");
  }
}

TEST_CASE("a large reply parses like the DOM reads it", "[chatlog]") {
  json logs = json::array();
  for (int l = 0; l < 20; ++l) {
    json lines = json::array();
    for (int i = 0; i < 250; ++i) {
      json line = {{"timestamp", "2024-05-01T09:00:00.000Z"},
                   {"inbound", i % 2 == 0},
                   {"text", "message " + std::to_string(l * 1000 + i) + " \xC3\xA9\"\n" +
                                std::string(static_cast<std::size_t>(i % 40), 'x')}};
      if (i % 7 == 0) line["contextVars"] = {{"N", std::to_string(i)}};
      lines.push_back(line);
    }
    logs.push_back(
        {{"chatLogID", "cl-" + std::to_string(l)}, {"sessionID", "s"}, {"lines", lines}});
  }
  const std::string text = parley::to_json_text({{"chatLogs", logs}, {"resultCode", 0}});
  auto parsed = parley::parse_chat_logs_reply(text);
  REQUIRE(parsed.ok());
  CHECK(parsed->line_count == 5000);
  check_against_dom(text, *parsed);
  auto index = parley::last_agent_message_index(parsed->chat_logs.back().lines);
  REQUIRE(index.has_value());
  CHECK(*index == 249);
}

TEST_CASE("paged replies carry count and totalCount", "[chatlog]") {
  for (const auto& vec : section("paged_valid")) {
    INFO(vec["name"].get<std::string>());
    auto page = parley::parse_paged_chat_logs_reply(vec["text"].get<std::string>());
    INFO((page ? "" : page.error().message));
    REQUIRE(page.ok());
    CHECK(page->count == vec["count"].get<std::int64_t>());
    CHECK(page->total_count == vec["total_count"].get<std::int64_t>());
    CHECK(page->chat_logs.size() == vec["logs"].get<std::size_t>());
  }
  for (const auto& vec : section("paged_invalid")) {
    INFO(vec["name"].get<std::string>());
    auto page = parley::parse_paged_chat_logs_reply(vec["text"].get<std::string>());
    REQUIRE_FALSE(page.ok());
    check_error(page.error(), vec);
  }
}

namespace {

parley::ChatLogFilters filters_from(const json& f) {
  parley::ChatLogFilters out;
  out.login_token = f["loginToken"].get<std::string>();
  out.memori_id = f["memoriID"].get<std::string>();
  out.from = f["from"].get<std::int64_t>();
  out.how_many = f["howMany"].get<std::int64_t>();
  if (f.contains("dateFromMs")) out.date_from_ms = f["dateFromMs"].get<std::int64_t>();
  if (f.contains("dateToMs")) out.date_to_ms = f["dateToMs"].get<std::int64_t>();
  if (f.contains("minimumMessagesPerChat")) {
    out.minimum_messages_per_chat = f["minimumMessagesPerChat"].get<std::int64_t>();
  }
  if (f.contains("showChatsWithNoHistory")) {
    out.show_chats_with_no_history = f["showChatsWithNoHistory"].get<bool>();
  }
  return out;
}

}  // namespace

TEST_CASE("ChatLogFilters build the UserChatLogsByTokenPaged body", "[chatlog]") {
  CHECK(parley::user_chat_logs_paged_path == "/memori/v2/UserChatLogsByTokenPaged");
  for (const auto& vec : section("filters_valid")) {
    INFO(vec["name"].get<std::string>());
    auto body = parley::make_chat_log_filters_body(filters_from(vec["filters"]));
    INFO((body ? "" : body.error().message));
    REQUIRE(body.ok());
    CHECK(*body == vec["body"]);
  }
}

TEST_CASE("bad ChatLogFilters are refused, naming the field", "[chatlog]") {
  for (const auto& vec : section("filters_invalid")) {
    INFO(vec["name"].get<std::string>());
    auto body = parley::make_chat_log_filters_body(filters_from(vec["filters"]));
    REQUIRE_FALSE(body.ok());
    check_error(body.error(), vec);
  }
}

TEST_CASE("the host reads back every ChatLogFilters body the client writes", "[chatlog]") {
  for (const auto& vec : section("filters_valid")) {
    INFO(vec["name"].get<std::string>());
    auto filters = parley::parse_chat_log_filters_body(vec["body"]);
    INFO((filters ? "" : filters.error().message));
    REQUIRE(filters.ok());
    auto again = parley::make_chat_log_filters_body(*filters);
    REQUIRE(again.ok());
    CHECK(*again == vec["body"]);
  }
  // Absent from/howMany take the Memori defaults; null counts as absent.
  auto defaults = parley::parse_chat_log_filters_body(
      parley::json{{"loginToken", "t"}, {"memoriID", "m"}, {"dateTo", nullptr}});
  REQUIRE(defaults.ok());
  CHECK(defaults->from == 0);
  CHECK(defaults->how_many == 20);
  CHECK_FALSE(defaults->date_to_ms.has_value());
}

TEST_CASE("bad ChatLogFilters bodies are refused by the host, naming the field", "[chatlog]") {
  for (const auto& vec : section("filters_body_invalid")) {
    INFO(vec["name"].get<std::string>());
    auto filters = parley::parse_chat_log_filters_body(vec["body"]);
    REQUIRE_FALSE(filters.ok());
    check_error(filters.error(), vec);
  }
}
