// Finished syntheses kept for reuse (issue 16): the same text in the same voice is spoken from
// the kept audio instead of being synthesised again. A greeting whose filled text is the same
// for every caller (a campaign, a burst of calls) is synthesised once.
//
// Bounded by bytes (server.speech.synth_cache_mb), least recently used first out. A piece of
// audio larger than an eighth of the bound is not kept (it would push out many others).
// The audio is 16 kHz PCM16, shared read-only: every call speaking it holds a reference,
// so an entry pushed out stays alive for the calls still playing it.
//
// Io thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace parley::host {

using Pcm = std::shared_ptr<const std::vector<std::int16_t>>;

class SynthCache {
 public:
  explicit SynthCache(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // The key of `text` spoken with `voice`.
  static std::string key(const std::string& voice, const std::string& text);

  // The audio kept under `key`, or null. A hit makes the entry the most recently used.
  Pcm find(const std::string& key);
  // Keeps `pcm` under `key` (replacing what was there), then pushes out the least recently
  // used entries until the total fits. Audio over max_bytes / 8 is not kept.
  void insert(const std::string& key, Pcm pcm);

  std::size_t bytes() const { return bytes_; }
  std::size_t entries() const { return index_.size(); }
  std::size_t max_bytes() const { return max_bytes_; }

 private:
  struct Entry {
    std::string key;
    Pcm pcm;
  };
  static std::size_t size_of(const Pcm& pcm) { return pcm->size() * sizeof(std::int16_t); }

  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  std::list<Entry> order_;  // front: most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace parley::host
