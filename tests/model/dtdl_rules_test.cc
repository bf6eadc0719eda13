// Every model rule of docs/dtdl.md: a model breaking it is rejected with file, JSON path and
// reason ("<file>: <path>: <reason>"); the nearest valid model is accepted.
#include <gtest/gtest.h>

#include "doppel/model/dtdl.h"
#include "dtdl_test_util.h"

namespace doppel::model {
namespace {

using test::Iface;
using test::json;
using test::Rejected;
using test::Telemetry;

const char kId[] = "dtmi:test:Thing;1";

json WithTelemetry(json t) { return Iface(kId, json::array({std::move(t)})); }

TEST(ModelRules, MinimalInterfaceIsAccepted) {
  auto r = ParseInterface(Iface(kId, {Telemetry("t")}).dump(), "t.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, kId);
  EXPECT_EQ(r->dtdl_version, 3);
  ASSERT_EQ(r->all_contents.size(), 1u);
  EXPECT_EQ(r->all_contents[0].defined_in, kId);
}

TEST(ModelRules, ErrorNamesFilePathAndReason) {
  json doc = Iface("dtmi:doppel:demo:Pump;1",
                   {Telemetry("a"), Telemetry("b"), Telemetry("c"), Telemetry("d", "dobule")});
  auto r = ParseInterface(doc.dump(), "examples/models/pump.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "examples/models/pump.json: $.contents[3].schema: unknown schema 'dobule'");
}

TEST(ModelRules, InvalidJsonIsRejected) {
  EXPECT_TRUE(Rejected(std::string("{\"@id\": "), "$", "invalid JSON: "));
  EXPECT_TRUE(Rejected(std::string(""), "$", "invalid JSON: "));
  EXPECT_TRUE(Rejected(std::string("42"), "$", "expected an interface object"));
}

TEST(ModelRules, ContextMustBeDtdl3Or2) {
  json doc = Iface(kId);
  doc.erase("@context");
  EXPECT_TRUE(Rejected(doc, "$", "missing @context"));
  doc["@context"] = "dtmi:dtdl:context;4";
  EXPECT_TRUE(Rejected(doc, "$.@context", "unsupported @context 'dtmi:dtdl:context;4'"));
  doc["@context"] = json::array({"dtmi:dtdl:context;3", "dtmi:dtdl:extension:historization;1"});
  EXPECT_TRUE(Rejected(doc, "$.@context[1]", "unsupported @context entry"));
  doc["@context"] = 3;
  EXPECT_TRUE(Rejected(doc, "$.@context", "expected a string"));
  doc["@context"] = "dtmi:dtdl:context;3";
  EXPECT_TRUE(ParseInterface(doc.dump(), "t.json").ok());
}

TEST(ModelRules, Dtdl2SubsetIsAcceptedAndV3OnlyFeaturesRejected) {
  json doc = Iface(kId, {json{{"@type", {"Telemetry", "Temperature"}},
                              {"name", "t"},
                              {"schema", "double"},
                              {"unit", "degreeCelsius"}}});
  doc["@context"] = "dtmi:dtdl:context;2";  // semantic types are built into v2
  auto r = ParseInterface(doc.dump(), "t.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->dtdl_version, 2);
  EXPECT_EQ(ToJson(*r)["@context"], "dtmi:dtdl:context;2");

  doc["contents"][0] = Telemetry("t", "unsignedLong");
  EXPECT_TRUE(Rejected(doc, "$.contents[0].schema", "schema 'unsignedLong' needs DTDL v3"));
  doc["contents"][0] = Telemetry(std::string(65, 'a'));
  EXPECT_TRUE(Rejected(doc, "$.contents[0].name", "invalid name"));
  doc["contents"][0] = json{
      {"@type", "Property"}, {"name", "p"}, {"schema", {{"@type", "Array"}, {"elementSchema", "double"}}}};
  EXPECT_TRUE(Rejected(doc, "$.contents[0].schema", "a Property schema may not contain an Array in DTDL v2"));
  doc["@id"] = "dtmi:test:Thing;1.2";
  EXPECT_TRUE(Rejected(doc, "$.@id", "invalid DTMI"));
}

TEST(ModelRules, InterfaceIdMustBeAVersionedDtmi) {
  for (const char* bad :
       {"dtmi:doppel:Pump", "doppel:Pump;1", "dtmi:doppel:_Pump;1", "dtmi:doppel:Pump_;1",
        "dtmi:1doppel:Pump;1", "dtmi:doppel::Pump;1", "dtmi:doppel:Pump;0", "dtmi:doppel:Pump;01",
        "dtmi:doppel:Pump;1.0", "dtmi:doppel:Pump;1234567890", "dtmi:doppel:Pu-mp;1"}) {
    EXPECT_TRUE(Rejected(Iface(bad), "$.@id", "invalid DTMI")) << bad;
  }
  for (const char* good : {"dtmi:doppel:Pump;1", "dtmi:a;1", "dtmi:com:example:Pump_2;12", "dtmi:x:y;3.14"}) {
    EXPECT_TRUE(ParseInterface(Iface(good).dump(), "t.json").ok()) << good;
  }
  json doc = Iface(kId);
  doc.erase("@id");
  EXPECT_TRUE(Rejected(doc, "$", "missing @id"));
}

TEST(ModelRules, InterfaceTypeMustBeInterface) {
  json doc = Iface(kId);
  doc["@type"] = "Interfase";
  EXPECT_TRUE(Rejected(doc, "$.@type", "unknown @type 'Interfase'"));
  doc.erase("@type");
  EXPECT_TRUE(Rejected(doc, "$", "missing @type"));
}

TEST(ModelRules, NamesFollowDtdlSyntax) {
  for (const std::string& bad :
       std::vector<std::string>{"1abc", "a-b", "abc_", "_abc", "", "a b", std::string(513, 'x')}) {
    EXPECT_TRUE(Rejected(WithTelemetry(Telemetry(bad)), "$.contents[0].name", "invalid name")) << bad;
  }
  for (const std::string& good :
       std::vector<std::string>{"a", "a_b", "flow_m3h", "A1", std::string(512, 'x')}) {
    EXPECT_TRUE(ParseInterface(WithTelemetry(Telemetry(good)).dump(), "t.json").ok()) << good;
  }
  json t = Telemetry("x");
  t.erase("name");
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0]", "missing name"));
}

TEST(ModelRules, DuplicateContentNamesAreRejected) {
  json doc = Iface(kId, {Telemetry("a"), Telemetry("b"),
                         json{{"@type", "Property"}, {"name", "a"}, {"schema", "string"}}});
  EXPECT_TRUE(Rejected(doc, "$.contents[2].name", "duplicate content name 'a' (also $.contents[0])"));
}

TEST(ModelRules, UnknownTypeIsRejected) {
  json t = Telemetry("x");
  t["@type"] = "Telemtry";
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0].@type", "unknown @type 'Telemtry'"));
  t["@type"] = {"Telemetry", "Historized"};
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0].@type", "unknown @type 'Historized'"));
  t["@type"] = "Interface";
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0].@type", "@type 'Interface' is not allowed here"));
  t["@type"] = {"Telemetry", "Property"};
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0].@type", "more than one element class"));
  t.erase("@type");
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0]", "missing @type"));
}

