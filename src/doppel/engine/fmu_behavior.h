// An FMI 2.0 Model Exchange FMU as a twin's behavior model (docs/fmu.md "An FMU as a twin's
// behavior model"), configured by the serve config's `behavior:` list (behavior_config.h).
//
// The FMU runs as a fmu::FmuSystem (states = its continuous states, parameters = its tunable
// Real parameters, inputs/outputs = its Real inputs/outputs; one FMU instance per model, shared
// by its twins and what-ifs, evaluations serialised). The twin's estimator (EKF with central
// finite-difference Jacobians through the FMU, or UKF) estimates the FMU's states and the
// configured parameters from the telemetry mapped to FMU outputs; telemetry mapped to FMU inputs
// is held from its timestamp on (zero-order hold), unmapped inputs take their configured
// constant or the FMU's start value. GET .../state lists the FMU's states and the estimated
// parameters with their std; what-ifs simulate the FMU forward (RK4) from draws of the estimate.
//
// A state that is itself a measured output variable (the tank's level h) starts at its first
// measured value; the other states at the FMU's initial values (after start_values).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/engine/behavior.h"
#include "doppel/engine/behavior_config.h"
#include "doppel/fmu/fmu_system.h"
#include "doppel/model/dtdl.h"

namespace doppel::engine {

class FmuBehavior final : public BehaviorModel {
 public:
  // Loads the FMU (relative paths: from the working directory) and checks the entry against it
  // and against the DTDL interface of c.model: InvalidArgument/NotFound naming the key, e.g.
  // "config: behavior[0].outputs.hh: no variable 'hh' (the FMU declares: h, der(h), ...)",
  // "config: behavior[0].outputs.h: telemetry 'lvl' is not in dtmi:x:Tank;1 (its telemetry:
  // level_m, inflow_m3s)", or the FMU loader's refusal after "config: behavior[0].fmu: ".
  static Result<std::unique_ptr<FmuBehavior>> Create(const FmuBehaviorConfig& c,
                                                     const model::Interface& iface);

  estimate::EstimatorOptions InitialOptions(const Eigen::VectorXd& first_sample,
                                            const std::vector<bool>& present, double t0) const override;
  const fmu::FmuSystem& fmu_system() const { return *fmu_; }
  const std::string& fmu_path() const { return path_; }

 private:
  FmuBehavior() = default;
  const fmu::FmuSystem* fmu_ = nullptr;  // == system_
  std::string path_;
  double max_step_s_ = 0.5;
  std::vector<int> state_channel_;  // per state: the measurement channel of the same FMU variable, or -1
  Eigen::VectorXd initial_mean_;    // augmented, before the first sample
};

// Builds and checks every entry against the DTDL models (none is registered if one fails).
Result<std::vector<std::unique_ptr<FmuBehavior>>> BuildFmuBehaviors(
    const std::vector<FmuBehaviorConfig>& configs, const model::ModelRegistry& models);

// The serve config's `behavior:` list (YAML text; empty = none): parses it, loads the DTDL
// models from models_dir, builds every FMU behavior and registers them (BehaviorModel::
// Register), before the engine opens. Returns how many were registered.
Result<int> RegisterFmuBehaviors(const std::string& yaml_text, const std::string& models_dir);

}  // namespace doppel::engine
