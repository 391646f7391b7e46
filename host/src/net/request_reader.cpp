#include "request_reader.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>

namespace parley::host::net {
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A stranger's value in a message: quoted, at most 64 bytes, anything unprintable as \xNN, so
// that the message stays one short line.
std::string shown(std::string_view value) {
  constexpr std::size_t max = 64;
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < value.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (value.size() > max) out += "...";
  out += "\"";
  return out;
}

// The elements of a comma-separated field value (RFC 9110 §5.6.1), OWS trimmed, empty
// elements dropped.
void split_list(std::string_view value, std::vector<std::string_view>& out) {
  while (true) {
    const auto comma = value.find(',');
    auto element = trim_ows(value.substr(0, comma));
    if (!element.empty()) out.push_back(element);
    if (comma == std::string_view::npos) return;
    value.remove_prefix(comma + 1);
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) {
  return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f');
}
bool is_alpha(char c) { return lower(c) >= 'a' && lower(c) <= 'z'; }
bool is_unreserved(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool is_sub_delim(char c) {
  return c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' ||
         c == '+' || c == ',' || c == ';' || c == '=';
}

constexpr const char* rfc_host = " (RFC 9112 §3.2)";
constexpr const char* rfc_te = " (RFC 9112 §6.1)";

}  // namespace

bool valid_host_value(std::string_view value) {
  std::size_t i = 0;
  if (!value.empty() && value[0] == '[') {
    // IP-literal: IPv6address or IPvFuture, checked for its alphabet; the address itself is
    // never used for routing here.
    const auto close = value.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (std::size_t k = 1; k < close; ++k) {
      const char c = value[k];
      if (!(is_hex(c) || c == ':' || c == '.' || c == 'v' || c == 'V' || is_unreserved(c) ||
            is_sub_delim(c)))
        return false;
    }
    i = close + 1;
  } else {
    // reg-name (an IPv4 address is one too): unreserved, pct-encoded, sub-delims.
    while (i < value.size() && value[i] != ':') {
      const char c = value[i];
      if (c == '%') {
        if (i + 2 >= value.size() || !is_hex(value[i + 1]) || !is_hex(value[i + 2])) return false;
        i += 3;
        continue;
      }
      if (!is_unreserved(c) && !is_sub_delim(c)) return false;
      ++i;
    }
  }
  if (i == value.size()) return true;
  if (value[i] != ':') return false;
  for (++i; i < value.size(); ++i)
    if (!is_digit(value[i])) return false;
  return true;
}

RequestReader::RequestReader(std::size_t header_limit, std::size_t body_limit)
    : header_limit_(header_limit), body_limit_(body_limit) {}

void RequestReader::start() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(header_limit_, std::numeric_limits<std::uint32_t>::max())));
  parser_->body_limit(body_limit_);
  got_some_ = false;
  scanned_ = 0;
}

RequestReader::Step RequestReader::refuse(unsigned status, std::string code, std::string message) {
  refused_ = true;
  refusal_ = Refusal{status, std::move(code), std::move(message)};
  return Step::refused;
}

bool RequestReader::fail(unsigned status, std::string code, std::string message) {
  refuse(status, std::move(code), std::move(message));
  return false;
}

