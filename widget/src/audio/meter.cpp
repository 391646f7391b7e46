#include "parley/audio/meter.hpp"

#include <cmath>

#include "parley/audio/dsp_math.hpp"

namespace parley::audio {

float amplitude_to_dbfs(double amplitude) noexcept {
  const double floor_amplitude = 1e-6;  // kSilenceDbfs
  if (!(amplitude > floor_amplitude)) return kSilenceDbfs;
  return static_cast<float>(detail::power_to_db(amplitude * amplitude));
}

Level measure_level(const float* samples, std::size_t count) noexcept {
  if (count == 0) return Level{};
  double sum_squares = 0.0, peak = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    const double v = samples[i] == samples[i] ? std::fabs(static_cast<double>(samples[i])) : 0.0;
    sum_squares += v * v;
    if (v > peak) peak = v;
  }
  return Level{amplitude_to_dbfs(std::sqrt(sum_squares / static_cast<double>(count))),
               amplitude_to_dbfs(peak)};
}

}  // namespace parley::audio
