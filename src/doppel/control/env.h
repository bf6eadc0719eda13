// A sandbox environment over the simulated station (plant::StationModel, the full truth model):
// reset(seed) / step(action) -> {observation, reward, done}, for policy search and for the
// control benchmark (every controller runs through the same Step, so energy and level figures
// are computed one way). docs/control.md.
//
// One Step advances `period_s` of simulated time with the action held: per pump a speed
// setpoint (rpm, clamped to [0, max_speed_rpm]; 0 = stop) or nullopt (the plant's local level
// control). The plant is integrated with RK4 at `integration_step_s`; energy, cost and the
// level band are accumulated at every integration step:
//   electrical power = Σ shaft power / drive_efficiency,  cost = ∫ power·price dt,
//   reward = −(energy_weight·cost + level_penalty_eur_per_m_h·∫ excursion dt/3600
//            + violation_penalty_eur·[the level left the band during the step])
//            − [last step] terminal_shortfall_eur_per_m3·A·max(0, terminal_level_m − L_end).
// Level violations are reported both as samples (integration steps outside the band, and the
// seconds that represents) and as excursions (entries into the out-of-band region).
//
// Thread-compatible: one instance per thread; instances are independent.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "doppel/control/tariff.h"
#include "doppel/core/status.h"
#include "doppel/plant/station_model.h"

namespace doppel::control {

struct EnvOptions {
  int pumps = 3;
  double period_s = 60;             // one Step
  double episode_s = 86400;         // done after this much simulated time
  double integration_step_s = 1.0;  // RK4 step of the truth plant (its speed lag τ is 2 s)
  double time_of_day_at_start_s = 0;
  double level_min_m = 1.0;  // the tank's operating band
  double level_max_m = 4.5;
  double initial_level_m = 2.5;
  double max_speed_rpm = 1800;
  double drive_efficiency = 0.92;
  Tariff tariff;
  // Plant: StationParams::FromSeed(seed) (pump spread and initial wear), then, when
  // worn_pump_wear >= 0, pump 1's impeller wear set to it (a visibly worn pump). Faults from
  // FaultSchedule::FromSeed when `faults`.
  double worn_pump_wear = -1;
  // Per pump impeller wear at Reset, applied after worn_pump_wear (a sandbox forked from a twin
  // starts from the twin's estimated wear). Empty, or one entry per pump; NaN keeps the seed's.
  std::vector<double> initial_wear;
  // Per pump parameter values by name (plant::SetPumpParameter: shutoff_head_m, curve_k, ...),
  // applied at Reset after the seed's spread (a sandbox forked from a calibrated twin runs its
  // curve). Empty, or one list per pump (an empty list keeps the seed's).
  std::vector<std::vector<std::pair<std::string, double>>> pump_parameters;
  bool faults = false;
  bool wear_growth = true;  // false: wear constant over the episode
  // Reward.
  double energy_weight = 1.0;
  double level_penalty_eur_per_m_h = 20.0;
  double violation_penalty_eur = 5.0;
  // Terminal condition, so that a policy is scored at equal stored water: when
  // terminal_level_m >= 0, the last step's reward also subtracts
  // terminal_shortfall_eur_per_m3 · tank area · max(0, terminal_level_m − true end level)
  // (EnvStep::terminal_shortfall_eur). Water left above the level earns nothing.
  double terminal_level_m = -1;
  double terminal_shortfall_eur_per_m3 = 0.025;

  Status Validate() const;
};

struct EnvObservation {
  double t_s = 0;  // control time (seconds since midnight of day 0; see tariff.h)
  double time_of_day_h = 0;
  double level_m = 0;     // measured (noisy)
  double demand_m3h = 0;  // measured (noisy)
  double price_eur_kwh = 0;
  TariffBand band = TariffBand::kNight;
  std::vector<double> speed_rpm;  // measured
  std::vector<double> flow_m3h;   // measured
  std::vector<double> power_kw;   // measured shaft power
};

struct EnvStep {
  EnvObservation observation;
  double reward = 0;
  bool done = false;
  double energy_kwh = 0;  // electrical, this step
  double cost_eur = 0;
  bool left_band = false;             // some integration step of this step was outside the band
  double terminal_shortfall_eur = 0;  // last step only: the terminal-level charge in the reward
};

// Totals since Reset.
struct EpisodeStats {
  double simulated_s = 0;
  double energy_kwh = 0;
  double cost_eur = 0;
  double pumped_m3 = 0;
  std::vector<double> pumped_m3_per_pump;
  std::vector<double> energy_kwh_per_pump;
  int violation_samples = 0;  // integration steps with the true level outside the band
  double violation_s = 0;
  int excursions = 0;  // times the level left the band
  double min_level_m = 0, max_level_m = 0;
  int pump_starts = 0;  // commanded stop -> run transitions
};

class StationEnv {
 public:
  static Result<std::unique_ptr<StationEnv>> Create(EnvOptions options);

  // New episode: the plant of `seed` (parameters, wear, noise; faults if enabled) at the initial
  // level with the pumps stopped. Same seed and same actions give the same episode.
  EnvObservation Reset(uint64_t seed);
  // InvalidArgument for a wrong number of pumps or a non-finite setpoint; FailedPrecondition
  // before Reset or after done.
  Result<EnvStep> Step(const std::vector<std::optional<double>>& action);

  const EnvOptions& options() const { return options_; }
  const EpisodeStats& stats() const { return stats_; }
  // The truth (for benchmarks that derive an "estimate" from it, and tests).
  const plant::StationModel& model() const { return *model_; }
  const plant::StationState& true_state() const { return sim_->state(); }
  double time_s() const;  // control time now

 private:
  explicit StationEnv(EnvOptions options) : options_(std::move(options)) {}
  EnvObservation Observe();

  EnvOptions options_;
  std::unique_ptr<plant::StationModel> model_;
  std::unique_ptr<plant::StationSimulator> sim_;
  std::mt19937_64 noise_;
  plant::StationInputs inputs_;
  std::vector<bool> commanded_on_;
  EpisodeStats stats_;
  bool out_of_band_ = false;
  bool active_ = false;
};

}  // namespace doppel::control
