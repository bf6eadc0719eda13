// `doppel bench control`: economic MPC and a CEM-tuned policy against a conventional
// level-band controller on the simulated station (docs/control.md).
//
// All three run through control::StationEnv on the same truth plant (same seed, same demand,
// same measurement noise): StationParams::FromSeed(seed) with pump 1's impeller worn to
// --worn-wear, RK4 at 1 s, `--hours` of simulated time from midnight, one command per --period.
//   baseline: fixed 1450 rpm pumps staged on/off by level (control::BaselineController).
//   mpc:      control::MpcController with the *estimated* model: nominal pump curves (the twin
//             does not know the plant's few-percent curve spread) and impeller wear = truth +
//             N(0, --wear-error) ("perturbed truth", no EKF run here); demand forecast = the
//             twin's nominal profile scaled by (1 − --forecast-error) (an under-forecast).
//   policy:   control::LevelTariffPolicy tuned by CEM in the sandbox on *other* seeds (training
//             seeds seed+1000.., RK4 at 2 s), then evaluated on the bench seed.
// Equal stored water: the MPC must end the day (midnight, the daily terminal level of
// MpcOptions) at least at the baseline's end level + --terminal-margin (--terminal=baseline;
// `initial`: the initial level; `none`: no terminal level), and the CEM policy is trained with
// the same condition on its training seed (EnvOptions::terminal_level_m). The headline
// energy_cost_ratio charges any remaining end-level shortfall against the baseline at the
// baseline's own cost per m3 (water stored above the baseline's level earns nothing);
// energy_cost_ratio_raw is the plain cost ratio. policy_* the same way.
// Level violations count excursions (times the level left the 1.0–4.5 m band) and samples.
// Prints a table, then one JSON line.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "doppel/app/commands.h"
#include "doppel/control/baseline.h"
#include "doppel/control/cem.h"
#include "doppel/control/env.h"
#include "doppel/control/mpc.h"
#include "doppel/control/policy.h"
#include "doppel/plant/station_model.h"

namespace doppel::app {
namespace {

using Clock = std::chrono::steady_clock;

// "--key=value" or "--key value".
std::string Arg(const std::vector<std::string>& args, const std::string& key, const std::string& def) {
  const std::string flag = "--" + key;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind(flag + "=", 0) == 0) return args[i].substr(flag.size() + 1);
    if (args[i] == flag && i + 1 < args.size()) return args[i + 1];
  }
  return def;
}

struct RunResult {
  std::string name;
  control::EpisodeStats stats;
  double end_level_m = 0;
  std::vector<double> solve_s;  // MPC only
  std::vector<double> solve_cpu_s, iterations;
  int fallbacks = 0;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size()))) - 1;
  return v[std::min(i, v.size() - 1)];
}

template <typename Act>
Result<RunResult> RunEpisode(control::StationEnv* env, uint64_t seed, const std::string& name, Act act) {
  RunResult r;
  r.name = name;
  control::EnvObservation ob = env->Reset(seed);
  for (;;) {
    auto a = act(ob, &r);
    if (!a.ok()) return a.status();
    auto st = env->Step(*a);
    if (!st.ok()) return st.status();
    ob = st->observation;
    if (st->done) break;
  }
  r.stats = env->stats();
  r.end_level_m = env->true_state().level_m;
  return r;
}

// The twin's view of the plant: nominal curves, wear = truth + N(0, sd).
control::StationEstimate EstimateFrom(const plant::StationModel& truth, double wear_sd, uint64_t seed) {
  control::StationEstimate e = control::StationEstimate::Nominal(truth.num_pumps());
  e.static_lift_m = truth.params().tank.static_lift_m;
  e.tank_area_m2 = truth.params().tank.area_m2;
  e.tank_height_m = truth.params().tank.height_m;
  std::mt19937_64 rng(plant::DeriveSeed(seed, /*stream=*/77));
  // Box–Muller by hand (as the plant): the same estimate with any standard library.
  auto nd = [](std::mt19937_64& g) {
    const double u1 = std::max(1e-300, static_cast<double>(g() >> 11) * 0x1.0p-53);
    const double u2 = static_cast<double>(g() >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  };
  for (int i = 0; i < truth.num_pumps(); ++i) {
    const double w = truth.params().pumps[static_cast<size_t>(i)].initial_impeller_wear;
    e.pumps[static_cast<size_t>(i)].impeller_wear = std::clamp(w + wear_sd * nd(rng), 0.0, 0.95);
  }
  return e;
}

}  // namespace

