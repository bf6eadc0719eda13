// Economic nonlinear MPC for the pumping station (docs/control.md).
//
// Every control period the controller solves, with Ipopt, a nonlinear program over a receding
// horizon of non-uniform steps (the first `fine_steps` one period long, then growing by
// `step_growth` up to `max_step_s`, until `horizon_s` is covered):
//
//   min  Σ_k Σ_i c_k·d_ik·P_i(s_ik, L̄_k)                    energy cost (tariff-weighted)
//      + Σ_k (ρ1·e_k + ρ2·e_k²)                             soft level band
//      + λ_sw·Σ (d_ik − d_i,k−1)² + λ_s·Σ (s_ik − s_i,k−1)²    switching / smoothness
//      − v_T·A·L_N                                          value of the water left at the end
//      + ρT·e_T + ρ2·e_T²                                   terminal level shortfall (optional)
//   s.t. L_k+1 = L_k + Δt_k/(3600·A)·(Σ_i d_ik·Q_i(s_ik, L̄_k) − D̄_k),  L̄_k = (L_k + L_k+1)/2
//        band_lo + margin − e_k ≤ L_k ≤ band_hi − margin + e_k,  e_k ≥ 0
//        s_min,i ≤ s_ik ≤ s_max,  0 ≤ d_ik ≤ 1,  |s_ik − s_i,k−1| ≤ rate limit
//        L(t_T) + e_T ≥ L_T,  e_T ≥ 0   at the next terminal time of day t_T in the horizon
//
// s_ik = n/n0 is pump i's speed while running in step k and d_ik ∈ [0, 1] the fraction of the
// step it runs (the convex relaxation of on/off operation: a pump below its lifting speed only
// wastes energy, so "slower" is not a continuous alternative to "off"). Q and P are the pump
// curves of the *estimated* parameters (StationEstimate), D̄_k the mean of the demand forecast
// over step k and c_k the mean tariff over step k times Δt_k / drive efficiency. Load sharing
// follows from the cost: a worn, less efficient pump gets a smaller duty.
//
// The demand forecast is corrected online by a bias estimated from the level innovation (the
// classic offset-free disturbance model), which also absorbs flow-model error.
// The first step is applied: pump i runs at s_i0·n0 if d_i0 is above the on threshold (with
// hysteresis around the current on/off state), else stops. Consecutive solves warm-start from
// the previous plan shifted in time. If Ipopt fails (any status other than solved / solved to
// acceptable level), the controller holds the last command (Summary::fallback, reason in
// Summary::solver_status) for up to `hold_periods` periods, then hands every pump back to the
// plant's local level control (nullopt setpoints) until a solve succeeds.
//
// Thread-compatible: one instance per thread. Ipopt calls are serialized process-wide (the
// sequential MUMPS linear solver has global state).
#pragma once

#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/control/station_estimate.h"
#include "doppel/control/tariff.h"
#include "doppel/core/status.h"

namespace doppel::control {

// Forecast of the town's demand (m3/h) at control time t_s.
using DemandForecast = std::function<double(double t_s)>;

struct MpcOptions {
  double period_s = 60;      // control period
  int fine_steps = 4;        // leading horizon steps of one period each
  double step_growth = 2.0;  // later steps grow geometrically ...
  double max_step_s = 3600;  // ... up to this length
  double horizon_s = 86400;  // total horizon (one day: the demand and tariff cycle)
  double level_min_m = 1.0;  // the operating band of the tank level
  double level_max_m = 4.5;
  double level_margin_m = 0.25;       // the plan keeps this far inside the band (soft)
  double max_speed_rpm = 1800;        // running-speed upper limit
  double min_speed_rpm = 900;         // running-speed lower limit; raised per pump to lift with
  double min_head_margin_m = 1.0;     //   this head margin into a full tank (MinLiftSpeedRpm)
  double max_speed_change_rpm = 200;  // per period, between consecutive commands of a running pump
  double drive_efficiency = 0.92;     // electrical power = shaft power / this
  Tariff tariff;
  double band_cost_eur_per_m = 50;     // ρ1
  double band_cost_eur_per_m2 = 500;   // ρ2
  double switch_cost_eur = 0.002;      // λ_sw
  double speed_smoothing_eur = 0.002;  // λ_s (per (Δs)², s = n/n0)
  // v_T in EUR per m3 left in the tank at the horizon end; < 0: the cheapest tariff times the
  // best specific energy of the pumps (the cost of refilling it at night).
  double terminal_value_eur_m3 = -1;
  // Daily terminal level, the cyclic condition of pump scheduling ("end the day with at least
  // this much water stored"): when terminal_level_m >= 0, the planned level at the next time of
  // day `terminal_time_of_day_s` after now, if the horizon reaches it, is at least
  // terminal_level_m. Soft: a shortfall e_T >= 0 costs terminal_shortfall_eur_per_m·e_T +
  // band_cost_eur_per_m2·e_T² (an exact penalty: above the marginal value of water the
  // constraint holds whenever it can). The level between grid points is linear in time.
  double terminal_level_m = -1;
  double terminal_time_of_day_s = 0;  // midnight
  double terminal_shortfall_eur_per_m = 500;
  double on_threshold = 0.5;  // d_i0 above this starts a stopped pump ...
  double hysteresis = 0.15;   // ... a running pump stops below on_threshold − hysteresis
  int max_iterations = 400;
  double max_solve_s = 10;  // Ipopt CPU-time limit per solve
  double tolerance = 1e-6;
  // Ipopt's initial barrier parameter when warm-started from the previous plan (<= 0: Ipopt's
  // default 0.1, which pushes the warm start back into the interior and costs iterations:
  // 19 instead of 15 iterations at the median in the bench).
  double warm_start_mu_init = 1e-3;
  int hold_periods = 5;
  double forecast_sample_s = 300;  // demand forecast sampled this often to average over a step
  // Offset-free MPC: the forecast is corrected by a demand bias b (m3/h) estimated from the
  // level innovation: b += gain·(L_predicted − L_measured)·A·3600/period_s, |b| <= max.
  double bias_gain = 0.05;
  double max_bias_m3h = 100;

