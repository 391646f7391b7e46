// pocketsphinx 5prealpha (Debian bookworm) behind the Recognizer interface.
//
// A decoder (acoustic model, dictionary, language model, search) takes ~0.5-1 s and ~150 MB
// to build, so decoders are pooled: at most max_decoders exist, each serves one utterance at
// a time, and a stream returns its decoder to the pool when it is destroyed. A decoder keeps
// one search per hint set it has served (at most kSearchesPerDecoder, least recently used
// rebuilt). A spare decoder is kept built ahead, on a thread of the recognizer's own, so that
// a new call does not wait for one (nor hold a speech worker while it is built). A search over hints is the general English model interpolated with a unigram
// model of the hint words (weight hint_weight), so those words become far likelier while
// every other word stays possible. The weight (server.speech.hint_weight, default 0.05) trades
// the hint words' recall against mishearing other words as them: on the test phrases 0.2 heard
// every keyword but turned "my" into "bye" twice as often; below 0.001 the keywords' gain went.
//
// Vocabulary: decoders load only the server.speech.vocabulary most likely words of the general
// model (10,000 by default, of its 72,547) plus every hint word, from a dictionary file written
// once at start. The search then runs about twice as fast (measured 0.16 against 0.31 of real
// time per stream) and, on the test phrases, misses no more words.
//
// Cepstral mean normalisation: in live decoding pocketsphinx keeps a running cepstral mean
// that carries over from one utterance to the next. On a pooled decoder that would let one
// call's audio shape the next call's recognition (measured: a phrase recognised alone was
// misheard after other calls had used the decoder), so every open() sets the mean to the
// caller's own (RecognizerAdaptation) or to the model's initial one.
//
// Decoding settings: the first (tree) pass with tighter pruning than pocketsphinx's
// defaults, no second flat pass, a best-path search over the lattice at the end. Measured on
// espeak-ng speech (bench/speech): this keeps recognition at ~0.1-0.3 of real time per
// stream and the end of an utterance at ~20 ms, where the defaults took 0.5-0.8 of real time
// and 180-340 ms, with no loss of words.
#include <pocketsphinx.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>
#include <sphinxbase/ngram_model.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "parley/host/log.hpp"
#include "parley/host/recognizer.hpp"

namespace parley::host {
namespace {

constexpr std::size_t kSearchesPerDecoder = 4;

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

struct ModelPaths {
  std::string hmm, lm, dict;
  explicit ModelPaths(const std::string& dir)
      : hmm(dir + "/en-us"), lm(dir + "/en-us.lm.bin"), dict(dir + "/cmudict-en-us.dict") {}
};

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

struct Decoder {
  struct Search {
    std::string key;   // the hint words joined ("" = the plain model)
    std::string name;  // the pocketsphinx search name
    std::uint64_t last_used = 0;
  };
  ps_decoder_t* ps = nullptr;
  ngram_model_t* general = nullptr;  // our reference to the general model
  std::vector<Search> searches;
  bool in_utterance = false;  // a stream was dropped mid-utterance: end it before reuse
  std::uint64_t uses = 0;
  std::vector<mfcc_t> initial_cmn;  // the model's cmninit, as loaded

  cmn_t* cmn() const {
    feat_t* f = ps_get_feat(ps);
    return f ? f->cmn_struct : nullptr;
  }

  Decoder() = default;
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
  ~Decoder() {
    if (general) ngram_model_free(general);
    if (ps) ps_free(ps);
  }
};

// What streams and the recognizer share: outlives both (a stream may be destroyed after the
// recognizer, e.g. inside a handler dropped when the io_context goes).
struct Pool {
  SpeechConfig config;
  ModelPaths paths;
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<Decoder>> idle;
  std::size_t alive = 0;  // idle + in use + being built
  std::size_t busy = 0;
  std::atomic<std::uint64_t> clock{0};
  // The spare builder (under `mutex`).
  std::condition_variable wake;
  bool stopping = false;
  bool build_failed = false;       // stop building spares after a failure (it would repeat)
  RecognitionHints spare_hints;    // the search a spare gets: the latest asked for
  std::size_t spares_built = 0;
  bool builder_running = false;

  // The dictionary the decoders load (see the top of the file), made by the first build.
  std::once_flag vocabulary_once;
  std::string dict_path;
  int dict_fd = -1;  // the written dictionary, already unlinked: read as /proc/self/fd/N
  std::mutex pron_mutex;
  std::map<std::string, std::string> prons;  // hint word -> phones, from the full dictionary

