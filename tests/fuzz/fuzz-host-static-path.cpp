// Static paths from strangers: whatever the request path, the host serves only files inside
// web_root (or wasm_root under /sdk/), never a file beside them, and answers every path with
// a status, never a crash. The roots are made once per process in a temp dir: a web root with
// a page, an SDK root with a module, and a secret file next to both, also reachable by a
// symlink inside the web root.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "net/static_files.hpp"
#include "parley/host/config.hpp"

namespace {

namespace fs = std::filesystem;
constexpr std::string_view secret_text = "SECRET-OUTSIDE-THE-ROOTS";

void write(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

const parley::host::HostConfig& config() {
  static parley::host::HostConfig c = [] {
    const fs::path base = fs::temp_directory_path() / ("parley-fuzz-static-" + std::to_string(getpid()));
    write(base / "web" / "index.html", "<!doctype html><title>index</title>");
    write(base / "web" / "embed.html", "<!doctype html><title>embed</title>");
    write(base / "web" / "a" / "b.js", "export const b = 1;");
    write(base / "sdk" / "parley.mjs", "export {};");
    write(base / "secret.txt", secret_text);
    write(base / "web" / "..hidden", "dots in a name are fine");
    std::error_code ec;
    fs::create_symlink(base / "secret.txt", base / "web" / "link.txt", ec);
    parley::host::HostConfig made;
    made.server.web_root = (base / "web").string();
    made.server.wasm_root = (base / "sdk").string();
    return made;
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string target(reinterpret_cast<const char*>(data), size);
  parley::host::HttpRequest request;
  request.method = "GET";
  const auto q = target.find('?');
  request.path = target.substr(0, q);
  request.query = q == std::string::npos ? "" : target.substr(q + 1);
  request.target = target;
  request.headers.emplace_back("host", "127.0.0.1:8080");
  const parley::host::HttpResponse response = parley::host::net::serve_static(request, config());
  if (response.status != 200 && response.status != 304 && response.status != 400 &&
      response.status != 404)
    std::abort();
  if (response.body.find(secret_text) != std::string::npos) std::abort();  // escaped a root
  return 0;
}
