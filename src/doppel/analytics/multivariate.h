// Multivariate anomaly detectors per twin (docs/analytics.md, "Multivariate detectors and the
// fused score"): online, bounded memory, time passed in (no clocks).
//
// - NisDetector: the estimator's normalised innovation squared. Under a consistent filter the
//   NIS of an update with d channels present is chi-square(d); the sum over the last `window`
//   updates is chi-square(sum of d). Its upper tail probability is the evidence.
// - PcaDetector: mean and covariance learned on a healthy window of rows (one row = the values
//   of a twin's signals at one source time), principal components of the correlation matrix;
//   each later row is scored by Hotelling's T² (inside the model plane) and the squared
//   prediction error Q = SPE (off the plane: a broken correlation). A row can look normal in
//   every signal and still be far off the plane; that is what this detector is for.
//
// Scores share the univariate detectors' log scale (detector.h, ErrorLikelihood): a tail
// probability p maps to log(p) / log(1e-10), clamped to [0, 1] (0.5 ~ p = 1e-5, 0.9 ~ 1e-9).
#pragma once

#include <Eigen/Core>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "doppel/analytics/detector.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

// P(X > x) for X ~ chi-square(dof); dof > 0 (not integer necessarily), x <= 0 gives 1.
double ChiSquareTail(double x, double dof);
// The shared log scale: log(max(p, 1e-10)) / log(1e-10), in [0, 1]; p = 1 gives 0.
double TailProbabilityToScore(double p);

struct NisDetectorOptions {
  size_t window = 5;  // estimator updates summed, 1..10000
  // Updates scored 0 first: the filter converges from its initial guess (the pump EKF starts
  // with wear std 0.3), and its early innovations are large by design. <= 1e7.
  size_t warmup = 60;
  // 0: the textbook test, NIS against chi-square(dof). > 0: NIS is first divided by its own
  // level c = the mean of NIS/dof since the warm-up, exponentially weighted over this many
  // updates once there are more (floored at 1; every update enters it, the current one too).
  // A filter whose model is consistently off by a factor (the plant's pumps differ from the
  // twin's nominal curves) is then not a fault; a change of its consistency is, until the level
  // has followed it (~this many updates).
  size_t calibrate_updates = 3600;
  Status Validate() const;
};

class NisDetector {
 public:
  // Throws std::invalid_argument when options.Validate() fails (API misuse).
  explicit NisDetector(NisDetectorOptions options = {});
  // One estimator update: its NIS (νᵀS⁻¹ν, >= 0) and degrees of freedom (channels present).
  // Updates with dof <= 0 or a non-finite/negative NIS carry no evidence: ignored, and the
  // last score is returned. Returns the score of the window ending here.
  double Update(double nis, int dof);
  double score() const { return score_; }
  double tail() const { return tail_; }    // P(chi-square(window dof) > window NIS / level)
  double level() const { return level_; }  // c (1 without calibration)

 private:
  NisDetectorOptions o_;
  Ring nis_, dof_;
  double sum_nis_ = 0, sum_dof_ = 0;
  size_t seen_ = 0;
  double score_ = 0, tail_ = 1;
  double ew_ = 1, level_ = 1;  // EW mean of NIS/dof and its floor at 1
};

