// Unscented Kalman filter (scaled sigma points).
#include <Eigen/Cholesky>
#include <cmath>

#include "doppel/estimate/gaussian.h"

namespace doppel::estimate {

Status UkfOptions::Validate(int n) const {
  if (!(alpha > 0 && alpha <= 1)) return InvalidArgument("ukf: alpha must be in (0, 1]");
  if (!(beta >= 0)) return InvalidArgument("ukf: beta must be >= 0");
  if (!(n + kappa > 0)) return InvalidArgument("ukf: n + kappa must be > 0");
  return Status::Ok();
}

namespace {

class UnscentedKalmanFilter final : public internal::GaussianEstimator {
 public:
  UnscentedKalmanFilter(AugmentedModel m, EstimatorOptions o, UkfOptions u)
      : GaussianEstimator(std::move(m), std::move(o)), u_opt_(u) {
    const double n = size();
    lambda_ = u.alpha * u.alpha * (n + u.kappa) - n;
    const int np = 2 * size() + 1;
    wm_ = Eigen::VectorXd::Constant(np, 0.5 / (n + lambda_));
    wc_ = wm_;
    wm_[0] = lambda_ / (n + lambda_);
    wc_[0] = wm_[0] + 1 - u.alpha * u.alpha + u.beta;
  }
  const char* kind() const override { return "ukf"; }

 protected:
  // Columns: z, z + L_i, z − L_i with L L' = (n+λ)P.
  bool SigmaPoints(Eigen::MatrixXd* X) const {
    const int n = size();
    Eigen::LLT<Eigen::MatrixXd> llt((n + lambda_) * P_);
    if (llt.info() != Eigen::Success) return false;
    const Eigen::MatrixXd L = llt.matrixL();
    X->resize(n, 2 * n + 1);
    X->col(0) = z_;
    for (int i = 0; i < n; ++i) {
      X->col(1 + i) = z_ + L.col(i);
      X->col(1 + n + i) = z_ - L.col(i);
    }
    return true;
  }

  Status DoPredict(double t0, double t1) override {
    Eigen::MatrixXd X;
    if (!SigmaPoints(&X)) return FailedPrecondition("ukf: covariance not positive definite (sigma points)");
    for (Eigen::Index i = 0; i < X.cols(); ++i) {
      X.col(i) = model_.Propagate<double>(t0, t1, X.col(i), u_, opt_.max_step_s);
    }
    Eigen::VectorXd z = X * wm_;
    Eigen::MatrixXd D = X.colwise() - z;
    Eigen::MatrixXd P = D * wc_.asDiagonal() * D.transpose();
    P.diagonal() += ProcessVariance(t1 - t0);
    Symmetrize(&P);
    if (!z.allFinite() || !IsSpd(P))
      return FailedPrecondition("ukf: predicted covariance not positive definite");
    z_ = z;
    P_ = P;
    return Status::Ok();
  }

  Status DoUpdate(const std::vector<int>& rows, const Eigen::VectorXd& y, const Eigen::VectorXd& r,
                  UpdateReport* rep) override {
    Eigen::MatrixXd X;
    if (!SigmaPoints(&X)) return FailedPrecondition("ukf: covariance not positive definite (sigma points)");
    const Eigen::Index m = y.size();
    Eigen::MatrixXd Y(m, X.cols());
    for (Eigen::Index i = 0; i < X.cols(); ++i) Y.col(i) = model_.Observe<double>(t_, X.col(i), u_, rows);
    const Eigen::VectorXd yhat = Y * wm_;
    const Eigen::MatrixXd DY = Y.colwise() - yhat;
    const Eigen::MatrixXd DX = X.colwise() - z_;
    Eigen::MatrixXd S = DY * wc_.asDiagonal() * DY.transpose();
    S.diagonal() += r;
    Symmetrize(&S);
    const Eigen::MatrixXd Pxy = DX * wc_.asDiagonal() * DY.transpose();
    const Eigen::VectorXd nu = y - yhat;
    if (!Innovation(nu, S, rep))
      return FailedPrecondition("ukf: innovation covariance not positive definite");
    if (rep->rejected) return Status::Ok();
    Eigen::LLT<Eigen::MatrixXd> llt(S);
    const Eigen::MatrixXd K = llt.solve(Pxy.transpose()).transpose();
    Eigen::VectorXd z = z_ + K * nu;
    Eigen::MatrixXd P = P_ - K * S * K.transpose();
    Symmetrize(&P);
    if (!z.allFinite() || !IsSpd(P))
      return FailedPrecondition("ukf: updated covariance not positive definite");
    ApplyBounds(z);
    z_ = z;
    P_ = P;
    return Status::Ok();
  }

 private:
  UkfOptions u_opt_;
  double lambda_ = 0;
  Eigen::VectorXd wm_, wc_;
};

}  // namespace

Result<std::unique_ptr<Estimator>> MakeUnscentedKalmanFilter(const FilterModel& model,
                                                             const EstimatorOptions& options,
                                                             const UkfOptions& ukf) {
  auto m = AugmentedModel::Create(model);
  if (!m.ok()) return m.status();
  DOPPEL_RETURN_IF_ERROR(options.Validate(m->size(), m->num_measurements()));
  DOPPEL_RETURN_IF_ERROR(ukf.Validate(m->size()));
  return std::unique_ptr<Estimator>(new UnscentedKalmanFilter(std::move(*m), options, ukf));
}

}  // namespace doppel::estimate
