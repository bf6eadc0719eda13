// Scenario: an FMU as a twin's behavior model, end to end over real mosquitto and serve. The
// serve config's `behavior:` list binds the demo tank model to the test tank FMU
// (tests/fmu/models/tank.c); the test publishes a tank's level over MQTT from an independent
// integration with an outlet coefficient other than the FMU's; GET .../state has the FMU's state
// and the estimated coefficient with std; POST .../whatif simulates the FMU forward.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <random>
#include <thread>

#include "doppel/platform/pubsub.h"
#include "integration/harness.h"

// DOPPEL_FMU_MODEL_DIR: where CMake builds the test FMUs (fmu_model_<id> targets).
#include "fmu/fmu_test_util.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

TEST(IntegrationFmuTwin, ServeEstimatesThroughTheFmuAndRunsWhatIfs) {
  testing::TempDir fmu_dir;
  const std::string fmu = fmu::testing::PackFmu(fmu_dir, "tank");
  StationOptions so;
  so.extra_config =
      "behavior:\n"
      "  - model: \"dtmi:doppel:demo:Tank;1\"\n"
      "    fmu: " +
      fmu +
      "\n"
      "    outputs: {h: level_m}\n"
      "    inputs: {q_in: 0.02}\n"
      "    sensor_std: {level_m: 0.005}\n"
      "    states: {h: {initial_std: 0.05, process_std: 1.0e-4, min: 0}}\n"
      "    estimate: [{parameter: k, std: 0.02, process_std: 1.0e-5, min: 0.001, max: 1}]\n";
  Station st(so);
  ASSERT_TRUE(st.StartServe()) << st.LogTails();

  platform::MqttOptions mo;
  mo.port = st.mqtt_port();
  mo.client_id = "it-fmu-" + std::to_string(st.http_port());
  mo.clean_session = true;
  auto bus = platform::NewMqttBus(mo);
  ASSERT_TRUE(bus->Start().ok());
  // Truth: k = 0.04 (the FMU's 0.05), q_in = 0.02, h0 = 1; Euler at 10 ms, 1 Hz readings.
  const int kSeconds = 400;
  const int64_t t0 = WallNowNs() - int64_t{kSeconds} * 1'000'000'000;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 0.005);
  double h = 1.0;
  for (int t = 0; t <= kSeconds; ++t) {
    const json msg = {{"ts", t0 + int64_t{t} * 1'000'000'000}, {"level_m", h + noise(rng)}};
    Status s;
    for (int tries = 0; tries < 200; ++tries) {
      s = bus->Publish("plant/tank-7/telemetry", msg.dump(), 1);
      if (s.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (int i = 0; i < 100; ++i) h += 0.01 * (0.02 - 0.04 * std::sqrt(h)) / 2.0;
  }
  HttpResult r;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = st.Get("/api/v1/twins/tank-7/state", kViewer);
        return r.status == 200 && json::parse(r.body)["nis"]["updates"].get<int64_t>() >= kSeconds;
      },
      std::chrono::seconds(30)))
      << r.Describe() << st.LogTails();
  json j = json::parse(r.body);
  EXPECT_EQ(j["model"], "dtmi:doppel:demo:Tank;1");
  EXPECT_EQ(j["estimator"], "ekf");
  ASSERT_TRUE(j["states"].contains("h")) << j.dump();
  EXPECT_EQ(j["states"]["h"]["unit"], "m");
  EXPECT_NEAR(j["states"]["h"]["value"].get<double>(), h, 0.02);
  ASSERT_TRUE(j["parameters"].contains("k")) << j.dump();
  EXPECT_NEAR(j["parameters"]["k"]["value"].get<double>(), 0.04, 0.004);
  EXPECT_GT(j["parameters"]["k"]["std"].get<double>(), 0.0);
  EXPECT_LT(j["parameters"]["k"]["std"].get<double>(), 0.02);

  r = st.Post(
      "/api/v1/twins/tank-7/whatif",
      {{"horizon_s", 300}, {"step_s", 10}, {"samples", 50}, {"overrides", {{"inputs", {{"q_in", 0.05}}}}}},
      kOperator);
  ASSERT_EQ(r.status, 200) << r.Describe();
  json w = json::parse(r.body);
  ASSERT_EQ(w["t"].size(), 31u);
  ASSERT_TRUE(w["outputs"].contains("level_m")) << r.body.substr(0, 300);
  const json& b = w["outputs"]["level_m"];
  for (size_t k = 0; k < 31; ++k) {
    ASSERT_LE(b["p5"][k].get<double>(), b["p50"][k].get<double>()) << k;
    ASSERT_LE(b["p50"][k].get<double>(), b["p95"][k].get<double>()) << k;
  }
  // More inflow than outflow: the level rises.
  EXPECT_GT(b["p50"][30].get<double>(), b["p50"][0].get<double>() + 0.05);
  st.DumpLogsIfFailed();
}

}  // namespace
}  // namespace doppel::integration