RequestReader::Step RequestReader::parse(beast::flat_buffer& buffer) {
  if (refused_) return Step::refused;
  if (!parser_) start();
  if (!got_some_) {
    // RFC 9112 §2.2: empty lines (CRLF) before a request line are ignored.
    while (buffer.size() >= 2) {
      const auto* bytes = static_cast<const char*>(buffer.data().data());
      if (bytes[0] != '\r' || bytes[1] != '\n') break;
      buffer.consume(2);
    }
    const auto* bytes = static_cast<const char*>(buffer.data().data());
    if (buffer.size() == 0 || (buffer.size() == 1 && bytes[0] == '\r')) return Step::need_more;
    got_some_ = true;
  }
  if (!parser_->is_header_done()) {
    // Beast is given the header, and nothing but the header, once all of it is here (up to the
    // first empty line: CRLF CRLF, or a bare LF LF that Beast then refuses). So what it decides
    // about a header never depends on how the bytes were split into reads, nor on what follows
    // (fuzz-host-framing checks this): on a first partial read Beast would parse the request
    // line at once, on later ones it waits for the end, and it looks up to 8 bytes ahead.
    const auto* bytes = static_cast<const char*>(buffer.data().data());
    const std::string_view seen(bytes, buffer.size());
    const std::size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
    const std::size_t crlf = seen.find("\r\n\r\n", from);
    const std::size_t lf = seen.find("\n\n", from);
    scanned_ = seen.size();
    if (crlf == std::string_view::npos && lf == std::string_view::npos) {
      if (seen.size() > header_limit_)
        return refuse(431, "header_too_large",
                      "request headers exceed max_header_bytes (" +
                          std::to_string(header_limit_) + " bytes)");
      return Step::need_more;
    }
    const std::size_t header_end = std::min(crlf == std::string_view::npos ? seen.size() : crlf + 4,
                                            lf == std::string_view::npos ? seen.size() : lf + 2);
    if (header_end > header_limit_)
      return refuse(431, "header_too_large",
                    "request headers exceed max_header_bytes (" + std::to_string(header_limit_) +
                        " bytes)");
    beast::error_code ec;
    const std::size_t used = parser_->put(boost::asio::buffer(bytes, header_end), ec);
    if (ec == http::error::need_more || (!ec && !parser_->is_header_done()))
      return refuse(400, "bad_request",
                    "malformed HTTP request: the header ends inside its request line or a "
                    "field line");
    if (ec) return refuse_parse_error(ec);
    if (!framing_ok(seen.substr(0, used))) return Step::refused;
    buffer.consume(used);
    if (parser_->chunked()) {
      body_kind_ = Body::chunked;
    } else if (const auto length = parser_->content_length(); length && *length > 0) {
      body_kind_ = Body::length;
      remaining_ = *length;  // within body_limit: Beast refused a larger one above
    }
  }
  return read_body(buffer);
}

RequestReader::Step RequestReader::read_body(beast::flat_buffer& buffer) {
  if (body_kind_ == Body::none) return Step::request;
  if (body_kind_ == Body::chunked) return read_chunked(buffer);
  const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, buffer.size()));
  body_.append(static_cast<const char*>(buffer.data().data()), take);
  buffer.consume(take);
  remaining_ -= take;
  return remaining_ == 0 ? Step::request : Step::need_more;
}

namespace {
bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}
constexpr std::size_t max_chunk_line = 4096;
constexpr const char* rfc_chunked = " (RFC 9112 §7.1)";
}  // namespace

// chunk-size [ chunk-ext ]: 1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS (token / quoted) ] )
bool RequestReader::chunk_line(std::string_view line, std::uint64_t& size) {
  std::size_t i = 0;
  size = 0;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    else if (lower(c) >= 'a' && lower(c) <= 'f') digit = lower(c) - 'a' + 10;
    if (digit < 0) break;
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 4))
      return fail(400, "bad_request", std::string("chunked body: chunk size too large") + rfc_chunked);
    size = size * 16 + static_cast<std::uint64_t>(digit);
  }
  if (i == 0)
    return fail(400, "bad_request",
                "chunked body: a chunk line must start with its size in hex, got " +
                    shown(line) + rfc_chunked);
  auto bws = [&] {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  };
  auto token = [&] {
    const std::size_t start = i;
    while (i < line.size() && is_tchar(line[i])) ++i;
    return i > start;
  };
  while (true) {
    bws();
    if (i == line.size()) return true;
    if (line[i] != ';') break;
    ++i;
    bws();
    if (!token()) break;
    const std::size_t before = i;
    bws();
    if (i < line.size() && line[i] == '=') {
      ++i;
      bws();
      if (i < line.size() && line[i] == '"') {
        ++i;
        bool closed = false;
        while (i < line.size()) {
          const auto c = static_cast<unsigned char>(line[i]);
          if (c == '"') {
            closed = true;
            ++i;
            break;
          }
          const bool text = c == '\t' || (c >= 0x20 && c != 0x7f);
          if (c == '\\' && i + 1 < line.size()) {
            const auto next = static_cast<unsigned char>(line[i + 1]);
            if (!(next == '\t' || (next >= 0x20 && next != 0x7f))) break;
            i += 2;
          } else if (text) {
            ++i;
          } else {
            break;
          }
        }
        if (!closed) break;
      } else if (!token()) {
        break;
      }
    } else {
      i = before;
    }
  }
  return fail(400, "bad_request",
              "chunked body: bad chunk extension in " + shown(line) + rfc_chunked);
}

