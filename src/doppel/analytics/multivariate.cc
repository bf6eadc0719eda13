#include "doppel/analytics/multivariate.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <boost/math/special_functions/gamma.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace doppel::analytics {

double ChiSquareTail(double x, double dof) {
  if (!(dof > 0)) throw std::invalid_argument("ChiSquareTail: dof must be > 0");
  if (std::isnan(x)) return 1.0;
  if (x <= 0) return 1.0;
  if (std::isinf(x)) return 0.0;
  // Q(dof/2, x/2), the regularised upper incomplete gamma function.
  // Double precision throughout (boost promotes to long double by default).
  using Policy = boost::math::policies::policy<boost::math::policies::promote_double<false>>;
  return boost::math::gamma_q(0.5 * dof, 0.5 * x, Policy());
}

double TailProbabilityToScore(double p) {
  if (!(p < 1)) return 0.0;  // also NaN
  return std::clamp(std::log(std::max(p, 1e-10)) / std::log(1e-10), 0.0, 1.0);
}

double FuseAnomalyScores(std::initializer_list<double> scores) {
  double m = 0;
  for (double s : scores) {
    if (std::isfinite(s)) m = std::max(m, s);
  }
  return std::clamp(m, 0.0, 1.0);
}

// --- NIS -----------------------------------------------------------------------------------

Status NisDetectorOptions::Validate() const {
  if (window < 1 || window > 10000)
    return InvalidArgument("nis window: " + std::to_string(window) + " not in 1..10000");
  if (warmup > 10'000'000) return InvalidArgument("nis warmup: " + std::to_string(warmup) + " > 1e7");
  return Status::Ok();
}

namespace {
template <typename O>
const O& Checked(const O& o) {
  if (Status s = o.Validate(); !s.ok()) throw std::invalid_argument(s.message());
  return o;
}

// Pushes v into a ring whose running sum is *sum (the evicted value leaves the sum).
void PushSum(Ring* r, double* sum, double v) {
  if (r->size() == r->capacity()) *sum -= r->Back(r->capacity() - 1);
  r->Push(v);
  *sum += v;
}
}  // namespace

NisDetector::NisDetector(NisDetectorOptions options)
    : o_(Checked(options)), nis_(options.window), dof_(options.window) {}

double NisDetector::Update(double nis, int dof) {
  if (dof <= 0 || !std::isfinite(nis) || nis < 0) return score_;
  if (seen_ < o_.warmup) {
    ++seen_;
    return score_;  // 0: the window starts after the warm-up
  }
  ++seen_;
  if (o_.calibrate_updates > 0) {  // running mean, then EW over calibrate_updates
    const size_t n = seen_ - o_.warmup;
    ew_ += (nis / dof - ew_) / static_cast<double>(std::min(n, o_.calibrate_updates));
    level_ = std::max(1.0, ew_);
  }
  nis /= level_;
  PushSum(&nis_, &sum_nis_, nis);
  PushSum(&dof_, &sum_dof_, static_cast<double>(dof));
  // Re-sum now and then: the running sums drift by rounding over millions of updates.
  double sn = 0, sd = 0;
  if (nis_.size() <= 8) {
    for (size_t i = 0; i < nis_.size(); ++i) {
      sn += nis_.Back(i);
      sd += dof_.Back(i);
    }
    sum_nis_ = sn;
    sum_dof_ = sd;
  }
  tail_ = ChiSquareTail(std::max(sum_nis_, 0.0), std::max(sum_dof_, 1.0));
  score_ = TailProbabilityToScore(tail_);
  return score_;
}

// --- PCA -----------------------------------------------------------------------------------

