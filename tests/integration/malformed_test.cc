// Scenario 6: a stream of malformed MQTT payloads leaves the server up and answering, is
// counted in /metrics, and good telemetry keeps flowing.
#include <gtest/gtest.h>

#include <thread>

#include "doppel/platform/pubsub.h"
#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

class IntegrationMalformed : public SharedStationTest {};

// Payloads the telemetry decoder must refuse (docs/formats/telemetry.md, ingest/decode.h).
std::vector<std::string> MalformedPayloads() {
  std::vector<std::string> v = {
      "",                                                       // empty
      "garbage",                                                // not JSON
      "{\"flow_m3h\": nope",                                    // truncated
      "{",                                                      // unterminated
      "[1,2,3]",                                                // not an object
      "42",                                                     // scalar
      "\"a string\"",                                           //
      "null",                                                   //
      "{\"ts\": \"yesterday\", \"flow_m3h\": 1}",               // wrong type of ts
      "{\"ts\": 1.5e300, \"flow_m3h\": 1}",                     // ts not an int64
      "{\"ts\": 99999999999999999999999999, \"flow_m3h\": 1}",  // ts overflows int64
      "{\"flow_m3h\": \"fast\"}",                               // string value
      "{\"flow_m3h\": [1, 2]}",                                 // array value
      "{\"flow_m3h\": {\"v\": 1}}",                             // object value
      "{\"flow_m3h\": 1e99999}",                                // number out of double range
      "{\"flow_m3h\": NaN}",                                    // not JSON
      "{\"flow_m3h\": 1,}",                                     // trailing comma
      "{\"quality\": 7, \"flow_m3h\": 1}",                      // bad quality type
      std::string("\xff\xfe\x00\x01", 4),                       // binary
      "{\"flow_m3h\": 1} trailing",                             // trailing garbage
  };
  v.push_back(std::string(20000, '[') + std::string(20000, ']'));  // deep nesting (array)
  std::string deep;                                                // deep nesting (objects)
  for (int i = 0; i < 5000; ++i) deep += "{\"a\":";
  deep += "1" + std::string(5000, '}');
  v.push_back(deep);
  v.push_back("{\"flow_m3h\": \"" + std::string(200000, 'x') + "\"}");  // big
  return v;
}

TEST_F(IntegrationMalformed, GarbageIsCountedAndTheServerKeepsIngesting) {
  double malformed_before = st().Metric("doppel_readings_malformed_total");
  ASSERT_GE(malformed_before, 0) << "no doppel_readings_malformed_total in /metrics";
  json pump1 = st().Twin("pump-1");
  ASSERT_TRUE(pump1.is_object());
  int64_t last_ts_before = pump1["telemetry"]["flow_m3h"]["ts"];

  platform::MqttOptions mo;
  mo.port = st().mqtt_port();
  mo.client_id = "it-garbage-" + std::to_string(st().http_port());
  mo.clean_session = true;
  auto bus = platform::NewMqttBus(mo);
  ASSERT_TRUE(bus->Start().ok());
  auto payloads = MalformedPayloads();
  const int kMessages = 500;
  for (int i = 0; i < kMessages; ++i) {
    const std::string& p = payloads[i % payloads.size()];
    // Spread over the pumps and the tank: each is a provisioned twin with live telemetry.
    std::string twin = i % 4 == 3 ? "tank-1" : "pump-" + std::to_string(1 + i % 3);
    Status s;
    for (int tries = 0; tries < 200; ++tries) {
      s = bus->Publish("plant/" + twin + "/telemetry", p, 1);
      if (s.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  // Garbage on the ack topic too: it must not disturb commands.
  for (int i = 0; i < 50; ++i)
    (void)bus->Publish("plant/pump-1/commands/ack", payloads[i % payloads.size()], 1);

  double malformed = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        malformed = st().Metric("doppel_readings_malformed_total");
        return malformed >= malformed_before + kMessages;
      },
      std::chrono::seconds(20)))
      << "doppel_readings_malformed_total went from " << malformed_before << " to " << malformed
      << ", expected +" << kMessages;
  bus->Stop();

  // Still up and answering, and the good telemetry keeps flowing.
  EXPECT_EQ(st().Get("/api/v1/health", "").status, 200);
  int64_t ts = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        json t = st().Twin("pump-1");
        if (!t.is_object()) return false;
        ts = t["telemetry"]["flow_m3h"]["ts"];
        return ts > last_ts_before + 1'000'000'000LL;
      },
      std::chrono::seconds(15)))
      << "pump-1 telemetry stopped after the garbage (last ts " << ts << ")";
  // No garbage value made it into the twin.
  json t = st().Twin("pump-1");
  double flow = t["telemetry"]["flow_m3h"]["value"];
  EXPECT_LT(flow, 1e6) << t.dump();

  // Commands still round-trip.
  HttpResult r = st().Post("/api/v1/twins/pump-2/commands",
                           {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1250}}}}, kOperator);
  ASSERT_EQ(r.status, 202) << r.Describe();
  json fin = st().WaitForCommandFinal("pump-2", r.Json()["id"]);
  EXPECT_EQ(fin.value("status", ""), "acked") << fin.dump();
}

TEST_F(IntegrationMalformed, ReadingsForUnknownSignalsOrUnprovisionedTwinsAreRefusedNotFatal) {
  platform::MqttOptions mo;
  mo.port = st().mqtt_port();
  mo.client_id = "it-refused-" + std::to_string(st().http_port());
  mo.clean_session = true;
  auto bus = platform::NewMqttBus(mo);
  ASSERT_TRUE(bus->Start().ok());
  int64_t ts = WallNowNs();
  for (int i = 0; i < 20; ++i) {
    std::string p = "{\"ts\":" + std::to_string(ts + i) + ",\"no_such_signal\":1.0}";
    ASSERT_TRUE(bus->Publish("plant/pump-1/telemetry", p, 1).ok());
    ASSERT_TRUE(
        bus->Publish("plant/valve-9/telemetry", "{\"ts\":" + std::to_string(ts + i) + ",\"x\":1}", 1).ok());
  }
  bus->Stop();
  EXPECT_TRUE(
      WaitFor([&] { return st().Get("/api/v1/twins/valve-9").status == 404; }, std::chrono::seconds(2)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(st().Get("/api/v1/twins/valve-9").status, 404)
      << "a twin no provisioning rule matches was created";
  json t = st().Twin("pump-1");
  ASSERT_TRUE(t.is_object());
  EXPECT_FALSE(t["telemetry"].contains("no_such_signal")) << t.dump();
  EXPECT_EQ(st().Get("/api/v1/health", "").status, 200);
}

}  // namespace
}  // namespace doppel::integration
