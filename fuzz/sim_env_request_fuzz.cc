// libFuzzer: any bytes as the body of POST /api/v1/sim/envs (a sandbox's create request) or as an
// observation give a parsed value or an error naming the field, never a crash or an exception
// (engine/sim_envs_json.h).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "doppel/engine/sim_envs.h"
#include "doppel/engine/sim_envs_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  (void)doppel::engine::sim_envs_json::ParseRequest(j, doppel::engine::SimEnvLimits{});
  (void)doppel::engine::SimObservationFromJson(j);
  return 0;
}