int RunControlBench(const std::vector<std::string>& args) {
  double hours, period, worn, wear_err, fc_err, margin, term_margin;
  uint64_t seed;
  int pumps, cem_iters, cem_pop;
  std::string terminal;
  try {
    hours = std::stod(Arg(args, "hours", "24"));
    period = std::stod(Arg(args, "period", "60"));
    seed = std::stoull(Arg(args, "seed", "1"));
    pumps = std::stoi(Arg(args, "pumps", "3"));
    worn = std::stod(Arg(args, "worn-wear", "0.35"));
    wear_err = std::stod(Arg(args, "wear-error", "0.02"));
    fc_err = std::stod(Arg(args, "forecast-error", "0.05"));
    cem_iters = std::stoi(Arg(args, "cem-iterations", "10"));
    cem_pop = std::stoi(Arg(args, "cem-population", "12"));
    margin = std::stod(Arg(args, "mpc-margin", "0.08"));
    term_margin = std::stod(Arg(args, "terminal-margin", "0.02"));
    terminal = Arg(args, "terminal", "baseline");
  } catch (const std::exception& e) {
    return Fail(InvalidArgument(std::string("bench control: bad argument: ") + e.what()));
  }
  if (!(hours > 0) || !(period > 0) || pumps < 1 || !(wear_err >= 0) || !(fc_err > -1 && fc_err < 1)) {
    return Fail(
        InvalidArgument("bench control: need --hours > 0, --period > 0, --pumps >= 1, --wear-error >= 0, "
                        "--forecast-error in (-1, 1)"));
  }
  if (terminal != "baseline" && terminal != "initial" && terminal != "none") {
    return Fail(InvalidArgument("bench control: --terminal must be baseline, initial or none, not '" +
                                terminal + "'"));
  }

  control::EnvOptions eo;
  eo.pumps = pumps;
  eo.period_s = period;
  eo.episode_s = hours * 3600;
  eo.integration_step_s = std::min(1.0, period);
  eo.worn_pump_wear = worn;
  auto env = control::StationEnv::Create(eo);
  if (!env.ok()) return Fail(env.status());
  (void)(*env)->Reset(seed);
  const control::StationEstimate estimate = EstimateFrom((*env)->model(), wear_err, seed);
  const plant::StationModel nominal(plant::StationParams::Nominal(pumps), plant::FaultSchedule());
  const control::DemandForecast forecast = [&nominal, fc_err](double t_s) {
    return (1.0 - fc_err) * nominal.Demand(t_s);
  };

  // 1. Baseline.
  std::cerr << "baseline: level-band on/off at 1450 rpm, " << hours << " h...\n";
  auto base_ctl = control::BaselineController::Create(control::BaselineOptions{}, pumps);
  if (!base_ctl.ok()) return Fail(base_ctl.status());
  auto base = RunEpisode(env->get(), seed, "baseline", [&](const control::EnvObservation& ob, RunResult*) {
    return Result<std::vector<std::optional<double>>>(base_ctl->Step(ob.level_m));
  });
  if (!base.ok()) return Fail(base.status());
  // The end level every controller must reach (equal stored water), < 0: none.
  auto terminal_level = [&](double base_end_m) {
    if (terminal == "none") return -1.0;
    const double l = (terminal == "baseline" ? base_end_m : eo.initial_level_m) + term_margin;
    return std::min(l, eo.level_max_m);
  };
  const double term_level = terminal_level(base->end_level_m);

  // 2. MPC.
  std::cerr << "mpc: Ipopt every " << period << " s...\n";
  control::MpcOptions mo;
  mo.period_s = period;
  mo.level_margin_m = margin;
  mo.terminal_level_m = term_level;
  mo.terminal_time_of_day_s = std::fmod(eo.time_of_day_at_start_s + eo.episode_s, 86400.0);
  auto mpc = control::MpcController::Create(mo, estimate, forecast);
  if (!mpc.ok()) return Fail(mpc.status());
  std::vector<double> last_rpm(static_cast<size_t>(pumps), 0.0);
  auto mpc_run = RunEpisode(env->get(), seed, "mpc", [&](const control::EnvObservation& ob, RunResult* r) {
    control::MpcObservation mob;
    mob.t_s = ob.t_s;
    mob.level_m = ob.level_m;
    for (size_t i = 0; i < ob.speed_rpm.size(); ++i) {
      mob.speed_rpm.push_back(std::isfinite(ob.speed_rpm[i]) ? ob.speed_rpm[i] : last_rpm[i]);
    }
    control::MpcSummary sum;
    auto cmd = (*mpc)->Step(mob, &sum);
    if (!cmd.ok()) return Result<std::vector<std::optional<double>>>(cmd.status());
    r->solve_s.push_back(sum.solve_wall_s);
    r->solve_cpu_s.push_back(sum.solve_cpu_s);
    r->iterations.push_back(sum.iterations);
    if (sum.fallback) ++r->fallbacks;
    for (size_t i = 0; i < last_rpm.size(); ++i)
      last_rpm[i] = cmd->speed_setpoint_rpm[i].value_or(last_rpm[i]);
    return Result<std::vector<std::optional<double>>>(cmd->speed_setpoint_rpm);
  });
  if (!mpc_run.ok()) return Fail(mpc_run.status());

  // 3. Policy search in the sandbox on training seeds, then evaluation on the bench seed.
  std::cerr << "policy: CEM " << cem_iters << " x " << cem_pop << " episodes on training seeds...\n";
  control::EnvOptions to = eo;
  to.integration_step_s = std::min(2.0, period);
  const uint64_t train_seed = seed + 1000;
  {
    // The training seed's own baseline sets the policy's terminal level and shortfall price.
    auto tb_env = control::StationEnv::Create(to);
    if (!tb_env.ok()) return Fail(tb_env.status());
    auto tb_ctl = control::BaselineController::Create(control::BaselineOptions{}, pumps);
    if (!tb_ctl.ok()) return Fail(tb_ctl.status());
    auto tb =
        RunEpisode(tb_env->get(), train_seed, "baseline", [&](const control::EnvObservation& ob, RunResult*) {
          return Result<std::vector<std::optional<double>>>(tb_ctl->Step(ob.level_m));
        });
    if (!tb.ok()) return Fail(tb.status());
    to.terminal_level_m = terminal_level(tb->end_level_m);
    to.terminal_shortfall_eur_per_m3 = tb->stats.cost_eur / std::max(1e-9, tb->stats.pumped_m3);
  }
  auto train_env = control::StationEnv::Create(to);
  if (!train_env.ok()) return Fail(train_env.status());
  (void)(*train_env)->Reset(train_seed);
  const control::StationEstimate train_est = EstimateFrom((*train_env)->model(), wear_err, train_seed);
  auto score = [&](const std::vector<double>& theta) {
    control::LevelTariffPolicy pol(control::LevelTariffPolicyParams::FromVector(theta), train_est,
                                   eo.max_speed_rpm);
    control::EnvObservation ob = (*train_env)->Reset(train_seed);
    double ret = 0;
    for (;;) {
      auto st = (*train_env)->Step(pol.Act(ob));
      if (!st.ok()) return -1e30;
      ret += st->reward;
      ob = st->observation;
      if (st->done) break;
    }
    return ret;
  };
  control::CemOptions co;
  co.iterations = cem_iters;
  co.population = cem_pop;
  co.elites = std::max(2, cem_pop / 4);
  co.seed = seed;
  const auto lo = control::LevelTariffPolicyParams::Lower(), hi = control::LevelTariffPolicyParams::Upper();
  std::vector<double> sd0;
  for (size_t j = 0; j < lo.size(); ++j) sd0.push_back(0.25 * (hi[j] - lo[j]));
  const auto c0 = Clock::now();
  auto cem =
      control::CrossEntropyMaximize(score, control::LevelTariffPolicyParams{}.ToVector(), sd0, lo, hi, co);
  if (!cem.ok()) return Fail(cem.status());
  const double cem_wall = std::chrono::duration<double>(Clock::now() - c0).count();
  control::LevelTariffPolicy policy(control::LevelTariffPolicyParams::FromVector(cem->best_params), estimate,
                                    eo.max_speed_rpm);
  auto pol = RunEpisode(env->get(), seed, "policy (CEM)", [&](const control::EnvObservation& ob, RunResult*) {
    return Result<std::vector<std::optional<double>>>(policy.Act(ob));
  });
  if (!pol.ok()) return Fail(pol.status());

  // Report. Equal stored water: an end level below the baseline's is charged at the baseline's
  // own cost per m3 (so a controller cannot look cheap by emptying the tank); water left above
  // it earns nothing.
  const double base_cost = base->stats.cost_eur;
  const double base_eur_m3 = base_cost / std::max(1e-9, base->stats.pumped_m3);
  auto corrected = [&](const RunResult& r) {
    return r.stats.cost_eur +
           std::max(0.0, base->end_level_m - r.end_level_m) * estimate.tank_area_m2 * base_eur_m3;
  };
  std::cout << fmt::format("{:<14} {:>9} {:>9} {:>7} {:>8} {:>8} {:>7} {:>11} {:>10} {:>7}  {}\n",
                           "controller", "kWh", "EUR", "ratio", "EUR/m3", "m3", "end_m", "min..max_m",
                           "viol(e/s)", "starts", "volume share per pump (kWh/m3)");
  for (const RunResult* r : {&*base, &*mpc_run, &*pol}) {
    std::string share;
    for (size_t i = 0; i < r->stats.pumped_m3_per_pump.size(); ++i) {
      const double v = r->stats.pumped_m3_per_pump[i];
      share += fmt::format("{:.0f}% ({:.3f}) ", 100.0 * v / std::max(1e-9, r->stats.pumped_m3),
                           r->stats.energy_kwh_per_pump[i] / std::max(1e-9, v));
    }
    std::cout << fmt::format(
        "{:<14} {:>9.1f} {:>9.2f} {:>7.3f} {:>8.4f} {:>8.0f} {:>7.2f} {:>11} {:>10} {:>7}  {}\n", r->name,
        r->stats.energy_kwh, r->stats.cost_eur, r->stats.cost_eur / base_cost,
        r->stats.cost_eur / std::max(1e-9, r->stats.pumped_m3), r->stats.pumped_m3, r->end_level_m,
        fmt::format("{:.2f}..{:.2f}", r->stats.min_level_m, r->stats.max_level_m),
        fmt::format("{}/{}", r->stats.excursions, r->stats.violation_samples), r->stats.pump_starts, share);
  }
  const double p50 = Percentile(mpc_run->solve_s, 0.50), p99 = Percentile(mpc_run->solve_s, 0.99);
  const double pmax = Percentile(mpc_run->solve_s, 1.0);
  const double cpu_p99 = Percentile(mpc_run->solve_cpu_s, 0.99);
  const double it_p50 = Percentile(mpc_run->iterations, 0.5), it_p99 = Percentile(mpc_run->iterations, 0.99);
  const double ratio_raw = mpc_run->stats.cost_eur / base_cost, pratio_raw = pol->stats.cost_eur / base_cost;
  const double ratio = corrected(*mpc_run) / base_cost, pratio = corrected(*pol) / base_cost;
  std::cout << fmt::format(
      "mpc solves {} (fallbacks {}), solve time p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms (CPU p99 "
      "{:.1f} ms); Ipopt iterations p50 {:.0f}, p99 {:.0f}; horizon {} steps\n",
      mpc_run->solve_s.size(), mpc_run->fallbacks, p50 * 1e3, p99 * 1e3, pmax * 1e3, cpu_p99 * 1e3, it_p50,
      it_p99, (*mpc)->steps().size());
  std::cout << fmt::format(
      "policy params (night, day, peak level m; gain m3/h/m; flow per pump m3/h): {:.2f} {:.2f} "
      "{:.2f} {:.0f} {:.0f}; CEM {} episodes, {:.1f} s\n",
      cem->best_params[0], cem->best_params[1], cem->best_params[2], cem->best_params[3], cem->best_params[4],
      cem->evaluations, cem_wall);
  std::cout << fmt::format(
      "end level: baseline {:.2f} m, mpc {:.2f} m (terminal level {:.2f} m), policy {:.2f} m\n"
      "energy_cost_ratio = {:.3f} at equal stored water (target <= 0.8; raw {:.3f}), "
      "level_violations = {} (excursions), solve_p99_fraction = {:.5f} (target <= 0.01)\n",
      base->end_level_m, mpc_run->end_level_m, term_level, pol->end_level_m, ratio, ratio_raw,
      mpc_run->stats.excursions, p99 / period);
  std::cout << fmt::format(
      "{{\"bench\":\"control\",\"hours\":{},\"seed\":{},\"period_s\":{},\"pumps\":{},\"worn_pump_wear\":{},"
      "\"estimate\":\"perturbed_truth\",\"wear_error_std\":{},\"forecast_error\":{},"
      "\"level_violation_unit\":\"excursions\",\"terminal\":\"{}\",\"mpc_level_margin_m\":{},"
      "\"baseline_end_level_m\":{:.3f},\"mpc_terminal_level_m\":{:.3f},\"mpc_end_level_m\":{:.3f},"
      "\"policy_end_level_m\":{:.3f},\"baseline_cost_eur\":{:.4f},\"baseline_energy_kwh\":{:.3f},"
      "\"baseline_level_violations\":{},\"mpc_cost_eur\":{:.4f},\"mpc_energy_kwh\":{:.3f},"
      "\"energy_cost_ratio\":{:.4f},\"energy_cost_ratio_raw\":{:.4f},"
      "\"level_violations\":{},\"level_violation_samples\":{},\"mpc_fallbacks\":{},\"mpc_solves\":{},"
      "\"solve_p50_s\":{:.5f},\"solve_p99_s\":{:.5f},\"solve_p50_fraction\":{:.6f},\"solve_p99_fraction\":{:."
      "6f},\"solve_p99_cpu_s\":{:.5f},\"ipopt_iterations_p50\":{:.0f},\"ipopt_iterations_p99\":{:.0f},"
      "\"policy_cost_eur\":{:.4f},\"policy_energy_cost_ratio\":{:.4f},"
      "\"policy_energy_cost_ratio_raw\":{:.4f},\"policy_level_violations\":{},"
      "\"policy_level_violation_samples\":{},\"cem_episodes\":{},\"cem_wall_s\":{:.2f}}}\n",
      hours, seed, period, pumps, worn, wear_err, fc_err, terminal, margin, base->end_level_m, term_level,
      mpc_run->end_level_m, pol->end_level_m, base_cost, base->stats.energy_kwh, base->stats.excursions,
      mpc_run->stats.cost_eur, mpc_run->stats.energy_kwh, ratio, ratio_raw, mpc_run->stats.excursions,
      mpc_run->stats.violation_samples, mpc_run->fallbacks, mpc_run->solve_s.size(), p50, p99, p50 / period,
      p99 / period, cpu_p99, it_p50, it_p99, pol->stats.cost_eur, pratio, pratio_raw, pol->stats.excursions,
      pol->stats.violation_samples, cem->evaluations, cem_wall);
  return 0;
}

}  // namespace doppel::app
