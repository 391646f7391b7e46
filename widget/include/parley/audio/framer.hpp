// Cuts a stream of PCM16 samples into fixed frames (DESIGN §7: 20 ms = 320 samples at
// 16 kHz = 640 bytes). Never loses or duplicates a sample: after any sequence of pushes,
// samples_in() == frames_out() * frame_size() + pending().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

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
    samples_in_ += count;
    while (count > 0) {
      const std::size_t n = count < kFrameSamples - pending_ ? count : kFrameSamples - pending_;
      std::memcpy(samples_.data() + pending_, samples, n * sizeof(std::int16_t));
      pending_ += n;
      samples += n;
      count -= n;
      if (pending_ == kFrameSamples) {
        fill_bytes();
        on_frame(FrameView{samples_.data(), bytes_.data(), frames_out_});
        ++frames_out_;
        pending_ = 0;
      }
    }
  }
  static constexpr std::size_t frame_size() noexcept { return kFrameSamples; }
  std::uint64_t samples_in() const noexcept { return samples_in_; }
  std::uint64_t frames_out() const noexcept { return frames_out_; }
  std::size_t pending() const noexcept { return pending_; }

 private:
  // The little-endian wire bytes of a completed frame.
  void fill_bytes() noexcept {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    std::memcpy(bytes_.data(), samples_.data(), sizeof samples_);  // already in wire order
#else
    for (std::size_t i = 0; i < kFrameSamples; ++i) {
      const auto v = static_cast<std::uint16_t>(samples_[i]);
      bytes_[2 * i] = static_cast<std::uint8_t>(v & 0xFF);
      bytes_[2 * i + 1] = static_cast<std::uint8_t>(v >> 8);
    }
#endif
  }

  std::array<std::int16_t, kFrameSamples> samples_{};
  std::array<std::uint8_t, 2 * kFrameSamples> bytes_{};
  std::size_t pending_ = 0;
  std::uint64_t samples_in_ = 0;
  std::uint64_t frames_out_ = 0;
};

}  // namespace parley::audio
