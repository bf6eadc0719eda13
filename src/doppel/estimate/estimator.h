// State and parameter estimators on Eigen: linear KF, EKF (AD Jacobians), UKF (scaled sigma
// points), ensemble KF, behind one interface (docs/estimation.md).
//
//   auto twin = physics::MakePumpTwinDiagram();                  // the nominal model
//   estimate::FilterModel m{twin->get(), {}, {"pump.impeller_wear"},
//                           {"flow_m3h", "discharge_pressure_bar", "speed_rpm", ...}};
//   estimate::EstimatorOptions o;  o.initial_std = ...;  o.process_std = ...;
//   o.measurement_std = ...;
//   auto ekf = estimate::MakeExtendedKalmanFilter(m, o);         // Result<unique_ptr<Estimator>>
//   (*ekf)->SetInputs(u);                                        // zero-order hold
//   auto r = (*ekf)->Update({t, values, present, stds});         // predicts to t, then updates
//
// Contracts: the augmented state z has size n = num_states + num_estimated_parameters (states
// first); a measurement vector has m = measurements.size() entries in FilterModel order;
// covariances are n×n in the units of state_names(); times are seconds on the caller's clock
// (time is an input; nothing here reads a clock). Time must not go backwards.
// Expected failures (bad sizes, a covariance that stops being positive definite, non-finite
// numbers) are returned as Status and counted in summary(); the estimator's state is then left
// as it was before the failed step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doppel/estimate/model.h"

namespace doppel::estimate {

struct EstimatorOptions {
  double initial_time_s = 0;
  Eigen::VectorXd initial_mean;  // size n; empty = system default state + parameter values
  Eigen::VectorXd initial_std;   // size n, each > 0
  // Continuous white process noise per augmented state: P grows by process_std² per second
  // (units: state unit/√s). For an estimated parameter it is its random-walk intensity. ≥ 0.
  Eigen::VectorXd process_std;      // size n
  Eigen::VectorXd measurement_std;  // size m, each > 0: default sensor noise (per update overridable)
  // Size m or empty (= zeros), each ≥ 0: value-dependent sensor noise. Channel k's noise std in
  // an update is std_k + measurement_rel_std[k]·|ŷ_k|, std_k from the Measurement (or
  // measurement_std) and ŷ_k the predicted measurement h(mean) at the update time. Evaluated at
  // the prediction, not at the reading: weighting readings by their own value biases the estimate
  // (low readings would get more weight).
  Eigen::VectorXd measurement_rel_std;
  double max_step_s = 0.5;  // prediction RK4 substep (s), > 0
  // Reject (do not apply) an update whose NIS exceeds this; 0 = never reject. Rejected updates
  // are still recorded in the innovation statistics.
  double nis_gate = 0;
  // Per-sensor outlier gate (0 = off; else > 0). A channel whose innovation is more than this many
  // standard deviations from the prediction (|ν_k| > outlier_sigma·sqrt(S_kk), S at the prior)
  // is left out of the update — a spike, a glitch, a stuck-then-released transmitter — and the
  // other channels are applied. A change that persists is real (a step in the process, a new
  // sensor offset): once a channel has been left out in outlier_patience updates in a row, it is
  // used again, and stays in until one of its innovations falls inside the gate. Left-out
  // readings count in EstimatorSummary::outliers and InnovationStats::channel_outliers, not in
  // the NIS statistics.
  double outlier_sigma = 0;
  int outlier_patience = 5;  // >= 1
  // A persistent change is taken as real only while it is within this many standard deviations
  // (0 = any size): a reading stuck far off (a fault code such as 4.29·10⁹, a dead transmitter's
  // rail) stays out for as long as it lasts instead of being followed after the patience.
  double outlier_max_sigma = 0;
  double nis_ewma_weight = 0.05;  // weight of the newest update in the running NIS/dof, (0, 1]
  // Optional bounds on the estimate (size n or empty; ±inf allowed), applied to the mean (each
  // member for the EnKF) after every update, e.g. wear in [0, 1].
  Eigen::VectorXd lower_bound, upper_bound;
  Status Validate(int n, int m) const;
};

// One sample of the sensors at time t.
struct Measurement {
  Measurement() = default;
  Measurement(double t_s, Eigen::VectorXd v, std::vector<bool> mask = {}, Eigen::VectorXd sd = {})
      : t(t_s), values(std::move(v)), present(std::move(mask)), std(std::move(sd)) {}
  double t = 0;
  Eigen::VectorXd values;     // size m; entries not present (or NaN) are ignored
  std::vector<bool> present;  // size m, or empty = all present
  Eigen::VectorXd std;        // size m per-sensor noise std, or empty = EstimatorOptions::measurement_std
};

struct UpdateReport {
  int dof = 0;                     // number of sensors used (0: predict only)
  double nis = 0;                  // ν' S⁻¹ ν
  bool rejected = false;           // nis > nis_gate: not applied
  std::vector<int> channels;       // measurement channels used, ascending
  std::vector<int> outliers;       // channels left out by the outlier gate, ascending
  Eigen::VectorXd innovation;      // ν = y − ŷ (per used channel)
  Eigen::VectorXd innovation_std;  // sqrt(diag S)
};

// Innovation statistics kept per estimator (per twin) for analytics. For a consistent filter
// NIS/dof averages 1.
struct InnovationStats {
  int64_t updates = 0;  // updates with dof > 0
  double last_nis = 0;
  int last_dof = 0;
  double sum_nis = 0;
  int64_t sum_dof = 0;
  double ewma_nis_per_dof = 1.0;          // exponentially weighted NIS/dof
  Eigen::VectorXd ewma_channel_nis;       // per channel: EWMA of ν_k² / S_kk (1 when consistent)
  std::vector<int64_t> channel_outliers;  // per channel: readings left out by the outlier gate
  double mean_nis_per_dof() const { return sum_dof > 0 ? sum_nis / static_cast<double>(sum_dof) : 0.0; }
};

struct EstimatorSummary {
  int64_t predictions = 0;
  int64_t updates = 0;       // Update() calls that succeeded
  int64_t predict_only = 0;  // of which had no sensor present
  int64_t rejected_updates = 0;
  int64_t outliers = 0;      // readings left out by the outlier gate
  int64_t divergences = 0;   // failed steps (covariance not SPD, non-finite)
  int64_t rk4_substeps = 0;  // prediction substeps (per member for UKF/EnKF: per sigma point set)
  std::string last_error;
};

class Estimator {
 public:
  virtual ~Estimator() = default;
  virtual const char* kind() const = 0;  // "kf", "ekf", "ukf", "enkf"

