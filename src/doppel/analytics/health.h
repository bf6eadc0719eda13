// Health score per twin and pump KPIs: pure functions of the estimated state (docs/alerts.md).
//
// Health: 100 minus penalties (points), clamped to [0, 100]:
//   wear     wear_points    * clamp(wear + wear_z * wear_std, 0, 1)      (pessimistic wear)
//   anomaly  anomaly_points * max(0, anomaly - anomaly_floor) / (1 - anomaly_floor)
//   rul      rul_points     * max(0, 1 - rul_h / rul_horizon_h)           (absent RUL: 0)
//   alerts   min(alert_points_max, critical_points * #critical + warning_points * #warning
//                                  + info_points * #info)                   (active alerts)
// Every penalty is non-decreasing in its input, so the score is monotone: more wear, more wear
// uncertainty, a higher anomaly score, a shorter RUL or more active alerts never raise it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "doppel/analytics/alert_engine.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

struct HealthInputs {
  double wear = 0;              // estimated degradation, 0 new .. 1 end of life (clamped to [0, 1])
  double wear_std = 0;          // its standard deviation (>= 0)
  double anomaly = 0;           // latest anomaly score in [0, 1]
  std::optional<double> rul_h;  // remaining useful life, hours (negative is taken as 0); absent: no penalty
  SeverityCounts alerts;        // active alerts of the twin (AlertBook::ActiveCounts)
};

struct HealthOptions {
  double wear_points = 40;      // penalty at full (pessimistic) wear
  double wear_z = 1.0;          // standard deviations added to the wear estimate (caution under uncertainty)
  double anomaly_points = 25;   // penalty at anomaly score 1
  double anomaly_floor = 0.2;   // scores up to this are normal noise (no penalty)
  double rul_points = 25;       // penalty at RUL 0
  double rul_horizon_h = 720;   // RUL at or beyond this (30 days) costs nothing
  double critical_points = 25;  // per active alert
  double warning_points = 8;
  double info_points = 2;
  double alert_points_max = 50;  // cap of the alert penalty
  double good_from = 80;         // band "good" for score >= good_from, "fair" >= fair_from, else "poor"
  double fair_from = 50;
  // Names the first broken rule: non-negative finite points, anomaly_floor in [0, 1),
  // rul_horizon_h > 0, 0 <= fair_from <= good_from <= 100.
  Status Validate() const;
};

struct HealthReason {
  std::string factor;  // "wear" | "anomaly" | "rul" | "alerts"
  double points = 0;   // penalty, > 0
  std::string text;    // "wear 0.42 +- 0.05 (pessimistic 0.47): -18.8"
};

struct HealthScore {
  double score = 100;                 // [0, 100]
  std::string band;                   // "good" | "fair" | "poor"
  std::vector<HealthReason> reasons;  // factors with a penalty, largest first (they may sum past 100)
};

// InvalidArgument naming the field for a non-finite input, a negative wear_std or alert count, or an
// anomaly score outside [0, 1]; and for invalid options.
Result<HealthScore> ComputeHealth(const HealthInputs& in, const HealthOptions& options = {});

// ---- Pump KPIs (SI; flow in m^3/h, head in m, power in kW) ----------------------------------------
constexpr double kWaterDensityKgM3 = 998.2;  // at 20 degC
constexpr double kGravityMS2 = 9.80665;

// rho * g * Q * H, in kW (Q = flow_m3h / 3600).
double HydraulicPowerKw(double flow_m3h, double head_m, double density_kg_m3 = kWaterDensityKgM3);
// Head equivalent of a pressure rise: dp / (rho * g).
double HeadFromPressureRiseM(double pressure_rise_bar, double density_kg_m3 = kWaterDensityKgM3);
// Pump hydraulic efficiency rho g Q H / P_shaft (a fraction). InvalidArgument when shaft_power_kw
// <= 0 or flow/head are negative or any input is not finite.
Result<double> HydraulicEfficiency(double flow_m3h, double head_m, double shaft_power_kw,
                                   double density_kg_m3 = kWaterDensityKgM3);
// Wire-to-water efficiency rho g Q H / P_electrical (pump and motor together); same errors.
Result<double> WireToWaterEfficiency(double flow_m3h, double head_m, double electrical_power_kw,
                                     double density_kg_m3 = kWaterDensityKgM3);
// Specific energy P_electrical / Q in kWh/m^3. InvalidArgument when flow_m3h <= 0 (undefined without
// flow), electrical_power_kw < 0, or an input is not finite.
Result<double> SpecificEnergyKwhPerM3(double electrical_power_kw, double flow_m3h);

}  // namespace doppel::analytics
