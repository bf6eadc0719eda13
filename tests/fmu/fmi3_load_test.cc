// FMI 3.0 co-simulation FMUs: description parsing (typed variables, value-reference links) and
// refusal of what Doppel does not load, each with an error naming the file and the reason.
// Stepping is covered by fmu_cosim_test.cc, which runs the same suite on the 2.0 and the 3.0 FMU.
#include <gtest/gtest.h>

#include "doppel/fmu/co_simulation.h"
#include "doppel/fmu/fmu.h"
#include "doppel/fmu/fmu_system.h"
#include "fmu/fmu_test_util.h"

namespace doppel::fmu {
namespace {

using doppel::testing::TempDir;
using testing::ModelXml;
using testing::PackFmu;

constexpr const char* kId = "bouncing_ball_fmi3";
constexpr const char* kToken = "{8c4e810f-3df3-4a00-8276-176fa3c9f000}";

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  auto pos = s.find(from);
  if (pos == std::string::npos) throw std::runtime_error("test setup: '" + from + "' not found");
  return s.replace(pos, from.size(), to);
}

template <typename T>
void ExpectError(const Result<T>& r, const std::string& fragment) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning: " << fragment;
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

// A 3.0 description with every construct the parser maps: a state and its derivative linked by
// value reference, the types Doppel reads and one it only names, a structural parameter, event
// indicators and model structure by value reference.
const char* kSynthetic = R"xml(<?xml version="1.0" encoding="UTF-8"?>
<fmiModelDescription fmiVersion="3.0" modelName="Synthetic" instantiationToken="{tok}">
  <ModelExchange modelIdentifier="synthetic"/>
  <CoSimulation modelIdentifier="synthetic"/>
  <ModelVariables>
    <Float64 name="time" valueReference="0" causality="independent" variability="continuous"/>
    <Float64 name="x" valueReference="10" causality="output" start="1.5" unit="m"/>
    <Float64 name="der(x)" valueReference="11" derivative="10"/>
    <Int32 name="mode" valueReference="20" causality="parameter" variability="tunable" start="3"/>
    <Boolean name="on" valueReference="21" causality="input" variability="discrete" start="true"/>
    <Float32 name="f" valueReference="22" causality="local"/>
    <UInt64 name="n" valueReference="23" causality="structuralParameter" variability="fixed" start="4"/>
  </ModelVariables>
  <ModelStructure>
    <Output valueReference="10"/>
    <ContinuousStateDerivative valueReference="11"/>
    <EventIndicator valueReference="22"/>
  </ModelStructure>
</fmiModelDescription>)xml";

TEST(Fmi3LoadTest, DescriptionMapsTypedVariablesAndValueReferenceLinksOntoTheCommonModel) {
  auto md = ParseModelDescription(kSynthetic, "s.xml");
  ASSERT_TRUE(md.ok()) << md.status().ToString();
  EXPECT_EQ(md->fmi_version, "3.0");
  EXPECT_EQ(md->guid, "{tok}");  // the instantiationToken
  ASSERT_EQ(md->variables.size(), 7u);
  EXPECT_EQ(md->Find("x")->type, VariableType::kReal);
  EXPECT_EQ(md->Find("x")->type_name, "Float64");
  EXPECT_EQ(md->Find("x")->unit, "m");
  EXPECT_EQ(*md->Find("x")->start, 1.5);
  EXPECT_EQ(md->Find("mode")->type, VariableType::kInteger);
  EXPECT_EQ(*md->Find("mode")->start, 3);
  EXPECT_EQ(md->Find("on")->type, VariableType::kBoolean);
  EXPECT_EQ(*md->Find("on")->start, 1);
  EXPECT_EQ(md->Find("f")->type, VariableType::kOther);
  EXPECT_EQ(md->Find("f")->type_name, "Float32");
  EXPECT_EQ(md->Find("n")->causality, Causality::kParameter);  // structuralParameter
  ASSERT_EQ(md->outputs, std::vector<int>{1});                 // indices, not value references
  ASSERT_EQ(md->derivatives, std::vector<int>{2});
  EXPECT_EQ(md->variables[static_cast<size_t>(md->StateOf(0))].name, "x");
  EXPECT_EQ(md->number_of_event_indicators, 1);
}

