#include "doppel/engine/behavior.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <Eigen/Cholesky>
#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "doppel/engine/calibration.h"
#include "doppel/estimate/pump_estimator.h"
#include "doppel/model/dtdl.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"

namespace doppel::engine {

namespace {

using physics::SignalKind;
constexpr const char* kPumpModel = "dtmi:doppel:demo:Pump;1";
constexpr const char* kTankModel = "dtmi:doppel:demo:Tank;1";

// The demo pump: pump + motor thermal twin, EKF on [speed, motor temperature, impeller wear,
// bearing wear, flow sensor bias]; sensor noise as the plant's (docs/plant.md).
class PumpBehavior final : public BehaviorModel {
 public:
  PumpBehavior() {
    model_id_ = kPumpModel;
    auto d = physics::MakePumpTwinDiagram();
    if (!d.ok()) {  // a bug in the model library; the binding is then absent
      spdlog::error("behavior: pump twin diagram: {}", d.status().ToString());
      return;
    }
    system_ = std::move(d).value();
    const estimate::PumpEstimatorSpec& spec = estimate::DefaultPumpEstimatorSpec();
    filter_ = spec.Model(system_.get());
    meas_std_ = spec.measurement_std;
    setpoint_in_ = system_->IndexOf(SignalKind::kInput, "speed_setpoint_rpm");
    level_in_ = system_->IndexOf(SignalKind::kInput, "level_m");
    for (const auto& s : system_->states()) {
      display_.push_back(physics::ShortName(s.name));
      units_.push_back(s.unit);
    }
    for (const auto& p : filter_.estimated_parameters) {
      int i = system_->IndexOf(SignalKind::kParameter, p);
      aug_param_idx_.push_back(i);
      display_.push_back(physics::ShortName(p));
      units_.push_back(system_->parameters()[static_cast<size_t>(i)].unit);
    }
    for (const auto& m : filter_.measurements)
      measured_out_.push_back(system_->IndexOf(SignalKind::kOutput, m));
    meas_names_ = filter_.measurements;
    init_std_ = spec.initial_std;
    process_std_ = spec.process_std;
    lower_ = spec.lower_bound;
    upper_ = spec.upper_bound;
  }
  bool ok() const { return system_ != nullptr; }
  bool station_pump() const override { return true; }
  estimate::EstimatorOptions InitialOptions(const Eigen::VectorXd& first, const std::vector<bool>& present,
                                            double t0) const override {
    return estimate::DefaultPumpEstimatorSpec().InitialOptions(filter_, first, present, t0);
  }
};

// Registered models (Register); they live for the process.
struct Registry {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<BehaviorModel>, std::less<>> models;
};
Registry& TheRegistry() {
  static Registry* r = new Registry();  // never destroyed: engines may outlive static destruction order
  return *r;
}

const PumpBehavior* Pump() {
  static const PumpBehavior* pump = new PumpBehavior();  // lives for the process (shared by every engine)
  return pump;
}

}  // namespace

const BehaviorModel* BehaviorModel::Find(std::string_view model_id) {
  if (model_id == kPumpModel) return Pump()->ok() ? Pump() : nullptr;
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.models.find(model_id);
  return it == r.models.end() ? nullptr : it->second.get();
}

Status BehaviorModel::Register(std::unique_ptr<BehaviorModel> model) {
  if (model == nullptr || model->system_ == nullptr) {
    return InvalidArgument("behavior model: no system to register");
  }
  const std::string id = model->model_id_;
  if (id == kPumpModel) return AlreadyExists("behavior model for " + id + ": built in (the demo pump)");
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.models.count(id) > 0) return AlreadyExists("behavior model for " + id + ": already registered");
  r.models.emplace(id, std::move(model));
  return Status::Ok();
}

bool BehaviorModel::IsLevelSource(std::string_view model_id, std::string_view signal) {
  return model_id == kTankModel && signal == "level_m";
}

int BehaviorModel::Channel(std::string_view signal) const {
  for (size_t k = 0; k < meas_names_.size(); ++k) {
    if (meas_names_[k] == signal) return static_cast<int>(k);
  }
  for (size_t k = 0; k < input_channel_names_.size(); ++k) {
    if (input_channel_names_[k] == signal) return num_measurements() + static_cast<int>(k);
  }
  return -1;
}

double BehaviorModel::SensorStd(int k, double) const { return meas_std_[k]; }

Result<std::unique_ptr<estimate::Estimator>> BehaviorModel::MakeEstimator(
    const estimate::EstimatorOptions& o) const {
  return MakeEstimator(filter_, o);
}

