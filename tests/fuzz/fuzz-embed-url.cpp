// Embed URLs from strangers: any bytes in, a config or an Error out, never a crash. A config
// that comes out must meet every rule the parser promises, and survive make_embed_query; the
// URL it came from holds only bytes a browser can leave raw in location.href (never a space,
// `"`, `<`, `>`, a control or a non-ASCII byte: those a browser always percent-encodes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "parley/embed_url.hpp"
#include "parley/metadata.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();  // libFuzzer reports the input that broke an invariant
}

bool has_newline(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

void check_config(const parley::WidgetConfig& config) {
  require(!config.agent_id.empty() && !config.public_key.empty());
  require(!config.session_id || !config.session_id->empty());
  require(!config.integration_id || !config.integration_id->empty());
  require(config.metadata.is_object());
  require(parley::validate_metadata(config.metadata).ok());
  for (auto it = config.metadata.begin(); it != config.metadata.end(); ++it) {
    require(!parley::is_reserved_embed_parameter(it.key()));
    require(it.value().is_string() || (it.value().is_array() && it.value().size() >= 2));
  }
  // The query goes back to the same config, and so does the JSON form.
  std::string query = parley::make_embed_query(config);
  auto again = parley::parse_embed_url("/embed?" + query);
  require(again.ok() && *again == config);
  auto from_json = parley::widget_config_from_json(parley::to_json(config));
  require(from_json.ok() && *from_json == config);
  auto text = parley::parse_json(parley::config_json_text(config));
  require(text.ok() && *text == parley::to_json(config));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view url(reinterpret_cast<const char*>(data), size);
  auto config = parley::parse_embed_url(url);
  if (config) {
    for (const char ch : url) {
      const auto c = static_cast<unsigned char>(ch);
      require(c > 0x20 && c < 0x7F && c != '"' && c != '<' && c != '>');
    }
    check_config(*config);
  } else {
    require(!config.error().code.empty());
    require(!has_newline(config.error().message));  // stranger's bytes are quoted, escaped
  }
  return 0;
}
