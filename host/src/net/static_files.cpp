#include "static_files.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

#include "parley/host/log.hpp"
#include "parley/json.hpp"
#include "parley/origin.hpp"

namespace parley::host::net {
namespace fs = std::filesystem;

namespace {

// Files bigger than this are not served from memory (the wasm build is a few MiB).
constexpr std::uintmax_t max_static_file_bytes = 64u * 1024u * 1024u;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A Host header we are willing to echo into a CSP: host name / IPv4 / [IPv6], optional port.
bool is_plain_host(std::string_view host) {
  if (host.empty() || host.size() > 255) return false;
  for (const char c : host) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ||
                    c == ':' || c == '[' || c == ']';
    if (!ok) return false;
  }
  return true;
}

// True when `inner` is `root` or below it (both canonical).
bool is_within(const fs::path& root, const fs::path& inner) {
  auto r = root.begin();
  auto i = inner.begin();
  for (; r != root.end(); ++r, ++i) {
    if (i == inner.end() || *r != *i) return false;
  }
  return true;
}

// Path segments must be ordinary names: no "", ".", "..".
bool has_only_plain_segments(std::string_view relative) {
  std::size_t start = 0;
  while (start <= relative.size()) {
    const std::size_t end = std::min(relative.find('/', start), relative.size());
    const std::string_view segment = relative.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string etag_for(std::uintmax_t size, fs::file_time_type modified) {
  std::ostringstream out;
  out << '"' << std::hex << size << '-'
      << static_cast<std::uint64_t>(modified.time_since_epoch().count()) << '"';
  return out.str();
}

// If-None-Match: a comma-separated list of (possibly weak) tags, or "*".
bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  std::size_t start = 0;
  while (start < if_none_match.size()) {
    std::size_t end = if_none_match.find(',', start);
    if (end == std::string_view::npos) end = if_none_match.size();
    std::string_view tag = if_none_match.substr(start, end - start);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    start = end + 1;
  }
  return false;
}

// The q-value a client gives `coding` in Accept-Encoding (RFC 9110 12.5.3): its own entry,
// else "*", else 0 (not acceptable). A missing q is 1; "q=0" refuses the coding.
double accepted_q(std::string_view accept, std::string_view coding) {
  double own = -1, any = -1;
  std::size_t start = 0;
  while (start < accept.size()) {
    std::size_t end = accept.find(',', start);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view item = accept.substr(start, end - start);
    start = end + 1;
    const std::size_t semi = item.find(';');
    std::string_view name = item.substr(0, semi);
    while (!name.empty() && (name.front() == ' ' || name.front() == '\t')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    double q = 1;
    if (semi != std::string_view::npos) {
      std::string params = lowercase(item.substr(semi + 1));
      params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
      if (params.rfind("q=", 0) == 0) {
        // "0", "0.", "0.000" are zero; anything else that starts with a digit counts as a yes
        // (q is a weight, and we only need zero or not).
        const std::string value = params.substr(2, params.find(';', 2) - 2);
        q = value.find_first_not_of("0.") == std::string::npos ? 0 : 1;
        if (value.empty() || !std::isdigit(static_cast<unsigned char>(value[0]))) q = 0;
      }
    }
    const std::string lower_name = lowercase(name);
    if (lower_name == coding) own = q;
    else if (lower_name == "*") any = q;
  }
  return own >= 0 ? own : any >= 0 ? any : 0;
}

// A content-hashed name, as the SDK build writes them: "<name>.<10+ hex digits>.<ext>"
// ("parley-core.3f9a01c2bd.wasm"). Its bytes never change, so it is cached for a year.
bool is_content_hashed(std::string_view filename) {
  const std::size_t last = filename.rfind('.');
  if (last == std::string_view::npos || last == 0) return false;
  const std::size_t before = filename.rfind('.', last - 1);
  if (before == std::string_view::npos) return false;
  const std::string_view hash = filename.substr(before + 1, last - before - 1);
  if (hash.size() < 10 || hash.size() > 64) return false;
  return std::all_of(hash.begin(), hash.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

HttpResponse not_found() { return json_error(404, "not_found", "no such path"); }

struct Target {
  std::string root;      // the configured directory
  std::string relative;  // file below it, "/"-separated, no leading '/'
  bool embed = false;    // the embed page: frame-ancestors from the agent
};

// A CSP hash source as the build writes them: 'sha256-BASE64' (or sha384, sha512).
bool is_hash_source(std::string_view word) {
  if (word.size() < 10 || word.front() != '\'' || word.back() != '\'') return false;
  word = word.substr(1, word.size() - 2);
  const bool known = word.rfind("sha256-", 0) == 0 || word.rfind("sha384-", 0) == 0 ||
                     word.rfind("sha512-", 0) == 0;
  if (!known) return false;
  word.remove_prefix(7);
  while (!word.empty() && word.back() == '=') word.remove_suffix(1);
  return !word.empty() && std::all_of(word.begin(), word.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '+' || c == '/';
  });
}

// The hash sources of the inline scripts of a page the build wrote (FILE.html.csp beside
// FILE.html, wasm/tools/bundle.mjs), for its script-src; "" when there is none. A sidecar
// holding anything else is ignored (and logged): the page's inline scripts are then refused
// by the browser, which the page survives (embed-early.js only makes a load faster).
std::string inline_script_hashes(const fs::path& html_file) {
  fs::path sidecar = html_file;
  sidecar += ".csp";
  std::error_code ec;
  if (!fs::is_regular_file(sidecar, ec)) return {};
  if (fs::file_size(sidecar, ec) > 4096 || ec) {
    log_event(LogLevel::warn, "http.static.csp_sidecar", "file=" + sidecar.string() + " is over 4 KiB; ignored");
    return {};
  }
  std::ifstream in(sidecar, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Only hash sources, so that nothing in the file can end the directive or widen it.
  std::string hashes;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    if (!is_hash_source(word)) {
      log_event(LogLevel::warn, "http.static.csp_sidecar",
                "file=" + sidecar.string() + " holds something other than hash sources; ignored");
      return {};
    }
    if (!hashes.empty()) hashes += ' ';
    hashes += word;
  }
  return hashes;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    const std::size_t equals = pair.find('=');
    const std::string_view key = pair.substr(0, equals);
    if (auto decoded_key = percent_decode(key, true); decoded_key && *decoded_key == name) {
      if (equals == std::string_view::npos) return std::string();
      return percent_decode(pair.substr(equals + 1), true);
    }
    start = end + 1;
  }
  return std::nullopt;
}

HttpResponse json_error(unsigned status, std::string_view code, std::string_view message) {
  HttpResponse response;
  response.status = status;
  json body = json::object();
  body["error"] = json{{"code", std::string(code)}, {"message", std::string(message)}};
  response.body = to_json_text(body);
  return response;
}

std::string_view content_type_for(std::string_view filename) {
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json; charset=utf-8"},
      {".map", "application/json; charset=utf-8"},
      {".wasm", "application/wasm"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".md", "text/markdown; charset=utf-8"},
      {".d.ts", "application/typescript; charset=utf-8"},
      {".ts", "application/typescript; charset=utf-8"},
      {".woff2", "font/woff2"},
      {".wav", "audio/wav"},
  };
  const std::string lower = lowercase(filename);
  for (const auto& [extension, type] : types)
    if (ends_with(lower, extension)) return type;
  return "application/octet-stream";
}

std::string content_security_policy(std::optional<std::string_view> host,
                                    std::string_view frame_ancestors,
                                    std::string_view script_hashes) {
  std::string csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";
  if (!script_hashes.empty()) {
    csp += ' ';
    csp += script_hashes;
  }
  csp += "; connect-src 'self'";
  if (host && is_plain_host(*host)) {
    csp += " ws://";
    csp += *host;
    csp += " wss://";
    csp += *host;
  }
  csp += "; img-src 'self' data:; style-src 'self'; frame-ancestors ";
  csp += frame_ancestors;
  return csp;
}

std::string embed_frame_ancestors(const std::vector<AgentConfig>& agents,
                                  std::optional<std::string_view> agent_id) {
  if (!agent_id) return "'none'";
  for (const auto& agent : agents) {
    if (agent.id != *agent_id) continue;
    std::string sources;
    // Each as a browser writes it (parley/origin.hpp): only scheme, host and port characters,
    // so nothing in a config can end the directive or add another.
    for (const auto& text : agent.allowed_origins) {
      auto origin = parse_allowed_origin(text);
      if (!origin) continue;
      if (!sources.empty()) sources += ' ';
      sources += to_string(*origin);
    }
    return sources.empty() ? "'none'" : sources;
  }
  return "'none'";
}

HttpResponse serve_static(const HttpRequest& request, const HostConfig& config) {
  const auto decoded = percent_decode(request.path);
  if (!decoded) return json_error(400, "bad_path", "path: malformed percent escape");
  if (decoded->find('\0') != std::string::npos || decoded->find('\\') != std::string::npos)
    return json_error(400, "bad_path", "path: NUL and backslash are not allowed");
  if (decoded->empty() || decoded->front() != '/')
    return json_error(400, "bad_path", "path: must start with '/'");

  Target target;
  const std::string& path = *decoded;
  if (path == "/") {
    target = {config.server.web_root, "index.html", false};
  } else if (path == "/embed") {
    target = {config.server.web_root, "embed.html", true};
  } else if (path.rfind("/sdk/", 0) == 0) {
    target = {config.server.wasm_root, path.substr(5), false};
  } else {
    target = {config.server.web_root, path.substr(1), false};
  }
  if (target.relative.empty() || target.relative.back() == '/') target.relative += "index.html";
  if (target.root.empty() || !has_only_plain_segments(target.relative)) return not_found();

  std::error_code ec;
  const fs::path root = fs::canonical(target.root, ec);
  if (ec) return not_found();
  fs::path file = fs::canonical(root / fs::path(target.relative), ec);
  if (ec) return not_found();
  if (!is_within(root, file)) {
    log_event(LogLevel::warn, "http.static.outside_root", "path=" + request.path);
    return not_found();
  }
  if (fs::is_directory(file, ec)) {
    file = fs::canonical(file / "index.html", ec);
    if (ec || !is_within(root, file)) return not_found();
  }
  if (!fs::is_regular_file(file, ec)) return not_found();
  std::uintmax_t size = fs::file_size(file, ec);
  if (ec || size > max_static_file_bytes) return not_found();
  auto modified = fs::last_write_time(file, ec);
  if (ec) return not_found();

  HttpResponse response;
  const std::string filename = file.filename().string();
  response.content_type = std::string(content_type_for(filename));

  // A compressed copy the build wrote beside the file (FILE.br, FILE.gz), chosen by the
  // client's Accept-Encoding; nothing is compressed here. A copy older than its file is stale
  // and never sent. Vary tells caches that the answer depends on Accept-Encoding.
  static constexpr std::pair<std::string_view, std::string_view> codings[] = {{"br", ".br"},
                                                                               {"gzip", ".gz"}};
  const std::string_view accept = request.header("accept-encoding").value_or("");
  fs::path chosen = file;
  bool has_variant = false;
  for (const auto& [coding, suffix] : codings) {
    fs::path variant = file;
    variant += std::string(suffix);
    std::error_code vec;
    variant = fs::canonical(variant, vec);  // a symlink must not lead out of the root either
    if (vec || !is_within(root, variant) || !fs::is_regular_file(variant, vec)) continue;
    const auto variant_modified = fs::last_write_time(variant, vec);
    const std::uintmax_t variant_size = fs::file_size(variant, vec);
    if (vec || variant_modified < modified || variant_size > max_static_file_bytes) continue;
    has_variant = true;
    if (chosen != file || accepted_q(accept, coding) <= 0) continue;
    chosen = variant;
    size = variant_size;
    modified = variant_modified;
    response.headers.emplace_back("Content-Encoding", std::string(coding));
  }
  if (has_variant) response.headers.emplace_back("Vary", "Accept-Encoding");

  const std::string etag = etag_for(size, modified);
  response.headers.emplace_back("ETag", etag);
  response.headers.emplace_back("Cache-Control", is_content_hashed(filename)
                                                     ? "public, max-age=31536000, immutable"
                                                     : "no-cache");
  if (response.content_type.rfind("text/html", 0) == 0) {
    const std::string ancestors =
        target.embed ? embed_frame_ancestors(config.agents, query_param(request.query, "id"))
                     : std::string("'self'");
    response.headers.emplace_back("Content-Security-Policy",
                                  content_security_policy(request.header("host"), ancestors,
                                                          inline_script_hashes(file)));
  }
  if (const auto if_none_match = request.header("if-none-match");
      if_none_match && etag_matches(*if_none_match, etag)) {
    response.status = 304;
    return response;
  }

  std::ifstream in(chosen, std::ios::binary);
  if (!in) return not_found();
  response.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (response.body.size() != size) return json_error(500, "internal", "file changed while read");
  return response;
}

}  // namespace parley::host::net
