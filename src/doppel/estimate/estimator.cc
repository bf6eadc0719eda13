// Estimator base, consistency statistics, and the Gaussian (KF/EKF/UKF) common update.
#include "doppel/estimate/estimator.h"

#include <Eigen/Cholesky>
#include <cmath>
#include <limits>

#include "doppel/estimate/gaussian.h"
#include "doppel/estimate/small_kernels.h"

namespace doppel::estimate {

namespace {
std::string Num(double v) { return std::to_string(v); }
}  // namespace

Status EstimatorOptions::Validate(int n, int m) const {
  auto size = [](const Eigen::VectorXd& v, int want, const char* what, bool optional) -> Status {
    if (optional && v.size() == 0) return Status::Ok();
    if (v.size() != want) {
      return InvalidArgument(std::string("estimator options: ") + what + " has " + std::to_string(v.size()) +
                             " entries, want " + std::to_string(want));
    }
    return Status::Ok();
  };
  DOPPEL_RETURN_IF_ERROR(size(initial_mean, n, "initial_mean", true));
  DOPPEL_RETURN_IF_ERROR(size(initial_std, n, "initial_std", false));
  DOPPEL_RETURN_IF_ERROR(size(process_std, n, "process_std", false));
  DOPPEL_RETURN_IF_ERROR(size(measurement_std, m, "measurement_std", false));
  DOPPEL_RETURN_IF_ERROR(size(lower_bound, n, "lower_bound", true));
  DOPPEL_RETURN_IF_ERROR(size(upper_bound, n, "upper_bound", true));
  DOPPEL_RETURN_IF_ERROR(size(measurement_rel_std, m, "measurement_rel_std", true));
  if (!(measurement_rel_std.array() >= 0).all() || !measurement_rel_std.allFinite()) {
    return InvalidArgument("estimator options: measurement_rel_std must be >= 0 and finite");
  }
  if (!initial_mean.allFinite()) return InvalidArgument("estimator options: initial_mean not finite");
  if (!(initial_std.array() > 0).all() || !initial_std.allFinite()) {
    return InvalidArgument("estimator options: initial_std must be > 0 and finite");
  }
  if (!(process_std.array() >= 0).all() || !process_std.allFinite()) {
    return InvalidArgument("estimator options: process_std must be >= 0 and finite");
  }
  if (!(measurement_std.array() > 0).all() || !measurement_std.allFinite()) {
    return InvalidArgument("estimator options: measurement_std must be > 0 and finite");
  }
  if (!(max_step_s > 0) || !std::isfinite(max_step_s))
    return InvalidArgument("estimator options: max_step_s must be > 0");
  if (!(nis_gate >= 0)) return InvalidArgument("estimator options: nis_gate must be >= 0");
  if (!(outlier_sigma >= 0) || !std::isfinite(outlier_sigma)) {
    return InvalidArgument("estimator options: outlier_sigma must be >= 0 and finite (0 = off)");
  }
  if (outlier_patience < 1) return InvalidArgument("estimator options: outlier_patience must be >= 1");
  if (!(outlier_max_sigma >= 0) || !std::isfinite(outlier_max_sigma) ||
      (outlier_max_sigma > 0 && outlier_max_sigma < outlier_sigma)) {
    return InvalidArgument("estimator options: outlier_max_sigma must be 0 (no limit) or >= outlier_sigma");
  }
  if (!(nis_ewma_weight > 0 && nis_ewma_weight <= 1)) {
    return InvalidArgument("estimator options: nis_ewma_weight must be in (0, 1]");
  }
  if (!std::isfinite(initial_time_s)) return InvalidArgument("estimator options: initial_time_s not finite");
  return Status::Ok();
}

Estimator::Estimator(AugmentedModel model, EstimatorOptions options)
    : model_(std::move(model)), opt_(std::move(options)) {
  u_ = model_.system().DefaultValues(physics::SignalKind::kInput);
  t_ = opt_.initial_time_s;
  stats_.ewma_channel_nis = Eigen::VectorXd::Ones(model_.num_measurements());
  stats_.channel_outliers.assign(static_cast<size_t>(model_.num_measurements()), 0);
  outlier_run_.assign(static_cast<size_t>(model_.num_measurements()), 0);
  if (opt_.initial_mean.size() == 0) opt_.initial_mean = model_.DefaultMean();
}

Status Estimator::SetInputs(const Eigen::VectorXd& u) {
  if (u.size() != model_.num_inputs()) {
    return InvalidArgument("estimator: inputs has " + std::to_string(u.size()) + " entries, want " +
                           std::to_string(model_.num_inputs()));
  }
  u_ = u;
  return Status::Ok();
}

Status Estimator::Fail(Status s) {
  ++summary_.divergences;
  summary_.last_error = s.ToString();
  return s;
}

Status Estimator::Predict(double t) {
  if (!std::isfinite(t)) return InvalidArgument("estimator: prediction time not finite");
  if (t < t_) return InvalidArgument("estimator: time went backwards (" + Num(t) + " < " + Num(t_) + ")");
  if (t == t_) return Status::Ok();
  if ((t - t_) / opt_.max_step_s > kMaxPredictionSubsteps) {
    return InvalidArgument("estimator: a prediction over " + Num(t - t_) + " s needs more than " +
                           Num(kMaxPredictionSubsteps) + " integration substeps of " + Num(opt_.max_step_s) +
                           " s; start a new estimator from the current estimate instead");
  }
  Status s = DoPredict(t_, t);
  if (!s.ok()) return Fail(s);
  summary_.rk4_substeps +=
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil((t - t_) / opt_.max_step_s - 1e-9)));
  t_ = t;
  ++summary_.predictions;
  return Status::Ok();
}

