// Live online fits (the serve config's `online_fit:` list, engine/online_fit.h): parsing with
// errors named by key, the startup check against the behavior models, a LiveFit giving exactly
// what estimate::RecursiveFit gives on the same quasi-static samples, and an engine whose bound
// twin recovers a pump curve that is not the nominal one while it runs.
#include "doppel/engine/online_fit.h"

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

TEST(OnlineFitConfig, ParsesEntriesWithTheDefaultForgetting) {
  auto none = ParseOnlineFitYaml("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto f = ParseOnlineFitYaml(
      "- {twins: pump-2, parameters: [shutoff_head_m, curve_k], forgetting: 0.99}\n"
      "- {twins: 'pump-*', parameters: [pump.bearing_wear]}\n");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_EQ(f->size(), 2u);
  EXPECT_EQ((*f)[0].where, "online_fit[0]");
  EXPECT_EQ((*f)[0].parameters, (std::vector<std::string>{"shutoff_head_m", "curve_k"}));
  EXPECT_EQ((*f)[0].forgetting, 0.99);
  EXPECT_EQ((*f)[1].twins, "pump-*");
  EXPECT_EQ((*f)[1].forgetting, 0.999);
  EXPECT_EQ(FindOnlineFit(*f, "pump-2"), &(*f)[0]);
  EXPECT_EQ(FindOnlineFit(*f, "pump-7"), &(*f)[1]);
  EXPECT_EQ(FindOnlineFit(*f, "tank-1"), nullptr);
}

TEST(OnlineFitConfig, ErrorsNameTheKeyAndTheReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{twins: a}", "config: online_fit: expected a list of {twins, parameters, forgetting}"},
      {"- 3", "config: online_fit[0]: expected a mapping {twins, parameters, forgetting}"},
      {"- {parameters: [a]}", "config: online_fit[0].twins: missing (a twin id or glob, e.g. pump-*)"},
      {"- {twins: p, parameters: [a], lambda: 1}",
       "config: online_fit[0].lambda: unknown key (known: twins, parameters, forgetting)"},
      {"- {twins: p}", "config: online_fit[0].parameters: missing (a list of parameter names)"},
      {"- {twins: p, parameters: []}",
       "config: online_fit[0].parameters: expected a non-empty list of parameter names"},
      {"- {twins: p, parameters: {a: 1}}",
       "config: online_fit[0].parameters: expected a non-empty list of parameter names"},
      {"- {twins: p, parameters: [a, a]}", "config: online_fit[0].parameters[1]: 'a' is listed twice"},
      {"- {twins: p, parameters: [[a]]}", "config: online_fit[0].parameters[0]: expected a non-empty string"},
      {"- {twins: p, parameters: [a]}\n- {twins: q, parameters: [a], forgetting: 1.5}",
       "config: online_fit[1].forgetting: 1.5 is outside (0, 1]"},
      {"- {twins: p, parameters: [a], forgetting: 0}",
       "config: online_fit[0].forgetting: 0 is outside (0, 1]"},
      {"- {twins: p, parameters: [a], forgetting: soon}",
       "config: online_fit[0].forgetting: expected a number"},
  };
  for (const auto& [yaml, message] : cases) {
    auto f = ParseOnlineFitYaml(yaml);
    ASSERT_FALSE(f.ok()) << yaml;
    EXPECT_EQ(f.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(f.status().message(), message) << yaml;
  }
  EXPECT_FALSE(ParseOnlineFitYaml("- {twins: [").ok());  // not YAML
}

