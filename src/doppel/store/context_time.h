// Times in enterprise-context records (docs/enterprise.md): RFC 3339 date-times or integer ns
// since the Unix epoch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "doppel/core/status.h"

namespace doppel::store {

// Accepts
//   - RFC 3339: "2024-03-01T08:00:00Z", "2024-03-01 08:00:00.25+01:00" (separator T, t or space;
//     up to 9 fraction digits; the UTC offset Z or ±hh:mm is required — a local time is
//     ambiguous);
//   - an integer of ns since the epoch, >= 1e17 (1973-03-03): smaller integers are rejected as
//     probably seconds, milliseconds or microseconds.
// Range: 1970-01-01T00:00:00Z up to the largest int64 ns (2262-04-11). InvalidArgument naming the
// problem otherwise (no location: the caller adds it).
Result<int64_t> ParseContextTime(std::string_view text);

// "2024-03-01T08:00:00Z", with the fraction trimmed of trailing zeros when not zero
// ("2024-03-01T08:00:00.25Z"). Negative times are formatted too (before 1970).
std::string FormatContextTime(int64_t ns);

}  // namespace doppel::store