Result<UpdateReport> Estimator::Update(const Measurement& m) {
  const int nm = num_measurements();
  if (m.values.size() != nm) {
    return InvalidArgument("estimator: measurement has " + std::to_string(m.values.size()) +
                           " values, want " + std::to_string(nm));
  }
  if (!m.present.empty() && static_cast<int>(m.present.size()) != nm) {
    return InvalidArgument("estimator: present mask has the wrong size");
  }
  if (m.std.size() != 0 && m.std.size() != nm) return InvalidArgument("estimator: std has the wrong size");
  // Work vectors are members: no allocation once sized.
  std::vector<int>& rows = rows_work_;
  rows.clear();
  for (int k = 0; k < nm; ++k) {
    bool here = m.present.empty() || m.present[static_cast<size_t>(k)];
    if (here && std::isfinite(m.values[k])) rows.push_back(k);
  }
  Eigen::VectorXd &y = y_work_, &r = r_work_;
  y.resize(static_cast<Eigen::Index>(rows.size()));
  r.resize(y.size());
  bool relative = false;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int k = rows[i];
    double sd = m.std.size() ? m.std[k] : opt_.measurement_std[k];
    if (!(sd > 0) || !std::isfinite(sd)) {
      return InvalidArgument("estimator: noise std of '" + measurement_names()[static_cast<size_t>(k)] +
                             "' must be > 0");
    }
    y[static_cast<Eigen::Index>(i)] = m.values[k];
    r[static_cast<Eigen::Index>(i)] = sd;  // a std until the relative part is added below
    relative |= opt_.measurement_rel_std.size() != 0 && opt_.measurement_rel_std[k] > 0;
  }
  DOPPEL_RETURN_IF_ERROR(Predict(m.t));
  if (relative) {  // value-dependent noise at the predicted measurement
    Eigen::VectorXd& yhat = yhat_work_;
    PredictMeasurement(rows, &yhat);
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto j = static_cast<Eigen::Index>(i);
      if (std::isfinite(yhat[j])) r[j] += opt_.measurement_rel_std[rows[i]] * std::abs(yhat[j]);
    }
  }
  r = r.array().square();
  UpdateReport rep;
  rep.channels = rows;
  if (rows.empty()) {
    ++summary_.updates;
    ++summary_.predict_only;
    return rep;
  }
  Status s = DoUpdate(rows, y, r, &rep);
  if (s.ok() && !rep.outliers.empty()) {
    // Again without the outliers: the other channels' marginal innovations are unchanged, so
    // they pass the gate again (it is not re-applied).
    std::vector<int> outliers = std::move(rep.outliers);
    size_t kept = 0;
    for (size_t i = 0, o = 0; i < rows.size(); ++i) {
      if (o < outliers.size() && outliers[o] == rows[i]) {
        ++o;
        continue;
      }
      rows[kept] = rows[i];
      y[static_cast<Eigen::Index>(kept)] = y[static_cast<Eigen::Index>(i)];
      r[static_cast<Eigen::Index>(kept)] = r[static_cast<Eigen::Index>(i)];
      ++kept;
    }
    rows.resize(kept);
    y.conservativeResize(static_cast<Eigen::Index>(kept));
    r.conservativeResize(static_cast<Eigen::Index>(kept));
    rep = UpdateReport{};
    rep.channels = rows;
    if (!rows.empty()) {
      gating_ = false;
      s = DoUpdate(rows, y, r, &rep);
      gating_ = true;
    }
    rep.outliers = std::move(outliers);
    if (s.ok()) {
      summary_.outliers += static_cast<int64_t>(rep.outliers.size());
      for (int k : rep.outliers) ++stats_.channel_outliers[static_cast<size_t>(k)];
    }
    if (s.ok() && rows.empty()) {
      ++summary_.updates;
      ++summary_.predict_only;
      return rep;
    }
  }
  if (!s.ok()) return Fail(s);
  ++summary_.updates;
  if (rep.rejected) ++summary_.rejected_updates;
  // Innovation statistics. An update the NIS gate rejected can have a NIS that overflowed: it
  // counts as rejected, not in the sums (one would make them infinite for good).
  if (!std::isfinite(rep.nis)) return rep;
  stats_.updates++;
  stats_.last_nis = rep.nis;
  stats_.last_dof = rep.dof;
  stats_.sum_nis += rep.nis;
  stats_.sum_dof += rep.dof;
  const double w = opt_.nis_ewma_weight;
  stats_.ewma_nis_per_dof = (1 - w) * stats_.ewma_nis_per_dof + w * rep.nis / rep.dof;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Eigen::Index j = static_cast<Eigen::Index>(i);
    double e = rep.innovation[j] / rep.innovation_std[j];
    if (std::isfinite(e))
      stats_.ewma_channel_nis[rows[i]] = (1 - w) * stats_.ewma_channel_nis[rows[i]] + w * e * e;
  }
  return rep;
}

