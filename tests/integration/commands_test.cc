// Scenarios 2 and 3: commands round-trip through the broker to the plant and back; device
// rejections, request validation and timeouts.
#include <gtest/gtest.h>

#include <cmath>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

std::vector<std::string> HistoryStatuses(const json& cmd) {
  std::vector<std::string> out;
  if (!cmd.is_object() || !cmd["history"].is_array()) return out;
  for (const auto& h : cmd["history"]) out.push_back(h.value("status", "?"));
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

double LatestSpeed(const Station& st, const std::string& pump) {
  json t = st.Twin(pump);
  if (!t.is_object() || !t["telemetry"].contains("speed_rpm")) return NAN;
  return t["telemetry"]["speed_rpm"]["value"].get<double>();
}

class IntegrationCommands : public SharedStationTest {};

TEST_F(IntegrationCommands, SetSpeedIsAckedAndThePumpFollowsTheSetpoint) {
  const std::string pump = "pump-3";
  double now = LatestSpeed(st(), pump);
  ASSERT_FALSE(std::isnan(now));
  // Close to the current speed, so the ramp (<= 100 rpm/s) takes about a second.
  double setpoint = std::round(now) + (now > 1500 ? -80 : 80);
  HttpResult r = st().Post("/api/v1/twins/" + pump + "/commands",
                           {{"name", "setSpeed"}, {"request", {{"speed_rpm", setpoint}}}}, kOperator);
  ASSERT_EQ(r.status, 202) << r.Describe();
  json c = r.Json();
  ASSERT_TRUE(c["id"].is_string()) << r.Describe();
  // 202: recorded and approved (an operator's command); the transport may already have sent it.
  EXPECT_TRUE(c.value("status", "") == "approved" || c.value("status", "") == "sent") << r.Describe();
  EXPECT_EQ(c.value("source", ""), "operator") << r.Describe();
  EXPECT_EQ(c.value("twin", ""), pump);
  EXPECT_EQ(c.value("issued_by", ""), "api:operator") << r.Describe();
  std::string cid = c["id"];
  EXPECT_EQ(r.Header("location"), "/api/v1/twins/" + pump + "/commands/" + cid);

  json fin = st().WaitForCommandFinal(pump, cid);
  ASSERT_EQ(fin.value("status", ""), "acked") << fin.dump();
  EXPECT_EQ(Join(HistoryStatuses(fin)), "proposed,approved,sent,acked") << fin.dump();
  // History timestamps are ordered.
  int64_t prev = 0;
  for (const auto& h : fin["history"]) {
    EXPECT_GE(h["at"].get<int64_t>(), prev) << fin.dump();
    prev = h["at"].get<int64_t>();
  }

  // The command is listed.
  HttpResult list = st().Get("/api/v1/twins/" + pump + "/commands", kViewer);
  ASSERT_EQ(list.status, 200) << list.Describe();
  bool listed = false;
  for (const auto& x : list.Items("commands")) listed |= x.value("id", "") == cid;
  EXPECT_TRUE(listed) << list.Describe();

  // The plant reports the new speed (sensor noise: a few rpm).
  double last = NAN;
  EXPECT_TRUE(WaitFor(
      [&] {
        last = LatestSpeed(st(), pump);
        return std::fabs(last - setpoint) < 25;
      },
      std::chrono::seconds(20)))
      << "setpoint " << setpoint << ", reported " << last;
}

TEST_F(IntegrationCommands, OutOfRangeSpeedIsRejectedWithTheRange) {
  HttpResult r = st().Post("/api/v1/twins/pump-1/commands",
                           {{"name", "setSpeed"}, {"request", {{"speed_rpm", 99999}}}}, kOperator);
  if (r.status == 400) {  // validated up front: also fine, if it names the field
    EXPECT_NE(r.body.find("speed_rpm"), std::string::npos) << r.Describe();
    return;
  }
  ASSERT_EQ(r.status, 202) << r.Describe();
  std::string cid = r.Json()["id"];
  json fin = st().WaitForCommandFinal("pump-1", cid);
  ASSERT_EQ(fin.value("status", ""), "rejected") << fin.dump();
  std::string reason = fin.value("reason", "");
  EXPECT_NE(reason.find("0..3000"), std::string::npos) << "reason does not mention the range: " << fin.dump();
  EXPECT_EQ(Join(HistoryStatuses(fin)), "proposed,approved,sent,rejected") << fin.dump();
  // The pump did not take the setpoint.
  EXPECT_LT(LatestSpeed(st(), "pump-1"), 3100);
}

TEST_F(IntegrationCommands, UnknownCommandNameIs400NamingIt) {
  HttpResult r = st().Post("/api/v1/twins/pump-1/commands",
                           {{"name", "selfDestruct"}, {"request", json::object()}}, kOperator);
  ASSERT_EQ(r.status, 400) << r.Describe();
  json e = r.Json();
  ASSERT_TRUE(e["error"].is_object()) << r.Describe();
  EXPECT_EQ(e["error"].value("code", ""), "invalid_argument") << r.Describe();
  std::string msg = e["error"].value("message", "");
  EXPECT_TRUE(msg.find("selfDestruct") != std::string::npos || msg.find("name") != std::string::npos)
      << r.Describe();
}

TEST_F(IntegrationCommands, BadRequestFieldIs400NamingTheField) {
  HttpResult r = st().Post("/api/v1/twins/pump-1/commands",
                           {{"name", "setSpeed"}, {"request", {{"speed_rpm", "fast"}}}}, kOperator);
  ASSERT_EQ(r.status, 400) << r.Describe();
  EXPECT_EQ(r.Json()["error"].value("code", ""), "invalid_argument") << r.Describe();
  EXPECT_NE(r.Json()["error"].value("message", "").find("speed_rpm"), std::string::npos) << r.Describe();

  r = st().Post("/api/v1/twins/pump-1/commands", {{"name", "setSpeed"}, {"request", {{"rpm", 1200}}}},
                kOperator);
  EXPECT_EQ(r.status, 400) << "a field the schema does not have: " << r.Describe();
  EXPECT_NE(r.body.find("rpm"), std::string::npos) << r.Describe();

  r = st().Post("/api/v1/twins/pump-1/commands", {{"request", {{"speed_rpm", 1200}}}}, kOperator);
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(r.body.find("name"), std::string::npos) << r.Describe();

  r = st().Post("/api/v1/twins/pump-1/commands", {{"name", "setSpeed"}, {"colour", "red"}}, kOperator);
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(r.body.find("colour"), std::string::npos) << r.Describe();

  r = Http(st().http_port(), "POST", "/api/v1/twins/pump-1/commands", kOperator, "{\"name\": ");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_NE(r.body.find("malformed JSON"), std::string::npos) << r.Describe();

  // The tank has no setSpeed.
  r = st().Post("/api/v1/twins/tank-1/commands", {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1}}}},
                kOperator);
  EXPECT_EQ(r.status, 400) << r.Describe();
}

