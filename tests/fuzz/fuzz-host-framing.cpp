// HTTP framing (issue 14): raw request bytes from a stranger, through the host's RequestReader
// (Beast's parser plus the RFC 9112 framing check, host/src/net/request_reader.cpp), the same
// object the HTTP session feeds. The property is the answer and the connection's fate:
//   1. Segmentation does not matter: the bytes fed at once and fed in pieces (sizes drawn from
//      the input's first byte) give the same requests, the same bodies, and the same refusal.
//   2. No request is served whose framing a strict, independent reading of RFC 9112 (the
//      reference below, written from the RFC, not from the reader) frames differently: every
//      served request ends where the reference says it ends and has the body it says, so no
//      byte of one request can become part of the next (request smuggling).
//   3. A request the reference finds mis-framed (Transfer-Encoding not ending in chunked, with
//      Content-Length, in HTTP/1.0; bad or differing Content-Length; Host missing, repeated or
//      invalid; obs-fold) is refused, and a refusal for framing or Host (bad_framing,
//      bad_host) is one the reference agrees with.
//   4. After a refusal the reader reads nothing more (the session closes the connection); a
//      refusal has a status of 400, 413, 431, 501 or 505 and a one-line printable message.
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/request_reader.hpp"

namespace {

using parley::host::net::RequestReader;
constexpr std::size_t header_limit = 2048;
constexpr std::size_t body_limit = 4096;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz-host-framing: property violated: %s\n", what);
  std::abort();
}
#define PROPERTY(cond) \
  do {                 \
    if (!(cond)) violated(#cond); \
  } while (0)

// ---- What the reader did with a byte stream ------------------------------------------------

struct Served {
  std::string method, target, body;
  unsigned version = 0;
  std::size_t begin = 0, end = 0;  // stream offsets (whole-feed run only)
};
struct Trace {
  std::vector<Served> requests;
  bool refused = false;
  RequestReader::Refusal refusal;
};

void append(boost::beast::flat_buffer& buffer, std::string_view bytes) {
  auto space = buffer.prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  buffer.commit(bytes.size());
}

// Feeds `stream` in pieces of the given sizes (the last piece takes the rest).
Trace run(std::string_view stream, const std::vector<std::size_t>& pieces, bool record_offsets) {
  Trace trace;
  RequestReader reader(header_limit, body_limit);
  boost::beast::flat_buffer buffer;
  std::size_t fed = 0;
  std::size_t begin = 0;
  std::size_t piece = 0;
  while (true) {
    const RequestReader::Step step = reader.parse(buffer);
    if (step == RequestReader::Step::request) {
      auto request = reader.take_request();
      Served s;
      s.method = std::string(request.method_string());
      s.target = std::string(request.target());
      s.body = request.body();
      s.version = request.version();
      if (record_offsets) {
        s.begin = begin;
        s.end = fed - buffer.size();
        begin = s.end;
      }
      trace.requests.push_back(std::move(s));
      continue;
    }
    if (step == RequestReader::Step::refused) {
      trace.refused = true;
      trace.refusal = reader.refusal();
      // Property 4: the reader stays refused whatever comes next.
      append(buffer, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      PROPERTY(reader.parse(buffer) == RequestReader::Step::refused);
      return trace;
    }
    if (fed == stream.size()) return trace;  // need_more at the end of the input
    std::size_t n = piece < pieces.size() ? pieces[piece++] : stream.size() - fed;
    if (n == 0) n = 1;
    n = std::min(n, stream.size() - fed);
    append(buffer, stream.substr(fed, n));
    fed += n;
  }
}

// ---- The reference: RFC 9112 framing, read strictly and independently ----------------------

struct Reference {
  enum Kind { incomplete, misframed, framed } kind = incomplete;
  std::string body;
  std::size_t end = 0;  // offset just after the request
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }
bool same_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
std::vector<std::string_view> list_elements(std::string_view v) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= v.size()) {
    std::size_t comma = v.find(',', start);
    if (comma == std::string_view::npos) comma = v.size();
    auto e = trim(v.substr(start, comma - start));
    if (!e.empty()) out.push_back(e);
    start = comma + 1;
  }
  return out;
}
bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
// RFC 3986 host [":" port]; empty allowed (RFC 9112 §3.2).
bool host_ok(std::string_view h) {
  std::string_view port;
  if (!h.empty() && h[0] == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : h.substr(1, close - 1))
      if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr(":.-_~!$&'()*+,;=", c)))
        return false;
    if (close + 1 == h.size()) return true;
    if (h[close + 1] != ':') return false;
    port = h.substr(close + 2);
  } else {
    auto colon = h.find(':');
    auto name = h.substr(0, colon);
    for (std::size_t i = 0; i < name.size(); ++i) {
      char c = name[i];
      if (c == '%') {
        if (i + 2 >= name.size() || hex_value(name[i + 1]) < 0 || hex_value(name[i + 2]) < 0)
          return false;
        i += 2;
      } else if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-._~!$&'()*+,;=", c))) {
        return false;
      }
    }
    if (colon == std::string_view::npos) return true;
    port = h.substr(colon + 1);
  }
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