  explicit Pool(const SpeechConfig& c) : config(c), paths(c.model_dir) {}
  ~Pool() {
    if (dict_fd >= 0) ::close(dict_fd);
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  void prepare_vocabulary() {
    dict_path = paths.dict;
    if (config.vocabulary == 0) return;
    logmath_t* lmath = logmath_init(1.0001, 0, 0);
    ngram_model_t* lm = lmath ? ngram_model_read(nullptr, paths.lm.c_str(), NGRAM_AUTO, lmath) : nullptr;
    std::set<std::string> keep;
    if (lm) {
      const auto n = static_cast<std::int32_t>(ngram_model_get_counts(lm)[0]);
      std::vector<std::pair<std::int32_t, std::int32_t>> scored;  // (unigram score, word id)
      scored.reserve(static_cast<std::size_t>(n));
      for (std::int32_t w = 0; w < n; ++w) {
        int32 used = 0;
        scored.emplace_back(ngram_ng_score(lm, w, nullptr, 0, &used), w);
      }
      const std::size_t top = std::min<std::size_t>(config.vocabulary, scored.size());
      std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(top), scored.end(),
                        [](const auto& a, const auto& b) { return a.first > b.first; });
      for (std::size_t i = 0; i < top; ++i) keep.insert(ngram_word(lm, scored[i].second));
      ngram_model_free(lm);
    }
    if (lmath) logmath_free(lmath);
    if (keep.empty()) return;  // the whole dictionary, then
    std::ifstream in(paths.dict);
    std::string text, line;
    while (std::getline(in, line)) {
      const auto end = line.find_first_of(" \t(");
      if (end != std::string::npos && keep.count(line.substr(0, end))) text += line + '\n';
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/parley-dict-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) return;
    // Unlinked at once: nothing is left behind, even by a host that is killed.
    ::unlink(path.c_str());
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      ::close(fd);
      return;
    }
    dict_fd = fd;
    dict_path = "/proc/self/fd/" + std::to_string(fd);
  }

  // The first pronunciation of `word` in the full dictionary ("" if none).
  std::string pronunciation(const std::string& word) {
    std::lock_guard<std::mutex> lock(pron_mutex);
    auto it = prons.find(word);
    if (it != prons.end()) return it->second;
    std::ifstream in(paths.dict);
    std::string line, phones;
    while (std::getline(in, line)) {
      if (line.compare(0, word.size(), word) == 0 && line.size() > word.size() &&
          (line[word.size()] == ' ' || line[word.size()] == '\t')) {
        phones = line.substr(line.find_first_not_of(" \t", word.size()));
        break;
      }
    }
    prons[word] = phones;
    return phones;
  }

  Status check() const {
    for (const std::string* path : {&paths.hmm, &paths.lm, &paths.dict}) {
      if (!file_exists(*path)) {
        return make_error("recognizer_unavailable",
                          "the pocketsphinx model is missing: " + *path +
                              " does not exist (install the Debian package pocketsphinx-en-us, "
                              "or set server.speech.model_dir to a directory with en-us/, "
                              "en-us.lm.bin and cmudict-en-us.dict)");
      }
    }
    if (!file_exists(paths.hmm + "/mdef")) {
      return make_error("recognizer_unavailable",
                        "the pocketsphinx acoustic model is incomplete: " + paths.hmm +
                            "/mdef does not exist");
    }
    return ok_status();
  }

