// Reading: one sample of one signal of one twin, the unit that flows from ingest to the engine.
#pragma once

#include <cstdint>
#include <string>

namespace doppel {

// Timestamps everywhere are int64 nanoseconds since the Unix epoch (UTC), suffix _ns.
using TimeNs = int64_t;
constexpr TimeNs kNsPerMs = 1'000'000;
constexpr TimeNs kNsPerS = 1'000'000'000;

// OPC UA-style quality: good, uncertain (e.g. substituted, stale) or bad (sensor fault).
enum class Quality : uint8_t { kGood = 0, kUncertain = 1, kBad = 2 };
const char* QualityName(Quality q);
// Parses "good" / "uncertain" / "bad"; returns false for anything else.
bool ParseQuality(const std::string& s, Quality* out);

struct Reading {
  std::string twin;         // twin id, e.g. "pump-1"
  std::string signal;       // DTDL telemetry name, e.g. "flow_m3h"
  TimeNs source_ts_ns = 0;  // when the device measured it
  double value = 0.0;
  Quality quality = Quality::kGood;
};

}  // namespace doppel
