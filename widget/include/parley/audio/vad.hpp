// Energy voice-activity detector (DESIGN §7): the host uses it for turn-taking, the widget
// for a "you are speaking" cue.
//
// The signal is cut into windows (10 ms by default). A window is "loud" when its energy is
// threshold_db above the noise floor and above min_speech_dbfs. Speech starts after
// onset_ms of consecutive loud windows and ends after hangover_ms without one. The noise
// floor follows a quieter background at once and a louder one slowly (floor_rise_db_per_s),
// so a steady noise stops counting as speech. Events carry sample-accurate times, counted
// in samples since the detector was created: speech_start is the first sample above the
// loud level in the first loud window, speech_end the sample just after the last one in
// the last loud window. They are reported once the onset or hangover has confirmed them,
// so an event's time lies up to onset_ms (or hangover_ms) before the push that raises it.
//
// A gate (set_gate_dbfs) adds one more rule while it is set: a window is loud only when its
// energy is also above the gate. The host raises the gate to its own output level while the
// agent talks, so that the agent's voice coming back through a speaker does not count as the
// user speaking, while a user who is clearly louder still barges in.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parley/result.hpp"

namespace parley::audio {

struct VadConfig {
  int sample_rate = 16000;
  int window_ms = 10;
  float threshold_db = 12.0f;
  float min_speech_dbfs = -50.0f;
  int onset_ms = 30;
  int hangover_ms = 250;
  float floor_rise_db_per_s = 3.0f;
};

struct VadEvent {
  enum class Kind { speech_start, speech_end };
  Kind kind;
  std::uint64_t sample;  // time of the event, in samples since creation
};

class Vad {
 public:
  // Errors: "bad_vad_config" naming the field and its allowed range.
  static Result<Vad> create(const VadConfig& config);

  // Calls on_event(const VadEvent&) for each decision, in order.
  template <class OnEvent>
  void push(const float* samples, std::size_t count, OnEvent&& on_event) {
    for (std::size_t i = 0; i < count; ++i) {
      observe(samples[i]);
      if (in_window_ == window_) {
        VadEvent event{};
        if (end_window(event)) on_event(event);
      }
    }
  }

  // The gate in dBFS, or kNoGate to turn it off (the default). NaN turns it off too. It
  // applies from the next window on; the noise floor keeps following the signal meanwhile.
  static constexpr float kNoGate = -1000.0f;
  void set_gate_dbfs(float dbfs) noexcept { gate_db_ = dbfs == dbfs ? dbfs : kNoGate; }
  float gate_dbfs() const noexcept { return static_cast<float>(gate_db_); }

  bool speaking() const noexcept { return speaking_; }
  float noise_floor_dbfs() const noexcept { return static_cast<float>(floor_db_); }
  std::uint64_t samples_in() const noexcept { return position_; }
  const VadConfig& config() const noexcept { return config_; }

 private:
  Vad() = default;
  void observe(float sample) noexcept {
    const double v = sample == sample ? static_cast<double>(sample) : 0.0;
    sum_squares_ += v * v;
    if (v > loud_amplitude_ || -v > loud_amplitude_) {
      if (!window_has_loud_sample_) first_loud_ = position_;
      window_has_loud_sample_ = true;
      last_loud_ = position_;
    }
    ++position_;
    ++in_window_;
  }
  bool end_window(VadEvent& event) noexcept;
  void start_window() noexcept;

  VadConfig config_;
  std::uint64_t window_ = 160;       // samples per window
  std::uint64_t onset_windows_ = 3;
  std::uint64_t hangover_windows_ = 25;
  double rise_per_window_ = 0.03;    // dB
  std::uint64_t position_ = 0;
  std::uint64_t in_window_ = 0;
  double sum_squares_ = 0.0;
  double loud_amplitude_ = 0.0;      // sample level that counts as loud in this window
  bool window_has_loud_sample_ = false;
  std::uint64_t first_loud_ = 0, last_loud_ = 0;
  bool have_floor_ = false;
  double floor_db_ = -120.0;
  double gate_db_ = kNoGate;         // set_gate_dbfs
  double window_gate_db_ = kNoGate;  // the gate the current window is judged by
  bool speaking_ = false;
  std::uint64_t loud_run_ = 0, quiet_run_ = 0;
  std::uint64_t run_start_ = 0;      // first loud sample of the current loud run
  std::uint64_t speech_last_ = 0;    // last loud sample while speaking
};

}  // namespace parley::audio