TEST(OnlineFit, StartupCheckRefusesAParameterNoFittableModelHasNamingIt) {
  auto bound = BoundBehaviorModels(testing::SourceDir() + "/examples/models");
  ASSERT_TRUE(bound.ok()) << bound.status().ToString();
  const std::vector<const BehaviorModel*>& models = *bound;
  auto ok = ParseOnlineFitYaml("- {twins: 'pump-*', parameters: [curve_k, pump.shutoff_head_m]}");
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(CheckOnlineFits(*ok, models).ok());

  auto typo = ParseOnlineFitYaml("- {twins: pump-1, parameters: [curve_k, curve_kk]}");
  ASSERT_TRUE(typo.ok());
  const Status s = CheckOnlineFits(*typo, models);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("config: online_fit[0].parameters[1]: 'curve_kk' is not a parameter of a "
                             "behavior model that can be fitted live (dtmi:doppel:demo:Pump;1:"),
            std::string::npos)
      << s.ToString();
  EXPECT_NE(s.message().find("pump.curve_k"), std::string::npos) << "lists the known parameters";

  auto twice = ParseOnlineFitYaml("- {twins: pump-1, parameters: [curve_k, pump.curve_k]}");
  ASSERT_TRUE(twice.ok()) << "the parser sees two names";
  EXPECT_EQ(CheckOnlineFits(*twice, models).message(),
            "config: online_fit[0].parameters[1]: 'pump.curve_k' names a parameter listed before");
}

TEST(OnlineFit, CreateNamesTheEntryForAnUnknownParameter) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  ASSERT_NE(pump, nullptr);
  auto f = LiveFit::Create(*pump, pump->system().DefaultValues(SignalKind::kParameter), {},
                           TwinOnlineFit{"online_fit[2]", "pump-1", {"curve_k", "nope"}, 0.999});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().message(),
            "online_fit[2].parameters[1]: 'nope' is not a parameter of " + std::string(kPump));
}

// Quasi-static pump samples: speed and motor temperature as measured, the other four sensors
// with noise, a true shutoff head 4 % above nominal, at a few speeds and tank levels.
struct Sample {
  estimate::Measurement group;
  Eigen::VectorXd x, u;
};
std::vector<Sample> PumpSamples(const BehaviorModel& pump, double h0, int n, uint64_t seed) {
  const physics::System& sys = pump.system();
  Eigen::VectorXd p = sys.DefaultValues(SignalKind::kParameter);
  p[sys.IndexOf(SignalKind::kParameter, "pump.shutoff_head_m")] = h0;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd;
  std::vector<Sample> out;
  Eigen::VectorXd y(sys.num_outputs());
  const int m = pump.num_measurements();
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.x.resize(2);
    s.x << 1100 + 50 * (i % 7), 45 + (i % 5);
    s.u = pump.Inputs(1.5 + 0.25 * (i % 9), physics::kNaN);
    sys.CalcOutputs(0.0, s.x, s.u, p, y);
    s.group.values.resize(m);
    s.group.std.resize(m);
    s.group.present.assign(static_cast<size_t>(m), true);
    for (int k = 0; k < m; ++k) {
      const double v = y[pump.measured_outputs()[static_cast<size_t>(k)]];
      const double sd = pump.SensorStd(k, v);
      s.group.std[k] = sd;
      s.group.values[k] =
          v + (sd + (pump.measurement_names()[static_cast<size_t>(k)] == "vibration_mm_s" ? 0.03 * std::abs(v)
                                                                                          : 0.0)) *
                  nd(rng);
    }
    // States as measured: the fit takes the readings (the model was evaluated at s.x).
    s.group.values[pump.Channel("speed_rpm")] = s.x[0];
    s.group.values[pump.Channel("motor_temp_c")] = s.x[1];
    if (i % 10 == 3) s.group.present[static_cast<size_t>(pump.Channel("power_kw"))] = false;  // a gap
    out.push_back(std::move(s));
  }
  return out;
}