  const AugmentedModel& model() const { return model_; }
  const EstimatorOptions& options() const { return opt_; }
  int size() const { return model_.size(); }
  int num_measurements() const { return model_.num_measurements(); }
  const std::vector<std::string>& state_names() const { return model_.names(); }
  const std::vector<std::string>& measurement_names() const { return model_.measurement_names(); }
  double time() const { return t_; }

  // System inputs (size num_inputs), held until the next call. Default: system defaults.
  Status SetInputs(const Eigen::VectorXd& u);
  const Eigen::VectorXd& inputs() const { return u_; }

  // Advances the estimate to time t ≥ time() (irregular steps are fine; P grows with the gap).
  // InvalidArgument, the estimate untouched, when the gap needs more than
  // kMaxPredictionSubsteps substeps of max_step_s (a clock jump: restart instead).
  Status Predict(double t);
  static constexpr double kMaxPredictionSubsteps = 1e7;
  // Predicts to m.t, then updates with the sensors present. With none present it only predicts.
  Result<UpdateReport> Update(const Measurement& m);

  virtual Eigen::VectorXd mean() const = 0;
  virtual Eigen::MatrixXd covariance() const = 0;
  // Replaces the estimate (size n, SPD covariance), e.g. to re-initialize after a divergence.
  virtual Status Reset(const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance) = 0;
  // Re-initializes ONE entry of the augmented state to a fresh prior, e.g. a replaced part's wear
  // (docs/enterprise.md): mean[index] := `mean` (clamped to the bounds), P(index, index) :=
  // `variance` (> 0), and its cross-covariances with every other entry := 0; the other entries'
  // means and covariances are unchanged. KF/EKF/UKF edit the Gaussian exactly. The EnKF redraws
  // that entry of every member, centred and made orthogonal to the other entries' deviations, so
  // the ensemble's mean, variance and zero cross-covariances are exact too (with members > n;
  // with fewer the cross-covariances are only zero in expectation). Time does not move.
  // InvalidArgument for an index outside [0, n), a non-finite mean or a variance <= 0 / non-finite.
  virtual Status ResetEntry(int index, double mean, double variance);
  Result<double> Mean(std::string_view name) const;
  Result<double> StdDev(std::string_view name) const;
  // The system context at time() with the mean state and estimated parameters: fork it into a
  // physics::Simulator for what-ifs.
  physics::Context ToContext() const { return model_.ToContext(t_, mean(), u_); }

  const InnovationStats& innovations() const { return stats_; }
  const EstimatorSummary& summary() const { return summary_; }
  // Continues the statistics and counters of an estimator this one replaces (a restart after a
  // divergence or a long gap), so they stay the twin's, not the current estimator's. Ignored
  // when the channel counts differ.
  void ContinueStatistics(const InnovationStats& stats, const EstimatorSummary& summary);