Status PcaDetectorOptions::Validate() const {
  if (train_rows < 10)
    return InvalidArgument("pca train_rows: " + std::to_string(train_rows) + " must be >= 10");
  if (!(explained_variance > 0 && explained_variance < 1))
    return InvalidArgument("pca explained_variance: " + std::to_string(explained_variance) +
                           " not in (0, 1)");
  if (window < 1 || window > 10000)
    return InvalidArgument("pca window: " + std::to_string(window) + " not in 1..10000");
  if (!(adapt_rows >= 0) || !std::isfinite(adapt_rows))
    return InvalidArgument("pca adapt_rows: " + std::to_string(adapt_rows) + " must be >= 0");
  if (adapt_rows > 0 && adapt_rows < 2) return InvalidArgument("pca adapt_rows: must be 0 or >= 2");
  if (!(adapt_below > 0 && adapt_below <= 1))
    return InvalidArgument("pca adapt_below: " + std::to_string(adapt_below) + " not in (0, 1]");
  if (refit_rows < 1) return InvalidArgument("pca refit_rows: must be >= 1");
  if (!(min_eigenvalue > 0) || !std::isfinite(min_eigenvalue))
    return InvalidArgument("pca min_eigenvalue: " + std::to_string(min_eigenvalue) + " must be > 0");
  if (!(max_hold_s >= 0))
    return InvalidArgument("pca max_hold_s: " + std::to_string(max_hold_s) + " must be >= 0");
  return Status::Ok();
}

PcaDetector::PcaDetector(size_t channels, PcaDetectorOptions options)
    : o_(Checked(options)),
      d_(channels),
      held_(channels, 0.0),
      held_ts_(channels, 0),
      seen_(channels, false),
      t2_(options.window),
      q_(options.window) {
  if (channels < 2) throw std::invalid_argument("PcaDetector: needs >= 2 channels");
  if (o_.train_rows <= channels)
    throw std::invalid_argument("PcaDetector: train_rows must exceed the number of channels");
  w_mean_ = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(d_));
  w_m2_ = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(d_), static_cast<Eigen::Index>(d_));
  x_.resize(static_cast<Eigen::Index>(d_));
}

void PcaDetector::Fit(const Eigen::VectorXd& mean, const Eigen::MatrixXd& cov) {
  const Eigen::Index m = static_cast<Eigen::Index>(used_.size());
  mean_ = mean;
  std_ = cov.diagonal().cwiseMax(0.0).cwiseSqrt();
  // A channel whose spread collapsed (adaptive mode) keeps a floor relative to its level.
  for (Eigen::Index i = 0; i < m; ++i) std_[i] = std::max(std_[i], 1e-9 * (1.0 + std::fabs(mean_[i])));
  const Eigen::VectorXd inv = std_.cwiseInverse();
  const Eigen::MatrixXd corr = inv.asDiagonal() * cov * inv.asDiagonal();
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(corr);
  // Descending order.
  eig_ = es.eigenvalues().reverse().cwiseMax(o_.min_eigenvalue);
  const Eigen::MatrixXd vec = es.eigenvectors().rowwise().reverse();
  size_t k = o_.components;
  if (k == 0) {
    const double total = eig_.sum();
    double acc = 0;
    for (k = 0; k < static_cast<size_t>(m);) {
      acc += eig_[static_cast<Eigen::Index>(k)];
      ++k;
      if (acc >= o_.explained_variance * total) break;
    }
  }
  k_ = std::clamp<size_t>(k, 1, static_cast<size_t>(m) - 1);  // at least one residual direction
  p_ = vec.leftCols(static_cast<Eigen::Index>(k_));
  const Eigen::VectorXd res = eig_.tail(m - static_cast<Eigen::Index>(k_));
  const double th1 = res.sum(), th2 = res.squaredNorm();
  g_ = th2 / th1;
  h_ = th1 * th1 / th2;
  z_.resize(m);
  t_.resize(static_cast<Eigen::Index>(k_));
}