TEST(Fmi3LoadTest, TheBouncingBallLoadsAsCoSimulation) {
  TempDir dir;
  auto fmu = Fmu::Load(PackFmu(dir, kId));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  EXPECT_TRUE((*fmu)->is_fmi3());
  EXPECT_EQ((*fmu)->description().guid, kToken);
  EXPECT_TRUE((*fmu)->description().cs_can_handle_variable_step);
  EXPECT_EQ((*fmu)->description().outputs, (std::vector<int>{1, 2}));  // h, v (time is variable 0)
  EXPECT_TRUE((*fmu)->Supports(FmuKind::kCoSimulation));
  EXPECT_FALSE((*fmu)->Supports(FmuKind::kModelExchange));
  EXPECT_NE((*fmu)->api3(FmuKind::kCoSimulation), nullptr);
  EXPECT_EQ((*fmu)->api(FmuKind::kCoSimulation), nullptr);
  ExpectError(FmuSystem::Create(*fmu), "does not provide model exchange (FmuSystem needs it)");
  // A model-exchange call on a co-simulation instance is API misuse, not sent to the binary.
  auto inst = FmuInstance::Create(*fmu, FmuKind::kCoSimulation, "i");
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  EXPECT_THROW((void)(*inst)->SetTime(1), std::logic_error);
}

TEST(Fmi3LoadTest, RefusalsNameTheFileAndTheReason) {
  TempDir dir;
  const std::string xml = ModelXml(kId);
  ExpectError(Fmu::Load(PackFmu(dir, kId, "", /*with_binary=*/false)),
              "binaries/x86_64-linux/bouncing_ball_fmi3.so is missing");

  ExpectError(Fmu::Load(PackFmu(dir, kId, Replace(xml, "instantiationToken=", "token="), true, "tok")),
              "modelDescription.xml: missing instantiationToken");
  ExpectError(Fmu::Load(PackFmu(dir, kId,
                                Replace(xml, "unit=\"m\" description=\"height above the floor\"/>",
                                        "unit=\"m\"><Dimension start=\"3\"/></Float64>"),
                                true, "arr")),
              "ModelVariables[2] <Float64> 'h': array variables (<Dimension>) are not supported");
  ExpectError(
      Fmu::Load(PackFmu(dir, kId,
                        Replace(xml, "name=\"v\" valueReference=\"1\"", "name=\"v\" valueReference=\"0\""),
                        true, "dup")),
      "variable 'v': valueReference 0 is also 'h''s");
  ExpectError(Fmu::Load(PackFmu(
                  dir, kId, Replace(xml, "<Output valueReference=\"1\"/>", "<Output valueReference=\"77\"/>"),
                  true, "out")),
              "ModelStructure/Output[1]: valueReference '77' names no variable");
  ExpectError(Fmu::Load(PackFmu(dir, kId,
                                Replace(xml, "<Float64 name=\"g\"", "<Float64 derivative=\"99\" name=\"g\""),
                                true, "der")),
              "variable 'g': derivative=99 does not name a Float64 variable");
  ExpectError(Fmu::Load(PackFmu(dir, kId, Replace(xml, "<Float64 name=\"g\"", "<Quaternion name=\"g\""), true,
                                "type")),
              "ModelVariables[4] <Quaternion> 'g': unknown variable type");

  // The description is fine; the binary refuses another token at instantiation.
  auto other = Fmu::Load(PackFmu(dir, kId, Replace(xml, kToken, "{other}"), true, "other"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ExpectError(FmuInstance::Create(*other, FmuKind::kCoSimulation, "t"),
              "fmi3InstantiateCoSimulation failed for 't': error: instantiationToken mismatch: {other}");
}

TEST(Fmi3LoadTest, AVariableOfATypeDoppelDoesNotReadIsNamedWithItsType) {
  TempDir dir;
  const std::string xml =
      Replace(ModelXml(kId), "</ModelVariables>",
              "<Float32 name=\"f32\" valueReference=\"7\" causality=\"local\"/></ModelVariables>");
  auto fmu = Fmu::Load(PackFmu(dir, kId, xml));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  auto sim = CoSimulation::Create(*fmu);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  ExpectError((*sim)->Get("f32"), "variable 'f32' is a Float32; Doppel reads Float64, Int32");
  EXPECT_NEAR(*(*sim)->Get("h"), 1.0, 0);  // the others still work
}

}  // namespace
}  // namespace doppel::fmu
