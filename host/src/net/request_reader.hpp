// Reads HTTP/1.x requests out of a connection's byte buffer, without I/O: Beast parses the
// header, and this class decides the message framing on top of it by RFC 9112 before any body
// byte is taken, then reads the body itself (Content-Length bytes, or a strictly checked
// chunked body: Beast's chunked reader waits for the end of a trailer section rather than
// refusing a bare LF in a chunk line, where a proxy that ends lines at LF would end the
// message). The HTTP session feeds it what it read; the fuzz target
// (tests/fuzz/fuzz-host-framing) feeds it raw bytes in any segmentation. It is the ONE place
// where framing is decided.
//
// Refused (always followed by closing the connection: after a framing error nobody can know
// where the next request would start, RFC 9112 §6.3, §11.2):
//   400 bad_framing   a Transfer-Encoding whose final coding is not `chunked` (`identity`,
//                     `gzip`, `chunked, identity`, `xchunked`, `"chunked"`, empty; §6.3 item 4);
//                     `chunked` applied twice; Transfer-Encoding together with Content-Length
//                     (§6.1, §6.3 item 3); Transfer-Encoding in an HTTP/1.0 request (§6.1);
//                     a Content-Length that is not a decimal number, or repeated with
//                     differing values (§6.3 item 5, Beast's check; a list element that is
//                     empty, as in "5, ", is refused too); a field line folded onto
//                     the next line (obs-fold, §5.2: rejected rather than joined, so that a
//                     proxy joining it differently cannot disagree with us)
//   400 bad_host      an HTTP/1.1 request without Host, any request with more than one Host
//                     field line, or a Host that is not uri-host [":" port] (§3.2)
//   400 bad_request   any other syntax refused (request line, field names and values, line
//                     endings: Beast's verdict, named; a chunk line that is not 1*HEXDIG and
//                     well-formed extensions, a bare CR or LF in a chunk or trailer line, chunk
//                     data not followed by CRLF, a malformed trailer field: ours, at once)
//   501 not_implemented  a transfer coding other than `chunked` before the final `chunked`
//                     (`gzip, chunked`: §6.1 "SHOULD respond with 501"); we decode none
//   413 body_too_large, 431 header_too_large  over the configured limits
// Accepted: no body, a body of Content-Length bytes (one value, or a list of equal ones), or a
// chunked body (HTTP/1.1 only, extensions and trailer fields allowed). Empty lines before a
// request line are skipped (§2.2). Pipelined requests are read one after the other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace parley::host::net {

class RequestReader {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  enum class Step {
    need_more,  // read more bytes into the buffer, then call parse() again
    request,    // take_request(); the next parse() starts the next request
    refused,    // refusal() says what to answer; then close the connection
  };

  struct Refusal {
    unsigned status = 400;
    std::string code;     // bad_framing, bad_host, bad_request, not_implemented, ...
    std::string message;  // names what is wrong, and the rule
  };

  RequestReader(std::size_t header_limit, std::size_t body_limit);

  // Parses what `buffer` holds, consuming the bytes it uses (the rest stays for the next
  // request). After `refused` it keeps answering `refused` without reading.
  Step parse(boost::beast::flat_buffer& buffer);
  // The peer ended its side. Returns `refused` when a request was cut short (the answer may
  // not reach anyone, but the decision is the same), `need_more` when nothing was pending.
  Step end_of_input();

  // Any byte of the current request seen (empty lines before it do not count).
  bool got_some() const { return got_some_; }
  Request take_request();
  const Refusal& refusal() const { return refusal_; }

 private:
  Step refuse(unsigned status, std::string code, std::string message);
  Step refuse_parse_error(const boost::beast::error_code& ec);
  bool fail(unsigned status, std::string code, std::string message);  // refuse(), false
  // The framing verdict, once the header is parsed; `header` is its raw bytes. False: refused.
  bool framing_ok(std::string_view header);
  // Takes body bytes from `buffer`: need_more, request (the body is complete) or refused.
  Step read_body(boost::beast::flat_buffer& buffer);
  Step read_chunked(boost::beast::flat_buffer& buffer);
  // A complete chunk-size line (without its CRLF): the size, or refused.
  bool chunk_line(std::string_view line, std::uint64_t& size);
  void start();

  enum class Body { none, length, chunked };
  enum class Chunk { size_line, data, data_cr, data_lf, trailer, done };

  std::size_t header_limit_;
  std::size_t body_limit_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::size_t scanned_ = 0;  // bytes of the buffer searched for the header's end
  bool got_some_ = false;
  bool refused_ = false;
  Refusal refusal_;
  Body body_kind_ = Body::none;
  std::uint64_t remaining_ = 0;  // of the Content-Length body, or of the current chunk
  Chunk chunk_ = Chunk::size_line;
  std::string line_;             // the chunk or trailer line being read (CR included)
  std::size_t trailer_bytes_ = 0;
  std::string body_;
};

// RFC 3986 host [":" port], as a Host field value may be (empty included, RFC 9112 §3.2).
bool valid_host_value(std::string_view value);

}  // namespace parley::host::net
