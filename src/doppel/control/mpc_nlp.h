// The MPC's nonlinear program as plain data plus an Ipopt solve (internal to the control module;
// mpc.h documents the formulation).
#pragma once

#include <string>
#include <vector>

#include "doppel/control/station_estimate.h"

namespace doppel::control::internal {

struct NlpProblem {
  const StationEstimate* station = nullptr;
  int pumps = 0;
  int steps = 0;
  std::vector<double> dt_s;          // [k]
  std::vector<double> cost_eur_kw;   // [k] mean price · Δt/3600 / drive efficiency
  std::vector<double> demand_m3h;    // [k] mean forecast demand
  std::vector<double> rate_limit;    // [k] max |s_k − s_k−1| (speed ratio), k >= 1
  std::vector<double> s_lo, s_hi;    // [i] running speed ratio limits
  std::vector<double> s0_lo, s0_hi;  // [i] bounds of the first step (rate limit vs. last command)
  std::vector<double> d_prev;        // [i] 1 if running now, else 0
  std::vector<double> s_prev;        // [i] current command ratio (smoothing reference), if running
  double level0_m = 0;
  double band_lo_m = 0, band_hi_m = 0;  // already tightened by the margin
  double rho1 = 0, rho2 = 0, switch_cost = 0, speed_smoothing = 0;
  double terminal_value_eur_m3 = 0;
  // Terminal level: (1 − f)·L_k + f·L_k+1 + e_T >= terminal_level_m (L_0 = level0_m), with the
  // shortfall e_T (the last variable) costing terminal_rho1·e_T + rho2·e_T².
  bool terminal = false;
  int terminal_step = 0;     // k, 0 <= k < steps
  double terminal_frac = 0;  // f in (0, 1]
  double terminal_level_m = 0;
  double terminal_rho1 = 0;
  // A warm start (the previous plan shifted) begins the barrier at warm_mu_init (<= 0: Ipopt's
  // default 0.1) with small bound pushes, so it is not pushed back into the interior.
  bool warm = false;
  double warm_mu_init = 0;
  int max_iterations = 400;
  double max_cpu_s = 10;
  double tolerance = 1e-6;

  int num_vars() const { return 2 * steps * pumps + 2 * steps + (terminal ? 1 : 0); }
  int terminal_index() const { return 2 * steps * pumps + 2 * steps; }  // only if terminal
  // The plan's level at the terminal point.
  double TerminalLevel(const double* x) const {
    const double l0 = terminal_step == 0 ? level0_m : x[level_index(terminal_step)];
    return (1 - terminal_frac) * l0 + terminal_frac * x[level_index(terminal_step + 1)];
  }
  int s_index(int k, int i) const { return 2 * (k * pumps + i); }
  int d_index(int k, int i) const { return 2 * (k * pumps + i) + 1; }
  int level_index(int k) const { return 2 * steps * pumps + (k - 1); }  // k = 1..steps
  int slack_index(int k) const { return 2 * steps * pumps + steps + (k - 1); }
};

struct NlpResult {
  bool ok = false;
  std::string status;  // Ipopt's ApplicationReturnStatus name
  int iterations = 0;
  double objective = 0;
  std::vector<double> x;  // the final iterate (num_vars)
};

// Solves from the starting point x0 (num_vars). Serialized process-wide.
NlpResult SolveNlp(const NlpProblem& problem, const std::vector<double>& x0);

// Evaluates the objective's energy part Σ c_k·d·P at x (for summaries and tests).
double PlannedEnergyCost(const NlpProblem& problem, const std::vector<double>& x);

}  // namespace doppel::control::internal
