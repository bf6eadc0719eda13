// libFuzzer: device telemetry payloads and HTTP ingest bodies never crash the decoders.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/ingest/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view s(reinterpret_cast<const char*>(data), size);
  auto a = doppel::ingest::DecodeTelemetry("fuzz", s, 0);
  auto b = doppel::ingest::DecodeIngestBatch(s);
  if (a.ok() && !a->empty() && (*a)[0].twin != "fuzz") __builtin_trap();
  (void)b;
  return 0;
}
