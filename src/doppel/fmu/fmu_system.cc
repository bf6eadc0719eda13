#include "doppel/fmu/fmu_system.h"

#include <cmath>

namespace doppel::fmu {

using physics::AutoDiff8;
using physics::AutoDiffXd;
using physics::InVec;
using physics::OutVec;

Status FmuSystemOptions::Validate() const {
  if (instance_name.empty()) return InvalidArgument("instance_name: must not be empty");
  if (!(fd_relative_step > 0) || !std::isfinite(fd_relative_step))
    return InvalidArgument("fd_relative_step: must be finite and > 0");
  for (const auto& [name, v] : start_values)
    if (!std::isfinite(v)) return InvalidArgument("start_values['" + name + "']: must be finite");
  return Status::Ok();
}

FmuSystem::FmuSystem(std::string name, std::unique_ptr<FmuInstance> instance, FmuSystemOptions options)
    : System(std::move(name)), instance_(std::move(instance)), options_(std::move(options)) {}

Result<std::unique_ptr<FmuSystem>> FmuSystem::Create(std::shared_ptr<const Fmu> fmu,
                                                     const FmuSystemOptions& options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  const ModelDescription& md = fmu->description();
  if (!fmu->Supports(FmuKind::kModelExchange))
    return InvalidArgument(fmu->path() + ": the FMU does not provide model exchange (FmuSystem needs it)");
  if (md.me_needs_completed_integrator_step) {
    return FailedPrecondition(fmu->path() +
                              ": the FMU needs fmi3CompletedIntegratorStep after every integrator step "
                              "(needsCompletedIntegratorStep), which FmuSystem does not call");
  }
  if (md.number_of_event_indicators > 0) {
    return FailedPrecondition(fmu->path() + ": the FMU has " + std::to_string(md.number_of_event_indicators) +
                              " event indicators; FmuSystem integrates event-free model-exchange FMUs only "
                              "(use its co-simulation interface)");
  }
  for (const auto& [var, sig] : options.rename) {
    auto v = fmu->Variable(var);
    if (!v.ok()) return InvalidArgument("rename: " + v.status().message());
    if (sig.empty()) return InvalidArgument("rename['" + var + "']: the signal name must not be empty");
  }
  std::vector<const ScalarVariable*> start_vars;
  for (const auto& [var, value] : options.start_values) {
    auto v = fmu->Variable(var);
    if (!v.ok()) return InvalidArgument("start_values: " + v.status().message());
    start_vars.push_back(*v);
  }

  auto inst = FmuInstance::Create(fmu, FmuKind::kModelExchange, options.instance_name);
  if (!inst.ok()) return inst.status();
  DOPPEL_RETURN_IF_ERROR((*inst)->SetupExperiment(0.0));
  for (size_t i = 0; i < start_vars.size(); ++i)
    DOPPEL_RETURN_IF_ERROR((*inst)->Set(*start_vars[i], options.start_values[i].second));
  DOPPEL_RETURN_IF_ERROR((*inst)->EnterInitializationMode());
  DOPPEL_RETURN_IF_ERROR((*inst)->ExitInitializationMode());
  fmi2EventInfo info{};
  DOPPEL_RETURN_IF_ERROR((*inst)->UpdateDiscreteStates(&info));
  DOPPEL_RETURN_IF_ERROR((*inst)->EnterContinuousTimeMode());
  Eigen::VectorXd x0(static_cast<Eigen::Index>(md.derivatives.size()));
  DOPPEL_RETURN_IF_ERROR(
      (*inst)->GetContinuousStates(std::span<double>(x0.data(), static_cast<size_t>(x0.size()))));

  std::unique_ptr<FmuSystem> sys(new FmuSystem(md.model_name, std::move(inst).value(), options));
  auto signal = [&](const ScalarVariable& v) {
    auto it = options.rename.find(v.name);
    return it == options.rename.end() ? v.name : it->second;
  };
  for (size_t i = 0; i < md.derivatives.size(); ++i) {
    const ScalarVariable& s = md.variables[static_cast<size_t>(md.StateOf(static_cast<int>(i)))];
    sys->DeclareState(signal(s), s.unit, x0[static_cast<Eigen::Index>(i)], s.description);
  }
  std::vector<fmi2ValueReference> param_vr;
  Eigen::VectorXd params;
  std::vector<double> pvals;
  for (const auto& v : md.variables) {
    if (v.type != VariableType::kReal) continue;
    if (v.causality == Causality::kInput) {
      sys->DeclareInput(signal(v), v.unit, v.start.value_or(0.0), v.description);
      sys->input_vr_.push_back(v.value_reference);
    } else if (v.causality == Causality::kParameter && v.variability == Variability::kTunable) {
      auto cur = sys->instance_->Get(v);  // after initialization, including start_values
      if (!cur.ok()) return cur.status();
      sys->DeclareParameter(signal(v), v.unit, *cur, v.description);
      sys->param_vr_.push_back(v.value_reference);
      pvals.push_back(*cur);
    } else if (v.causality == Causality::kOutput) {
      sys->DeclareOutput(signal(v), v.unit, v.description);
      sys->output_vr_.push_back(v.value_reference);
    }
  }
  sys->applied_params_ = Eigen::Map<Eigen::VectorXd>(pvals.data(), static_cast<Eigen::Index>(pvals.size()));
  return sys;
}

Status FmuSystem::last_error() const {
  std::lock_guard lk(mu_);
  return last_error_;
}

int64_t FmuSystem::evaluations() const {
  std::lock_guard lk(mu_);
  return evaluations_;
}

Eigen::VectorXd FmuSystem::EvalLocked(What what, double t, const Eigen::VectorXd& z) const {
  const Eigen::Index nx = num_states(), nu = num_inputs(), np = num_parameters();
  const Eigen::Index n_out = what == What::kDerivatives ? nx : num_outputs();
  Eigen::VectorXd out = Eigen::VectorXd::Constant(n_out, physics::kNaN);
  ++evaluations_;
  auto fail = [&](const Status& s) {
    last_error_ = s;
    return out;
  };
  const Eigen::VectorXd p = z.segment(nx + nu, np);
  if (np > 0 && p != applied_params_) {
    // Tunable parameters change in event mode (FMI 2.0, 3.2.3).
    fmi2EventInfo info{};
    Status s = instance_->EnterEventMode();
    if (s.ok()) s = instance_->SetReal(param_vr_, std::span<const double>(p.data(), static_cast<size_t>(np)));
    if (s.ok()) s = instance_->UpdateDiscreteStates(&info);
    if (s.ok()) s = instance_->EnterContinuousTimeMode();
    if (!s.ok()) return fail(s);
    applied_params_ = p;
  }
  Status s = instance_->SetTime(t);
  if (s.ok() && nu > 0)
    s = instance_->SetReal(input_vr_, std::span<const double>(z.data() + nx, static_cast<size_t>(nu)));
  if (s.ok() && nx > 0)
    s = instance_->SetContinuousStates(std::span<const double>(z.data(), static_cast<size_t>(nx)));
  if (s.ok()) {
    if (what == What::kDerivatives) {
      s = instance_->GetDerivatives(std::span<double>(out.data(), static_cast<size_t>(nx)));
    } else {
      s = instance_->GetReal(output_vr_, std::span<double>(out.data(), static_cast<size_t>(n_out)));
    }
  }
  if (!s.ok()) return fail(s);
  return out;
}

void FmuSystem::EvalDouble(What what, double t, InVec<double> x, InVec<double> u, InVec<double> p,
                           OutVec<double> out) const {
  Eigen::VectorXd z(x.size() + u.size() + p.size());
  z << x, u, p;
  std::lock_guard lk(mu_);
  out = EvalLocked(what, t, z);
}

template <typename AD>
void FmuSystem::EvalAutoDiff(What what, double t, InVec<AD> x, InVec<AD> u, InVec<AD> p,
                             OutVec<AD> out) const {
  const Eigen::Index nz = x.size() + u.size() + p.size();
  Eigen::VectorXd z(nz);
  Eigen::Index nd = 0;
  auto entry = [&](Eigen::Index i) -> AD {
    if (i < x.size()) return x[i];
    if (i < x.size() + u.size()) return u[i - x.size()];
    return p[i - x.size() - u.size()];
  };
  for (Eigen::Index i = 0; i < nz; ++i) {
    z[i] = entry(i).value();
    nd = std::max(nd, entry(i).derivatives().size());
  }
  // D: row i = d z_i / d (derivative directions); constants give zero rows.
  Eigen::MatrixXd d = Eigen::MatrixXd::Zero(nz, nd);
  for (Eigen::Index i = 0; i < nz; ++i) {
    const Eigen::VectorXd di = entry(i).derivatives();
    if (di.size() > 0) d.row(i).head(di.size()) = di.transpose();
  }
  std::lock_guard lk(mu_);
  const Eigen::VectorXd f0 = EvalLocked(what, t, z);
  Eigen::MatrixXd jac = Eigen::MatrixXd::Zero(f0.size(), nz);
  for (Eigen::Index j = 0; j < nz; ++j) {
    if (nd == 0 || d.row(j).isZero(0)) continue;  // no derivative flows through z_j
    const double h = options_.fd_relative_step * std::max(1.0, std::fabs(z[j]));
    Eigen::VectorXd zp = z, zm = z;
    zp[j] += h;
    zm[j] -= h;
    jac.col(j) = (EvalLocked(what, t, zp) - EvalLocked(what, t, zm)) / (2 * h);
  }
  const Eigen::MatrixXd dout = jac * d;
  for (Eigen::Index i = 0; i < f0.size(); ++i) {
    out[i].value() = f0[i];
    out[i].derivatives() = dout.row(i).transpose();
  }
}

void FmuSystem::CalcDerivatives(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                                OutVec<double> xdot) const {
  EvalDouble(What::kDerivatives, t, x, u, p, xdot);
}
void FmuSystem::CalcDerivatives(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                                OutVec<AutoDiffXd> xdot) const {
  EvalAutoDiff<AutoDiffXd>(What::kDerivatives, t, x, u, p, xdot);
}
void FmuSystem::CalcDerivatives(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                                OutVec<AutoDiff8> xdot) const {
  EvalAutoDiff<AutoDiff8>(What::kDerivatives, t, x, u, p, xdot);
}
void FmuSystem::CalcOutputs(double t, InVec<double> x, InVec<double> u, InVec<double> p,
                            OutVec<double> y) const {
  EvalDouble(What::kOutputs, t, x, u, p, y);
}
void FmuSystem::CalcOutputs(double t, InVec<AutoDiffXd> x, InVec<AutoDiffXd> u, InVec<AutoDiffXd> p,
                            OutVec<AutoDiffXd> y) const {
  EvalAutoDiff<AutoDiffXd>(What::kOutputs, t, x, u, p, y);
}
void FmuSystem::CalcOutputs(double t, InVec<AutoDiff8> x, InVec<AutoDiff8> u, InVec<AutoDiff8> p,
                            OutVec<AutoDiff8> y) const {
  EvalAutoDiff<AutoDiff8>(What::kOutputs, t, x, u, p, y);
}

}  // namespace doppel::fmu