RequestReader::Step RequestReader::read_chunked(beast::flat_buffer& buffer) {
  while (chunk_ != Chunk::done) {
    if (buffer.size() == 0) return Step::need_more;
    const auto* bytes = static_cast<const char*>(buffer.data().data());
    if (chunk_ == Chunk::data) {
      const auto take =
          static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, buffer.size()));
      body_.append(bytes, take);
      buffer.consume(take);
      remaining_ -= take;
      if (remaining_ == 0) chunk_ = Chunk::data_cr;
      continue;
    }
    if (chunk_ == Chunk::data_cr || chunk_ == Chunk::data_lf) {
      const char want = chunk_ == Chunk::data_cr ? '\r' : '\n';
      if (bytes[0] != want)
        return refuse(400, "bad_request",
                      std::string("chunked body: chunk data not followed by CRLF (longer than "
                                  "its size?)") + rfc_chunked);
      buffer.consume(1);
      chunk_ = chunk_ == Chunk::data_cr ? Chunk::data_lf : Chunk::size_line;
      continue;
    }
    // A chunk-size or trailer line, up to its CRLF; a CR or LF anywhere else is refused at once.
    std::size_t i = 0;
    for (; i < buffer.size(); ++i) {
      const char c = bytes[i];
      if (!line_.empty() && line_.back() == '\r' && c != '\n')
        return refuse(400, "bad_request",
                      std::string("chunked body: a bare CR in a chunk or trailer line (lines end "
                                  "in CRLF, RFC 9112 §2.2)"));
      if (c == '\n' && (line_.empty() || line_.back() != '\r'))
        return refuse(400, "bad_request",
                      std::string("chunked body: a bare LF in a chunk or trailer line (lines end "
                                  "in CRLF, RFC 9112 §2.2)"));
      line_ += c;
      if (c == '\n') break;
    }
    const std::size_t consumed = i < buffer.size() ? i + 1 : i;
    buffer.consume(consumed);
    if (chunk_ == Chunk::trailer) {
      trailer_bytes_ += consumed;
      if (trailer_bytes_ > header_limit_)
        return refuse(431, "header_too_large",
                      "trailer fields exceed max_header_bytes (" + std::to_string(header_limit_) +
                          " bytes)");
    } else if (line_.size() > max_chunk_line) {
      return refuse(400, "bad_request",
                    "chunked body: a chunk line over " + std::to_string(max_chunk_line) +
                        " bytes" + rfc_chunked);
    }
    if (line_.empty() || line_.back() != '\n') return Step::need_more;
    const std::string_view line(line_.data(), line_.size() - 2);
    if (chunk_ == Chunk::size_line) {
      std::uint64_t size = 0;
      if (!chunk_line(line, size)) return Step::refused;
      if (size > body_limit_ - std::min<std::size_t>(body_limit_, body_.size()))
        return refuse(413, "body_too_large",
                      "request body exceeds max_body_bytes (" + std::to_string(body_limit_) +
                          " bytes)");
      remaining_ = size;
      chunk_ = size == 0 ? Chunk::trailer : Chunk::data;
    } else if (line.empty()) {
      chunk_ = Chunk::done;
    } else {
      // A trailer field line: token ":" value, no control character but HTAB. Not kept.
      const std::size_t colon = line.find(':');
      bool ok = colon != std::string_view::npos && colon > 0;
      for (std::size_t k = 0; ok && k < colon; ++k) ok = is_tchar(line[k]);
      for (std::size_t k = colon + 1; ok && k < line.size(); ++k) {
        const auto c = static_cast<unsigned char>(line[k]);
        ok = c == '\t' || (c >= 0x20 && c != 0x7f);
      }
      if (!ok)
        return refuse(400, "bad_request",
                      "chunked body: bad trailer field line " + shown(line) + rfc_chunked);
    }
    line_.clear();
  }
  return Step::request;
}

