#include "synth_cache.hpp"

#include <utility>

namespace parley::host {

std::string SynthCache::key(const std::string& voice, const std::string& text) {
  std::string k;
  k.reserve(voice.size() + 1 + text.size());
  k += voice;
  k += '\0';  // a voice name never holds a NUL, so no two (voice, text) pairs share a key
  k += text;
  return k;
}

Pcm SynthCache::find(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->pcm;
}

void SynthCache::insert(const std::string& key, Pcm pcm) {
  if (!pcm) return;
  const std::size_t size = size_of(pcm);
  if (max_bytes_ == 0 || size > max_bytes_ / 8) return;
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= size_of(it->second->pcm);
    order_.erase(it->second);
    index_.erase(it);
  }
  order_.push_front(Entry{key, std::move(pcm)});
  index_[key] = order_.begin();
  bytes_ += size;
  while (bytes_ > max_bytes_ && !order_.empty()) {
    Entry& last = order_.back();
    bytes_ -= size_of(last.pcm);
    index_.erase(last.key);
    order_.pop_back();
  }
}

}  // namespace parley::host
