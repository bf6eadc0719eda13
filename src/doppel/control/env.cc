#include "doppel/control/env.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

namespace doppel::control {

Status EnvOptions::Validate() const {
  auto pos = [](double v) { return std::isfinite(v) && v > 0; };
  if (pumps < 1 || pumps > 64) return InvalidArgument("env: pumps must be in 1..64");
  if (!pos(period_s) || !pos(episode_s) || !pos(integration_step_s)) {
    return InvalidArgument("env: period_s, episode_s and integration_step_s must be > 0");
  }
  if (integration_step_s > period_s) return InvalidArgument("env: integration_step_s must be <= period_s");
  if (integration_step_s > 5.0)
    return InvalidArgument("env: integration_step_s must be <= 5 s (RK4 on the speed lag)");
  if (!std::isfinite(time_of_day_at_start_s))
    return InvalidArgument("env: time_of_day_at_start_s must be finite");
  const plant::TankParams tank;
  if (!(level_min_m >= 0 && level_min_m < level_max_m && level_max_m <= tank.height_m)) {
    return InvalidArgument(
        fmt::format("env: need 0 <= level_min_m < level_max_m <= tank height {} m", tank.height_m));
  }
  if (!(initial_level_m >= 0 && initial_level_m <= tank.height_m)) {
    return InvalidArgument("env: initial_level_m outside the tank");
  }
  if (!pos(max_speed_rpm)) return InvalidArgument("env: max_speed_rpm must be > 0");
  if (!(pos(drive_efficiency) && drive_efficiency <= 1))
    return InvalidArgument("env: drive_efficiency in (0, 1]");
  DOPPEL_RETURN_IF_ERROR(tariff.Validate());
  if (!(std::isfinite(worn_pump_wear) && worn_pump_wear < 1))
    return InvalidArgument("env: worn_pump_wear must be < 1");
  if (!initial_wear.empty() && static_cast<int>(initial_wear.size()) != pumps) {
    return InvalidArgument(
        fmt::format("env: initial_wear has {} entries, the station {} pumps", initial_wear.size(), pumps));
  }
  for (size_t i = 0; i < initial_wear.size(); ++i) {
    const double w = initial_wear[i];
    if (!std::isnan(w) && !(w >= 0 && w < 1))
      return InvalidArgument(fmt::format("env: initial_wear[{}] must be in [0, 1) or NaN", i));
  }
  if (!pump_parameters.empty() && static_cast<int>(pump_parameters.size()) != pumps) {
    return InvalidArgument(fmt::format("env: pump_parameters has {} lists, the station {} pumps",
                                       pump_parameters.size(), pumps));
  }
  for (size_t i = 0; i < pump_parameters.size(); ++i) {
    for (const auto& [name, value] : pump_parameters[i]) {
      plant::PumpParams probe;
      if (!plant::SetPumpParameter(&probe, name, value))
        return InvalidArgument(fmt::format("env: pump_parameters[{}].{}: not a pump parameter", i, name));
      if (!std::isfinite(value))
        return InvalidArgument(fmt::format("env: pump_parameters[{}].{}: must be finite", i, name));
      // The truth model divides by these.
      const std::string_view field = std::string_view(name).substr(name.rfind('.') + 1);
      const bool divisor = field == "rated_speed_rpm" || field == "speed_tau_s" || field == "thermal_tau_s" ||
                           field == "bep_flow_m3h";
      if (divisor && !(value > 0))
        return InvalidArgument(fmt::format("env: pump_parameters[{}].{}: must be > 0", i, name));
    }
  }
  for (double w : {energy_weight, level_penalty_eur_per_m_h, violation_penalty_eur}) {
    if (!(std::isfinite(w) && w >= 0)) return InvalidArgument("env: reward weights must be finite and >= 0");
  }
  if (!(std::isfinite(terminal_level_m) && terminal_level_m <= tank.height_m)) {
    return InvalidArgument("env: terminal_level_m must be finite and <= the tank height (< 0: none)");
  }
  if (!(std::isfinite(terminal_shortfall_eur_per_m3) && terminal_shortfall_eur_per_m3 >= 0)) {
    return InvalidArgument("env: terminal_shortfall_eur_per_m3 must be finite and >= 0");
  }
  return Status::Ok();
}

Result<std::unique_ptr<StationEnv>> StationEnv::Create(EnvOptions options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<StationEnv>(new StationEnv(std::move(options)));
}

double StationEnv::time_s() const { return options_.time_of_day_at_start_s + (sim_ ? sim_->time() : 0.0); }

EnvObservation StationEnv::Reset(uint64_t seed) {
  const EnvOptions& o = options_;
  plant::StationParams p = plant::StationParams::FromSeed(seed, o.pumps);
  p.time_of_day_at_start_s = o.time_of_day_at_start_s;
  p.tank.initial_level_m = o.initial_level_m;
  if (o.worn_pump_wear >= 0) p.pumps[0].initial_impeller_wear = o.worn_pump_wear;
  for (size_t i = 0; i < o.pump_parameters.size(); ++i) {
    for (const auto& [name, value] : o.pump_parameters[i])
      (void)plant::SetPumpParameter(&p.pumps[i], name, value);
  }
  for (size_t i = 0; i < o.initial_wear.size(); ++i) {
    if (!std::isnan(o.initial_wear[i])) p.pumps[i].initial_impeller_wear = o.initial_wear[i];
  }
  for (auto& pp : p.pumps) {
    pp.max_speed_rpm = std::max(pp.max_speed_rpm, o.max_speed_rpm);
    if (!o.wear_growth) pp.impeller_wear_rate_per_s = pp.bearing_wear_rate_per_s = 0;
  }
  plant::FaultSchedule faults =
      o.faults ? plant::FaultSchedule::FromSeed(seed, o.pumps, o.episode_s) : plant::FaultSchedule();
  model_ = std::make_unique<plant::StationModel>(std::move(p), std::move(faults));
  sim_ =
      std::make_unique<plant::StationSimulator>(model_.get(), model_->DefaultState(), o.integration_step_s);
  noise_.seed(plant::DeriveSeed(seed, /*stream=*/3));
  inputs_.speed_setpoint_rpm.assign(static_cast<size_t>(o.pumps), 0.0);
  commanded_on_.assign(static_cast<size_t>(o.pumps), false);
  stats_ = EpisodeStats{};
  stats_.pumped_m3_per_pump.assign(static_cast<size_t>(o.pumps), 0.0);
  stats_.energy_kwh_per_pump.assign(static_cast<size_t>(o.pumps), 0.0);
  stats_.min_level_m = stats_.max_level_m = sim_->state().level_m;
  out_of_band_ = false;
  active_ = true;
  return Observe();
}

EnvObservation StationEnv::Observe() {
  const double t = sim_->time();
  plant::StationReadings r = plant::Measure(*model_, t, sim_->state(), inputs_, noise_);
  EnvObservation ob;
  ob.t_s = time_s();
  ob.time_of_day_h = std::fmod(ob.t_s, kSecondsPerDay) / 3600.0;
  if (ob.time_of_day_h < 0) ob.time_of_day_h += 24;
  ob.level_m = r.level_m;
  ob.demand_m3h = r.demand_m3h;
  ob.band = options_.tariff.BandAt(ob.t_s);
  ob.price_eur_kwh = options_.tariff.PriceOf(ob.band);
  for (size_t i = 0; i < r.pumps.size(); ++i) {
    // A dropped-out sensor reads NaN.
    auto val = [&](plant::PumpSignal s) {
      const auto& v = r.pumps[i].values[static_cast<size_t>(s)];
      return v ? *v : std::nan("");
    };
    ob.speed_rpm.push_back(val(plant::PumpSignal::kSpeed));
    ob.flow_m3h.push_back(val(plant::PumpSignal::kFlow));
    ob.power_kw.push_back(val(plant::PumpSignal::kPower));
  }
  return ob;
}

Result<EnvStep> StationEnv::Step(const std::vector<std::optional<double>>& action) {
  if (!active_) return FailedPrecondition("env: Step before Reset or after the episode is done");
  const EnvOptions& o = options_;
  if (static_cast<int>(action.size()) != o.pumps) {
    return InvalidArgument(
        fmt::format("env: action has {} setpoints, the station {} pumps", action.size(), o.pumps));
  }
  for (size_t i = 0; i < action.size(); ++i) {
    if (action[i] && !std::isfinite(*action[i])) {
      return InvalidArgument(fmt::format("env: action[{}] is not finite", i));
    }
    std::optional<double> sp;
    if (action[i]) sp = std::clamp(*action[i], 0.0, o.max_speed_rpm);
    const bool on = !sp || *sp > 0;
    if (on && !commanded_on_[i]) ++stats_.pump_starts;
    commanded_on_[i] = on;
    inputs_.speed_setpoint_rpm[i] = sp;
  }
  EnvStep out;
  double excursion_m_s = 0;
  const double t_end = sim_->time() + o.period_s;
  const int P = o.pumps;
  while (sim_->time() < t_end - 1e-9) {
    const double t0 = sim_->time();
    const double h = std::min(o.integration_step_s, t_end - t0);
    // Power and flow at both ends of the integration step (trapezoid).
    auto sample = [&](std::vector<double>* kw, std::vector<double>* q) {
      for (int i = 0; i < P; ++i) {
        plant::PumpOutputs po = model_->PumpOutput(i, sim_->time(), sim_->state(), inputs_);
        (*kw)[static_cast<size_t>(i)] = po.power_kw / o.drive_efficiency;
        (*q)[static_cast<size_t>(i)] = po.flow_m3h;
      }
    };
    std::vector<double> kw0(P), q0(P), kw1(P), q1(P);
    sample(&kw0, &q0);
    const double price = o.tariff.PriceAt(o.time_of_day_at_start_s + t0 + 0.5 * h);
    sim_->AdvanceTo(t0 + h, inputs_);
    sample(&kw1, &q1);
    for (int i = 0; i < P; ++i) {
      const double kwh = 0.5 * (kw0[i] + kw1[i]) * h / 3600.0;
      out.energy_kwh += kwh;
      out.cost_eur += kwh * price;
      stats_.energy_kwh_per_pump[i] += kwh;
      const double m3 = 0.5 * (q0[i] + q1[i]) * h / 3600.0;
      stats_.pumped_m3_per_pump[i] += m3;
      stats_.pumped_m3 += m3;
    }
    const double level = sim_->state().level_m;
    stats_.min_level_m = std::min(stats_.min_level_m, level);
    stats_.max_level_m = std::max(stats_.max_level_m, level);
    const double exc = std::max({0.0, o.level_min_m - level, level - o.level_max_m});
    if (exc > 0) {
      ++stats_.violation_samples;
      stats_.violation_s += h;
      excursion_m_s += exc * h;
      out.left_band = true;
      if (!out_of_band_) ++stats_.excursions;
    }
    out_of_band_ = exc > 0;
  }
  stats_.simulated_s = sim_->time();
  stats_.energy_kwh += out.energy_kwh;
  stats_.cost_eur += out.cost_eur;
  out.reward = -(o.energy_weight * out.cost_eur + o.level_penalty_eur_per_m_h * excursion_m_s / 3600.0 +
                 (out.left_band ? o.violation_penalty_eur : 0.0));
  out.done = sim_->time() >= o.episode_s - 1e-9;
  if (out.done) {
    active_ = false;
    if (o.terminal_level_m >= 0) {
      const double short_m = std::max(0.0, o.terminal_level_m - sim_->state().level_m);
      out.terminal_shortfall_eur = o.terminal_shortfall_eur_per_m3 * model_->params().tank.area_m2 * short_m;
      out.reward -= out.terminal_shortfall_eur;
    }
  }
  out.observation = Observe();
  return out;
}

}  // namespace doppel::control
