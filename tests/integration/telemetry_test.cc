// Scenario 1: telemetry of every pump and the tank arrives over MQTT and is queryable.
#include <gtest/gtest.h>

#include <set>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

class IntegrationTelemetry : public SharedStationTest {};

TEST_F(IntegrationTelemetry, EveryPumpAndTheTankAreProvisionedAndListed) {
  HttpResult r = st().Get("/api/v1/twins");
  ASSERT_EQ(r.status, 200) << r.Describe();
  std::set<std::string> ids;
  for (const auto& t : r.Items("twins")) ids.insert(t.value("id", ""));
  for (int k = 1; k <= st().options().pumps; ++k)
    EXPECT_TRUE(ids.count("pump-" + std::to_string(k))) << r.Describe();
  EXPECT_TRUE(ids.count("tank-1")) << r.Describe();
  EXPECT_FALSE(ids.count("pump-" + std::to_string(st().options().pumps + 1)))
      << "a pump the plant does not have";
}

TEST_F(IntegrationTelemetry, TwinHasLatestValueOfAllSixPumpSignals) {
  for (int k = 1; k <= st().options().pumps; ++k) {
    std::string id = "pump-" + std::to_string(k);
    json t = st().Twin(id);
    ASSERT_TRUE(t.is_object()) << id;
    EXPECT_EQ(t.value("model", ""), "dtmi:doppel:demo:Pump;1");
    for (const auto& s : kPumpSignals) {
      ASSERT_TRUE(t["telemetry"].contains(s)) << id << " lacks " << s << ": " << t.dump();
      const json& v = t["telemetry"][s];
      EXPECT_TRUE(v["value"].is_number()) << v.dump();
      EXPECT_TRUE(v["ts"].is_number_integer()) << v.dump();
      // Source time is the plant's (start + simulated time), close to now: within an hour.
      EXPECT_NEAR(static_cast<double>(v["ts"].get<int64_t>()), static_cast<double>(WallNowNs()), 3600e9)
          << v.dump();
      EXPECT_TRUE(v["quality"].is_string()) << v.dump();
    }
  }
  json tank = st().Twin("tank-1");
  ASSERT_TRUE(tank.is_object());
  EXPECT_TRUE(tank["telemetry"].contains("level_m")) << tank.dump();
  EXPECT_TRUE(tank["telemetry"].contains("demand_m3h")) << tank.dump();
}

TEST_F(IntegrationTelemetry, HistoryIsTimeOrderedAndGrows) {
  Points first = st().History("pump-2", "flow_m3h", 0, WallNowNs(), 1000);
  ASSERT_FALSE(first.empty());
  for (size_t i = 1; i < first.size(); ++i) {
    ASSERT_LT(first[i - 1].first, first[i].first) << "history not strictly time-ordered at " << i;
  }
  size_t n1 = first.size();
  // It grows: at 5 Hz a few more samples arrive within a second or two.
  Points later;
  ASSERT_TRUE(WaitFor(
      [&] {
        later = st().History("pump-2", "flow_m3h", 0, WallNowNs() + 1'000'000'000, 1000);
        return later.size() > n1 + 2;
      },
      std::chrono::seconds(15)))
      << "history stayed at " << later.size() << " points (was " << n1 << ")";
  // Points already there stay there (same timestamps at the front).
  for (size_t i = 0; i < n1 && i < later.size(); ++i) ASSERT_EQ(first[i].first, later[i].first) << i;
}

TEST_F(IntegrationTelemetry, PointsParameterBoundsTheAnswer) {
  ASSERT_TRUE(WaitFor([&] { return st().History("pump-1", "flow_m3h", 0, WallNowNs()).size() >= 20; },
                      std::chrono::seconds(15)));
  Points five = st().History("pump-1", "flow_m3h", 0, WallNowNs(), 5);
  EXPECT_GE(five.size(), 1u);
  EXPECT_LE(five.size(), 5u);
  for (size_t i = 1; i < five.size(); ++i) EXPECT_LE(five[i - 1].first, five[i].first);
  Points one = st().History("pump-1", "flow_m3h", 0, WallNowNs(), 1);
  EXPECT_LE(one.size(), 1u);
}

TEST_F(IntegrationTelemetry, DownsampledValuesStayWithinTheRawRange) {
  int64_t to = WallNowNs();
  Points raw = st().History("pump-1", "motor_temp_c", 0, to, 100000);
  Points ds = st().History("pump-1", "motor_temp_c", 0, to, 4);
  ASSERT_FALSE(raw.empty());
  ASSERT_FALSE(ds.empty());
  double lo = raw[0].second, hi = raw[0].second;
  for (auto& p : raw) lo = std::min(lo, p.second), hi = std::max(hi, p.second);
  for (auto& p : ds) {
    EXPECT_GE(p.second, lo);
    EXPECT_LE(p.second, hi);
    EXPECT_GE(p.first, raw.front().first);
    EXPECT_LE(p.first, raw.back().first);
  }
}

TEST_F(IntegrationTelemetry, QueryParameterErrorsNameTheParameter) {
  HttpResult r = st().Get("/api/v1/twins/pump-1/telemetry?signal=flow_m3h&points=abc");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(r.body.find("points"), std::string::npos) << r.Describe();
  r = st().Get("/api/v1/twins/pump-1/telemetry?signal=flow_m3h&points=0");
  EXPECT_EQ(r.status, 400) << r.Describe();
  r = st().Get("/api/v1/twins/pump-1/telemetry?signal=flow_m3h&from=10&to=5");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(r.body.find("from"), std::string::npos) << r.Describe();
  r = st().Get("/api/v1/twins/pump-1/telemetry");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(r.body.find("signal"), std::string::npos) << r.Describe();
  r = st().Get("/api/v1/twins/pump-77/telemetry?signal=flow_m3h");
  EXPECT_EQ(r.status, 404) << r.Describe();
  r = st().Get("/api/v1/twins/pump-77");
  EXPECT_EQ(r.status, 404) << r.Describe();
  EXPECT_TRUE(r.Json()["error"]["code"].is_string()) << r.Describe();
}

}  // namespace
}  // namespace doppel::integration
