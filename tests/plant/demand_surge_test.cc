// The demand surge of the simulated plant (`doppel plant --demand-surge START_S:DURATION_S:FACTOR`):
// demand × factor inside [start, start + duration), the daily profile elsewhere, and the spec's
// parse errors naming the part that is wrong.
#include <gtest/gtest.h>

#include "doppel/plant/plant.h"
#include "doppel/plant/station_model.h"

namespace doppel::plant {
namespace {

TEST(DemandSurge, MultipliesTheProfileOnlyInsideItsWindow) {
  StationParams base = StationParams::Nominal(3);
  StationParams surged = base;
  surged.tank.surge_start_s = 600;
  surged.tank.surge_duration_s = 1800;
  surged.tank.surge_factor = 1.6;
  const StationModel a(base, FaultSchedule()), b(surged, FaultSchedule());
  for (double t : {0.0, 599.9, 2400.0, 5000.0}) EXPECT_DOUBLE_EQ(b.Demand(t), a.Demand(t)) << t;
  for (double t : {600.0, 1200.0, 2399.9}) EXPECT_DOUBLE_EQ(b.Demand(t), 1.6 * a.Demand(t)) << t;
}

TEST(DemandSurge, ThePlantAppliesTheParsedSurgeToItsTruth) {
  PlantOptions o;
  o.faults = false;
  o.start_time_ns = 1'700'000'000LL * kNsPerS;
  ASSERT_TRUE(ParseDemandSurge("10:20:2", &o).ok());
  EXPECT_EQ(o.demand_surge_start_s, 10);
  EXPECT_EQ(o.demand_surge_duration_s, 20);
  EXPECT_EQ(o.demand_surge_factor, 2);
  PlantOptions plain = o;
  plain.demand_surge_duration_s = 0;
  Plant p(nullptr, o), q(nullptr, plain);
  ASSERT_TRUE(p.StepFor(15).ok());
  ASSERT_TRUE(q.StepFor(15).ok());
  EXPECT_NEAR(p.Truth().tank.demand_m3h, 2 * q.Truth().tank.demand_m3h, 1e-9);
  ASSERT_TRUE(p.StepFor(20).ok());
  ASSERT_TRUE(q.StepFor(20).ok());
  EXPECT_NEAR(p.Truth().tank.demand_m3h, q.Truth().tank.demand_m3h, 1e-9);
}

TEST(DemandSurge, BadSpecsNameThePart) {
  PlantOptions o;
  auto err = [&](const std::string& spec) {
    PlantOptions copy = o;
    Status s = ParseDemandSurge(spec, &copy);
    EXPECT_EQ(copy.demand_surge_duration_s, 0) << spec << ": options changed on error";
    return s.ok() ? std::string("ok") : s.message();
  };
  EXPECT_NE(err("600:1800").find("START_S:DURATION_S:FACTOR"), std::string::npos);
  EXPECT_NE(err("x:1800:2").find("START_S 'x'"), std::string::npos) << err("x:1800:2");
  EXPECT_NE(err("600::2").find("DURATION_S ''"), std::string::npos) << err("600::2");
  EXPECT_NE(err("600:1800:2a").find("FACTOR '2a'"), std::string::npos);
  EXPECT_NE(err("600:1800:0").find("demand_surge_factor"), std::string::npos) << err("600:1800:0");
  EXPECT_NE(err("-5:1800:2").find("demand_surge_start_s"), std::string::npos);
}

}  // namespace
}  // namespace doppel::plant
