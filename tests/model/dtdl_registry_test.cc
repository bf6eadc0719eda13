// ModelRegistry and LoadModelsFromDirectory: extends, components, relationship targets and
// schema references resolve across files; every problem names the file.
#include <gtest/gtest.h>

#include <fstream>

#include "doppel/model/dtdl.h"
#include "dtdl_test_util.h"
#include "testing/test_util.h"

namespace doppel::model {
namespace {

using test::Iface;
using test::json;
using test::Telemetry;

void Write(const testing::TempDir& dir, const std::string& name, const json& doc) {
  std::ofstream(dir.file(name)) << doc.dump(2);
}

json Extending(const std::string& id, json extends, json contents = json::array()) {
  json doc = Iface(id, std::move(contents));
  doc["extends"] = std::move(extends);
  return doc;
}

TEST(ModelRegistry, ExtendsMergesInheritedContentsAcrossFiles) {
  testing::TempDir dir;
  Write(dir, "base.json", Iface("dtmi:test:Base;1", {Telemetry("temp")}));
  Write(dir, "left.json", Extending("dtmi:test:Left;1", "dtmi:test:Base;1", {Telemetry("l")}));
  Write(dir, "right.json", Extending("dtmi:test:Right;1", json{"dtmi:test:Base;1"}, {Telemetry("r")}));
  // A diamond: Base reaches Pump twice, which is fine.
  Write(dir, "pump.json",
        Extending("dtmi:test:Pump;1", {"dtmi:test:Left;1", "dtmi:test:Right;1"},
                  {json{{"@type", "Command"}, {"name", "stop"}}}));
  auto reg = LoadModelsFromDirectory(dir.path());
  ASSERT_TRUE(reg.ok()) << reg.status().ToString();
  const Interface* pump = reg->Find("dtmi:test:Pump;1");
  ASSERT_NE(pump, nullptr);
  std::vector<std::string> names;
  for (const auto& c : pump->all_contents) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"temp", "l", "r", "stop"}));
  EXPECT_EQ(pump->FindTelemetry("temp")->defined_in, "dtmi:test:Base;1");
  EXPECT_NE(pump->FindCommand("stop"), nullptr);
  EXPECT_EQ(pump->contents.size(), 1u);             // as declared
  EXPECT_EQ(ToJson(*pump)["contents"].size(), 1u);  // ToJson shows the declaration
  EXPECT_TRUE(ValidateCommandRequest(*pump, "stop", json()).ok());
}

TEST(ModelRegistry, ExtendsProblemsNameTheFile) {
  {
    auto r = ModelRegistry::Build(
        {ParseInterface(Extending("dtmi:test:A;1", "dtmi:test:Nope;1").dump(), "a.json").value()});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "a.json: $.extends: unknown interface 'dtmi:test:Nope;1'");
  }
  {
    auto r = ModelRegistry::Build(
        {ParseInterface(Extending("dtmi:test:A;1", "dtmi:test:B;1").dump(), "a.json").value(),
         ParseInterface(Extending("dtmi:test:B;1", "dtmi:test:A;1").dump(), "b.json").value()});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("extends cycle"), std::string::npos) << r.status().message();
  }
  {
    auto r = ModelRegistry::Build(
        {ParseInterface(Iface("dtmi:test:Base;1", {Telemetry("t")}).dump(), "base.json").value(),
         ParseInterface(Extending("dtmi:test:A;1", "dtmi:test:Base;1", {Telemetry("t")}).dump(), "a.json")
             .value()});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(
        r.status().message(),
        "a.json: $.contents[0].name: content 't' is already defined by extended interface dtmi:test:Base;1");
  }
}

TEST(ModelRegistry, ExtendsDepthIsLimited) {
  std::vector<Interface> chain;
  for (int i = 0; i <= 10; ++i) {
    json doc = Iface("dtmi:test:L" + std::to_string(i) + ";1", {Telemetry("t" + std::to_string(i))});
    if (i > 0) doc["extends"] = "dtmi:test:L" + std::to_string(i - 1) + ";1";
    chain.push_back(ParseInterface(doc.dump(), "l.json").value());
  }
  auto ten = std::vector<Interface>(chain.begin(), chain.begin() + 10);
  EXPECT_TRUE(ModelRegistry::Build(ten).ok());
  auto r = ModelRegistry::Build(chain);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("extends chain deeper than 10 levels"), std::string::npos);
}

