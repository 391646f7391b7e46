#include "parley/json.hpp"
#include "text_codes.hpp"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace parley {

namespace {

// A reader of one JSON text (RFC 8259) into nlohmann's DOM, with the nesting bounded so that a
// stranger's nesting cannot exhaust the stack. It accepts exactly what nlohmann's parser
// accepts (in strict mode, as the core used it): an optional UTF-8 byte order mark, the four
// whitespace bytes, strings of valid UTF-8 (RFC 3629) with JSON's escapes and paired
// surrogates, numbers as nlohmann reads them (an integer that fits int64 or uint64 stays
// one, anything else is a double, and a double that is not finite is refused), the last of
// repeated keys. Why not nlohmann's own parser: in the browser SDK its lexer, its messages
// (which the core never shows: every failure is bad_json) and its exception types were
// several KB of the module. Checked against nlohmann's parser by tests/core/unit-json.cpp.
class Reader {
 public:
  Reader(std::string_view text, std::size_t max_depth)
      : p_(text.data()), end_(text.data() + text.size()), max_depth_(max_depth) {}

  // True when the whole text is one JSON value; too_deep() tells a nesting over the bound.
  bool read(json& out) {
    if (end_ - p_ >= 1 && static_cast<unsigned char>(*p_) == 0xEF) {  // a byte order mark
      if (end_ - p_ < 3 || static_cast<unsigned char>(p_[1]) != 0xBB ||
          static_cast<unsigned char>(p_[2]) != 0xBF) {
        return false;
      }
      p_ += 3;
    }
    if (!value(out, 0)) return false;
    skip_space();
    // nlohmann's lexer reads a NUL byte between tokens as the end of the input, so whatever
    // follows one after the value was never looked at; kept so that nothing accepted changes.
    return p_ == end_ || *p_ == '\0';
  }
  bool too_deep() const { return too_deep_; }

 private:
  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool value(json& out, std::size_t depth) {
    skip_space();
    if (p_ == end_) return false;
    switch (*p_) {
      case '{': return object(out, depth);
      case '[': return array(out, depth);
      case '"': {
        std::string s;
        if (!string(s)) return false;
        out = std::move(s);
        return true;
      }
      case 't': out = true; return literal("true");
      case 'f': out = false; return literal("false");
      case 'n': out = nullptr; return literal("null");
      default: return number(out);
    }
  }

  bool open(std::size_t depth) {
    if (depth >= max_depth_) {
      too_deep_ = true;
      return false;
    }
    ++p_;
    skip_space();
    return true;
  }

  bool object(json& out, std::size_t depth) {
    if (!open(depth)) return false;
    out = json::object();
    if (p_ < end_ && *p_ == '}') return ++p_, true;
    for (;;) {
      std::string key;
      if (p_ == end_ || *p_ != '"' || !string(key)) return false;
      skip_space();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      if (!value(out[std::move(key)], depth + 1)) return false;  // repeated: the last one wins
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == '}') return ++p_, true;
      if (*p_ != ',') return false;
      ++p_;
      skip_space();
    }
  }

  bool array(json& out, std::size_t depth) {
    if (!open(depth)) return false;
    out = json::array();
    if (p_ < end_ && *p_ == ']') return ++p_, true;
    for (;;) {
      out.push_back(nullptr);
      if (!value(out.back(), depth + 1)) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ']') return ++p_, true;
      if (*p_ != ',') return false;
      ++p_;
    }
  }

  // Four hex digits after `\u`.
  bool hex4(std::uint32_t& out) {
    if (end_ - p_ < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = hex_digit_value(*p_++);
      if (d < 0) return false;
      out = out * 16 + static_cast<std::uint32_t>(d);
    }
    return true;
  }

  // At the opening quote.
  bool string(std::string& out) {
    ++p_;
    const char* raw = p_;  // the run of bytes taken as they are, checked as UTF-8 at its end
    auto flush = [&] {
      std::string_view run(raw, static_cast<std::size_t>(p_ - raw));
      if (!is_valid_utf8(run)) return false;
      out += run;
      return true;
    };
    while (p_ < end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        if (!flush()) return false;
        ++p_;
        return true;
      }
      if (c < 0x20) return false;  // a control character must be escaped
      if (c != '\\') {
        ++p_;
        continue;
      }
      if (!flush()) return false;
      if (++p_ == end_) return false;
      const char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate alone
          if (cp >= 0xD800 && cp <= 0xDBFF) {               // must be followed by a low one
            std::uint32_t low;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
            p_ += 2;
            if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: return false;
      }
      raw = p_;
    }
    return false;  // no closing quote
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, converted as nlohmann's lexer converts it.
  bool number(json& out) {
    const char* begin = p_;
    auto digits = [&] {
      const char* from = p_;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
      return p_ > from;
    };
    const bool negative = p_ < end_ && *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      digits();
    }
    bool integral = true;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return false;
      integral = false;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
      integral = false;
    }
    const std::string token(begin, p_);  // NUL-terminated for strto*
    char* stop = nullptr;
    if (integral) {
      errno = 0;
      if (negative) {
        const long long v = std::strtoll(token.c_str(), &stop, 10);
        if (errno == 0) {
          out = static_cast<json::number_integer_t>(v);
          return true;
        }
      } else {
        const unsigned long long v = std::strtoull(token.c_str(), &stop, 10);
        if (errno == 0) {
          out = static_cast<json::number_unsigned_t>(v);
          return true;
        }
      }
    }
    const double v = std::strtod(token.c_str(), &stop);  // also an integer out of range
    if (!std::isfinite(v)) return false;
    out = v;
    return true;
  }

  const char* p_;
  const char* end_;
  std::size_t max_depth_;
  bool too_deep_ = false;
};

}  // namespace

