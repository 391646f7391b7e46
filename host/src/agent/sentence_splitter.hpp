// Cuts text that arrives in pieces (an LLM's stream) into sentences as soon as each one ends,
// so synthesis can start on the first sentence while the model is still writing (issue 15).
//
// A sentence ends at '.', '!', '?' or '…' (repeats and closing quotes or brackets included)
// followed by white space, at a CJK full stop (。！？), or at a line break. A '.' is not an
// end when the next word starts in lower case ("e.g. this", "5 p.m. today"), after a single
// letter (an initial) or a common abbreviation (Mr, Dr, St, vs, etc.), or inside a number
// or a name ("3.5", "example.com"). '!' and '?' end a sentence at once, and so does a '.'
// after a plain word; after a digit, an initial or an abbreviation it waits for the next word. A run without an end longer than max_bytes is cut at the last
// clause mark (, ; :) or space before it, so a long sentence never holds up speech.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace parley::host {

class SentenceSplitter {
 public:
  explicit SentenceSplitter(std::size_t max_bytes = 240) : max_bytes_(max_bytes) {}

  // The sentences completed by `piece` (trimmed, never empty).
  std::vector<std::string> feed(std::string_view piece);
  // The text left (trimmed; "" when none), and a fresh start.
  std::string finish();
  // Everything fed and not yet returned.
  const std::string& pending() const { return buffer_; }

 private:
  std::size_t boundary() const;  // the end of the first complete sentence, or npos
  std::size_t max_bytes_;
  std::string buffer_;
};

}  // namespace parley::host
