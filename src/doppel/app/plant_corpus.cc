#include "doppel/app/plant_corpus.h"

#include "doppel/plant/plant.h"
#include "doppel/platform/pubsub.h"

namespace doppel::app {

std::vector<PlantMessage> CapturePlantTelemetry(int pumps, size_t count, uint64_t seed, bool pumps_only) {
  platform::InProcessBroker broker;
  auto capture = broker.Connect("capture");
  std::vector<PlantMessage> out;
  out.reserve(count + pumps + 1);
  (void)capture->Subscribe("plant/+/telemetry", 1, [&](std::string_view t, std::string_view p) {
    size_t a = t.find('/'), b = t.rfind('/');
    std::string twin(t.substr(a + 1, b - a - 1));
    if (pumps_only && twin.rfind("pump-", 0) != 0) return;
    out.push_back({std::string(t), std::move(twin), std::string(p)});
  });
  (void)capture->Start();
  auto bus = broker.Connect("plant");
  (void)bus->Start();
  plant::PlantOptions po;
  po.pumps = pumps;
  po.rate_hz = 10;
  po.seed = seed;
  po.start_time_ns = 1'700'000'000'000'000'000;
  plant::Plant plant(bus.get(), po);
  while (out.size() < count) (void)plant.Tick();
  out.resize(count);
  return out;
}

}  // namespace doppel::app
