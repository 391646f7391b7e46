#include "sentence_splitter.hpp"

#include <array>

namespace parley::host {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string trimmed(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

// A closing quote or bracket at `at`: its length in bytes, or 0.
std::size_t closer_at(std::string_view s, std::size_t at) {
  const char c = s[at];
  if (c == '"' || c == '\'' || c == ')' || c == ']') return 1;
  // ” (E2 80 9D), ’ (E2 80 99), » (C2 BB)
  if (s.substr(at, 3) == "\xE2\x80\x9D" || s.substr(at, 3) == "\xE2\x80\x99") return 3;
  if (s.substr(at, 2) == "\xC2\xBB") return 2;
  return 0;
}

// The word just before the '.' at `dot` is an abbreviation or an initial.
bool abbreviation_before(std::string_view s, std::size_t dot) {
  std::size_t start = dot;
  while (start > 0 && (is_alpha(s[start - 1]) || s[start - 1] == '.')) --start;
  std::string word;
  for (std::size_t i = start; i < dot; ++i) {
    const char c = s[i];
    word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  if (word.size() == 1 && is_alpha(word[0])) return true;  // an initial: "J. Smith"
  static constexpr std::array<std::string_view, 21> known = {
      "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "no",
      "approx", "mt", "ft", "inc", "ltd", "co", "dept", "est"};
  for (auto k : known) {
    if (word == k) return true;
  }
  return false;
}

}  // namespace

std::size_t SentenceSplitter::boundary() const {
  const std::string_view s = buffer_;
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = s[i];
    if (c == '\n') return i + 1;
    // CJK full stop, exclamation and question marks end a sentence where they stand.
    if (s.substr(i, 3) == "\xE3\x80\x82" || s.substr(i, 3) == "\xEF\xBC\x81" ||
        s.substr(i, 3) == "\xEF\xBC\x9F") {
      std::size_t j = i + 3;
      while (j < n) {
        const std::size_t k = closer_at(s, j);
        if (k == 0) break;
        j += k;
      }
      return j;
    }
    const bool ellipsis = s.substr(i, 3) == "\xE2\x80\xA6";
    if (c != '.' && c != '!' && c != '?' && !ellipsis) continue;
    if (c == '.') {
      // "1. Eggs": a number that starts a line is a list item's mark, not a sentence.
      std::size_t d = i;
      while (d > 0 && s[d - 1] >= '0' && s[d - 1] <= '9') --d;
      if (d < i && (d == 0 || s[d - 1] == '\n')) continue;
    }
    std::size_t j = i + (ellipsis ? 3 : 1);
    bool only_dots = c == '.' || ellipsis;
    while (j < n) {
      if (s[j] == '.' || s[j] == '!' || s[j] == '?') {
        if (s[j] != '.') only_dots = false;
        ++j;
      } else if (s.substr(j, 3) == "\xE2\x80\xA6") {
        j += 3;
      } else {
        break;
      }
    }
    while (j < n) {
      const std::size_t k = closer_at(s, j);
      if (k == 0) break;
      j += k;
    }
    if (j >= n) {
      // At the end of what arrived so far: '!' and '?' end here, and so does one '.' after a
      // word that is not an abbreviation (the model's next token may be a while away). A '.'
      // after a digit ("3." of "3.5"), an initial or an abbreviation, and "...", wait.
      if (!only_dots) return j;
      if (c == '.' && !ellipsis && i >= 2 && is_alpha(s[i - 1]) && is_alpha(s[i - 2]) &&
          (i + 1 >= n || s[i + 1] != '.') && !abbreviation_before(s, i)) {
        return j;
      }
      return std::string::npos;
    }
    if (!is_space(s[j])) {
      i = j - 1;  // "3.5", "example.com", "?!x": not an end
      continue;
    }
    if (only_dots) {
      std::size_t k = j;
      bool line_break = false;
      while (k < n && is_space(s[k])) line_break |= s[k++] == '\n';
      if (line_break) return j;
      if (k >= n) {
        // Only white space after it so far: a '.' after a plain word ends here, others wait
        // for the next word to decide.
        if (c == '.' && !ellipsis && i >= 2 && is_alpha(s[i - 1]) && is_alpha(s[i - 2]) &&
            (i + 1 >= n || s[i + 1] != '.') && !abbreviation_before(s, i)) {
          return j;
        }
        return std::string::npos;
      }
      if (is_lower(s[k])) {
        i = j - 1;
        continue;
      }
      if (c == '.' && !ellipsis && abbreviation_before(s, i)) {
        i = j - 1;
        continue;
      }
    }
    return j;
  }
  return std::string::npos;
}

std::vector<std::string> SentenceSplitter::feed(std::string_view piece) {
  buffer_.append(piece);
  std::vector<std::string> out;
  for (;;) {
    std::size_t end = boundary();
    if (end == std::string::npos) {
      if (buffer_.size() <= max_bytes_) break;
      // Too long without an end: cut at the last clause mark, else the last space.
      std::size_t cut = std::string::npos;
      for (std::size_t i = max_bytes_; i > 0; --i) {
        const char c = buffer_[i - 1];
        if ((c == ',' || c == ';' || c == ':') && i < buffer_.size() && is_space(buffer_[i])) {
          cut = i;
          break;
        }
      }
      if (cut == std::string::npos) {
        for (std::size_t i = max_bytes_; i > 0; --i) {
          if (is_space(buffer_[i - 1])) {
            cut = i;
            break;
          }
        }
      }
      if (cut == std::string::npos) {
        // One endless word: cut at a UTF-8 character boundary.
        cut = max_bytes_;
        while (cut > 0 && (static_cast<unsigned char>(buffer_[cut]) & 0xC0) == 0x80) --cut;
        if (cut == 0) cut = max_bytes_;
      }
      end = cut;
    }
    std::string sentence = trimmed(std::string_view(buffer_).substr(0, end));
    buffer_.erase(0, end);
    if (!sentence.empty()) out.push_back(std::move(sentence));
  }
  return out;
}

std::string SentenceSplitter::finish() {
  std::string rest = trimmed(buffer_);
  buffer_.clear();
  return rest;
}

}  // namespace parley::host
