// Result<T>: a value or an Error, the way every fallible core function answers.
// The core never lets an exception cross its API; an Error names what is wrong so that a
// person can act on it (DESIGN §9).
//
// Stored as a tagged union rather than a std::variant<T, Error>: libc++'s variant visits every
// copy, move and destruction through tables of dispatch functions, generated for each of the
// ~50 Result types, which cost the browser SDK's module several KB for what is a two-way
// branch here (README, "Sizes").
#pragma once

#include <cstdlib>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>  // std::bad_variant_access, which misuse throws as it did

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

namespace detail {

// Reading the alternative a Result does not hold is a bug of the caller.
[[noreturn]] inline void bad_result_access() {
#if defined(__cpp_exceptions)
  throw std::bad_variant_access();
#else
  std::abort();
#endif
}

// The union and its lifetime; copy and move are those of T and Error.
template <class T>
class ResultStorage {
 public:
  explicit ResultStorage(T&& value) : ok_(true) { new (&value_) T(std::move(value)); }
  explicit ResultStorage(Error&& error) : ok_(false) { new (&error_) Error(std::move(error)); }
  ResultStorage(const ResultStorage& other) : ok_(other.ok_) {
    if (ok_) new (&value_) T(other.value_);
    else new (&error_) Error(other.error_);
  }
  ResultStorage(ResultStorage&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : ok_(other.ok_) {
    if (ok_) new (&value_) T(std::move(other.value_));
    else new (&error_) Error(std::move(other.error_));
  }
  ResultStorage& operator=(const ResultStorage& other) {
    if (this != &other) assign(other);
    return *this;
  }
  ResultStorage& operator=(ResultStorage&& other) noexcept(
      std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>) {
    if (this != &other) assign(std::move(other));
    return *this;
  }
  ~ResultStorage() { destroy(); }

 protected:
  template <class Other>
  void assign(Other&& other) {
    if (ok_ && other.ok_) {
      value_ = std::forward<Other>(other).value_;
    } else if (!ok_ && !other.ok_) {
      error_ = std::forward<Other>(other).error_;
    } else {
      destroy();
      ok_ = other.ok_;
      if (ok_) new (&value_) T(std::forward<Other>(other).value_);
      else new (&error_) Error(std::forward<Other>(other).error_);
    }
  }
  void destroy() noexcept {
    if (ok_) value_.~T();
    else error_.~Error();
  }

  bool ok_;
  union {
    T value_;
    Error error_;
  };
};

// Result<T> is copyable exactly when T is (the storage's copy is only instantiated then).
template <bool copyable>
struct CopyGate {};
template <>
struct CopyGate<false> {
  CopyGate() = default;
  CopyGate(const CopyGate&) = delete;
  CopyGate(CopyGate&&) = default;
  CopyGate& operator=(const CopyGate&) = delete;
  CopyGate& operator=(CopyGate&&) = default;
};

}  // namespace detail

template <class T>
class [[nodiscard]] Result : private detail::ResultStorage<T>,
                             private detail::CopyGate<std::is_copy_constructible_v<T>> {
  using Storage = detail::ResultStorage<T>;

 public:
  Result(T value) : Storage(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : Storage(std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return this->ok_; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return checked_value(); }
  const T& value() const& { return const_cast<Result*>(this)->checked_value(); }
  T&& value() && { return std::move(checked_value()); }
  const Error& error() const& { return const_cast<Result*>(this)->checked_error(); }
  Error&& error() && { return std::move(checked_error()); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  T& checked_value() {
    if (!this->ok_) detail::bad_result_access();
    return this->value_;
  }
  Error& checked_error() {
    if (this->ok_) detail::bad_result_access();
    return this->error_;
  }
};

// For operations that produce nothing but may fail.
using Status = Result<Unit>;
inline Status ok_status() { return Unit{}; }

}  // namespace parley
