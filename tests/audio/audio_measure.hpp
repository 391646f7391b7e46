// Signal measurements for the audio tests and the benchmark: tones, windowed single-bin DFT
// amplitudes, least-squares sine fits (SNR, phase -> delay), and a black-box resampler
// quality sweep that treats every converter (ours, speexdsp, libsamplerate) the same way.
// Header-only; needs nothing but the standard library.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace parley::test::audio {

inline constexpr double kPi = 3.14159265358979323846;

inline std::vector<float> tone(double freq_hz, int rate_hz, std::size_t count, double amplitude = 0.5) {
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    out[i] = static_cast<float>(amplitude * std::sin(2.0 * kPi * freq_hz * static_cast<double>(i) / rate_hz));
  }
  return out;
}

inline double bessel_i0(double x) {
  double sum = 1.0, term = 1.0;
  for (int k = 1; k < 300; ++k) {
    term *= (x * x / 4.0) / (static_cast<double>(k) * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

// Kaiser window of `count` points, computed once per length.
inline const std::vector<double>& kaiser_window(std::size_t count, double beta) {
  static std::vector<double> window;
  static double window_beta = 0.0;
  if (window.size() != count || window_beta != beta) {
    window.resize(count);
    window_beta = beta;
    const double i0_beta = bessel_i0(beta);
    for (std::size_t k = 0; k < count; ++k) {
      const double x = 2.0 * static_cast<double>(k) / static_cast<double>(count - 1) - 1.0;
      window[k] = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - x * x))) / i0_beta;
    }
  }
  return window;
}

// Amplitude of the component at freq_hz in y[start, start+count), through a Kaiser window
// (beta 20: side lobes far below -150 dB, so a strong tone elsewhere does not leak in).
inline double amplitude_at(const std::vector<float>& y, std::size_t start, std::size_t count,
                           double freq_hz, int rate_hz) {
  const auto& w = kaiser_window(count, 20.0);
  // The phasor e^{-i w k} is advanced by multiplication and re-anchored every 1024 steps.
  const double step = 2.0 * kPi * freq_hz / rate_hz;
  const double cos_step = std::cos(step), sin_step = std::sin(step);
  double re = 0.0, im = 0.0, weight = 0.0, c = 1.0, s = 0.0;
  for (std::size_t k = 0; k < count; ++k) {
    if (k % 1024 == 0) {
      c = std::cos(step * static_cast<double>(start + k));
      s = -std::sin(step * static_cast<double>(start + k));
    }
    const double v = w[k] * y[start + k];
    re += v * c;
    im += v * s;
    weight += w[k];
    const double nc = c * cos_step + s * sin_step;
    s = s * cos_step - c * sin_step;
    c = nc;
  }
  return 2.0 * std::hypot(re, im) / weight;
}

struct SineFit {
  double amplitude = 0, phase = 0, snr_db = 0;  // y ~ amplitude * sin(w t + phase) + dc
};

// Least-squares fit of dc + a cos(w t) + b sin(w t), t = index / rate; the residual is
// everything that is not the tone (noise, distortion, aliases).
inline SineFit fit_sine(const std::vector<float>& y, std::size_t start, std::size_t count,
                        double freq_hz, int rate_hz) {
  double m[3][3] = {{0}}, v[3] = {0};
  for (std::size_t k = 0; k < count; ++k) {
    const double ph = 2.0 * kPi * freq_hz * static_cast<double>(start + k) / rate_hz;
    const double basis[3] = {1.0, std::cos(ph), std::sin(ph)};
    for (int i = 0; i < 3; ++i) {
      v[i] += basis[i] * y[start + k];
      for (int j = 0; j < 3; ++j) m[i][j] += basis[i] * basis[j];
    }
  }
  // Gaussian elimination on the 3x3 normal equations.
  for (int c = 0; c < 3; ++c) {
    for (int r = c + 1; r < 3; ++r) {
      const double f = m[r][c] / m[c][c];
      for (int j = c; j < 3; ++j) m[r][j] -= f * m[c][j];
      v[r] -= f * v[c];
    }
  }
  double coef[3];
  for (int r = 2; r >= 0; --r) {
    double s = v[r];
    for (int j = r + 1; j < 3; ++j) s -= m[r][j] * coef[j];
    coef[r] = s / m[r][r];
  }
  double signal = 0.0, residual = 0.0;
  for (std::size_t k = 0; k < count; ++k) {
    const double ph = 2.0 * kPi * freq_hz * static_cast<double>(start + k) / rate_hz;
    const double t = coef[1] * std::cos(ph) + coef[2] * std::sin(ph);
    const double e = y[start + k] - coef[0] - t;
    signal += t * t;
    residual += e * e;
  }
  SineFit fit;
  fit.amplitude = std::hypot(coef[1], coef[2]);
  fit.phase = std::atan2(coef[1], coef[2]);
  fit.snr_db = 10.0 * std::log10(signal / std::max(residual, 1e-300));
  return fit;
}

// Converts a whole signal with a fresh converter.
using ConvertFn = std::function<std::vector<float>(const std::vector<float>&)>;

