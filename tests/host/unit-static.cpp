// Static files (host/src/net/static_files.*): types, ETags, HEAD, the embed page's CSP and
// frame-ancestors, and path traversal in every spelling, served by a real Server.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "../../host/src/net/static_files.hpp"
#include "net_test_app.hpp"
#include "test_client.hpp"

using namespace parley;
using namespace parley::test;

namespace {

const std::string wasm_bytes("\0asm\x01\0\0\0 binary \0 data", 22);

// tmp/web/{index.html, embed.html, app.js, ...}, tmp/sdk/{parley.wasm, ...}, and a secret
// next to the roots that must never be served.
struct Site {
  TempDir dir;
  host::HostConfig config = net_test_config();

  Site() {
    dir.write("secret.txt", "TOP SECRET");
    dir.write("web/index.html", "<!doctype html><title>index</title>");
    dir.write("web/embed.html", "<!doctype html><title>embed</title>");
    dir.write("web/app.js", "console.log(1);");
    dir.write("web/module.mjs", "export {};");
    dir.write("web/style.css", "body{}");
    dir.write("web/data.json", "{}");
    dir.write("web/icon.svg", "<svg/>");
    dir.write("web/logo.png", "\x89PNG");
    dir.write("web/favicon.ico", "ico");
    dir.write("web/app.js.map", "{}");
    dir.write("web/notes.txt", "notes");
    dir.write("web/blob.bin", "bin");
    dir.write("web/docs/index.html", "<p>docs</p>");
    dir.write("sdk/parley.wasm", wasm_bytes);
    dir.write("sdk/parley.d.ts", "export {};");
    dir.write("sdk/parley.mjs", "export {};");
    // A symlink inside the root that leads outside it.
    std::error_code ignored;
    std::filesystem::create_symlink(dir.file("secret.txt"), dir.file("web/leak.txt"), ignored);
    config.server.web_root = dir.file("web");
    config.server.wasm_root = dir.file("sdk");
  }
};

std::string content_type(const HttpResult& result) { return result.header("content-type").value_or(""); }

}  // namespace

TEST_CASE("percent_decode and query_param", "[static]") {
  using host::net::percent_decode;
  using host::net::query_param;
  CHECK(percent_decode("/a%20b%2F..") == std::optional<std::string>("/a b/.."));
  CHECK(percent_decode("%2e%2E") == std::optional<std::string>(".."));
  CHECK(percent_decode("a+b") == std::optional<std::string>("a+b"));
  CHECK(percent_decode("a+b", true) == std::optional<std::string>("a b"));
  CHECK(!percent_decode("%"));
  CHECK(!percent_decode("%4"));
  CHECK(!percent_decode("%zz"));
  CHECK(percent_decode("%00") == std::optional<std::string>(std::string(1, '\0')));
  CHECK(query_param("id=demo&k=pk", "id") == std::optional<std::string>("demo"));
  CHECK(query_param("k=pk&id=a%20b", "id") == std::optional<std::string>("a b"));
  CHECK(query_param("idx=1", "id") == std::nullopt);
  CHECK(query_param("id", "id") == std::optional<std::string>(""));
  CHECK(query_param("", "id") == std::nullopt);
}

