// Scenario 7: HTTP batch ingest.
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

class IntegrationIngest : public SharedStationTest {};

TEST_F(IntegrationIngest, BatchIsAcceptedAndQueryable) {
  // Timestamps from an hour ago, one per second: apart from the plant's live samples.
  const int64_t t0 = WallNowNs() - 3600LL * 1'000'000'000;
  json readings = json::array();
  for (int i = 0; i < 20; ++i) {
    readings.push_back({{"twin", "tank-1"},
                        {"signal", "level_m"},
                        {"ts", t0 + i * 1'000'000'000LL},
                        {"value", 100.0 + i},
                        {"quality", i % 2 ? "good" : "uncertain"}});
  }
  readings.push_back({{"twin", "tank-1"}, {"signal", "demand_m3h"}, {"ts", t0}, {"value", 12.5}});
  HttpResult r = st().Post("/api/v1/ingest", {{"readings", readings}}, kOperator);
  ASSERT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.Json().value("accepted", -1), 21) << r.Describe();

  // 200 means durable and applied: queryable right away (poll briefly anyway).
  Points pts;
  ASSERT_TRUE(WaitFor(
      [&] {
        pts = st().History("tank-1", "level_m", t0, t0 + 19'000'000'000LL);
        return pts.size() >= 20;
      },
      std::chrono::seconds(10)))
      << pts.size() << " points";
  ASSERT_EQ(pts.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(pts[i].first, t0 + i * 1'000'000'000LL);
    EXPECT_DOUBLE_EQ(pts[i].second, 100.0 + i);
  }
  Points demand = st().History("tank-1", "demand_m3h", t0, t0);
  ASSERT_EQ(demand.size(), 1u);
  EXPECT_DOUBLE_EQ(demand[0].second, 12.5);
}

TEST_F(IntegrationIngest, BadElementIs400NamingItAndNothingIsStored) {
  const int64_t t0 = WallNowNs() - 7200LL * 1'000'000'000;
  json readings = json::array();
  readings.push_back({{"twin", "tank-1"}, {"signal", "level_m"}, {"ts", t0}, {"value", 1.0}});
  readings.push_back({{"twin", "tank-1"}, {"signal", "level_m"}, {"ts", t0 + 1}, {"value", 2.0}});
  readings.push_back({{"twin", "tank-1"}, {"signal", "level_m"}, {"ts", t0 + 2}, {"value", "high"}});
  HttpResult r = st().Post("/api/v1/ingest", {{"readings", readings}}, kOperator);
  ASSERT_EQ(r.status, 400) << r.Describe();
  EXPECT_EQ(r.Json()["error"].value("code", ""), "invalid_argument") << r.Describe();
  EXPECT_NE(r.body.find("$.readings[2]"), std::string::npos) << r.Describe();
  EXPECT_TRUE(st().History("tank-1", "level_m", t0, t0 + 10).empty()) << "a rejected batch was partly stored";

  // Other shapes.
  r = st().Post("/api/v1/ingest", {{"readings", {{{"twin", "tank-1"}, {"signal", "level_m"}, {"value", 1}}}}},
                kOperator);
  EXPECT_EQ(r.status, 400) << "missing ts: " << r.Describe();
  EXPECT_NE(r.body.find("$.readings[0]"), std::string::npos) << r.Describe();
  r = st().Post("/api/v1/ingest", {{"rows", json::array()}}, kOperator);
  EXPECT_EQ(r.status, 400) << r.Describe();
  r = Http(st().http_port(), "POST", "/api/v1/ingest", kOperator, "{\"readings\": [");
  EXPECT_EQ(r.status, 400) << r.Describe();
  r = st().Post(
      "/api/v1/ingest",
      {{"readings",
        {{{"twin", "tank-1"}, {"signal", "level_m"}, {"ts", t0}, {"value", 1}, {"quality", "meh"}}}}},
      kOperator);
  EXPECT_EQ(r.status, 400) << "bad quality: " << r.Describe();
}

TEST_F(IntegrationIngest, UnknownTwinThatNoRuleProvisionsIsRejectedNamingIt) {
  json readings = {{{"twin", "valve-7"}, {"signal", "position"}, {"ts", WallNowNs()}, {"value", 0.5}}};
  HttpResult r = st().Post("/api/v1/ingest", {{"readings", readings}}, kOperator);
  EXPECT_GE(r.status, 400) << r.Describe();
  EXPECT_LT(r.status, 500) << r.Describe();
  EXPECT_NE(r.body.find("valve-7"), std::string::npos) << r.Describe();
  EXPECT_EQ(st().Get("/api/v1/twins/valve-7").status, 404);
}

TEST_F(IntegrationIngest, UnknownSignalOfAKnownTwinIsRejectedNamingIt) {
  json readings = {{{"twin", "tank-1"}, {"signal", "colour"}, {"ts", WallNowNs()}, {"value", 0.5}}};
  HttpResult r = st().Post("/api/v1/ingest", {{"readings", readings}}, kOperator);
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(r.body.find("colour"), std::string::npos) << r.Describe();
}

TEST_F(IntegrationIngest, ProvisioningRuleCreatesANewTwinOnIngest) {
  // pump-40 is not served by the plant, but the pump-* rule provisions it.
  const int64_t ts = WallNowNs() - 60LL * 1'000'000'000;
  json readings = {{{"twin", "pump-40"}, {"signal", "flow_m3h"}, {"ts", ts}, {"value", 33.0}}};
  HttpResult r = st().Post("/api/v1/ingest", {{"readings", readings}}, kOperator);
  ASSERT_EQ(r.status, 200) << r.Describe();
  json t = st().Twin("pump-40");
  ASSERT_TRUE(t.is_object());
  EXPECT_EQ(t.value("model", ""), "dtmi:doppel:demo:Pump;1");
  // 200 means durable; the twin's latest value follows (applied by its shard).
  EXPECT_TRUE(WaitFor(
      [&] {
        t = st().Twin("pump-40");
        return t.is_object() && t["telemetry"].contains("flow_m3h");
      },
      std::chrono::seconds(10)))
      << t.dump();
  if (t["telemetry"].contains("flow_m3h")) {
    EXPECT_DOUBLE_EQ(t["telemetry"]["flow_m3h"]["value"].get<double>(), 33.0);
  }
  Points h = st().History("pump-40", "flow_m3h", ts, ts);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_DOUBLE_EQ(h[0].second, 33.0);
}

}  // namespace
}  // namespace doppel::integration
