// strtod, strtoll and strtoull for the browser build, linked in with -Wl,--wrap
// (wasm/CMakeLists.txt). The only caller in the SDK's module is parse_json (widget/src/json.cpp),
// which hands them a number token it has already checked against JSON's grammar. musl's strtod
// reads floats with 128-bit long double arithmetic (__multf3, __divtf3, fmodl, ...: about
// 8 KB of code, 3.7 KB gzip); JavaScript's Number() reads a decimal number correctly rounded
// too, so strtod asks the JS (wasm/js/core.mjs) for the value of the span it scanned.
// Decimal forms only: the JSON grammar has no hex floats, inf or nan.
#include <cerrno>
#include <cmath>
#include <cstddef>
#include <cstdint>

extern "C" {
double pl_js_parse_number(const char* text, std::size_t size);
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// The end of the longest prefix of `p` of the form [+-]digits[.digits][(e|E)[+-]digits] (at
// least one digit in the mantissa), or null when there is none.
const char* scan_decimal(const char* p) {
  if (*p == '+' || *p == '-') ++p;
  bool digits = false;
  while (is_digit(*p)) ++p, digits = true;
  if (*p == '.') {
    const char* q = p + 1;
    bool fraction = false;
    while (is_digit(*q)) ++q, fraction = true;
    if (fraction || digits) p = q;
    digits = digits || fraction;
  }
  if (!digits) return nullptr;
  if (*p == 'e' || *p == 'E') {
    const char* q = p + 1;
    if (*q == '+' || *q == '-') ++q;
    if (is_digit(*q)) {
      while (is_digit(*q)) ++q;
      p = q;
    }
  }
  return p;
}

// Base-10 magnitude of the digits at `p`, saturated at `limit` (overflow is reported).
const char* scan_integer(const char* s, bool& negative, std::uint64_t limit, std::uint64_t& value,
                         bool& overflow) {
  const char* p = s;
  while (is_space(*p)) ++p;
  negative = *p == '-';
  if (*p == '+' || *p == '-') ++p;
  if (!is_digit(*p)) return nullptr;
  value = 0;
  overflow = false;
  for (; is_digit(*p); ++p) {
    const auto d = static_cast<std::uint64_t>(*p - '0');
    if (value > (limit - d) / 10) overflow = true;
    else value = value * 10 + d;
  }
  return p;
}

}  // namespace

extern "C" {

double __wrap_strtod(const char* s, char** end) {
  const char* p = s;
  while (is_space(*p)) ++p;
  const char* stop = scan_decimal(p);
  if (!stop) {
    if (end) *end = const_cast<char*>(s);
    return 0.0;
  }
  if (end) *end = const_cast<char*>(stop);
  const double value = pl_js_parse_number(p, static_cast<std::size_t>(stop - p));
  if (std::isinf(value)) errno = ERANGE;
  return value;
}

unsigned long long __wrap_strtoull(const char* s, char** end, int base) {
  bool negative = false, overflow = false;
  std::uint64_t value = 0;
  const char* stop = base == 10 ? scan_integer(s, negative, UINT64_MAX, value, overflow) : nullptr;
  if (end) *end = const_cast<char*>(stop ? stop : s);
  if (!stop) {
    if (base != 10) errno = EINVAL;
    return 0;
  }
  if (overflow) {
    errno = ERANGE;
    return UINT64_MAX;
  }
  return negative ? 0 - value : value;
}

long long __wrap_strtoll(const char* s, char** end, int base) {
  bool negative = false, overflow = false;
  std::uint64_t value = 0;
  const char* stop = nullptr;
  if (base == 10) {
    // The magnitude may reach 2^63 for a negative number, 2^63 - 1 otherwise.
    const char* q = s;
    while (is_space(*q)) ++q;
    const std::uint64_t limit = *q == '-' ? std::uint64_t{1} << 63 : INT64_MAX;
    stop = scan_integer(s, negative, limit, value, overflow);
  }
  if (end) *end = const_cast<char*>(stop ? stop : s);
  if (!stop) {
    if (base != 10) errno = EINVAL;
    return 0;
  }
  if (overflow) {
    errno = ERANGE;
    return negative ? INT64_MIN : INT64_MAX;
  }
  return negative ? static_cast<long long>(0 - value) : static_cast<long long>(value);
}

}  // extern "C"
