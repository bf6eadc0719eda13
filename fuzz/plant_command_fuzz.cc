// libFuzzer: any bytes as a command to the simulated plant are acked, rejected or ignored,
// never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "doppel/plant/plant.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static doppel::plant::Plant* plant = [] {
    doppel::plant::PlantOptions o;
    o.pumps = 2;
    o.start_time_ns = 1;
    return new doppel::plant::Plant(nullptr, o);
  }();
  plant->HandleCommandMessage("plant/pump-1/commands",
                              std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