Reference reference(std::string_view in) {
  Reference r;
  std::size_t pos = 0;
  while (in.substr(pos, 2) == "\r\n") pos += 2;
  const std::size_t header_end = in.find("\r\n\r\n", pos);
  const std::size_t bare = in.find("\n\n", pos);
  // An empty line made of a bare LF (before any CRLF CRLF): lines end in CRLF (§2.2).
  if (bare != std::string_view::npos && (header_end == std::string_view::npos || bare < header_end + 2))
    return r.kind = Reference::misframed, r;
  if (header_end == std::string_view::npos) return r;
  const std::string_view header = in.substr(pos, header_end + 2 - pos);  // lines, each + CRLF
  // Lines end in CRLF only: a CR or LF anywhere else makes the framing unreadable (§2.2).
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == '\r' && (i + 1 >= header.size() || header[i + 1] != '\n')) return r.kind = Reference::misframed, r;
    if (header[i] == '\n' && (i == 0 || header[i - 1] != '\r')) return r.kind = Reference::misframed, r;
  }
  std::vector<std::string_view> lines;
  for (std::size_t start = 0; start < header.size();) {
    const std::size_t crlf = header.find("\r\n", start);
    lines.push_back(header.substr(start, crlf - start));
    start = crlf + 2;
  }
  const std::string_view request_line = lines[0];
  if (request_line.size() < 9) return r.kind = Reference::misframed, r;
  const std::string_view version = request_line.substr(request_line.size() - 8);
  if (version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' || version[5] > '9' ||
      version[7] < '0' || version[7] > '9' || request_line[request_line.size() - 9] != ' ')
    return r.kind = Reference::misframed, r;
  const int v = (version[5] - '0') * 10 + (version[7] - '0');
  int hosts = 0;
  bool host_valid = true, has_te = false, has_cl = false, cl_bad = false;
  std::vector<std::string_view> codings;
  std::optional<std::uint64_t> length;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) return r.kind = Reference::misframed, r;  // obs-fold
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // not a field line: not ours to judge
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trim(line.substr(colon + 1));
    if (same_ignoring_case(name, "host")) {
      ++hosts;
      host_valid = host_valid && host_ok(value);
    } else if (same_ignoring_case(name, "transfer-encoding")) {
      has_te = true;
      // Stricter than RFC 9110 §5.6.1 on purpose (as the reader is): a Transfer-Encoding field
      // with no coding in it is refused, not ignored beside another one.
      if (list_elements(value).empty()) return r.kind = Reference::misframed, r;
      for (auto e : list_elements(value)) codings.push_back(e);
    } else if (same_ignoring_case(name, "content-length")) {
      has_cl = true;
      const auto elements = list_elements(value);
      // Stricter than RFC 9110 §5.6.1 on purpose (as Beast is): an empty element in a
      // Content-Length list is refused, not ignored.
      if (elements.empty() || value.find(",,") != std::string_view::npos ||
          value.front() == ',' || value.back() == ',' ||
          static_cast<std::size_t>(std::count(value.begin(), value.end(), ',')) + 1 != elements.size())
        cl_bad = true;
      for (auto e : elements) {
        std::uint64_t n = 0;
        bool overflow = false;
        for (char c : e) {
          if (c < '0' || c > '9') break;
          const auto d = static_cast<std::uint64_t>(c - '0');
          if (n > (UINT64_MAX - d) / 10) overflow = true;
          n = n * 10 + d;
        }
        if (!all_digits(e) || overflow) {
          cl_bad = true;
          continue;
        }
        if (length && *length != n) cl_bad = true;
        length = n;
      }
    }
  }
  if (hosts > 1 || (hosts == 0 && v >= 11) || !host_valid) return r.kind = Reference::misframed, r;
  std::size_t p = header_end + 4;
  if (has_te) {
    if (v < 11 || has_cl || codings.size() != 1 || !same_ignoring_case(codings[0], "chunked"))
      return r.kind = Reference::misframed, r;
    // chunked: size [ext] CRLF data CRLF ... 0 [ext] CRLF *(trailer CRLF) CRLF
    while (true) {
      const std::size_t eol = in.find("\r\n", p);
      if (eol == std::string_view::npos) return r;
      const std::string_view line = in.substr(p, eol - p);
      std::uint64_t size = 0;
      std::size_t k = 0;
      for (; k < line.size() && hex_value(line[k]) >= 0; ++k) {
        if (size >> 60) return r.kind = Reference::misframed, r;
        size = size * 16 + static_cast<std::uint64_t>(hex_value(line[k]));
      }
      if (k == 0) return r.kind = Reference::misframed, r;
      for (char c : line.substr(k))
        if (c == '\r' || c == '\n') return r.kind = Reference::misframed, r;
      p = eol + 2;
      if (size == 0) break;
      if (in.size() - p < size + 2) return r;
      r.body.append(in.substr(p, size));
      p += size;
      if (in.substr(p, 2) != "\r\n") return r.kind = Reference::misframed, r;
      p += 2;
    }
    while (true) {  // trailer section
      const std::size_t eol = in.find("\r\n", p);
      if (eol == std::string_view::npos) return r;
      const std::string_view line = in.substr(p, eol - p);
      for (char c : line)
        if (c == '\r' || c == '\n') return r.kind = Reference::misframed, r;
      p = eol + 2;
      if (line.empty()) break;
    }
  } else if (has_cl) {
    if (cl_bad || !length) return r.kind = Reference::misframed, r;
    if (in.size() - p < *length) return r;
    r.body = std::string(in.substr(p, *length));
    p += *length;
  }
  r.kind = Reference::framed;
  r.end = p;
  return r;
}

