// Per-twin calibrated parameters (calibration.h).
#include "doppel/engine/calibration.h"

#include <fmt/format.h>

#include <algorithm>

#include "doppel/core/glob.h"
#include "doppel/engine/behavior.h"

namespace doppel::engine {

using physics::SignalKind;

const TwinCalibration* FindCalibration(const std::vector<TwinCalibration>& calibrations,
                                       std::string_view twin) {
  for (const TwinCalibration& c : calibrations) {
    if (GlobMatch(c.twins, twin)) return &c;
  }
  return nullptr;
}

std::vector<std::string> ApplyCalibration(const BehaviorModel& model, const TwinCalibration& calibration,
                                          estimate::FilterModel* filter,
                                          estimate::EstimatorOptions* options) {
  const physics::System& sys = model.system();
  if (filter->parameters.size() != sys.num_parameters())
    filter->parameters = sys.DefaultValues(SignalKind::kParameter);
  const std::vector<int>& estimated = model.estimated_parameter_indices();
  if (options->initial_mean.size() == 0) {  // the documented default, made explicit to override it
    options->initial_mean.resize(sys.num_states() + static_cast<Eigen::Index>(estimated.size()));
    options->initial_mean.head(sys.num_states()) = sys.DefaultValues(SignalKind::kState);
    for (size_t j = 0; j < estimated.size(); ++j) {
      options->initial_mean[sys.num_states() + static_cast<Eigen::Index>(j)] =
          filter->parameters[estimated[j]];
    }
  }
  std::vector<std::string> unknown;
  for (const auto& [name, value] : calibration.parameters) {
    const int i = model.ParameterIndex(name);
    if (i < 0) {
      unknown.push_back(name);
      continue;
    }
    filter->parameters[i] = value;
    const auto it = std::find(estimated.begin(), estimated.end(), i);
    if (it != estimated.end()) options->initial_mean[sys.num_states() + (it - estimated.begin())] = value;
  }
  return unknown;
}

std::vector<std::pair<std::string, double>> FixedParametersOffNominal(const BehaviorModel& model,
                                                                      const Eigen::VectorXd& parameters) {
  const physics::System& sys = model.system();
  const Eigen::VectorXd nominal = sys.DefaultValues(SignalKind::kParameter);
  const std::vector<int>& estimated = model.estimated_parameter_indices();
  std::vector<std::pair<std::string, double>> out;
  for (Eigen::Index i = 0; i < parameters.size() && i < nominal.size(); ++i) {
    if (parameters[i] == nominal[i] || std::find(estimated.begin(), estimated.end(), i) != estimated.end())
      continue;
    out.emplace_back(physics::ShortName(sys.parameters()[static_cast<size_t>(i)].name), parameters[i]);
  }
  return out;
}

std::vector<std::pair<std::string, double>> CalibratedFixedParameters(const BehaviorModel& model,
                                                                      const TwinCalibration& calibration) {
  estimate::FilterModel filter = model.filter_model();
  estimate::EstimatorOptions options;
  (void)ApplyCalibration(model, calibration, &filter, &options);  // unknown names: skipped, as at start
  return FixedParametersOffNominal(model, filter.parameters);
}

Status CheckCalibrations(const std::vector<TwinCalibration>& calibrations,
                         const std::vector<const BehaviorModel*>& bound) {
  for (const TwinCalibration& c : calibrations) {
    for (const auto& [name, value] : c.parameters) {
      const std::string key = fmt::format("config: {}.parameters.{}", c.where, name);
      bool known = false;
      for (const BehaviorModel* b : bound) known |= b->ParameterIndex(name) >= 0;
      if (!known) {
        return InvalidArgument(
            fmt::format("{}: not a parameter of any behavior model ({})", key, DescribeParameters(bound)));
      }
      if (name.find("wear") != std::string::npos && !(value >= 0 && value <= 1))
        return InvalidArgument(fmt::format("{}: a wear must be in [0, 1], got {}", key, value));
    }
  }
  return Status::Ok();
}

}  // namespace doppel::engine
