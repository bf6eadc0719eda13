// Values (command requests, desired properties) are checked against DTDL schemas, and errors
// name the offending field.
#include <gtest/gtest.h>

#include "doppel/model/dtdl.h"
#include "dtdl_test_util.h"

namespace doppel::model {
namespace {

using test::Iface;
using test::json;
using test::Telemetry;

Interface Parse(const json& doc) {
  auto r = ParseInterface(doc.dump(), "t.json");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

Interface PumpLike() {
  json set_speed = {
      {"@type", "Command"},
      {"name", "setSpeed"},
      {"request",
       {{"name", "setSpeedRequest"},
        {"schema", {{"@type", "Object"}, {"fields", {{{"name", "speed_rpm"}, {"schema", "double"}}}}}}}}};
  json stop = {{"@type", "Command"}, {"name", "stop"}};
  json setpoint = {
      {"@type", "Property"}, {"name", "speed_setpoint_rpm"}, {"schema", "double"}, {"writable", true}};
  json serial = {{"@type", "Property"}, {"name", "serial"}, {"schema", "string"}};
  return Parse(Iface("dtmi:test:Pump;1", {Telemetry("speed_rpm"), set_speed, stop, setpoint, serial}));
}

std::string Message(const Status& s) { return s.message(); }

TEST(CommandRequest, GoodRequestIsAccepted) {
  Interface pump = PumpLike();
  EXPECT_TRUE(ValidateCommandRequest(pump, "setSpeed", json{{"speed_rpm", 1200}}).ok());
  EXPECT_TRUE(ValidateCommandRequest(pump, "setSpeed", json{{"speed_rpm", 1450.5}}).ok());
  EXPECT_TRUE(ValidateCommandRequest(pump, "stop", json()).ok());
  EXPECT_TRUE(ValidateCommandRequest(pump, "stop", json::object()).ok());
}

TEST(CommandRequest, BadFieldsAreNamed) {
  Interface pump = PumpLike();
  Status s = ValidateCommandRequest(pump, "setSpeed", json{{"speed_rpm", "fast"}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(s), "$.request.speed_rpm: expected a number");
  EXPECT_EQ(Message(ValidateCommandRequest(pump, "setSpeed", json::object())),
            "$.request.speed_rpm: missing required field");
  EXPECT_EQ(Message(ValidateCommandRequest(pump, "setSpeed", json{{"speed_rpm", 1}, {"speed", 2}})),
            "$.request.speed: unknown field");
  EXPECT_EQ(Message(ValidateCommandRequest(pump, "setSpeed", json(1200))), "$.request: expected an object");
  EXPECT_EQ(Message(ValidateCommandRequest(pump, "setSpeed", json())), "$.request: expected an object");
  EXPECT_EQ(Message(ValidateCommandRequest(pump, "stop", json{{"now", true}})),
            "$.request: command 'stop' takes no request");
}

TEST(CommandRequest, UnknownCommandIsNotFound) {
  Interface pump = PumpLike();
  Status s = ValidateCommandRequest(pump, "setSped", json::object());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(ValidateCommandRequest(pump, "speed_rpm", json::object()).code(), StatusCode::kNotFound);
}

TEST(CommandRequest, NullableRequestAcceptsNull) {
  json cmd = {{"@type", "Command"},
              {"name", "c"},
              {"request", {{"name", "r"}, {"schema", "integer"}, {"nullable", true}}}};
  Interface i = Parse(Iface("dtmi:test:C;1", {cmd}));
  EXPECT_TRUE(ValidateCommandRequest(i, "c", json()).ok());
  EXPECT_TRUE(ValidateCommandRequest(i, "c", json(3)).ok());
  EXPECT_EQ(Message(ValidateCommandRequest(i, "c", json(3.5))), "$.request: expected an integer");
}

TEST(DesiredProperties, OnlyWritablePropertiesWithMatchingValues) {
  Interface pump = PumpLike();
  EXPECT_TRUE(ValidateDesiredProperties(pump, json{{"speed_setpoint_rpm", 1300}}).ok());
  EXPECT_TRUE(ValidateDesiredProperties(pump, json::object()).ok());
  EXPECT_EQ(Message(ValidateDesiredProperties(pump, json{{"speed_setpoint_rpm", true}})),
            "$.desired.speed_setpoint_rpm: expected a number");
  EXPECT_EQ(Message(ValidateDesiredProperties(pump, json{{"serial", "x"}})),
            "$.desired.serial: property is not writable");
  EXPECT_EQ(Message(ValidateDesiredProperties(pump, json{{"speed_rpm", 1}})),
            "$.desired.speed_rpm: unknown property of dtmi:test:Pump;1");
  EXPECT_EQ(Message(ValidateDesiredProperties(pump, json::array())), "$.desired: expected an object");
}

// Validates `value` against a telemetry schema written as JSON.
Status Check(const json& schema, const json& value) {
  auto r = ParseInterface(Iface("dtmi:test:V;1", {Telemetry("v", schema)}).dump(), "t.json");
  if (!r.ok()) return r.status();
  return ValidateValue(*r->contents[0].schema, value, "$.v");
}

TEST(ValueValidation, IntegersAreRangeChecked) {
  EXPECT_TRUE(Check("integer", 2147483647).ok());
  EXPECT_EQ(Message(Check("integer", 2147483648LL)), "$.v: out of range for integer");
  EXPECT_EQ(Message(Check("integer", 1.5)), "$.v: expected an integer");
  EXPECT_TRUE(Check("long", -9223372036854775807LL).ok());
  EXPECT_EQ(Message(Check("long", 18446744073709551615ULL)), "$.v: out of range for long");
  EXPECT_EQ(Message(Check("byte", 128)), "$.v: out of range for byte");
  EXPECT_EQ(Message(Check("unsignedByte", -1)), "$.v: out of range for unsignedByte");
  EXPECT_TRUE(Check("unsignedLong", 18446744073709551615ULL).ok());
  EXPECT_EQ(Message(Check("float", 1e300)), "$.v: out of range for float");
  EXPECT_TRUE(Check("double", 1e300).ok());
  EXPECT_EQ(Message(Check("double", "1")), "$.v: expected a number");
}

TEST(ValueValidation, StringFormatsAreChecked) {
  EXPECT_TRUE(Check("boolean", true).ok());
  EXPECT_EQ(Message(Check("boolean", 1)), "$.v: expected true or false");
  EXPECT_TRUE(Check("date", "2024-11-25").ok());
  EXPECT_FALSE(Check("date", "2024-13-01").ok());
  EXPECT_TRUE(Check("time", "12:30:00").ok());
  EXPECT_TRUE(Check("dateTime", "2024-11-25T12:30:00.123Z").ok());
  EXPECT_TRUE(Check("dateTime", "2024-11-25T12:30:00+01:00").ok());
  EXPECT_EQ(Message(Check("dateTime", "2024-11-25 12:30:00")), "$.v: expected an RFC 3339 date-time");
  EXPECT_TRUE(Check("duration", "PT1H30M").ok());
  EXPECT_TRUE(Check("duration", "P1DT0.5S").ok());
  EXPECT_FALSE(Check("duration", "P").ok());
  EXPECT_FALSE(Check("duration", "PT").ok());
  EXPECT_FALSE(Check("duration", "P1H").ok());
  EXPECT_FALSE(Check("duration", "PT1S1M").ok());
  EXPECT_TRUE(Check("uuid", "123e4567-e89b-12d3-a456-426614174000").ok());
  EXPECT_FALSE(Check("uuid", "123e4567e89b12d3a456426614174000").ok());
  EXPECT_TRUE(Check("bytes", "aGk=").ok());
  EXPECT_FALSE(Check("bytes", "aGk").ok());
  EXPECT_TRUE(Check("point", json{{"type", "Point"}, {"coordinates", {1.0, 2.0}}}).ok());
  EXPECT_FALSE(Check("point", json{{"type", "Polygon"}, {"coordinates", json::array()}}).ok());
}

TEST(ValueValidation, ComplexValuesNameTheElement) {
  json e = {{"@type", "Enum"},
            {"valueSchema", "string"},
            {"enumValues",
             {{{"name", "auto"}, {"enumValue", "auto"}}, {{"name", "manual"}, {"enumValue", "manual"}}}}};
  EXPECT_TRUE(Check(e, "auto").ok());
  EXPECT_EQ(Message(Check(e, "off")), "$.v: not one of the enum values (\"auto\", \"manual\")");
  json arr = {{"@type", "Array"}, {"elementSchema", "integer"}};
  EXPECT_TRUE(Check(arr, json{1, 2, 3}).ok());
  EXPECT_EQ(Message(Check(arr, json{1, "2"})), "$.v[1]: expected an integer");
  json map = {{"@type", "Map"},
              {"mapKey", {{"name", "k"}, {"schema", "string"}}},
              {"mapValue", {{"name", "v"}, {"schema", "double"}}}};
  EXPECT_TRUE(Check(map, json{{"a", 1}, {"b c", 2}}).ok());
  EXPECT_EQ(Message(Check(map, json{{"b c", "x"}})), "$.v[\"b c\"]: expected a number");
  json nested = {{"@type", "Object"},
                 {"fields",
                  {{{"name", "inner"},
                    {"schema", {{"@type", "Object"}, {"fields", {{{"name", "x"}, {"schema", "long"}}}}}}}}}};
  EXPECT_EQ(Message(Check(nested, json{{"inner", {{"x", "no"}}}})), "$.v.inner.x: expected an integer");
}

}  // namespace
}  // namespace doppel::model
