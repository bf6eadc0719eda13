// Loading FMUs: description parsing and refusal of malformed FMUs with clear errors.
#include <gtest/gtest.h>

#include <filesystem>

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

TEST(FmuLoadTest, ParsesVariablesStatesAndInterfaceOfTheTankFmu) {
  TempDir dir;
  auto fmu = Fmu::Load(PackFmu(dir, "tank"));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  const ModelDescription& md = (*fmu)->description();
  EXPECT_EQ(md.model_name, "Tank");
  EXPECT_EQ(md.model_exchange_id.value_or(""), "tank");
  EXPECT_FALSE(md.co_simulation_id.has_value());
  ASSERT_EQ(md.variables.size(), 7u);
  ASSERT_EQ(md.derivatives.size(), 1u);
  EXPECT_EQ(md.variables[static_cast<size_t>(md.StateOf(0))].name, "h");
  EXPECT_EQ(md.Find("k")->variability, Variability::kTunable);
  EXPECT_EQ(*md.Find("A")->start, 2.0);
  EXPECT_EQ(md.Find("q_in")->unit, "m3/s");
  EXPECT_TRUE((*fmu)->Supports(FmuKind::kModelExchange));
  EXPECT_FALSE((*fmu)->Supports(FmuKind::kCoSimulation));
  // The temporary extraction directory goes away with the Fmu.
  const std::string extracted = (*fmu)->directory();
  EXPECT_TRUE(std::filesystem::exists(extracted + "/binaries/linux64/tank.so"));
  fmu = Status(StatusCode::kInternal, "drop");
  EXPECT_FALSE(std::filesystem::exists(extracted));
}

TEST(FmuLoadTest, MalformedXmlIsRefusedNamingTheFile) {
  TempDir dir;
  std::string xml = ModelXml("tank");
  xml = xml.substr(0, xml.size() / 2);  // truncated
  ExpectError(Fmu::Load(PackFmu(dir, "tank", xml)), "tank.fmu:modelDescription.xml: malformed XML");
}

TEST(FmuLoadTest, MissingBinaryIsRefusedNamingThePath) {
  TempDir dir;
  ExpectError(Fmu::Load(PackFmu(dir, "tank", "", /*with_binary=*/false)),
              "binaries/linux64/tank.so is missing");
}

TEST(FmuLoadTest, UnsupportedFmiVersionsAreRefusedNamingTheVersion) {
  TempDir dir;
  for (const char* v : {"1.0", "4.0"}) {
    std::string xml =
        Replace(ModelXml("tank"), "fmiVersion=\"2.0\"", std::string("fmiVersion=\"") + v + "\"");
    ExpectError(Fmu::Load(PackFmu(dir, "tank", xml, true, std::string("v") + v)),
                std::string("fmiVersion '") + v + "' is not supported (Doppel loads FMI 2.0 and 3.0 FMUs)");
  }
}

TEST(FmuLoadTest, StructuralErrorsNameTheVariable) {
  TempDir dir;
  std::string no_vr = Replace(ModelXml("tank"), "name=\"q_in\" valueReference=\"2\"", "name=\"q_in\"");
  ExpectError(Fmu::Load(PackFmu(dir, "tank", no_vr, true, "a")),
              "ScalarVariable[3] 'q_in': missing or invalid valueReference");
  std::string bad_der = Replace(ModelXml("tank"), "derivative=\"1\"", "derivative=\"99\"");
  ExpectError(Fmu::Load(PackFmu(dir, "tank", bad_der, true, "b")),
              "derivative=99 does not name a Real variable");
  std::string dup = Replace(ModelXml("tank"), "name=\"A\"", "name=\"k\"");
  ExpectError(Fmu::Load(PackFmu(dir, "tank", dup, true, "c")), "duplicate variable name 'k'");
  std::string no_kind = Replace(ModelXml("tank"), "<ModelExchange modelIdentifier=\"tank\"/>", "");
  ExpectError(Fmu::Load(PackFmu(dir, "tank", no_kind, true, "d")),
              "neither <ModelExchange> nor <CoSimulation>");
}

TEST(FmuLoadTest, MissingVariablesAreRefusedListingTheDeclaredOnes) {
  TempDir dir;
  auto fmu = Fmu::Load(PackFmu(dir, "bouncing_ball"));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  CoSimulationOptions o;
  o.start_values = {{"restitution", 0.5}};
  auto sim = CoSimulation::Create(*fmu, o);
  ASSERT_FALSE(sim.ok());
  EXPECT_NE(sim.status().message().find("no variable 'restitution' (the FMU declares: h, v, g, e, h0)"),
            std::string::npos)
      << sim.status().message();
  auto ok = CoSimulation::Create(*fmu);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ((*ok)->Get("height").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*ok)->Set("h", 3).code(), StatusCode::kInvalidArgument);  // an output

  TempDir dir2;
  auto tank = Fmu::Load(PackFmu(dir2, "tank"));
  ASSERT_TRUE(tank.ok());
  FmuSystemOptions so;
  so.rename = {{"level", "level_m"}};
  auto sys = FmuSystem::Create(*tank, so);
  ASSERT_FALSE(sys.ok());
  EXPECT_NE(sys.status().message().find("rename: "), std::string::npos);
  EXPECT_NE(sys.status().message().find("no variable 'level'"), std::string::npos);
}

TEST(FmuLoadTest, WrongInterfaceGuidAndGarbageAreRefused) {
  TempDir dir;
  auto bb = Fmu::Load(PackFmu(dir, "bouncing_ball"));
  ASSERT_TRUE(bb.ok());
  auto sys = FmuSystem::Create(*bb);  // co-simulation only
  ASSERT_FALSE(sys.ok());
  EXPECT_NE(sys.status().message().find("does not provide model exchange"), std::string::npos);

  std::string guid = Replace(ModelXml("tank"), "{3f1d2a9b-tank-4c55-8e0f-000000000003}", "{other}");
  auto wrong = Fmu::Load(PackFmu(dir, "tank", guid, true, "guid"));
  ASSERT_TRUE(wrong.ok());  // the description itself is fine; the binary refuses the GUID
  auto inst = FmuInstance::Create(*wrong, FmuKind::kModelExchange, "t");
  ASSERT_FALSE(inst.ok());
  EXPECT_NE(inst.status().message().find("fmi2Instantiate failed for 't': error: GUID mismatch: {other}"),
            std::string::npos)
      << inst.status().message();

  const std::string junk = dir.file("junk.fmu");
  std::ofstream(junk) << "this is not a zip";
  ExpectError(Fmu::Load(junk), "not a readable zip archive");
  ExpectError(Fmu::Load(dir.file("absent.fmu")), "no such file");
  const std::string no_md = dir.file("nomd.fmu");
  testing::WriteZip(no_md, {{"readme.txt", "hi"}});
  ExpectError(Fmu::Load(no_md), "no modelDescription.xml");
  const std::string evil = dir.file("evil.fmu");
  testing::WriteZip(evil, {{"../escape.txt", "x"}, {"modelDescription.xml", ModelXml("tank")}});
  ExpectError(Fmu::Load(evil), "unsafe entry name '../escape.txt'");
}

}  // namespace
}  // namespace doppel::fmu
