// The shipped example models (examples/models) load, validate and expose what the engine uses.
#include <gtest/gtest.h>

#include "doppel/model/dtdl.h"
#include "testing/test_util.h"

namespace doppel::model {
namespace {

using json = nlohmann::json;

ModelRegistry LoadExamples() {
  auto r = LoadModelsFromDirectory(testing::SourceDir() + "/examples/models");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

TEST(ExampleModels, AllLoadAndValidate) {
  ModelRegistry reg = LoadExamples();
  std::vector<std::string> ids;
  for (const Interface* i : reg.List()) ids.push_back(i->id);
  EXPECT_EQ(ids, (std::vector<std::string>{"dtmi:doppel:demo:Pump;1", "dtmi:doppel:demo:PumpStation;1",
                                           "dtmi:doppel:demo:Tank;1", "dtmi:doppel:demo:Turbofan;1"}));
}

// The C-MAPSS engine (docs/analytics.md, "Live RUL"): cycle, 3 settings, 21 sensors, RUL outputs.
TEST(ExampleModels, TurbofanHasTheCmapssColumnsAndRulOutputs) {
  ModelRegistry reg = LoadExamples();
  const Interface* t = reg.Find("dtmi:doppel:demo:Turbofan;1");
  ASSERT_NE(t, nullptr);
  json doc = ToJson(*t);
  std::vector<std::string> names;
  for (const auto& c : doc["contents"]) names.push_back(c["name"].get<std::string>());
  ASSERT_EQ(names.size(), 1u + 24u + 4u);
  EXPECT_EQ(names.front(), "cycle");
  EXPECT_EQ(names[1], "altitude_kft");
  EXPECT_EQ(names[24], "w32_lbm_s");
  EXPECT_EQ(std::vector<std::string>(names.end() - 4, names.end()),
            (std::vector<std::string>{"rul_cycles", "rul_p5_cycles", "rul_p95_cycles", "rul_h"}));
}

TEST(ExampleModels, PumpTelemetryHasSemanticTypesAndUnits) {
  ModelRegistry reg = LoadExamples();
  const Interface* pump = reg.Find("dtmi:doppel:demo:Pump;1");
  ASSERT_NE(pump, nullptr);
  std::vector<std::tuple<std::string, std::string, std::string>> got;
  for (const Content* t : pump->Telemetry()) got.emplace_back(t->name, t->semantic_type(), t->unit);
  EXPECT_EQ(got, (std::vector<std::tuple<std::string, std::string, std::string>>{
                     {"flow_m3h", "VolumeFlowRate", "cubicMetrePerHour"},
                     {"discharge_pressure_bar", "Pressure", "bar"},
                     {"speed_rpm", "AngularVelocity", "revolutionPerMinute"},
                     {"power_kw", "Power", "kilowatt"},
                     {"motor_temp_c", "Temperature", "degreeCelsius"},
                     {"vibration_mm_s", "", ""},
                     // Written by the engine (the wear-trend prognosis), not the device.
                     {"rul_h", "TimeSpan", "hour"},
                     {"rul_p5_h", "TimeSpan", "hour"},
                     {"rul_p95_h", "TimeSpan", "hour"},
                 }));
  for (const Content* t : pump->Telemetry()) {
    EXPECT_EQ(t->schema->kind, SchemaKind::kPrimitive);
    EXPECT_EQ(t->schema->primitive, Primitive::kDouble);
  }
}

TEST(ExampleModels, PumpHasWritableSetpointAndSetSpeedCommand) {
  ModelRegistry reg = LoadExamples();
  const Interface* pump = reg.Find("dtmi:doppel:demo:Pump;1");
  ASSERT_NE(pump, nullptr);
  auto writable = pump->WritableProperties();
  ASSERT_EQ(writable.size(), 1u);
  EXPECT_EQ(writable[0]->name, "speed_setpoint_rpm");
  const Content* cmd = pump->FindCommand("setSpeed");
  ASSERT_NE(cmd, nullptr);
  ASSERT_TRUE(cmd->request.has_value());
  EXPECT_EQ(cmd->request->name, "setSpeedRequest");
  EXPECT_TRUE(ValidateCommandRequest(*pump, "setSpeed", json{{"speed_rpm", 1200}}).ok());
  EXPECT_EQ(pump->FindCommand("speed_rpm"), nullptr);  // a telemetry, not a command
}

TEST(ExampleModels, TankAndStation) {
  ModelRegistry reg = LoadExamples();
  const Interface* tank = reg.Find("dtmi:doppel:demo:Tank;1");
  ASSERT_NE(tank, nullptr);
  ASSERT_NE(tank->FindTelemetry("level_m"), nullptr);
  EXPECT_EQ(tank->FindTelemetry("level_m")->unit, "metre");
  EXPECT_EQ(tank->FindTelemetry("demand_m3h")->unit, "cubicMetrePerHour");
  const Interface* station = reg.Find("dtmi:doppel:demo:PumpStation;1");
  ASSERT_NE(station, nullptr);
  const Content* contains = station->FindRelationship("contains");
  ASSERT_NE(contains, nullptr);
  EXPECT_TRUE(contains->target.empty());
  EXPECT_TRUE(ValidateDesiredProperties(*station, json{{"name", "North"}}).ok());
}

TEST(ExampleModels, ToJsonRoundTrips) {
  ModelRegistry reg = LoadExamples();
  for (const Interface* i : reg.List()) {
    json doc = ToJson(*i);
    auto again = ParseInterface(doc.dump(), "roundtrip.json");
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(ToJson(*again), doc) << i->id;
  }
  json all = ToJson(reg);
  ASSERT_TRUE(all.is_array());
  EXPECT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0]["@id"], "dtmi:doppel:demo:Pump;1");
  bool writable_setpoint = false;
  for (const auto& c : all[0]["contents"]) {
    if (c["name"] == "speed_setpoint_rpm") writable_setpoint = c["writable"] == true;
  }
  EXPECT_TRUE(writable_setpoint);
}

}  // namespace
}  // namespace doppel::model
