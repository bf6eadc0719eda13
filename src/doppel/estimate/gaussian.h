// Internal: the mean/covariance state shared by KF, EKF and UKF.
#pragma once

#include "doppel/estimate/estimator.h"

namespace doppel::estimate::internal {

class GaussianEstimator : public Estimator {
 public:
  Eigen::VectorXd mean() const override { return z_; }
  Eigen::MatrixXd covariance() const override { return P_; }
  Status Reset(const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance) override;

 protected:
  GaussianEstimator(AugmentedModel model, EstimatorOptions options);
  // Kalman update with linear(ized) H and diagonal R = diag(r): z += Kν and P in Joseph form,
  // computed as one scalar update per channel (no m×m inverse); fills the report's NIS and ν,
  // sqrt(diag S).
  Status LinearUpdate(const Eigen::MatrixXd& H, const Eigen::VectorXd& nu, const Eigen::VectorXd& r,
                      UpdateReport* report);
  // P symmetric, finite and Cholesky-factorizable.
  static bool IsSpd(const Eigen::MatrixXd& P);
  // P := (P + P')/2.
  static void Symmetrize(Eigen::MatrixXd* P);
  // Fills report fields derived from ν and S and judges the update (Estimator::Judge); returns
  // false if S is not SPD, or the NIS is not finite in an update that is not rejected.
  bool Innovation(const Eigen::VectorXd& nu, const Eigen::MatrixXd& S, UpdateReport* report);
  Eigen::VectorXd z_;
  Eigen::MatrixXd P_;
  // Work space of LinearUpdate (and the filters' predictions), reused across steps.
  Eigen::VectorXd z_work_, a_work_, a0_work_, k_work_;
  Eigen::MatrixXd P_work_, M_work_;
};

}  // namespace doppel::estimate::internal
