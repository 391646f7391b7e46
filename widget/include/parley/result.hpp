// Result<T>: a value or an Error, the way every fallible core function answers.
// The core never lets an exception cross its API; an Error names what is wrong so that a
// person can act on it (DESIGN §9).
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace parley {

struct Error {
  std::string code;     // stable, machine-readable: "bad_percent_encoding", "metadata_too_large", ...
  std::string message;  // for people: names the field/parameter and the rule broken

  friend bool operator==(const Error& a, const Error& b) {
    return a.code == b.code && a.message == b.message;
  }
};

inline Error make_error(std::string code, std::string message) {
  return Error{std::move(code), std::move(message)};
}

struct Unit {
  friend bool operator==(Unit, Unit) { return true; }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

// For operations that produce nothing but may fail.
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace parley