struct Quality {
  double stopband_db = 0;     // worst attenuation of anything landing in the stopband
  double ripple_db = 0;       // max - min passband gain
  double max_gain_error_db = 0;
  double snr_db = 0;          // 1 kHz sine
  double delay_ms = 0;        // from the phase of a 100 Hz tone
};

inline double to_db(double ratio) { return 20.0 * std::log10(std::max(ratio, 1e-15)); }

// Passband: up to 0.45 of the lower rate. Stopband: from 0.55 of the lower rate, i.e.
// whatever would alias (downsampling) or image (upsampling) into the passband.
inline Quality measure_quality(const ConvertFn& convert, int in_rate, int out_rate,
                               int sweep_points = 48) {
  const double amplitude = 0.5;
  const double low = std::min(in_rate, out_rate);
  const std::size_t skip = 1024, count = 8192;
  const auto in_samples = static_cast<std::size_t>(
      static_cast<double>(skip + count + 64) * in_rate / out_rate) + 4096;
  const auto run = [&](double f) { return convert(tone(f, in_rate, in_samples, amplitude)); };
  Quality q;

  // Frequency a component at `hz` shows up at after sampling at out_rate.
  const auto fold = [&](double hz) {
    const double m = std::fmod(hz, static_cast<double>(out_rate));
    return m > out_rate / 2.0 ? out_rate - m : m;
  };
  double worst = 0.0;  // largest stopband component, relative to the input amplitude
  for (int i = 0; i <= sweep_points; ++i) {
    const double x = static_cast<double>(i) / sweep_points;
    // Passband tones (denser near the edge): their images k*in +- f, wherever they fold to.
    // An image folding within 50 Hz of the tone itself cannot be told apart from it.
    const double f = std::max(20.0, 0.45 * low * (1.0 - x * x));
    const auto y = run(f);
    for (int k = 1; k <= 3; ++k) {
      for (double image : {k * in_rate - f, k * in_rate + f}) {
        const double at = fold(image);
        if (std::fabs(at - f) < 50.0) continue;
        worst = std::max(worst, amplitude_at(y, skip, count, at, out_rate) / amplitude);
      }
    }
    // Input tones in the stopband (denser near its edge), when downsampling leaves one:
    // where they alias to.
    const double stop_low = 0.55 * low, stop_high = in_rate / 2.0 - 1.0;
    if (out_rate < in_rate && stop_low < stop_high) {
      const double g = stop_low + (stop_high - stop_low) * x * x;
      worst = std::max(worst, amplitude_at(run(g), skip, count, fold(g), out_rate) / amplitude);
    }
  }
  q.stopband_db = -to_db(worst);

  double gmin = 1e9, gmax = -1e9;
  for (int i = 0; i <= 30; ++i) {
    const double f = std::max(50.0, 0.45 * low * i / 30.0);
    const double g = to_db(amplitude_at(run(f), skip, count, f, out_rate) / amplitude);
    gmin = std::min(gmin, g);
    gmax = std::max(gmax, g);
  }
  q.ripple_db = gmax - gmin;
  q.max_gain_error_db = std::max(std::fabs(gmin), std::fabs(gmax));

  q.snr_db = fit_sine(run(1000.0), skip, count, 1000.0, out_rate).snr_db;

  // y(t) = A sin(w (t - D)) => phase = -w D (mod 2 pi); 100 Hz keeps D < 10 ms unambiguous.
  const double f_delay = 100.0;
  const double phase = fit_sine(run(f_delay), skip, count, f_delay, out_rate).phase;
  double delay = -phase / (2.0 * kPi * f_delay);
  while (delay < 0) delay += 1.0 / f_delay;
  q.delay_ms = 1000.0 * delay;
  return q;
}

// A mono 16-bit PCM WAV file (what espeak-ng -w writes). Empty samples on any problem.
struct Wav {
  int rate = 0;
  std::vector<float> samples;
};

inline Wav read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Wav wav;
  const auto u32 = [&](std::size_t p) {
    return static_cast<std::uint32_t>(b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) |
           (static_cast<std::uint32_t>(b[p + 3]) << 24);
  };
  const auto u16 = [&](std::size_t p) { return static_cast<unsigned>(b[p] | (b[p + 1] << 8)); };
  if (b.size() < 12 || std::string(b.begin(), b.begin() + 4) != "RIFF") return wav;
  int channels = 0, bits = 0;
  for (std::size_t p = 12; p + 8 <= b.size();) {
    const std::string id(b.begin() + static_cast<std::ptrdiff_t>(p), b.begin() + static_cast<std::ptrdiff_t>(p + 4));
    std::size_t size = u32(p + 4);
    const std::size_t body = p + 8;
    size = std::min(size, b.size() - body);
    if (id == "fmt " && size >= 16) {
      channels = static_cast<int>(u16(body + 2));
      wav.rate = static_cast<int>(u32(body + 4));
      bits = static_cast<int>(u16(body + 14));
    } else if (id == "data" && channels == 1 && bits == 16) {
      for (std::size_t i = 0; i + 1 < size; i += 2) {
        wav.samples.push_back(static_cast<float>(static_cast<std::int16_t>(u16(body + i))) / 32768.0f);
      }
    }
    p = body + size + (size & 1);
  }
  return wav;
}

}  // namespace parley::test::audio
