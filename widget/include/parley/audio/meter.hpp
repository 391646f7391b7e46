// Level meters for the UI (DESIGN §7): RMS and peak of a block (one 128-frame quantum), in
// dBFS where 0 dBFS is a full-scale square wave (a full-scale sine reads -3.01 dB RMS).
// Silence reads kSilenceDbfs rather than -infinity.
#pragma once

#include <cstddef>

namespace parley::audio {

inline constexpr float kSilenceDbfs = -120.0f;

struct Level {
  float rms_dbfs = kSilenceDbfs;
  float peak_dbfs = kSilenceDbfs;
};

// count == 0 reads as silence. NaN samples count as 0.
Level measure_level(const float* samples, std::size_t count) noexcept;

// 20*log10(amplitude), floored at kSilenceDbfs.
float amplitude_to_dbfs(double amplitude) noexcept;

}  // namespace parley::audio
