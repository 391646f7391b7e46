#include "parley/chatlog.hpp"

#include <cstring>
#include <limits>

#include "parley/memori_date.hpp"
#include "text_codes.hpp"

// The per-byte helpers below must be inlined to be fast, and size-optimised builds (-Os/-Oz,
// the release flags of the wasm module) do not inline them on their own: measured under
// node, the parse ran about 3x slower without this.
#if defined(__GNUC__) || defined(__clang__)
#define PARLEY_HOT_INLINE inline __attribute__((always_inline))
#else
#define PARLEY_HOT_INLINE inline
#endif

namespace parley {
namespace {

using namespace std::string_view_literals;

// ---- UTF-8 and small character helpers ----------------------------------------------------

// Length of the well-formed UTF-8 sequence starting at p (lead byte >= 0x80), or 0 when it is
// ill-formed: overlong, a surrogate, above U+10FFFF, or cut short.
std::size_t utf8_sequence_length(const unsigned char* p, const unsigned char* end) noexcept {
  const unsigned char lead = p[0];
  const std::size_t avail = static_cast<std::size_t>(end - p);
  auto cont = [&](std::size_t i) { return i < avail && (p[i] & 0xC0) == 0x80; };
  if (lead >= 0xC2 && lead <= 0xDF) return cont(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (lead == 0xE0 && p[1] < 0xA0) return 0;   // overlong
    if (lead == 0xED && p[1] >= 0xA0) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (lead == 0xF0 && p[1] < 0x90) return 0;   // overlong
    if (lead == 0xF4 && p[1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}


PARLEY_HOT_INLINE bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// Field-name comparison that stays a length check plus memcmp in every build (the
// string_view operator is an out-of-line call at -Os).
PARLEY_HOT_INLINE bool key_is(std::string_view key, std::string_view name) noexcept {
  return key.size() == name.size() && std::memcmp(key.data(), name.data(), name.size()) == 0;
}

// A byte that can be copied as it is inside a JSON string: printable ASCII but '"' and '\\'.
PARLEY_HOT_INLINE constexpr bool is_plain_string_byte(unsigned char c) noexcept {
  return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

// Whether any of the eight bytes in `word` is not a plain string byte. Exact as a yes/no
// answer (the classic "has a zero byte" and "has a byte less than n" bit tricks); the
// position is then found byte by byte.
PARLEY_HOT_INLINE constexpr bool has_special_string_byte(std::uint64_t word) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const std::uint64_t quote = word ^ (ones * '"');
  const std::uint64_t backslash = word ^ (ones * '\\');
  const std::uint64_t zero_in_quote = (quote - ones) & ~quote & highs;
  const std::uint64_t zero_in_backslash = (backslash - ones) & ~backslash & highs;
  const std::uint64_t below_space = (word - ones * 0x20) & ~word & highs;
  const std::uint64_t non_ascii = word & highs;
  return (zero_in_quote | zero_in_backslash | below_space | non_ascii) != 0;
}

// At most `max` bytes of `s`, cut on a code point boundary (the server's resultMessage goes
// into our error messages; a stranger's novel should not).
std::string clip_utf8(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

// Where a string's bytes go: into a std::string, or nowhere (validation only).
struct StringSink {
  std::string* out;
  // (pointer, count): a memcpy. The iterator-pair overload copies byte by byte in libc++
  // unless fully inlined, which -Os/-Oz builds do not do.
  PARLEY_HOT_INLINE void append(const char* first, const char* last) {
    out->append(first, static_cast<std::size_t>(last - first));
  }
  void code_point(std::uint32_t cp) { append_utf8(*out, cp); }
};
struct NullSink {
  void append(const char*, const char*) {}
  void code_point(std::uint32_t) {}
};

// What a value starting with `c` is, for "expected X, found Y" messages.
const char* value_kind(char c) noexcept {
  switch (c) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't':
    case 'f': return "boolean";
    case 'n': return "null";
    default: return (c == '-' || is_digit(c)) ? "number" : nullptr;
  }
}

// Bits for "this known field was already seen" in one object.
enum FieldBit : std::uint32_t {
  kChatLogs = 1u << 0,
  kResultCode = 1u << 1,
  kRequestId = 1u << 2,
  kRequestDateTime = 1u << 3,
  kResultMessage = 1u << 4,
  kCount = 1u << 5,
  kTotalCount = 1u << 6,
  kChatLogId = 1u << 7,
  kSessionId = 1u << 8,
  kMemoriId = 1u << 9,
  kLogTimestamp = 1u << 10,
  kLines = 1u << 11,
  kLineTimestamp = 1u << 12,
  kInbound = 1u << 13,
  kText = 1u << 14,
  kEmitter = 1u << 15,
  kContextVars = 1u << 16,
  kTotalLines = 1u << 17,
};

// ---- The scanner ---------------------------------------------------------------------------
//
// A recursive-descent JSON reader over the reply text that knows the ChatLog schema. Each
// member function returns false after recording the first error; nothing throws. Recursion
// happens only inside unknown fields and contextVars, bounded by ChatLogLimits::max_depth.
class ChatLogScanner {
 public:
  ChatLogScanner(std::string_view text, const ChatLogLimits& limits)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()), limits_(limits) {}

  Result<ChatLogsReply> run() {
    if (static_cast<std::size_t>(end_ - begin_) > limits_.max_bytes) {
      return make_error("chatlog_too_large", "ChatLog reply is " + std::to_string(end_ - begin_) +
                                                 " bytes, over the limit of " +
                                                 std::to_string(limits_.max_bytes));
    }
    if (end_ - p_ >= 3 && std::memcmp(p_, "\xEF\xBB\xBF", 3) == 0) p_ += 3;  // UTF-8 BOM
    ChatLogsReply reply;
    if (!parse_reply(reply)) return std::move(*error_);
    return reply;
  }

 private:
  // -- error reporting --

  std::string path() const {
    if (top_field_.empty()) return "reply";
    std::string out(top_field_);
    if (log_index_ < 0) return out;
    out += "[" + std::to_string(log_index_) + "]";
    if (log_field_.empty()) return out;
    out += "." + std::string(log_field_);
    if (line_index_ < 0) return out;
    out += "[" + std::to_string(line_index_) + "]";
    if (!line_field_.empty()) out += "." + std::string(line_field_);
    return out;
  }

  bool fail(const char* code, const std::string& detail) {
    if (!error_) {
      error_ = make_error(code, "ChatLog reply: " + path() + ": " + detail + " (byte " +
                                    std::to_string(p_ - begin_) + ")");
    }
    return false;
  }

  bool fail_syntax(const std::string& detail) { return fail("chatlog_bad_json", detail); }

  // The value at p_ is not of the expected kind: a schema error if it is some other JSON
  // value, a syntax error if it is no value at all.
  bool fail_kind(const char* expected) {
    const char* found = p_ < end_ ? value_kind(*p_) : nullptr;
    if (found == nullptr) {
      return fail_syntax(p_ < end_ ? "expected a value" : "unexpected end of text");
    }
    return fail("chatlog_wrong_type", std::string("expected ") + expected + ", found " + found);
  }

  bool fail_duplicate(std::string_view key) {
    return fail("chatlog_duplicate_field", "field \"" + std::string(key) + "\" appears twice");
  }

  // -- lexical helpers --

  PARLEY_HOT_INLINE void skip_ws() noexcept {
    const char* p = p_;
    while (p < end_ && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) ++p;
    p_ = p;
  }
  PARLEY_HOT_INLINE bool at(char c) const noexcept { return p_ < end_ && *p_ == c; }

  bool literal(const char* word, std::size_t n) {
    if (static_cast<std::size_t>(end_ - p_) < n || std::memcmp(p_, word, n) != 0) {
      return fail_syntax("expected a value");
    }
    p_ += n;
    return true;
  }

  // Checks the number grammar at p_ and moves past it; `integral` tells whether it had no
  // fraction and no exponent.
  bool scan_number(bool& integral) {
    integral = true;
    if (at('-')) ++p_;
    if (at('0')) {
      ++p_;
    } else if (p_ < end_ && *p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && is_digit(*p_)) ++p_;
    } else {
      return fail_syntax("malformed number");
    }
    if (at('.')) {
      ++p_;
      integral = false;
      if (p_ >= end_ || !is_digit(*p_))
        return fail_syntax("malformed number: digits must follow '.'");
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (at('e') || at('E')) {
      ++p_;
      integral = false;
      if (at('+') || at('-')) ++p_;
      if (p_ >= end_ || !is_digit(*p_))
        return fail_syntax("malformed number: digits must follow the exponent");
      while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    return true;
  }

  // One escape sequence; p_ is at the backslash.
  template <class Sink>
  bool scan_escape(Sink& sink) {
    if (end_ - p_ < 2) return fail_syntax("unterminated string");
    const char e = p_[1];
    p_ += 2;
    switch (e) {
      case '"': sink.code_point('"'); return true;
      case '\\': sink.code_point('\\'); return true;
      case '/': sink.code_point('/'); return true;
      case 'b': sink.code_point('\b'); return true;
      case 'f': sink.code_point('\f'); return true;
      case 'n': sink.code_point('\n'); return true;
      case 'r': sink.code_point('\r'); return true;
      case 't': sink.code_point('\t'); return true;
      case 'u': break;
      default: p_ -= 2; return fail_syntax("invalid escape sequence in a string");
    }
    std::uint32_t cp = 0;
    if (!scan_hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_syntax("lone UTF-16 low surrogate in \\u escape");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      std::uint32_t low = 0;
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
        return fail_syntax("UTF-16 high surrogate not followed by a low surrogate");
      }
      p_ += 2;
      if (!scan_hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) {
        return fail_syntax("UTF-16 high surrogate not followed by a low surrogate");
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    sink.code_point(cp);
    return true;
  }

  bool scan_hex4(std::uint32_t& cp) {
    if (end_ - p_ < 4) return fail_syntax("\\u escape needs four hex digits");
    for (int i = 0; i < 4; ++i) {
      const int v = hex_digit_value(p_[i]);
      if (v < 0) return fail_syntax("\\u escape needs four hex digits");
      cp = (cp << 4) | static_cast<std::uint32_t>(v);
    }
    p_ += 4;
    return true;
  }

  // Moves p_ past printable ASCII other than '"' and '\\': eight bytes at a time while
  // none of them needs a look, then byte by byte. This loop is most of the parse time.
  PARLEY_HOT_INLINE void skip_plain_string_bytes() noexcept {
    const char* p = p_;
    while (end_ - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      if (has_special_string_byte(word)) break;
      p += 8;
    }
    while (p < end_ && is_plain_string_byte(static_cast<unsigned char>(*p))) ++p;
    p_ = p;
  }

  // A string; p_ is at the opening quote. The bytes between escapes go to the sink in one
  // piece (UTF-8 sequences are checked in place, not copied one by one).
  template <class Sink>
  bool scan_string(Sink& sink) {
    ++p_;
    const char* run = p_;
    for (;;) {
      skip_plain_string_bytes();
      if (p_ >= end_) return fail_syntax("unterminated string");
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        sink.append(run, p_);
        ++p_;
        return true;
      }
      if (c >= 0x80) {
        const std::size_t n = utf8_sequence_length(reinterpret_cast<const unsigned char*>(p_),
                                                   reinterpret_cast<const unsigned char*>(end_));
        if (n == 0) return fail_syntax("invalid UTF-8 in a string");
        p_ += n;
      } else if (c == '\\') {
        sink.append(run, p_);
        if (!scan_escape(sink)) return false;
        run = p_;
      } else {
        return fail_syntax("control character in a string (it must be escaped)");
      }
    }
  }

  bool read_string(std::string& out) {
    out.clear();
    StringSink sink{&out};
    return scan_string(sink);
  }

  // A field name: a view into the text when it has no escapes, else decoded into scratch.
  bool read_key(std::string_view& key) {
    const char* start = p_ + 1;
    const char* q = start;
    while (q < end_) {
      const auto c = static_cast<unsigned char>(*q);
      if (c == '"') {
        key = std::string_view(start, static_cast<std::size_t>(q - start));
        p_ = q + 1;
        return true;
      }
      if (c == '\\' || c < 0x20 || c >= 0x80) break;
      ++q;
    }
    if (!read_string(key_scratch_)) return false;
    key = key_scratch_;
    return true;
  }

  // -- structure helpers --

  // Calls on_member(key) with p_ at each member's value; it must consume the value.
  template <class OnMember>
  bool scan_object(OnMember&& on_member) {
    ++p_;  // '{'
    skip_ws();
    if (at('}')) {
      ++p_;
      return true;
    }
    for (;;) {
      if (!at('"')) return fail_syntax("expected a field name in double quotes");
      std::string_view key;
      if (!read_key(key)) return false;
      skip_ws();
      if (!at(':')) return fail_syntax("expected ':' after a field name");
      ++p_;
      skip_ws();
      if (!on_member(key)) return false;
      skip_ws();
      if (at(',')) {
        ++p_;
        skip_ws();
        continue;
      }
      if (at('}')) {
        ++p_;
        return true;
      }
      return fail_syntax("expected ',' or '}' after a field");
    }
  }

  // Calls on_element() with p_ at each element; it must consume the element.
  template <class OnElement>
  bool scan_array(OnElement&& on_element) {
    ++p_;  // '['
    skip_ws();
    if (at(']')) {
      ++p_;
      return true;
    }
    for (;;) {
      if (!on_element()) return false;
      skip_ws();
      if (at(',')) {
        ++p_;
        skip_ws();
        continue;
      }
      if (at(']')) {
        ++p_;
        return true;
      }
      return fail_syntax("expected ',' or ']' after an element");
    }
  }

  // Any JSON value, checked and skipped (unknown fields).
  bool skip_value(std::size_t depth) {
    if (p_ >= end_) return fail_syntax("unexpected end of text");
    switch (*p_) {
      case '"': {
        NullSink sink;
        return scan_string(sink);
      }
      case '{':
        if (depth >= limits_.max_depth) return fail_too_deep();
        return scan_object([&](std::string_view) { return skip_value(depth + 1); });
      case '[':
        if (depth >= limits_.max_depth) return fail_too_deep();
        return scan_array([&] { return skip_value(depth + 1); });
      case 't': return literal("true", 4);
      case 'f': return literal("false", 5);
      case 'n': return literal("null", 4);
      default: {
        if (*p_ != '-' && !is_digit(*p_)) return fail_syntax("expected a value");
        bool integral = false;
        return scan_number(integral);
      }
    }
  }

  bool fail_too_deep() {
    return fail("chatlog_too_deep",
                "nested deeper than " + std::to_string(limits_.max_depth) + " levels");
  }

  // Any JSON value into a json (contextVars). Duplicate keys: the last one wins, as in
  // JSON.parse and nlohmann.
  bool read_json(json& out, std::size_t depth) {
    if (p_ >= end_) return fail_syntax("unexpected end of text");
    switch (*p_) {
      case '"': {
        std::string s;
        if (!read_string(s)) return false;
        out = std::move(s);
        return true;
      }
      case '{': {
        if (depth >= limits_.max_depth) return fail_too_deep();
        out = json::object();
        return scan_object(
            [&](std::string_view key) { return read_json(out[std::string(key)], depth + 1); });
      }
      case '[': {
        if (depth >= limits_.max_depth) return fail_too_deep();
        out = json::array();
        return scan_array([&] {
          out.push_back(json());
          return read_json(out.back(), depth + 1);
        });
      }
      case 't': out = true; return literal("true", 4);
      case 'f': out = false; return literal("false", 5);
      case 'n': out = nullptr; return literal("null", 4);
      default: return read_json_number(out);
    }
  }

  // Numbers are rare in contextVars (Memori sends strings), so nlohmann converts them: the
  // same representation as a DOM parse, and locale-independent.
  bool read_json_number(json& out) {
    const char* start = p_;
    bool integral = false;
    if (!scan_number(integral)) return false;
    auto number = parse_json(std::string_view(start, static_cast<std::size_t>(p_ - start)), "number", 1);
    if (!number) {
      p_ = start;
      return fail("chatlog_wrong_type", "number out of range");
    }
    out = std::move(*number);
    return true;
  }

  // -- typed field readers --

  bool read_string_field(std::string& out) {
    if (!at('"')) return fail_kind("a string");
    return read_string(out);
  }

  bool read_optional_string(std::string& out) {
    if (at('n')) return literal("null", 4);
    return read_string_field(out);
  }

  bool read_bool(bool& out) {
    if (at('t')) {
      out = true;
      return literal("true", 4);
    }
    if (at('f')) {
      out = false;
      return literal("false", 5);
    }
    return fail_kind("a boolean");
  }

  bool read_int64(std::int64_t& out) {
    if (!(at('-') || (p_ < end_ && is_digit(*p_)))) return fail_kind("an integer");
    const char* start = p_;
    bool integral = false;
    if (!scan_number(integral)) return false;
    if (!integral) {
      p_ = start;
      return fail("chatlog_wrong_type", "expected an integer, found a fraction or exponent");
    }
    const bool negative = *start == '-';
    // Accumulate as a negative number: its range includes INT64_MIN.
    std::int64_t value = 0;
    for (const char* d = start + (negative ? 1 : 0); d < p_; ++d) {
      const int digit = *d - '0';
      if (value < (std::numeric_limits<std::int64_t>::min() + digit) / 10) {
        p_ = start;
        return fail("chatlog_wrong_type", "integer out of the 64-bit range");
      }
      value = value * 10 - digit;
    }
    if (!negative) {
      if (value == std::numeric_limits<std::int64_t>::min()) {
        p_ = start;
        return fail("chatlog_wrong_type", "integer out of the 64-bit range");
      }
      value = -value;
    }
    out = value;
    return true;
  }

  bool read_optional_int64(std::optional<std::int64_t>& out) {
    if (at('n')) return literal("null", 4);
    std::int64_t v = 0;
    if (!read_int64(v)) return false;
    out = v;
    return true;
  }

  // Marks `bit` seen in `seen`; false (with an error) if it already was.
  bool first_time(std::uint32_t& seen, std::uint32_t bit, std::string_view key) {
    if (seen & bit) return fail_duplicate(key);
    seen |= bit;
    return true;
  }

  bool skip_unknown(std::string& name_holder, std::string_view& field, std::string_view key) {
    // A name read in place stays valid; one decoded into key_scratch_ would not, so copy it.
    if (key.data() >= begin_ && key.data() < end_) {
      field = key;
    } else {
      name_holder.assign(key.data(), key.size());
      field = name_holder;
    }
    return skip_value(0);
  }

  bool require(std::uint32_t seen, std::uint32_t bit, const char* name) {
    if (seen & bit) return true;
    return fail("chatlog_missing_field", std::string("field \"") + name + "\" is missing");
  }

  // -- the schema --

  bool parse_reply(ChatLogsReply& reply) {
    skip_ws();
    if (!at('{')) return fail_kind("an object");
    std::uint32_t seen = 0;
    bool has_logs = false;
    const bool ok = scan_object([&](std::string_view key) {
      if (key_is(key, "chatLogs"sv)) {
        top_field_ = "chatLogs";
        if (!first_time(seen, kChatLogs, key)) return false;
        if (at('n')) return literal("null", 4);
        if (!at('[')) return fail_kind("an array");
        has_logs = true;
        return parse_logs(reply);
      }
      if (key_is(key, "resultCode"sv)) {
        top_field_ = "resultCode";
        return first_time(seen, kResultCode, key) && read_int64(reply.header.result_code);
      }
      if (key_is(key, "resultMessage"sv)) {
        top_field_ = "resultMessage";
        return first_time(seen, kResultMessage, key) &&
               read_optional_string(reply.header.result_message);
      }
      if (key_is(key, "requestID"sv)) {
        top_field_ = "requestID";
        return first_time(seen, kRequestId, key) && read_optional_string(reply.header.request_id);
      }
      if (key_is(key, "requestDateTime"sv)) {
        top_field_ = "requestDateTime";
        return first_time(seen, kRequestDateTime, key) &&
               read_optional_string(reply.header.request_date_time);
      }
      if (key_is(key, "count"sv)) {
        top_field_ = "count";
        return first_time(seen, kCount, key) && read_optional_int64(reply.count);
      }
      if (key_is(key, "totalCount"sv)) {
        top_field_ = "totalCount";
        return first_time(seen, kTotalCount, key) && read_optional_int64(reply.total_count);
      }
      if (key_is(key, "totalLines"sv)) {
        top_field_ = "totalLines";
        return first_time(seen, kTotalLines, key) && read_optional_int64(reply.total_lines);
      }
      return skip_unknown(top_unknown_, top_field_, key);
    });
    if (!ok) return false;
    top_field_ = {};
    skip_ws();
    if (p_ != end_) return fail_syntax("unexpected text after the JSON value");
    if (!require(seen, kResultCode, "resultCode")) return false;
    if (reply.header.result_code != 0) {
      error_ = make_error("memori_result_error",
                          "ChatLog reply: resultCode " + std::to_string(reply.header.result_code) +
                              (reply.header.result_message.empty()
                                   ? std::string()
                                   : " (" + clip_utf8(reply.header.result_message, 200) + ")"));
      return false;
    }
    if (!has_logs) return fail("chatlog_missing_field", "field \"chatLogs\" is missing or null");
    reply.line_count = total_lines_;
    return true;
  }

  bool parse_logs(ChatLogsReply& reply) {
    const bool ok = scan_array([&] {
      log_index_ = static_cast<long>(reply.chat_logs.size());
      if (reply.chat_logs.size() >= limits_.max_logs) {
        return fail("chatlog_too_many_logs",
                    "more than " + std::to_string(limits_.max_logs) + " chat logs (the limit)");
      }
      if (!at('{')) return fail_kind("an object");
      reply.chat_logs.emplace_back();
      return parse_log(reply.chat_logs.back());
    });
    if (ok) log_index_ = -1;
    return ok;
  }

  bool parse_log(ChatLog& log) {
    std::uint32_t seen = 0;
    const bool ok = scan_object([&](std::string_view key) {
      if (key_is(key, "lines"sv)) {
        log_field_ = "lines";
        if (!first_time(seen, kLines, key)) return false;
        if (!at('[')) return fail_kind("an array");
        return parse_lines(log);
      }
      if (key_is(key, "chatLogID"sv)) {
        log_field_ = "chatLogID";
        return first_time(seen, kChatLogId, key) && read_string_field(log.chat_log_id);
      }
      if (key_is(key, "sessionID"sv)) {
        log_field_ = "sessionID";
        return first_time(seen, kSessionId, key) && read_string_field(log.session_id);
      }
      if (key_is(key, "memoriID"sv)) {
        log_field_ = "memoriID";
        return first_time(seen, kMemoriId, key) && read_optional_string(log.memori_id);
      }
      if (key_is(key, "timestamp"sv)) {
        log_field_ = "timestamp";
        return first_time(seen, kLogTimestamp, key) && read_optional_string(log.timestamp);
      }
      return skip_unknown(log_unknown_, log_field_, key);
    });
    if (!ok) return false;
    log_field_ = {};
    return require(seen, kChatLogId, "chatLogID") && require(seen, kSessionId, "sessionID") &&
           require(seen, kLines, "lines");
  }

  bool parse_lines(ChatLog& log) {
    const bool ok = scan_array([&] {
      line_index_ = static_cast<long>(log.lines.size());
      if (total_lines_ >= limits_.max_lines) {
        return fail("chatlog_too_many_lines",
                    "more than " + std::to_string(limits_.max_lines) + " lines in all (the limit)");
      }
      if (!at('{')) return fail_kind("an object");
      ++total_lines_;
      log.lines.emplace_back();
      return parse_line(log.lines.back());
    });
    if (ok) line_index_ = -1;
    return ok;
  }

  bool parse_line(ChatLine& line) {
    std::uint32_t seen = 0;
    const bool ok = scan_object([&](std::string_view key) {
      if (key_is(key, "text"sv)) {
        line_field_ = "text";
        return first_time(seen, kText, key) && read_string_field(line.text);
      }
      if (key_is(key, "inbound"sv)) {
        line_field_ = "inbound";
        return first_time(seen, kInbound, key) && read_bool(line.inbound);
      }
      if (key_is(key, "timestamp"sv)) {
        line_field_ = "timestamp";
        return first_time(seen, kLineTimestamp, key) && read_string_field(line.timestamp);
      }
      if (key_is(key, "emitter"sv)) {
        line_field_ = "emitter";
        if (!first_time(seen, kEmitter, key)) return false;
        if (at('n')) return literal("null", 4);
        line.emitter.emplace();
        return read_string_field(*line.emitter);
      }
      if (key_is(key, "contextVars"sv)) {
        line_field_ = "contextVars";
        if (!first_time(seen, kContextVars, key)) return false;
        if (at('n')) return literal("null", 4);
        if (!at('{')) return fail_kind("an object");
        return read_json(line.context_vars, 0);
      }
      return skip_unknown(line_unknown_, line_field_, key);
    });
    if (!ok) return false;
    line_field_ = {};
    return require(seen, kLineTimestamp, "timestamp") && require(seen, kInbound, "inbound") &&
           require(seen, kText, "text");
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  const ChatLogLimits& limits_;
  std::optional<Error> error_;
  std::size_t total_lines_ = 0;
  std::string key_scratch_;

  // Where we are, for messages: top_field_[log_index_].log_field_[line_index_].line_field_
  std::string_view top_field_, log_field_, line_field_;
  std::string top_unknown_, log_unknown_, line_unknown_;  // names of unknown fields
  long log_index_ = -1;
  long line_index_ = -1;
};

Error filters_error(const std::string& field, const std::string& rule) {
  return make_error("chat_log_filters_invalid", "ChatLogFilters." + field + ": " + rule);
}

}  // namespace

Result<ChatLogsReply> parse_chat_logs_reply(std::string_view text, const ChatLogLimits& limits) {
  return ChatLogScanner(text, limits).run();
}

std::vector<ChatLine> take_lines(std::vector<ChatLog>& logs) {
  std::size_t total = 0;
  for (const auto& log : logs) total += log.lines.size();
  std::vector<ChatLine> out;
  out.reserve(total);
  for (auto& log : logs) {
    for (auto& line : log.lines) out.push_back(std::move(line));
    log.lines.clear();
  }
  return out;
}

std::optional<std::size_t> last_agent_message_index(const std::vector<ChatLine>& lines) {
  for (std::size_t i = lines.size(); i-- > 0;) {
    if (!lines[i].inbound) return i;
  }
  return std::nullopt;
}

Result<json> make_chat_log_filters_body(const ChatLogFilters& f) {
  if (f.login_token.empty()) return filters_error("loginToken", "must not be empty");
  if (f.memori_id.empty()) return filters_error("memoriID", "must not be empty");
  if (f.from < 0) return filters_error("from", "is " + std::to_string(f.from) + "; must be >= 0");
  if (f.how_many < 1 || f.how_many > ChatLogFilters::max_how_many) {
    return filters_error("howMany", "is " + std::to_string(f.how_many) + "; must be 1.." +
                                        std::to_string(ChatLogFilters::max_how_many));
  }
  if (f.date_from_ms && f.date_to_ms && *f.date_from_ms > *f.date_to_ms) {
    return filters_error("dateFrom", "is after dateTo; dateFrom must be <= dateTo");
  }
  if (f.minimum_messages_per_chat && *f.minimum_messages_per_chat < 0) {
    return filters_error("minimumMessagesPerChat",
                         "is " + std::to_string(*f.minimum_messages_per_chat) + "; must be >= 0");
  }
  json body = {{"loginToken", f.login_token},
               {"memoriID", f.memori_id},
               {"from", f.from},
               {"howMany", f.how_many}};
  auto add_date = [&](const char* name, const std::optional<std::int64_t>& ms) -> Status {
    if (!ms) return ok_status();
    auto text = format_memori_date(*ms);
    if (!text) {
      return make_error(text.error().code,
                        "ChatLogFilters." + std::string(name) + ": " + text.error().message);
    }
    body[name] = std::move(*text);
    return ok_status();
  };
  if (auto s = add_date("dateFrom", f.date_from_ms); !s) return std::move(s).error();
  if (auto s = add_date("dateTo", f.date_to_ms); !s) return std::move(s).error();
  if (f.minimum_messages_per_chat) body["minimumMessagesPerChat"] = *f.minimum_messages_per_chat;
  if (f.show_chats_with_no_history) body["showChatsWithNoHistory"] = *f.show_chats_with_no_history;
  return body;
}

Result<ChatLogFilters> parse_chat_log_filters_body(const json& body) {
  if (!body.is_object())
    return filters_error("body", std::string("is ") + json_type_name(body) + "; must be an object");
  ChatLogFilters f;
  auto string_field = [&](const char* name, std::string& out) -> Status {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return filters_error(name, "is required");
    if (!it->is_string())
      return filters_error(name, std::string("is ") + json_type_name(*it) + "; must be a string");
    out = it->get<std::string>();
    return ok_status();
  };
  auto integer_field = [&](const char* name, std::optional<std::int64_t>& out) -> Status {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return ok_status();
    if (!it->is_number_integer())
      return filters_error(name, std::string("is ") + json_type_name(*it) +
                                     "; must be a whole number");
    out = it->get<std::int64_t>();
    return ok_status();
  };
  auto date_field = [&](const char* name, std::optional<std::int64_t>& out) -> Status {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return ok_status();
    if (!it->is_string())
      return filters_error(name, std::string("is ") + json_type_name(*it) +
                                     "; must be a yyyyMMddHHmmssfff string");
    auto ms = parse_memori_date(it->get<std::string>(), name);
    if (!ms) return std::move(ms).error();
    out = *ms;
    return ok_status();
  };
  std::optional<std::int64_t> from, how_many;
  if (auto s = string_field("loginToken", f.login_token); !s) return std::move(s).error();
  if (auto s = string_field("memoriID", f.memori_id); !s) return std::move(s).error();
  if (auto s = integer_field("from", from); !s) return std::move(s).error();
  if (auto s = integer_field("howMany", how_many); !s) return std::move(s).error();
  if (auto s = date_field("dateFrom", f.date_from_ms); !s) return std::move(s).error();
  if (auto s = date_field("dateTo", f.date_to_ms); !s) return std::move(s).error();
  if (auto s = integer_field("minimumMessagesPerChat", f.minimum_messages_per_chat); !s)
    return std::move(s).error();
  if (auto it = body.find("showChatsWithNoHistory"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean())
      return filters_error("showChatsWithNoHistory",
                           std::string("is ") + json_type_name(*it) + "; must be a boolean");
    f.show_chats_with_no_history = it->get<bool>();
  }
  f.from = from.value_or(0);
  f.how_many = how_many.value_or(20);
  // The same rules as the client's side: one definition of what a valid page request is.
  if (auto checked = make_chat_log_filters_body(f); !checked) return std::move(checked).error();
  return f;
}

Result<PagedChatLogs> parse_paged_chat_logs_reply(std::string_view text,
                                                  const ChatLogLimits& limits) {
  auto parsed = parse_chat_logs_reply(text, limits);
  if (!parsed) return std::move(parsed).error();
  ChatLogsReply& reply = *parsed;
  auto check = [](const std::optional<std::int64_t>& v, const char* name) -> Status {
    if (!v) {
      return make_error("chatlog_missing_field",
                        std::string("ChatLog reply: field \"") + name + "\" is missing or null");
    }
    if (*v < 0) {
      return make_error("chatlog_wrong_type", std::string("ChatLog reply: ") + name + " is " +
                                                  std::to_string(*v) + "; must be >= 0");
    }
    return ok_status();
  };
  if (auto s = check(reply.count, "count"); !s) return std::move(s).error();
  if (auto s = check(reply.total_count, "totalCount"); !s) return std::move(s).error();
  PagedChatLogs out;
  out.header = std::move(reply.header);
  out.chat_logs = std::move(reply.chat_logs);
  out.count = *reply.count;
  out.total_count = *reply.total_count;
  return out;
}

}  // namespace parley
