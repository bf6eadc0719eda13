// Simulation sandboxes: the twin as an environment for policy search and what-if control
// (issue 6 item 4; docs/control.md "Sandboxes over the API", JSON shapes in docs/api.md).
//
// A sandbox is a control::StationEnv — the full truth model of the station with the reward —
// forked from a station twin's CURRENT estimate:
//   * per pump twin the EKF's estimated impeller wear (Service::GetEstimate "impeller_wear";
//     a pump without an estimate keeps the seed's wear, and the fork says so),
//   * per pump twin its calibrated parameters (TwinEstimate::calibrated, the serve config's
//     `calibration:`) that the truth-model pump has a field for (plant::SetPumpParameter), e.g.
//     its measured curve, in place of the seed's spread (the fork lists them, and any it could
//     not apply),
//   * the tank twin's latest "level_m" as the initial level (2.5 m when there is none),
//   * the time of day now (UTC, from the clock) unless the request gives time_of_day_s.
// The request may override the rest (pumps, period, episode, band, reward weights, seed, tariff).
// Reset(seed) restarts the episode; Step(action) advances one period with the action held and
// returns {observation, reward, done, energy_kwh, cost_eur, left_band, ...}. Same seed and same
// actions give the same rewards (StationEnv is deterministic).
//
// Thread-safe. The registry's map is guarded by one mutex held only for lookups; each sandbox
// has its own mutex, so steps on one sandbox serialize while steps on different sandboxes run
// in parallel on their callers' threads. At most `max_envs` sandboxes live at once; one unused
// for `idle_expiry_s` (by the clock) is deleted at the next Create or List.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/engine/estimation_options.h"
#include "doppel/engine/service.h"

namespace doppel::control {
class StationEnv;
struct EnvObservation;
}  // namespace doppel::control

namespace doppel::engine {

struct SimEnvLimits {
  int max_envs = 16;            // live sandboxes; Create beyond answers kResourceExhausted
  double idle_expiry_s = 1800;  // a sandbox unused this long is deleted (0: never)
  int max_pumps = 8;            // request "pumps" in 1..max_pumps
  double max_episode_s = 7 * 86400.0;
  double min_period_s = 1;  // request "period_s" in [min_period_s, max_period_s]
  double max_period_s = 3600;
  double min_integration_step_s = 0.1;  // bounds the work of one Step (period / integration step)

  // Names the first broken rule ("sim_envs.max_envs: ...").
  Status Validate() const;
};

class SimEnvRegistry {
 public:
  // `twins` answers GetTwin and GetEstimate for the fork (the engine) and must outlive the
  // registry. `now_ns`: the wall clock (ns since the epoch) for the time of day and idle expiry.
  // `calibrations`: the twins' calibrated parameters (EstimationOptions::calibrations), which a
  // fork applies from the config while a pump twin has no estimate yet.
  SimEnvRegistry(const Service* twins, SimEnvLimits limits, std::function<TimeNs()> now_ns,
                 std::vector<TwinCalibration> calibrations = {});
  ~SimEnvRegistry();

  // Request (all fields optional): twin, pumps, period_s, episode_s, integration_step_s,
  // time_of_day_s, level_min_m, level_max_m, initial_level_m, initial_wear, max_speed_rpm,
  // energy_weight, level_penalty_eur_per_m_h, violation_penalty_eur, terminal_level_m,
  // terminal_shortfall_eur_per_m3, seed, tariff {...}, wear_growth, faults.
  // Answers {id, seed, options, fork, observation}. kInvalidArgument naming the field ("$.pumps:
  // ..."), kNotFound for an unknown twin, kResourceExhausted when max_envs are live.
  Result<nlohmann::json> Create(const nlohmann::json& request, const std::string& principal);
  // Restarts the episode with `seed` (the sandbox's current seed when absent): {id, seed, observation}.
  Result<nlohmann::json> Reset(const std::string& id, std::optional<uint64_t> seed);
  // `action` = {"speeds_rpm": [rpm | null, ...]} one entry per pump (null: the plant's local
  // level control; 0: stop; clamped to [0, max_speed_rpm]). kInvalidArgument naming the field
  // ("$.action.speeds_rpm[1]: must be a number or null"), kNotFound, kFailedPrecondition
  // after done (until Reset).
  Result<nlohmann::json> Step(const std::string& id, const nlohmann::json& action);
  Status Delete(const std::string& id);  // kNotFound
  nlohmann::json List();                 // {"envs": [summary, ...]} by id
  size_t size() const;

  // Runs `fn` on the sandbox's environment under its lock (in-process users and tests, e.g.
  // the truth state). kNotFound.
  Status Inspect(const std::string& id, const std::function<void(const control::StationEnv&)>& fn);

 private:
  struct Entry;
  Result<std::shared_ptr<Entry>> Find(const std::string& id);
  void ExpireLocked(TimeNs now);

  const Service* twins_;
  SimEnvLimits limits_;
  std::vector<TwinCalibration> calibrations_;
  std::function<TimeNs()> now_ns_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> envs_;
  std::mt19937_64 ids_;
};

// JSON shapes (docs/api.md). A NaN (dropped-out sensor) is null.
nlohmann::json SimObservationToJson(const control::EnvObservation& ob);
// The inverse, for clients in process (e.g. a policy acting on API observations); null -> NaN.
// kInvalidArgument naming the field.
Result<control::EnvObservation> SimObservationFromJson(const nlohmann::json& j);

}  // namespace doppel::engine