TEST(ModelRules, UnknownPropertyIsRejected) {
  json t = Telemetry("x");
  t["scheme"] = "double";
  EXPECT_TRUE(
      Rejected(WithTelemetry(t), "$.contents[0].scheme", "unknown property 'scheme' for a Telemetry"));
  json doc = Iface(kId);
  doc["version"] = 1;
  EXPECT_TRUE(Rejected(doc, "$.version", "unknown property 'version' for an Interface"));
}

TEST(ModelRules, UnknownOrMissingSchemaIsRejected) {
  EXPECT_TRUE(
      Rejected(WithTelemetry(Telemetry("x", "Double")), "$.contents[0].schema", "unknown schema 'Double'"));
  EXPECT_TRUE(Rejected(WithTelemetry(Telemetry("x", 5)), "$.contents[0].schema", "expected a schema name"));
  EXPECT_TRUE(
      Rejected(WithTelemetry(Telemetry("x", "dtmi:bad-ref")), "$.contents[0].schema", "invalid DTMI"));
  json t = Telemetry("x");
  t.erase("schema");
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0]", "missing schema"));
}

TEST(ModelRules, EveryV3PrimitiveSchemaIsAccepted) {
  json contents = json::array();
  int i = 0;
  for (const char* p : {"boolean",
                        "byte",
                        "bytes",
                        "date",
                        "dateTime",
                        "decimal",
                        "double",
                        "duration",
                        "float",
                        "integer",
                        "long",
                        "short",
                        "string",
                        "time",
                        "unsignedByte",
                        "unsignedInteger",
                        "unsignedLong",
                        "unsignedShort",
                        "uuid",
                        "point",
                        "multiPoint",
                        "lineString",
                        "multiLineString",
                        "polygon",
                        "multiPolygon"}) {
    contents.push_back(Telemetry("t" + std::to_string(i++), p));
  }
  auto r = ParseInterface(Iface(kId, contents).dump(), "t.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(PrimitiveName(r->contents[4].schema->primitive), std::string("dateTime"));
}

json Semantic(const std::string& type, json unit, json schema = "double") {
  json t = Telemetry("x", std::move(schema));
  t["@type"] = {"Telemetry", type};
  if (!unit.is_null()) t["unit"] = std::move(unit);
  return t;
}

TEST(ModelRules, SemanticTypeNeedsAUnitOfItsKind) {
  EXPECT_TRUE(ParseInterface(WithTelemetry(Semantic("Temperature", "kelvin")).dump(), "t.json").ok());
  EXPECT_TRUE(Rejected(WithTelemetry(Semantic("Temperature", nullptr)), "$.contents[0]", "missing unit"));
  EXPECT_TRUE(Rejected(WithTelemetry(Semantic("Temperature", "bar")), "$.contents[0].unit",
                       "unit 'bar' is not a unit of Temperature (expected one of degreeCelsius"));
  EXPECT_TRUE(Rejected(WithTelemetry(Semantic("Temperature", "kelvin", "string")), "$.contents[0].schema",
                       "semantic type 'Temperature' needs a numeric schema"));
  json t = Telemetry("x");
  t["unit"] = "kelvin";
  EXPECT_TRUE(Rejected(WithTelemetry(t), "$.contents[0].unit", "a unit needs a semantic type"));
  json cmd = {{"@type", {"Command", "Temperature"}}, {"name", "c"}};
  EXPECT_TRUE(
      Rejected(WithTelemetry(cmd), "$.contents[0].@type", "semantic type 'Temperature' is not allowed"));
}

TEST(ModelRules, SemanticTypesNeedTheQuantitativeTypesContextInV3) {
  json doc = WithTelemetry(Semantic("Temperature", "kelvin"));
  doc["@context"] = "dtmi:dtdl:context;3";
  EXPECT_TRUE(Rejected(
      doc, "$.contents[0].@type",
      "semantic type 'Temperature' needs @context entry \"dtmi:dtdl:extension:quantitativeTypes;1\""));
}

TEST(ModelRules, SemanticTypesAndUnitsAreKept) {
  json field = {{"@type", {"Field", "Pressure"}}, {"name", "p"}, {"schema", "float"}, {"unit", "bar"}};
  json doc = Iface(
      kId,
      {Semantic("Power", "kilowatt"),
       json{{"@type", "Property"}, {"name", "o"}, {"schema", {{"@type", "Object"}, {"fields", {field}}}}}});
  auto r = ParseInterface(doc.dump(), "t.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->contents[0].co_types, std::vector<std::string>{"Power"});
  EXPECT_EQ(r->contents[0].unit, "kilowatt");
  EXPECT_EQ(r->contents[1].schema->fields[0].semantic_type(), "Pressure");
  EXPECT_EQ(r->contents[1].schema->fields[0].unit, "bar");
  json back = ToJson(*r);
  EXPECT_EQ(back["contents"][0]["@type"], json({"Telemetry", "Power"}));
  EXPECT_EQ(back["contents"][1]["schema"]["fields"][0]["unit"], "bar");
}

TEST(ModelRules, ComplexSchemasAreChecked) {
  json e = {{"@type", "Enum"},
            {"valueSchema", "integer"},
            {"enumValues", {{{"name", "off"}, {"enumValue", 0}}, {{"name", "on"}, {"enumValue", 1}}}}};
  EXPECT_TRUE(ParseInterface(WithTelemetry(Telemetry("x", e)).dump(), "t.json").ok());
  json bad = e;
  bad["valueSchema"] = "double";
  EXPECT_TRUE(Rejected(WithTelemetry(Telemetry("x", bad)), "$.contents[0].schema.valueSchema",
                       "expected 'integer' or 'string'"));
  bad = e;
  bad["enumValues"][1]["enumValue"] = "1";
  EXPECT_TRUE(Rejected(WithTelemetry(Telemetry("x", bad)), "$.contents[0].schema.enumValues[1].enumValue",
                       "expected an integer"));
  bad = e;
  bad["enumValues"][1]["name"] = "off";
  EXPECT_TRUE(Rejected(WithTelemetry(Telemetry("x", bad)), "$.contents[0].schema.enumValues[1].name",
                       "duplicate enum value name 'off'"));

  json obj = {{"@type", "Object"},
              {"fields", {{{"name", "a"}, {"schema", "double"}}, {{"name", "a"}, {"schema", "long"}}}}};
  EXPECT_TRUE(Rejected(WithTelemetry(Telemetry("x", obj)), "$.contents[0].schema.fields[1].name",
                       "duplicate field name 'a'"));
  json arr = {{"@type", "Array"}};
  EXPECT_TRUE(Rejected(WithTelemetry(Telemetry("x", arr)), "$.contents[0].schema", "missing elementSchema"));
  json map = {{"@type", "Map"},
              {"mapKey", {{"name", "k"}, {"schema", "integer"}}},
              {"mapValue", {{"name", "v"}, {"schema", "double"}}}};
  EXPECT_TRUE(Rejected(WithTelemetry(Telemetry("x", map)), "$.contents[0].schema.mapKey.schema",
                       "a map key schema must be 'string'"));
  map["mapKey"]["schema"] = "string";
  EXPECT_TRUE(ParseInterface(WithTelemetry(Telemetry("x", map)).dump(), "t.json").ok());
  json odd = {{"@type", "Set"}};
  EXPECT_TRUE(
      Rejected(WithTelemetry(Telemetry("x", odd)), "$.contents[0].schema.@type", "unknown @type 'Set'"));
}

TEST(ModelRules, SchemaNestingIsLimited) {
  json s = "double";
  for (int i = 0; i < 8; ++i) s = json{{"@type", "Array"}, {"elementSchema", s}};
  EXPECT_TRUE(ParseInterface(WithTelemetry(Telemetry("x", s)).dump(), "t.json").ok());
  s = json{{"@type", "Array"}, {"elementSchema", s}};
  auto r = ParseInterface(WithTelemetry(Telemetry("x", s)).dump(), "t.json");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("complex schemas nested deeper than 8 levels"), std::string::npos)
      << r.status().message();
}

TEST(ModelRules, CommandsRelationshipsAndComponentsAreChecked) {
  json cmd = {{"@type", "Command"}, {"name", "c"}, {"request", {{"name", "r"}}}};
  EXPECT_TRUE(Rejected(WithTelemetry(cmd), "$.contents[0].request", "missing schema"));
  cmd["request"] = {{"name", "r"}, {"schema", "double"}, {"nullable", "yes"}};
  EXPECT_TRUE(Rejected(WithTelemetry(cmd), "$.contents[0].request.nullable", "expected true or false"));
  cmd["request"] = {{"@type", "CommandResponse"}, {"name", "r"}, {"schema", "double"}};
  EXPECT_TRUE(
      Rejected(WithTelemetry(cmd), "$.contents[0].request.@type", "@type 'CommandResponse' is not allowed"));

  json rel = {{"@type", "Relationship"}, {"name", "r"}, {"maxMultiplicity", 0}};
  EXPECT_TRUE(Rejected(WithTelemetry(rel), "$.contents[0].maxMultiplicity", "expected an integer >= 1"));
  rel = {{"@type", "Relationship"}, {"name", "r"}, {"target", "pump"}};
  EXPECT_TRUE(Rejected(WithTelemetry(rel), "$.contents[0].target", "expected an interface DTMI"));
  rel = {{"@type", "Relationship"}, {"name", "r"}, {"minMultiplicity", 3}, {"maxMultiplicity", 2}};
  EXPECT_TRUE(Rejected(WithTelemetry(rel), "$.contents[0].minMultiplicity", "greater than maxMultiplicity"));
  rel = {{"@type", "Relationship"},
         {"name", "r"},
         {"properties", {{{"@type", "Telemetry"}, {"name", "p"}, {"schema", "double"}}}}};
  EXPECT_TRUE(
      Rejected(WithTelemetry(rel), "$.contents[0].properties[0].@type", "@type 'Telemetry' is not allowed"));

  json comp = {{"@type", "Component"}, {"name", "motor"}, {"schema", "double"}};
  EXPECT_TRUE(
      Rejected(WithTelemetry(comp), "$.contents[0].schema", "a Component schema must be an interface DTMI"));

  json prop = {{"@type", "Property"}, {"name", "p"}, {"schema", "double"}, {"writable", "true"}};
  EXPECT_TRUE(Rejected(WithTelemetry(prop), "$.contents[0].writable", "expected true or false"));
}

TEST(ModelRules, SharedSchemasNeedAnIdAndResolveLocally) {
  json doc = Iface(kId, {Telemetry("mode", "dtmi:test:Mode;1")});
  doc["schemas"] = {{{"@id", "dtmi:test:Mode;1"},
                     {"@type", "Enum"},
                     {"valueSchema", "string"},
                     {"enumValues", {{{"name", "auto"}, {"enumValue", "auto"}}}}}};
  auto r = ParseInterface(doc.dump(), "t.json");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->contents[0].schema->kind, SchemaKind::kReference);
  EXPECT_EQ(r->contents[0].schema->Resolved().kind, SchemaKind::kEnum);
  EXPECT_EQ(ToJson(*r)["contents"][0]["schema"], "dtmi:test:Mode;1");  // kept as a reference

  doc["schemas"][0].erase("@id");
  EXPECT_TRUE(Rejected(doc, "$.schemas[0]", "missing @id"));

  // An object that refers to itself.
  doc["schemas"] = {{{"@id", "dtmi:test:Mode;1"},
                     {"@type", "Object"},
                     {"fields", {{{"name", "next"}, {"schema", "dtmi:test:Mode;1"}}}}}};
  EXPECT_TRUE(
      Rejected(doc, "$.schemas[0].fields[0].schema", "schema reference cycle through 'dtmi:test:Mode;1'"));
}

TEST(ModelRules, ModelFileMayHoldAnArrayOfInterfaces) {
  json arr = {Iface("dtmi:test:A;1", {Telemetry("a")}), Iface("dtmi:test:B;1", {Telemetry("b", "dobule")})};
  auto r = ParseModelFile(arr.dump(), "many.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "many.json: $[1].contents[0].schema: unknown schema 'dobule'");
  arr[1]["contents"][0]["schema"] = "double";
  auto ok = ParseModelFile(arr.dump(), "many.json");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[1].path, "$[1]");
  EXPECT_FALSE(ParseModelFile("[]", "many.json").ok());
}

}  // namespace
}  // namespace doppel::model