TEST(ModelRegistry, ComponentsAndRelationshipTargetsResolve) {
  json motor = Iface("dtmi:test:Motor;1", {Telemetry("temp")});
  json pump = Iface("dtmi:test:Pump;1",
                    {json{{"@type", "Component"}, {"name", "motor"}, {"schema", "dtmi:test:Motor;1"}},
                     json{{"@type", "Relationship"}, {"name", "feeds"}, {"target", "dtmi:test:Motor;1"}}});
  auto r = ModelRegistry::Build(
      {ParseInterface(motor.dump(), "motor.json").value(), ParseInterface(pump.dump(), "pump.json").value()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Interface* p = r->Find("dtmi:test:Pump;1");
  ASSERT_NE(p->FindComponent("motor"), nullptr);
  EXPECT_NE(r->Find(p->FindComponent("motor")->component), nullptr);
  EXPECT_EQ(p->FindRelationship("feeds")->target, "dtmi:test:Motor;1");

  auto missing = ModelRegistry::Build({ParseInterface(pump.dump(), "pump.json").value()});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "pump.json: $.contents[0].schema: unknown interface 'dtmi:test:Motor;1'");

  json self = Iface("dtmi:test:Self;1",
                    {json{{"@type", "Component"}, {"name", "me"}, {"schema", "dtmi:test:Self;1"}}});
  auto cyc = ModelRegistry::Build({ParseInterface(self.dump(), "self.json").value()});
  ASSERT_FALSE(cyc.ok());
  EXPECT_EQ(cyc.status().message(),
            "self.json: $.contents[0].schema: component cycle through 'dtmi:test:Self;1'");
}

TEST(ModelRegistry, SchemaReferencesResolveAcrossFiles) {
  json lib = Iface("dtmi:test:Lib;1");
  lib["schemas"] = {{{"@id", "dtmi:test:Mode;1"},
                     {"@type", "Enum"},
                     {"valueSchema", "integer"},
                     {"enumValues", {{{"name", "a"}, {"enumValue", 1}}}}}};
  json user = Iface(
      "dtmi:test:User;1",
      {json{{"@type", "Property"}, {"name", "mode"}, {"schema", "dtmi:test:Mode;1"}, {"writable", true}}});
  auto alone = ParseInterface(user.dump(), "user.json");
  ASSERT_TRUE(alone.ok());  // resolved later, by the registry
  auto missing = ModelRegistry::Build({alone.value()});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "user.json: $.contents[0].schema: unknown schema 'dtmi:test:Mode;1'");

  auto r = ModelRegistry::Build({ParseInterface(lib.dump(), "lib.json").value(), alone.value()});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Interface* u = r->Find("dtmi:test:User;1");
  EXPECT_TRUE(ValidateDesiredProperties(*u, json{{"mode", 1}}).ok());
  EXPECT_EQ(ValidateDesiredProperties(*u, json{{"mode", 2}}).message(),
            "$.desired.mode: not one of the enum values (1)");
}

TEST(ModelRegistry, DuplicateInterfaceIdsAreRejected) {
  json a = Iface("dtmi:test:A;1");
  auto r = ModelRegistry::Build(
      {ParseInterface(a.dump(), "one.json").value(), ParseInterface(a.dump(), "two.json").value()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "two.json: $.@id: duplicate interface 'dtmi:test:A;1' (also in one.json)");
}

TEST(LoadModelsFromDirectory, ErrorsNameTheFile) {
  testing::TempDir dir;
  Write(dir, "good.json", Iface("dtmi:test:A;1"));
  std::ofstream(dir.file("notes.txt")) << "not a model";  // ignored
  EXPECT_TRUE(LoadModelsFromDirectory(dir.path()).ok());
  std::ofstream(dir.file("bad.json")) << "{\"@context\": ";
  auto r = LoadModelsFromDirectory(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind(dir.file("bad.json") + ": $: invalid JSON: ", 0), 0u)
      << r.status().message();
}

TEST(LoadModelsFromDirectory, MissingDirectoryIsNotFound) {
  auto r = LoadModelsFromDirectory("/nonexistent/models");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(ModelRoundTrip, ToJsonParsesBackToTheSameModel) {
  json e = {
      {"@type", "Enum"},
      {"valueSchema", "string"},
      {"enumValues", {{{"name", "a"}, {"enumValue", "a"}, {"displayName", {{"en", "A"}, {"de", "A"}}}}}}};
  json m = {{"@type", "Map"},
            {"mapKey", {{"name", "k"}, {"schema", "string"}}},
            {"mapValue",
             {{"@type", {"MapValue", "Mass"}}, {"name", "v"}, {"schema", "float"}, {"unit", "kilogram"}}}};
  json doc = Iface("dtmi:test:All;1",
                   {Telemetry("e", e), Telemetry("m", m),
                    json{{"@type", "Telemetry"},
                         {"@id", "dtmi:test:All:t;1"},
                         {"name", "arr"},
                         {"comment", "c"},
                         {"description", "d"},
                         {"schema", {{"@type", "Array"}, {"elementSchema", "dtmi:test:Obj;1"}}}},
                    json{{"@type", "Command"},
                         {"name", "go"},
                         {"request",
                          {{"@type", {"CommandRequest", "Length"}},
                           {"name", "to"},
                           {"schema", "double"},
                           {"unit", "metre"}}},
                         {"response", {{"name", "ok"}, {"schema", "boolean"}, {"nullable", true}}}},
                    json{{"@type", "Relationship"},
                         {"name", "rel"},
                         {"minMultiplicity", 0},
                         {"maxMultiplicity", 4},
                         {"writable", true},
                         {"properties", {{{"@type", "Property"}, {"name", "w"}, {"schema", "double"}}}}},
                    json{{"@type", "Component"}, {"name", "sub"}, {"schema", "dtmi:test:All;2"}}});
  doc["schemas"] = {
      {{"@id", "dtmi:test:Obj;1"}, {"@type", "Object"}, {"fields", {{{"name", "x"}, {"schema", "long"}}}}}};
  doc["extends"] = "dtmi:test:Base;1";
  doc["displayName"] = "All";
  auto first = ParseInterface(doc.dump(), "all.json");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  json out = ToJson(*first);
  auto second = ParseInterface(out.dump(), "all2.json");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(ToJson(*second), out);
  EXPECT_EQ(out["contents"][2]["schema"]["elementSchema"], "dtmi:test:Obj;1");
  EXPECT_EQ(out["contents"][3]["response"]["nullable"], true);
  EXPECT_EQ(out["contents"][3]["request"]["nullable"], false);  // default made explicit
  EXPECT_EQ(out["extends"], json{"dtmi:test:Base;1"});
}

}  // namespace
}  // namespace doppel::model
