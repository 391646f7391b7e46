// PCM16 <-> Float32 (DESIGN §3, §7): the wire carries 16-bit little-endian mono samples.
//
// Encoding scales by 32768, rounds to nearest (halves away from zero), and clamps, so +1.0
// gives 32767 and -1.0 gives -32768 (no wrap-around), 1.5 clamps, and NaN gives 0.
// Decoding divides by 32768, so -32768 -> -1.0 exactly and every value round-trips.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parley/result.hpp"

namespace parley::audio {

// Inline and branch-free: the capture chain converts every sample, and this loop then
// vectorises (SSE, wasm SIMD) or at least runs without jumps (scalar wasm).
inline std::int16_t float_to_pcm16(float sample) noexcept {
  float scaled = sample * 32768.0f;  // exact: a power of two
  scaled = scaled == scaled ? scaled : 0.0f;  // NaN
  scaled = scaled < -32768.0f ? -32768.0f : scaled;
  scaled = scaled > 32767.0f ? 32767.0f : scaled;
  // Truncate, then round the exact remainder: halves go away from zero. (Adding 0.5 first
  // would not do: 0.49999997f + 0.5f rounds up to 1 in float.)
  const auto whole = static_cast<std::int32_t>(scaled);
  const float rest = scaled - static_cast<float>(whole);  // exact, in (-1, 1)
  return static_cast<std::int16_t>(whole + (rest >= 0.5f ? 1 : 0) - (rest <= -0.5f ? 1 : 0));
}
inline float pcm16_to_float(std::int16_t sample) noexcept {
  return static_cast<float>(sample) * (1.0f / 32768.0f);
}

void encode_pcm16(const float* in, std::size_t count, std::int16_t* out) noexcept;
void decode_pcm16(const std::int16_t* in, std::size_t count, float* out) noexcept;

// Little-endian bytes, whatever the host's byte order: `out` receives 2 * count bytes.
void encode_pcm16_le(const float* in, std::size_t count, std::uint8_t* out) noexcept;
// `byte_count` must be even ("audio_odd_length" names the length otherwise); `out`
// receives byte_count / 2 samples. Nothing is written on error.
Status decode_pcm16_le(const std::uint8_t* bytes, std::size_t byte_count, float* out);

}  // namespace parley::audio
