// The JSON of the simulation environments (sim_envs_json.h).
#include "doppel/engine/sim_envs_json.h"

#include <fmt/format.h>

#include <cmath>

#include "doppel/physics/system.h"
#include "doppel/plant/station_model.h"

namespace doppel::engine {

using nlohmann::json;

using physics::kNaN;

namespace sim_envs_json {

json NumOrNull(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json NumsOrNull(const std::vector<double>& vs) {
  json a = json::array();
  for (double v : vs) a.push_back(NumOrNull(v));
  return a;
}

json TariffToJson(const control::Tariff& t) {
  return {{"night_eur_kwh", t.night_eur_kwh}, {"day_eur_kwh", t.day_eur_kwh},
          {"peak_eur_kwh", t.peak_eur_kwh},   {"night_start_h", t.night_start_h},
          {"night_end_h", t.night_end_h},     {"peak_start_h", t.peak_start_h},
          {"peak_end_h", t.peak_end_h}};
}

json OptionsToJson(const control::EnvOptions& o) {
  return {{"pumps", o.pumps},
          {"period_s", o.period_s},
          {"episode_s", o.episode_s},
          {"integration_step_s", o.integration_step_s},
          {"time_of_day_s", o.time_of_day_at_start_s},
          {"level_min_m", o.level_min_m},
          {"level_max_m", o.level_max_m},
          {"initial_level_m", o.initial_level_m},
          {"initial_wear", NumsOrNull(o.initial_wear)},
          {"max_speed_rpm", o.max_speed_rpm},
          {"energy_weight", o.energy_weight},
          {"level_penalty_eur_per_m_h", o.level_penalty_eur_per_m_h},
          {"violation_penalty_eur", o.violation_penalty_eur},
          {"terminal_level_m", o.terminal_level_m >= 0 ? json(o.terminal_level_m) : json(nullptr)},
          {"terminal_shortfall_eur_per_m3", o.terminal_shortfall_eur_per_m3},
          {"tariff", TariffToJson(o.tariff)},
          {"wear_growth", o.wear_growth},
          {"faults", o.faults}};
}

namespace {

Result<double> Number(const json& j, const std::string& where) {
  if (!j.is_number()) return InvalidArgument(where + ": must be a number");
  const double v = j.get<double>();
  if (!std::isfinite(v)) return InvalidArgument(where + ": must be finite");
  return v;
}

// A number in [lo, hi] (hi_open: [lo, hi)).
Result<double> NumberIn(const json& j, const std::string& where, double lo, double hi, bool hi_open = false) {
  auto v = Number(j, where);
  if (!v.ok()) return v;
  if (*v < lo || *v > hi || (hi_open && *v == hi)) {
    return InvalidArgument(
        fmt::format("{}: {} is outside [{}, {}{}", where, *v, lo, hi, hi_open ? ")" : "]"));
  }
  return v;
}

Status ParseTariff(const json& j, control::Tariff* t) {
  if (!j.is_object()) return InvalidArgument("$.tariff: must be an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const std::string where = "$.tariff." + k;
    double* dst = k == "night_eur_kwh"   ? &t->night_eur_kwh
                  : k == "day_eur_kwh"   ? &t->day_eur_kwh
                  : k == "peak_eur_kwh"  ? &t->peak_eur_kwh
                  : k == "night_start_h" ? &t->night_start_h
                  : k == "night_end_h"   ? &t->night_end_h
                  : k == "peak_start_h"  ? &t->peak_start_h
                  : k == "peak_end_h"    ? &t->peak_end_h
                                         : nullptr;
    if (dst == nullptr) return InvalidArgument(where + ": unknown field");
    const bool hours = k.size() > 2 && k.compare(k.size() - 2, 2, "_h") == 0;
    auto v = hours ? NumberIn(*it, where, 0, 24) : NumberIn(*it, where, 0, 1e3);
    if (!v.ok()) return v.status();
    *dst = *v;
  }
  if (Status s = t->Validate(); !s.ok()) return InvalidArgument("$.tariff: " + s.message());
  return Status::Ok();
}

}  // namespace

Result<Parsed> ParseRequest(const json& j, const SimEnvLimits& lim) {
  if (!j.is_object()) return InvalidArgument("$: the request must be a JSON object");
  Parsed p;
  control::EnvOptions& o = p.options;
  const double tank_h = plant::TankParams{}.height_m;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const std::string where = "$." + k;
    Result<double> v = 0.0;
    if (k == "twin") {
      if (!it->is_string() || it->get_ref<const std::string&>().empty())
        return InvalidArgument(where + ": must be a non-empty string (a station or pump twin id)");
      p.twin = it->get<std::string>();
    } else if (k == "pumps") {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > lim.max_pumps)
        return InvalidArgument(fmt::format("{}: must be an integer in 1..{}", where, lim.max_pumps));
      p.pumps = static_cast<int>(it->get<int64_t>());
    } else if (k == "seed") {
      // A parsed non-negative integer is unsigned; one built in C++ from an int is signed.
      if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0))
        return InvalidArgument(where + ": must be a non-negative integer");
      p.seed = it->get<uint64_t>();
    } else if (k == "period_s") {
      if (!(v = NumberIn(*it, where, lim.min_period_s, lim.max_period_s)).ok()) return v.status();
      o.period_s = *v;
    } else if (k == "episode_s") {
      if (!(v = NumberIn(*it, where, 1, lim.max_episode_s)).ok()) return v.status();
      o.episode_s = *v;
    } else if (k == "integration_step_s") {
      if (!(v = NumberIn(*it, where, lim.min_integration_step_s, 5)).ok()) return v.status();
      o.integration_step_s = *v;
    } else if (k == "time_of_day_s") {
      if (!(v = NumberIn(*it, where, 0, control::kSecondsPerDay, true)).ok()) return v.status();
      p.time_of_day_s = *v;
    } else if (k == "level_min_m" || k == "level_max_m") {
      if (!(v = NumberIn(*it, where, 0, tank_h)).ok()) return v.status();
      (k == "level_min_m" ? o.level_min_m : o.level_max_m) = *v;
    } else if (k == "initial_level_m") {
      if (!(v = NumberIn(*it, where, 0, tank_h)).ok()) return v.status();
      p.initial_level_m = *v;
    } else if (k == "terminal_level_m") {
      if (it->is_null()) continue;
      if (!(v = NumberIn(*it, where, 0, tank_h)).ok()) return v.status();
      o.terminal_level_m = *v;
    } else if (k == "max_speed_rpm") {
      if (!(v = NumberIn(*it, where, 100, 3600)).ok()) return v.status();
      o.max_speed_rpm = *v;
    } else if (k == "energy_weight" || k == "level_penalty_eur_per_m_h" || k == "violation_penalty_eur" ||
               k == "terminal_shortfall_eur_per_m3") {
      if (!(v = NumberIn(*it, where, 0, 1e6)).ok()) return v.status();
      (k == "energy_weight"               ? o.energy_weight
       : k == "level_penalty_eur_per_m_h" ? o.level_penalty_eur_per_m_h
       : k == "violation_penalty_eur"     ? o.violation_penalty_eur
                                          : o.terminal_shortfall_eur_per_m3) = *v;
    } else if (k == "tariff") {
      DOPPEL_RETURN_IF_ERROR(ParseTariff(*it, &o.tariff));
    } else if (k == "wear_growth" || k == "faults") {
      if (!it->is_boolean()) return InvalidArgument(where + ": must be true or false");
      (k == "faults" ? o.faults : o.wear_growth) = it->get<bool>();
    } else if (k == "initial_wear") {
      if (!it->is_array()) return InvalidArgument(where + ": must be an array of numbers or nulls");
      std::vector<double> w;
      for (size_t i = 0; i < it->size(); ++i) {
        const json& e = (*it)[i];
        if (e.is_null()) {
          w.push_back(kNaN);
          continue;
        }
        if (!(v = NumberIn(e, fmt::format("{}[{}]", where, i), 0, 0.95)).ok()) return v.status();
        w.push_back(*v);
      }
      p.initial_wear = std::move(w);
    } else {
      return InvalidArgument(where + ": unknown field");
    }
  }
  if (!(o.level_min_m < o.level_max_m)) {
    return InvalidArgument(
        fmt::format("$.level_min_m: {} m must be below level_max_m {} m", o.level_min_m, o.level_max_m));
  }
  if (o.integration_step_s > o.period_s) {
    return InvalidArgument(fmt::format("$.integration_step_s: {} s must not exceed period_s {} s",
                                       o.integration_step_s, o.period_s));
  }
  if (o.episode_s < o.period_s) {
    return InvalidArgument(
        fmt::format("$.episode_s: {} s is shorter than one period_s ({} s)", o.episode_s, o.period_s));
  }
  return p;
}

}  // namespace sim_envs_json

