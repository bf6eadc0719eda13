// The model an estimator works with: a physics System, a subset of its parameters promoted to
// random-walk states (augmentation), and a subset of its outputs that sensors measure.
//
// Augmented state z = [x; θ] (size n = nx + nθ): x the system's continuous states, θ the
// estimated parameters (dθ/dt = 0 in the model, driven by process noise in the filter). The
// other parameters stay at FilterModel::parameters. Measurement channel k is system output
// measurements[k]. Prediction integrates z with fixed-step RK4 (substeps ≤ max_step_s), inputs
// held (zero-order hold), so every filter sees the same discretization; the EKF differentiates
// exactly that map by automatic differentiation (fixed-size AutoDiff8 when n ≤ 8, else
// AutoDiffXd: the same derivatives, the fixed size ≈2× faster).
//
// Thread safety: the evaluation methods use scratch space inside the model, so one thread at a
// time per AugmentedModel (an estimator owns its own copy).
#pragma once

#include <string>
#include <vector>

#include "doppel/physics/system.h"

namespace doppel::estimate {

using physics::AutoDiff8;
using physics::AutoDiffXd;
using physics::VectorX;

struct FilterModel {
  const physics::System* system = nullptr;        // not owned; must outlive every estimator using it
  Eigen::VectorXd parameters;                     // all num_parameters() values; empty = system defaults
  std::vector<std::string> estimated_parameters;  // parameter names augmented as states
  std::vector<std::string> measurements;          // output names, in measurement-vector order
};

class AugmentedModel {
 public:
  // Resolves names; NotFound/InvalidArgument naming what is wrong.
  static Result<AugmentedModel> Create(const FilterModel& m);

  const physics::System& system() const { return *sys_; }
  int size() const { return nx_ + na_; }
  int num_states() const { return nx_; }
  int num_augmented() const { return na_; }
  int num_measurements() const { return static_cast<int>(meas_.size()); }
  int num_inputs() const { return sys_->num_inputs(); }
  // "pump.speed_rpm", ..., then the estimated parameter names.
  const std::vector<std::string>& names() const { return names_; }
  const std::vector<std::string>& measurement_names() const { return meas_names_; }
  const Eigen::VectorXd& parameters() const { return p_; }  // nominal, full vector
  // System default state followed by the estimated parameters' current values.
  Eigen::VectorXd DefaultMean() const;
  // A system context at time t for augmented state z (parameters with θ substituted).
  physics::Context ToContext(double t, const Eigen::VectorXd& z, const Eigen::VectorXd& u) const;

  // dz/dt (θ part zero).
  template <typename T>
  VectorX<T> Derivative(double t, const VectorX<T>& z, const VectorX<T>& u) const;
  // z at t1 from z at t0 (RK4, ceil((t1 − t0)/max_step) equal substeps).
  template <typename T>
  VectorX<T> Propagate(double t0, double t1, const VectorX<T>& z, const Eigen::VectorXd& u,
                       double max_step) const;
  // Measurement channels `rows` (indices into measurements) at (t, z).
  template <typename T>
  VectorX<T> Observe(double t, const VectorX<T>& z, const Eigen::VectorXd& u,
                     const std::vector<int>& rows) const;

  // Exact (AD) Jacobians of the discrete maps above: z1 = Propagate(z), F = ∂z1/∂z; y, H = ∂y/∂z.
  void LinearizePropagation(double t0, double t1, const Eigen::VectorXd& z, const Eigen::VectorXd& u,
                            double max_step, Eigen::VectorXd* z1, Eigen::MatrixXd* F) const;
  void LinearizeObservation(double t, const Eigen::VectorXd& z, const Eigen::VectorXd& u,
                            const std::vector<int>& rows, Eigen::VectorXd* y, Eigen::MatrixXd* H) const;

 private:
  // The full parameter vector for augmented state z (θ substituted), in a scratch vector of
  // this model (the other entries are written once): the evaluation methods are not
  // reentrant; each estimator owns its copy of the model.
  template <typename T>
  const VectorX<T>& Params(const VectorX<T>& z) const;
  // Scratch vectors of the evaluation methods, one set per scalar type, sized on first use so
  // that a steady estimator step does not allocate (same reentrancy rule as Params).
  template <typename T>
  struct Scratch {
    VectorX<T> z;                      // seeded augmented state (AD)
    VectorX<T> x, xs, k1, k2, k3, k4;  // RK4 state and stages (num_states)
    VectorX<T> u;                      // inputs as constants
    VectorX<T> y;                      // all system outputs
  };
  template <typename T>
  Scratch<T>& scratch() const;
  // The Linearize* methods with derivative scalar AD (AutoDiff8 or AutoDiffXd).
  template <typename AD>
  void LinearizePropagationAs(double t0, double t1, const Eigen::VectorXd& z, const Eigen::VectorXd& u,
                              double max_step, Eigen::VectorXd* z1, Eigen::MatrixXd* F) const;
  template <typename AD>
  void LinearizeObservationAs(double t, const Eigen::VectorXd& z, const Eigen::VectorXd& u,
                              const std::vector<int>& rows, Eigen::VectorXd* y, Eigen::MatrixXd* H) const;
  // x at t1 from z0's states at t0 into scratch<T>().x (t1 > t0, num_states() > 0).
  template <typename T>
  void PropagateStates(double t0, double t1, const VectorX<T>& z0, const Eigen::VectorXd& u,
                       double max_step) const;
  // Every system output at (t, z) into scratch<T>().y.
  template <typename T>
  void EvalOutputs(double t, const VectorX<T>& z, const Eigen::VectorXd& u) const;
  const physics::System* sys_ = nullptr;
  mutable Eigen::VectorXd p_work_;
  mutable VectorX<AutoDiffXd> p_work_ad_;
  mutable VectorX<AutoDiff8> p_work_ad8_;
  mutable Scratch<double> scratch_;
  mutable Scratch<AutoDiffXd> scratch_ad_;
  mutable Scratch<AutoDiff8> scratch_ad8_;
  int nx_ = 0, na_ = 0;
  Eigen::VectorXd p_;
  std::vector<int> aug_;   // parameter indices
  std::vector<int> meas_;  // output indices
  std::vector<std::string> names_, meas_names_;
};

}  // namespace doppel::estimate