  // Names the first broken rule.
  Status Validate() const;
};

// What the controller measures: control time, tank level, pump speeds (rpm; 0 = stopped).
struct MpcObservation {
  double t_s = 0;
  double level_m = 0;
  std::vector<double> speed_rpm;
};

// Per pump a speed setpoint (rpm; 0 = stop) or nullopt = hand back to local level control.
struct MpcCommand {
  std::vector<std::optional<double>> speed_setpoint_rpm;
};

struct MpcSummary {
  bool solved = false;    // Ipopt converged this period
  bool fallback = false;  // the command is the held last command or local control
  bool local_control = false;
  int consecutive_failures = 0;
  std::string solver_status;  // Ipopt's return status name
  int iterations = 0;
  double solve_wall_s = 0;
  double solve_cpu_s = 0;  // this thread's CPU time in the solve (wall minus waiting for a core)
  double objective_eur = 0;
  double planned_energy_cost_eur = 0;  // the plan's tariff-weighted energy over the horizon
  double demand_bias_m3h = 0;          // the forecast correction used this period
  // The terminal-level point of this plan (control time, s) and the plan's level there; NaN
  // when no terminal level is set or the horizon does not reach it.
  double terminal_t_s = std::numeric_limits<double>::quiet_NaN();
  double planned_terminal_level_m = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> step_s;                          // the horizon grid
  std::vector<double> planned_level_m;                 // L_1..L_N
  std::vector<std::vector<double>> planned_duty;       // [step][pump]
  std::vector<std::vector<double>> planned_speed_rpm;  // [step][pump]
  std::vector<std::vector<double>> planned_flow_m3h;   // [step][pump], d·Q
};

class MpcController {
 public:
  static Result<std::unique_ptr<MpcController>> Create(MpcOptions options, StationEstimate estimate,
                                                       DemandForecast forecast);
  ~MpcController();
  MpcController(const MpcController&) = delete;
  MpcController& operator=(const MpcController&) = delete;

  // New estimated parameters (same number of pumps); takes effect at the next Step.
  Status UpdateEstimate(StationEstimate estimate);
  // New options (e.g. a changed tariff or band), validated; take effect at the next Step. The
  // warm start and the command state are kept.
  Status SetOptions(MpcOptions options);

  // One control period. InvalidArgument if the observation does not match the station
  // (pump count, non-finite values). Solver failures are not errors: see MpcSummary::fallback.
  Result<MpcCommand> Step(const MpcObservation& obs, MpcSummary* summary = nullptr);

  const MpcOptions& options() const { return options_; }
  const StationEstimate& estimate() const { return estimate_; }
  // The horizon grid (step lengths, seconds).
  const std::vector<double>& steps() const { return steps_; }

 private:
  struct Plan;
  MpcController(MpcOptions options, StationEstimate estimate, DemandForecast forecast);
  void BuildGrid();

  MpcOptions options_;
  StationEstimate estimate_;
  DemandForecast forecast_;
  std::vector<double> steps_;
  std::unique_ptr<Plan> last_plan_;     // previous solution, in absolute time, for warm starts
  std::vector<double> last_speed_rpm_;  // last command (0 = stopped), or measured under local control
  std::vector<bool> running_;
  bool have_command_ = false;  // a command of our own exists that a fallback may hold
  double bias_m3h_ = 0;
  double predicted_level_m_ = 0, predicted_t_s_ = -1e300;  // for the next innovation
  int consecutive_failures_ = 0;
};

}  // namespace doppel::control
