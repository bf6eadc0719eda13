// Scenario: a completed impeller replacement reaching a running `doppel serve` as a work order
// resets the impeller-wear estimate (docs/enterprise.md, "What the context changes in the
// running twin"), checked against the simulated plant's hidden truth over real mosquitto.
//
// The plant runs in this process (plant::Plant on an MQTT bus, driven by StepFor: as fast as
// the broker takes it, one sample per simulated second), so the test controls simulated time
// exactly: pump-1 starts with a hidden impeller wear of 0.3, the estimate converges to it, the
// plant replaces the impeller (true wear 0) at kReplaceS, and the test posts the completed work
// order with that time. The control case runs the same plant without the work order.
#include <gtest/gtest.h>

#include <cmath>

#include "doppel/estimate/pump_estimator.h"
#include "doppel/plant/plant.h"
#include "doppel/platform/pubsub.h"
#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

constexpr double kConvergedS = 600;  // the wear estimate has converged by then (1 Hz samples)
constexpr double kReplaceS = 610;    // the plant's impeller replacement
constexpr double kAfterS = 120;      // observed this long after the replacement
constexpr double kInitialWear = 0.3;

StationOptions OnePump() {
  StationOptions o;
  o.pumps = 1;
  return o;
}

struct PlantRun {
  Station st{OnePump()};
  std::unique_ptr<platform::MessageBus> bus;
  std::unique_ptr<plant::Plant> plant;
  TimeNs start_ns = 0;

  void Start() {
    ASSERT_TRUE(st.StartServe()) << st.LogTails();
    platform::MqttOptions mo;
    ASSERT_TRUE(platform::ParseBrokerUrl(st.broker_url(), &mo).ok());
    mo.client_id = "it-reset-plant-" + std::to_string(st.http_port());
    bus = platform::NewMqttBus(mo);
    ASSERT_TRUE(bus->Start().ok());
    plant::PlantOptions po;
    po.pumps = 1;
    po.rate_hz = 1;
    po.time_scale = 1;  // StepFor: one sample per simulated second, no waiting
    po.faults = false;
    po.seed = 7;
    start_ns = WallNowNs() / kNsPerS * kNsPerS;
    po.start_time_ns = start_ns;
    po.initial_impeller_wear = {{"pump-1", kInitialWear}};
    po.impeller_replacements = {{"pump-1", kReplaceS}};
    plant = std::make_unique<plant::Plant>(bus.get(), po);
  }
  TimeNs At(double s) const { return start_ns + static_cast<TimeNs>(std::llround(s * 1e9)); }
  // Runs the plant to simulated second `s` and waits until serve's estimate has reached it.
  json StepTo(double s) {
    const double now = plant->stats().sim_time_s;
    EXPECT_TRUE(plant->StepFor(s - now).ok());
    json state;
    const bool reached = WaitFor(
        [&] {
          HttpResult r = st.Get("/api/v1/twins/pump-1/state", kViewer);
          if (r.status != 200) return false;
          state = r.Json();
          return state["ts"].get<TimeNs>() >= At(s);
        },
        std::chrono::seconds(60));
    EXPECT_TRUE(reached) << "estimate did not reach t = " << s << " s: " << state.dump().substr(0, 300);
    return state;
  }
  static double Wear(const json& state) {
    return state["parameters"]["impeller_wear"]["value"].get<double>();
  }
  static double Std(const json& state) { return state["parameters"]["impeller_wear"]["std"].get<double>(); }
  double TrueWear() const { return plant->Truth().pumps[0].impeller_wear; }
};

double PriorStd() { return estimate::DefaultPumpEstimatorSpec().initial_std[2]; }

TEST(IntegrationImpellerReset, ACompletedReplacementWorkOrderResetsTheWearEstimate) {
  PlantRun run;
  ASSERT_NO_FATAL_FAILURE(run.Start());
  json s = run.StepTo(kConvergedS);
  const double converged = PlantRun::Wear(s), converged_std = PlantRun::Std(s);
  EXPECT_NEAR(converged, run.TrueWear(), 0.1) << "not converged to the hidden wear";
  EXPECT_LT(PlantRun::Std(s), 0.2 * PriorStd());
  run.StepTo(kReplaceS - 1);
  EXPECT_GT(run.TrueWear(), 0.29);

  // The CMMS reports the replacement (completed at the plant's replacement time).
  json order = json::array({{{"id", "WO-4711"},
                             {"twin", "pump-1"},
                             {"kind", "impeller_replacement"},
                             {"status", "completed"},
                             {"planned_start_ns", run.At(kReplaceS - 3600)},
                             {"completed_ns", run.At(kReplaceS)},
                             {"description", "impeller eroded, replaced"}}});
  HttpResult r = run.st.Post("/api/v1/context/workorders?format=json", order, kAdmin);
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.Json()["effects"]["replacements"], 1) << r.body;

  s = run.StepTo(kReplaceS);  // the plant's new impeller and the estimator's reset, same tick
  EXPECT_EQ(run.TrueWear(), 0.0);
  const double wear_at_reset = PlantRun::Wear(s), std_at_reset = PlantRun::Std(s);
  EXPECT_LT(wear_at_reset, 0.05) << s.dump().substr(0, 400);
  // The prior (std 0.3) is restored before that step's measurement, which narrows it again: the
  // state served is the one after it. Still far wider than the converged std.
  EXPECT_GT(std_at_reset, 5 * converged_std) << "the std did not jump back towards the prior's";
  EXPECT_LE(std_at_reset, PriorStd());
  s = run.StepTo(kReplaceS + kAfterS);
  EXPECT_NEAR(PlantRun::Wear(s), run.TrueWear(), 0.1);
  std::cout << "[ measured ] converged " << converged << " ± " << converged_std << " (truth " << kInitialWear
            << "), after the reset step " << wear_at_reset << " ± " << std_at_reset << " (prior std "
            << PriorStd() << "), " << kAfterS << " s later " << PlantRun::Wear(s) << " ± " << PlantRun::Std(s)
            << " (truth " << run.TrueWear() << ")\n";
}

TEST(IntegrationImpellerReset, WithoutTheWorkOrderTheEstimateKeepsTheOldImpellersWear) {
  PlantRun run;
  ASSERT_NO_FATAL_FAILURE(run.Start());
  run.StepTo(kReplaceS - 1);
  json s = run.StepTo(kReplaceS + kAfterS);
  EXPECT_LT(run.TrueWear(), 1e-3);  // a new impeller (wearing from 0 again)
  EXPECT_GT(PlantRun::Wear(s), 0.2)
      << "the estimate moved to the new impeller by itself: the work order is moot";
  std::cout << "[ measured ] without the work order, " << kAfterS
            << " s after the replacement: " << PlantRun::Wear(s) << " ± " << PlantRun::Std(s)
            << " (truth 0)\n";
}

}  // namespace
}  // namespace doppel::integration
