// The synthesis cache and queue (issue 16: speech at call start under load), with the real
// espeak-ng engine on the real worker pool: identical syntheses are made once (joined while
// running, answered from the cache after), the backlog is bounded, calls are served in turn,
// and a cancelled request gets no callback.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "../../host/src/speech/synth_cache.hpp"
#include "../../host/src/speech/synth_scheduler.hpp"
#include "parley/host/config.hpp"
#include "parley/host/speech.hpp"
#include "parley/host/synthesizer.hpp"

using parley::host::Pcm;
using parley::host::SpeechService;
using parley::host::SynthCache;
using parley::host::SynthScheduler;

namespace {

Pcm pcm_of(std::size_t samples, std::int16_t value) {
  return std::make_shared<const std::vector<std::int16_t>>(samples, value);
}

// One request's outcome, as the io thread saw it.
struct Outcome {
  std::vector<std::int16_t> audio;
  std::vector<Pcm> pieces;
  bool done = false;
  std::string error;
  int order = 0;  // when it finished, 1 = first
};

struct Rig {
  boost::asio::io_context io;
  parley::host::HostConfig config;
  std::unique_ptr<SpeechService> service;
  int finished = 0;

  explicit Rig(std::uint32_t backlog = 100, std::uint32_t cache_mb = 8) {
    config.server.speech.synth_backlog = backlog;
    config.server.speech.synth_cache_mb = cache_mb;
    config.server.speech.workers = 2;
    service = std::make_unique<SpeechService>(io, config, nullptr, parley::host::make_espeak_synthesizer());
    REQUIRE(service->synth() != nullptr);
  }

  SynthScheduler::Request request(const std::string& text, Outcome& out) {
    SynthScheduler::Request r;
    r.voice = "en-us";
    r.text = text;
    r.on_audio = [&out](Pcm pcm) {
      out.pieces.push_back(pcm);
      out.audio.insert(out.audio.end(), pcm->begin(), pcm->end());
    };
    r.on_done = [this, &out](parley::Status status) {
      out.done = true;
      out.order = ++finished;
      if (!status) out.error = status.error().code;
    };
    return r;
  }

  // Runs the io_context until `until` or `limit`.
  template <class Until>
  bool run(Until until, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    io.restart();  // the last run's work guard stopped it when it went
    auto guard = boost::asio::make_work_guard(io);
    while (!until() && std::chrono::steady_clock::now() < deadline) io.run_for(std::chrono::milliseconds(5));
    return until();
  }
};

}  // namespace

TEST_CASE("the synthesis cache keeps recent audio within its bound", "[synth]") {
  SynthCache cache(8 * 1000 * 2);  // room for 8,000 samples; one entry at most 1,000
  const std::string a = SynthCache::key("en-us", "hello"), b = SynthCache::key("en-us", "bye");
  CHECK(a != SynthCache::key("en-gb", "hello"));
  CHECK(SynthCache::key("en", "-ushello") != a);  // the separator keeps pairs apart
  CHECK(cache.find(a) == nullptr);
  cache.insert(a, pcm_of(1000, 1));
  cache.insert(b, pcm_of(1000, 2));
  REQUIRE(cache.find(a) != nullptr);
  CHECK((*cache.find(a))[0] == 1);
  CHECK(cache.bytes() == 4000);
  // Too large for one entry (over an eighth of the bound): not kept.
  cache.insert(SynthCache::key("en-us", "long"), pcm_of(1001, 3));
  CHECK(cache.find(SynthCache::key("en-us", "long")) == nullptr);
  // Filling it pushes out the least recently used: b (a was just used).
  for (int i = 0; i < 7; ++i) cache.insert(SynthCache::key("en-us", std::to_string(i)), pcm_of(1000, 4));
  CHECK(cache.bytes() <= 16000);
  CHECK(cache.find(b) == nullptr);
  CHECK(cache.find(SynthCache::key("en-us", "6")) != nullptr);
  // Replacing a key does not count it twice.
  const std::size_t before = cache.bytes();
  cache.insert(SynthCache::key("en-us", "6"), pcm_of(1000, 5));
  CHECK(cache.bytes() == before);
  CHECK((*cache.find(SynthCache::key("en-us", "6")))[0] == 5);
  SynthCache off(0);
  off.insert(a, pcm_of(10, 1));
  CHECK(off.find(a) == nullptr);
}

