// Helpers shared by the request handlers of this module (private to api/; not a public header).
#pragma once
#include <charconv>
#include <chrono>
#include <string>

#include "doppel/api/http.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::api {

// Wall clock, ns since the epoch (annotation times when the body gives none).
inline TimeNs NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The decoded value of query parameter `name`, or nullptr.
inline const std::string* QueryParam(const ParsedTarget& target, const std::string& name) {
  auto it = target.query.find(name);
  return it == target.query.end() ? nullptr : &it->second;
}

// The whole of `value` as an integer of type T: kInvalidArgument naming `name` otherwise.
template <typename T>
Result<T> ParseIntParam(const std::string& name, const std::string& value) {
  T v{};
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (value.empty() || ec != std::errc() || ptr != value.data() + value.size()) {
    return InvalidArgument(name + ": '" + value + "' is not an integer" +
                           (ec == std::errc::result_out_of_range ? " in range" : ""));
  }
  return v;
}

// Query parameter `name`, when present, parsed as ParseIntParam does into *out; *out keeps its
// value when the parameter is absent.
template <typename T>
Status IntQueryParam(const ParsedTarget& target, const std::string& name, T* out) {
  const std::string* v = QueryParam(target, name);
  if (v == nullptr) return Status::Ok();
  Result<T> r = ParseIntParam<T>(name, *v);
  if (!r.ok()) return r.status();
  *out = *r;
  return Status::Ok();
}

}  // namespace doppel::api
