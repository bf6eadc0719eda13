// A small parametric station policy for policy search (CEM in the sandbox, docs/control.md):
//   target level L*(band)  per tariff band (night, day, peak)       3 parameters
//   q = max(0, demand + gain·(L* − L))                             total flow wanted, 1 parameter
//   m = ceil(q / q_pump) pumps run (0 if q < q_pump/4), each at the speed that delivers q/m
//   on the estimated pump curve at the current level               1 parameter (q_pump)
// Running pumps are the m with the best estimated specific energy (kWh/m3), so a worn pump is
// the last to run. Speeds are clamped to [lifting speed + margin, max_speed_rpm].
#pragma once

#include <optional>
#include <vector>

#include "doppel/control/env.h"
#include "doppel/control/station_estimate.h"

namespace doppel::control {

struct LevelTariffPolicyParams {
  double night_level_m = 4.0;
  double day_level_m = 3.0;
  double peak_level_m = 1.8;
  double gain_m3h_per_m = 150;
  double pump_flow_m3h = 140;

  static constexpr int kSize = 5;
  std::vector<double> ToVector() const;
  static LevelTariffPolicyParams FromVector(const std::vector<double>& v);  // size kSize
  // The search box used by the bench.
  static std::vector<double> Lower();
  static std::vector<double> Upper();
};

class LevelTariffPolicy {
 public:
  LevelTariffPolicy(LevelTariffPolicyParams params, StationEstimate estimate, double max_speed_rpm = 1800,
                    double head_margin_m = 1.0);
  std::vector<std::optional<double>> Act(const EnvObservation& ob) const;
  const LevelTariffPolicyParams& params() const { return params_; }

 private:
  LevelTariffPolicyParams params_;
  StationEstimate estimate_;
  double max_speed_rpm_, head_margin_m_;
  std::vector<int> order_;  // pumps, best specific energy first
};

}  // namespace doppel::control
