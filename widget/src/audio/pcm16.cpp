#include "parley/audio/pcm16.hpp"

#include <string>

namespace parley::audio {

void encode_pcm16(const float* in, std::size_t count, std::int16_t* out) noexcept {
  for (std::size_t i = 0; i < count; ++i) out[i] = float_to_pcm16(in[i]);
}

void decode_pcm16(const std::int16_t* in, std::size_t count, float* out) noexcept {
  for (std::size_t i = 0; i < count; ++i) out[i] = pcm16_to_float(in[i]);
}

void encode_pcm16_le(const float* in, std::size_t count, std::uint8_t* out) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    const auto v = static_cast<std::uint16_t>(float_to_pcm16(in[i]));
    out[2 * i] = static_cast<std::uint8_t>(v & 0xFF);
    out[2 * i + 1] = static_cast<std::uint8_t>(v >> 8);
  }
}

Status decode_pcm16_le(const std::uint8_t* bytes, std::size_t byte_count, float* out) {
  if (byte_count % 2 != 0) {
    return make_error("audio_odd_length", "PCM16 audio is " + std::to_string(byte_count) +
                                              " bytes; it must be an even number of bytes");
  }
  for (std::size_t i = 0; i < byte_count / 2; ++i) {
    const auto v = static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    out[i] = pcm16_to_float(static_cast<std::int16_t>(v));
  }
  return ok_status();
}

}  // namespace parley::audio