 protected:
  Estimator(AugmentedModel model, EstimatorOptions options);
  // From time t0 to t1 > t0; on error leave the estimate unchanged.
  virtual Status DoPredict(double t0, double t1) = 0;
  // Channels `rows` with values y and noise variances r; fills report (nis, innovation...). On
  // error leave the estimate unchanged.
  virtual Status DoUpdate(const std::vector<int>& rows, const Eigen::VectorXd& y, const Eigen::VectorXd& r,
                          UpdateReport* report) = 0;
  // ŷ = h(mean) at time() for channels `rows` (the argument of the value-dependent noise). The
  // default evaluates the model; a filter that linearizes h there anyway may keep the result
  // for the DoUpdate that follows.
  virtual void PredictMeasurement(const std::vector<int>& rows, Eigen::VectorXd* yhat);
  Eigen::VectorXd ProcessVariance(double dt) const;  // diag of Qd = diag(process_std²)·dt
  void ApplyBounds(Eigen::Ref<Eigen::VectorXd> z) const;
  Status Fail(Status s);  // counts a divergence, keeps the message
  // Whether an update with this report (innovation and innovation_std at the prior filled in)
  // must not be applied: the NIS gate, or channels the outlier gate leaves out (listed in
  // report->outliers; Update then runs the update again without them). DoUpdate calls it before
  // it changes the estimate, and returns Ok without applying when it says so.
  bool Judge(UpdateReport* report);
  // The argument rules of ResetEntry (InvalidArgument naming the broken one).
  Status CheckResetEntry(int index, double mean, double variance) const;

  AugmentedModel model_;
  EstimatorOptions opt_;
  Eigen::VectorXd u_;
  double t_ = 0;
  InnovationStats stats_;
  EstimatorSummary summary_;

 private:
  std::vector<int> rows_work_;    // Update's work space, reused across steps
  std::vector<int> outlier_run_;  // per channel: updates in a row it was an outlier
  bool gating_ = true;            // false while Update re-runs without the outliers
  Eigen::VectorXd y_work_, r_work_, yhat_work_;
};

// Linear Kalman filter. The system must be a physics::LinearSystem and no parameters may be
// estimated. Prediction is exact: Φ = e^{AΔt}, Γ = ∫e^{As}ds·B (one matrix exponential).
Result<std::unique_ptr<Estimator>> MakeKalmanFilter(const FilterModel& model,
                                                    const EstimatorOptions& options);

// Extended Kalman filter: F and H are the exact Jacobians (automatic differentiation) of the
// RK4 prediction map and of the measurement function. Joseph-form update.
Result<std::unique_ptr<Estimator>> MakeExtendedKalmanFilter(const FilterModel& model,
                                                            const EstimatorOptions& options);

// Unscented Kalman filter with the scaled sigma points of Wan & van der Merwe:
// λ = α²(n+κ) − n, points z ± columns of chol((n+λ)P), weights Wm0 = λ/(n+λ),
// Wc0 = Wm0 + 1 − α² + β, Wi = 1/(2(n+λ)).
struct UkfOptions {
  double alpha = 1e-3;  // spread, (0, 1]
  double beta = 2.0;    // prior knowledge of the distribution (2 is optimal for Gaussian), ≥ 0
  double kappa = 0.0;   // secondary scaling; n + κ > 0
  Status Validate(int n) const;
};
Result<std::unique_ptr<Estimator>> MakeUnscentedKalmanFilter(const FilterModel& model,
                                                             const EstimatorOptions& options,
                                                             const UkfOptions& ukf = {});

// Stochastic ensemble Kalman filter (perturbed observations, Burgers et al. 1998): members are
// propagated through the model with sampled process noise; the gain uses ensemble
// covariances. Deterministic for a seed.
struct EnkfOptions {
  int members = 100;  // ≥ 2 (≥ n+1 recommended)
  uint64_t seed = 1;
  Status Validate() const;
};
Result<std::unique_ptr<Estimator>> MakeEnsembleKalmanFilter(const FilterModel& model,
                                                            const EstimatorOptions& options,
                                                            const EnkfOptions& enkf = {});

// ---------------------------------------------------------------------------------------------
// Consistency statistics (for tests and analytics).

// Normalized estimation error squared (x − x̂)' P⁻¹ (x − x̂); NaN if P is not SPD.
double Nees(const Eigen::VectorXd& truth, const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance);
// Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9), p in (0, 1).
double NormalQuantile(double p);
// Chi-square quantile with `dof` degrees of freedom (Wilson–Hilferty; relative error < 1e-3
// for dof ≥ 10, < 2e-2 for dof ≥ 1).
double ChiSquareQuantile(double p, double dof);

}  // namespace doppel::estimate
