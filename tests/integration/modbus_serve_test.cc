// doppel serve with a `modbus:` section against a real Modbus TCP server (libmodbus, started
// on a free port): polled registers become scaled twin telemetry, and a command mapped to a
// holding register is written there and acked (docs/modbus.md).
#include <gtest/gtest.h>

#include <cmath>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

TEST(IntegrationModbusServe, PolledRegistersBecomeTelemetryAndACommandIsWritten) {
  testing::TempDir dir;
  const int port = testing::FreePort();
  testing::ChildProcess server({MODBUS_TEST_SERVER, "--port", std::to_string(port)}, dir.file("modbus.log"));
  ASSERT_TRUE(testing::WaitForChildListening(server, port, 10000));
  StationOptions o;
  // The test server's map: holding 6..7 float32 12.375 (ABCD), input 1 int16 215; holding 20
  // is writable (tests/modbus/modbus_server.cc).
  o.extra_config =
      "modbus:\n"
      "  - port: " +
      std::to_string(port) +
      "\n"
      "    poll_interval_ms: 100\n"
      "    points:\n"
      "      - {twin: pump-8, signal: flow_m3h, table: holding, address: 6, type: float32}\n"
      "      - {twin: pump-8, signal: motor_temp_c, table: input, address: 1, type: int16, scale: 0.1}\n"
      "      - {twin: pump-8, signal: speed_rpm, table: holding, address: 20, type: uint16}\n"
      "    writes:\n"
      "      - {twin: pump-8, command: setSpeed, field: speed_rpm, table: holding, address: 20, type: "
      "uint16}\n";
  Station st(o);
  ASSERT_TRUE(st.StartServe()) << st.LogTails();
  ASSERT_TRUE(WaitFor(
      [&] {
        json t = st.Twin("pump-8");
        return t.is_object() && t["telemetry"].contains("flow_m3h") &&
               t["telemetry"].contains("motor_temp_c");
      },
      std::chrono::seconds(30)))
      << st.LogTails();
  json t = st.Twin("pump-8");
  EXPECT_DOUBLE_EQ(t["telemetry"]["flow_m3h"]["value"].get<double>(), 12.375);
  EXPECT_NEAR(t["telemetry"]["motor_temp_c"]["value"].get<double>(), 21.5, 1e-9);

  HttpResult r = st.Post("/api/v1/twins/pump-8/commands",
                         {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1234}}}}, kOperator);
  ASSERT_EQ(r.status, 202) << r.body;
  json c = st.WaitForCommandFinal("pump-8", r.Json()["id"].get<std::string>());
  EXPECT_EQ(c.value("status", ""), "acked") << c.dump();
  EXPECT_TRUE(
      WaitFor([&] { return st.Twin("pump-8")["telemetry"]["speed_rpm"]["value"].get<double>() == 1234.0; },
              std::chrono::seconds(15)))
      << st.Twin("pump-8").dump();
  st.DumpLogsIfFailed();
}

}  // namespace
}  // namespace doppel::integration