RequestReader::Step RequestReader::end_of_input() {
  if (refused_) return Step::refused;
  if (!parser_ || !got_some_) return Step::need_more;
  return refuse(400, "bad_request", "the connection ended in the middle of a request");
}

RequestReader::Request RequestReader::take_request() {
  Request request = parser_->release();
  request.body() = std::move(body_);
  body_.clear();
  body_kind_ = Body::none;
  remaining_ = 0;
  chunk_ = Chunk::size_line;
  line_.clear();
  trailer_bytes_ = 0;
  parser_.reset();
  got_some_ = false;
  scanned_ = 0;
  return request;
}

RequestReader::Step RequestReader::refuse_parse_error(const beast::error_code& ec) {
  const auto& fields = parser_->get();
  const bool has_te = fields.find(http::field::transfer_encoding) != fields.end();
  const bool has_cl = fields.find(http::field::content_length) != fields.end();
  if (ec == http::error::header_limit)
    return refuse(431, "header_too_large",
                  "request headers exceed max_header_bytes (" + std::to_string(header_limit_) +
                      " bytes)");
  if (ec == http::error::body_limit)
    return refuse(413, "body_too_large",
                  "request body exceeds max_body_bytes (" + std::to_string(body_limit_) +
                      " bytes)");
  if ((ec == http::error::bad_transfer_encoding && has_cl) ||
      (ec == http::error::bad_content_length && has_te))
    return refuse(400, "bad_framing",
                  std::string("Transfer-Encoding together with Content-Length") + rfc_te);
  if (ec == http::error::bad_transfer_encoding)
    return refuse(400, "bad_framing",
                  std::string("Transfer-Encoding: a field line after one ending in chunked; the "
                              "final transfer coding must be chunked, applied once") +
                      rfc_te);
  if (ec == http::error::bad_content_length)
    return refuse(400, "bad_framing",
                  "Content-Length: not a decimal number, or a list of differing ones "
                  "(RFC 9112 §6.3)");
  if (ec == http::error::multiple_content_length)
    return refuse(400, "bad_framing",
                  "Content-Length: repeated with differing values (RFC 9112 §6.3)");
  std::string what;
  if (ec == http::error::bad_method) what = "request line: bad method";
  else if (ec == http::error::bad_target) what = "request line: bad request-target";
  else if (ec == http::error::bad_version)
    what = "request line: bad HTTP version (HTTP/1.0 or HTTP/1.1, line ending in CRLF)";
  else if (ec == http::error::bad_field)
    what = "bad field line (a field name, no whitespace before the colon, RFC 9112 §5.1)";
  else if (ec == http::error::bad_value) what = "a field value holds a control character";
  else if (ec == http::error::bad_line_ending)
    what = "bad line ending (lines end in CRLF, RFC 9112 §2.2)";
  else if (ec == http::error::bad_chunk) what = "chunked body: bad chunk size or chunk line";
  else if (ec == http::error::bad_chunk_extension) what = "chunked body: bad chunk extension";
  else if (ec == http::error::bad_obs_fold) what = "bad folded field line";
  else what = ec.message();
  return refuse(400, "bad_request", "malformed HTTP request: " + what);
}

