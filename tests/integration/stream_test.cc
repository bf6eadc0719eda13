// Scenario 8: the WebSocket stream delivers live telemetry of the subscribed twin and signal only.
#include <gtest/gtest.h>

#include <set>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

class IntegrationStream : public SharedStationTest {};

// Reads frames until `want` telemetry events arrived (or 20 s passed); returns the events.
std::vector<json> ReadEvents(WsClient& ws, size_t want, std::vector<std::string>* other_frames) {
  std::vector<json> events;
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string msg;
  while (events.size() < want && std::chrono::steady_clock::now() < end) {
    if (!ws.Read(&msg, std::chrono::seconds(2))) continue;
    json f = json::parse(msg, nullptr, false);
    if (f.is_object() && f.value("type", "") == "telemetry" && f["events"].is_array()) {
      for (auto& e : f["events"]) events.push_back(e);
    } else {
      other_frames->push_back(msg);
    }
  }
  return events;
}

TEST_F(IntegrationStream, SubscriptionToOneTwinSignalGetsOnlyThatLive) {
  WsClient ws;
  ASSERT_TRUE(ws.Connect(st().http_port(), "/api/v1/stream?token=viewer-secret")) << ws.error();
  ASSERT_TRUE(ws.Send(R"({"subscribe": {"twins": ["pump-2"], "signals": ["flow_m3h"]}})")) << ws.error();
  std::string ack;
  ASSERT_TRUE(ws.Read(&ack, std::chrono::seconds(10))) << ws.error();
  json a = json::parse(ack, nullptr, false);
  EXPECT_EQ(a.value("type", ""), "subscribed") << ack;
  EXPECT_EQ(a["twins"], json::array({"pump-2"})) << ack;
  EXPECT_EQ(a["signals"], json::array({"flow_m3h"})) << ack;

  const int64_t t_subscribed = WallNowNs();
  std::vector<std::string> others;
  std::vector<json> events = ReadEvents(ws, 5, &others);
  ASSERT_GE(events.size(), 5u) << "too few events; other frames: " << others.size() << "; " << ws.error();
  int64_t prev = 0;
  for (const auto& e : events) {
    EXPECT_EQ(e.value("twin", ""), "pump-2") << e.dump();
    EXPECT_EQ(e.value("signal", ""), "flow_m3h") << e.dump();
    EXPECT_TRUE(e["value"].is_number()) << e.dump();
    EXPECT_GT(e["ts"].get<int64_t>(), prev) << "events out of order: " << e.dump();
    prev = e["ts"].get<int64_t>();
  }
  // Live: the source time is recent (the plant's clock is the wall clock; allow 60 s).
  EXPECT_GT(events.back()["ts"].get<int64_t>(), t_subscribed - 60'000'000'000LL) << events.back().dump();
  EXPECT_TRUE(others.empty()) << "unexpected frame: " << others.front();
}

TEST_F(IntegrationStream, BearerHeaderWorksAndWildcardSignalsGetAllSignalsOfTheTwin) {
  WsClient ws;
  ASSERT_TRUE(ws.Connect(st().http_port(), "/api/v1/stream", kViewer)) << ws.error();
  ASSERT_TRUE(ws.Send(R"({"subscribe": {"twins": ["tank-1"]}})"));
  std::string ack;
  ASSERT_TRUE(ws.Read(&ack, std::chrono::seconds(10))) << ws.error();
  EXPECT_EQ(json::parse(ack, nullptr, false).value("type", ""), "subscribed") << ack;
  std::vector<std::string> others;
  std::vector<json> events = ReadEvents(ws, 6, &others);
  ASSERT_GE(events.size(), 6u);
  std::set<std::string> signals;
  for (const auto& e : events) {
    EXPECT_EQ(e.value("twin", ""), "tank-1") << e.dump();
    signals.insert(e.value("signal", ""));
  }
  EXPECT_TRUE(signals.count("level_m"));
  EXPECT_TRUE(signals.count("demand_m3h"));
}

TEST_F(IntegrationStream, BadClientMessageGetsAnErrorFrameAndTheConnectionStays) {
  WsClient ws;
  ASSERT_TRUE(ws.Connect(st().http_port(), "/api/v1/stream?token=viewer-secret")) << ws.error();
  ASSERT_TRUE(ws.Send("this is not json"));
  std::string msg;
  ASSERT_TRUE(ws.Read(&msg, std::chrono::seconds(10))) << ws.error();
  EXPECT_EQ(json::parse(msg, nullptr, false).value("type", ""), "error") << msg;
  ASSERT_TRUE(ws.Send(R"({"subscribe": {"twins": "pump-1"}})"));
  ASSERT_TRUE(ws.Read(&msg, std::chrono::seconds(10))) << ws.error();
  EXPECT_EQ(json::parse(msg, nullptr, false).value("type", ""), "error") << msg;
  // Still usable.
  ASSERT_TRUE(ws.Send(R"({"subscribe": {"twins": ["pump-1"], "signals": ["speed_rpm"]}})"));
  ASSERT_TRUE(ws.Read(&msg, std::chrono::seconds(10))) << ws.error();
  EXPECT_EQ(json::parse(msg, nullptr, false).value("type", ""), "subscribed") << msg;
  std::vector<std::string> others;
  auto events = ReadEvents(ws, 2, &others);
  ASSERT_GE(events.size(), 2u);
  for (const auto& e : events) EXPECT_EQ(e.value("signal", ""), "speed_rpm");
}

TEST_F(IntegrationStream, MissingOrBadTokenRefusesTheUpgradeWith401) {
  {
    WsClient ws;
    EXPECT_FALSE(ws.Connect(st().http_port(), "/api/v1/stream"));
    EXPECT_EQ(ws.handshake_status(), 401) << ws.error();
  }
  {
    WsClient ws;
    EXPECT_FALSE(ws.Connect(st().http_port(), "/api/v1/stream?token=wrong"));
    EXPECT_EQ(ws.handshake_status(), 401) << ws.error();
  }
}

}  // namespace
}  // namespace doppel::integration