Result<std::unique_ptr<estimate::Estimator>> BehaviorModel::MakeEstimator(
    const estimate::FilterModel& filter, const estimate::EstimatorOptions& o) const {
  assert(filter.system == filter_.system);
  if (estimator_kind_ == "ukf") return estimate::MakeUnscentedKalmanFilter(filter, o);
  return estimate::MakeExtendedKalmanFilter(filter, o);
}

Eigen::VectorXd BehaviorModel::Inputs(double level_m, double setpoint_rpm,
                                      const Eigen::VectorXd& channel_inputs) const {
  Eigen::VectorXd u = input_defaults_.size() == system_->num_inputs()
                          ? input_defaults_
                          : system_->DefaultValues(SignalKind::kInput);
  if (setpoint_in_ >= 0) u[setpoint_in_] = setpoint_rpm;
  if (level_in_ >= 0) u[level_in_] = level_m;
  for (size_t j = 0; j < input_channel_in_.size() && static_cast<Eigen::Index>(j) < channel_inputs.size();
       ++j) {
    const double v = channel_inputs[static_cast<Eigen::Index>(j)];
    if (std::isfinite(v)) u[input_channel_in_[j]] = v;
  }
  return u;
}

int BehaviorModel::InputIndex(std::string_view name) const {
  if (setpoint_in_ >= 0 && (name == "speed_rpm" || name == "speed_setpoint" || name == "setpoint_rpm"))
    return setpoint_in_;
  for (size_t j = 0; j < input_channel_names_.size(); ++j) {
    if (input_channel_names_[j] == name) return input_channel_in_[j];
  }
  return system_->IndexOf(SignalKind::kInput, name);
}

int BehaviorModel::ParameterIndex(std::string_view name) const {
  int i = system_->IndexOf(SignalKind::kParameter, name);
  if (i >= 0) return i;
  for (const char* prefix : {"pump.", "motor."}) {
    i = system_->IndexOf(SignalKind::kParameter, std::string(prefix) + std::string(name));
    if (i >= 0) return i;
  }
  return -1;
}

Result<std::vector<const BehaviorModel*>> BoundBehaviorModels(const std::string& models_dir) {
  auto models = model::LoadModelsFromDirectory(models_dir);
  if (!models.ok()) return models.status();
  std::vector<const BehaviorModel*> bound;
  for (const model::Interface* i : models->List()) {
    if (const BehaviorModel* b = BehaviorModel::Find(i->id)) bound.push_back(b);
  }
  return bound;
}

std::string DescribeParameters(const std::vector<const BehaviorModel*>& models) {
  std::string list;
  for (const BehaviorModel* b : models) {
    list += fmt::format("{}{}:", list.empty() ? "" : "; ", b->model_id());
    for (const auto& p : b->system().parameters()) list += " " + p.name;
  }
  return list.empty() ? "no behavior model is bound" : list;
}

TwinEstimate ToTwinEstimate(const EstimateSnapshot& s) {
  TwinEstimate e;
  const BehaviorModel& m = *s.model;
  e.twin = s.twin;
  e.model = m.model_id();
  e.estimator = m.estimator_kind();
  e.ts_ns = s.ts_ns;
  const int nx = m.num_states();
  for (int i = 0; i < static_cast<int>(s.mean.size()); ++i) {
    EstimatedValue v{m.display_names()[static_cast<size_t>(i)], s.mean[i],
                     std::sqrt(std::max(0.0, s.covariance(i, i))), m.units()[static_cast<size_t>(i)]};
    (i < nx ? e.states : e.parameters).push_back(std::move(v));
  }
  for (int i = 0; i < static_cast<int>(s.inputs.size()) && i < m.system().num_inputs(); ++i) {
    e.inputs.emplace_back(m.system().inputs()[static_cast<size_t>(i)].name, s.inputs[i]);
  }
  e.updates = s.stats.updates;
  e.last_nis = s.stats.last_nis;
  e.last_dof = s.stats.last_dof;
  e.mean_nis_per_dof = s.stats.mean_nis_per_dof();
  e.ewma_nis_per_dof = s.stats.ewma_nis_per_dof;
  const auto& names = m.measurement_names();
  for (int k = 0; k < static_cast<int>(s.stats.ewma_channel_nis.size()) && k < static_cast<int>(names.size());
       ++k) {
    e.ewma_channel_nis.emplace_back(names[static_cast<size_t>(k)], s.stats.ewma_channel_nis[k]);
  }
  for (size_t k = 0; k < s.stats.channel_outliers.size() && k < names.size(); ++k) {
    e.outliers.emplace_back(names[k], s.stats.channel_outliers[k]);
  }
  e.predict_only = s.summary.predict_only;
  e.rejected = s.summary.rejected_updates;
  e.divergences = s.summary.divergences;
  e.fit = s.fit;
  // Fixed parameters off their nominal value: the twin's calibration (the context carries the
  // filter model's full parameter vector, estimated ones substituted).
  e.calibrated = FixedParametersOffNominal(m, s.context.parameters);
  return e;
}