void Estimator::ContinueStatistics(const InnovationStats& stats, const EstimatorSummary& summary) {
  if (stats.ewma_channel_nis.size() != stats_.ewma_channel_nis.size() ||
      stats.channel_outliers.size() != stats_.channel_outliers.size()) {
    return;
  }
  stats_ = stats;
  summary_ = summary;
}

bool Estimator::Judge(UpdateReport* rep) {
  rep->outliers.clear();
  if (opt_.outlier_sigma > 0 && gating_) {
    for (size_t i = 0; i < rep->channels.size(); ++i) {
      const auto j = static_cast<Eigen::Index>(i);
      const int k = rep->channels[i];
      int& run = outlier_run_[static_cast<size_t>(k)];
      // NaN (a zero innovation std with a zero innovation) counts as inside.
      const double off = std::abs(rep->innovation[j]);
      if (!(off > opt_.outlier_sigma * rep->innovation_std[j])) {
        run = 0;
        continue;
      }
      const bool believable =
          opt_.outlier_max_sigma == 0 || off <= opt_.outlier_max_sigma * rep->innovation_std[j];
      if (!believable) {  // never a real change; nor does it count towards one
        run = 0;
        rep->outliers.push_back(k);
        continue;
      }
      if (run >= opt_.outlier_patience) continue;  // persistent: a real change, used
      ++run;
      rep->outliers.push_back(k);
    }
    if (!rep->outliers.empty()) return true;
  }
  return opt_.nis_gate > 0 && rep->nis > opt_.nis_gate;
}

