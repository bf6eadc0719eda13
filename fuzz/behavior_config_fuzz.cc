// libFuzzer: any bytes as the serve config's `behavior:`, `calibration:` and `online_fit:` lists
// give parsed entries or an error naming the key, never a crash (engine/behavior_config.h; no
// files are touched).
#include <cstddef>
#include <cstdint>
#include <string>

#include "doppel/engine/behavior_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)doppel::engine::ParseBehaviorConfigYaml(text);
  (void)doppel::engine::ParseCalibrationYaml(text);
  (void)doppel::engine::ParseOnlineFitYaml(text);
  return 0;
}
