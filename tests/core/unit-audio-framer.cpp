// The 20 ms framer never loses or duplicates a sample, checked over one simulated hour of
// 16 kHz audio pushed in random chunk sizes (in memory: seconds, not an hour).
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "parley/audio/framer.hpp"

namespace pa = parley::audio;

TEST_CASE("one hour of samples comes out as exact consecutive frames", "[audio-framer]") {
  const std::uint64_t hour = 3600ull * pa::kWireRate;  // 57.6 M samples
  pa::Framer framer;
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> chunk(1, 4096);
  std::vector<std::int16_t> buf(4096);
  std::uint64_t next_in = 0, next_expected = 0, frames = 0;
  bool in_order = true, bytes_match = true;
  const auto on_frame = [&](const pa::FrameView& f) {
    in_order = in_order && f.sequence == frames;
    // Each sample carries (its index mod 65536); a frame must continue where the last ended.
    in_order = in_order && f.samples[0] == static_cast<std::int16_t>(next_expected & 0xFFFF) &&
               f.samples[pa::kFrameSamples - 1] ==
                   static_cast<std::int16_t>((next_expected + pa::kFrameSamples - 1) & 0xFFFF);
    bytes_match = bytes_match && f.bytes[0] == (next_expected & 0xFF) &&
                  f.bytes[1] == ((next_expected >> 8) & 0xFF);
    next_expected += pa::kFrameSamples;
    ++frames;
  };
  while (next_in < hour) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk(rng), hour - next_in));
    for (std::size_t i = 0; i < n; ++i) buf[i] = static_cast<std::int16_t>((next_in + i) & 0xFFFF);
    framer.push(buf.data(), n, on_frame);
    next_in += n;
  }
  CHECK(in_order);
  CHECK(bytes_match);
  CHECK(framer.samples_in() == hour);
  CHECK(frames == hour / pa::kFrameSamples);  // 180,000 frames, the hour divides evenly
  CHECK(framer.frames_out() == frames);
  CHECK(framer.pending() == 0);
  CHECK(framer.samples_in() == framer.frames_out() * pa::kFrameSamples + framer.pending());
}

TEST_CASE("every sample of a frame is the one pushed", "[audio-framer]") {
  pa::Framer framer;
  std::vector<std::int16_t> in(1000);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::int16_t>(i * 37 - 5000);
  std::vector<std::int16_t> out;
  const auto sink = [&](const pa::FrameView& f) {
    for (std::size_t i = 0; i < pa::kFrameSamples; ++i) {
      out.push_back(f.samples[i]);
      const auto u = static_cast<std::uint16_t>(f.samples[i]);
      REQUIRE(f.bytes[2 * i] == (u & 0xFF));
      REQUIRE(f.bytes[2 * i + 1] == (u >> 8));
    }
  };
  framer.push(in.data(), 333, sink);
  framer.push(in.data() + 333, 0, sink);
  framer.push(in.data() + 333, 667, sink);
  REQUIRE(out.size() == 960);  // three frames, 40 samples pending
  CHECK(framer.pending() == 40);
  CHECK(std::equal(out.begin(), out.end(), in.begin()));
}

TEST_CASE("float pushes encode into the same frames", "[audio-framer]") {
  // The capture chain's path: floats encoded straight into the frame, interleaved with
  // int16 pushes and cut at odd places, give what encoding first gives.
  std::vector<float> in(1500);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i % 97) / 48.0f - 1.01f;
  in[100] = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::int16_t> expected(in.size());
  pa::encode_pcm16(in.data(), in.size(), expected.data());

  pa::Framer framer;
  std::vector<std::int16_t> out;
  std::vector<std::uint8_t> bytes;
  const auto sink = [&](const pa::FrameView& f) {
    out.insert(out.end(), f.samples, f.samples + pa::kFrameSamples);
    bytes.insert(bytes.end(), f.bytes, f.bytes + 2 * pa::kFrameSamples);
  };
  framer.push_float(in.data(), 1, sink);
  framer.push_float(in.data() + 1, 450, sink);
  framer.push(expected.data() + 451, 49, sink);
  framer.push_float(in.data() + 500, 0, sink);
  framer.push_float(in.data() + 500, 1000, sink);
  REQUIRE(out.size() == 1280);  // four frames, 220 samples pending
  CHECK(framer.pending() == 220);
  CHECK(framer.samples_in() == 1500);
  CHECK(std::equal(out.begin(), out.end(), expected.begin()));
  CHECK(out[100] == 0);  // NaN
  CHECK(out[0] == -32768);  // clamped
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto u = static_cast<std::uint16_t>(out[i]);
    REQUIRE(bytes[2 * i] == (u & 0xFF));
    REQUIRE(bytes[2 * i + 1] == (u >> 8));
  }
}
