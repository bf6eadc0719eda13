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
using testing::ExpectError;
using testing::ModelXml;
using testing::PackFmu;
using testing::Replace;

constexpr const char* kId = "bouncing_ball_fmi3";
constexpr const char* kToken = "{8c4e810f-3df3-4a00-8276-176fa3c9f000}";

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
    <Float32 name="der(f)" valueReference="24" derivative="22"/>
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
  ASSERT_EQ(md->variables.size(), 8u);
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
  EXPECT_EQ(md->Find("n")->causality, Causality::kStructuralParameter);  // read, never written
  // 3.0's default variability: continuous for floats, discrete for the other types.
  EXPECT_EQ(md->Find("der(x)")->variability, Variability::kContinuous);
  EXPECT_EQ(md->Find("n")->variability, Variability::kFixed);
  EXPECT_EQ(md->Find("on")->variability, Variability::kDiscrete);
  EXPECT_EQ(md->Find("mode")->variability, Variability::kTunable);
  EXPECT_EQ(md->Find("der(f)")->derivative_of, 0);  // a Float32's derivative: not a state of Doppel's
  EXPECT_FALSE(md->me_needs_completed_integrator_step);
  ASSERT_EQ(md->outputs, std::vector<int>{1});  // indices, not value references
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
      "variable 'v': valueReference 0 is already used by 'h'");
  ExpectError(Fmu::Load(PackFmu(
                  dir, kId, Replace(xml, "<Output valueReference=\"1\"/>", "<Output valueReference=\"77\"/>"),
                  true, "out")),
              "ModelStructure/Output[2]: valueReference '77' names no variable");
  ExpectError(Fmu::Load(PackFmu(dir, kId,
                                Replace(xml, "<Float64 name=\"g\"", "<Float64 derivative=\"99\" name=\"g\""),
                                true, "der")),
              "variable 'g': derivative=99 does not name a float variable");
  ExpectError(
      Fmu::Load(PackFmu(dir, kId,
                        Replace(xml, "<Int32 name=\"mode\"", "<Int32 derivative=\"0\" name=\"mode\""), true,
                        "intder")),
      "ModelVariables[7] <Int32> 'mode': derivative= on a variable of type Int32 (only floats have one)");
  // A 2.0 binary under a 3.0 description: the fmi3 functions are missing.
  const std::string v2bin = dir.file("v2bin.fmu");
  testing::WriteZip(v2bin, {{"modelDescription.xml", xml},
                            {"binaries/x86_64-linux/bouncing_ball_fmi3.so",
                             testing::ReadText(testing::ModelBinary("bouncing_ball"))}});
  ExpectError(Fmu::Load(v2bin), "binaries/x86_64-linux/bouncing_ball_fmi3.so: does not export fmi3");
  ExpectError(Fmu::Load(PackFmu(dir, kId, Replace(xml, "<Float64 name=\"g\"", "<Quaternion name=\"g\""), true,
                                "type")),
              "ModelVariables[4] <Quaternion> 'g': unknown variable type");

  // The description is fine; the binary refuses another token at instantiation.
  auto other = Fmu::Load(PackFmu(dir, kId, Replace(xml, kToken, "{other}"), true, "other"));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ExpectError(FmuInstance::Create(*other, FmuKind::kCoSimulation, "t"),
              "fmi3InstantiateCoSimulation failed for 't': error: instantiationToken mismatch: {other}");
}

TEST(Fmi3LoadTest, ModelExchangeRefusalsNameTheReason) {
  TempDir dir;
  const std::string xml = ModelXml("tank_fmi3");
  ExpectError(Fmu::Load(PackFmu(dir, "tank_fmi3",
                                Replace(xml, "<ContinuousStateDerivative valueReference=\"1\"/>",
                                        "<ContinuousStateDerivative valueReference=\"1\"/>"
                                        "<ContinuousStateDerivative valueReference=\"1\"/>"),
                                true, "twice")),
              "ModelStructure/ContinuousStateDerivative lists 'der(h)' twice");
  ExpectError(Fmu::Load(PackFmu(dir, "tank_fmi3",
                                Replace(xml, "<Float64 name=\"h\" valueReference=\"0\"",
                                        "<Float32 name=\"h\" valueReference=\"0\""),
                                true, "f32state")),
              "ModelStructure/ContinuousStateDerivative names 'der(h)', the derivative of the Float32 'h' "
              "(Doppel's continuous states are Float64)");
  auto needs = Fmu::Load(
      PackFmu(dir, "tank_fmi3",
              Replace(xml, "<ModelExchange modelIdentifier=\"tank_fmi3\"",
                      "<ModelExchange needsCompletedIntegratorStep=\"true\" modelIdentifier=\"tank_fmi3\""),
              true, "needs"));
  ASSERT_TRUE(needs.ok()) << needs.status().ToString();
  EXPECT_TRUE((*needs)->description().me_needs_completed_integrator_step);
  ExpectError(FmuSystem::Create(*needs), "needsCompletedIntegratorStep), which FmuSystem does not call");
  // DoStep on a model-exchange instance is API misuse.
  auto fmu = Fmu::Load(PackFmu(dir, "tank_fmi3"));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  auto inst = FmuInstance::Create(*fmu, FmuKind::kModelExchange, "me");
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  EXPECT_THROW((void)(*inst)->DoStep(0, 1), std::logic_error);
}

