// Status and Result: the error policy for expected failures.
//
// Expected failures (I/O, not found, corrupt data, bad input) are returned as a Status or a
// Result<T>, never thrown. Exceptions are reserved for API misuse (calling value() on an error
// Result is one); assertions guard invariants. Messages name what was wrong and where, e.g.
// "models/pump.json: $.contents[3].schema: unknown schema 'dobule'".
#pragma once

#include <cassert>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace doppel {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from outside: payloads, bodies, configs, models
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kCorruption,  // on-disk data failed a CRC or structural check
  kIOError,
  kUnavailable,        // a peer (broker, server) is not reachable right now
  kResourceExhausted,  // queue full, disk full
  kFailedPrecondition,
  kDeadlineExceeded,
  kCancelled,  // the caller cancelled the operation (a what-if job)
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: message"
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
inline Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// A value or a non-OK Status. value() on an error is API misuse and throws std::logic_error.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    Check();
    return std::get<T>(v_);
  }
  const T& value() const& {
    Check();
    return std::get<T>(v_);
  }
  T&& value() && {
    Check();
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  void Check() const {
    if (!ok()) throw std::logic_error("Result::value() on error: " + std::get<Status>(v_).ToString());
  }
  std::variant<T, Status> v_;
};

#define DOPPEL_RETURN_IF_ERROR(expr) \
  do {                               \
    ::doppel::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)

}  // namespace doppel