struct PcaDetectorOptions {
  // Rows of the healthy window the model is learned on (the first complete rows), >= 10 and
  // > the number of channels.
  size_t train_rows = 600;
  // Components kept: the smallest k whose eigenvalues reach this fraction of the total
  // (standardised) variance, in (0, 1), at most channels - 1 ... The default keeps every
  // direction but those holding the last 0.1 % of the variance: T² is then (nearly) the
  // Mahalanobis distance, which sees a biased sensor against the others' noise, and SPE watches
  // the near-exact relations. A textbook PCA monitor uses ~0.9.
  double explained_variance = 0.999;
  // ... unless `components` > 0: exactly this many (clamped to channels - 1).
  size_t components = 0;
  // Rows summed before the tail probability is taken (like NisDetector::window), 1..10000.
  size_t window = 5;
  // 0: the model stays as learned (frozen). > 0: after training the mean and covariance follow
  // an exponentially weighted average over this many rows and the components are refitted every
  // `refit_rows` rows, so the model tracks a slowly moving operating point (the plant's daily
  // demand cycle). Only rows scoring below `adapt_below` enter it, so a fault is not learned --
  // unless `relearn_rows` consecutive rows are gated out (0: never): the state is then taken as
  // the new normal (a persistent fault is reported for that long, then absorbed).
  double adapt_rows = 1800;
  double adapt_below = 0.5;
  size_t refit_rows = 60;
  size_t relearn_rows = 3600;
  // Standardised eigenvalues are floored at this (a near-exact linear relation in the
  // training rows would otherwise make any later deviation infinitely unlikely), > 0.
  double min_eigenvalue = 1e-3;
  // Missing values: a channel's last value is held for this long (source time); a row with a
  // channel never seen or older than this is skipped (not scored, not learned). >= 0.
  double max_hold_s = 10;
  Status Validate() const;
};

// What the last scored row gave.
struct PcaRowScore {
  bool scored = false;  // false: training, or the row was skipped (missing channel)
  double t2 = 0;        // Hotelling's T² of the row
  double spe = 0;       // Q = squared residual off the model plane (standardised units)
  double t2_tail = 1;   // P(chi-square(window k) > window sum of T²)
  double spe_tail = 1;  // Box: Q ~ g chi-square(h); P(chi-square(window h) > window sum Q / g)
  double score = 0;     // max of the two tails' scores
};

// Learns on its first `train_rows` complete rows, then scores. Memory: O(channels²) + the
// window; work per row O(channels · k), a refit (adaptive mode) O(channels³).
class PcaDetector {
 public:
  // channels >= 2; throws std::invalid_argument on invalid options (API misuse).
  PcaDetector(size_t channels, PcaDetectorOptions options = {});

  // One row at time t (non-decreasing). values[i] NaN = channel i absent from this row (its
  // held value is used, see max_hold_s). Returns the row's score (0 while training or skipped).
  double Update(TimeNs t, const double* values);
  double Update(TimeNs t, const std::vector<double>& values) { return Update(t, values.data()); }

  bool trained() const { return trained_; }
  size_t channels() const { return d_; }
  size_t components() const { return k_; }
  // Channels used by the model (constant ones in training are left out).
  const std::vector<int>& used_channels() const { return used_; }
  const PcaRowScore& last() const { return last_; }
  // Model parameters (after training): mean, std of the used channels, eigenvalues (descending).
  const Eigen::VectorXd& mean() const { return mean_; }
  const Eigen::VectorXd& stddev() const { return std_; }
  const Eigen::VectorXd& eigenvalues() const { return eig_; }

 private:
  // Model from a mean and covariance over the used channels.
  void Fit(const Eigen::VectorXd& mean, const Eigen::MatrixXd& cov);

  PcaDetectorOptions o_;
  size_t d_;
  std::vector<double> held_;
  std::vector<TimeNs> held_ts_;
  std::vector<bool> seen_;
  // Training moments (Welford: mean and sum of squared deviations, all channels), then the
  // adaptive exponentially weighted moments (used channels).
  size_t n_ = 0;
  Eigen::VectorXd w_mean_, ew_mean_;
  Eigen::MatrixXd w_m2_, ew_cov_;
  Eigen::VectorXd x_, z_, t_;  // scratch
  size_t since_refit_ = 0, gated_ = 0;
  bool trained_ = false;
  // Model.
  std::vector<int> used_;
  Eigen::VectorXd mean_, std_, eig_;  // eig_: all eigenvalues of the correlation matrix, floored
  Eigen::MatrixXd p_;                 // used x k loadings
  size_t k_ = 0;
  double g_ = 1, h_ = 1;  // Box's approximation of Q
  Ring t2_, q_;
  double sum_t2_ = 0, sum_q_ = 0;
  PcaRowScore last_;
};

// The fused twin score: the maximum of the components' scores (each already on the shared log
// scale), so the fused alarm is explained by its largest component. Non-finite inputs count 0.
double FuseAnomalyScores(std::initializer_list<double> scores);

}  // namespace doppel::analytics
