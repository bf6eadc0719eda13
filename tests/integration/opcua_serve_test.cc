// doppel serve with an `opcua:` section against a real OPC UA server (node-opcua): subscribed
// variables become twin telemetry, and a command mapped to a node is written there and acked
// by the server's status code (docs/opcua.md).
#include <gtest/gtest.h>

#include "ingest/opcua_peers.h"
#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

TEST(IntegrationOpcUaServe, SubscribedNodesBecomeTelemetryAndACommandIsWrittenBack) {
  testing::NodeOpcUaServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  StationOptions o;
  o.extra_config =
      "opcua:\n"
      "  endpoint: " +
      server.endpoint() +
      "\n"
      "  publishing_interval_ms: 100\n"
      "  mappings:\n"
      "    - {node_id: \"ns=1;s=Pump1.Flow\", twin: pump-9, signal: flow_m3h}\n"
      "    - {node_id: \"ns=1;s=Pump1.Speed\", twin: pump-9, signal: speed_rpm}\n"
      "  writes:\n"
      "    - {twin: pump-9, command: setSpeed, node_id: \"ns=1;s=Pump1.Speed\"}\n";
  Station st(o);
  ASSERT_TRUE(st.StartServe()) << st.LogTails();
  // pump-9 is provisioned by the first reading from the OPC UA server.
  ASSERT_TRUE(WaitFor(
      [&] {
        json t = st.Twin("pump-9");
        return t.is_object() && t["telemetry"].contains("flow_m3h") && t["telemetry"].contains("speed_rpm");
      },
      std::chrono::seconds(30)))
      << st.LogTails();
  json t = st.Twin("pump-9");
  // Source timestamps come from the server (Flow's value encodes its own source time).
  const int64_t ts = t["telemetry"]["flow_m3h"]["ts"].get<int64_t>();
  const double v = t["telemetry"]["flow_m3h"]["value"].get<double>();
  EXPECT_NEAR(v, static_cast<double>((ts / 1'000'000) % 1'000'000) / 1000.0, 1e-6);

  HttpResult r = st.Post("/api/v1/twins/pump-9/commands",
                         {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1234}}}}, kOperator);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string cid = r.Json()["id"].get<std::string>();
  json c = st.WaitForCommandFinal("pump-9", cid);
  EXPECT_EQ(c.value("status", ""), "acked") << c.dump();
  // The node now holds the value, and the subscription reports it back as telemetry.
  EXPECT_TRUE(WaitFor(
      [&] {
        json tw = st.Twin("pump-9");
        return tw["telemetry"]["speed_rpm"]["value"].get<double>() == 1234.0;
      },
      std::chrono::seconds(15)))
      << st.Twin("pump-9").dump();
  st.DumpLogsIfFailed();
}

}  // namespace
}  // namespace doppel::integration
