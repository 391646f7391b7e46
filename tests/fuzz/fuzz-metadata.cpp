// Metadata from strangers: any JSON text, parsed and validated, must give a value or an Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "parley/json.hpp"
#include "parley/metadata.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parley::parse_json(text, "metadata");
  if (parsed) {
    auto status = parley::validate_metadata(*parsed);
    if (status) (void)parley::to_json_text(*parsed);
  }
  return 0;
}
