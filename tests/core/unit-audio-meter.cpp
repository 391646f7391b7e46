// Level meters: RMS and peak per quantum in dBFS.
#include <catch2/catch.hpp>

#include <limits>

#include "audio/audio_measure.hpp"
#include "parley/audio/meter.hpp"

namespace pa = parley::audio;

TEST_CASE("meters read known signals", "[audio-meter]") {
  const auto sine = parley::test::audio::tone(1000, 48000, 4800, 1.0);  // whole periods
  const auto level = pa::measure_level(sine.data(), sine.size());
  CHECK(level.rms_dbfs == Approx(-3.0103).margin(0.01));
  CHECK(level.peak_dbfs == Approx(0.0).margin(0.01));

  std::vector<float> square(128);
  for (std::size_t i = 0; i < square.size(); ++i) square[i] = i % 2 ? 0.5f : -0.5f;
  const auto sq = pa::measure_level(square.data(), square.size());
  CHECK(sq.rms_dbfs == Approx(-6.0206).margin(0.001));
  CHECK(sq.peak_dbfs == Approx(-6.0206).margin(0.001));
}

TEST_CASE("silence, empty blocks and NaN read as the floor", "[audio-meter]") {
  std::vector<float> zeros(128, 0.0f);
  CHECK(pa::measure_level(zeros.data(), zeros.size()).rms_dbfs == pa::kSilenceDbfs);
  CHECK(pa::measure_level(zeros.data(), 0).peak_dbfs == pa::kSilenceDbfs);
  std::vector<float> nans(128, std::numeric_limits<float>::quiet_NaN());
  const auto n = pa::measure_level(nans.data(), nans.size());
  CHECK(n.rms_dbfs == pa::kSilenceDbfs);
  CHECK(n.peak_dbfs == pa::kSilenceDbfs);
  nans[5] = -0.25f;
  CHECK(pa::measure_level(nans.data(), nans.size()).peak_dbfs == Approx(-12.0412).margin(0.001));
}
