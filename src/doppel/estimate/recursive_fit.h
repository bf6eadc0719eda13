// Online (recursive) least-squares fit of a system's parameters: the recursive counterpart of
// `doppel fit` (docs/estimation.md, "Online fit").
//
// Each sample is quasi-static, as in the batch fit: the system's state x and inputs u are taken
// as measured, and some outputs are measured, y_k with noise std σ_k. With the normalized
// residuals e_k(θ) = (y_k − h_k(x, u, θ)) / σ_k linearized at the current θ (J = ∂h/∂θ by
// automatic differentiation, J̃ = J / σ row by row), one step is the extended RLS update with
// exponential forgetting λ ∈ (0, 1]:
//
//   S = λ I + J̃ P J̃ᵀ,   K = P J̃ᵀ S⁻¹,   θ ← θ + K e,   P ← (P − K J̃ P) / λ
//
// λ = 1 is recursive Gauss–Newton: for outputs linear in θ it reproduces the batch weighted
// least-squares answer with the prior (θ0, P0) as one more observation. λ < 1 weights a sample
// k steps old by λᵏ (memory ≈ 1/(1 − λ) samples), so the fit follows slowly changing parameters
// (wear, fouling); with little excitation P would grow without bound ("wind-up"), so each
// parameter's variance is capped at its prior variance. θ is clamped to its bounds after each
// step.
//
// A plain single-threaded object. Not thread-safe; the system is not owned and must outlive it.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/physics/system.h"

namespace doppel::estimate {

struct RecursiveFitOptions {
  std::vector<std::string> parameters;  // system parameter names to fit, at least one, no repeats
  std::vector<std::string> outputs;     // system output names a sample measures, at least one
  double forgetting = 1.0;              // λ, in (0, 1]; 1 = no forgetting
  // Prior std of each fitted parameter (> 0, finite); size = parameters. Also the cap of its
  // posterior std (anti wind-up).
  Eigen::VectorXd initial_std;
  // Optional bounds (empty, or size = parameters; lower <= upper).
  Eigen::VectorXd lower_bound, upper_bound;
  // Names the first broken rule ("forgetting: 1.5 is outside (0, 1]").
  Status Validate() const;
};

// The default prior and bounds of a fitted parameter, shared by `doppel fit` and the live fit
// (docs/estimation.md "Online fit"): a wear (name containing "wear") has std 0.3 and bounds
// [0, 1]; any other parameter std 10 % of |nominal| (1 if nominal is 0) and, when its nominal
// value is positive, lower bound 0; no other bound.
struct ParameterPrior {
  double std = 1;
  double lower = -std::numeric_limits<double>::infinity();
  double upper = std::numeric_limits<double>::infinity();
};
ParameterPrior DefaultParameterPrior(std::string_view name, double nominal);

// What one sample did.
struct RecursiveFitStep {
  int used = 0;         // outputs present in the sample
  double cost = 0;      // Σ e_k² before the step (normalized residuals at the old θ)
  bool capped = false;  // some variance was capped at its prior (little excitation)
};

class RecursiveFit {
 public:
  // `parameters`: all num_parameters() values of `system` (the nominal ones, empty = defaults);
  // the fitted ones start there (inside their bounds). InvalidArgument / NotFound naming what is
  // wrong.
  static Result<RecursiveFit> Create(const physics::System& system, Eigen::VectorXd parameters,
                                     RecursiveFitOptions options);

  // One sample: x (num_states), u (num_inputs), y and sd (size outputs; sd > 0 where present),
  // present (size outputs, or empty = all). InvalidArgument (naming the entry) for wrong sizes or
  // a non-finite present value or std; a sample with no output present is a no-op. A
  // non-finite model output or Jacobian, or a step that would leave P not positive definite,
  // leaves θ and P unchanged (FailedPrecondition).
  Result<RecursiveFitStep> Update(const Eigen::VectorXd& x, const Eigen::VectorXd& u,
                                  const Eigen::VectorXd& y, const std::vector<bool>& present,
                                  const Eigen::VectorXd& sd);

  const Eigen::VectorXd& value() const { return theta_; }   // fitted parameters, options order
  const Eigen::MatrixXd& covariance() const { return P_; }  // of value()
  Eigen::VectorXd stddev() const { return P_.diagonal().cwiseMax(0.0).cwiseSqrt(); }
  Eigen::VectorXd all_parameters() const;       // the full vector with value() in
  int64_t samples() const { return samples_; }  // samples with an output present
  const RecursiveFitOptions& options() const { return opt_; }

 private:
  RecursiveFit() = default;
  const physics::System* sys_ = nullptr;
  RecursiveFitOptions opt_;
  Eigen::VectorXd p_;      // full parameter vector (fitted entries kept in sync with theta_)
  std::vector<int> fit_;   // parameter indices
  std::vector<int> outs_;  // output indices
  Eigen::VectorXd theta_, cap_;
  Eigen::MatrixXd P_;
  int64_t samples_ = 0;
};

}  // namespace doppel::estimate
