// Parks-McClellan (Remez exchange) design of a linear-phase lowpass FIR: an implementation
// detail of the resampler, in a header of its own so that the tests can check it directly.
#pragma once

#include <cstddef>
#include <vector>

namespace parley::audio::detail {

struct LowpassSpec {
  std::size_t length = 0;       // odd (type I filter)
  double pass_edge = 0.0;       // cycles per sample, 0 < pass_edge < stop_edge < 0.5
  double stop_edge = 0.0;
  double stop_weight = 1.0;     // weight of stopband error relative to passband error
};

struct LowpassDesign {
  bool ok = false;              // converged
  std::vector<double> taps;     // symmetric, unit gain in the passband
  double pass_deviation = 0.0;  // max |H - 1| in the passband
  double stop_deviation = 0.0;  // max |H| in the stopband
};

LowpassDesign design_lowpass_equiripple(const LowpassSpec& spec);

}  // namespace parley::audio::detail