using sim_envs_json::NumOrNull;
using sim_envs_json::NumsOrNull;

json SimObservationToJson(const control::EnvObservation& ob) {
  return {{"t_s", ob.t_s},
          {"time_of_day_h", ob.time_of_day_h},
          {"level_m", NumOrNull(ob.level_m)},
          {"demand_m3h", NumOrNull(ob.demand_m3h)},
          {"price_eur_kwh", ob.price_eur_kwh},
          {"band", control::TariffBandName(ob.band)},
          {"speed_rpm", NumsOrNull(ob.speed_rpm)},
          {"flow_m3h", NumsOrNull(ob.flow_m3h)},
          {"power_kw", NumsOrNull(ob.power_kw)}};
}

Result<control::EnvObservation> SimObservationFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("observation: must be an object");
  control::EnvObservation ob;
  auto num = [&](const char* k, double* out) -> Status {
    auto it = j.find(k);
    if (it == j.end()) return InvalidArgument(std::string("observation.") + k + ": required");
    if (it->is_null()) {
      *out = kNaN;
    } else if (it->is_number()) {
      *out = it->get<double>();
    } else {
      return InvalidArgument(std::string("observation.") + k + ": must be a number or null");
    }
    return Status::Ok();
  };
  auto nums = [&](const char* k, std::vector<double>* out) -> Status {
    auto it = j.find(k);
    if (it == j.end() || !it->is_array())
      return InvalidArgument(std::string("observation.") + k + ": must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& v = (*it)[i];
      if (!v.is_null() && !v.is_number())
        return InvalidArgument(fmt::format("observation.{}[{}]: must be a number or null", k, i));
      out->push_back(v.is_null() ? kNaN : v.get<double>());
    }
    return Status::Ok();
  };
  DOPPEL_RETURN_IF_ERROR(num("t_s", &ob.t_s));
  DOPPEL_RETURN_IF_ERROR(num("time_of_day_h", &ob.time_of_day_h));
  DOPPEL_RETURN_IF_ERROR(num("level_m", &ob.level_m));
  DOPPEL_RETURN_IF_ERROR(num("demand_m3h", &ob.demand_m3h));
  DOPPEL_RETURN_IF_ERROR(num("price_eur_kwh", &ob.price_eur_kwh));
  auto band = j.find("band");
  if (band == j.end() || !band->is_string()) return InvalidArgument("observation.band: must be a string");
  bool known = false;
  for (control::TariffBand b :
       {control::TariffBand::kNight, control::TariffBand::kDay, control::TariffBand::kPeak}) {
    if (*band == control::TariffBandName(b)) {
      ob.band = b;
      known = true;
    }
  }
  if (!known) return InvalidArgument("observation.band: must be night, day or peak");
  DOPPEL_RETURN_IF_ERROR(nums("speed_rpm", &ob.speed_rpm));
  DOPPEL_RETURN_IF_ERROR(nums("flow_m3h", &ob.flow_m3h));
  DOPPEL_RETURN_IF_ERROR(nums("power_kw", &ob.power_kw));
  return ob;
}

}  // namespace doppel::engine
