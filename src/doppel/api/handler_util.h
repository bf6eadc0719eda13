// Helpers shared by the request handlers of this module (private to api/; not a public header).
#pragma once
#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
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

// A JSON integer that fits an int64_t: kInvalidArgument "<where>: expected an integer<what>"
// for anything else, "<where>: <v> is above the int64 range" for an unsigned integer above
// INT64_MAX (nlohmann would silently wrap it to a negative number).
inline Result<int64_t> JsonInt64(const nlohmann::json& v, const std::string& where,
                                 const std::string& what = "") {
  if (!v.is_number_integer()) return InvalidArgument(where + ": expected an integer" + what);
  if (v.is_number_unsigned() &&
      v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidArgument(where + ": " + std::to_string(v.get<uint64_t>()) + " is above the int64 range");
  }
  return v.get<int64_t>();
}

}  // namespace doppel::api
