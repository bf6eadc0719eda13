#include "doppel/control/mpc.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>

#include "doppel/control/mpc_nlp.h"

namespace doppel::control {

using internal::NlpProblem;
using internal::NlpResult;

Status MpcOptions::Validate() const {
  auto pos = [](double v) { return std::isfinite(v) && v > 0; };
  auto nonneg = [](double v) { return std::isfinite(v) && v >= 0; };
  if (!pos(period_s)) return InvalidArgument("mpc: period_s must be > 0");
  if (fine_steps < 1) return InvalidArgument("mpc: fine_steps must be >= 1");
  if (!(std::isfinite(step_growth) && step_growth >= 1))
    return InvalidArgument("mpc: step_growth must be >= 1");
  if (!(pos(max_step_s) && max_step_s >= period_s))
    return InvalidArgument("mpc: max_step_s must be >= period_s");
  if (!(pos(horizon_s) && horizon_s >= period_s * fine_steps)) {
    return InvalidArgument("mpc: horizon_s must cover at least fine_steps periods");
  }
  if (horizon_s / period_s > 1e5) return InvalidArgument("mpc: horizon_s / period_s too large");
  if (!(std::isfinite(level_min_m) && std::isfinite(level_max_m) && level_min_m >= 0 &&
        level_min_m < level_max_m)) {
    return InvalidArgument("mpc: need 0 <= level_min_m < level_max_m");
  }
  if (!(nonneg(level_margin_m) && 2 * level_margin_m < level_max_m - level_min_m)) {
    return InvalidArgument("mpc: level_margin_m must be >= 0 and leave a non-empty band");
  }
  if (!(pos(max_speed_rpm) && nonneg(min_speed_rpm) && min_speed_rpm < max_speed_rpm)) {
    return InvalidArgument("mpc: need 0 <= min_speed_rpm < max_speed_rpm");
  }
  if (!nonneg(min_head_margin_m)) return InvalidArgument("mpc: min_head_margin_m must be >= 0");
  if (!pos(max_speed_change_rpm)) return InvalidArgument("mpc: max_speed_change_rpm must be > 0");
  if (!(pos(drive_efficiency) && drive_efficiency <= 1))
    return InvalidArgument("mpc: drive_efficiency in (0, 1]");
  DOPPEL_RETURN_IF_ERROR(tariff.Validate());
  if (!nonneg(band_cost_eur_per_m) || !nonneg(band_cost_eur_per_m2) || !nonneg(switch_cost_eur) ||
      !nonneg(speed_smoothing_eur)) {
    return InvalidArgument("mpc: cost weights must be finite and >= 0");
  }
  if (!std::isfinite(terminal_value_eur_m3))
    return InvalidArgument("mpc: terminal_value_eur_m3 must be finite");
  if (!std::isfinite(terminal_level_m) || terminal_level_m > level_max_m) {
    return InvalidArgument("mpc: terminal_level_m must be finite and <= level_max_m (< 0: none)");
  }
  if (!(std::isfinite(terminal_time_of_day_s) && terminal_time_of_day_s >= 0 &&
        terminal_time_of_day_s < kSecondsPerDay)) {
    return InvalidArgument("mpc: terminal_time_of_day_s must be in [0, 86400)");
  }
  if (!nonneg(terminal_shortfall_eur_per_m))
    return InvalidArgument("mpc: terminal_shortfall_eur_per_m must be finite and >= 0");
  if (!(on_threshold > 0 && on_threshold < 1 && nonneg(hysteresis) && hysteresis < on_threshold)) {
    return InvalidArgument("mpc: need 0 <= hysteresis < on_threshold < 1");
  }
  if (max_iterations < 1) return InvalidArgument("mpc: max_iterations must be >= 1");
  if (!std::isfinite(warm_start_mu_init)) return InvalidArgument("mpc: warm_start_mu_init must be finite");
  if (!pos(max_solve_s) || !pos(tolerance))
    return InvalidArgument("mpc: max_solve_s and tolerance must be > 0");
  if (hold_periods < 0) return InvalidArgument("mpc: hold_periods must be >= 0");
  if (!pos(forecast_sample_s)) return InvalidArgument("mpc: forecast_sample_s must be > 0");
  if (!(std::isfinite(bias_gain) && bias_gain >= 0 && bias_gain <= 1) ||
      !(std::isfinite(max_bias_m3h) && max_bias_m3h >= 0)) {
    return InvalidArgument("mpc: need 0 <= bias_gain <= 1 and max_bias_m3h >= 0");
  }
  return Status::Ok();
}

namespace {
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}
}  // namespace

