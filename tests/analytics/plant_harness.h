// The simulated plant for the detection tests (plant_detection_test.cc, plant_multivariate_test.cc):
// as plant::Plant runs it but without threads or a bus — StationSimulator (RK4, 0.1 s) and
// Measure() at 1 Hz with the plant's own noise stream.
#pragma once

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/plant/station_model.h"

namespace doppel::analytics::plant_harness {

// The demo's anomaly rule, verbatim from kDemoAlertRules (src/doppel/app/serve_cmd.cc).
inline constexpr const char* kDemoAnomalyRule =
    "- {name: anomalous_signal, kind: anomaly, twins: \"pump-*\", signal: \"*\", min_score: 0.9, "
    "clear_score: 0.5, min_duration_s: 3, severity: info}\n";

// An alert raised on pump `pump` (0-based) at `t_s` simulated seconds since the start.
struct Raise {
  int pump = 0;
  double t_s = 0;
  std::string signal;  // the pump signal, or "anomaly" for the fused twin score
};

// Simulates `model` from its default state for `hours`, calling on_second(t_s, ts_ns, readings)
// every simulated second (t_s = 1, 2, ...; ts_ns the same time in ns).
template <typename OnSecond>
void RunAtOneHertz(const plant::StationModel& model, uint64_t seed, double hours, OnSecond&& on_second) {
  plant::StationSimulator sim(&model, model.DefaultState(), /*step_s=*/0.1);
  const plant::StationInputs inputs = model.DefaultInputs();
  std::mt19937_64 noise(plant::DeriveSeed(seed, /*stream=*/3));  // as plant::Plant
  const long ticks = static_cast<long>(hours * 3600.0);
  for (long k = 1; k <= ticks; ++k) {
    const double t = static_cast<double>(k);
    sim.AdvanceTo(t, inputs);
    const plant::StationReadings r = plant::Measure(model, t, sim.state(), inputs, noise);
    on_second(t, static_cast<TimeNs>(k) * kNsPerS, r);
  }
}

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace doppel::analytics::plant_harness