bool RequestReader::framing_ok(std::string_view header) {
  const auto& request = parser_->get();

  // obs-fold: a field line that starts with whitespace continues the one before it. The
  // header's last four bytes are its terminating CRLF CRLF.
  for (std::size_t i = 0; i + 4 < header.size(); ++i) {
    if (header[i] == '\r' && header[i + 1] == '\n' && (header[i + 2] == ' ' || header[i + 2] == '\t'))
      return fail(400, "bad_framing",
                    "a field line folded onto the next line (obs-fold) is not accepted "
                    "(RFC 9112 §5.2)");
  }

  // RFC 9112 §2.3: HTTP/1.x only (Beast reads "HTTP/d.d" as 10 * d + d).
  if (request.version() < 10 || request.version() > 19)
    return fail(505, "version_not_supported",
                "HTTP/" + std::to_string(request.version() / 10) + "." +
                    std::to_string(request.version() % 10) +
                    " is not supported; send HTTP/1.1 (RFC 9112 §2.3)");

  std::size_t hosts = 0;
  std::string_view host;
  std::vector<std::string_view> codings;
  bool has_te = false;
  bool te_line_without_coding = false;
  bool has_cl = false;
  for (const auto& field : request) {
    if (field.name() == http::field::host) {
      ++hosts;
      host = field.value();
    } else if (field.name() == http::field::transfer_encoding) {
      has_te = true;
      const std::size_t before = codings.size();
      split_list(field.value(), codings);
      if (codings.size() == before) te_line_without_coding = true;
    } else if (field.name() == http::field::content_length) {
      has_cl = true;
    }
  }
  if (hosts > 1)
    return fail(400, "bad_host",
                  "Host: " + std::to_string(hosts) + " field lines; exactly one is allowed" +
                      rfc_host);
  if (hosts == 0 && request.version() >= 11)
    return fail(400, "bad_host",
                  std::string("Host: missing; an HTTP/1.1 request must have one") + rfc_host);
  if (hosts == 1 && !valid_host_value(host))
    return fail(400, "bad_host", "Host: " + shown(host) + " is not host[:port]" + rfc_host);

  if (has_te) {
    if (request.version() < 11)
      return fail(400, "bad_framing",
                    std::string("Transfer-Encoding in an HTTP/1.0 request") + rfc_te);
    if (has_cl)
      return fail(400, "bad_framing",
                    std::string("Transfer-Encoding together with Content-Length") + rfc_te);
    if (codings.empty() || !iequals(codings.back(), "chunked")) {
      std::string all;
      for (const auto& field : request)
        if (field.name() == http::field::transfer_encoding)
          all += (all.empty() ? "" : ", ") + std::string(field.value());
      return fail(400, "bad_framing",
                    "Transfer-Encoding: " + shown(all) +
                        ": the final transfer coding must be chunked (RFC 9112 §6.3)");
    }
    // Stricter than RFC 9110 §5.6.1 (which ignores empty list elements) on purpose: a
    // Transfer-Encoding line with no coding beside one with chunked is a framing a proxy in
    // front may read otherwise, so it is refused, wherever it stands.
    if (te_line_without_coding)
      return fail(400, "bad_framing",
                    std::string("Transfer-Encoding: a field line with no transfer coding") + rfc_te);
    for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
      if (iequals(codings[i], "chunked"))
        return fail(400, "bad_framing",
                      std::string("Transfer-Encoding: chunked is applied more than once") +
                          rfc_te);
    }
    if (codings.size() > 1)
      return fail(501, "not_implemented",
                    "Transfer-Encoding: the transfer coding " + shown(codings.front()) +
                        " is not implemented (only chunked is)" + rfc_te);
    // Beast must frame the body as we decided; anything else is refused, never guessed.
    if (!parser_->chunked())
      return fail(400, "bad_framing",
                    "Transfer-Encoding: the chunked coding is not recognised as the final one" +
                        std::string(rfc_te));
    return true;
  }
  if (parser_->chunked() || (has_cl && !parser_->content_length()) ||
      (!has_cl && parser_->content_length()))
    return fail(400, "bad_framing", "the message's length cannot be determined (RFC 9112 §6.3)");
  return true;
}

}  // namespace parley::host::net