// --- What-if --------------------------------------------------------------------------------

Status ValidateWhatIf(const WhatIfRequest& req) {
  if (!std::isfinite(req.horizon_s) || req.horizon_s <= 0 || req.horizon_s > kWhatIfMaxHorizonS) {
    return InvalidArgument(
        fmt::format("$.horizon_s: {} is outside (0, {}] s (7 days)", req.horizon_s, kWhatIfMaxHorizonS));
  }
  if (!std::isfinite(req.step_s) || req.step_s < kWhatIfMinStepS) {
    return InvalidArgument(
        fmt::format("$.step_s: {} is below the minimum {} s", req.step_s, kWhatIfMinStepS));
  }
  if (req.step_s > req.horizon_s) {
    return InvalidArgument(
        fmt::format("$.step_s: {} is longer than horizon_s {}", req.step_s, req.horizon_s));
  }
  if (req.samples < 1 || req.samples > kWhatIfMaxSamples) {
    return InvalidArgument(fmt::format("$.samples: {} is outside 1..{}", req.samples, kWhatIfMaxSamples));
  }
  if (req.scenarios.size() > 16) return InvalidArgument("$.scenarios: at most 16 scenarios");
  if (!(req.budget_s > 0) || req.budget_s > 60) {
    return InvalidArgument(fmt::format("$.budget_s: {} is outside (0, 60] s", req.budget_s));
  }
  const double substeps = std::ceil(req.step_s / 1.0 - 1e-9);
  const double steps = std::ceil(req.horizon_s / req.step_s - 1e-9) * std::max(1.0, substeps);
  const double work = steps * req.samples * static_cast<double>(std::max<size_t>(1, req.scenarios.size()));
  if (work > kWhatIfMaxWork) {
    return InvalidArgument(
        fmt::format("$.samples: samples × scenarios × RK4 steps = {:.3g} exceeds the limit {:.3g}; lower "
                    "samples or horizon_s, "
                    "or raise step_s",
                    work, kWhatIfMaxWork));
  }
  return Status::Ok();
}

namespace {

// Portable seeded normals (splitmix64 + Box–Muller), the same on every platform.
class Normal {
 public:
  explicit Normal(uint64_t seed) : s_(seed) {}
  double operator()() {
    if (has_) {
      has_ = false;
      return spare_;
    }
    double u1 = Uniform(), u2 = Uniform();
    double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2 * M_PI * u2);
    has_ = true;
    return r * std::cos(2 * M_PI * u2);
  }

 private:
  double Uniform() {  // (0, 1]
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (static_cast<double>(z >> 11) + 1.0) * 0x1.0p-53;
  }
  uint64_t s_;
  bool has_ = false;
  double spare_ = 0;
};

struct ResolvedOverrides {
  std::vector<std::pair<int, double>> inputs, params;
};

Status Resolve(const BehaviorModel& m, const WhatIfOverrides& o, const std::string& where,
               ResolvedOverrides* out) {
  for (const auto& [name, v] : o.inputs) {
    int i = m.InputIndex(name);
    if (i < 0) {
      std::string known = m.InputIndex("speed_rpm") >= 0 ? "speed_rpm" : "";
      for (const auto& s : m.system().inputs()) known += (known.empty() ? "" : ", ") + s.name;
      return InvalidArgument(
          fmt::format("{}.inputs.{}: unknown input of {} (known: {})", where, name, m.model_id(), known));
    }
    out->inputs.emplace_back(i, v);
  }
  for (const auto& [name, v] : o.params) {
    int i = m.ParameterIndex(name);
    if (i < 0)
      return InvalidArgument(fmt::format("{}.params.{}: unknown parameter of {}", where, name, m.model_id()));
    if (!std::isfinite(v)) return InvalidArgument(fmt::format("{}.params.{}: must be finite", where, name));
    out->params.emplace_back(i, v);
  }
  return Status::Ok();
}

