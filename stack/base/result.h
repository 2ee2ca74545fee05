// Result<T>: a value or a POSIX errno. The layers above (the shim, then the app)
// hand these errno values straight to programs, so they must be the ones the Linux
// kernel would return for the same call.
#pragma once

#include <cerrno>
#include <utility>

namespace utcp::stack {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)), err_(0) {}  // NOLINT: implicit by design
  static Result error(int err) { Result r; r.err_ = err; return r; }

  bool ok() const { return err_ == 0; }
  explicit operator bool() const { return ok(); }
  int err() const { return err_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T& operator*() { return value_; }
  const T& operator*() const { return value_; }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }

 private:
  Result() = default;
  T value_{};
  int err_ = 0;
};

// For calls that return nothing but may fail: 0 on success, else an errno value.
using Errno = int;

}  // namespace utcp::stack
