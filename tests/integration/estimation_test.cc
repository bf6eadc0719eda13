// Scenario: estimation bound to the plant's pumps over real mosquitto, serve and plant.
// GET /state has the EKF's states and wear parameters with std and units; POST /whatif returns
// ordered percentile bands; est.* history is queryable next to the telemetry.
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

class IntegrationEstimation : public SharedStationTest {};

TEST_F(IntegrationEstimation, StateHasWearWithUncertainty) {
  ASSERT_TRUE(st().WaitForAllTelemetry());
  HttpResult r;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = st().Get("/api/v1/twins/pump-1/state", kViewer);
        return r.status == 200;
      },
      std::chrono::seconds(20)))
      << r.Describe();
  json j = json::parse(r.body);
  EXPECT_EQ(j["twin"], "pump-1");
  EXPECT_EQ(j["model"], "dtmi:doppel:demo:Pump;1");
  EXPECT_EQ(j["estimator"], "ekf");
  EXPECT_TRUE(j["ts"].is_number_integer());
  for (const char* p : {"impeller_wear", "bearing_wear"}) {
    ASSERT_TRUE(j["parameters"].contains(p)) << j.dump();
    const json& v = j["parameters"][p];
    EXPECT_GE(v["value"].get<double>(), 0.0);
    EXPECT_LE(v["value"].get<double>(), 1.0);
    EXPECT_GT(v["std"].get<double>(), 0.0);
    EXPECT_EQ(v["unit"], "1");
  }
  ASSERT_TRUE(j["states"].contains("speed_rpm")) << j.dump();
  EXPECT_EQ(j["states"]["speed_rpm"]["unit"], "rpm");
  EXPECT_GT(j["nis"]["updates"].get<int64_t>(), 0);
  // A tank has no behavior model bound.
  EXPECT_EQ(st().Get("/api/v1/twins/tank-1/state").status, 404);
}

TEST_F(IntegrationEstimation, EstimatesAreChartableHistory) {
  Points pts;
  ASSERT_TRUE(WaitFor(
      [&] {
        pts = st().History("pump-2", "est.impeller_wear", 0, WallNowNs() + 3600'000'000'000LL);
        return pts.size() >= 2;
      },
      std::chrono::seconds(20)));
  for (const auto& [ts, v] : pts) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
}

// The shared station binds a live online fit to pump-1 only (harness.cc).
TEST_F(IntegrationEstimation, LiveOnlineFitIsInTheStateAndInHistory) {
  HttpResult r;
  json j;
  ASSERT_TRUE(WaitFor(
      [&] {
        r = st().Get("/api/v1/twins/pump-1/state", kViewer);
        if (r.status != 200) return false;
        j = json::parse(r.body);
        return j.contains("fit") && j["fit"]["samples"].get<int64_t>() >= 3;
      },
      std::chrono::seconds(20)))
      << r.Describe();
  const json& fit = j["fit"];
  EXPECT_DOUBLE_EQ(fit["forgetting"].get<double>(), 0.999);
  EXPECT_EQ(fit["skipped"], 0);
  EXPECT_TRUE(fit["ts"].is_number_integer());
  for (const char* p : {"shutoff_head_m", "curve_k"}) {
    ASSERT_TRUE(fit["parameters"].contains(p)) << fit.dump();
    EXPECT_GT(fit["parameters"][p]["value"].get<double>(), 0.0) << p;
    EXPECT_GT(fit["parameters"][p]["std"].get<double>(), 0.0) << p;
  }
  EXPECT_EQ(fit["parameters"]["shutoff_head_m"]["unit"], "m");
  Points pts;
  ASSERT_TRUE(WaitFor(
      [&] {
        pts = st().History("pump-1", "fit.shutoff_head_m", 0, WallNowNs() + 3600'000'000'000LL);
        return pts.size() >= 2;
      },
      std::chrono::seconds(20)));
  // pump-2 has no entry: no fit, and no fit series to ask for.
  r = st().Get("/api/v1/twins/pump-2/state", kViewer);
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_FALSE(json::parse(r.body).contains("fit")) << r.body.substr(0, 300);
}

TEST_F(IntegrationEstimation, WhatIfReturnsOrderedBandsAndRejectsBadRequests) {
  ASSERT_TRUE(WaitFor([&] { return st().Get("/api/v1/twins/pump-1/state").status == 200; },
                      std::chrono::seconds(20)));
  HttpResult r = st().Post("/api/v1/twins/pump-1/whatif",
                           {{"horizon_s", 600},
                            {"step_s", 1},
                            {"samples", 50},
                            {"overrides", {{"inputs", {{"speed_rpm", 1400}}}}}},
                           kOperator);
  ASSERT_EQ(r.status, 200) << r.Describe();
  json j = json::parse(r.body);
  ASSERT_EQ(j["t"].size(), 601u);
  ASSERT_TRUE(j["outputs"].contains("flow_m3h")) << r.body.substr(0, 300);
  for (const auto& [name, b] : j["outputs"].items()) {
    ASSERT_EQ(b["p95"].size(), 601u) << name;
    for (size_t k = 0; k < 601; ++k) {
      ASSERT_LE(b["p5"][k].get<double>(), b["p50"][k].get<double>()) << name << " at " << k;
      ASSERT_LE(b["p50"][k].get<double>(), b["p95"][k].get<double>()) << name << " at " << k;
    }
  }
  EXPECT_NEAR(j["outputs"]["speed_rpm"]["p50"][600].get<double>(), 1400, 10);

  HttpResult bad = st().Post("/api/v1/twins/pump-1/whatif", {{"horizon_s", "soon"}}, kOperator);
  EXPECT_EQ(bad.status, 400) << bad.Describe();
  EXPECT_NE(bad.body.find("$.horizon_s"), std::string::npos) << bad.body;
  HttpResult big = st().Post("/api/v1/twins/pump-1/whatif", {{"horizon_s", 700000}}, kOperator);
  EXPECT_EQ(big.status, 400) << big.Describe();
  EXPECT_EQ(st().Post("/api/v1/twins/pump-1/whatif", {{"horizon_s", 60}}, kViewer).status, 403);
}

}  // namespace
}  // namespace doppel::integration