// The previous solution in absolute time: step k spans [t[k], t[k+1]).
struct MpcController::Plan {
  std::vector<double> t;                  // N + 1 boundaries
  std::vector<std::vector<double>> s, d;  // [k][i]
  std::vector<double> level;              // N + 1 (level[0] = measured start)

  int StepAt(double time) const {
    auto it = std::upper_bound(t.begin(), t.end(), time);
    int k = static_cast<int>(it - t.begin()) - 1;
    return std::clamp(k, 0, static_cast<int>(s.size()) - 1);
  }
  double LevelAt(double time) const {
    if (time <= t.front()) return level.front();
    if (time >= t.back()) return level.back();
    int k = StepAt(time);
    const double f = (time - t[k]) / (t[k + 1] - t[k]);
    return level[k] + f * (level[k + 1] - level[k]);
  }
};

MpcController::MpcController(MpcOptions options, StationEstimate estimate, DemandForecast forecast)
    : options_(std::move(options)), estimate_(std::move(estimate)), forecast_(std::move(forecast)) {
  const size_t p = estimate_.pumps.size();
  last_speed_rpm_.assign(p, 0.0);
  running_.assign(p, false);
  BuildGrid();
}

MpcController::~MpcController() = default;

Result<std::unique_ptr<MpcController>> MpcController::Create(MpcOptions options, StationEstimate estimate,
                                                             DemandForecast forecast) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  DOPPEL_RETURN_IF_ERROR(estimate.Validate());
  if (!forecast) return InvalidArgument("mpc: a demand forecast is required");
  if (options.level_max_m > estimate.tank_height_m) {
    return InvalidArgument("mpc: level_max_m is above the tank height");
  }
  return std::unique_ptr<MpcController>(
      new MpcController(std::move(options), std::move(estimate), std::move(forecast)));
}

Status MpcController::UpdateEstimate(StationEstimate estimate) {
  DOPPEL_RETURN_IF_ERROR(estimate.Validate());
  if (estimate.pumps.size() != estimate_.pumps.size()) {
    return InvalidArgument(fmt::format("mpc: estimate has {} pumps, the controller {}", estimate.pumps.size(),
                                       estimate_.pumps.size()));
  }
  estimate_ = std::move(estimate);
  return Status::Ok();
}

Status MpcController::SetOptions(MpcOptions options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  if (options.level_max_m > estimate_.tank_height_m)
    return InvalidArgument("mpc: level_max_m is above the tank height");
  options_ = std::move(options);
  BuildGrid();
  return Status::Ok();
}

void MpcController::BuildGrid() {
  steps_.clear();
  double covered = 0, len = options_.period_s;
  while (covered < options_.horizon_s - 1e-9) {
    if (static_cast<int>(steps_.size()) >= options_.fine_steps) {
      len = std::min(options_.max_step_s, len * options_.step_growth);
    }
    const double l = std::min(len, options_.horizon_s - covered);
    steps_.push_back(l);
    covered += l;
  }
}