Result<double> Estimator::Mean(std::string_view name) const {
  const auto& n = state_names();
  for (size_t i = 0; i < n.size(); ++i) {
    if (n[i] == name) return mean()[static_cast<Eigen::Index>(i)];
  }
  return NotFound("estimator: no state named '" + std::string(name) + "'");
}

Result<double> Estimator::StdDev(std::string_view name) const {
  const auto& n = state_names();
  for (size_t i = 0; i < n.size(); ++i) {
    const auto k = static_cast<Eigen::Index>(i);
    if (n[i] == name) return std::sqrt(std::max(0.0, covariance()(k, k)));
  }
  return NotFound("estimator: no state named '" + std::string(name) + "'");
}

Status Estimator::CheckResetEntry(int index, double mean, double variance) const {
  if (index < 0 || index >= size()) {
    return InvalidArgument("estimator: ResetEntry index " + std::to_string(index) + " outside [0, " +
                           std::to_string(size()) + ")");
  }
  if (!std::isfinite(mean)) return InvalidArgument("estimator: ResetEntry mean not finite");
  if (!(variance > 0) || !std::isfinite(variance)) {
    return InvalidArgument("estimator: ResetEntry variance must be > 0 and finite, got " + Num(variance));
  }
  return Status::Ok();
}

Status Estimator::ResetEntry(int index, double mean, double variance) {
  DOPPEL_RETURN_IF_ERROR(CheckResetEntry(index, mean, variance));
  Eigen::VectorXd z = this->mean();
  Eigen::MatrixXd P = covariance();
  z[index] = mean;
  ApplyBounds(z);
  P.row(index).setZero();
  P.col(index).setZero();
  P(index, index) = variance;
  return Reset(z, P);
}

void Estimator::PredictMeasurement(const std::vector<int>& rows, Eigen::VectorXd* yhat) {
  *yhat = model_.Observe<double>(t_, mean(), u_, rows);
}

Eigen::VectorXd Estimator::ProcessVariance(double dt) const { return opt_.process_std.array().square() * dt; }

void Estimator::ApplyBounds(Eigen::Ref<Eigen::VectorXd> z) const {
  if (opt_.lower_bound.size()) z = z.cwiseMax(opt_.lower_bound);
  if (opt_.upper_bound.size()) z = z.cwiseMin(opt_.upper_bound);
}

// ---------------------------------------------------------------------------------------------