bool printable_line(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
  // Piece sizes from the first byte: a small generator, so that one input is one split.
  std::vector<std::size_t> pieces;
  std::uint32_t state = data[0] * 2654435761u + 1;
  for (std::size_t total = 0; total < stream.size();) {
    state = state * 1103515245u + 12345u;
    const std::size_t n = 1 + (state >> 16) % 23;
    pieces.push_back(n);
    total += n;
  }

  const Trace whole = run(stream, {}, true);
  const Trace split = run(stream, pieces, false);

  // 1. Segmentation does not change the outcome.
  PROPERTY(whole.requests.size() == split.requests.size());
  for (std::size_t i = 0; i < whole.requests.size(); ++i) {
    PROPERTY(whole.requests[i].method == split.requests[i].method);
    PROPERTY(whole.requests[i].target == split.requests[i].target);
    PROPERTY(whole.requests[i].body == split.requests[i].body);
    PROPERTY(whole.requests[i].version == split.requests[i].version);
  }
  PROPERTY(whole.refused == split.refused);
  if (whole.refused) {
    PROPERTY(whole.refusal.status == split.refusal.status);
    PROPERTY(whole.refusal.code == split.refusal.code);
  }

  // 2. Every served request is framed as the reference frames it.
  for (const Served& s : whole.requests) {
    const Reference ref = reference(stream.substr(s.begin));
    PROPERTY(ref.kind == Reference::framed);
    PROPERTY(ref.body == s.body);
    PROPERTY(s.begin + ref.end == s.end);
  }

  // 3. What the reference finds mis-framed is refused, and our framing refusals agree with it.
  const std::size_t next = whole.requests.empty() ? 0 : whole.requests.back().end;
  const Reference ref = reference(stream.substr(next));
  if (ref.kind == Reference::misframed) {
    // Refused, or still waiting for the rest of a header the reader needs whole first.
    PROPERTY(whole.refused || stream.find("\r\n\r\n", next) == std::string_view::npos);
  }
  if (whole.refused && (whole.refusal.code == "bad_framing" || whole.refusal.code == "bad_host"))
    PROPERTY(ref.kind == Reference::misframed);

  // 4. A refusal is a proper answer.
  if (whole.refused) {
    const unsigned st = whole.refusal.status;
    PROPERTY(st == 400 || st == 413 || st == 431 || st == 501 || st == 505);
    PROPERTY(printable_line(whole.refusal.message));
    PROPERTY(!whole.refusal.code.empty());
  }
  return 0;
}