Result<MpcCommand> MpcController::Step(const MpcObservation& obs, MpcSummary* summary) {
  const int P = static_cast<int>(estimate_.pumps.size());
  if (static_cast<int>(obs.speed_rpm.size()) != P) {
    return InvalidArgument(
        fmt::format("mpc: observation has {} pump speeds, the station {} pumps", obs.speed_rpm.size(), P));
  }
  if (!std::isfinite(obs.t_s) || !std::isfinite(obs.level_m)) {
    return InvalidArgument("mpc: observation t_s and level_m must be finite");
  }
  for (double v : obs.speed_rpm) {
    if (!std::isfinite(v)) return InvalidArgument("mpc: observation speed_rpm must be finite");
  }
  MpcSummary local;
  MpcSummary& sum = summary ? *summary : local;
  sum = MpcSummary{};
  const MpcOptions& o = options_;
  const int N = static_cast<int>(steps_.size());

  // Problem data.
  NlpProblem pr;
  pr.station = &estimate_;
  pr.pumps = P;
  pr.steps = N;
  pr.level0_m = std::clamp(obs.level_m, 0.0, estimate_.tank_height_m);
  pr.band_lo_m = o.level_min_m + o.level_margin_m;
  pr.band_hi_m = o.level_max_m - o.level_margin_m;
  pr.rho1 = o.band_cost_eur_per_m;
  pr.rho2 = o.band_cost_eur_per_m2;
  pr.switch_cost = o.switch_cost_eur;
  pr.speed_smoothing = o.speed_smoothing_eur;
  pr.max_iterations = o.max_iterations;
  pr.max_cpu_s = o.max_solve_s;
  pr.tolerance = o.tolerance;
  pr.warm = last_plan_ != nullptr;
  pr.warm_mu_init = o.warm_start_mu_init;
  // Demand bias from the level innovation of the last applied command.
  if (std::abs(obs.t_s - predicted_t_s_) <= 0.5 * o.period_s) {
    const double innov_m3h =
        (predicted_level_m_ - obs.level_m) * estimate_.tank_area_m2 * 3600.0 / o.period_s;
    bias_m3h_ = std::clamp(bias_m3h_ + o.bias_gain * innov_m3h, -o.max_bias_m3h, o.max_bias_m3h);
  }
  predicted_t_s_ = -1e300;
  sum.demand_bias_m3h = bias_m3h_;
  std::vector<double> t(static_cast<size_t>(N) + 1, obs.t_s);
  for (int k = 0; k < N; ++k) t[k + 1] = t[k] + steps_[k];
  pr.dt_s = steps_;
  for (int k = 0; k < N; ++k) {
    pr.cost_eur_kw.push_back(o.tariff.MeanPrice(t[k], t[k + 1]) * steps_[k] / 3600.0 / o.drive_efficiency);
    const int samples = std::max(1, static_cast<int>(std::ceil(steps_[k] / o.forecast_sample_s)));
    double dsum = 0;
    for (int j = 0; j < samples; ++j) dsum += forecast_(t[k] + (j + 0.5) * steps_[k] / samples);
    pr.demand_m3h.push_back(std::max(0.0, dsum / samples + bias_m3h_));
    pr.rate_limit.push_back(0);
  }
  double best_kwh_m3 = 1e30;
  for (int i = 0; i < P; ++i) {
    const PumpEstimate& pe = estimate_.pumps[i];
    const double n0 = pe.rated_speed_rpm;
    const double lo_rpm =
        std::max(o.min_speed_rpm,
                 MinLiftSpeedRpm(pe, estimate_.static_lift_m, estimate_.tank_height_m, o.min_head_margin_m));
    const double hi_rpm = std::max(lo_rpm, o.max_speed_rpm);
    pr.s_lo.push_back(lo_rpm / n0);
    pr.s_hi.push_back(hi_rpm / n0);
    const bool on = running_[i];
    pr.d_prev.push_back(on ? 1.0 : 0.0);
    const double cur = std::clamp(last_speed_rpm_[i] / n0, pr.s_lo[i], pr.s_hi[i]);
    pr.s_prev.push_back(cur);
    const double ds = o.max_speed_change_rpm / n0;
    pr.s0_lo.push_back(on ? std::max(pr.s_lo[i], cur - ds) : pr.s_lo[i]);
    pr.s0_hi.push_back(on ? std::min(pr.s_hi[i], cur + ds) : pr.s_hi[i]);
    // Best specific energy of this pump at mid band (for the default terminal value).
    const double mid = 0.5 * (o.level_min_m + o.level_max_m);
    for (int j = 0; j <= 40; ++j) {
      const double s = pr.s_lo[i] + (pr.s_hi[i] - pr.s_lo[i]) * j / 40.0;
      PumpPointT<double> pt = EvalPump<double>(pe, estimate_.static_lift_m, s, mid);
      if (pt.flow_m3h > 1e-6) best_kwh_m3 = std::min(best_kwh_m3, pt.shaft_power_kw / pt.flow_m3h);
    }
  }
  // Rate limit between consecutive steps k−1 and k: the change allowed over Δt_{k−1}.
  // In speed ratio through the largest rated speed, so the rpm limit holds for every pump.
  double n0_max = 0;
  for (const PumpEstimate& pe : estimate_.pumps) n0_max = std::max(n0_max, pe.rated_speed_rpm);
  for (int k = 1; k < N; ++k) pr.rate_limit[k] = o.max_speed_change_rpm / n0_max * steps_[k - 1] / o.period_s;
  pr.terminal_value_eur_m3 = o.terminal_value_eur_m3 >= 0
                                 ? o.terminal_value_eur_m3
                                 : o.tariff.MinPrice() * best_kwh_m3 / o.drive_efficiency;
  // Terminal level at the next terminal time of day after now, if the horizon reaches it.
  if (o.terminal_level_m >= 0) {
    double tod = std::fmod(obs.t_s, kSecondsPerDay);
    if (tod < 0) tod += kSecondsPerDay;
    double t_term = obs.t_s - tod + o.terminal_time_of_day_s;
    if (t_term <= obs.t_s + 1e-6) t_term += kSecondsPerDay;
    if (t_term <= t[N] + 1e-6) {
      int k = 0;
      while (k + 1 < N && t[k + 1] < t_term) ++k;
      pr.terminal = true;
      pr.terminal_step = k;
      pr.terminal_frac = std::clamp((t_term - t[k]) / (t[k + 1] - t[k]), 0.0, 1.0);
      pr.terminal_level_m = o.terminal_level_m;
      pr.terminal_rho1 = o.terminal_shortfall_eur_per_m;
      sum.terminal_t_s = t_term;
    }
  }

  // Starting point: the previous plan shifted in time, else a neutral guess.
  std::vector<double> x0(static_cast<size_t>(pr.num_vars()), 0.0);
  for (int k = 0; k < N; ++k) {
    const double tm = 0.5 * (t[k] + t[k + 1]);
    for (int i = 0; i < P; ++i) {
      double s = 0.5 * (pr.s_lo[i] + pr.s_hi[i]), d = 0.5;
      if (last_plan_) {
        const int j = last_plan_->StepAt(tm);
        s = last_plan_->s[j][i];
        d = last_plan_->d[j][i];
      }
      const double lo = k == 0 ? pr.s0_lo[i] : pr.s_lo[i], hi = k == 0 ? pr.s0_hi[i] : pr.s_hi[i];
      x0[pr.s_index(k, i)] = std::clamp(s, lo, hi);
      x0[pr.d_index(k, i)] = std::clamp(d, 0.0, 1.0);
    }
    const double l = last_plan_ ? last_plan_->LevelAt(t[k + 1]) : pr.level0_m;
    x0[pr.level_index(k + 1)] = std::clamp(l, 0.0, estimate_.tank_height_m);
    x0[pr.slack_index(k + 1)] = std::max({0.0, pr.band_lo_m - l, l - pr.band_hi_m});
  }
  if (pr.terminal) x0[pr.terminal_index()] = std::max(0.0, pr.terminal_level_m - pr.TerminalLevel(x0.data()));

  const auto w0 = std::chrono::steady_clock::now();
  const double c0 = ThreadCpuSeconds();
  NlpResult res = internal::SolveNlp(pr, x0);
  sum.solve_wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  sum.solve_cpu_s = ThreadCpuSeconds() - c0;
  sum.solver_status = res.status;
  sum.iterations = res.iterations;
  sum.step_s = steps_;

  MpcCommand cmd;
  cmd.speed_setpoint_rpm.assign(static_cast<size_t>(P), std::nullopt);
  if (!res.ok) {
    ++consecutive_failures_;
    sum.fallback = true;
    sum.consecutive_failures = consecutive_failures_;
    if (have_command_ && consecutive_failures_ <= o.hold_periods) {
      for (int i = 0; i < P; ++i) cmd.speed_setpoint_rpm[i] = running_[i] ? last_speed_rpm_[i] : 0.0;
    } else {
      sum.local_control = true;  // cmd stays all-nullopt: the plant's local level control
      // Nothing of ours to hold any more; the next successful solve starts from the measured
      // speeds.
      for (int i = 0; i < P; ++i) {
        running_[i] = obs.speed_rpm[i] > 1.0;
        last_speed_rpm_[i] = obs.speed_rpm[i];
      }
      have_command_ = false;
    }
    return cmd;
  }
  consecutive_failures_ = 0;
  sum.solved = true;
  sum.objective_eur = res.objective;
  sum.planned_energy_cost_eur = internal::PlannedEnergyCost(pr, res.x);
  if (pr.terminal) sum.planned_terminal_level_m = pr.TerminalLevel(res.x.data());

  auto plan = std::make_unique<Plan>();
  plan->t = t;
  plan->level.push_back(pr.level0_m);
  for (int k = 0; k < N; ++k) {
    std::vector<double> s(P), d(P), rpm(P), flow(P);
    const double mid =
        0.5 * ((k == 0 ? pr.level0_m : res.x[pr.level_index(k)]) + res.x[pr.level_index(k + 1)]);
    for (int i = 0; i < P; ++i) {
      s[i] = res.x[pr.s_index(k, i)];
      d[i] = std::clamp(res.x[pr.d_index(k, i)], 0.0, 1.0);
      rpm[i] = s[i] * estimate_.pumps[i].rated_speed_rpm;
      flow[i] = d[i] * EvalPump<double>(estimate_.pumps[i], estimate_.static_lift_m, s[i], mid).flow_m3h;
    }
    plan->s.push_back(s);
    plan->d.push_back(d);
    plan->level.push_back(res.x[pr.level_index(k + 1)]);
    sum.planned_level_m.push_back(res.x[pr.level_index(k + 1)]);
    sum.planned_duty.push_back(d);
    sum.planned_speed_rpm.push_back(rpm);
    sum.planned_flow_m3h.push_back(flow);
  }

  // Apply the first step.
  for (int i = 0; i < P; ++i) {
    const double d0 = plan->d[0][i];
    const bool was_on = running_[i];
    const bool on = was_on ? d0 >= o.on_threshold - o.hysteresis : d0 >= o.on_threshold;
    const double rpm =
        std::clamp(plan->s[0][i], pr.s0_lo[i], pr.s0_hi[i]) * estimate_.pumps[i].rated_speed_rpm;
    running_[i] = on;
    last_speed_rpm_[i] = on ? rpm : 0.0;
    cmd.speed_setpoint_rpm[i] = last_speed_rpm_[i];
  }
  have_command_ = true;
  last_plan_ = std::move(plan);
  // Predicted level after one period under the applied command (for the next innovation).
  double inflow = 0;
  for (int i = 0; i < P; ++i) {
    if (!running_[i]) continue;
    inflow += EvalPump<double>(estimate_.pumps[i], estimate_.static_lift_m,
                               last_speed_rpm_[i] / estimate_.pumps[i].rated_speed_rpm, pr.level0_m)
                  .flow_m3h;
  }
  const double demand0 = forecast_(obs.t_s + 0.5 * o.period_s) + bias_m3h_;
  predicted_level_m_ = pr.level0_m + o.period_s / (3600.0 * estimate_.tank_area_m2) * (inflow - demand0);
  predicted_t_s_ = obs.t_s + o.period_s;
  return cmd;
}

}  // namespace doppel::control
