// Linear Kalman filter and extended Kalman filter.
#include <unsupported/Eigen/MatrixFunctions>

#include "doppel/estimate/gaussian.h"
#include "doppel/physics/linear_system.h"

namespace doppel::estimate {
namespace {

class KalmanFilter final : public internal::GaussianEstimator {
 public:
  KalmanFilter(AugmentedModel m, EstimatorOptions o, const physics::LinearSystem* sys)
      : GaussianEstimator(std::move(m), std::move(o)), sys_(sys) {}
  const char* kind() const override { return "kf"; }

 protected:
  Status DoPredict(double t0, double t1) override {
    const Eigen::Index n = sys_->A().rows(), nu = sys_->B().cols();
    if (!u_.allFinite()) return InvalidArgument("kf: inputs must be finite");
    // exp([[A, B], [0, 0]]·dt) = [[Φ, Γ], [0, I]].
    Eigen::MatrixXd M = Eigen::MatrixXd::Zero(n + nu, n + nu);
    M.topLeftCorner(n, n) = sys_->A();
    M.topRightCorner(n, nu) = sys_->B();
    const double dt = t1 - t0;
    Eigen::MatrixXd E = (M * dt).exp();
    const Eigen::MatrixXd Phi = E.topLeftCorner(n, n);
    Eigen::VectorXd z = Phi * z_;
    if (nu > 0) z += E.topRightCorner(n, nu) * u_;
    Eigen::MatrixXd P = Phi * P_ * Phi.transpose();
    P.diagonal() += ProcessVariance(dt);
    Symmetrize(&P);
    if (!z.allFinite() || !IsSpd(P))
      return FailedPrecondition("kf: predicted covariance not positive definite");
    z_ = z;
    P_ = P;
    return Status::Ok();
  }

  Status DoUpdate(const std::vector<int>& rows, const Eigen::VectorXd& y, const Eigen::VectorXd& r,
                  UpdateReport* rep) override {
    Eigen::VectorXd yhat;
    Eigen::MatrixXd H;
    model_.LinearizeObservation(t_, z_, u_, rows, &yhat, &H);  // exact for a linear system
    return LinearUpdate(H, y - yhat, r, rep);
  }

 private:
  const physics::LinearSystem* sys_;
};

class ExtendedKalmanFilter final : public internal::GaussianEstimator {
 public:
  ExtendedKalmanFilter(AugmentedModel m, EstimatorOptions o)
      : GaussianEstimator(std::move(m), std::move(o)) {}
  const char* kind() const override { return "ekf"; }

 protected:
  Status DoPredict(double t0, double t1) override {
    Eigen::VectorXd z;
    Eigen::MatrixXd F;
    model_.LinearizePropagation(t0, t1, z_, u_, opt_.max_step_s, &z, &F);
    Eigen::MatrixXd P = F * P_ * F.transpose();
    P.diagonal() += ProcessVariance(t1 - t0);
    Symmetrize(&P);
    if (!z.allFinite() || !IsSpd(P))
      return FailedPrecondition("ekf: predicted covariance not positive definite");
    z_ = z;
    P_ = P;
    return Status::Ok();
  }

  Status DoUpdate(const std::vector<int>& rows, const Eigen::VectorXd& y, const Eigen::VectorXd& r,
                  UpdateReport* rep) override {
    Eigen::VectorXd yhat;
    Eigen::MatrixXd H;
    model_.LinearizeObservation(t_, z_, u_, rows, &yhat, &H);
    if (!yhat.allFinite() || !H.allFinite())
      return FailedPrecondition("ekf: measurement function not finite");
    return LinearUpdate(H, y - yhat, r, rep);
  }
};

}  // namespace

Result<std::unique_ptr<Estimator>> MakeKalmanFilter(const FilterModel& model,
                                                    const EstimatorOptions& options) {
  auto m = AugmentedModel::Create(model);
  if (!m.ok()) return m.status();
  const auto* lin = dynamic_cast<const physics::LinearSystem*>(model.system);
  if (lin == nullptr)
    return InvalidArgument("kf: the system must be a physics::LinearSystem (use the EKF/UKF)");
  if (m->num_augmented() > 0) return InvalidArgument("kf: parameters cannot be estimated by the linear KF");
  DOPPEL_RETURN_IF_ERROR(options.Validate(m->size(), m->num_measurements()));
  return std::unique_ptr<Estimator>(new KalmanFilter(std::move(*m), options, lin));
}

Result<std::unique_ptr<Estimator>> MakeExtendedKalmanFilter(const FilterModel& model,
                                                            const EstimatorOptions& options) {
  auto m = AugmentedModel::Create(model);
  if (!m.ok()) return m.status();
  DOPPEL_RETURN_IF_ERROR(options.Validate(m->size(), m->num_measurements()));
  return std::unique_ptr<Estimator>(new ExtendedKalmanFilter(std::move(*m), options));
}

}  // namespace doppel::estimate
