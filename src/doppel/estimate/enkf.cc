// Stochastic ensemble Kalman filter with perturbed observations.
#include <Eigen/Cholesky>
#include <Eigen/QR>
#include <cmath>
#include <random>

#include "doppel/estimate/estimator.h"

namespace doppel::estimate {

Status EnkfOptions::Validate() const {
  if (members < 2) return InvalidArgument("enkf: members must be >= 2");
  return Status::Ok();
}

namespace {

// Portable normal variates (53-bit uniform + Box–Muller): the same stream on every platform.
class Normal {
 public:
  explicit Normal(uint64_t seed) : rng_(seed) {}
  double operator()() {
    if (has_) {
      has_ = false;
      return spare_;
    }
    double u1 = static_cast<double>(rng_() >> 11) * 0x1.0p-53,
           u2 = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2.0 * M_PI * u2);
    has_ = true;
    return r * std::cos(2.0 * M_PI * u2);
  }

 private:
  std::mt19937_64 rng_;
  bool has_ = false;
  double spare_ = 0;
};

class EnsembleKalmanFilter final : public Estimator {
 public:
  EnsembleKalmanFilter(AugmentedModel m, EstimatorOptions o, EnkfOptions e)
      : Estimator(std::move(m), std::move(o)), e_(e), normal_(e.seed) {
    Eigen::MatrixXd P = opt_.initial_std.array().square().matrix().asDiagonal();
    Sample(opt_.initial_mean, P);
  }
  const char* kind() const override { return "enkf"; }

  Eigen::VectorXd mean() const override { return E_.rowwise().mean(); }
  Eigen::MatrixXd covariance() const override {
    Eigen::MatrixXd D = E_.colwise() - mean();
    return D * D.transpose() / static_cast<double>(E_.cols() - 1);
  }
  Status Reset(const Eigen::VectorXd& mean, const Eigen::MatrixXd& covariance) override {
    if (mean.size() != size() || covariance.rows() != size() || covariance.cols() != size()) {
      return InvalidArgument("enkf: Reset with wrong sizes");
    }
    if (!Sample(mean, covariance)) return InvalidArgument("enkf: Reset needs an SPD covariance");
    return Status::Ok();
  }
  Status ResetEntry(int index, double mean, double variance) override {
    DOPPEL_RETURN_IF_ERROR(CheckResetEntry(index, mean, variance));
    const Eigen::Index N = E_.cols(), n = size(), i = index;
    Eigen::VectorXd d = Draw(N);
    d.array() -= d.mean();
    // Remove the components along the other entries' deviations (their columns are centred, so
    // d stays centred): the sample cross-covariances become exactly 0.
    Eigen::MatrixXd others(N, n - 1);
    const Eigen::VectorXd xm = E_.rowwise().mean();
    for (Eigen::Index k = 0, c = 0; k < n; ++k) {
      if (k != i) others.col(c++) = (E_.row(k).transpose().array() - xm[k]).matrix();
    }
    if (n > 1) {
      const Eigen::VectorXd projected = d - others * others.colPivHouseholderQr().solve(d);
      if (projected.norm() > 1e-6 * d.norm()) d = projected;  // members <= n: keep the plain draw
    }
    const double ss = d.squaredNorm();
    if (!(ss > 0)) return FailedPrecondition("enkf: ResetEntry drew a degenerate ensemble");
    d *= std::sqrt(variance * static_cast<double>(N - 1) / ss);
    double m = mean;
    if (opt_.lower_bound.size()) m = std::max(m, opt_.lower_bound[i]);
    if (opt_.upper_bound.size()) m = std::min(m, opt_.upper_bound[i]);
    E_.row(i) = (d.array() + m).matrix().transpose();
    return Status::Ok();
  }

