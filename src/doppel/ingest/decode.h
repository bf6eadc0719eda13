// Payload decoders: outside bytes -> Readings. Every function here is a parser of outside
// input: it never throws, never crashes on any byte string (fuzzed under fuzz/), and on
// failure returns kInvalidArgument naming what was wrong and where.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::ingest {

// Device telemetry, one JSON object per message (the plant's format, docs/formats/telemetry.md):
//   {"ts": 1732500000000000000, "flow_m3h": 101.2, "speed_rpm": 1450, ...}
// "ts" (int64 ns since epoch; optional, `arrival_ns` when absent) and an optional "quality"
// ("good" | "uncertain" | "bad") apply to every numeric member; every other member whose value
// is a number becomes a Reading for `twin`. Members whose value is null are skipped (a sensor
// that dropped out); strings, arrays and objects other than those are errors.
Result<std::vector<Reading>> DecodeTelemetry(std::string_view twin, std::string_view payload,
                                             TimeNs arrival_ns);

// HTTP batch ingest body (POST /api/v1/ingest):
//   {"readings": [{"twin": "pump-1", "signal": "flow_m3h", "ts": 1732500000000000000,
//                  "value": 101.2, "quality": "good"}, ...]}
// "quality" is optional (good). The whole batch is rejected if any element is bad; the error
// names the element, e.g. "$.readings[3].value: expected a number".
Result<std::vector<Reading>> DecodeIngestBatch(std::string_view body);

}  // namespace doppel::ingest
