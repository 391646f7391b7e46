// Native resampler benchmark (issue 3): ours vs libspeexdsp (quality 3 and 5) vs
// libsamplerate SINC_FASTEST, same input, same process, side by side. For each rate pair it
// prints the speed (x real time, streaming 128-sample quanta), the ratio ours/theirs, and
// the quality each achieves on the same test signals (tests/audio/audio_measure.hpp: the
// very measurements the core tests make).
//
//   parley-bench-audio [seconds-of-audio=60]
#include <samplerate.h>
#include <speex/speex_resampler.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "audio/audio_measure.hpp"
#include "parley/audio/resampler.hpp"

namespace measure = parley::test::audio;

namespace {

constexpr std::size_t kQuantum = 128;

// One streaming converter behind a common face.
struct Converter {
  virtual ~Converter() = default;
  // Converts `n` samples; returns how many came out (out has room for plenty).
  virtual std::size_t process(const float* in, std::size_t n, float* out, std::size_t cap) = 0;
};

struct Ours : Converter {
  parley::audio::Resampler r;
  Ours(int in, int out, parley::audio::Plan plan = parley::audio::Plan::build_default)
      : r(parley::audio::Resampler::create(in, out, plan).value()) {}
  std::size_t process(const float* in, std::size_t n, float* out, std::size_t cap) override {
    return r.process(in, n, out, cap).value();
  }
};

struct Speex : Converter {
  SpeexResamplerState* st;
  Speex(int in, int out, int quality) {
    int err = 0;
    st = speex_resampler_init(1, static_cast<spx_uint32_t>(in), static_cast<spx_uint32_t>(out), quality, &err);
    if (!st || err) std::abort();
  }
  ~Speex() override { speex_resampler_destroy(st); }
  std::size_t process(const float* in, std::size_t n, float* out, std::size_t cap) override {
    std::size_t made = 0;
    while (n > 0) {
      spx_uint32_t in_len = static_cast<spx_uint32_t>(n), out_len = static_cast<spx_uint32_t>(cap - made);
      speex_resampler_process_float(st, 0, in, &in_len, out + made, &out_len);
      in += in_len;
      n -= in_len;
      made += out_len;
      if (in_len == 0 && out_len == 0) break;
    }
    return made;
  }
};

struct Src : Converter {
  SRC_STATE* st;
  double ratio;
  Src(int in, int out) : ratio(static_cast<double>(out) / in) {
    int err = 0;
    st = src_new(SRC_SINC_FASTEST, 1, &err);
    if (!st || err) std::abort();
  }
  ~Src() override { src_delete(st); }
  std::size_t process(const float* in, std::size_t n, float* out, std::size_t cap) override {
    std::size_t made = 0;
    while (n > 0) {
      SRC_DATA d{};
      d.data_in = in;
      d.input_frames = static_cast<long>(n);
      d.data_out = out + made;
      d.output_frames = static_cast<long>(cap - made);
      d.src_ratio = ratio;
      if (src_process(st, &d) != 0) std::abort();
      in += d.input_frames_used;
      n -= static_cast<std::size_t>(d.input_frames_used);
      made += static_cast<std::size_t>(d.output_frames_gen);
      if (d.input_frames_used == 0 && d.output_frames_gen == 0) break;
    }
    return made;
  }
};

struct Impl {
  std::string name;
  std::function<std::unique_ptr<Converter>(int, int)> make;
  bool only_where_plans_differ = false;
};

// Whether parley's two plans convert in -> out differently (48k->16k among the pairs here).
bool plans_differ(int in, int out) {
  return parley::audio::Resampler::create(in, out, parley::audio::Plan::halfband_first).value().halfband_first();
}

// Seconds of audio per CPU second of this process (immune to other work on a shared
// machine) for one run over the whole input.
double speed_once(const Impl& impl, int in, int out, const std::vector<float>& input) {
  std::vector<float> buf(kQuantum * 8 + 64);
  std::size_t sink = 0;
  auto c = impl.make(in, out);
  const std::clock_t t0 = std::clock();
  for (std::size_t pos = 0; pos + kQuantum <= input.size(); pos += kQuantum) {
    sink += c->process(input.data() + pos, kQuantum, buf.data(), buf.size());
  }
  const double s = static_cast<double>(std::clock() - t0) / CLOCKS_PER_SEC;
  if (sink == 0) std::abort();
  return static_cast<double>(input.size()) / in / s;
}

// Best of five rounds; the contenders take turns within each round, so that a busy spell
// on the machine hits them alike.
std::vector<double> speeds(const std::vector<Impl>& impls, int in, int out, const std::vector<float>& input) {
  std::vector<double> best(impls.size(), 0.0);
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < impls.size(); ++i) best[i] = std::max(best[i], speed_once(impls[i], in, out, input));
  }
  return best;
}

measure::ConvertFn whole(const Impl& impl, int in, int out) {
  return [&impl, in, out](const std::vector<float>& x) {
    auto c = impl.make(in, out);
    std::vector<float> y(x.size() * static_cast<std::size_t>(out) / static_cast<std::size_t>(in) + 4096);
    y.resize(c->process(x.data(), x.size(), y.data(), y.size()));
    return y;
  };
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 60.0;
  const std::vector<Impl> impls = {
      {"parley", [](int i, int o) { return std::make_unique<Ours>(i, o); }},
      // The plan this build does not default to: the measurement behind the default.
      {"parley, halfband-first plan",
       [](int i, int o) { return std::make_unique<Ours>(i, o, parley::audio::Plan::halfband_first); }, true},
      {"speexdsp q5", [](int i, int o) { return std::make_unique<Speex>(i, o, 5); }},
      {"speexdsp q3", [](int i, int o) { return std::make_unique<Speex>(i, o, 3); }},
      {"libsamplerate SINC_FASTEST", [](int i, int o) { return std::make_unique<Src>(i, o); }},
  };
  const int pairs[][2] = {{48000, 16000}, {44100, 16000}, {16000, 48000}, {16000, 44100}};
  std::printf("Native resamplers, %.0f s of audio streamed in %zu-sample quanta, best of 5 interleaved rounds;\n", seconds, kQuantum);
  std::printf("x real time = audio seconds / CPU seconds. parley: this build's default plan (%s).\n",
              parley::audio::kBuildDefaultPlan == parley::audio::Plan::direct ? "direct" : "halfband first");
  std::printf("Passband to 0.45 x lower rate; stopband = anything aliasing/imaging into it (>= 0.55 x lower rate).\n\n");
  std::printf("| pair | resampler | x real time | parley / it | stopband dB | ripple dB | SNR 1 kHz dB | delay ms |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& p : pairs) {
    const int in = p[0], out = p[1];
    std::vector<Impl> here;
    for (const auto& impl : impls) {
      if (!impl.only_where_plans_differ || plans_differ(in, out)) here.push_back(impl);
    }
    std::mt19937 rng(42);
    std::normal_distribution<float> g(0.0f, 0.2f);
    std::vector<float> input(static_cast<std::size_t>(seconds * in));
    for (auto& s : input) s = g(rng);
    const auto x = speeds(here, in, out, input);
    for (std::size_t i = 0; i < here.size(); ++i) {
      const auto q = measure::measure_quality(whole(here[i], in, out), in, out);
      std::printf("| %gk->%gk | %s | %.0f | %.2f | %.1f | %.3f | %.1f | %.2f |\n", in / 1000.0, out / 1000.0,
                  here[i].name.c_str(), x[i], x[0] / x[i], q.stopband_db, q.ripple_db, q.snr_db, q.delay_ms);
      std::fflush(stdout);
    }
  }
  return 0;
}
