// Plant telemetry captured off an in-process bus, for the benchmarks (app-private).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace doppel::app {

struct PlantMessage {
  std::string topic;    // plant/{twin}/telemetry
  std::string twin;     // {twin}
  std::string payload;  // the device's JSON
};

// The first `count` telemetry messages of a simulated station with `pumps` pumps at 10 Hz,
// from `seed`, at a fixed start time (so runs are identical). With `pumps_only`, the tank's
// messages are skipped.
std::vector<PlantMessage> CapturePlantTelemetry(int pumps, size_t count, uint64_t seed, bool pumps_only);

}  // namespace doppel::app