TEST_CASE("an identical synthesis is made once: joined while running, then from the cache", "[synth]") {
  Rig rig;
  SynthScheduler& synth = *rig.service->synth();
  Outcome first, second, third;
  std::shared_ptr<SynthScheduler::Ticket> t1, t2, t3;
  const std::string text = "Hi there! I am the Parley demo agent.";
  boost::asio::post(rig.io, [&] {
    t1 = synth.request(rig.request(text, first));
    t2 = synth.request(rig.request(text, second));  // the same text, while the first runs
  });
  REQUIRE(rig.run([&] { return first.done && second.done; }));
  CHECK(first.error.empty());
  CHECK(second.error.empty());
  // 16 kHz: more than a second of speech, the same samples for both, the same buffers.
  CHECK(first.audio.size() > 16000);
  CHECK(first.audio == second.audio);
  CHECK(first.pieces == second.pieces);
  CHECK(first.pieces.size() > 1);  // streamed: a small first piece, then more
  CHECK(first.pieces.front()->size() < 16000 / 10);
  auto& c = rig.service->counters();
  CHECK(c.synth_requests == 2);
  CHECK(c.synth_shared == 1);
  CHECK(c.synth_cache_hits == 0);

  boost::asio::post(rig.io, [&] { t3 = synth.request(rig.request(text, third)); });
  REQUIRE(rig.run([&] { return third.done; }));
  CHECK(c.synth_cache_hits == 1);
  CHECK(third.pieces.size() == 1);  // the kept audio, whole
  CHECK(third.audio == first.audio);
  CHECK(synth.cache().entries() == 1);
  CHECK(synth.cache().bytes() == first.audio.size() * 2);
  // Another voice is another synthesis.
  Outcome other;
  boost::asio::post(rig.io, [&] {
    auto r = rig.request(text, other);
    r.voice = "en-gb";
    t1 = synth.request(std::move(r));
  });
  REQUIRE(rig.run([&] { return other.done; }));
  CHECK(c.synth_cache_hits == 1);
  CHECK(other.audio != first.audio);
}

TEST_CASE("the synthesis backlog is bounded; a refused request says why at once", "[synth]") {
  Rig rig(2);
  SynthScheduler& synth = *rig.service->synth();
  Outcome o[4];
  std::vector<std::shared_ptr<SynthScheduler::Ticket>> tickets;
  boost::asio::post(rig.io, [&] {
    // One starts at once; two wait; the fourth finds the backlog full. The first three are
    // long (seconds of speech, tens of milliseconds to synthesise), so that "at once" does not
    // depend on this thread keeping the CPU until the loop ends: with a short first sentence,
    // under load, its synthesis sometimes finished before the refusal was posted.
    std::string paragraph;
    for (int words = 0; words < 12; ++words) paragraph += "This sentence is here to take a while to say. ";
    for (int i = 0; i < 4; ++i)
      tickets.push_back(synth.request(rig.request(
          (i < 3 ? paragraph : std::string()) + "Sentence number " + std::to_string(i) + ".", o[i])));
    CHECK(synth.running() == 1);
    CHECK(synth.queued() == 2);
  });
  REQUIRE(rig.run([&] { return o[0].done && o[1].done && o[2].done && o[3].done; }));
  CHECK(o[3].error == "synth_backlog_full");
  CHECK(o[3].order == 1);  // refused at once, before anything was synthesised
  CHECK(o[3].audio.empty());
  for (int i = 0; i < 3; ++i) {
    CHECK(o[i].error.empty());
    CHECK(o[i].audio.size() > 8000);
  }
  CHECK(rig.service->counters().synth_backlog_full == 1);
  CHECK(rig.service->metrics_text().find("parley_speech_synth_backlog_full_total 1\n") != std::string::npos);
}

TEST_CASE("calls are served in turn, a reply each; a cancelled request hears nothing", "[synth]") {
  Rig rig;
  SynthScheduler& synth = *rig.service->synth();
  // Call A has three replies queued, asked one at a time (as a SpeechChannel asks); call B
  // asks for one just after A's first. B's comes before A's second.
  Outcome a[3], b, gone;
  std::vector<std::shared_ptr<SynthScheduler::Ticket>> tickets;
  std::function<void(int)> ask_a = [&](int i) {
    auto r = rig.request("This is reply " + std::to_string(i) + " of call A.", a[i]);
    auto done = r.on_done;
    r.on_done = [&, done, i](parley::Status s) {
      done(std::move(s));
      if (i < 2) ask_a(i + 1);
    };
    tickets.push_back(synth.request(std::move(r)));
  };
  boost::asio::post(rig.io, [&] {
    ask_a(0);
    tickets.push_back(synth.request(rig.request("And this is the only reply of call B.", b)));
    auto t = synth.request(rig.request("Nobody will hear this one.", gone));
    t->cancel();  // hung up before its turn
    CHECK(synth.queued() == 1);  // B's; the cancelled one left the queue
  });
  REQUIRE(rig.run([&] { return a[2].done; }));
  CHECK(a[0].order == 1);
  CHECK(b.order == 2);
  CHECK(a[1].order == 3);
  CHECK(a[2].order == 4);
  rig.run([] { return false; }, std::chrono::milliseconds(500));  // nothing else is coming
  CHECK_FALSE(gone.done);
  CHECK(gone.audio.empty());
}
