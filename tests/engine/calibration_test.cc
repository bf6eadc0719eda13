// Per-twin calibrated parameters (the serve config's `calibration:` list, engine/calibration.h):
// parsing with errors named by key, first-match selection, how a calibration enters a twin's
// filter model and initial estimate, the startup check against the behavior models, and an
// engine whose calibrated twin estimates wear right on a pump whose curve is not the nominal one.
#include "doppel/engine/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "doppel/engine/behavior.h"
#include "doppel/engine/behavior_config.h"
#include "doppel/engine/engine.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"
#include "doppel/platform/env.h"
#include "engine/pump_telemetry.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

using physics::SignalKind;
const char* kPump = "dtmi:doppel:demo:Pump;1";
constexpr TimeNs kT0 = 1'700'000'000 * kNsPerS;

TEST(CalibrationConfig, ParsesEntriesInOrderAndTheEmptyList) {
  auto none = ParseCalibrationYaml("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto c = ParseCalibrationYaml(
      "- {twins: pump-2, parameters: {shutoff_head_m: 46.3, curve_k: 6.9e-4}}\n"
      "- {twins: 'pump-*', parameters: {pump.bearing_wear: 0.1}}\n");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 2u);
  EXPECT_EQ((*c)[0].where, "calibration[0]");
  EXPECT_EQ((*c)[0].twins, "pump-2");
  ASSERT_EQ((*c)[0].parameters.size(), 2u);
  EXPECT_EQ((*c)[0].parameters[1].first, "curve_k");
  EXPECT_DOUBLE_EQ((*c)[0].parameters[1].second, 6.9e-4);
  EXPECT_EQ((*c)[1].parameters[0].first, "pump.bearing_wear");
}

TEST(CalibrationConfig, ErrorsNameTheKeyAndTheReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{twins: a}", "config: calibration: expected a list of {twins, parameters}"},
      {"- 3", "config: calibration[0]: expected a mapping {twins, parameters}"},
      {"- {parameters: {a: 1}}", "config: calibration[0].twins: missing (a twin id or glob, e.g. pump-2)"},
      {"- {twins: p, parameters: {a: 1}, gain: 2}",
       "config: calibration[0].gain: unknown key (known: twins, parameters)"},
      {"- {twins: p}", "config: calibration[0].parameters: missing (parameter name -> value)"},
      {"- {twins: p, parameters: {}}", "config: calibration[0].parameters: must set at least one parameter"},
      {"- {twins: p, parameters: {a: 1}}\n- {twins: q, parameters: {curve_k: fast}}",
       "config: calibration[1].parameters.curve_k: expected a number"},
      {"- {twins: p, parameters: {a: .nan}}", "config: calibration[0].parameters.a: expected a number"},
      {"- {twins: p, parameters: {a: 1, a: 2}}", "config: calibration[0].parameters.a: given twice"},
      {"- {twins: p, parameters: [1, 2]}",
       "config: calibration[0].parameters: expected a mapping of parameter name to number"},
  };
  for (const auto& [yaml, message] : cases) {
    auto c = ParseCalibrationYaml(yaml);
    ASSERT_FALSE(c.ok()) << yaml;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c.status().message(), message) << yaml;
  }
  EXPECT_FALSE(ParseCalibrationYaml("- {twins: [").ok());  // not YAML
}

TEST(Calibration, FirstMatchingEntryWins) {
  auto c = ParseCalibrationYaml(
      "- {twins: pump-2, parameters: {curve_k: 1}}\n- {twins: 'pump-*', parameters: {curve_k: 2}}\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(FindCalibration(*c, "pump-2"), &(*c)[0]);
  EXPECT_EQ(FindCalibration(*c, "pump-1"), &(*c)[1]);
  EXPECT_EQ(FindCalibration(*c, "tank-1"), nullptr);
}

TEST(Calibration, FixedParametersGoToTheFilterModelEstimatedOnesToTheInitialMean) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  ASSERT_NE(pump, nullptr);
  const physics::System& sys = pump->system();
  estimate::FilterModel fm = pump->filter_model();
  Eigen::VectorXd first = Eigen::VectorXd::Constant(pump->num_channels(), 1300);
  estimate::EstimatorOptions o = pump->InitialOptions(first, std::vector<bool>(first.size(), false), 0);
  const Eigen::VectorXd mean_before = o.initial_mean;
  TwinCalibration c{
      "calibration[0]", "pump-1", {{"shutoff_head_m", 46.5}, {"bearing_wear", 0.12}, {"nope", 1}}};

  const std::vector<std::string> unknown = ApplyCalibration(*pump, c, &fm, &o);

  EXPECT_EQ(unknown, std::vector<std::string>{"nope"});
  ASSERT_EQ(fm.parameters.size(), sys.num_parameters());
  EXPECT_EQ(fm.parameters[sys.IndexOf(SignalKind::kParameter, "pump.shutoff_head_m")], 46.5);
  const std::vector<int>& est = pump->estimated_parameter_indices();
  const int bearing = pump->ParameterIndex("bearing_wear");
  const auto j = std::find(est.begin(), est.end(), bearing) - est.begin();
  ASSERT_LT(j, static_cast<long>(est.size()));
  EXPECT_EQ(o.initial_mean[sys.num_states() + j], 0.12);
  // Everything else is as the model had it.
  for (Eigen::Index i = 0; i < o.initial_mean.size(); ++i) {
    if (i != sys.num_states() + j) {
      EXPECT_EQ(o.initial_mean[i], mean_before[i]) << i;
    }
  }
  const Eigen::VectorXd nominal = sys.DefaultValues(SignalKind::kParameter);
  for (Eigen::Index i = 0; i < nominal.size(); ++i) {
    if (i != sys.IndexOf(SignalKind::kParameter, "pump.shutoff_head_m") && i != bearing) {
      EXPECT_EQ(fm.parameters[i], nominal[i]) << sys.parameters()[static_cast<size_t>(i)].name;
    }
  }
}

