// PCM16 conversion edges (issue 3): +1.0 -> 32767, -1.0 -> -32768, clamping, NaN -> 0,
// round to nearest; little-endian bytes; every 16-bit value round-trips.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "parley/audio/pcm16.hpp"
#include "vectors.hpp"

namespace pa = parley::audio;

namespace {

float vector_float(const parley::json& v) {
  if (v.is_number()) return v.get<float>();
  const auto s = v.get<std::string>();
  if (s == "nan") return std::numeric_limits<float>::quiet_NaN();
  if (s == "-nan") return -std::numeric_limits<float>::quiet_NaN();
  if (s == "inf") return std::numeric_limits<float>::infinity();
  if (s == "-inf") return -std::numeric_limits<float>::infinity();
  FAIL("unknown float spelling " << s);
  return 0;
}

}  // namespace

TEST_CASE("encoding rounds to nearest, clamps, and maps NaN to 0", "[audio-pcm16]") {
  const auto vectors = parley::test::load_vectors("audio-pcm16");  // outlives the loop
  for (const auto& vec : vectors["encode"]) {
    const float in = vector_float(vec["in"]);
    INFO("in " << vec["in"].dump());
    CHECK(pa::float_to_pcm16(in) == vec["out"].get<int>());
  }
}

TEST_CASE("every 16-bit value round-trips through float", "[audio-pcm16]") {
  for (int v = -32768; v <= 32767; ++v) {
    const auto s = static_cast<std::int16_t>(v);
    REQUIRE(pa::float_to_pcm16(pa::pcm16_to_float(s)) == s);
  }
  CHECK(pa::pcm16_to_float(-32768) == -1.0f);
}

TEST_CASE("block encoding matches the sample function", "[audio-pcm16]") {
  std::vector<float> in;
  for (int i = -40000; i <= 40000; i += 7) in.push_back(static_cast<float>(i) / 32768.0f + 0.3e-5f);
  std::vector<std::int16_t> out(in.size());
  pa::encode_pcm16(in.data(), in.size(), out.data());
  for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(out[i] == pa::float_to_pcm16(in[i]));
  std::vector<float> back(in.size());
  pa::decode_pcm16(out.data(), out.size(), back.data());
  for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(back[i] == pa::pcm16_to_float(out[i]));
}

TEST_CASE("little-endian bytes on the wire", "[audio-pcm16]") {
  const auto v = parley::test::load_vectors("audio-pcm16")["le_bytes"];
  const auto in = v["in"].get<std::vector<float>>();
  const auto expected = v["bytes"].get<std::vector<std::uint8_t>>();
  std::vector<std::uint8_t> bytes(2 * in.size());
  pa::encode_pcm16_le(in.data(), in.size(), bytes.data());
  CHECK(bytes == expected);
  std::vector<float> back(in.size());
  REQUIRE(pa::decode_pcm16_le(bytes.data(), bytes.size(), back.data()).ok());
  for (std::size_t i = 0; i < in.size(); ++i) {
    CHECK(pa::float_to_pcm16(back[i]) == pa::float_to_pcm16(in[i]));
  }
}

TEST_CASE("an odd number of bytes is refused naming the length", "[audio-pcm16]") {
  const std::uint8_t bytes[3] = {1, 2, 3};
  float out[2] = {7.0f, 7.0f};
  auto s = pa::decode_pcm16_le(bytes, 3, out);
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == "audio_odd_length");
  CHECK_THAT(s.error().message, Catch::Contains("3 bytes") && Catch::Contains("even"));
  CHECK(out[0] == 7.0f);  // nothing written
}
