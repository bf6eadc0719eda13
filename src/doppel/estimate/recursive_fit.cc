#include "doppel/estimate/recursive_fit.h"

#include <fmt/format.h>

#include <Eigen/Cholesky>
#include <cmath>
#include <set>

namespace doppel::estimate {

using physics::SignalKind;

ParameterPrior DefaultParameterPrior(std::string_view name, double nominal) {
  ParameterPrior p;
  if (name.find("wear") != std::string_view::npos) {
    p.std = 0.3;
    p.lower = 0;
    p.upper = 1;
    return p;
  }
  p.std = nominal != 0 ? 0.1 * std::abs(nominal) : 1.0;
  if (nominal > 0) p.lower = 0;
  return p;
}

Status RecursiveFitOptions::Validate() const {
  if (parameters.empty()) return InvalidArgument("parameters: at least one parameter to fit");
  std::set<std::string> seen;
  for (const auto& n : parameters) {
    if (!seen.insert(n).second) return InvalidArgument("parameters: '" + n + "' listed twice");
  }
  if (outputs.empty()) return InvalidArgument("outputs: at least one measured output");
  seen.clear();
  for (const auto& n : outputs) {
    if (!seen.insert(n).second) return InvalidArgument("outputs: '" + n + "' listed twice");
  }
  if (!(forgetting > 0 && forgetting <= 1))
    return InvalidArgument(fmt::format("forgetting: {} is outside (0, 1]", forgetting));
  const auto n = static_cast<Eigen::Index>(parameters.size());
  if (initial_std.size() != n) {
    return InvalidArgument("initial_std: has " + std::to_string(initial_std.size()) +
                           " entries, parameters " + std::to_string(n));
  }
  for (Eigen::Index i = 0; i < n; ++i) {
    if (!(initial_std[i] > 0) || !std::isfinite(initial_std[i]))
      return InvalidArgument("initial_std[" + std::to_string(i) + "]: must be > 0 and finite");
  }
  if (lower_bound.size() != 0 && lower_bound.size() != n)
    return InvalidArgument("lower_bound: size must be 0 or " + std::to_string(n));
  if (upper_bound.size() != 0 && upper_bound.size() != n)
    return InvalidArgument("upper_bound: size must be 0 or " + std::to_string(n));
  if (lower_bound.size() && upper_bound.size()) {
    for (Eigen::Index i = 0; i < n; ++i) {
      if (lower_bound[i] > upper_bound[i])
        return InvalidArgument("lower_bound[" + std::to_string(i) + "]: above upper_bound");
    }
  }
  return Status::Ok();
}

Result<RecursiveFit> RecursiveFit::Create(const physics::System& system, Eigen::VectorXd parameters,
                                          RecursiveFitOptions options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  if (parameters.size() == 0) parameters = system.DefaultValues(SignalKind::kParameter);
  if (parameters.size() != system.num_parameters()) {
    return InvalidArgument("parameters: " + std::to_string(parameters.size()) + " values, system '" +
                           system.name() + "' has " + std::to_string(system.num_parameters()));
  }
  RecursiveFit f;
  f.sys_ = &system;
  for (const auto& n : options.parameters) {
    const int i = system.IndexOf(SignalKind::kParameter, n);
    if (i < 0) return NotFound("parameters: system '" + system.name() + "' has no parameter '" + n + "'");
    f.fit_.push_back(i);
  }
  for (const auto& n : options.outputs) {
    const int i = system.IndexOf(SignalKind::kOutput, n);
    if (i < 0) return NotFound("outputs: system '" + system.name() + "' has no output '" + n + "'");
    f.outs_.push_back(i);
  }
  const auto nt = static_cast<Eigen::Index>(f.fit_.size());
  if (nt > physics::kMaxAutoDiffDerivatives) {
    return InvalidArgument("parameters: at most " + std::to_string(physics::kMaxAutoDiffDerivatives) +
                           " can be fitted at once");
  }
  if (!parameters.allFinite()) return InvalidArgument("parameters: not all finite");
  f.p_ = std::move(parameters);
  f.theta_.resize(nt);
  for (Eigen::Index i = 0; i < nt; ++i) {
    const double v = f.p_[f.fit_[static_cast<size_t>(i)]];
    const std::string& name = options.parameters[static_cast<size_t>(i)];
    if ((options.lower_bound.size() && v < options.lower_bound[i]) ||
        (options.upper_bound.size() && v > options.upper_bound[i]))
      return InvalidArgument(
          fmt::format("parameters: the starting value {} of '{}' is outside its bounds", v, name));
    f.theta_[i] = v;
  }
  f.cap_ = options.initial_std.array().square();
  f.P_ = f.cap_.asDiagonal();
  f.opt_ = std::move(options);
  return f;
}

Eigen::VectorXd RecursiveFit::all_parameters() const { return p_; }

Result<RecursiveFitStep> RecursiveFit::Update(const Eigen::VectorXd& x, const Eigen::VectorXd& u,
                                              const Eigen::VectorXd& y, const std::vector<bool>& present,
                                              const Eigen::VectorXd& sd) {
  const auto no = static_cast<Eigen::Index>(outs_.size());
  if (x.size() != sys_->num_states())
    return InvalidArgument("x: " + std::to_string(x.size()) + " values, the system has " +
                           std::to_string(sys_->num_states()) + " states");
  if (u.size() != sys_->num_inputs())
    return InvalidArgument("u: " + std::to_string(u.size()) + " values, the system has " +
                           std::to_string(sys_->num_inputs()) + " inputs");
  if (y.size() != no || sd.size() != no)
    return InvalidArgument("y, sd: sizes " + std::to_string(y.size()) + ", " + std::to_string(sd.size()) +
                           "; the fit measures " + std::to_string(no) + " outputs");
  if (!present.empty() && static_cast<Eigen::Index>(present.size()) != no)
    return InvalidArgument("present: " + std::to_string(present.size()) + " flags for " + std::to_string(no) +
                           " outputs");
  std::vector<Eigen::Index> rows;
  for (Eigen::Index k = 0; k < no; ++k) {
    if (!present.empty() && !present[static_cast<size_t>(k)]) continue;
    if (!std::isfinite(y[k]))
      return InvalidArgument("y[" + std::to_string(k) + "] (" + opt_.outputs[static_cast<size_t>(k)] +
                             "): not finite");
    if (!(sd[k] > 0) || !std::isfinite(sd[k]))
      return InvalidArgument("sd[" + std::to_string(k) + "] (" + opt_.outputs[static_cast<size_t>(k)] +
                             "): must be > 0 and finite");
    rows.push_back(k);
  }
  RecursiveFitStep step;
  if (rows.empty()) return step;

  // h(x, u, θ) and ∂h/∂θ at the current θ by forward-mode AD (θ seeded, x and u constants).
  const auto nt = theta_.size();
  const auto m = static_cast<Eigen::Index>(rows.size());
  physics::VectorX<physics::AutoDiffXd> xa = physics::ToAutoDiff(x, static_cast<int>(nt), false);
  physics::VectorX<physics::AutoDiffXd> ua = physics::ToAutoDiff(u, static_cast<int>(nt), false);
  physics::VectorX<physics::AutoDiffXd> pa = physics::ToAutoDiff(p_, static_cast<int>(nt), false);
  for (Eigen::Index i = 0; i < nt; ++i) pa[fit_[static_cast<size_t>(i)]].derivatives()[i] = 1.0;
  physics::VectorX<physics::AutoDiffXd> ya =
      physics::ToAutoDiff(Eigen::VectorXd::Zero(sys_->num_outputs()), static_cast<int>(nt), false);
  sys_->CalcOutputs(0.0, xa, ua, pa, ya);
  const Eigen::VectorXd h = physics::ValuesOf(ya);
  const Eigen::MatrixXd J = physics::JacobianOf(ya, static_cast<int>(nt));
  Eigen::VectorXd e(m);
  Eigen::MatrixXd Jt(m, nt);
  for (Eigen::Index r = 0; r < m; ++r) {
    const Eigen::Index k = rows[static_cast<size_t>(r)];
    const int o = outs_[static_cast<size_t>(k)];
    e[r] = (y[k] - h[o]) / sd[k];
    Jt.row(r) = J.row(o) / sd[k];
  }
  if (!e.allFinite() || !Jt.allFinite())
    return FailedPrecondition(
        "recursive fit: the model's output or its derivative is not finite at this sample");
  step.used = static_cast<int>(m);
  step.cost = e.squaredNorm();

  const double lambda = opt_.forgetting;
  const Eigen::MatrixXd PJ = P_ * Jt.transpose();  // nt×m
  Eigen::MatrixXd S = Jt * PJ;
  S.diagonal().array() += lambda;
  Eigen::LLT<Eigen::MatrixXd> llt(S);
  if (llt.info() != Eigen::Success) return FailedPrecondition("recursive fit: S not positive definite");
  const Eigen::MatrixXd K = llt.solve(PJ.transpose()).transpose();  // nt×m
  Eigen::VectorXd theta = theta_ + K * e;
  Eigen::MatrixXd P = (P_ - K * PJ.transpose()) / lambda;
  P = 0.5 * (P + P.transpose());
  // Anti wind-up: no variance above its prior (a congruence with a diagonal keeps P PSD).
  for (Eigen::Index i = 0; i < nt; ++i) {
    if (P(i, i) > cap_[i]) {
      const double s = std::sqrt(cap_[i] / P(i, i));
      P.row(i) *= s;
      P.col(i) *= s;
      step.capped = true;
    }
  }
  if (opt_.lower_bound.size()) theta = theta.cwiseMax(opt_.lower_bound);
  if (opt_.upper_bound.size()) theta = theta.cwiseMin(opt_.upper_bound);
  if (!theta.allFinite() || !P.allFinite()) return FailedPrecondition("recursive fit: step not finite");
  if (Eigen::LLT<Eigen::MatrixXd>(P).info() != Eigen::Success)
    return FailedPrecondition("recursive fit: covariance lost positive definiteness");
  theta_ = theta;
  P_ = P;
  for (Eigen::Index i = 0; i < nt; ++i) p_[fit_[static_cast<size_t>(i)]] = theta_[i];
  ++samples_;
  return step;
}

}  // namespace doppel::estimate