TEST(Calibration, StartupCheckRefusesUnknownNamesAndWearOutsideZeroToOne) {
  auto bound = BoundBehaviorModels(testing::SourceDir() + "/examples/models");
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  const std::vector<const BehaviorModel*>& models = *bound;
  auto ok =
      ParseCalibrationYaml("- {twins: 'pump-*', parameters: {curve_k: 7.0e-4, pump.impeller_wear: 0.3}}");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(CheckCalibrations(*ok, models).ok());

  auto typo = ParseCalibrationYaml("- {twins: pump-1, parameters: {curve_kk: 7.0e-4}}");
  ASSERT_TRUE(typo.ok());
  const Status s = CheckCalibrations(*typo, models);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(
      s.message().find("config: calibration[0].parameters.curve_kk: not a parameter of any behavior model ("
                       "dtmi:doppel:demo:Pump;1:"),
      std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("pump.curve_k"), std::string::npos) << "lists the known parameters";

  auto worn = ParseCalibrationYaml("- {twins: pump-1, parameters: {bearing_wear: 1.5}}");
  ASSERT_TRUE(worn.ok());
  EXPECT_EQ(CheckCalibrations(*worn, models).message(),
            "config: calibration[0].parameters.bearing_wear: a wear must be in [0, 1], got 1.5");
}

// Two pumps with the same real curve, 4 % above the nominal shutoff head, and the same impeller
// wear feed one engine; only pump-1 is calibrated (its measured H0). The nominal twin explains
// the extra head as less wear; the calibrated one finds the wear.
TEST(Calibration, CalibratedTwinEstimatesWearOnAPumpWhoseCurveIsNotNominal) {
  auto d = physics::MakePumpTwinDiagram();
  ASSERT_TRUE(d.ok());
  const physics::System& sys = **d;
  const double h0 =
      1.04 *
      sys.DefaultValues(SignalKind::kParameter)[sys.IndexOf(SignalKind::kParameter, "pump.shutoff_head_m")];
  constexpr double kWear = 0.25;

  testing::TempDir dir;
  MetricsRegistry metrics;
  EngineOptions o;
  o.data_dir = dir.file("data");
  o.models_dir = testing::SourceDir() + "/examples/models";
  o.shards = 1;
  o.provision = {{"pump-*", kPump}};
  o.fsync = store::FsyncPolicy::kNever;
  o.now_ns = [] { return kT0; };
  o.estimation.calibrations = {{"calibration[0]", "pump-1", {{"shutoff_head_m", h0}}}};
  auto engine = Engine::Open(o, &metrics, platform::DefaultEnv());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->Start().ok());

  testing_pump::PumpTelemetry pump({{"pump.shutoff_head_m", h0}, {"pump.impeller_wear", kWear}}, 7);
  for (int t = 1; t <= 900; ++t) {
    pump.AdvanceTo(t);
    std::vector<Reading> msg;
    for (const char* twin : {"pump-1", "pump-2"}) {
      pump.Append(kT0 + t * kNsPerS, twin, testing_pump::AllSensors(), /*noise=*/true, &msg);
    }
    ASSERT_TRUE((*engine)->Submit(std::move(msg)).ok());
  }
  (*engine)->Drain();
  auto wear = [&](const std::string& twin) -> double {
    auto e = (*engine)->GetEstimate(twin);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) return NAN;
    for (const auto& p : e->parameters) {
      if (p.name == "impeller_wear") return p.value;
    }
    ADD_FAILURE() << "no impeller_wear in the estimate of " << twin;
    return NAN;
  };
  const double calibrated = wear("pump-1"), nominal = wear("pump-2");
  std::printf("impeller wear %.3f: calibrated twin %.4f, nominal twin %.4f\n", kWear, calibrated, nominal);
  EXPECT_NEAR(calibrated, kWear, 0.02);
  EXPECT_GT(std::abs(nominal - kWear), 0.05) << "the nominal twin is fooled by the curve";
  (*engine)->Stop();
}

}  // namespace
}  // namespace doppel::engine
