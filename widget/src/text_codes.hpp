// Small text helpers the core's JSON and URL readers share (widget/src only, not API).
#pragma once

#include <cstdint>
#include <string>

namespace parley {

// Appends the UTF-8 form of a code point (<= U+10FFFF, not a surrogate).
void append_utf8(std::string& out, std::uint32_t code_point);

// The value of a hex digit (0-9, a-f, A-F), or -1 for any other byte.
int hex_digit_value(char c) noexcept;

}  // namespace parley
