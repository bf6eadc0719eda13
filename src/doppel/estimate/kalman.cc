// Linear Kalman filter and extended Kalman filter.
#include <unsupported/Eigen/MatrixFunctions>

#include "doppel/estimate/gaussian.h"
#include "doppel/estimate/small_kernels.h"
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
  Status Reset(const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance) override {
    lin_valid_ = false;
    return GaussianEstimator::Reset(mean, covariance);
  }

 protected:
  Status DoPredict(double t0, double t1) override {
    lin_valid_ = false;
    model_.LinearizePropagation(t0, t1, z_, u_, opt_.max_step_s, &z_work_, &F_);
    // P = F P F' + Qd on member storage, the kernel compiled for this size (small_kernels.h).
    const Eigen::Index n = size();
    M_work_.resize(n, n);
    P_work_.resize(n, n);
    const double *F = F_.data(), *P0 = P_.data();
    double *FP = M_work_.data(), *P = P_work_.data();
    internal::WithStateSize(n, [&](auto size) {
      internal::PropagateCovariance<decltype(size)::value>(n, F, P0, opt_.process_std.data(), t1 - t0, FP, P);
    });
    Symmetrize(&P_work_);
    if (!z_work_.allFinite() || !IsSpd(P_work_))
      return FailedPrecondition("ekf: predicted covariance not positive definite");
    z_.swap(z_work_);
    P_.swap(P_work_);
    return Status::Ok();
  }

  // The linearization at the prediction serves both the value-dependent noise and the update.
  void PredictMeasurement(const std::vector<int>& rows, Eigen::VectorXd* yhat) override {
    model_.LinearizeObservation(t_, z_, u_, rows, &yhat_, &H_);
    lin_valid_ = true;
    lin_t_ = t_;
    lin_rows_ = rows;
    *yhat = yhat_;
  }

  Status DoUpdate(const std::vector<int>& rows, const Eigen::VectorXd& y, const Eigen::VectorXd& r,
                  UpdateReport* rep) override {
    if (!(lin_valid_ && lin_t_ == t_ && lin_rows_ == rows))
      model_.LinearizeObservation(t_, z_, u_, rows, &yhat_, &H_);
    lin_valid_ = false;
    if (!yhat_.allFinite() || !H_.allFinite())
      return FailedPrecondition("ekf: measurement function not finite");
    nu_ = y - yhat_;
    return LinearUpdate(H_, nu_, r, rep);
  }

 private:
  Eigen::MatrixXd F_, H_;
  Eigen::VectorXd yhat_, nu_;
  // yhat_/H_ are the linearization at (lin_t_, z_, u_) for lin_rows_ while lin_valid_.
  bool lin_valid_ = false;
  double lin_t_ = 0;
  std::vector<int> lin_rows_;
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
