#include "doppel/control/policy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace doppel::control {

std::vector<double> LevelTariffPolicyParams::ToVector() const {
  return {night_level_m, day_level_m, peak_level_m, gain_m3h_per_m, pump_flow_m3h};
}

LevelTariffPolicyParams LevelTariffPolicyParams::FromVector(const std::vector<double>& v) {
  LevelTariffPolicyParams p;
  if (v.size() != kSize) return p;
  p.night_level_m = v[0];
  p.day_level_m = v[1];
  p.peak_level_m = v[2];
  p.gain_m3h_per_m = v[3];
  p.pump_flow_m3h = v[4];
  return p;
}

std::vector<double> LevelTariffPolicyParams::Lower() { return {1.2, 1.2, 1.2, 20, 60}; }
std::vector<double> LevelTariffPolicyParams::Upper() { return {4.3, 4.3, 4.3, 600, 220}; }

LevelTariffPolicy::LevelTariffPolicy(LevelTariffPolicyParams params, StationEstimate estimate,
                                     double max_speed_rpm, double head_margin_m)
    : params_(params),
      estimate_(std::move(estimate)),
      max_speed_rpm_(max_speed_rpm),
      head_margin_m_(head_margin_m) {
  const int n = static_cast<int>(estimate_.pumps.size());
  std::vector<double> spec(static_cast<size_t>(n), 1e30);
  for (int i = 0; i < n; ++i) {
    const PumpEstimate& pe = estimate_.pumps[static_cast<size_t>(i)];
    const double lo = MinLiftSpeedRpm(pe, estimate_.static_lift_m, estimate_.tank_height_m, head_margin_m_);
    for (int j = 0; j <= 40; ++j) {
      const double s = (lo + (max_speed_rpm_ - lo) * j / 40.0) / pe.rated_speed_rpm;
      PumpPointT<double> pt = EvalPump<double>(pe, estimate_.static_lift_m, s, 2.5);
      if (pt.flow_m3h > 1e-6)
        spec[static_cast<size_t>(i)] =
            std::min(spec[static_cast<size_t>(i)], pt.shaft_power_kw / pt.flow_m3h);
    }
  }
  order_.resize(static_cast<size_t>(n));
  std::iota(order_.begin(), order_.end(), 0);
  std::stable_sort(order_.begin(), order_.end(),
                   [&](int a, int b) { return spec[static_cast<size_t>(a)] < spec[static_cast<size_t>(b)]; });
}

std::vector<std::optional<double>> LevelTariffPolicy::Act(const EnvObservation& ob) const {
  const int n = static_cast<int>(estimate_.pumps.size());
  std::vector<std::optional<double>> out(static_cast<size_t>(n), 0.0);
  const double target = ob.band == TariffBand::kNight  ? params_.night_level_m
                        : ob.band == TariffBand::kPeak ? params_.peak_level_m
                                                       : params_.day_level_m;
  const double level = std::isfinite(ob.level_m) ? ob.level_m : target;
  const double demand = std::isfinite(ob.demand_m3h) ? ob.demand_m3h : 0.0;
  const double q = std::max(0.0, demand + params_.gain_m3h_per_m * (target - level));
  const double qp = std::max(1.0, params_.pump_flow_m3h);
  if (q < 0.25 * qp) return out;
  const int m = std::clamp(static_cast<int>(std::ceil(q / qp - 1e-9)), 1, n);
  const double each = q / m;
  for (int j = 0; j < m; ++j) {
    const int i = order_[static_cast<size_t>(j)];
    const PumpEstimate& pe = estimate_.pumps[static_cast<size_t>(i)];
    const double h0 = pe.shutoff_head_m * (1.0 - pe.impeller_head_loss * pe.impeller_wear);
    // Invert Q(s): H0'·s² = H_st + L + (k + r)·Q².
    const double s =
        std::sqrt((estimate_.static_lift_m + level + (pe.curve_k + pe.line_r) * each * each) / h0);
    const double lo = MinLiftSpeedRpm(pe, estimate_.static_lift_m, std::max(level, 0.0), head_margin_m_);
    out[static_cast<size_t>(i)] =
        std::clamp(s * pe.rated_speed_rpm, std::min(lo, max_speed_rpm_), max_speed_rpm_);
  }
  return out;
}

}  // namespace doppel::control