// A JSON number outside the range of a double is a client error (400 naming the body), not a
// 500 that leaks the parser's exception text.
TEST_F(IntegrationCommands, NumberOutOfDoubleRangeInBodyIs400NotInternalError) {
  HttpResult r = Http(st().http_port(), "POST", "/api/v1/twins/pump-1/commands", kOperator,
                      R"({"name":"setSpeed","request":{"speed_rpm":1e400}})");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_EQ(r.Json()["error"].value("code", ""), "invalid_argument") << r.Describe();
  r = Http(st().http_port(), "POST", "/api/v1/twins", kAdmin,
           R"({"id":"pump-60","model":"dtmi:doppel:demo:Pump;1","desired":{"speed_setpoint_rpm":-1e999}})");
  EXPECT_EQ(r.status, 400) << r.Describe();
  EXPECT_EQ(st().Get("/api/v1/health", "").status, 200);
}

TEST_F(IntegrationCommands, UnknownTwinOrCommandIs404) {
  HttpResult r = st().Post("/api/v1/twins/pump-404/commands",
                           {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1}}}}, kOperator);
  EXPECT_EQ(r.status, 404) << r.Describe();
  r = st().Get("/api/v1/twins/pump-1/commands/c-does-not-exist");
  EXPECT_EQ(r.status, 404) << r.Describe();
  r = st().Get("/api/v1/twins/pump-404/commands");
  EXPECT_EQ(r.status, 404) << r.Describe();
}

// A twin created by hand whose device nobody serves: its command times out. Own station
// without a plant (the plant would reject an unknown pump id instead of staying silent).
TEST(IntegrationCommandTimeout, CommandToSilentDeviceTimesOutAfterTheConfiguredTimeout) {
  StationOptions o;
  o.command_timeout_ms = 2000;
  Station st(o);
  ASSERT_TRUE(st.StartServe()) << st.LogTails();
  HttpResult r = st.Post("/api/v1/twins", {{"id", "pump-99"}, {"model", "dtmi:doppel:demo:Pump;1"}}, kAdmin);
  ASSERT_EQ(r.status, 201) << r.Describe();
  EXPECT_EQ(r.Json().value("id", ""), "pump-99");
  r = st.Post("/api/v1/twins", {{"id", "pump-99"}, {"model", "dtmi:doppel:demo:Pump;1"}}, kAdmin);
  EXPECT_EQ(r.status, 409) << r.Describe();

  r = st.Post("/api/v1/twins/pump-99/commands", {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1000}}}},
              kOperator);
  ASSERT_EQ(r.status, 202) << r.Describe();
  std::string cid = r.Json()["id"];
  json fin = st.WaitForCommandFinal("pump-99", cid, std::chrono::seconds(30));
  ASSERT_EQ(fin.value("status", ""), "timed_out") << fin.dump();
  EXPECT_FALSE(fin.value("reason", "").empty()) << fin.dump();
  EXPECT_EQ(Join(HistoryStatuses(fin)), "proposed,approved,sent,timed_out") << fin.dump();
  // Not before the configured timeout (product timestamps, not test timing).
  int64_t sent_at = 0, timed_out_at = 0;
  for (const auto& h : fin["history"]) {
    if (h["status"] == "sent") sent_at = h["at"];
    if (h["status"] == "timed_out") timed_out_at = h["at"];
  }
  EXPECT_GE(timed_out_at - sent_at, 2000LL * 1'000'000) << fin.dump();
  // The missing ack raised an alert naming the command.
  HttpResult alerts = st.Get("/api/v1/alerts?twin=pump-99");
  ASSERT_EQ(alerts.status, 200) << alerts.Describe();
  bool found = false;
  for (const auto& a : alerts.Items("alerts")) {
    found |= a.value("rule", "") == "command_timeout" && a.value("reason", "").find(cid) != std::string::npos;
  }
  EXPECT_TRUE(found) << alerts.body;
}

}  // namespace
}  // namespace doppel::integration