// Int32, Boolean (C bool: one byte) and Enumeration (Int64) variables go through their own fmi3
// calls, both ways; fmi3DoStep's flags: eventHandlingNeeded is ignored (no event mode: the FMU
// handled its events inside the step), terminateSimulation is an error naming the time. The
// harness variables are the test framework's own (tests/fmu/models/fmi3_framework.c).
TEST(Fmi3LoadTest, NonFloatVariablesAndStepFlagsGoThroughTheirOwnCalls) {
  TempDir dir;
  auto fmu = Fmu::Load(PackFmu(dir, kId));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  CoSimulationOptions o;
  o.start_values = {{"mode", 5}, {"level", 2}};
  auto sim = CoSimulation::Create(*fmu, o);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  EXPECT_EQ(*(*sim)->Get("mode"), 5);
  EXPECT_EQ(*(*sim)->Get("level"), 2);
  EXPECT_EQ(*(*sim)->Get("enabled"), 1);  // the framework's start value
  ASSERT_TRUE((*sim)->Set("enabled", 0).ok());
  EXPECT_EQ(*(*sim)->Get("enabled"), 0);
  ASSERT_TRUE((*sim)->Set("mode", -7).ok());  // tunable
  EXPECT_EQ(*(*sim)->Get("mode"), -7);
  ASSERT_TRUE((*sim)->Set("level", 1).ok());
  EXPECT_EQ(*(*sim)->Get("level"), 1);

  ASSERT_TRUE((*sim)->Set("report_events", 1).ok());
  ASSERT_TRUE((*sim)->Step(0.1).ok());
  EXPECT_NEAR(*(*sim)->Get("h"), 1.0 - 0.5 * 9.81 * 0.01, 1e-12);
  ASSERT_TRUE((*sim)->Set("request_terminate", 1).ok());
  auto s = (*sim)->Step(0.1);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("fmi3DoStep at t = 0.100000 s"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("asked to terminate the simulation"), std::string::npos) << s.message();
}

TEST(Fmi3LoadTest, StructuralParametersAreReadNeverWritten) {
  TempDir dir;
  const std::string xml =
      Replace(ModelXml(kId), "<Float64 name=\"g\" valueReference=\"2\" causality=\"parameter\"",
              "<Float64 name=\"g\" valueReference=\"2\" causality=\"structuralParameter\"");
  auto fmu = Fmu::Load(PackFmu(dir, kId, xml));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  CoSimulationOptions o;
  o.start_values = {{"g", 1.6}};
  ExpectError(CoSimulation::Create(*fmu, o), "variable 'g' (structuralParameter, fixed) cannot be set");
  auto sim = CoSimulation::Create(*fmu);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  EXPECT_EQ(*(*sim)->Get("g"), 9.81);
  EXPECT_EQ((*sim)->Set("g", 1.6).code(), StatusCode::kInvalidArgument);
}

// The resources directory is passed as an absolute path ending in '/' (the test framework refuses
// anything else, a file:// URI included), and NULL when the FMU has none (the other tests).
TEST(Fmi3LoadTest, TheResourcesDirectoryIsPassedAsAnAbsolutePath) {
  TempDir dir;
  const std::string path = dir.file("res.fmu");
  testing::WriteZip(
      path, {{"modelDescription.xml", ModelXml(kId)},
             {"binaries/x86_64-linux/bouncing_ball_fmi3.so", testing::ReadText(testing::ModelBinary(kId))},
             {"resources/table.csv", "t,h\n0,1\n"}});
  auto fmu = Fmu::Load(path);
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  auto sim = CoSimulation::Create(*fmu);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
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
