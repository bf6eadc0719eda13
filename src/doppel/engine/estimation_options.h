// Estimation settings of the engine (EngineOptions::estimation; docs/estimation.md).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace doppel::engine {

// Calibrated parameter values for some twins (the serve config's `calibration:` list; docs/
// estimation.md "Calibration"), e.g. a pump's measured curve from `doppel fit`. They replace the
// behavior model's nominal values in every twin whose id matches `twins` (a glob; the first
// matching entry wins); an estimated parameter (a wear) starts from its value instead. A name
// that is not a parameter of the twin's behavior model is skipped with a warning when the twin
// is bound (the startup check, CheckCalibrations in calibration.h, refuses names no behavior
// model knows).
struct TwinCalibration {
  std::string where;  // "calibration[0]": names the entry in messages
  std::string twins;  // twin-id glob
  // Parameter name (the model's, e.g. "pump.curve_k", or its short form "curve_k") -> value, in
  // the parameter's unit.
  std::vector<std::pair<std::string, double>> parameters;
};

// A live online fit (the serve config's `online_fit:` list; docs/estimation.md "Live online
// fit"): for every twin whose id matches `twins` (a glob; the first matching entry wins), the
// twin's estimator step also feeds a recursive least-squares fit (estimate::RecursiveFit) of
// these parameters of its behavior model, on the same quasi-static samples as `doppel fit
// --online`. The fitted values are in GET .../state ("fit") and stored as "fit.<name>" series.
struct TwinOnlineFit {
  std::string where;                    // "online_fit[0]": names the entry in messages
  std::string twins;                    // twin-id glob
  std::vector<std::string> parameters;  // parameter names (long or short form), at least one
  double forgetting = 0.999;            // λ in (0, 1]; memory ≈ 1/(1 − λ) samples
};

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
  // A twin silent (no usable sample) for longer than this much source time does not predict
  // over the gap: its estimator restarts from its last estimate, the states from the new
  // sample and the estimated parameters (wears, biases) kept with their variance grown by the
  // process noise over the gap (as at a start from a saved estimate). Bounds the work of one
  // step (≈1.6 µs per source second for the pump) and the linearization error of a long
  // open-loop prediction. Must be > 0.
  double max_predict_gap_s = 3600.0;
  // Per-sensor outlier gate of every bound estimator (estimate::EstimatorOptions::outlier_sigma):
  // a reading more than this many innovation standard deviations from the prediction is left
  // out of its step (the twin's other sensors are applied), unless its sensor has been out
  // in outlier_patience steps in a row and is within outlier_max_sigma (then the change is real
  // and used). 0 = off. Default 8: far beyond sensor noise (a Gaussian reading is out once in
  // ~10¹⁵), it only stops gross errors (a glitch, a transmitter spike, a fault code) from pulling
  // wear and bias estimates.
  double outlier_sigma = 8.0;
  int outlier_patience = 5;  // >= 1 steps (min_update_interval_s apart)
  // Larger persistent changes are never followed (a stuck fault code stays out while it lasts).
  // 5000 σ: a pump start is ≈ 725 σ on speed, a 10 bar pressure step 1000 σ; a 65535 fault code
  // on the flow sensor is 6.5·10⁴ σ. 0 = no limit; else >= outlier_sigma.
  double outlier_max_sigma = 5000.0;
  // Tank level used for the pumps' level_m input until a Tank twin reports one.
  double default_level_m = 2.5;
  // Per-twin parameter values (see TwinCalibration); empty: every twin runs its model's nominal ones.
  std::vector<TwinCalibration> calibrations;
  // Live online fits (see TwinOnlineFit); empty: none.
  std::vector<TwinOnlineFit> online_fits;
};

}  // namespace doppel::engine
