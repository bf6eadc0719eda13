// libFuzzer: any bytes as a serve config give a config or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "doppel/core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = doppel::ParseServeConfig(std::string(reinterpret_cast<const char*>(data), size), "fuzz.yaml");
  (void)r;
  return 0;
}