namespace internal {

GaussianEstimator::GaussianEstimator(AugmentedModel model, EstimatorOptions options)
    : Estimator(std::move(model), std::move(options)) {
  z_ = opt_.initial_mean;
  P_ = opt_.initial_std.array().square().matrix().asDiagonal();
}

Status GaussianEstimator::Reset(const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance) {
  if (mean.size() != size() || covariance.rows() != size() || covariance.cols() != size()) {
    return InvalidArgument("estimator: Reset with wrong sizes");
  }
  if (!mean.allFinite() || !IsSpd(covariance))
    return InvalidArgument("estimator: Reset needs finite mean, SPD P");
  z_ = mean;
  P_ = covariance;
  return Status::Ok();
}

// Kept as the original expression: Eigen evaluates it in place (coefficient by coefficient, so
// later entries see earlier results), and the filters' numerics are pinned to that rounding.
void GaussianEstimator::Symmetrize(Eigen::MatrixXd* P) { *P = 0.5 * (*P + P->transpose()); }

bool GaussianEstimator::IsSpd(const Eigen::MatrixXd& P) {
  if (!P.allFinite()) return false;
  bool exact = P.rows() == P.cols();  // exactly symmetric: the approximate test is moot
  for (Eigen::Index j = 0; exact && j < P.cols(); ++j) {
    for (Eigen::Index i = 0; i < j; ++i) exact &= P(i, j) == P(j, i);
  }
  if (!exact && !P.isApprox(P.transpose(), 1e-9) && (P - P.transpose()).cwiseAbs().maxCoeff() > 1e-12)
    return false;
  return WithStateSize(
      P.rows(), [&](auto size) { return CholeskySucceeds<decltype(size)::value>(P.rows(), P.data()); });
}

bool GaussianEstimator::Innovation(const Eigen::VectorXd& nu, const Eigen::MatrixXd& S, UpdateReport* rep) {
  Eigen::LLT<Eigen::MatrixXd> llt(S);
  if (llt.info() != Eigen::Success || !S.allFinite()) return false;
  rep->dof = static_cast<int>(nu.size());
  rep->innovation = nu;
  rep->innovation_std = S.diagonal().cwiseSqrt();
  rep->nis = nu.dot(llt.solve(nu));
  rep->rejected = Judge(rep);
  return rep->rejected || std::isfinite(rep->nis);
}

Status GaussianEstimator::LinearUpdate(const Eigen::MatrixXd& H, const Eigen::VectorXd& nu,
                                       const Eigen::VectorXd& r, UpdateReport* rep) {
  // R is diagonal, so the batch update equals m scalar updates in turn, each against the same
  // linearization H with the innovation the previous ones left: ν_i' = ν_i − h_i (z' − z). Per
  // channel a = P h_i', s = h_i a + r_i, z += a ν_i'/s, P −= a a'/s (the Joseph form with the
  // optimal gain k = a/s reduces to this). The batch NIS ν'S⁻¹ν is the sum of ν_i'²/s (S's
  // LDLᵀ factorization) — no m×m matrix is formed or inverted.
  const Eigen::Index m = nu.size(), n = size();
  rep->dof = static_cast<int>(m);
  rep->innovation = nu;
  rep->innovation_std.resize(m);
  // Plain loops over raw column-major storage: n and m are small (a few to a few dozen), where
  // Eigen's dynamic-size products cost more in dispatch and temporaries than in arithmetic. The
  // work vectors are members (no allocation per step).
  z_work_ = z_;
  P_work_ = P_;
  a_work_.resize(n);
  a0_work_.resize(n);
  k_work_.resize(n);
  double* z = z_work_.data();
  double* P = P_work_.data();
  double* a = a_work_.data();
  double* a0 = a0_work_.data();
  double* ks = k_work_.data();
  const double* P0 = P_.data();
  const double* z0 = z_.data();
  const double* Hd = H.data();
  const Eigen::Index hs = H.rows();  // H(i, k) = Hd[i + k·hs]
  double nis = 0;
  const Eigen::Index failed = WithStateSize(n, [&](auto size) {
    return SequentialUpdate<decltype(size)::value>(n, m, z0, P0, Hd, hs, nu.data(), r.data(), z, P,
                                                   rep->innovation_std.data(), &nis, a, a0, ks);
  });
  if (failed >= 0) return FailedPrecondition("update: innovation covariance not positive definite");
  rep->nis = nis;
  rep->rejected = Judge(rep);
  if (rep->rejected) return Status::Ok();
  if (!std::isfinite(nis)) return FailedPrecondition("update: innovation covariance not positive definite");
  Symmetrize(&P_work_);
  if (!z_work_.allFinite() || !IsSpd(P_work_))
    return FailedPrecondition("update: covariance lost positive definiteness");
  ApplyBounds(z_work_);
  z_.swap(z_work_);
  P_.swap(P_work_);
  return Status::Ok();
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// Statistics

double Nees(const Eigen::VectorXd& truth, const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance) {
  Eigen::LLT<Eigen::MatrixXd> llt(covariance);
  if (llt.info() != Eigen::Success) return std::numeric_limits<double>::quiet_NaN();
  Eigen::VectorXd e = truth - mean;
  return e.dot(llt.solve(e));
}

double NormalQuantile(double p) {
  // P. J. Acklam's algorithm.
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  if (!(p > 0 && p < 1)) return std::numeric_limits<double>::quiet_NaN();
  const double lo = 0.02425, hi = 1 - lo;
  if (p < lo) {
    double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > hi) {
    double q = std::sqrt(-2 * std::log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

double ChiSquareQuantile(double p, double dof) {
  const double z = NormalQuantile(p);
  const double h = 2.0 / (9.0 * dof);
  const double v = 1.0 - h + z * std::sqrt(h);
  return dof * v * v * v;
}

}  // namespace doppel::estimate
