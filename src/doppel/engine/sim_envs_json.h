// Engine-private: the JSON of the simulation environments (sim_envs.h) — the create request's
// parser and the options, tariff and observation encoders. Every parse error names the field
// ("$.tariff.day_eur_kwh: 2000 is outside [0, 1000]").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "doppel/control/env.h"
#include "doppel/core/status.h"
#include "doppel/engine/sim_envs.h"

namespace doppel::engine::sim_envs_json {

// A number, or null for NaN/inf (JSON has no NaN).
nlohmann::json NumOrNull(double v);
nlohmann::json NumsOrNull(const std::vector<double>& vs);
nlohmann::json TariffToJson(const control::Tariff& t);
nlohmann::json OptionsToJson(const control::EnvOptions& o);

// A create request ({"twin", "pumps", "seed", "period_s", ...}; docs/api.md "Simulation
// sandboxes"), checked against the server's limits.
struct Parsed {
  control::EnvOptions options;
  uint64_t seed = 1;
  std::optional<std::string> twin;
  std::optional<int> pumps;
  std::optional<double> time_of_day_s, initial_level_m;
  std::optional<std::vector<double>> initial_wear;
};

Result<Parsed> ParseRequest(const nlohmann::json& j, const SimEnvLimits& lim);

}  // namespace doppel::engine::sim_envs_json
