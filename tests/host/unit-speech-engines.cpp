// The speech engines by themselves (issue 5), in the test process: pocketsphinx with and
// without the demo agent's keyword hints on the same espeak-ng phrases (the hints must raise
// how many keywords are heard), espeak-ng synthesis (length, level, stopping, voices), and
// the bounded worker pool they run on.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>

#include "../../host/src/speech/worker_pool.hpp"
#include "parley/host/config.hpp"
#include "parley/host/recognizer.hpp"
#include "parley/host/synthesizer.hpp"
#include "test_speech.hpp"

using namespace parley::test;
using parley::json;

namespace {

parley::host::AgentConfig demo_agent() {
  auto config = parley::host::load_host_config(std::string(PARLEY_SOURCE_DIR) + "/host/demo/config.json");
  REQUIRE(config.ok());
  return config->agents[0];
}

}  // namespace

TEST_CASE("keyword hints raise how many of the agent's words pocketsphinx hears", "[speech-engines]") {
  parley::host::SpeechConfig sc;
  sc.max_decoders = 1;  // one decoder, two searches: with and without hints
  auto recognizer = parley::host::make_pocketsphinx_recognizer(sc);
  INFO((recognizer->check() ? "" : recognizer->check().error().message));
  REQUIRE(recognizer->check().ok());
  const auto hints = parley::host::hints_for_agent(demo_agent());
  REQUIRE(std::find(hints.words.begin(), hints.words.end(), "weather") != hints.words.end());

  // Phrases with the demo rules' words (a different set from unit-speech's), and the word
  // each must yield.
  const std::vector<std::pair<std::string, std::string>> phrases = {
      {"hi how are you", "hi"},           {"what's my name again", "name"},
      {"is my plan the premium one", "plan"}, {"tell me the weather", "weather"},
      {"okay bye", "bye"},                 {"hey there", "hey"},
      {"say my name", "name"},             {"the weather tomorrow", "weather"},
      {"upgrade my plan", "plan"},         {"hello", "hello"},
  };
  auto recognise = [&](const Samples& audio, const parley::host::RecognitionHints& h) {
    auto stream = recognizer->open(h);
    REQUIRE(stream.ok());
    REQUIRE((*stream)->feed(audio.data(), audio.size()).ok());
    auto text = (*stream)->finish();
    REQUIRE(text.ok());
    return *text;
  };
  int with = 0, without = 0;
  std::size_t edits_with = 0, edits_without = 0, words = 0;
  for (const auto& [text, keyword] : phrases) {
    const Samples speech = espeak_16k(text);
    REQUIRE(!speech.empty());
    const Samples audio = mix_at(room_noise(0.6 + static_cast<double>(speech.size()) / kSpeechRate), speech, 4800);
    const std::string plain = recognise(audio, {});
    const std::string hinted = recognise(audio, hints);
    const auto has = [&](const std::string& t) {
      const auto w = words_of(t);
      return std::find(w.begin(), w.end(), keyword) != w.end();
    };
    with += has(hinted) ? 1 : 0;
    without += has(plain) ? 1 : 0;
    edits_with += word_edit_distance(words_of(text), words_of(hinted));
    edits_without += word_edit_distance(words_of(text), words_of(plain));
    words += words_of(text).size();
    std::printf("  [speech-engines] %-28s without: %-30s with: %s\n", text.c_str(), plain.c_str(), hinted.c_str());
  }
  std::printf("[speech-engines] keywords heard: %d/%zu with hints, %d/%zu without; WER %.1f %% with, "
              "%.1f %% without\n",
              with, phrases.size(), without, phrases.size(), 100.0 * static_cast<double>(edits_with) / static_cast<double>(words),
              100.0 * static_cast<double>(edits_without) / static_cast<double>(words));
  CHECK(with > without);
  CHECK(with >= 8);
}

TEST_CASE("a missing model is reported plainly, and open() refuses", "[speech-engines]") {
  parley::host::SpeechConfig sc;
  sc.model_dir = "/nonexistent/model";
  auto recognizer = parley::host::make_pocketsphinx_recognizer(sc);
  REQUIRE_FALSE(recognizer->check().ok());
  CHECK(recognizer->check().error().code == "recognizer_unavailable");
  CHECK_THAT(recognizer->check().error().message, Catch::Contains("pocketsphinx-en-us"));
  auto stream = recognizer->open({});
  REQUIRE_FALSE(stream.ok());
  CHECK(stream.error().code == "recognizer_unavailable");
}

TEST_CASE("espeak-ng speaks, stops when told, and refuses unknown voices", "[speech-engines]") {
  auto synth = parley::host::make_espeak_synthesizer();
  REQUIRE(synth->check().ok());
  CHECK(synth->sample_rate() == 22050);
  Samples all;
  auto status = synth->synthesize("Hello there, this is a test.", "en-us", [&](const std::int16_t* s, std::size_t n) {
    all.insert(all.end(), s, s + n);
    return true;
  });
  REQUIRE(status.ok());
  const double seconds = static_cast<double>(all.size()) / synth->sample_rate();
  CHECK(seconds > 1.0);
  CHECK(seconds < 4.0);
  CHECK(rms_dbfs(all) > -35.0);

  std::size_t pieces = 0, got = 0;
  const auto t0 = std::chrono::steady_clock::now();
  status = synth->synthesize("This is a long sentence that would take several seconds to say out loud, "
                             "and it goes on, and on, and on for a while longer still.",
                             "en-us", [&](const std::int16_t*, std::size_t n) {
                               got += n;
                               return ++pieces < 2;
                             });
  CHECK(status.ok());
  CHECK(pieces == 2);
  CHECK(static_cast<double>(got) / synth->sample_rate() < 0.5);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));

  auto bad = synth->check_voice("xx-nonexistent");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == "synth_unknown_voice");
  CHECK_THAT(bad.error().message, Catch::Contains("xx-nonexistent"));
  CHECK(synth->check_voice("en-gb+f3").ok());  // a language with a variant
  CHECK(synth->check_voice("en-us").ok());      // a voice file
  // Markup is not interpreted: text from a stranger is spoken as text.
  std::size_t markup = 0;
  CHECK(synth->synthesize("<speak>hi</speak>", "en-us", [&](const std::int16_t*, std::size_t n) {
          markup += n;
          return true;
        }).ok());
  CHECK(markup > 0);
}

TEST_CASE("the worker pool runs jobs off the caller's thread and bounds its queue", "[speech-engines]") {
  parley::host::WorkerPool pool(1, 2);
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> ran{0};
  std::promise<std::thread::id> where;
  auto started = std::make_shared<std::promise<void>>();
  REQUIRE(pool.post([&, started] {
    where.set_value(std::this_thread::get_id());
    started->set_value();
    std::unique_lock<std::mutex> lock(m);
    cv.wait(lock, [&] { return release; });
    ++ran;
  }));
  started->get_future().wait();
  CHECK(where.get_future().get() != std::this_thread::get_id());
  CHECK(pool.running() == 1);
  CHECK(pool.post([&] { ++ran; }));
  CHECK(pool.post([&] { ++ran; }));
  CHECK(pool.queued() == 2);
  CHECK_FALSE(pool.post([&] { ++ran; }));  // full: refused, not kept
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 200 && ran.load() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(ran.load() == 3);
  CHECK(pool.post([&] { ++ran; }));  // room again
}
