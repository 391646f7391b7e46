// Cuts a stream of PCM16 samples into fixed frames (DESIGN §7: 20 ms = 320 samples at
// 16 kHz = 640 bytes). Never loses or duplicates a sample: after any sequence of pushes,
// samples_in() == frames_out() * frame_size() + pending().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "parley/audio/pcm16.hpp"

namespace parley::audio {

inline constexpr std::size_t kFrameSamples = 320;  // 20 ms at 16 kHz
inline constexpr int kWireRate = 16000;
inline constexpr std::size_t kRenderQuantum = 128;  // Web Audio render quantum, in frames

struct FrameView {
  const std::int16_t* samples;  // kFrameSamples samples
  const std::uint8_t* bytes;    // the same samples as 2 * kFrameSamples little-endian bytes
  std::uint64_t sequence;       // 0, 1, 2, ...: frame index since creation
};

class Framer {
 public:
  // Calls on_frame(const FrameView&) for every completed frame, in order.
  template <class OnFrame>
  void push(const std::int16_t* samples, std::size_t count, OnFrame&& on_frame) {
    fill(count, on_frame, [&samples](std::int16_t* to, std::size_t n) {
      std::memcpy(to, samples, n * sizeof(std::int16_t));
      samples += n;
    });
  }
  // The same for float samples, encoded to PCM16 (float_to_pcm16) straight into the frame:
  // the capture chain's path, with no buffer or copy in between.
  template <class OnFrame>
  void push_float(const float* samples, std::size_t count, OnFrame&& on_frame) {
    fill(count, on_frame, [&samples](std::int16_t* to, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) to[i] = float_to_pcm16(samples[i]);
      samples += n;
    });
  }

  static constexpr std::size_t frame_size() noexcept { return kFrameSamples; }
  std::uint64_t samples_in() const noexcept { return samples_in_; }
  std::uint64_t frames_out() const noexcept { return frames_out_; }
  std::size_t pending() const noexcept { return pending_; }

 private:
  // Writes `count` samples into the frame being filled, write(to, n) at a time, and hands
  // out every frame that completes.
  template <class OnFrame, class Write>
  void fill(std::size_t count, OnFrame& on_frame, Write&& write) {
    samples_in_ += count;
    while (count > 0) {
      const std::size_t n = count < kFrameSamples - pending_ ? count : kFrameSamples - pending_;
      write(samples_.data() + pending_, n);
      pending_ += n;
      count -= n;
      if (pending_ == kFrameSamples) {
        on_frame(FrameView{samples_.data(), wire_bytes(), frames_out_});
        ++frames_out_;
        pending_ = 0;
      }
    }
  }

  // The little-endian wire bytes of a completed frame: the samples themselves on a
  // little-endian host (reading an object's bytes through unsigned char is allowed).
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  const std::uint8_t* wire_bytes() noexcept { return reinterpret_cast<const std::uint8_t*>(samples_.data()); }
#else
  const std::uint8_t* wire_bytes() noexcept {
    for (std::size_t i = 0; i < kFrameSamples; ++i) {
      const auto v = static_cast<std::uint16_t>(samples_[i]);
      bytes_[2 * i] = static_cast<std::uint8_t>(v & 0xFF);
      bytes_[2 * i + 1] = static_cast<std::uint8_t>(v >> 8);
    }
    return bytes_.data();
  }
  std::array<std::uint8_t, 2 * kFrameSamples> bytes_{};
#endif

  std::array<std::int16_t, kFrameSamples> samples_{};
  std::size_t pending_ = 0;
  std::uint64_t samples_in_ = 0;
  std::uint64_t frames_out_ = 0;
};

}  // namespace parley::audio
