// Live online fits bound to twins (online_fit.h).
#include "doppel/engine/online_fit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "doppel/core/glob.h"
#include "doppel/engine/behavior.h"

namespace doppel::engine {

namespace {

using physics::SignalKind;

// Per state of `model`, the measurement channel of the same short name; empty if a state has
// none (*missing names it).
std::vector<int> StateChannels(const BehaviorModel& model, std::string* missing) {
  std::vector<int> out;
  for (const auto& s : model.system().states()) {
    const int k = model.Channel(physics::ShortName(s.name));
    if (k < 0 || k >= model.num_measurements()) {
      *missing = s.name;
      return {};
    }
    out.push_back(k);
  }
  return out;
}

}  // namespace

const TwinOnlineFit* FindOnlineFit(const std::vector<TwinOnlineFit>& fits, std::string_view twin) {
  for (const TwinOnlineFit& f : fits) {
    if (GlobMatch(f.twins, twin)) return &f;
  }
  return nullptr;
}

Status CheckOnlineFits(const std::vector<TwinOnlineFit>& fits,
                       const std::vector<const BehaviorModel*>& bound) {
  std::vector<const BehaviorModel*> fittable;
  for (const BehaviorModel* b : bound) {
    std::string missing;
    (void)StateChannels(*b, &missing);
    if (missing.empty()) fittable.push_back(b);
  }
  for (const TwinOnlineFit& f : fits) {
    // One parameter named twice (short and full form) is refused here, not at the first bind.
    for (const BehaviorModel* b : fittable) {
      std::vector<int> seen;
      for (size_t i = 0; i < f.parameters.size(); ++i) {
        const int j = b->ParameterIndex(f.parameters[i]);
        if (j < 0) continue;
        if (std::find(seen.begin(), seen.end(), j) != seen.end()) {
          return InvalidArgument(
              fmt::format("config: {}.parameters[{}]: '{}' names a parameter listed before", f.where, i,
                          f.parameters[i]));
        }
        seen.push_back(j);
      }
    }
    for (size_t i = 0; i < f.parameters.size(); ++i) {
      bool known = false;
      for (const BehaviorModel* b : fittable) known |= b->ParameterIndex(f.parameters[i]) >= 0;
      if (known) continue;
      return InvalidArgument(fmt::format(
          "config: {}.parameters[{}]: '{}' is not a parameter of a behavior model that can be fitted live "
          "({})",
          f.where, i, f.parameters[i], DescribeParameters(fittable)));
    }
  }
  return Status::Ok();
}

Result<LiveFit> LiveFit::Create(const BehaviorModel& model, const Eigen::VectorXd& parameters,
                                const Eigen::VectorXd& rel_std, const TwinOnlineFit& spec) {
  const physics::System& sys = model.system();
  std::string missing;
  std::vector<int> state_channel = StateChannels(model, &missing);
  if (!missing.empty()) {
    return InvalidArgument(fmt::format(
        "{}: state '{}' of {} is not measured directly (a live fit takes every state as measured)",
        spec.where, missing, model.model_id()));
  }
  estimate::RecursiveFitOptions o;
  o.forgetting = spec.forgetting;
  const auto n = static_cast<Eigen::Index>(spec.parameters.size());
  o.initial_std.resize(n);
  o.lower_bound.resize(n);
  o.upper_bound.resize(n);
  std::vector<std::string> units;
  for (Eigen::Index i = 0; i < n; ++i) {
    const std::string& name = spec.parameters[static_cast<size_t>(i)];
    const int j = model.ParameterIndex(name);
    if (j < 0) {
      return InvalidArgument(fmt::format("{}.parameters[{}]: '{}' is not a parameter of {}", spec.where, i,
                                         name, model.model_id()));
    }
    const auto& p = sys.parameters()[static_cast<size_t>(j)];
    o.parameters.push_back(p.name);
    units.push_back(p.unit);
    const estimate::ParameterPrior prior = estimate::DefaultParameterPrior(p.name, parameters[j]);
    o.initial_std[i] = prior.std;
    o.lower_bound[i] = prior.lower;
    o.upper_bound[i] = prior.upper;
  }
  std::vector<int> residual_channel, residual_output;
  std::vector<double> rel;
  for (int k = 0; k < model.num_measurements(); ++k) {
    if (std::find(state_channel.begin(), state_channel.end(), k) != state_channel.end()) continue;
    residual_channel.push_back(k);
    residual_output.push_back(model.measured_outputs()[static_cast<size_t>(k)]);
    o.outputs.push_back(sys.outputs()[static_cast<size_t>(residual_output.back())].name);
    rel.push_back(k < rel_std.size() ? rel_std[k] : 0.0);
  }
  if (residual_channel.empty())
    return InvalidArgument(fmt::format("{}: {} measures nothing but its states: nothing to fit to",
                                       spec.where, model.model_id()));
  auto rf = estimate::RecursiveFit::Create(sys, parameters, o);
  if (!rf.ok()) return Status(rf.status().code(), spec.where + ": " + rf.status().message());
  LiveFit f(&model, std::move(rf).value());
  f.state_channel_ = std::move(state_channel);
  f.residual_channel_ = std::move(residual_channel);
  f.residual_output_ = std::move(residual_output);
  f.rel_std_ = Eigen::Map<const Eigen::VectorXd>(rel.data(), static_cast<Eigen::Index>(rel.size()));
  for (const auto& name : o.parameters) {
    f.names_.push_back(physics::ShortName(name));
    f.series_names_.push_back("fit." + f.names_.back());
  }
  f.units_ = std::move(units);
  f.x_ = Eigen::VectorXd::Constant(sys.num_states(), std::numeric_limits<double>::quiet_NaN());
  const auto m = static_cast<Eigen::Index>(f.residual_channel_.size());
  f.y_.resize(m);
  f.sd_.resize(m);
  f.present_.assign(static_cast<size_t>(m), false);
  f.predicted_.resize(sys.num_outputs());
  return f;
}

bool LiveFit::Add(TimeNs ts, const estimate::Measurement& group, const Eigen::VectorXd& inputs) {
  auto present = [&](int k) {
    return (group.present.empty() || group.present[static_cast<size_t>(k)]) && std::isfinite(group.values[k]);
  };
  for (size_t i = 0; i < state_channel_.size(); ++i) {
    if (present(state_channel_[i])) x_[static_cast<Eigen::Index>(i)] = group.values[state_channel_[i]];
  }
  if (!x_.allFinite()) return false;
  bool any = false;
  model_->system().CalcOutputs(0.0, x_, inputs, fit_.all_parameters(), predicted_);
  for (size_t j = 0; j < residual_channel_.size(); ++j) {
    const int k = residual_channel_[j];
    const auto e = static_cast<Eigen::Index>(j);
    present_[j] = present(k);
    any |= present_[j];
    y_[e] = present_[j] ? group.values[k] : 0.0;
    const double abs_std =
        group.std.size() > k && group.std[k] > 0 ? group.std[k] : model_->SensorStd(k, y_[e]);
    sd_[e] = abs_std + rel_std_[e] * std::abs(predicted_[residual_output_[j]]);
  }
  if (!any) return false;
  if (!fit_.Update(x_, inputs, y_, present_, sd_).ok()) {
    ++skipped_;
    return false;
  }
  ts_ns_ = ts;
  return true;
}

OnlineFitView LiveFit::View() const {
  OnlineFitView v;
  const Eigen::VectorXd sd = fit_.stddev();
  for (size_t i = 0; i < names_.size(); ++i) {
    const auto e = static_cast<Eigen::Index>(i);
    v.parameters.push_back(EstimatedValue{names_[i], fit_.value()[e], sd[e], units_[i]});
  }
  v.forgetting = fit_.options().forgetting;
  v.samples = fit_.samples();
  v.skipped = skipped_;
  v.ts_ns = ts_ns_;
  return v;
}

}  // namespace doppel::engine
