// libFuzzer: any bytes as the serve config's control/analytics.rul sections and as a RUL band
// file give options or an error naming what is wrong, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "doppel/engine/control_loop.h"
#include "doppel/engine/rul_monitor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)doppel::engine::ParseControlLoopConfigYaml(text);
  (void)doppel::engine::ParseRulMonitorConfigYaml(text, "fuzz");
  (void)doppel::engine::RulBand::FromJson(text, "fuzz");
  return 0;
}