Status ResolveAll(const BehaviorModel& bm, const WhatIfRequest& req, ResolvedOverrides* base,
                  std::vector<ResolvedOverrides>* scenarios) {
  DOPPEL_RETURN_IF_ERROR(Resolve(bm, req.overrides, "$.overrides", base));
  for (size_t i = 0; i < req.scenarios.size(); ++i) {
    ResolvedOverrides ov = *base;
    DOPPEL_RETURN_IF_ERROR(
        Resolve(bm, req.scenarios[i].overrides, fmt::format("$.scenarios[{}].overrides", i), &ov));
    scenarios->push_back(std::move(ov));
  }
  return Status::Ok();
}

double Percentile(std::vector<double>& v, double p) {
  // Linear interpolation between order statistics; v is sorted by the caller.
  const double pos = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double f = pos - static_cast<double>(lo);
  return v[lo] + (v[hi] - v[lo]) * f;
}

}  // namespace

Status ValidateWhatIfFor(const BehaviorModel& model, const WhatIfRequest& req) {
  DOPPEL_RETURN_IF_ERROR(ValidateWhatIf(req));
  ResolvedOverrides base;
  std::vector<ResolvedOverrides> scenarios;
  return ResolveAll(model, req, &base, &scenarios);
}

Result<WhatIfResult> RunWhatIf(const EstimateSnapshot& snap, const WhatIfRequest& req,
                               WhatIfControl* control) {
  DOPPEL_RETURN_IF_ERROR(ValidateWhatIf(req));
  const auto wall0 = std::chrono::steady_clock::now();
  const auto deadline = wall0 + std::chrono::duration<double>(req.budget_s);
  const BehaviorModel& bm = *snap.model;
  const physics::System& sys = bm.system();

  struct Sc {
    std::string name;
    ResolvedOverrides ov;
    std::string where;  // the request's field holding the scenario's own overrides
  };
  std::vector<Sc> scs;
  ResolvedOverrides base;
  std::vector<ResolvedOverrides> resolved;
  DOPPEL_RETURN_IF_ERROR(ResolveAll(bm, req, &base, &resolved));
  if (req.scenarios.empty()) {
    scs.push_back({"base", base, "$.overrides"});
  } else {
    for (size_t i = 0; i < req.scenarios.size(); ++i) {
      scs.push_back(
          {req.scenarios[i].name.empty() ? fmt::format("scenario-{}", i + 1) : req.scenarios[i].name,
           std::move(resolved[i]), fmt::format("$.scenarios[{}].overrides", i)});
    }
  }

  // Draws from N(mean, P): the same draws for every scenario (common random numbers), so
  // scenario differences are the overrides', not the sampling's.
  const int n = static_cast<int>(snap.mean.size());
  const int nx = bm.num_states();
  Eigen::MatrixXd L;
  Eigen::LLT<Eigen::MatrixXd> llt(snap.covariance);
  if (llt.info() == Eigen::Success) {
    L = llt.matrixL();
  } else {
    L = snap.covariance.diagonal().cwiseMax(0).cwiseSqrt().asDiagonal();
  }
  Normal normal(req.seed);
  std::vector<Eigen::VectorXd> draws(static_cast<size_t>(req.samples));
  for (auto& z : draws) {
    Eigen::VectorXd e(n);
    for (int i = 0; i < n; ++i) e[i] = normal();
    z = snap.mean + L * e;
    z = z.cwiseMax(bm.lower_bound()).cwiseMin(bm.upper_bound());
  }

  // Time grid: every step_s (thinned to at most kWhatIfMaxPoints points), RK4 substeps ≤ 1 s.
  const int64_t nsteps = static_cast<int64_t>(std::ceil(req.horizon_s / req.step_s - 1e-9));
  const int64_t thin = std::max<int64_t>(1, (nsteps + kWhatIfMaxPoints - 1) / kWhatIfMaxPoints);
  auto integ =
      physics::MakeRk4Integrator({.step_s = req.step_s / std::max(1.0, std::ceil(req.step_s - 1e-9))});
  if (!integ.ok()) return integ.status();

  WhatIfResult out;
  out.named_scenarios = !req.scenarios.empty();
  out.twin = snap.twin;
  out.from_ts_ns = snap.ts_ns;
  out.samples = req.samples;
  out.t.push_back(0.0);
  for (int64_t k = 1; k <= nsteps; ++k) {
    if (k % thin == 0 || k == nsteps)
      out.t.push_back(std::min(req.horizon_s, static_cast<double>(k) * req.step_s));
  }
  const auto& outs = bm.measured_outputs();
  const auto& out_names = bm.measurement_names();
  std::vector<double> col(static_cast<size_t>(req.samples));
  Eigen::VectorXd y(sys.num_outputs());
  std::vector<Eigen::VectorXd> ys(static_cast<size_t>(req.samples));

  const double total_steps =
      static_cast<double>(std::max<int64_t>(1, nsteps)) * static_cast<double>(scs.size());
  double steps_before = 0;  // of the scenarios already run
  for (const Sc& sc : scs) {
    std::vector<physics::Context> ctx(static_cast<size_t>(req.samples), snap.context);
    for (size_t s = 0; s < ctx.size(); ++s) {
      physics::Context& c = ctx[s];
      c.time = 0;
      c.state = draws[s].head(nx);
      const auto& aug = bm.estimated_parameter_indices();
      for (size_t i = 0; i < aug.size(); ++i) c.parameters[aug[i]] = draws[s][nx + static_cast<int>(i)];
      for (const auto& [i, v] : sc.ov.inputs) c.inputs[i] = v;
      for (const auto& [i, v] : sc.ov.params) c.parameters[i] = v;
    }
    WhatIfResult::Scenario res;
    res.name = sc.name;
    for (const auto& nm : out_names) res.outputs.emplace_back(nm, WhatIfBands{});
    // Bands at the current time; a non-finite output (an override outside the model's domain,
    // e.g. a rated speed of 0) is a bad request, not a band (and NaN would break the sort).
    auto record = [&]() -> Status {
      for (size_t s = 0; s < ctx.size(); ++s) {
        sys.CalcOutputs(ctx[s].time, ctx[s].state, ctx[s].inputs, ctx[s].parameters, y);
        ys[s] = y;
      }
      for (size_t o = 0; o < outs.size(); ++o) {
        for (size_t s = 0; s < ctx.size(); ++s) {
          col[s] = ys[s][outs[o]];
          if (!std::isfinite(col[s])) {
            return InvalidArgument(fmt::format(
                "{}: output '{}' of scenario '{}' is not finite at t={} s: the overrides leave the model "
                "outside its domain",
                sc.ov.params.empty() && sc.ov.inputs.empty()
                    ? std::string("$: with the estimate as it is (no overrides)")
                    : sc.where + (sc.ov.params.empty() ? ".inputs" : ".params") +
                          (req.scenarios.empty() ? "" : " (with $.overrides)"),
                out_names[o], sc.name, ctx[s].time));
          }
        }
        std::sort(col.begin(), col.end());
        WhatIfBands& b = res.outputs[o].second;
        b.p5.push_back(Percentile(col, 0.05));
        b.p50.push_back(Percentile(col, 0.50));
        b.p95.push_back(Percentile(col, 0.95));
      }
      return Status::Ok();
    };
    DOPPEL_RETURN_IF_ERROR(record());
    // Cancel (what-if jobs) and the budget are checked every 8 samples of every grid step: one
    // grid step may hold many RK4 substeps per sample. The progress is published with them.
    auto interrupted = [&](int64_t k, size_t s, double t) -> Status {
      if (control != nullptr) {
        const double done = steps_before + static_cast<double>(k - 1) +
                            static_cast<double>(s) / static_cast<double>(ctx.size());
        control->progress.store(done / total_steps, std::memory_order_relaxed);
        if (control->cancel.load(std::memory_order_relaxed)) {
          return Status(
              StatusCode::kCancelled,
              fmt::format("what-if cancelled at t={} of {} s (scenario '{}')", t, req.horizon_s, sc.name));
        }
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Status(
            StatusCode::kDeadlineExceeded,
            fmt::format("what-if exceeded its time budget of {} s at t={} of {} s (scenario '{}'); lower "
                        "samples or horizon_s, or raise step_s",
                        req.budget_s, t, req.horizon_s, sc.name));
      }
      return Status::Ok();
    };
    for (int64_t k = 1; k <= nsteps; ++k) {
      const double t = std::min(req.horizon_s, static_cast<double>(k) * req.step_s);
      for (size_t s = 0; s < ctx.size(); ++s) {
        if ((s & 7) == 0) DOPPEL_RETURN_IF_ERROR(interrupted(k, s, t));
        Status st = (*integ)->Advance(sys, &ctx[s], t);
        if (!st.ok())
          return FailedPrecondition(
              fmt::format("what-if: simulation failed at t={} s: {}", t, st.ToString()));
      }
      if (k % thin == 0 || k == nsteps) DOPPEL_RETURN_IF_ERROR(record());
    }
    out.scenarios.push_back(std::move(res));
    steps_before += static_cast<double>(nsteps);
  }
  if (control != nullptr) control->progress.store(1.0, std::memory_order_relaxed);
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return out;
}

}  // namespace doppel::engine
