// A small snprintf / vsnprintf / vasprintf / strerror for the browser build (and the stdio
// printfs as no-ops), linked in with
// -Wl,--wrap (wasm/CMakeLists.txt). The only callers left in the SDK's module are libraries
// formatting integers and strings into messages (nlohmann's lexer: "<U+%.4X>"; Boost.System:
// "%s", "Unknown error %d"); musl's printf would bring its floating-point formatter and the
// 128-bit long double arithmetic under it (about 7 KB of code), and strerror its table of
// messages. Supported: flags '-' and '0', width, precision, the length modifiers h hh l ll z
// j t, and the conversions d i u x X o c s p %. Anything else (a float) prints "?": no caller
// here formats one.
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

struct Out {
  char* buffer;
  std::size_t size;
  std::size_t length = 0;
  void put(char c) {
    if (length + 1 < size) buffer[length] = c;
    ++length;
  }
  void finish() {
    if (size > 0) buffer[length < size ? length : size - 1] = '\0';
  }
};

void pad(Out& out, int count, char with) {
  for (int i = 0; i < count; ++i) out.put(with);
}

void put_text(Out& out, const char* text, std::size_t n, int width, bool left) {
  const int fill = width > static_cast<int>(n) ? width - static_cast<int>(n) : 0;
  if (!left) pad(out, fill, ' ');
  for (std::size_t i = 0; i < n; ++i) out.put(text[i]);
  if (left) pad(out, fill, ' ');
}

void put_number(Out& out, std::uintmax_t value, bool negative, unsigned base, bool upper,
                int width, int precision, bool left, bool zero) {
  char digits[32];
  int n = 0;
  const char* set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  do {
    digits[n++] = set[value % base];
    value /= base;
  } while (value != 0 && n < 32);
  if (precision == 0 && n == 1 && digits[0] == '0') n = 0;
  const int zeros = precision > n ? precision - n : 0;
  const int body = n + zeros + (negative ? 1 : 0);
  const int fill = width > body ? width - body : 0;
  if (!left && !(zero && precision < 0)) pad(out, fill, ' ');
  if (negative) out.put('-');
  if (!left && zero && precision < 0) pad(out, fill, '0');
  pad(out, zeros, '0');
  while (n > 0) out.put(digits[--n]);
  if (left) pad(out, fill, ' ');
}

}  // namespace

extern "C" {

int __wrap_vsnprintf(char* buffer, std::size_t size, const char* format, va_list args) {
  Out out{buffer, size};
  for (const char* p = format; *p; ++p) {
    if (*p != '%') {
      out.put(*p);
      continue;
    }
    ++p;
    bool left = false, zero = false;
    for (;; ++p) {
      if (*p == '-') left = true;
      else if (*p == '0') zero = true;
      else if (*p != '+' && *p != ' ' && *p != '#') break;
    }
    int width = 0;
    if (*p == '*') {
      width = va_arg(args, int);
      ++p;
    } else {
      while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
    }
    int precision = -1;
    if (*p == '.') {
      ++p;
      precision = 0;
      if (*p == '*') {
        precision = va_arg(args, int);
        ++p;
      } else {
        while (*p >= '0' && *p <= '9') precision = precision * 10 + (*p++ - '0');
      }
    }
    int longs = 0;  // 0 int, 1 long, 2 long long / intmax / size
    while (*p == 'h' || *p == 'l' || *p == 'z' || *p == 'j' || *p == 't') {
      if (*p == 'l') ++longs;
      else if (*p != 'h') longs = 2;
      ++p;
    }
    const char c = *p;
    if (c == '\0') break;
    if (c == 'd' || c == 'i') {
      std::intmax_t v = longs >= 2 ? va_arg(args, long long) : longs == 1 ? va_arg(args, long) : va_arg(args, int);
      const bool negative = v < 0;
      const std::uintmax_t magnitude = negative ? 0 - static_cast<std::uintmax_t>(v) : static_cast<std::uintmax_t>(v);
      put_number(out, magnitude, negative, 10, false, width, precision, left, zero);
    } else if (c == 'u' || c == 'x' || c == 'X' || c == 'o') {
      std::uintmax_t v = longs >= 2 ? va_arg(args, unsigned long long)
                         : longs == 1 ? va_arg(args, unsigned long) : va_arg(args, unsigned);
      put_number(out, v, false, c == 'o' ? 8 : c == 'u' ? 10 : 16, c == 'X', width, precision, left, zero);
    } else if (c == 'p') {
      out.put('0');
      out.put('x');
      put_number(out, reinterpret_cast<std::uintptr_t>(va_arg(args, void*)), false, 16, false, 0, -1, false, false);
    } else if (c == 'c') {
      const char ch = static_cast<char>(va_arg(args, int));
      put_text(out, &ch, 1, width, left);
    } else if (c == 's') {
      const char* s = va_arg(args, const char*);
      if (!s) s = "(null)";
      std::size_t n = std::strlen(s);
      if (precision >= 0 && static_cast<std::size_t>(precision) < n) n = static_cast<std::size_t>(precision);
      put_text(out, s, n, width, left);
    } else if (c == '%') {
      out.put('%');
    } else {
      // A floating-point conversion: nothing in this module formats one.
      if (c == 'f' || c == 'F' || c == 'e' || c == 'E' || c == 'g' || c == 'G' || c == 'a' || c == 'A')
        (void)va_arg(args, double);
      out.put('?');
    }
  }
  out.finish();
  return static_cast<int>(out.length);
}

int __wrap_snprintf(char* buffer, std::size_t size, const char* format, ...) {
  va_list args;
  va_start(args, format);
  const int n = __wrap_vsnprintf(buffer, size, format, args);
  va_end(args);
  return n;
}

// stdio streams go nowhere in this module (the SDK gives Emscripten no print functions):
// libc++'s abort messages are formatted for stderr only.
int __wrap_fprintf(void*, const char*, ...) { return 0; }
int __wrap_fiprintf(void*, const char*, ...) { return 0; }
int __wrap_vfprintf(void*, const char*, va_list) { return 0; }
int __wrap_vfiprintf(void*, const char*, va_list) { return 0; }

int __wrap_vasprintf(char** out, const char* format, va_list args) {
  va_list again;
  va_copy(again, args);
  const int n = __wrap_vsnprintf(nullptr, 0, format, args);
  char* buffer = n >= 0 ? static_cast<char*>(std::malloc(static_cast<std::size_t>(n) + 1)) : nullptr;
  if (!buffer) {
    va_end(again);
    *out = nullptr;
    return -1;
  }
  __wrap_vsnprintf(buffer, static_cast<std::size_t>(n) + 1, format, again);
  va_end(again);
  *out = buffer;
  return n;
}

char* __wrap_strerror(int) {
  static char text[] = "system error";
  return text;
}

}  // extern "C"