TEST(OnlineFit, GivesExactlyWhatRecursiveFitGivesOnTheSameSamples) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  ASSERT_NE(pump, nullptr);
  const physics::System& sys = pump->system();
  const Eigen::VectorXd p0 = sys.DefaultValues(SignalKind::kParameter);
  const double h0 = 1.04 * p0[sys.IndexOf(SignalKind::kParameter, "pump.shutoff_head_m")];
  const Eigen::VectorXd rel = pump->InitialOptions(Eigen::VectorXd::Zero(6), {}, 0).measurement_rel_std;
  auto live =
      LiveFit::Create(*pump, p0, rel, TwinOnlineFit{"online_fit[0]", "pump-1", {"shutoff_head_m"}, 0.999});
  ASSERT_TRUE(live.ok()) << live.status().ToString();

  // The independent computation: RecursiveFit with the documented prior, residual outputs and
  // noise (absolute std + relative std at the prediction).
  estimate::RecursiveFitOptions o;
  o.parameters = {"pump.shutoff_head_m"};
  o.outputs = {"flow_m3h", "discharge_pressure_bar", "power_kw", "vibration_mm_s"};
  o.forgetting = 0.999;
  // DefaultParameterPrior for a positive head: std 10 % of nominal, bounds [0, inf).
  o.initial_std = Eigen::VectorXd::Constant(1, 0.1 * h0 / 1.04);
  o.lower_bound = Eigen::VectorXd::Constant(1, 0.0);
  o.upper_bound = Eigen::VectorXd::Constant(1, INFINITY);
  auto ref = estimate::RecursiveFit::Create(sys, p0, o);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();

  const std::vector<int> ch = {pump->Channel("flow_m3h"), pump->Channel("discharge_pressure_bar"),
                               pump->Channel("power_kw"), pump->Channel("vibration_mm_s")};
  Eigen::VectorXd predicted(sys.num_outputs());
  int stepped = 0;
  for (const Sample& s : PumpSamples(*pump, h0, 300, 11)) {
    stepped += live->Add(kT0, s.group, s.u) ? 1 : 0;
    Eigen::VectorXd y(4), sd(4);
    std::vector<bool> present(4);
    sys.CalcOutputs(0.0, s.x, s.u, ref->all_parameters(), predicted);
    for (int j = 0; j < 4; ++j) {
      const int k = ch[static_cast<size_t>(j)];
      present[static_cast<size_t>(j)] = s.group.present[static_cast<size_t>(k)];
      y[j] = present[static_cast<size_t>(j)] ? s.group.values[k] : 0.0;
      sd[j] = s.group.std[k] + rel[k] * std::abs(predicted[pump->measured_outputs()[static_cast<size_t>(k)]]);
    }
    ASSERT_TRUE(ref->Update(s.x, s.u, y, present, sd).ok());
  }
  EXPECT_EQ(stepped, 300);
  ASSERT_EQ(live->value().size(), 1);
  EXPECT_NEAR(live->value()[0], ref->value()[0], 1e-9 * h0);
  const OnlineFitView v = live->View();
  EXPECT_EQ(v.samples, 300);
  EXPECT_EQ(v.skipped, 0);
  ASSERT_EQ(v.parameters.size(), 1u);
  EXPECT_EQ(v.parameters[0].name, "shutoff_head_m");
  EXPECT_EQ(
      v.parameters[0].unit,
      sys.parameters()[static_cast<size_t>(sys.IndexOf(SignalKind::kParameter, "pump.shutoff_head_m"))].unit);
  EXPECT_NEAR(v.parameters[0].std, std::sqrt(ref->covariance()(0, 0)), 1e-12);
  // And the answer is the truth, within a few standard errors.
  EXPECT_NEAR(live->value()[0], h0, 4 * v.parameters[0].std + 1e-3 * h0);
  EXPECT_EQ(live->series_names(), std::vector<std::string>{"fit.shutoff_head_m"});
}

TEST(OnlineFit, WaitsForEveryStateAndHoldsAStateFromItsLastReading) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  ASSERT_NE(pump, nullptr);
  const physics::System& sys = pump->system();
  auto live = LiveFit::Create(*pump, sys.DefaultValues(SignalKind::kParameter), {},
                              TwinOnlineFit{"online_fit[0]", "pump-1", {"curve_k"}, 1.0});
  ASSERT_TRUE(live.ok());
  std::vector<Sample> s = PumpSamples(*pump, 40, 3, 1);
  const int temp = pump->Channel("motor_temp_c");
  s[0].group.present[static_cast<size_t>(temp)] = false;  // temperature never seen yet
  EXPECT_FALSE(live->Add(kT0, s[0].group, s[0].u));
  EXPECT_EQ(live->View().samples, 0);
  EXPECT_TRUE(live->Add(kT0 + 1, s[1].group, s[1].u));
  s[2].group.present[static_cast<size_t>(temp)] = false;  // held from s[1]
  EXPECT_TRUE(live->Add(kT0 + 2, s[2].group, s[2].u));
  // Only states present: nothing to compare.
  estimate::Measurement states_only = s[2].group;
  std::fill(states_only.present.begin(), states_only.present.end(), false);
  states_only.present[static_cast<size_t>(pump->Channel("speed_rpm"))] = true;
  EXPECT_FALSE(live->Add(kT0 + 3, states_only, s[2].u));
  EXPECT_EQ(live->View().samples, 2);
  EXPECT_EQ(live->View().ts_ns, kT0 + 2);
}

