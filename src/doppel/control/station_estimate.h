// What the controllers know about the station: the twin's *estimated* pump and tank parameters
// (not the plant's truth), and the closed-form pump operating point the MPC plans with.
//
// The equations are those of physics::PumpModel (docs/physics.md), written here as a template
// so the MPC can differentiate them with a small fixed-size AutoDiff scalar:
//   H0' = H0·(1 − a_h·w),  Q = sqrt((H0'·s² − H_st − L)/(k + r)),  H = H0'·s² − k·Q²,
//   η = η_bep·(1 − a_η·w)·(2x − x²), x = Q/(Q_bep·s),  P = ρ·g·(Q/3600)·H/η/1000 + P_mech·s³.
// Valid where the pump lifts (H0'·s² > H_st + L); the MPC keeps running speeds above
// MinLiftSpeedRpm so it never leaves that region (the efficiency floor is then inactive).
#pragma once

#include <cmath>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::physics {
class System;
struct Context;
}  // namespace doppel::physics

namespace doppel::control {

// One pump; field names and defaults are physics::PumpModel's parameters.
struct PumpEstimate {
  double rated_speed_rpm = 1450;
  double shutoff_head_m = 45;
  double curve_k = 6.667e-4;  // m/(m3/h)^2
  double line_r = 2.5e-4;     // m/(m3/h)^2
  double bep_flow_m3h = 150;
  double bep_efficiency = 0.78;
  double mech_loss_kw = 1.0;
  double impeller_head_loss = 0.30;
  double impeller_eff_loss = 0.25;
  double impeller_wear = 0;  // the estimate, 0..1
};

struct StationEstimate {
  std::vector<PumpEstimate> pumps;
  double static_lift_m = 20;  // sump surface to tank bottom
  double tank_area_m2 = 200;
  double tank_height_m = 5;

  // At least one pump; every value finite and positive (wear and losses in [0, 1)).
  Status Validate() const;
  // `pumps` nominal pumps (the twin's defaults).
  static StationEstimate Nominal(int pumps);
};

// Reads a StationEstimate from a physics::MakeStationDiagram system and a context holding the
// twin's (estimated) parameters: "pump-i.<field>" for each pump, "pump-1.static_lift_m",
// "tank-1.area_m2", "tank-1.height_m". Error naming the missing parameter otherwise.
Result<StationEstimate> StationEstimateFromDiagram(const physics::System& station, const physics::Context& c,
                                                   int pumps);

template <typename T>
struct PumpPointT {
  T flow_m3h;
  T head_m;
  T efficiency;
  T shaft_power_kw;
};

// Operating point at speed ratio s = n/n0 and tank level L. Precondition: H0'·s² > H_st + L.
template <typename T>
PumpPointT<T> EvalPump(const PumpEstimate& p, double static_lift_m, const T& s, const T& level_m) {
  using std::sqrt;
  constexpr double kRhoG = 1000.0 * 9.81;
  const double h0 = p.shutoff_head_m * (1.0 - p.impeller_head_loss * p.impeller_wear);
  const double eta_bep = p.bep_efficiency * (1.0 - p.impeller_eff_loss * p.impeller_wear);
  T shut = h0 * s * s;
  T q = sqrt((shut - static_lift_m - level_m) / (p.curve_k + p.line_r));
  T head = shut - p.curve_k * q * q;
  T x = q / (p.bep_flow_m3h * s);
  T eta = eta_bep * (2.0 * x - x * x);
  // ρ·g·Q·H/η with Q/η = Q_bep·s/(η_bep·(2 − x)): smooth even as Q → 0.
  T hydraulic_over_eta = (kRhoG / 3.6e6) * head * p.bep_flow_m3h * s / (eta_bep * (2.0 - x));
  T power = hydraulic_over_eta + p.mech_loss_kw * s * s * s;
  return {q, head, eta, power};
}

// The lowest speed (rpm) at which the pump still lifts water with `head_margin_m` to spare into
// a tank at `level_m`.
double MinLiftSpeedRpm(const PumpEstimate& p, double static_lift_m, double level_m, double head_margin_m);

}  // namespace doppel::control
