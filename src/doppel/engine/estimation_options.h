// Estimation settings of the engine (EngineOptions::estimation; docs/estimation.md).
#pragma once

namespace doppel::engine {

struct EstimationOptions {
  bool enabled = true;
  // Least source time between two estimator updates of one twin; readings in between update
  // the twin's latest values and the store but not the estimator (the first sample
  // at least this long after the last update is used; nothing is averaged). 0 = every message. Default 1 s:
  // wear and bias move over days, and the EKF step (≈20 µs) would otherwise dominate the ingest cost at 10
  // Hz.
  double min_update_interval_s = 1.0;
  // Least source time between two stored estimate points ("est.*" series) of one twin.
  double series_interval_s = 1.0;
  // Tank level used for the pumps' level_m input until a Tank twin reports one.
  double default_level_m = 2.5;
};

}  // namespace doppel::engine