Result<json> parse_json(std::string_view text, std::string_view what, std::size_t max_depth) {
  json value;
  Reader reader(text, max_depth);
  const bool parsed = reader.read(value);
  if (reader.too_deep()) {
    return make_error("json_too_deep", std::string(what) + " nests deeper than " +
                                           std::to_string(max_depth) + " levels");
  }
  if (!parsed) {
    return make_error("bad_json", std::string(what) + " is not valid JSON");
  }
  return value;
}

namespace {

// The compact text nlohmann's dump(-1, ' ', false, error_handler_t::replace) writes, byte for
// byte. Why not dump itself: its serializer writes through a shared_ptr'd output adapter, which
// with its escaping code and printf links libc++abi's RTTI machinery into the browser SDK
// (about 2 KB gzip). Doubles go through nlohmann's own shortest round-trip formatter.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void value(const json& v) {
    switch (v.type()) {
      case json::value_t::object: {
        out_ += '{';
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
          if (!first) out_ += ',';
          first = false;
          string(it.key());
          out_ += ':';
          value(*it);
        }
        out_ += '}';
        return;
      }
      case json::value_t::array: {
        out_ += '[';
        bool first = true;
        for (const auto& e : v) {
          if (!first) out_ += ',';
          first = false;
          value(e);
        }
        out_ += ']';
        return;
      }
      case json::value_t::string: return string(v.get_ref<const json::string_t&>());
      case json::value_t::boolean: out_ += v.get<bool>() ? "true" : "false"; return;
      case json::value_t::number_integer: out_ += std::to_string(v.get<json::number_integer_t>()); return;
      case json::value_t::number_unsigned:
        out_ += std::to_string(v.get<json::number_unsigned_t>());
        return;
      case json::value_t::number_float: return number(v.get<json::number_float_t>());
      case json::value_t::binary: {
        const auto& bytes = v.get_binary();
        out_ += "{\"bytes\":[";
        for (std::size_t i = 0; i < bytes.size(); ++i) {
          if (i > 0) out_ += ',';
          out_ += std::to_string(bytes[i]);
        }
        out_ += "],\"subtype\":";
        out_ += bytes.has_subtype() ? std::to_string(bytes.subtype()) : std::string("null");
        out_ += '}';
        return;
      }
      case json::value_t::discarded: out_ += "<discarded>"; return;
      case json::value_t::null: out_ += "null"; return;
    }
  }

 private:
  void number(double x) {
    if (!std::isfinite(x)) {
      out_ += "null";
      return;
    }
    char buffer[64];
    const char* end = nlohmann::detail::to_chars(buffer, buffer + sizeof buffer, x);
    out_.append(buffer, static_cast<std::size_t>(end - buffer));
  }

  // Quoted and escaped; every byte of invalid UTF-8 that starts no valid sequence, and every
  // sequence cut short, becomes one U+FFFD, the byte that cut it short being read again (the
  // rule of nlohmann's UTF-8 decoder).
  void string(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out_ += '"';
    std::size_t i = 0;
    while (i < s.size()) {
      // A run of bytes that need nothing goes in at once (long texts are mostly that).
      std::size_t run = i;
      while (run < s.size()) {
        const auto b = static_cast<unsigned char>(s[run]);
        if (b < 0x20 || b >= 0x80 || b == '"' || b == '\\') break;
        ++run;
      }
      if (run > i) {
        out_.append(s.data() + i, run - i);
        i = run;
        continue;
      }
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x80) {
        switch (c) {
          case '\b': out_ += "\\b"; break;
          case '\t': out_ += "\\t"; break;
          case '\n': out_ += "\\n"; break;
          case '\f': out_ += "\\f"; break;
          case '\r': out_ += "\\r"; break;
          case '"': out_ += "\\\""; break;
          case '\\': out_ += "\\\\"; break;
          default:
            if (c <= 0x1F) {
              out_ += "\\u00";
              out_ += hex[c >> 4];
              out_ += hex[c & 0x0F];
            } else {
              out_ += static_cast<char>(c);
            }
        }
        ++i;
        continue;
      }
      // RFC 3629: the lead byte, then the range of its first continuation byte.
      std::size_t need = 0;
      unsigned char lo = 0x80, hi = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
      } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
      } else {
        out_ += "\xEF\xBF\xBD";
        ++i;
        continue;
      }
      std::size_t j = i + 1;
      bool whole = true;
      for (std::size_t k = 0; k < need; ++k, ++j) {
        if (j == s.size() || static_cast<unsigned char>(s[j]) < lo ||
            static_cast<unsigned char>(s[j]) > hi) {
          whole = false;
          break;
        }
        lo = 0x80;
        hi = 0xBF;
      }
      if (whole) {
        out_.append(s.data() + i, j - i);
      } else {
        out_ += "\xEF\xBF\xBD";
      }
      i = j;
    }
    out_ += '"';
  }

  std::string& out_;
};

}  // namespace

std::string to_json_text(const json& value) {
  std::string out;
  Writer(out).value(value);
  return out;
}

const char* json_type_name(const json& value) noexcept {
  switch (value.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "object";
    case json::value_t::array: return "array";
    case json::value_t::string: return "string";
    case json::value_t::boolean: return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "number";
    case json::value_t::binary: return "binary";
    case json::value_t::discarded: return "discarded";
  }
  return "unknown";
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int hex_digit_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) { ++p; continue; }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

}  // namespace parley
