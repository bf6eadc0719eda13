#include "doppel/engine/fmu_behavior.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "doppel/estimate/model.h"
#include "doppel/fmu/fmu.h"

namespace doppel::engine {

namespace {

using physics::SignalKind;

Status ConfigError(const std::string& key, const std::string& why) {
  return InvalidArgument("config: " + key + ": " + why);
}

std::string Names(const std::vector<physics::Signal>& s) {
  std::string out;
  for (const auto& v : s) out += (out.empty() ? "" : ", ") + v.name;
  return out.empty() ? "none" : out;
}

// Why `name` is not a signal of kind k: unknown (the loader's list) or of another causality.
Status NotA(const fmu::Fmu& f, const physics::System& sys, SignalKind k, const std::string& name,
            const std::string& key, const char* what) {
  auto v = f.Variable(name);
  if (!v.ok()) return ConfigError(key, v.status().message());
  const fmu::ScalarVariable& sv = **v;
  return ConfigError(key, fmt::format("'{}' is a {} {}{} variable, not {} (the FMU's {}s: {})", name,
                                      fmu::VariabilityName(sv.variability), fmu::CausalityName(sv.causality),
                                      sv.type == fmu::VariableType::kReal ? "" : " non-Real", what,
                                      physics::SignalKindName(k), Names(sys.signals(k))));
}

Status CheckTelemetry(const model::Interface& iface, const std::string& name, const std::string& key) {
  if (iface.FindTelemetry(name) != nullptr) return Status::Ok();
  std::string known;
  for (const model::Content* c : iface.Telemetry()) known += (known.empty() ? "" : ", ") + c->name;
  return ConfigError(key, fmt::format("telemetry '{}' is not in {} (its telemetry: {})", name, iface.id,
                                      known.empty() ? "none" : known));
}

}  // namespace

Result<std::unique_ptr<FmuBehavior>> FmuBehavior::Create(const FmuBehaviorConfig& c,
                                                         const model::Interface& iface) {
  const std::string& w = c.where.empty() ? std::string("behavior") : c.where;
  if (iface.id != c.model) return ConfigError(w + ".model", "the interface given is " + iface.id);
  auto loaded = fmu::Fmu::Load(c.fmu);
  if (!loaded.ok())
    return Status(loaded.status().code(), "config: " + w + ".fmu: " + loaded.status().message());
  std::shared_ptr<const fmu::Fmu> f = std::move(loaded).value();
  for (const auto& [var, v] : c.start_values) {
    auto sv = f->Variable(var);
    if (!sv.ok()) return ConfigError(w + ".start_values." + var, sv.status().message());
  }
  fmu::FmuSystemOptions so;
  so.instance_name = c.model;
  so.start_values = c.start_values;
  so.fd_relative_step = c.fd_relative_step;
  auto sys = fmu::FmuSystem::Create(f, so);
  if (!sys.ok()) return Status(sys.status().code(), "config: " + w + ".fmu: " + sys.status().message());

  std::unique_ptr<FmuBehavior> b(new FmuBehavior());
  b->model_id_ = c.model;
  b->path_ = c.fmu;
  b->max_step_s_ = c.max_step_s;
  b->estimator_kind_ = c.estimator;
  b->fmu_ = sys->get();
  b->system_ = std::move(sys).value();
  const physics::System& s = *b->system_;
  const int nx = s.num_states();

  // Measurements: FMU outputs -> telemetry.
  b->filter_.system = b->system_.get();
  b->meas_std_.resize(static_cast<Eigen::Index>(c.outputs.size()));
  for (size_t k = 0; k < c.outputs.size(); ++k) {
    const auto& [var, tel] = c.outputs[k];
    const std::string key = w + ".outputs." + var;
    const int o = s.IndexOf(SignalKind::kOutput, var);
    if (o < 0) return NotA(*f, s, SignalKind::kOutput, var, key, "an output");
    DOPPEL_RETURN_IF_ERROR(CheckTelemetry(iface, tel, key));
    b->filter_.measurements.push_back(var);
    b->measured_out_.push_back(o);
    b->meas_names_.push_back(tel);
    for (const auto& [t, sd] : c.sensor_std)
      if (t == tel) b->meas_std_[static_cast<Eigen::Index>(k)] = sd;
  }
  // Inputs: telemetry channels or constants.
  b->input_defaults_ = s.DefaultValues(SignalKind::kInput);
  for (const auto& in : c.inputs) {
    const std::string key = w + ".inputs." + in.variable;
    const int i = s.IndexOf(SignalKind::kInput, in.variable);
    if (i < 0) return NotA(*f, s, SignalKind::kInput, in.variable, key, "an input");
    if (in.telemetry.empty()) {
      b->input_defaults_[i] = in.constant;
    } else {
      DOPPEL_RETURN_IF_ERROR(CheckTelemetry(iface, in.telemetry, key));
      b->input_channel_names_.push_back(in.telemetry);
      b->input_channel_in_.push_back(i);
    }
  }
  // Augmented state: the FMU's states, then the estimated parameters.
  const int na = static_cast<int>(c.estimate.size());
  if (nx + na > physics::kMaxAutoDiffDerivatives) {
    return ConfigError(w + ".estimate",
                       fmt::format("{} states + {} estimated parameters exceed the limit of {}", nx, na,
                                   physics::kMaxAutoDiffDerivatives));
  }
  const Eigen::VectorXd x0 = s.DefaultValues(SignalKind::kState);
  b->init_std_.resize(nx + na);
  b->process_std_ = Eigen::VectorXd::Zero(nx + na);
  b->lower_ = Eigen::VectorXd::Constant(nx + na, -std::numeric_limits<double>::infinity());
  b->upper_ = Eigen::VectorXd::Constant(nx + na, std::numeric_limits<double>::infinity());
  b->initial_mean_.resize(nx + na);
  b->initial_mean_.head(nx) = x0;
  for (int i = 0; i < nx; ++i) {
    b->init_std_[i] = 0.1 * std::max(1.0, std::abs(x0[i]));
    b->display_.push_back(s.states()[static_cast<size_t>(i)].name);
    b->units_.push_back(s.states()[static_cast<size_t>(i)].unit);
    int ch = -1;
    for (size_t k = 0; k < c.outputs.size(); ++k)
      if (c.outputs[k].first == s.states()[static_cast<size_t>(i)].name) ch = static_cast<int>(k);
    b->state_channel_.push_back(ch);
  }
  for (const auto& st : c.states) {
    const int i = s.IndexOf(SignalKind::kState, st.state);
    if (i < 0)
      return NotA(*f, s, SignalKind::kState, st.state, w + ".states." + st.state, "a continuous state");
    if (std::isfinite(st.initial_std)) b->init_std_[i] = st.initial_std;
    b->process_std_[i] = st.process_std;
    b->lower_[i] = st.min;
    b->upper_[i] = st.max;
  }
  Eigen::VectorXd p = s.DefaultValues(SignalKind::kParameter);
  for (int j = 0; j < na; ++j) {
    const auto& q = c.estimate[static_cast<size_t>(j)];
    const std::string key = fmt::format("{}.estimate[{}].parameter", w, j);
    const int i = s.IndexOf(SignalKind::kParameter, q.parameter);
    if (i < 0) return NotA(*f, s, SignalKind::kParameter, q.parameter, key, "a tunable Real parameter");
    if (std::isfinite(q.initial)) p[i] = q.initial;
    if (p[i] < q.min || p[i] > q.max) {
      return ConfigError(
          fmt::format("{}.estimate[{}]", w, j),
          fmt::format("the initial value {} of '{}' is outside [min, max]", p[i], q.parameter));
    }
    b->filter_.estimated_parameters.push_back(q.parameter);
    b->aug_param_idx_.push_back(i);
    b->display_.push_back(q.parameter);
    b->units_.push_back(s.parameters()[static_cast<size_t>(i)].unit);
    b->initial_mean_[nx + j] = p[i];
    b->init_std_[nx + j] = q.std;
    b->process_std_[nx + j] = q.process_std;
    b->lower_[nx + j] = q.min;
    b->upper_[nx + j] = q.max;
  }
  b->filter_.parameters = p;
  // An estimator from the nominal start, as every twin will make one: catches what the parts do not.
  const Eigen::VectorXd none = Eigen::VectorXd::Constant(b->num_measurements(), physics::kNaN);
  auto trial = b->MakeEstimator(b->InitialOptions(none, std::vector<bool>(none.size(), false), 0.0));
  if (!trial.ok()) return ConfigError(w, "the estimator cannot be built: " + trial.status().message());
  return b;
}

estimate::EstimatorOptions FmuBehavior::InitialOptions(const Eigen::VectorXd& first,
                                                       const std::vector<bool>& present, double t0) const {
  estimate::EstimatorOptions o;
  o.initial_time_s = t0;
  o.initial_mean = initial_mean_;
  for (size_t i = 0; i < state_channel_.size(); ++i) {
    const int k = state_channel_[i];
    if (k >= 0 && static_cast<size_t>(k) < present.size() && present[static_cast<size_t>(k)] &&
        k < first.size() && std::isfinite(first[k])) {
      o.initial_mean[static_cast<Eigen::Index>(i)] = first[k];
    }
  }
  o.initial_mean = o.initial_mean.cwiseMax(lower_).cwiseMin(upper_);
  o.initial_std = init_std_;
  o.process_std = process_std_;
  o.measurement_std = meas_std_;
  o.max_step_s = max_step_s_;
  o.lower_bound = lower_;
  o.upper_bound = upper_;
  return o;
}

Result<std::vector<std::unique_ptr<FmuBehavior>>> BuildFmuBehaviors(
    const std::vector<FmuBehaviorConfig>& configs, const model::ModelRegistry& models) {
  std::vector<std::unique_ptr<FmuBehavior>> out;
  for (const auto& c : configs) {
    const model::Interface* iface = models.Find(c.model);
    if (iface == nullptr) {
      std::string known;
      for (const model::Interface* i : models.List()) known += (known.empty() ? "" : ", ") + i->id;
      return ConfigError(c.where + ".model",
                         "'" + c.model + "' is not a loaded DTDL model (loaded: " + known + ")");
    }
    if (BehaviorModel::Find(c.model) != nullptr) {
      return ConfigError(c.where + ".model", "'" + c.model + "' already has a behavior model");
    }
    auto b = FmuBehavior::Create(c, *iface);
    if (!b.ok()) return b.status();
    out.push_back(std::move(b).value());
  }
  return out;
}

Result<int> RegisterFmuBehaviors(const std::string& yaml_text, const std::string& models_dir) {
  auto configs = ParseBehaviorConfigYaml(yaml_text);
  if (!configs.ok()) return configs.status();
  if (configs->empty()) return 0;
  auto models = model::LoadModelsFromDirectory(models_dir);
  if (!models.ok()) return models.status();
  auto built = BuildFmuBehaviors(*configs, *models);
  if (!built.ok()) return built.status();
  int n = 0;
  for (auto& b : *built) {
    spdlog::info("behavior: {} -> FMU {} ({} states, {} estimated parameters, {})", b->model_id(),
                 b->fmu_path(), b->num_states(), b->estimated_parameter_indices().size(),
                 b->estimator_kind());
    Status s = BehaviorModel::Register(std::move(b));
    if (!s.ok()) return Status(s.code(), "config: behavior: " + s.message());
    ++n;
  }
  return n;
}

}  // namespace doppel::engine
