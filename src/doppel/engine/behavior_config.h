// The serve config's `behavior:` list (docs/config.md "behavior", docs/fmu.md "An FMU as a
// twin's behavior model"): which DTDL models get an FMU as their behavior model, how the FMU's
// variables map to the twins' telemetry and what the estimator estimates.
//
//   behavior:
//     - model: "dtmi:example:Tank;1"      # the DTDL model whose twins are bound
//       fmu: models/fmu/tank.fmu          # a .fmu or an extracted directory (relative: to the cwd)
//       estimator: ekf                    # ekf (default) | ukf
//       outputs: {h: level_m}             # FMU output -> telemetry it predicts (measurements)
//       inputs: {q_in: inflow_m3s}        # FMU input -> telemetry feeding it, or a number
//       sensor_std: {level_m: 0.005}      # per measured telemetry, > 0 (its unit)
//       estimate:
//         - {parameter: k, std: 0.02, initial: 0.05, process_std: 1.0e-5, min: 0, max: 1}
//
// ParseBehaviorConfigYaml is pure (text in, options or an error out; no files touched, fuzzed
// by fuzz/behavior_config_fuzz.cc): it checks the shape, the kinds and the ranges. What needs the
// FMU or the DTDL models (the file, variable names and causalities, telemetry names) is checked
// by FmuBehavior::Create (fmu_behavior.h). Errors name the key and the entry:
// "config: behavior[1].sensor_std.level_m: expected a number > 0".
#pragma once

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/engine/estimation_options.h"

namespace doppel::engine {

struct FmuBehaviorConfig {
  std::string where;               // "behavior[0]": names the entry in errors
  std::string model;               // DTDL model id (DTMI), required
  std::string fmu;                 // path of the .fmu (or an extracted FMU directory), required
  std::string estimator = "ekf";   // "ekf" | "ukf"
  double max_step_s = 0.5;         // RK4 substep of the estimator's prediction, (0, 60]
  double fd_relative_step = 1e-6;  // finite-difference step of the Jacobians (FmuSystemOptions)
  // Set before the FMU's initialization (fixed parameters, initial states), by variable name.
  std::vector<std::pair<std::string, double>> start_values;
  // FMU output variable -> telemetry name: the estimator's measurement channels, in this order.
  std::vector<std::pair<std::string, std::string>> outputs;
  struct Input {
    std::string variable;   // FMU input variable
    std::string telemetry;  // telemetry feeding it (zero-order hold); empty: `constant`
    double constant = std::numeric_limits<double>::quiet_NaN();  // held value when no telemetry
  };
  std::vector<Input> inputs;
  // Sensor noise std per measured telemetry name (> 0, the telemetry's unit); every `outputs`
  // telemetry needs one.
  std::vector<std::pair<std::string, double>> sensor_std;
  // Per FMU state (optional): initial std (default 0.1·max(1, |x0|)), process noise std per √s
  // (default 0), bounds (default none).
  struct State {
    std::string state;
    double initial_std = std::numeric_limits<double>::quiet_NaN();
    double process_std = 0;
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
  };
  std::vector<State> states;
  // Tunable Real parameters augmented as states.
  struct Parameter {
    std::string parameter;
    double initial = std::numeric_limits<double>::quiet_NaN();  // NaN: the FMU's start value
    double std = 0;                                             // initial std, > 0 (required)
    double process_std = 0;                                     // random walk per √s, ≥ 0
    double min = -std::numeric_limits<double>::infinity();
    double max = std::numeric_limits<double>::infinity();
  };
  std::vector<Parameter> estimate;
};

// Parses the `behavior:` list (YAML text of the list itself). An empty or null document is an
// empty list. InvalidArgument naming the key: "config: behavior[0].outputs: ...".
Result<std::vector<FmuBehaviorConfig>> ParseBehaviorConfigYaml(const std::string& yaml_text);

// The `calibration:` list (YAML text of the list itself; docs/estimation.md "Calibration"):
//
//   calibration:
//     - twins: pump-2                 # twin-id glob, required; the first matching entry wins
//       parameters: {shutoff_head_m: 41.8, curve_k: 0.00213}   # at least one, finite numbers
//
// Pure, like ParseBehaviorConfigYaml (fuzzed by fuzz/behavior_config_fuzz.cc). An empty or null
// document is an empty list. InvalidArgument naming the key: "config: calibration[0].parameters.
// curve_k: expected a number".
Result<std::vector<TwinCalibration>> ParseCalibrationYaml(const std::string& yaml_text);
// What is checked against the behavior models: engine/calibration.h.

// The `online_fit:` list (YAML text of the list itself; docs/estimation.md "Live online fit"):
//
//   online_fit:
//     - twins: "pump-*"                             # twin-id glob, required; first match wins
//       parameters: [shutoff_head_m, curve_k]       # at least one, no repeats
//       forgetting: 0.999                           # optional, in (0, 1]; default 0.999
//
// Pure, like the two above (fuzzed by fuzz/behavior_config_fuzz.cc); InvalidArgument naming the
// key: "config: online_fit[0].forgetting: 1.5 is outside (0, 1]". What is checked against the
// behavior models: engine/online_fit.h.
Result<std::vector<TwinOnlineFit>> ParseOnlineFitYaml(const std::string& yaml_text);

}  // namespace doppel::engine
