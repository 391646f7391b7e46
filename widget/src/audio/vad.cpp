#include "parley/audio/vad.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "parley/audio/dsp_math.hpp"
#include "parley/audio/resampler.hpp"

namespace parley::audio {
namespace {

// "12", "-0.5", "nan": one decimal is plenty for a message, and formatting by hand keeps
// printf's floating-point code out of the wasm.
std::string number_text(double v) {
  if (!(v == v)) return "nan";
  if (v > 1e15 || v < -1e15) return v > 0 ? "huge" : "-huge";
  const long long tenths = static_cast<long long>(v * 10.0 + (v < 0 ? -0.5 : 0.5));
  std::string text = tenths < 0 ? "-" : "";
  const long long magnitude = tenths < 0 ? -tenths : tenths;
  text += std::to_string(magnitude / 10);
  if (magnitude % 10 != 0) text += "." + std::to_string(magnitude % 10);
  return text;
}

Status check_range(const char* field, double value, double low, double high) {
  if (!(value >= low && value <= high)) {
    return make_error("bad_vad_config", std::string("VAD ") + field + " is " + number_text(value) +
                                            "; it must be from " + number_text(low) + " to " +
                                            number_text(high));
  }
  return ok_status();
}

}  // namespace

Result<Vad> Vad::create(const VadConfig& config) {
  if (auto s = check_sample_rate(config.sample_rate, "VAD sample_rate"); !s) return std::move(s).error();
  const Status checks[] = {
      check_range("window_ms", config.window_ms, 1, 100),
      check_range("threshold_db", config.threshold_db, 0.5, 60),
      check_range("min_speech_dbfs", config.min_speech_dbfs, -120, 0),
      check_range("onset_ms", config.onset_ms, 0, 2000),
      check_range("hangover_ms", config.hangover_ms, 0, 10000),
      check_range("floor_rise_db_per_s", config.floor_rise_db_per_s, 0, 100),
  };
  for (const auto& s : checks) {
    if (!s) return s.error();
  }
  Vad vad;
  vad.config_ = config;
  vad.window_ = static_cast<std::uint64_t>(config.sample_rate) * config.window_ms / 1000;
  const auto windows = [&](int ms) {
    return static_cast<std::uint64_t>((ms + config.window_ms - 1) / config.window_ms);
  };
  vad.onset_windows_ = std::max<std::uint64_t>(1, windows(config.onset_ms));
  vad.hangover_windows_ = std::max<std::uint64_t>(1, windows(config.hangover_ms));
  vad.rise_per_window_ = static_cast<double>(config.floor_rise_db_per_s) * config.window_ms / 1000.0;
  vad.start_window();
  return vad;
}

void Vad::start_window() noexcept {
  in_window_ = 0;
  sum_squares_ = 0.0;
  window_has_loud_sample_ = false;
  window_gate_db_ = gate_db_;
  // Before the first window there is no floor: only the absolute level applies.
  const double loud_db =
      std::max(have_floor_ ? std::max(floor_db_ + config_.threshold_db,
                                      static_cast<double>(config_.min_speech_dbfs))
                           : static_cast<double>(config_.min_speech_dbfs),
               window_gate_db_);
  loud_amplitude_ = detail::db_to_amplitude(loud_db);
}

// Classifies the window just completed, updates the floor and the speech state; returns
// true with `event` filled when speech starts or ends.
bool Vad::end_window(VadEvent& event) noexcept {
  const double mean_square = sum_squares_ / static_cast<double>(window_);
  const double energy_db = mean_square > 1e-12 ? detail::power_to_db(mean_square) : -120.0;
  const bool loud = have_floor_ && energy_db > floor_db_ + config_.threshold_db &&
                    energy_db > config_.min_speech_dbfs && energy_db > window_gate_db_;
  const std::uint64_t window_first = position_ - window_;
  const std::uint64_t first = window_has_loud_sample_ ? first_loud_ : window_first;
  const std::uint64_t last = window_has_loud_sample_ ? last_loud_ : position_ - 1;

  if (!have_floor_ || energy_db < floor_db_) {
    floor_db_ = energy_db;
    have_floor_ = true;
  } else {
    floor_db_ = std::min(energy_db, floor_db_ + rise_per_window_);
  }

  bool fired = false;
  if (!speaking_) {
    if (loud) {
      if (loud_run_++ == 0) run_start_ = first;
      if (loud_run_ >= onset_windows_) {
        speaking_ = true;
        quiet_run_ = 0;
        speech_last_ = last;
        event = VadEvent{VadEvent::Kind::speech_start, run_start_};
        fired = true;
      }
    } else {
      loud_run_ = 0;
    }
  } else if (loud) {
    quiet_run_ = 0;
    speech_last_ = last;
  } else if (++quiet_run_ >= hangover_windows_) {
    speaking_ = false;
    loud_run_ = 0;
    event = VadEvent{VadEvent::Kind::speech_end, speech_last_ + 1};
    fired = true;
  }
  start_window();
  return fired;
}

}  // namespace parley::audio
