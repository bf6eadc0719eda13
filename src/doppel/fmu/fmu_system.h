// FmuSystem: an FMI 2.0 or 3.0 Model Exchange FMU as a physics::System (docs/fmu.md), so the project's
// integrators (RK4, CVODE), the Simulator (what-ifs) and the estimators (EKF, UKF, EnKF) run it
// like a hand-written model.
//
//   states      the FMU's continuous states (ModelStructure/Derivatives order), default = the
//               values after initialization
//   inputs      Real (3.0: Float64) variables with causality="input"
//   parameters  Real variables with causality="parameter" and variability="tunable"
//   outputs     Real variables with causality="output"
//
// Signal names are the FMU variable names, or their twin signal names from `rename`.
// f and h are evaluated by the FMU (fmi2SetTime, fmi2SetReal, fmi2SetContinuousStates,
// fmi2GetDerivatives / fmi2GetReal; the fmi3 equivalents for 3.0, through FmuInstance); a changed
// tunable parameter is applied through event mode.
// The AutoDiffXd overloads return the same values with derivatives from central finite
// differences of the FMU (step fd_relative_step·max(1, |z|) per perturbed entry, chained
// through the incoming derivative vectors), so EKF linearisations and CVODE's Newton Jacobian
// work without symbolic derivatives.
//
// Limits: FMUs with event indicators (state events) are refused: integrating through events
// needs event location, which the physics integrators do not do (use the FMU's Co-Simulation
// interface instead). fmi2/fmi3CompletedIntegratorStep is not called, so a 3.0 FMU that declares
// needsCompletedIntegratorStep is refused. The System interface cannot
// return errors: a failing FMU call yields NaN (RK4 with check_finite and CVODE then fail) and
// is kept in last_error().
//
// Thread safety: evaluations are serialised by a mutex (one FMU instance per FmuSystem).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "doppel/fmu/fmu.h"
#include "doppel/physics/system.h"

namespace doppel::fmu {

struct FmuSystemOptions {
  std::string instance_name = "doppel";
  // Values set before initialization, by variable name (fixed parameters, initial states).
  std::vector<std::pair<std::string, double>> start_values;
  // FMU variable name -> twin signal name for states, inputs, parameters and outputs.
  std::map<std::string, std::string> rename;
  double fd_relative_step = 1e-6;  // > 0
  Status Validate() const;
};

class FmuSystem final : public physics::System {
 public:
  static Result<std::unique_ptr<FmuSystem>> Create(std::shared_ptr<const Fmu> fmu,
                                                   const FmuSystemOptions& options = {});

  void CalcDerivatives(double t, physics::InVec<double> x, physics::InVec<double> u, physics::InVec<double> p,
                       physics::OutVec<double> xdot) const override;
  void CalcDerivatives(double t, physics::InVec<physics::AutoDiffXd> x, physics::InVec<physics::AutoDiffXd> u,
                       physics::InVec<physics::AutoDiffXd> p,
                       physics::OutVec<physics::AutoDiffXd> xdot) const override;
  void CalcDerivatives(double t, physics::InVec<physics::AutoDiff8> x, physics::InVec<physics::AutoDiff8> u,
                       physics::InVec<physics::AutoDiff8> p,
                       physics::OutVec<physics::AutoDiff8> xdot) const override;
  void CalcOutputs(double t, physics::InVec<double> x, physics::InVec<double> u, physics::InVec<double> p,
                   physics::OutVec<double> y) const override;
  void CalcOutputs(double t, physics::InVec<physics::AutoDiffXd> x, physics::InVec<physics::AutoDiffXd> u,
                   physics::InVec<physics::AutoDiffXd> p,
                   physics::OutVec<physics::AutoDiffXd> y) const override;
  void CalcOutputs(double t, physics::InVec<physics::AutoDiff8> x, physics::InVec<physics::AutoDiff8> u,
                   physics::InVec<physics::AutoDiff8> p,
                   physics::OutVec<physics::AutoDiff8> y) const override;

  const Fmu& fmu() const { return instance_->fmu(); }
  // The last FMU failure during an evaluation (OK if none).
  Status last_error() const;
  // FMU evaluations so far (each: set time/inputs/states, get derivatives or outputs).
  int64_t evaluations() const;

 private:
  FmuSystem(std::string name, std::unique_ptr<FmuInstance> instance, FmuSystemOptions options);
  enum class What { kDerivatives, kOutputs };
  // Evaluates f or h at z = [x; u; p] (doubles). Caller holds mu_.
  Eigen::VectorXd EvalLocked(What what, double t, const Eigen::VectorXd& z) const;
  void EvalDouble(What what, double t, physics::InVec<double> x, physics::InVec<double> u,
                  physics::InVec<double> p, physics::OutVec<double> out) const;
  // AD is AutoDiffXd or AutoDiff8.
  template <typename AD>
  void EvalAutoDiff(What what, double t, physics::InVec<AD> x, physics::InVec<AD> u, physics::InVec<AD> p,
                    physics::OutVec<AD> out) const;

  std::unique_ptr<FmuInstance> instance_;
  FmuSystemOptions options_;
  std::vector<fmi2ValueReference> input_vr_, param_vr_, output_vr_;
  mutable std::mutex mu_;
  mutable Eigen::VectorXd applied_params_;
  mutable Status last_error_;
  mutable int64_t evaluations_ = 0;
};

}  // namespace doppel::fmu
