#include "doppel/fmu/co_simulation.h"

#include <cmath>

namespace doppel::fmu {

Status CoSimulationOptions::Validate() const {
  if (instance_name.empty()) return InvalidArgument("instance_name: must not be empty");
  if (!std::isfinite(start_s)) return InvalidArgument("start_s: must be finite");
  if (!(tolerance >= 0)) return InvalidArgument("tolerance: must be >= 0");
  for (const auto& [name, v] : start_values)
    if (!std::isfinite(v)) return InvalidArgument("start_values['" + name + "']: must be finite");
  return Status::Ok();
}

Result<std::unique_ptr<CoSimulation>> CoSimulation::Create(std::shared_ptr<const Fmu> fmu,
                                                           const CoSimulationOptions& options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  std::vector<const ScalarVariable*> vars;
  for (const auto& [name, v] : options.start_values) {
    auto var = fmu->Variable(name);
    if (!var.ok()) return var.status();
    if ((*var)->causality == Causality::kCalculatedParameter ||
        (*var)->causality == Causality::kIndependent ||
        (*var)->causality == Causality::kStructuralParameter ||
        (*var)->variability == Variability::kConstant) {
      return InvalidArgument(fmu->path() + ": variable '" + name + "' (" + CausalityName((*var)->causality) +
                             ", " + VariabilityName((*var)->variability) + ") cannot be set");
    }
    vars.push_back(*var);
  }
  auto inst = FmuInstance::Create(fmu, FmuKind::kCoSimulation, options.instance_name);
  if (!inst.ok()) return inst.status();
  std::unique_ptr<CoSimulation> sim(new CoSimulation());
  sim->instance_ = std::move(inst).value();
  sim->t_ = options.start_s;
  DOPPEL_RETURN_IF_ERROR(sim->instance_->SetupExperiment(options.start_s, options.tolerance));
  for (size_t i = 0; i < vars.size(); ++i)
    DOPPEL_RETURN_IF_ERROR(sim->instance_->Set(*vars[i], options.start_values[i].second));
  DOPPEL_RETURN_IF_ERROR(sim->instance_->EnterInitializationMode());
  DOPPEL_RETURN_IF_ERROR(sim->instance_->ExitInitializationMode());
  return sim;
}

Status CoSimulation::Step(double h_s) {
  if (!(h_s > 0) || !std::isfinite(h_s)) return InvalidArgument("step must be finite and > 0");
  DOPPEL_RETURN_IF_ERROR(instance_->DoStep(t_, h_s));
  t_ += h_s;
  ++steps_;
  return Status::Ok();
}

Status CoSimulation::AdvanceTo(double t_s, double max_step_s) {
  if (!(max_step_s > 0)) return InvalidArgument("max_step_s must be > 0");
  if (!(t_s >= t_)) return InvalidArgument("AdvanceTo: target time is before the current time");
  const double span = t_s - t_;
  const auto n = static_cast<int64_t>(std::ceil(span / max_step_s - 1e-9));
  if (n <= 0) return Status::Ok();
  const double t0 = t_;
  if (!fmu().description().cs_can_handle_variable_step) {
    if (std::fabs(static_cast<double>(n) * max_step_s - span) > 1e-9 * std::max(1.0, span))
      return InvalidArgument(fmu().path() + ": the FMU needs fixed communication steps and " +
                             std::to_string(span) + " s is not a multiple of " + std::to_string(max_step_s));
  }
  for (int64_t k = 1; k <= n; ++k) {
    // Step boundaries from t0 (not accumulated) so rounding does not drift.
    const double next = k == n ? t_s : t0 + static_cast<double>(k) * max_step_s;
    DOPPEL_RETURN_IF_ERROR(instance_->DoStep(t_, next - t_));
    t_ = next;
    ++steps_;
  }
  return Status::Ok();
}

Result<double> CoSimulation::Get(std::string_view name) {
  auto v = fmu().Variable(name);
  if (!v.ok()) return v.status();
  return instance_->Get(**v);
}

Status CoSimulation::Set(std::string_view name, double value) {
  auto v = fmu().Variable(name);
  if (!v.ok()) return v.status();
  if ((*v)->causality != Causality::kInput &&
      !((*v)->causality == Causality::kParameter && (*v)->variability == Variability::kTunable)) {
    return InvalidArgument(fmu().path() + ": variable '" + std::string(name) +
                           "' is not an input or a tunable parameter");
  }
  return instance_->Set(**v, value);
}

}  // namespace doppel::fmu
