#include "doppel/engine/sim_envs.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>

#include "doppel/control/env.h"
#include "doppel/engine/behavior.h"
#include "doppel/engine/calibration.h"
#include "doppel/engine/sim_envs_json.h"
#include "doppel/plant/station_model.h"

namespace doppel::engine {

using nlohmann::json;

using physics::kNaN;
using sim_envs_json::NumOrNull;
using sim_envs_json::OptionsToJson;
using sim_envs_json::ParseRequest;

namespace {

// The part of the fork read from the twins: per pump (twin, wear or NaN, where it came from),
// the tank's level or NaN.
struct Fork {
  std::string twin;
  std::vector<std::string> pump_twins;
  std::vector<double> wear;
  std::vector<std::string> wear_from;
  // Per pump: the twin's calibrated parameters the truth-model pump takes (plant::
  // SetPumpParameter), and those it has no field for.
  std::vector<std::vector<std::pair<std::string, double>>> parameters;
  std::vector<std::vector<std::string>> parameters_not_applied;
  std::string tank_twin;
  double level_m = kNaN;
  std::string level_from;
};

Result<Fork> ForkTwin(const Service& s, const std::vector<TwinCalibration>& calibrations,
                      const std::string& id) {
  auto t = s.GetTwin(id);
  if (!t.ok()) return t.status();
  Fork f;
  f.twin = id;
  std::vector<std::string> targets;
  if (const BehaviorModel* b = BehaviorModel::Find(t->model); b != nullptr && b->station_pump()) {
    targets.push_back(id);  // a pump twin: a one-pump sandbox
  } else {
    for (const RelationshipRef& r : t->relationships) targets.push_back(r.target);
  }
  for (const std::string& target : targets) {
    auto tv = target == id ? t : s.GetTwin(target);
    if (!tv.ok()) continue;  // a dangling relationship
    if (const BehaviorModel* b = BehaviorModel::Find(tv->model); b != nullptr && b->station_pump()) {
      f.pump_twins.push_back(target);
      double w = kNaN;
      std::string from;
      auto e = s.GetEstimate(target);
      std::vector<std::pair<std::string, double>> params;
      std::vector<std::string> not_applied;
      // The twin's calibration: as its estimator runs it, else (no estimate yet) from the config.
      std::vector<std::pair<std::string, double>> calibrated;
      const TwinCalibration* cal = e.ok() ? nullptr : FindCalibration(calibrations, target);
      if (e.ok()) {
        calibrated = e->calibrated;
      } else if (cal != nullptr) {
        calibrated = CalibratedFixedParameters(*b, *cal);
      }
      for (const auto& [name, value] : calibrated) {
        plant::PumpParams probe;
        if (plant::SetPumpParameter(&probe, name, value)) {
          params.emplace_back(name, value);
        } else {
          not_applied.push_back(name);
        }
      }
      if (e.ok()) {
        for (const EstimatedValue& p : e->parameters) {
          if (p.name == "impeller_wear" && std::isfinite(p.value)) w = std::clamp(p.value, 0.0, 0.95);
        }
        from = std::isfinite(w) ? "estimate" : "seed: the estimate has no impeller_wear";
      } else {
        from = "seed: " + e.status().message();
        // A calibrated wear is the estimator's initial mean: the fork starts where it will.
        const auto none = std::vector<std::pair<std::string, double>>{};
        for (const auto& [name, value] : cal != nullptr ? cal->parameters : none) {
          if (physics::ShortName(name) == "impeller_wear" && std::isfinite(value)) {
            w = std::clamp(value, 0.0, 0.95);
            from = cal->where;
          }
        }
      }
      f.wear.push_back(w);
      f.wear_from.push_back(from);
      f.parameters.push_back(std::move(params));
      f.parameters_not_applied.push_back(std::move(not_applied));
    } else if (f.tank_twin.empty() && BehaviorModel::IsLevelSource(tv->model, "level_m")) {
      f.tank_twin = target;
      auto l = tv->latest.find("level_m");
      if (l != tv->latest.end() && l->second.quality != Quality::kBad && std::isfinite(l->second.value)) {
        f.level_m = std::clamp(l->second.value, 0.0, plant::TankParams{}.height_m);
        f.level_from = "telemetry";
      } else {
        f.level_from = "default: tank twin '" + target + "' has no level_m reading";
      }
    }
  }
  if (f.pump_twins.empty()) {
    return InvalidArgument("$.twin: '" + id + "' (" + t->model +
                           ") is neither a pump twin nor related to any pump twin");
  }
  if (f.tank_twin.empty()) f.level_from = "default: '" + id + "' is related to no tank twin";
  return f;
}

const char* kAlphabet = "0123456789abcdef";

}  // namespace

Status SimEnvLimits::Validate() const {
  if (max_envs < 1 || max_envs > 4096) return InvalidArgument("sim_envs.max_envs: must be in 1..4096");
  if (!(idle_expiry_s >= 0)) return InvalidArgument("sim_envs.idle_expiry_s: must be >= 0 (0: never)");
  if (max_pumps < 1 || max_pumps > 64) return InvalidArgument("sim_envs.max_pumps: must be in 1..64");
  if (!(max_episode_s > 0)) return InvalidArgument("sim_envs.max_episode_s: must be > 0");
  if (!(min_period_s > 0 && min_period_s <= max_period_s))
    return InvalidArgument("sim_envs.min_period_s: must be > 0 and <= max_period_s");
  if (!(min_integration_step_s > 0 && min_integration_step_s <= 5))
    return InvalidArgument("sim_envs.min_integration_step_s: must be in (0, 5] s");
  return Status::Ok();
}

struct SimEnvRegistry::Entry {
  std::mutex mu;  // guards everything below except last_used_ns
  std::unique_ptr<control::StationEnv> env;
  std::string id, twin, created_by;
  TimeNs created_ns = 0;
  std::atomic<TimeNs> last_used_ns{0};
  uint64_t seed = 1;
  json fork;
  int steps = 0;
  bool done = false;
  double episode_reward = 0;
};

SimEnvRegistry::SimEnvRegistry(const Service* twins, SimEnvLimits limits, std::function<TimeNs()> now_ns,
                               std::vector<TwinCalibration> calibrations)
    : twins_(twins),
      limits_(std::move(limits)),
      calibrations_(std::move(calibrations)),
      now_ns_(std::move(now_ns)) {
  if (!now_ns_) {
    now_ns_ = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  ids_.seed(static_cast<uint64_t>(now_ns_()) ^ reinterpret_cast<uintptr_t>(this));
}

SimEnvRegistry::~SimEnvRegistry() = default;

size_t SimEnvRegistry::size() const {
  std::lock_guard lk(mu_);
  return envs_.size();
}

void SimEnvRegistry::ExpireLocked(TimeNs now) {
  if (limits_.idle_expiry_s <= 0) return;
  const TimeNs idle = static_cast<TimeNs>(limits_.idle_expiry_s * 1e9);
  for (auto it = envs_.begin(); it != envs_.end();) {
    if (now - it->second->last_used_ns.load() >= idle)
      it = envs_.erase(it);  // a Step in flight keeps its entry alive through its shared_ptr
    else
      ++it;
  }
}

Result<std::shared_ptr<SimEnvRegistry::Entry>> SimEnvRegistry::Find(const std::string& id) {
  std::lock_guard lk(mu_);
  auto it = envs_.find(id);
  if (it == envs_.end())
    return NotFound("sim env '" + id + "' not found (deleted, expired or never created)");
  it->second->last_used_ns.store(now_ns_());
  return it->second;
}

Result<json> SimEnvRegistry::Create(const json& request, const std::string& principal) {
  auto parsed = ParseRequest(request, limits_);
  if (!parsed.ok()) return parsed.status();
  sim_envs_json::Parsed& p = *parsed;
  control::EnvOptions& o = p.options;
  json fork = nullptr;
  if (p.twin) {
    if (twins_ == nullptr) return FailedPrecondition("$.twin: no twins to fork on this server");
    auto f = ForkTwin(*twins_, calibrations_, *p.twin);
    if (!f.ok()) return f.status();
    const int forked = static_cast<int>(f->pump_twins.size());
    if (forked > limits_.max_pumps && !p.pumps) {
      return InvalidArgument(
          fmt::format("$.pumps: twin '{}' has {} pumps, more than {}; give pumps to take the first", *p.twin,
                      forked, limits_.max_pumps));
    }
    o.pumps = p.pumps.value_or(forked);
    o.initial_wear.assign(static_cast<size_t>(o.pumps), kNaN);
    o.pump_parameters.assign(static_cast<size_t>(o.pumps), {});
    json pumps = json::array();
    for (int i = 0; i < o.pumps; ++i) {
      if (i < forked) {
        o.initial_wear[i] = f->wear[i];
        o.pump_parameters[i] = f->parameters[i];
        json params = json::object();
        for (const auto& [name, value] : f->parameters[i]) params[name] = value;
        json pump = {{"twin", f->pump_twins[i]},
                     {"impeller_wear", NumOrNull(f->wear[i])},
                     {"from", f->wear_from[i]},
                     {"parameters", std::move(params)}};
        if (!f->parameters_not_applied[i].empty())
          pump["parameters_not_applied"] = f->parameters_not_applied[i];
        pumps.push_back(std::move(pump));
      } else {
        pumps.push_back(
            {{"twin", nullptr}, {"impeller_wear", nullptr}, {"from", "seed: beyond the twin's pumps"}});
      }
    }
    if (std::isfinite(f->level_m)) o.initial_level_m = f->level_m;
    fork = {{"twin", f->twin},
            {"pumps", std::move(pumps)},
            {"tank",
             {{"twin", f->tank_twin.empty() ? json(nullptr) : json(f->tank_twin)},
              {"level_m", NumOrNull(f->level_m)},
              {"from", f->level_from}}}};
  } else if (p.pumps) {
    o.pumps = *p.pumps;
  }
  if (p.initial_wear) {
    if (static_cast<int>(p.initial_wear->size()) != o.pumps) {
      return InvalidArgument(
          fmt::format("$.initial_wear: has {} entries for {} pumps", p.initial_wear->size(), o.pumps));
    }
    o.initial_wear = *p.initial_wear;
  }
  if (p.initial_level_m) o.initial_level_m = *p.initial_level_m;
  const TimeNs now = now_ns_();
  if (p.time_of_day_s) {
    o.time_of_day_at_start_s = *p.time_of_day_s;
  } else {
    const TimeNs day = static_cast<TimeNs>(control::kSecondsPerDay) * kNsPerS;
    o.time_of_day_at_start_s = static_cast<double>(((now % day) + day) % day) / 1e9;
  }
  if (Status s = o.Validate(); !s.ok()) return InvalidArgument("$: " + s.message());
  auto env = control::StationEnv::Create(o);
  if (!env.ok()) return env.status();

  auto e = std::make_shared<Entry>();
  e->env = std::move(env).value();
  e->twin = p.twin.value_or("");
  e->created_by = principal;
  e->created_ns = now;
  e->last_used_ns.store(now);
  e->seed = p.seed;
  e->fork = fork;
  control::EnvObservation ob = e->env->Reset(p.seed);
  {
    std::lock_guard lk(mu_);
    ExpireLocked(now);
    if (static_cast<int>(envs_.size()) >= limits_.max_envs) {
      return ResourceExhausted(
          fmt::format("sim envs: {} sandboxes are live (the limit); delete one or let one expire after "
                      "{} s idle",
                      envs_.size(), limits_.idle_expiry_s));
    }
    do {
      std::string id = "env-";
      const uint64_t r = ids_();
      for (int i = 0; i < 4; ++i) id += kAlphabet[(r >> (4 * i)) & 15];
      e->id = std::move(id);
    } while (envs_.count(e->id) != 0);
    envs_[e->id] = e;
  }
  return json{{"id", e->id},
              {"seed", e->seed},
              {"options", OptionsToJson(o)},
              {"fork", e->fork},
              {"observation", SimObservationToJson(ob)}};
}

Result<json> SimEnvRegistry::Reset(const std::string& id, std::optional<uint64_t> seed) {
  auto e = Find(id);
  if (!e.ok()) return e.status();
  Entry& en = **e;
  std::lock_guard lk(en.mu);
  if (seed) en.seed = *seed;
  control::EnvObservation ob = en.env->Reset(en.seed);
  en.steps = 0;
  en.done = false;
  en.episode_reward = 0;
  return json{{"id", en.id}, {"seed", en.seed}, {"observation", SimObservationToJson(ob)}};
}

Result<json> SimEnvRegistry::Step(const std::string& id, const json& action) {
  auto e = Find(id);
  if (!e.ok()) return e.status();
  Entry& en = **e;
  std::lock_guard lk(en.mu);
  const int pumps = en.env->options().pumps;
  if (!action.is_object()) return InvalidArgument("$.action: must be an object {\"speeds_rpm\": [...]}");
  std::vector<std::optional<double>> act;
  bool has_speeds = false;
  for (auto it = action.begin(); it != action.end(); ++it) {
    if (it.key() != "speeds_rpm") return InvalidArgument("$.action." + it.key() + ": unknown field");
    has_speeds = true;
    if (!it->is_array() || static_cast<int>(it->size()) != pumps) {
      return InvalidArgument(
          fmt::format("$.action.speeds_rpm: must be an array of {} entries (one per pump)", pumps));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& v = (*it)[i];
      if (v.is_null()) {
        act.emplace_back(std::nullopt);
      } else if (v.is_number() && std::isfinite(v.get<double>())) {
        act.emplace_back(v.get<double>());
      } else {
        return InvalidArgument(fmt::format("$.action.speeds_rpm[{}]: must be a number or null", i));
      }
    }
  }
  if (!has_speeds) return InvalidArgument("$.action.speeds_rpm: required");
  if (en.done) {
    return FailedPrecondition(
        fmt::format("sim env '{}': the episode is done (episode_s {} s reached); reset it", id,
                    en.env->options().episode_s));
  }
  auto r = en.env->Step(act);
  if (!r.ok()) return r.status();
  ++en.steps;
  en.done = r->done;
  en.episode_reward += r->reward;
  const control::EpisodeStats& st = en.env->stats();
  return json{{"observation", SimObservationToJson(r->observation)},
              {"reward", r->reward},
              {"done", r->done},
              {"energy_kwh", r->energy_kwh},
              {"cost_eur", r->cost_eur},
              {"left_band", r->left_band},
              {"terminal_shortfall_eur", r->terminal_shortfall_eur},
              {"step", en.steps},
              {"episode",
               {{"simulated_s", st.simulated_s},
                {"reward", en.episode_reward},
                {"energy_kwh", st.energy_kwh},
                {"cost_eur", st.cost_eur},
                {"pumped_m3", st.pumped_m3},
                {"violation_s", st.violation_s},
                {"excursions", st.excursions},
                {"pump_starts", st.pump_starts}}}};
}

Status SimEnvRegistry::Delete(const std::string& id) {
  std::lock_guard lk(mu_);
  if (envs_.erase(id) == 0) return NotFound("sim env '" + id + "' not found");
  return Status::Ok();
}

json SimEnvRegistry::List() {
  std::vector<std::shared_ptr<Entry>> all;
  {
    std::lock_guard lk(mu_);
    ExpireLocked(now_ns_());
    for (const auto& [id, e] : envs_) all.push_back(e);
  }
  json arr = json::array();
  for (const auto& e : all) {
    std::lock_guard lk(e->mu);  // waits for a Step in flight on this sandbox
    arr.push_back({{"id", e->id},
                   {"twin", e->twin.empty() ? json(nullptr) : json(e->twin)},
                   {"created_by", e->created_by},
                   {"created_ns", e->created_ns},
                   {"last_used_ns", e->last_used_ns.load()},
                   {"seed", e->seed},
                   {"steps", e->steps},
                   {"done", e->done},
                   {"simulated_s", e->env->stats().simulated_s},
                   {"options", OptionsToJson(e->env->options())}});
  }
  return json{{"envs", std::move(arr)}};
}

Status SimEnvRegistry::Inspect(const std::string& id,
                               const std::function<void(const control::StationEnv&)>& fn) {
  auto e = Find(id);
  if (!e.ok()) return e.status();
  std::lock_guard lk((*e)->mu);
  fn(*(*e)->env);
  return Status::Ok();
}

}  // namespace doppel::engine