// A pump whose real shutoff head is 4 % above nominal feeds an engine whose pump-1 is bound to a
// live fit of that head: the estimate endpoint and the fit.* series carry the fitted value, and
// the unbound pump-2 has neither.
TEST(OnlineFit, BoundTwinRecoversAShiftedPumpCurveWhileItRuns) {
  auto d = physics::MakePumpTwinDiagram();
  ASSERT_TRUE(d.ok());
  const physics::System& sys = **d;
  const double nominal =
      sys.DefaultValues(SignalKind::kParameter)[sys.IndexOf(SignalKind::kParameter, "pump.shutoff_head_m")];
  const double h0 = 1.04 * nominal;

  testing::TempDir dir;
  MetricsRegistry metrics;
  EngineOptions o;
  o.data_dir = dir.file("data");
  o.models_dir = testing::SourceDir() + "/examples/models";
  o.shards = 1;
  o.provision = {{"pump-*", kPump}};
  o.fsync = store::FsyncPolicy::kNever;
  o.now_ns = [] { return kT0; };
  o.estimation.online_fits = {{"online_fit[0]", "pump-1", {"shutoff_head_m"}, 0.999}};
  auto engine = Engine::Open(o, &metrics, platform::DefaultEnv());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->Start().ok());

  testing_pump::PumpTelemetry pump({{"pump.shutoff_head_m", h0}}, 7);
  for (int t = 1; t <= 600; ++t) {
    pump.AdvanceTo(t);
    std::vector<Reading> msg;
    for (const char* twin : {"pump-1", "pump-2"}) {
      pump.Append(kT0 + t * kNsPerS, twin, testing_pump::AllSensors(), /*noise=*/true, &msg);
    }
    ASSERT_TRUE((*engine)->Submit(std::move(msg)).ok());
  }
  (*engine)->Drain();
  auto e1 = (*engine)->GetEstimate("pump-1");
  ASSERT_TRUE(e1.ok()) << e1.status().ToString();
  ASSERT_TRUE(e1->fit.has_value());
  ASSERT_EQ(e1->fit->parameters.size(), 1u);
  const EstimatedValue& fit = e1->fit->parameters[0];
  std::printf("shutoff head: nominal %.3f, true %.3f, live fit %.3f ± %.3f m after %lld samples\n", nominal,
              h0, fit.value, fit.std, static_cast<long long>(e1->fit->samples));
  EXPECT_EQ(fit.name, "shutoff_head_m");
  EXPECT_GT(e1->fit->samples, 500);
  EXPECT_NEAR(fit.value, h0, std::max(4 * fit.std, 0.005 * h0));
  EXPECT_GT(std::abs(fit.value - nominal), 0.5 * (h0 - nominal)) << "moved off the nominal curve";

  auto series = (*engine)->QueryTelemetry("pump-1", "fit.shutoff_head_m", 0, INT64_MAX, 0);
  ASSERT_TRUE(series.ok()) << series.status().ToString();
  ASSERT_FALSE(series->empty());
  EXPECT_DOUBLE_EQ(series->back().value, fit.value);

  auto e2 = (*engine)->GetEstimate("pump-2");
  ASSERT_TRUE(e2.ok());
  EXPECT_FALSE(e2->fit.has_value());
  EXPECT_EQ((*engine)->QueryTelemetry("pump-2", "fit.shutoff_head_m", 0, INT64_MAX, 0).status().code(),
            StatusCode::kNotFound);
  (*engine)->Stop();
}

}  // namespace
}  // namespace doppel::engine