  Result<std::unique_ptr<Decoder>> build() {
    static std::once_flag quiet;
    std::call_once(quiet, [] { err_set_logfp(nullptr); });  // sphinxbase logs to stderr otherwise
    std::call_once(vocabulary_once, [this] { prepare_vocabulary(); });
    std::vector<std::string> args = {
        "-hmm", paths.hmm, "-dict", dict_path,
        "-fwdflat", "no", "-bestpath", "yes",
        "-maxhmmpf", "3000", "-maxwpf", "5", "-pl_window", "10", "-topn", "2"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    cmd_ln_t* cfg = cmd_ln_parse_r(nullptr, ps_args(), static_cast<int32>(argv.size()), argv.data(), FALSE);
    if (!cfg) return make_error("recognizer_failed", "pocketsphinx refused its settings");
    auto decoder = std::make_unique<Decoder>();
    decoder->ps = ps_init(cfg);
    cmd_ln_free_r(cfg);
    if (!decoder->ps)
      return make_error("recognizer_failed",
                        "pocketsphinx could not load its model from " + config.model_dir);
    decoder->general =
        ngram_model_read(ps_get_config(decoder->ps), paths.lm.c_str(), NGRAM_AUTO,
                         ps_get_logmath(decoder->ps));
    if (!decoder->general)
      return make_error("recognizer_failed", "pocketsphinx could not read " + paths.lm);
    if (cmn_t* c = decoder->cmn()) {
      decoder->initial_cmn.assign(static_cast<std::size_t>(c->veclen), 0);
      cmn_live_get(c, decoder->initial_cmn.data());
    }
    return decoder;
  }

  // Hint words the dictionary knows (the others cannot be recognised at all).
  // Hint words outside the decoder's vocabulary are added from the full dictionary; those
  // the full dictionary lacks too are left out (the start-up log names them).
  std::vector<std::string> known(Decoder& d, const RecognitionHints& hints) {
    std::vector<std::string> out;
    for (const auto& w : hints.words) {
      char* pron = ps_lookup_word(d.ps, w.c_str());
      if (pron) {
        out.push_back(w);
        ckd_free(pron);
        continue;
      }
      const std::string phones = pronunciation(w);
      if (!phones.empty() && ps_add_word(d.ps, w.c_str(), phones.c_str(), FALSE) >= 0) out.push_back(w);
    }
    return out;
  }

  // Activates the search for `hints` on `d`, building it if needed.
  Status select(Decoder& d, const RecognitionHints& hints) {
    const std::string key = join_words(hints.words);
    const std::uint64_t now = ++clock;
    for (auto& s : d.searches) {
      if (s.key == key) {
        s.last_used = now;
        if (ps_set_search(d.ps, s.name.c_str()) < 0)
          return make_error("recognizer_failed", "pocketsphinx could not switch searches");
        return ok_status();
      }
    }
    // A new search: a free slot, or the least recently used one.
    std::string name;
    if (d.searches.size() < kSearchesPerDecoder) {
      name = "s" + std::to_string(d.searches.size());
      d.searches.push_back({key, name, now});
    } else {
      auto lru = std::min_element(d.searches.begin(), d.searches.end(),
                                  [](const auto& a, const auto& b) { return a.last_used < b.last_used; });
      name = lru->name;
      *lru = {key, name, now};
    }
    const std::vector<std::string> words = known(d, hints);
    int rc = 0;
    if (words.empty()) {
      rc = ps_set_lm(d.ps, name.c_str(), d.general);
    } else {
      auto hint_lm = hint_model(d, words);
      if (!hint_lm) return std::move(hint_lm).error();
      ngram_model_t* models[2] = {d.general, *hint_lm};
      const char* names[2] = {"general", "hints"};
      const auto w = static_cast<float32>(config.hint_weight);
      float32 weights[2] = {1.0f - w, w};
      ngram_model_t* set = ngram_model_set_init(ps_get_config(d.ps), models,
                                                const_cast<char**>(names), weights, 2);
      ngram_model_free(*hint_lm);  // the set holds it now
      if (!set) return make_error("recognizer_failed", "pocketsphinx could not combine the hints");
      rc = ps_set_lm(d.ps, name.c_str(), set);
      ngram_model_free(set);  // the search holds it now
    }
    if (rc < 0 || ps_set_search(d.ps, name.c_str()) < 0) {
      d.searches.erase(std::remove_if(d.searches.begin(), d.searches.end(),
                                      [&](const auto& s) { return s.name == name; }),
                       d.searches.end());
      return make_error("recognizer_failed", "pocketsphinx could not build a search");
    }
    return ok_status();
  }

  // A unigram model of the hint words, equally likely (pocketsphinx reads models from files
  // only: a private temporary file, removed at once).
  Result<ngram_model_t*> hint_model(Decoder& d, const std::vector<std::string>& words) {
    std::ostringstream arpa;
    const double p = std::log10(1.0 / static_cast<double>(words.size()));
    arpa << "\\data\\\nngram 1=" << words.size() + 2 << "\n\n\\1-grams:\n";
    arpa << "-99 <s>\n" << p << " </s>\n";
    for (const auto& w : words) arpa << p << ' ' << w << '\n';
    arpa << "\n\\end\\\n";
    const char* tmp = std::getenv("TMPDIR");
    std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/parley-hints-XXXXXX";
    const int fd = ::mkstemp(path.data());
    if (fd < 0) return make_error("recognizer_failed", "could not write the hint model to " + path);
    const std::string text = arpa.str();
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    ngram_model_t* lm = written ? ngram_model_read(ps_get_config(d.ps), path.c_str(), NGRAM_ARPA,
                                                   ps_get_logmath(d.ps))
                                : nullptr;
    ::unlink(path.c_str());
    if (!lm) return make_error("recognizer_failed", "pocketsphinx could not read the hint model");
    return lm;
  }

  // Takes an idle decoder (one that already has the search for `key` if any), or builds a
  // new one while fewer than max_decoders exist.
  Result<std::unique_ptr<Decoder>> acquire(const RecognitionHints& hints) {
    const std::string key = join_words(hints.words);
    {
      std::lock_guard<std::mutex> lock(mutex);
      spare_hints = hints;
      if (!idle.empty()) {
        auto it = std::find_if(idle.begin(), idle.end(), [&](const auto& d) {
          return std::any_of(d->searches.begin(), d->searches.end(),
                             [&](const auto& s) { return s.key == key; });
        });
        if (it == idle.end()) it = idle.end() - 1;
        auto d = std::move(*it);
        idle.erase(it);
        ++busy;
        wake.notify_all();  // the spare is taken: build the next
        return d;
      }
      if (alive >= config.max_decoders)
        return make_error("recognizer_busy", "all " + std::to_string(config.max_decoders) +
                                                 " speech decoders are in use");
      if (builder_running) {
        // The spare builder is on it (it builds while none is idle): building a second one
        // here would hold a speech worker for a second and slow both down.
        wake.notify_all();
        return make_error("recognizer_busy", "a speech decoder is being loaded");
      }
      ++alive;
      ++busy;
    }
    auto built = build();
    if (!built) {
      std::lock_guard<std::mutex> lock(mutex);
      --alive;
      --busy;
    }
    return built;
  }

  // The spare builder's loop: whenever no decoder is idle and fewer than max_decoders exist,
  // build one (with the search last asked for) and put it in the pool.
  void build_spares() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      wake.wait(lock, [this] {
        return stopping || (!build_failed && idle.empty() && alive < config.max_decoders);
      });
      if (stopping) return;
      ++alive;
      RecognitionHints hints = spare_hints;
      lock.unlock();
      const auto t0 = std::chrono::steady_clock::now();
      auto built = build();
      Status ready = built ? select(**built, hints) : Status(built.error());
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - t0).count();
      lock.lock();
      if (built && ready) {
        idle.push_back(std::move(*built));
        ++spares_built;
        log_event(LogLevel::info, spares_built == 1 ? "speech.ready" : "speech.decoder",
                  "pocketsphinx decoder " + std::to_string(alive) + " of at most " +
                      std::to_string(config.max_decoders) + " loaded in " + std::to_string(ms) + " ms");
      } else {
        --alive;
        build_failed = true;
        log_event(LogLevel::error, "speech.decoder_failed",
                  (built ? ready.error().message : built.error().message) +
                      "; no more decoders will be built ahead");
      }
      wake.notify_all();
    }
  }

  void release(std::unique_ptr<Decoder> d) {
    std::lock_guard<std::mutex> lock(mutex);
    --busy;
    idle.push_back(std::move(d));
  }
  void discard() {
    std::lock_guard<std::mutex> lock(mutex);
    --busy;
    --alive;
  }
};

