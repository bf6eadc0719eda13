// The demo pump's estimator: what the pump twin (physics::MakePumpTwinDiagram) estimates and
// measures, the sensors' noise and the filter tuning. One definition, used by the engine's
// binding (engine/behavior.cc), the accuracy tests against the simulated plant
// (tests/estimate/truth_accuracy_test.cc) and the bench, so what is tested is what runs.
//
// Augmented state z = [pump.speed_rpm, motor.motor_temp_c, pump.impeller_wear,
// pump.bearing_wear, pump.flow_bias_m3h]; measurements in telemetry order: flow_m3h,
// discharge_pressure_bar, speed_rpm, power_kw, motor_temp_c, vibration_mm_s.
// The numbers and their reasons are in docs/estimation.md ("Binding to twins").
#pragma once

#include <string>
#include <vector>

#include "doppel/estimate/estimator.h"

namespace doppel::estimate {

struct PumpEstimatorSpec {
  std::vector<std::string> estimated_parameters;  // pump.impeller_wear, pump.bearing_wear, pump.flow_bias_m3h
  std::vector<std::string> measurements;          // the six telemetry names
  Eigen::VectorXd measurement_std;                // size 6, the plant's sensor noise (absolute part)
  Eigen::VectorXd measurement_rel_std;            // size 6, relative part (vibration: 3 % of the value)
  // Size 5 (states, then estimated parameters), units of the state.
  Eigen::VectorXd initial_std;
  Eigen::VectorXd process_std;  // per √s
  Eigen::VectorXd lower_bound, upper_bound;
  double max_step_s = 1.0;  // RK4 substep of the prediction (error: OneSecondPredictionSubstep... test)

  // FilterModel on `twin` (a pump twin diagram; not owned, must outlive the estimators) with
  // `parameters` (all of the twin's parameters, empty = nominal).
  FilterModel Model(const physics::System* twin, Eigen::VectorXd parameters = {}) const;
  // Options for an estimator starting at t0: the states at the first sample where it measures
  // them (speed and motor temperature), else the twin's defaults; the estimated parameters at
  // their values in `model` (nominal: no wear, no bias).
  EstimatorOptions InitialOptions(const FilterModel& model, const Eigen::VectorXd& first_sample,
                                  const std::vector<bool>& present, double t0) const;
};

// The tuning used by the engine.
const PumpEstimatorSpec& DefaultPumpEstimatorSpec();

}  // namespace doppel::estimate
