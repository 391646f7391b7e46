#include "parley/audio/remez.hpp"

#include <algorithm>
#include <cmath>

#include "parley/audio/dsp_math.hpp"

namespace parley::audio::detail {
namespace {

// A type I filter of length 2r-1 has amplitude A(w) = sum_{k<r} a_k cos(k w), a polynomial of
// degree r-1 in x = cos w. The exchange keeps r+1 extremal frequencies where the weighted
// error alternates with equal magnitude; the polynomial through r of them is evaluated in
// barycentric form.
struct GridPoint {
  double x, desired, weight;  // x = cos(omega)
};

// Barycentric weights 1 / prod_{j != k} (x_k - x_j), scaled to avoid under/overflow: only
// their ratios matter, so they are computed as logarithms and normalized by the largest.
std::vector<double> barycentric_weights(const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<double> log_mag(n, 0.0), sign(n, 1.0);
  for (std::size_t k = 0; k < n; ++k) {
    for (std::size_t j = 0; j < n; ++j) {
      if (j == k) continue;
      const double d = x[k] - x[j];
      log_mag[k] -= std::log(std::fabs(d));
      if (d < 0) sign[k] = -sign[k];
    }
  }
  const double top = *std::max_element(log_mag.begin(), log_mag.end());
  std::vector<double> w(n);
  for (std::size_t k = 0; k < n; ++k) w[k] = sign[k] * std::exp(log_mag[k] - top);
  return w;
}

}  // namespace

LowpassDesign design_lowpass_equiripple(const LowpassSpec& spec) {
  LowpassDesign out;
  if (spec.length < 3 || spec.length % 2 == 0 || !(spec.pass_edge > 0) ||
      !(spec.stop_edge > spec.pass_edge) || !(spec.stop_edge < 0.5)) {
    return out;
  }
  const std::size_t r = (spec.length + 1) / 2;  // cosine terms
  // Dense grid, about 16 points per extremal, spread over both bands by their widths.
  const double pass_w = 2 * kPi * spec.pass_edge, stop_w = 2 * kPi * spec.stop_edge;
  const std::size_t total = 16 * (r + 1);
  const double span = pass_w + (kPi - stop_w);
  const auto pass_n = std::max<std::size_t>(static_cast<std::size_t>(static_cast<double>(total) * pass_w / span), 8);
  const auto stop_n = std::max<std::size_t>(total - pass_n, 8);
  std::vector<GridPoint> grid;
  grid.reserve(pass_n + stop_n);
  // Frequencies in turns (cycles per sample): cos_turns(f) is cos(2 pi f).
  for (std::size_t i = 0; i < pass_n; ++i) {
    const double f = spec.pass_edge * static_cast<double>(i) / static_cast<double>(pass_n - 1);
    grid.push_back({cos_turns(f), 1.0, 1.0});
  }
  for (std::size_t i = 0; i < stop_n; ++i) {
    const double f = spec.stop_edge + (0.5 - spec.stop_edge) * static_cast<double>(i) / static_cast<double>(stop_n - 1);
    grid.push_back({cos_turns(f), 0.0, spec.stop_weight});
  }
  const std::size_t g = grid.size();

  std::vector<std::size_t> ext(r + 1);
  for (std::size_t k = 0; k <= r; ++k) ext[k] = k * (g - 1) / r;

  std::vector<double> ex(r + 1), y(r), bw, error(g);
  double delta = 0.0;
  std::vector<double> xs(r), ys(r), ws(r);
  for (int iteration = 0; iteration < 60; ++iteration) {
    for (std::size_t k = 0; k <= r; ++k) ex[k] = grid[ext[k]].x;
    const auto b = barycentric_weights(ex);
    double num = 0.0, den = 0.0;
    for (std::size_t k = 0; k <= r; ++k) {
      const auto& p = grid[ext[k]];
      num += b[k] * p.desired;
      den += b[k] * (k % 2 ? -1.0 : 1.0) / p.weight;
    }
    delta = num / den;
    // Interpolate through the first r extremals.
    for (std::size_t k = 0; k < r; ++k) {
      const auto& p = grid[ext[k]];
      xs[k] = p.x;
      ys[k] = p.desired - (k % 2 ? -1.0 : 1.0) * delta / p.weight;
    }
    ws = barycentric_weights(xs);
    const auto amplitude = [&](double x) {
      double n = 0.0, d = 0.0;
      for (std::size_t k = 0; k < r; ++k) {
        const double diff = x - xs[k];
        if (std::fabs(diff) < 1e-15) return ys[k];
        const double t = ws[k] / diff;
        n += t * ys[k];
        d += t;
      }
      return n / d;
    };
    for (std::size_t i = 0; i < g; ++i) error[i] = grid[i].weight * (grid[i].desired - amplitude(grid[i].x));

    // New extremals: signed local extrema of the error within each band (a band edge has
    // one neighbour), at least as large as the current deviation.
    std::vector<std::size_t> cand;
    for (std::size_t i = 0; i < g; ++i) {
      const bool band_start = i == 0 || i == pass_n;
      const bool band_end = i == g - 1 || i == pass_n - 1;
      const double e = error[i];
      const double left = band_start ? (e > 0 ? -1e300 : 1e300) : error[i - 1];
      const double right = band_end ? (e > 0 ? -1e300 : 1e300) : error[i + 1];
      const bool peak = e > 0 ? (e >= left && e >= right) : (e <= left && e <= right);
      if (peak && std::fabs(e) >= std::fabs(delta) * 0.999) cand.push_back(i);
    }
    // Merge neighbours of equal sign, keeping the larger.
    std::vector<std::size_t> alt;
    for (std::size_t i : cand) {
      if (!alt.empty() && (error[i] > 0) == (error[alt.back()] > 0)) {
        if (std::fabs(error[i]) > std::fabs(error[alt.back()])) alt.back() = i;
      } else {
        alt.push_back(i);
      }
    }
    // Too many: drop the smaller end until r+1 remain.
    while (alt.size() > r + 1) {
      if (std::fabs(error[alt.front()]) < std::fabs(error[alt.back()])) {
        alt.erase(alt.begin());
      } else {
        alt.pop_back();
      }
    }
    if (alt.size() < r + 1) break;  // lost alternation: report failure (ok stays false)
    double max_err = 0.0;
    for (std::size_t i : alt) max_err = std::max(max_err, std::fabs(error[i]));
    const bool same = std::equal(alt.begin(), alt.end(), ext.begin());
    ext = alt;
    if (same || max_err - std::fabs(delta) <= 1e-6 * std::fabs(delta)) {
      out.ok = true;
      break;
    }
  }
  if (!out.ok) return out;

  // Taps from the amplitude response sampled at N frequencies (type I: a cosine series).
  const std::size_t n = spec.length;
  const std::size_t half = (n - 1) / 2;
  std::vector<double> a(half + 1);
  std::vector<double> amp(half + 1);
  {
    // Recompute the final interpolant on the settled extremal set.
    for (std::size_t k = 0; k < r; ++k) {
      const auto& p = grid[ext[k]];
      xs[k] = p.x;
      ys[k] = p.desired - (k % 2 ? -1.0 : 1.0) * delta / p.weight;
    }
    ws = barycentric_weights(xs);
    for (std::size_t m = 0; m <= half; ++m) {
      const double x = cos_turns(static_cast<double>(m) / static_cast<double>(n));
      double num = 0.0, den = 0.0, exact = 0.0;
      bool hit = false;
      for (std::size_t k = 0; k < r && !hit; ++k) {
        const double diff = x - xs[k];
        if (std::fabs(diff) < 1e-15) {
          exact = ys[k];
          hit = true;
          break;
        }
        const double t = ws[k] / diff;
        num += t * ys[k];
        den += t;
      }
      amp[m] = hit ? exact : num / den;
    }
  }
  out.taps.assign(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    // h[i] = (1/N) [A(0) + 2 sum_{m=1}^{half} A(w_m) cos(w_m (i - half))]
    // w_m (i - half) in whole turns is m (i - half) / N: reduced mod N exactly in integers.
    double s = amp[0];
    const auto offset = static_cast<long long>(i) - static_cast<long long>(half);
    const auto period = static_cast<long long>(n);
    for (std::size_t m = 1; m <= half; ++m) {
      const long long turns_n = static_cast<long long>(m) * offset % period;
      s += 2.0 * amp[m] * cos_turns(static_cast<double>(turns_n) / static_cast<double>(n));
    }
    out.taps[i] = s / static_cast<double>(n);
  }
  out.pass_deviation = std::fabs(delta);
  out.stop_deviation = std::fabs(delta) / spec.stop_weight;
  return out;
}

}  // namespace parley::audio::detail