class PocketsphinxStream final : public RecognizerStream {
 public:
  PocketsphinxStream(std::shared_ptr<Pool> pool, std::unique_ptr<Decoder> decoder)
      : pool_(std::move(pool)), decoder_(std::move(decoder)) {}
  ~PocketsphinxStream() override {
    if (!decoder_) return;
    // Ending an utterance costs a search pass: leave it to the next open() (on a worker)
    // rather than whichever thread drops this stream.
    decoder_->in_utterance = !finished_;
    pool_->release(std::move(decoder_));
  }

  Status feed(const std::int16_t* samples, std::size_t count) override {
    if (finished_) return make_error("recognizer_failed", "the utterance is already finished");
    while (count > 0) {
      // 100 ms per call: with the caller feeding whole blocks, the calls fall on the same
      // samples on every run, and so does recognition.
      const std::size_t n = std::min<std::size_t>(count, 1600);
      if (ps_process_raw(decoder_->ps, samples, n, FALSE, FALSE) < 0)
        return make_error("recognizer_failed", "pocketsphinx could not process the audio");
      samples += n;
      count -= n;
    }
    return ok_status();
  }

  std::string partial() override {
    if (finished_) return {};
    int32 score = 0;
    const char* hyp = ps_get_hyp(decoder_->ps, &score);
    return hyp ? hyp : "";
  }