double PcaDetector::Update(TimeNs t, const double* values) {
  last_ = PcaRowScore{};
  for (size_t i = 0; i < d_; ++i) {
    if (std::isfinite(values[i])) {
      held_[i] = values[i];
      held_ts_[i] = t;
      seen_[i] = true;
    }
  }
  const double hold_ns = o_.max_hold_s * 1e9;
  auto fresh = [&](size_t i) { return seen_[i] && static_cast<double>(t - held_ts_[i]) <= hold_ns; };

  if (!trained_) {
    for (size_t i = 0; i < d_; ++i) {
      if (!fresh(i)) return 0.0;
      x_[static_cast<Eigen::Index>(i)] = held_[i];
    }
    ++n_;  // Welford
    const Eigen::VectorXd delta = x_ - w_mean_;
    w_mean_ += delta / static_cast<double>(n_);
    w_m2_.noalias() += delta * (x_ - w_mean_).transpose();
    if (n_ < o_.train_rows) return 0.0;
    const Eigen::MatrixXd cov = w_m2_ / static_cast<double>(n_ - 1);
    for (size_t i = 0; i < d_; ++i) {
      const Eigen::Index ii = static_cast<Eigen::Index>(i);
      if (std::sqrt(std::max(cov(ii, ii), 0.0)) > 1e-9 * (1.0 + std::fabs(w_mean_[ii])))
        used_.push_back(static_cast<int>(i));
    }
    trained_ = true;
    if (used_.size() < 2) return 0.0;  // nothing varies together: the detector stays silent
    const Eigen::Index m = static_cast<Eigen::Index>(used_.size());
    Eigen::VectorXd mean(m);
    Eigen::MatrixXd c(m, m);
    for (Eigen::Index a = 0; a < m; ++a) {
      mean[a] = w_mean_[used_[static_cast<size_t>(a)]];
      for (Eigen::Index b = 0; b < m; ++b)
        c(a, b) = cov(used_[static_cast<size_t>(a)], used_[static_cast<size_t>(b)]);
    }
    Fit(mean, c);
    ew_mean_ = mean;
    ew_cov_ = c;
    w_m2_.resize(0, 0);  // training moments no longer needed
    return 0.0;
  }
  if (used_.size() < 2) return 0.0;

  const Eigen::Index m = static_cast<Eigen::Index>(used_.size());
  for (Eigen::Index a = 0; a < m; ++a) {
    const size_t i = static_cast<size_t>(used_[static_cast<size_t>(a)]);
    if (!fresh(i)) return 0.0;
    x_[a] = held_[i];
  }
  const auto x = x_.head(m);
  z_ = (x - mean_).cwiseQuotient(std_);
  t_.noalias() = p_.transpose() * z_;
  const double t2 = t_.cwiseAbs2().cwiseQuotient(eig_.head(static_cast<Eigen::Index>(k_))).sum();
  const double spe = std::max(0.0, z_.squaredNorm() - t_.squaredNorm());  // P orthonormal
  PushSum(&t2_, &sum_t2_, t2);
  PushSum(&q_, &sum_q_, spe / g_);
  if (t2_.size() <= 8) {  // small windows: exact sums (no rounding drift)
    sum_t2_ = sum_q_ = 0;
    for (size_t i = 0; i < t2_.size(); ++i) {
      sum_t2_ += t2_.Back(i);
      sum_q_ += q_.Back(i);
    }
  }
  const double rows = static_cast<double>(t2_.size());
  last_.scored = true;
  last_.t2 = t2;
  last_.spe = spe;
  last_.t2_tail = ChiSquareTail(std::max(sum_t2_, 0.0), rows * static_cast<double>(k_));
  last_.spe_tail = ChiSquareTail(std::max(sum_q_, 0.0), rows * h_);
  last_.score = std::max(TailProbabilityToScore(last_.t2_tail), TailProbabilityToScore(last_.spe_tail));

  if (o_.adapt_rows > 0 && last_.score >= o_.adapt_below) ++gated_;
  if (o_.adapt_rows > 0 &&
      (last_.score < o_.adapt_below || (o_.relearn_rows > 0 && gated_ > o_.relearn_rows))) {
    if (last_.score < o_.adapt_below) gated_ = 0;
    const double a = 1.0 / o_.adapt_rows;
    z_ = x - ew_mean_;  // z_ is free again: the deviation, without an allocation per row
    ew_mean_ += a * z_;
    ew_cov_ *= 1 - a;
    ew_cov_.noalias() += ((1 - a) * a) * z_ * z_.transpose();
    if (++since_refit_ >= o_.refit_rows) {
      since_refit_ = 0;
      Fit(ew_mean_, ew_cov_);
    }
  }
  return last_.score;
}

}  // namespace doppel::analytics