 protected:
  bool Sample(const Eigen::VectorXd& mean, const Eigen::MatrixXd& P) {
    Eigen::LLT<Eigen::MatrixXd> llt(P);
    if (llt.info() != Eigen::Success) return false;
    const Eigen::MatrixXd L = llt.matrixL();
    E_.resize(size(), e_.members);
    for (int j = 0; j < e_.members; ++j) E_.col(j) = mean + L * Draw(size());
    return true;
  }
  Eigen::VectorXd Draw(Eigen::Index n) {
    Eigen::VectorXd v(n);
    for (Eigen::Index i = 0; i < n; ++i) v[i] = normal_();
    return v;
  }

  Status DoPredict(double t0, double t1) override {
    const Eigen::VectorXd q = ProcessVariance(t1 - t0).cwiseSqrt();
    Eigen::MatrixXd E = E_;
    for (Eigen::Index j = 0; j < E.cols(); ++j) {
      E.col(j) = model_.Propagate<double>(t0, t1, E.col(j), u_, opt_.max_step_s);
      E.col(j) += q.cwiseProduct(Draw(size()));
    }
    if (!E.allFinite()) return FailedPrecondition("enkf: ensemble became non-finite in prediction");
    E_ = E;
    return Status::Ok();
  }

  Status DoUpdate(const std::vector<int>& rows, const Eigen::VectorXd& y, const Eigen::VectorXd& r,
                  UpdateReport* rep) override {
    const Eigen::Index N = E_.cols(), m = y.size();
    Eigen::MatrixXd Y(m, N);
    for (Eigen::Index j = 0; j < N; ++j) Y.col(j) = model_.Observe<double>(t_, E_.col(j), u_, rows);
    const Eigen::VectorXd xm = E_.rowwise().mean(), ym = Y.rowwise().mean();
    const Eigen::MatrixXd DX = E_.colwise() - xm, DY = Y.colwise() - ym;
    const double s = 1.0 / static_cast<double>(N - 1);
    Eigen::MatrixXd S = s * DY * DY.transpose();
    S.diagonal() += r;
    S = 0.5 * (S + S.transpose());
    const Eigen::MatrixXd Pxy = s * DX * DY.transpose();
    Eigen::LLT<Eigen::MatrixXd> llt(S);
    if (llt.info() != Eigen::Success || !S.allFinite()) {
      return FailedPrecondition("enkf: innovation covariance not positive definite");
    }
    const Eigen::VectorXd nu = y - ym;
    rep->dof = static_cast<int>(m);
    rep->innovation = nu;
    rep->innovation_std = S.diagonal().cwiseSqrt();
    rep->nis = nu.dot(llt.solve(nu));
    rep->rejected = Judge(rep);
    if (rep->rejected) return Status::Ok();
    const Eigen::MatrixXd K = llt.solve(Pxy.transpose()).transpose();
    const Eigen::VectorXd rs = r.cwiseSqrt();
    Eigen::MatrixXd E = E_;
    for (Eigen::Index j = 0; j < N; ++j) {
      Eigen::VectorXd yp = y + rs.cwiseProduct(Draw(m));  // perturbed observation
      E.col(j) += K * (yp - Y.col(j));
      ApplyBounds(E.col(j));
    }
    if (!E.allFinite()) return FailedPrecondition("enkf: ensemble became non-finite in update");
    E_ = E;
    return Status::Ok();
  }

 private:
  EnkfOptions e_;
  Normal normal_;
  Eigen::MatrixXd E_;  // n × members
};

}  // namespace

Result<std::unique_ptr<Estimator>> MakeEnsembleKalmanFilter(const FilterModel& model,
                                                            const EstimatorOptions& options,
                                                            const EnkfOptions& enkf) {
  auto m = AugmentedModel::Create(model);
  if (!m.ok()) return m.status();
  DOPPEL_RETURN_IF_ERROR(options.Validate(m->size(), m->num_measurements()));
  DOPPEL_RETURN_IF_ERROR(enkf.Validate());
  return std::unique_ptr<Estimator>(new EnsembleKalmanFilter(std::move(*m), options, enkf));
}

}  // namespace doppel::estimate