  Result<std::string> finish() override {
    if (finished_) return make_error("recognizer_failed", "the utterance is already finished");
    finished_ = true;
    if (ps_end_utt(decoder_->ps) < 0)
      return make_error("recognizer_failed", "pocketsphinx could not end the utterance");
    int32 score = 0;
    const char* hyp = ps_get_hyp(decoder_->ps, &score);
    std::string text = hyp ? hyp : "";
    if (cmn_t* c = decoder_->cmn()) {
      std::vector<mfcc_t> mean(static_cast<std::size_t>(c->veclen));
      cmn_live_get(c, mean.data());
      adaptation_.values.assign(mean.begin(), mean.end());
    }
    return text;
  }

  RecognizerAdaptation adaptation() const override { return adaptation_; }

 private:
  std::shared_ptr<Pool> pool_;
  std::unique_ptr<Decoder> decoder_;
  bool finished_ = false;
  RecognizerAdaptation adaptation_;
};

class PocketsphinxRecognizer final : public Recognizer {
 public:
  explicit PocketsphinxRecognizer(const SpeechConfig& config)
      : pool_(std::make_shared<Pool>(config)), status_(pool_->check()) {}
  ~PocketsphinxRecognizer() override {
    {
      std::lock_guard<std::mutex> lock(pool_->mutex);
      pool_->stopping = true;
    }
    pool_->wake.notify_all();
    if (builder_.joinable()) builder_.join();
  }
  PocketsphinxRecognizer(const PocketsphinxRecognizer&) = delete;
  PocketsphinxRecognizer& operator=(const PocketsphinxRecognizer&) = delete;

  std::string_view name() const override { return "pocketsphinx"; }
  Status check() const override { return status_; }

  Result<std::unique_ptr<RecognizerStream>> open(const RecognitionHints& hints,
                                                 const RecognizerAdaptation& adaptation) override {
    if (!status_) return status_.error();
    auto acquired = pool_->acquire(hints);
    if (!acquired) return std::move(acquired).error();
    std::unique_ptr<Decoder> d = std::move(*acquired);
    if (d->in_utterance) {
      ps_end_utt(d->ps);
      d->in_utterance = false;
    }
    if (auto selected = pool_->select(*d, hints); !selected) {
      pool_->discard();  // this decoder's searches are in an unknown state: build anew later
      return std::move(selected).error();
    }
    if (cmn_t* c = d->cmn(); c && !d->initial_cmn.empty()) {
      std::vector<mfcc_t> mean = d->initial_cmn;
      if (adaptation.values.size() == mean.size())
        for (std::size_t i = 0; i < mean.size(); ++i) mean[i] = static_cast<mfcc_t>(adaptation.values[i]);
      cmn_live_set(c, mean.data());
    }
    if (ps_start_utt(d->ps) < 0) {
      pool_->discard();
      return make_error("recognizer_failed", "pocketsphinx could not start an utterance");
    }
    ++d->uses;
    return std::unique_ptr<RecognizerStream>(new PocketsphinxStream(pool_, std::move(d)));
  }

  Status warm_up(const RecognitionHints& hints) override {
    if (!status_) return status_;
    {
      std::lock_guard<std::mutex> lock(pool_->mutex);
      pool_->spare_hints = hints;
      if (builder_.joinable()) return ok_status();
      pool_->builder_running = true;
    }
    builder_ = std::thread([pool = pool_] { pool->build_spares(); });
    return ok_status();
  }

  std::size_t decoders() const override {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    return pool_->alive;
  }
  std::size_t decoders_busy() const override {
    std::lock_guard<std::mutex> lock(pool_->mutex);
    return pool_->busy;
  }

  std::vector<std::string> unknown_words(const RecognitionHints& hints) const override {
    std::vector<std::string> out;
    if (!status_) return out;
    // Plain text lookup in the dictionary file (no decoder needed): "word  PHONES" lines,
    // alternatives as "word(2)".
    std::set<std::string> wanted(hints.words.begin(), hints.words.end());
    std::ifstream dict(pool_->paths.dict);
    std::string line;
    while (!wanted.empty() && std::getline(dict, line)) {
      const auto end = line.find_first_of(" \t(");
      if (end != std::string::npos) wanted.erase(line.substr(0, end));
    }
    return {wanted.begin(), wanted.end()};
  }

 private:
  std::shared_ptr<Pool> pool_;
  Status status_;
  std::thread builder_;  // started by warm_up()
};

}  // namespace

std::unique_ptr<Recognizer> make_pocketsphinx_recognizer(const SpeechConfig& config) {
  return std::make_unique<PocketsphinxRecognizer>(config);
}

}  // namespace parley::host
