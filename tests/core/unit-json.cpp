#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include "parley/json.hpp"
#include "vectors.hpp"

TEST_CASE("parse_json returns errors instead of throwing", "[json]") {
  CHECK(parley::parse_json("{\"a\":1}").ok());
  auto bad = parley::parse_json("{\"a\":", "initiate message");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "bad_json");
  CHECK_THAT(bad.error().message, Catch::Contains("initiate message"));
  CHECK_FALSE(parley::parse_json("").ok());
  CHECK_FALSE(parley::parse_json("\xFF").ok());
}

TEST_CASE("parse_json bounds nesting depth", "[json]") {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto r = parley::parse_json(deep, "message", 64);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "json_too_deep");
  CHECK(parley::parse_json(std::string(10, '[') + std::string(10, ']')).ok());
}

TEST_CASE("to_json_text never throws on invalid UTF-8", "[json]") {
  parley::json j = std::string("a\xFF" "b");
  CHECK(parley::to_json_text(j) == "\"a\xEF\xBF\xBD" "b\"");
}

TEST_CASE("is_valid_utf8 accepts UTF-8 and refuses the rest", "[json]") {
  CHECK(parley::is_valid_utf8("plain"));
  CHECK(parley::is_valid_utf8("Z\xC3\xBCrich \xF0\x9F\x8E\x89"));
  CHECK_FALSE(parley::is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(parley::is_valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(parley::is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(parley::is_valid_utf8("\xE2\x82"));          // truncated
  CHECK_FALSE(parley::is_valid_utf8("\x80"));              // stray continuation
}

namespace {

// The kind of every value, recursively, and the scalars' text: nlohmann's == would call the
// integer 1 and the unsigned 1 equal, and parse_json must keep the type nlohmann gives.
std::string shape(const parley::json& j) {
  std::string s(1, "nobsBiuf?x"[static_cast<int>(j.type())]);
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) s += "{" + it.key() + ":" + shape(*it) + "}";
  } else if (j.is_array()) {
    s += "[";
    for (const auto& e : j) s += shape(e) + ",";
    s += "]";
  } else {
    s += parley::to_json_text(j);
  }
  return s;
}

void same_as_nlohmann(const std::string& text) {
  parley::json theirs = parley::json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto ours = parley::parse_json(text, "text", 1000);
  INFO(parley::to_json_text(parley::json(text)));
  REQUIRE(ours.ok() == !theirs.is_discarded());
  if (ours.ok()) CHECK(shape(*ours) == shape(theirs));
}

}  // namespace

// Issue 6: parse_json reads JSON by hand (nlohmann's parser was several KB of the browser
// SDK); what it accepts, and the value it gives, must stay nlohmann's.
TEST_CASE("parse_json accepts what nlohmann's parser accepts, with the same values", "[json]") {
  using namespace std::string_literals;
  for (const std::string& text :
       {""s, " "s, "1"s, "-0"s, "0"s, "01"s, "-"s, "1."s, "1.5e"s, "1e+"s, "1E-2"s, "+1"s,
        "1e400"s, "-1e400"s, "1e-400"s, "18446744073709551615"s, "18446744073709551616"s,
        "-9223372036854775808"s, "-9223372036854775809"s, "123456789012345678901234567890"s,
        std::string(400, '9'), "\"\\u0000\""s, "\"\\ud800\""s, "\"\\udc00\""s,
        "\"\\ud83d\\ude00\""s, "\"\\ud83d\\u0041\""s, "\"\\uD83D\\uDE00\""s, "\"\\u12\""s,
        "\xEF\xBB\xBF{}"s, "\xEF\xBB{}"s, "\xEF"s, "1\0xyz"s, "\0"s, "[1,\0]"s,
        "[1]\0garbage"s, "\"a\0\""s, "{\"a\":1,\"a\":2}"s, "{\"a\":{\"b\":1},\"a\":[]}"s,
        "\"\x7F\""s, "\"\xC3\""s, "\"\xC3\xA9\""s, "\"\xED\xA0\x80\""s, "\"\xF4\x90\x80\x80\""s,
        "\"\xC0\xAF\""s, "\"a\\/b\""s, "\"\\x\""s, "\"\t\""s, "true"s, "tru"s, "trueX"s,
        "nul"s, "null "s, "[]"s, "[,]"s, "[1,]"s, "{,}"s, "{\"a\"}"s, "{\"a\":}"s, "{1:2}"s,
        " \t\n\r[ 1 , 2 ] \t"s, "\f1"s, "\v1"s, "0.0000001"s, "-0.0"s, "[-]"s, "[\"a\" \"b\"]"s}) {
    same_as_nlohmann(text);
  }
  // Every vector file, whole and with deterministic damage (a byte changed, added or dropped).
  const std::string damage = "{}[]:,\"\\ 09-+.eE\x80\xC3\xBF\xED\x01\tun"s + '\0';
  std::uint32_t seed = 1;
  auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  for (const char* name : {"chatlog", "protocol", "start-request", "resume-flow", "metadata"}) {
    const std::string text =
        parley::test::read_text_file(std::string(PARLEY_VECTORS_DIR) + "/" + name + ".json");
    same_as_nlohmann(text);
    for (int i = 0; i < 300; ++i) {
      std::string t = text.substr(next() % text.size(), 1 + next() % 600);
      for (int m = static_cast<int>(next() % 3); m > 0 && !t.empty(); --m) {
        const std::size_t at = next() % t.size();
        const char c = damage[next() % damage.size()];
        switch (next() % 3) {
          case 0: t[at] = c; break;
          case 1: t.insert(at, 1, c); break;
          default: t.erase(at, 1);
        }
      }
      same_as_nlohmann(t);
    }
  }
}

// Issue 6: to_json_text writes JSON by hand (nlohmann's serializer linked libc++abi's RTTI
// into the browser SDK); the text must stay byte for byte nlohmann's dump with `replace`.
TEST_CASE("to_json_text writes what nlohmann's dump writes", "[json]") {
  using parley::json;
  using namespace std::string_literals;
  auto same = [](const json& v) {
    INFO(v.dump(-1, ' ', false, json::error_handler_t::replace));
    CHECK(parley::to_json_text(v) == v.dump(-1, ' ', false, json::error_handler_t::replace));
  };
  for (double x : {0.0, -0.0, 1.0, -1.5, 0.1, 1e20, 1e21, 1e-7, 1e308, 5e-324, 123456789.0, 1e16,
                   std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    same(x);
  }
  same(json::binary({1, 2, 255}));
  same(json::binary({}, 7));
  same(json(json::value_t::discarded));
  same(json{{"b", {1, -2, 18446744073709551615ull, -9223372036854775807ll - 1, nullptr, true}},
            {"a", {{"", false}, {"x\"y", json::object()}, {"z", json::array()}}}});
  // Escapes, and invalid UTF-8: stray continuations, bad leads, sequences cut short in the
  // middle and at the end, overlongs, surrogates, beyond U+10FFFF.
  const std::string bytes = "\0\x01\x08\t\n\x0C\r\x1F \"\\/a\x7F\x80\x8F\x90\x9F\xA0\xBF\xC0\xC1\xC2"
                            "\xDF\xE0\xE1\xED\xEE\xEF\xF0\xF1\xF4\xF5\xFF"s;
  std::uint32_t seed = 3;
  auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    for (int n = static_cast<int>(next() % 9); n > 0; --n) s += bytes[(next() >> 8) % bytes.size()];
    same(s);
  }
  same("Z\xC3\xBCrich \xF0\x9F\x8E\x89 \xE2\x82\xAC"s);
}