TEST_CASE("content types by extension", "[static]") {
  using host::net::content_type_for;
  CHECK(content_type_for("x.wasm") == "application/wasm");
  CHECK(content_type_for("x.mjs") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("X.JS") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("x.d.ts").find("typescript") != std::string_view::npos);
  CHECK(content_type_for("x.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("noext") == "application/octet-stream");
}

TEST_CASE("static files are served with their types; wasm byte for byte", "[static]") {
  Site site;
  NetServer server(site.config);
  const std::pair<const char*, const char*> expected[] = {
      {"/", "text/html"},
      {"/index.html", "text/html"},
      {"/app.js", "text/javascript"},
      {"/module.mjs", "text/javascript"},
      {"/style.css", "text/css"},
      {"/data.json", "application/json"},
      {"/icon.svg", "image/svg+xml"},
      {"/logo.png", "image/png"},
      {"/favicon.ico", "image/x-icon"},
      {"/app.js.map", "application/json"},
      {"/notes.txt", "text/plain"},
      {"/blob.bin", "application/octet-stream"},
      {"/docs/", "text/html"},
      {"/docs", "text/html"},
      {"/sdk/parley.d.ts", "application/typescript"},
      {"/sdk/parley.mjs", "text/javascript"},
  };
  for (const auto& [path, type] : expected) {
    INFO(path);
    const HttpResult result = http(server.port, "GET", path);
    CHECK(result.status == 200);
    CHECK(content_type(result).rfind(type, 0) == 0);
    CHECK(result.header("x-content-type-options") == std::optional<std::string>("nosniff"));
    CHECK(result.header("cache-control") == std::optional<std::string>("no-cache"));
  }
  const HttpResult wasm = http(server.port, "GET", "/sdk/parley.wasm");
  CHECK(wasm.status == 200);
  CHECK(content_type(wasm) == "application/wasm");
  CHECK(wasm.body == wasm_bytes);
  CHECK(http(server.port, "GET", "/docs/").body == "<p>docs</p>");
}

TEST_CASE("ETag and If-None-Match give 304; HEAD gives the headers only", "[static]") {
  Site site;
  NetServer server(site.config);
  const HttpResult first = http(server.port, "GET", "/app.js");
  const auto etag = first.header("etag");
  REQUIRE(etag);
  CHECK(etag->front() == '"');
  CHECK(etag->back() == '"');

  const HttpResult again = http(server.port, "GET", "/app.js", "", {{"If-None-Match", *etag}});
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  CHECK(again.header("etag") == etag);
  const HttpResult listed =
      http(server.port, "GET", "/app.js", "", {{"If-None-Match", "\"nope\", W/" + *etag}});
  CHECK(listed.status == 304);
  const HttpResult stale = http(server.port, "GET", "/app.js", "", {{"If-None-Match", "\"nope\""}});
  CHECK(stale.status == 200);
  CHECK(stale.body == "console.log(1);");

  // A changed file has a new tag.
  site.dir.write("web/app.js", "console.log(22);");
  const HttpResult changed = http(server.port, "GET", "/app.js", "", {{"If-None-Match", *etag}});
  CHECK(changed.status == 200);
  CHECK(changed.header("etag") != etag);

  const HttpResult head = http(server.port, "HEAD", "/sdk/parley.wasm");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.header("content-length") == std::optional<std::string>(std::to_string(wasm_bytes.size())));
  CHECK(content_type(head) == "application/wasm");
}

TEST_CASE("the build's .br / .gz copies are chosen by Accept-Encoding, never made here",
          "[static]") {
  Site site;
  // Stand-ins for what brotli and gzip wrote (the host never looks inside them).
  site.dir.write("web/app.js.br", "BROTLI-BYTES");
  site.dir.write("web/app.js.gz", "GZIP-BYTES");
  site.dir.write("web/style.css.gz", "GZ-CSS");
  NetServer server(site.config);
  struct Case {
    const char* accept;  // nullptr: no header
    const char* path;
    const char* encoding;  // nullptr: none
    const char* body;
  };
  const Case cases[] = {
      {"gzip, deflate, br, zstd", "/app.js", "br", "BROTLI-BYTES"},
      {"gzip, deflate", "/app.js", "gzip", "GZIP-BYTES"},
      {"br;q=0, gzip;q=0.8", "/app.js", "gzip", "GZIP-BYTES"},
      {"BR", "/app.js", "br", "BROTLI-BYTES"},
      {"*", "/app.js", "br", "BROTLI-BYTES"},
      {"*;q=0, identity", "/app.js", nullptr, "console.log(1);"},
      {"br;q=0.000, gzip;q=0", "/app.js", nullptr, "console.log(1);"},
      {"identity", "/app.js", nullptr, "console.log(1);"},
      {"", "/app.js", nullptr, "console.log(1);"},
      {nullptr, "/app.js", nullptr, "console.log(1);"},
      {"br, gzip", "/style.css", "gzip", "GZ-CSS"},  // only a .gz there
      {"br, gzip", "/notes.txt", nullptr, "notes"},  // no copy at all
  };
  for (const Case& c : cases) {
    INFO(c.path << " with Accept-Encoding: " << (c.accept ? c.accept : "(none)"));
    std::vector<std::pair<std::string, std::string>> headers;
    if (c.accept) headers.emplace_back("Accept-Encoding", c.accept);
    const HttpResult r = http(server.port, "GET", c.path, "", headers);
    CHECK(r.status == 200);
    CHECK(r.body == c.body);
    CHECK(r.header("content-encoding") ==
          (c.encoding ? std::optional<std::string>(c.encoding) : std::nullopt));
    // The type is the file's, not the copy's.
    CHECK(content_type(r).rfind(std::string(c.path) == "/app.js" ? "text/javascript" : "text/", 0) == 0);
    const bool has_copies = std::string(c.path) != "/notes.txt";
    CHECK(r.header("vary") ==
          (has_copies ? std::optional<std::string>("Accept-Encoding") : std::nullopt));
  }
  // Each encoding has its own tag, and a 304 answers the matching one only.
  const auto plain_tag = http(server.port, "GET", "/app.js").header("etag");
  const auto br_tag =
      http(server.port, "GET", "/app.js", "", {{"Accept-Encoding", "br"}}).header("etag");
  REQUIRE(plain_tag);
  REQUIRE(br_tag);
  CHECK(plain_tag != br_tag);
  CHECK(http(server.port, "GET", "/app.js", "", {{"Accept-Encoding", "br"}, {"If-None-Match", *br_tag}})
            .status == 304);
  CHECK(http(server.port, "GET", "/app.js", "", {{"If-None-Match", *br_tag}}).status == 200);

  // A copy older than its file is stale: never sent.
  site.dir.write("web/app.js", "console.log(3);");
  std::filesystem::last_write_time(site.dir.file("web/app.js.br"),
                                   std::filesystem::last_write_time(site.dir.file("web/app.js")) -
                                       std::chrono::seconds(10));
  const HttpResult stale = http(server.port, "GET", "/app.js", "", {{"Accept-Encoding", "br"}});
  CHECK(stale.body == "console.log(3);");
  CHECK_FALSE(stale.header("content-encoding"));
}

TEST_CASE("content-hashed names are immutable for a year; everything else is revalidated",
          "[static]") {
  Site site;
  site.dir.write("sdk/parley-core.3f9a01c2bd.wasm", wasm_bytes);
  site.dir.write("web/embed-app.0123456789abcdef.js", "x");
  site.dir.write("web/embed.1234.js", "x");          // too short to be a hash
  site.dir.write("web/embed.0123456789ABCD.js", "x");  // upper case: not ours
  NetServer server(site.config);
  const std::string immutable = "public, max-age=31536000, immutable";
  CHECK(http(server.port, "GET", "/sdk/parley-core.3f9a01c2bd.wasm").header("cache-control") ==
        std::optional<std::string>(immutable));
  CHECK(http(server.port, "GET", "/embed-app.0123456789abcdef.js").header("cache-control") ==
        std::optional<std::string>(immutable));
  for (const char* path : {"/embed.1234.js", "/embed.0123456789ABCD.js", "/", "/embed",
                           "/sdk/parley.mjs", "/app.js"}) {
    INFO(path);
    CHECK(http(server.port, "GET", path).header("cache-control") ==
          std::optional<std::string>("no-cache"));
  }
}

TEST_CASE("path traversal never leaves the root", "[static]") {
  Site site;
  NetServer server(site.config);
  const char* attempts[] = {
      "/../secret.txt",         "/%2e%2e/secret.txt",        "/%2E%2E%2Fsecret.txt",
      "/docs/../../secret.txt", "/docs/..%2f..%2fsecret.txt", "/sdk/../secret.txt",
      "/sdk/%2e%2e/secret.txt", "/./index.html",             "//secret.txt",
      "/leak.txt",              "/%2fetc%2fpasswd",          "/..",
      "/sdk/..%2f..%2fsecret.txt", "/%252e%252e/secret.txt",
  };
  for (const char* path : attempts) {
    INFO(path);
    const HttpResult result = http(server.port, "GET", path);
    REQUIRE(result.ok());
    CHECK((result.status == 404 || result.status == 400));
    CHECK(result.body.find("TOP SECRET") == std::string::npos);
  }
  const char* bad_bytes[] = {"/..%5csecret.txt", "/index.html%00.js", "/%zz", "/a%5cb"};
  for (const char* path : bad_bytes) {
    INFO(path);
    const HttpResult result = http(server.port, "GET", path);
    CHECK(result.status == 400);
    CHECK(result.body.find("path") != std::string::npos);
  }
  // The same over a raw socket, where no client library can tidy the target up.
  const std::string raw =
      raw_exchange(server.port, "GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK(raw.rfind("HTTP/1.1 404", 0) == 0);
  CHECK(raw.find("TOP SECRET") == std::string::npos);
}

TEST_CASE("HTML pages carry a strict CSP; the embed page's frame-ancestors come from the agent",
          "[static]") {
  Site site;
  NetServer server(site.config);
  const std::string host = "127.0.0.1:" + std::to_string(server.port);

  const HttpResult index = http(server.port, "GET", "/");
  const std::string csp = index.header("content-security-policy").value_or("");
  CHECK(csp.find("default-src 'self'") != std::string::npos);
  CHECK(csp.find("script-src 'self' 'wasm-unsafe-eval'") != std::string::npos);
  CHECK(csp.find("connect-src 'self' ws://" + host + " wss://" + host) != std::string::npos);
  CHECK(csp.find("img-src 'self' data:") != std::string::npos);
  CHECK(csp.find("style-src 'self'") != std::string::npos);
  CHECK(csp.find("frame-ancestors 'self'") != std::string::npos);

  const HttpResult embed = http(server.port, "GET", "/embed?id=demo&k=pk_demo");
  CHECK(embed.status == 200);
  CHECK(embed.body.find("embed") != std::string::npos);
  CHECK(embed.header("content-security-policy").value_or("").find(
            "frame-ancestors http://127.0.0.1:* https://shop.example") != std::string::npos);

  for (const char* target : {"/embed?id=nobody", "/embed", "/embed?id=closed"}) {
    INFO(target);
    const HttpResult page = http(server.port, "GET", target);
    CHECK(page.status == 200);
    CHECK(page.header("content-security-policy").value_or("").find("frame-ancestors 'none'") !=
          std::string::npos);
  }

  // Non-HTML files get no CSP; a Host header that is not a plain host stays out of it.
  CHECK(!http(server.port, "GET", "/app.js").header("content-security-policy"));
  // (A Host that is not host[:port] at all is refused before anything is served: issue 14.)
  CHECK(http(server.port, "GET", "/", "", {{"Host", "evil; script-src *"}}).status == 400);
  const HttpResult odd = http(server.port, "GET", "/", "", {{"Host", "evil;script-src"}});
  CHECK(odd.status == 200);
  const std::string odd_csp = odd.header("content-security-policy").value_or("");
  CHECK(odd_csp.find("evil") == std::string::npos);
  CHECK(odd_csp.find("connect-src 'self';") != std::string::npos);
}

TEST_CASE("an inline script's hash from the build's FILE.html.csp joins that page's script-src",
          "[static]") {
  Site site;
  const std::string good =
      "'sha256-bujMqAk5q80vG+I7MX6ZBJU7BCVPs0V1oQFnb9mDczg=' 'sha384-abc/DEF+0='";
  site.dir.write("web/embed.html.csp", good + "\n");
  NetServer server(site.config);
  const auto csp_of = [&](const char* target) {
    return http(server.port, "GET", target).header("content-security-policy").value_or("");
  };
  CHECK(csp_of("/embed?id=demo").find("script-src 'self' 'wasm-unsafe-eval' " + good + ";") !=
        std::string::npos);
  // Another page without a sidecar gets none of them.
  CHECK(csp_of("/").find("sha256") == std::string::npos);
  CHECK(csp_of("/").find("script-src 'self' 'wasm-unsafe-eval';") != std::string::npos);

  // A sidecar holding anything but hash sources widens nothing: it is ignored whole.
  for (const char* bad : {"'sha256-abc=' *", "'unsafe-inline'", "'sha256-abc='; img-src *",
                          "'sha1-abc='", "sha256-abc=", "'sha256-a b='", "'sha256-'"}) {
    INFO(bad);
    site.dir.write("web/embed.html.csp", bad);
    const std::string csp = csp_of("/embed?id=demo");
    CHECK(csp.find("script-src 'self' 'wasm-unsafe-eval'; connect-src") != std::string::npos);
    CHECK(csp.find("unsafe-inline") == std::string::npos);
    CHECK(csp.find('*', csp.find("script-src")) > csp.find("connect-src"));
  }
}

TEST_CASE("origins that are not CSP sources are left out of frame-ancestors", "[static]") {
  std::vector<host::AgentConfig> agents(1);
  agents[0].id = "a";
  agents[0].allowed_origins = {"https://ok.example", "https://x.example; script-src *",
                               "no-scheme.example", "http://127.0.0.1:*",
                               "HTTPS://Shop.Example:443"};
  // Each written as a browser writes it (the default port dropped, lowercase).
  CHECK(host::net::embed_frame_ancestors(agents, std::string_view("a")) ==
        "https://ok.example http://127.0.0.1:* https://shop.example");
  CHECK(host::net::embed_frame_ancestors(agents, std::string_view("b")) == "'none'");
  CHECK(host::net::embed_frame_ancestors(agents, std::nullopt) == "'none'");
}

TEST_CASE("without a web_root, static paths are 404 and the server still runs", "[static]") {
  auto config = net_test_config();
  config.server.web_root = "/nonexistent/parley/web";
  NetServer server(config);
  CHECK(http(server.port, "GET", "/").status == 404);
  CHECK(http(server.port, "GET", "/sdk/parley.wasm").status == 404);
  CHECK(http(server.port, "GET", "/embed?id=demo").status == 404);
  CHECK(http(server.port, "GET", "/healthz").status == 200);
}
