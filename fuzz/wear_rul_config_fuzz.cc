// libFuzzer: any bytes as the serve config's `analytics.wear_rul` mapping give options or an
// error naming the key, never a crash (analytics/wear_prognosis.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "doppel/analytics/wear_prognosis.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)doppel::analytics::ParseWearRulConfigYaml(text, "analytics.wear_rul");
  return 0;
}
