#include "doppel/estimate/pump_estimator.h"

#include <cmath>
#include <limits>

namespace doppel::estimate {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

PumpEstimatorSpec MakeDefault() {
  PumpEstimatorSpec s;
  s.estimated_parameters = {"pump.impeller_wear", "pump.bearing_wear", "pump.flow_bias_m3h"};
  s.measurements = {"flow_m3h", "discharge_pressure_bar", "speed_rpm",
                    "power_kw", "motor_temp_c",           "vibration_mm_s"};
  s.measurement_std.resize(6);
  s.measurement_std << 1.0, 0.01, 2.0, 0.1, 0.2, 0.05;
  s.measurement_rel_std.resize(6);
  s.measurement_rel_std << 0, 0, 0, 0, 0, 0.03;
  s.initial_std.resize(5);
  s.initial_std << 100, 20, 0.3, 0.3, 20;
  s.process_std.resize(5);
  s.process_std << 5.0, 0.002, 3e-6, 3e-6, 3e-5;
  s.lower_bound.resize(5);
  s.lower_bound << 0, -kInf, 0, 0, -kInf;
  s.upper_bound.resize(5);
  s.upper_bound << kInf, kInf, 1, 1, kInf;
  s.max_step_s = 1.0;
  return s;
}

}  // namespace

const PumpEstimatorSpec& DefaultPumpEstimatorSpec() {
  static const PumpEstimatorSpec spec = MakeDefault();
  return spec;
}

FilterModel PumpEstimatorSpec::Model(const physics::System* twin, Eigen::VectorXd parameters) const {
  return FilterModel{twin, std::move(parameters), estimated_parameters, measurements};
}

EstimatorOptions PumpEstimatorSpec::InitialOptions(const FilterModel& model, const Eigen::VectorXd& first,
                                                   const std::vector<bool>& present, double t0) const {
  const physics::System& sys = *model.system;
  const int nx = sys.num_states();
  const int n = nx + static_cast<int>(model.estimated_parameters.size());
  const Eigen::VectorXd p =
      model.parameters.size() ? model.parameters : sys.DefaultValues(physics::SignalKind::kParameter);
  EstimatorOptions o;
  o.initial_time_s = t0;
  o.initial_mean.resize(n);
  o.initial_mean.head(nx) = sys.DefaultValues(physics::SignalKind::kState);
  for (size_t i = 0; i < model.estimated_parameters.size(); ++i) {
    const int j = sys.IndexOf(physics::SignalKind::kParameter, model.estimated_parameters[i]);
    o.initial_mean[nx + static_cast<int>(i)] = j >= 0 ? p[j] : 0.0;
  }
  // Speed and motor temperature are measured directly: start there.
  for (int i = 0; i < nx; ++i) {
    const std::string state = physics::ShortName(sys.states()[static_cast<size_t>(i)].name);
    for (size_t k = 0; k < model.measurements.size(); ++k) {
      if (model.measurements[k] == state && k < present.size() && present[k] &&
          k < static_cast<size_t>(first.size()) && std::isfinite(first[static_cast<Eigen::Index>(k)])) {
        o.initial_mean[i] = first[static_cast<Eigen::Index>(k)];
      }
    }
  }
  o.initial_std = initial_std;
  o.process_std = process_std;
  o.measurement_std = measurement_std;
  o.measurement_rel_std = measurement_rel_std;
  o.max_step_s = max_step_s;
  o.lower_bound = lower_bound;
  o.upper_bound = upper_bound;
  return o;
}

}  // namespace doppel::estimate
