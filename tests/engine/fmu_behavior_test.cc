// An FMU as a twin's behavior model from the serve config's `behavior:` list: the test tank FMU
// (tests/fmu/models/tank.c, A h' = q_in - k sqrt(h)) bound to a DTDL tank model; readings from an
// independent integration with a true outlet coefficient other than the FMU's; the engine's EKF
// (finite-difference Jacobians through the FMU) estimates it; GetEstimate and what-ifs on top;
// config errors named by key.
#include "doppel/engine/fmu_behavior.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>

#include "doppel/engine/behavior_config.h"
#include "doppel/engine/engine.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

// DOPPEL_FMU_MODEL_DIR: where CMake builds the test FMUs (fmu_model_<id> targets).
#include "fmu/fmu_test_util.h"

namespace doppel::engine {
namespace {

constexpr TimeNs kT0 = 1'700'000'000 * kNsPerS;
constexpr double kArea = 2.0, kTrueK = 0.04, kNominalK = 0.05, kNoise = 0.005;

const char* kTankDtdl = R"({
  "@context": "dtmi:dtdl:context;3",
  "@id": "MODEL",
  "@type": "Interface",
  "contents": [
    {"@type": "Telemetry", "name": "level_m", "schema": "double"},
    {"@type": "Telemetry", "name": "inflow_m3s", "schema": "double"},
    {"@type": "Telemetry", "name": "status_code", "schema": "integer"}
  ]
})";

std::string Replace(std::string s, const std::string& what, const std::string& with) {
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + with.size()))
    s.replace(p, what.size(), with);
  return s;
}

// Independent reference: classical RK4 on A h' = q - k sqrt(h), written out here.
double TankReference(double h, double q, double k, double seconds, double dt = 0.01) {
  auto f = [&](double x) { return (q - k * std::sqrt(std::max(x, 0.0))) / kArea; };
  const int n = static_cast<int>(std::lround(seconds / dt));
  for (int i = 0; i < n; ++i) {
    const double k1 = f(h), k2 = f(h + 0.5 * dt * k1), k3 = f(h + 0.5 * dt * k2), k4 = f(h + dt * k3);
    h += dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  return h;
}

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::unique_ptr<Engine> engine;
  std::string model, fmu_path;

  // The behavior registry lives for the process: every fixture gets its own model id
  // ("dtmi:test:fmubeh:Tank;1" -> "dtmi:test:fmubeh:Tank;1001", ...), so --gtest_repeat works.
  // `fmu_id`: the test FMU, "tank" (FMI 2.0) or "tank_fmi3" (the same model as an FMI 3.0 FMU).
  explicit Fixture(const std::string& model_id, const std::string& fmu_id = "tank") {
    static int runs = 0;
    model = model_id + std::to_string(1000 * ++runs);
    std::ofstream(dir.file("tank.json")) << Replace(kTankDtdl, "MODEL", model);
    fmu_path = fmu::testing::PackFmu(dir, fmu_id);
  }
  std::string Config(const std::string& estimator = "ekf") const {
    return "- model: \"" + model + "\"\n  fmu: " + fmu_path + "\n  estimator: " + estimator +
           "\n"
           "  outputs: {h: level_m}\n"
           "  inputs: {q_in: inflow_m3s}\n"
           "  sensor_std: {level_m: 0.005}\n"
           "  states: {h: {initial_std: 0.05, process_std: 1.0e-4, min: 0}}\n"
           "  estimate:\n"
           "    - {parameter: k, std: 0.02, process_std: 1.0e-5, min: 0.001, max: 1}\n";
  }
  Status Register(const std::string& yaml) {
    auto n = RegisterFmuBehaviors(yaml, dir.path());
    if (!n.ok()) return n.status();
    return *n == 1 ? Status::Ok() : Internal("registered " + std::to_string(*n));
  }
  void Open() {
    EngineOptions o;
    o.data_dir = dir.file("data");
    o.models_dir = dir.path();
    o.shards = 2;
    o.allowed_lateness_ns = 100 * kNsPerMs;
    o.provision = {{"tank-*", model}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [] { return kT0; };
    o.estimation.min_update_interval_s = 0;
    auto e = Engine::Open(o, &metrics, platform::DefaultEnv());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
    ASSERT_TRUE(engine->Start().ok());
  }
  // Level readings (noisy) and the inflow every second for `seconds` s from the independent
  // integration with k = kTrueK; the inflow reported at t holds until the next report. Returns
  // the true final level.
  double Feed(const std::string& twin, int seconds, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd(0.0, kNoise);
    double h = 1.0;  // the FMU's h0
    for (int t = 0; t <= seconds; ++t) {
      const double q = t < seconds / 2 ? 0.02 : 0.03;
      const TimeNs ts = kT0 + t * kNsPerS;
      EXPECT_TRUE(engine
                      ->Submit({Reading{twin, "level_m", ts, h + nd(rng), Quality::kGood},
                                Reading{twin, "inflow_m3s", ts, q, Quality::kGood}})
                      .ok());
      if (t < seconds) h = TankReference(h, q, kTrueK, 1.0);
    }
    engine->Drain();
    return h;
  }
};

TEST(FmuBehaviorTest, EkfThroughTheFmuEstimatesTheOutletCoefficientWithSaneNis) {
  Fixture f("dtmi:test:fmubeh:Tank;1");
  ASSERT_TRUE(f.Register(f.Config()).ok());
  const BehaviorModel* bm = BehaviorModel::Find(f.model);
  ASSERT_NE(bm, nullptr);
  EXPECT_FALSE(bm->station_pump());
  EXPECT_EQ(bm->Channel("level_m"), 0);
  EXPECT_EQ(bm->Channel("inflow_m3s"), 1);  // an input channel
  EXPECT_EQ(bm->Channel("status_code"), -1);
  EXPECT_EQ(bm->InputIndex("inflow_m3s"), bm->InputIndex("q_in"));
  f.Open();
  const double h_true = f.Feed("tank-1", 1200, 11);
  auto e = f.engine->GetEstimate("tank-1");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->model, f.model);
  EXPECT_EQ(e->estimator, "ekf");
  EXPECT_EQ(e->ts_ns, kT0 + 1200 * kNsPerS);
  EXPECT_EQ(e->updates, 1201);
  EXPECT_EQ(e->divergences, 0);
  // The FMU's state and the estimated parameter, with std and unit.
  ASSERT_EQ(e->states.size(), 1u);
  EXPECT_EQ(e->states[0].name, "h");
  EXPECT_EQ(e->states[0].unit, "m");
  EXPECT_NEAR(e->states[0].value, h_true, 3 * kNoise);
  ASSERT_EQ(e->parameters.size(), 1u);
  const EstimatedValue& k = e->parameters[0];
  EXPECT_EQ(k.name, "k");
  EXPECT_EQ(k.unit, "m2.5/s");
  std::printf(
      "EKF through the FMU: k = %.5f ± %.5f (truth %.3f, prior %.3f), h = %.4f (truth %.4f), mean NIS/dof "
      "%.3f\n",
      k.value, k.std, kTrueK, kNominalK, e->states[0].value, h_true, e->mean_nis_per_dof);
  EXPECT_NEAR(k.value, kTrueK, 0.002) << "prior " << kNominalK;
  EXPECT_GT(k.std, 0);
  EXPECT_LT(k.std, 0.002);                           // from the prior's 0.02
  EXPECT_LT(std::abs(k.value - kTrueK), 4 * k.std);  // consistent with its own std
  // A consistent filter: NIS/dof averages 1 (1201 one-dof updates: 0.8..1.2 is ±5 sigma).
  EXPECT_GT(e->mean_nis_per_dof, 0.8);
  EXPECT_LT(e->mean_nis_per_dof, 1.2);
  ASSERT_EQ(e->ewma_channel_nis.size(), 1u);
  EXPECT_EQ(e->ewma_channel_nis[0].first, "level_m");
  // The input held for the last step: the inflow reported before it.
  ASSERT_EQ(e->inputs.size(), 1u);
  EXPECT_EQ(e->inputs[0].first, "q_in");
  EXPECT_DOUBLE_EQ(e->inputs[0].second, 0.03);
}

TEST(FmuBehaviorTest, UkfThroughTheFmuEstimatesTheOutletCoefficient) {
  Fixture f("dtmi:test:fmubeh:Tank;2");
  ASSERT_TRUE(f.Register(f.Config("ukf")).ok());
  f.Open();
  f.Feed("tank-2", 1200, 12);
  auto e = f.engine->GetEstimate("tank-2");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->estimator, "ukf");
  ASSERT_EQ(e->parameters.size(), 1u);
  std::printf("UKF through the FMU: k = %.5f ± %.5f, mean NIS/dof %.3f\n", e->parameters[0].value,
              e->parameters[0].std, e->mean_nis_per_dof);
  EXPECT_NEAR(e->parameters[0].value, kTrueK, 0.002);
}

TEST(FmuBehaviorTest, AnFmi3ModelExchangeFmuIsABehaviorModelToo) {
  Fixture f("dtmi:test:fmubeh:Tank;6", "tank_fmi3");
  ASSERT_TRUE(f.Register(f.Config()).ok());
  f.Open();
  const double h_true = f.Feed("tank-6", 1200, 11);
  auto e = f.engine->GetEstimate("tank-6");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->estimator, "ekf");
  EXPECT_EQ(e->updates, 1201);
  ASSERT_EQ(e->states.size(), 1u);
  EXPECT_NEAR(e->states[0].value, h_true, 3 * kNoise);
  ASSERT_EQ(e->parameters.size(), 1u);
  std::printf("EKF through the FMI 3.0 FMU: k = %.5f ± %.5f, mean NIS/dof %.3f\n", e->parameters[0].value,
              e->parameters[0].std, e->mean_nis_per_dof);
  EXPECT_NEAR(e->parameters[0].value, kTrueK, 0.002);
  EXPECT_LT(std::abs(e->parameters[0].value - kTrueK), 4 * e->parameters[0].std);
}

TEST(FmuBehaviorTest, WhatIfBandsMatchAnIndependentSimulationAtTheMean) {
  Fixture f("dtmi:test:fmubeh:Tank;3");
  ASSERT_TRUE(f.Register(f.Config()).ok());
  f.Open();
  f.Feed("tank-3", 1200, 13);
  auto e = f.engine->GetEstimate("tank-3");
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  const double h = e->states[0].value, k = e->parameters[0].value, q = e->inputs[0].second;
  WhatIfRequest req;
  req.horizon_s = 600;
  req.step_s = 10;
  req.samples = 200;
  req.scenarios = {{"held", {}}, {"more inflow", {{{"inflow_m3s", 0.05}}, {}}}};
  // Accuracy, not speed: the whole wall-clock budget (0.35 s normally; the sanitizer build runs
  // the FMU ~30x slower and went past the default 10 s).
  req.budget_s = 60;
  auto r = f.engine->WhatIf("tank-3", req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->scenarios.size(), 2u);
  ASSERT_EQ(r->t.size(), 61u);
  for (size_t s = 0; s < 2; ++s) {
    const double qs = s == 0 ? q : 0.05;
    ASSERT_EQ(r->scenarios[s].outputs.size(), 1u);
    EXPECT_EQ(r->scenarios[s].outputs[0].first, "level_m");
    const WhatIfBands& b = r->scenarios[s].outputs[0].second;
    ASSERT_EQ(b.p50.size(), r->t.size());
    for (size_t i = 0; i < r->t.size(); ++i) {
      EXPECT_LE(b.p5[i], b.p50[i]);
      EXPECT_LE(b.p50[i], b.p95[i]);
      // The median of 200 draws vs the simulation at the mean: 4 standard errors of a sample
      // median (1.25 σ/√200, σ from the 5-95 % band) plus 1 mm for RK4 at 1 s vs 0.01 s and
      // the curvature of h in (h0, k).
      const double sigma = (b.p95[i] - b.p5[i]) / (2 * 1.645);
      const double ref = TankReference(h, qs, k, r->t[i]);
      EXPECT_NEAR(b.p50[i], ref, 1e-3 + 4 * 1.25 * sigma / std::sqrt(200.0))
          << r->scenarios[s].name << " t=" << r->t[i];
    }
    EXPECT_GT(b.p95.back() - b.p5.back(), 1e-4) << "the bands carry the estimate's uncertainty";
  }
  // More inflow fills the tank towards (q/k)^2.
  EXPECT_GT(r->scenarios[1].outputs[0].second.p50.back(), r->scenarios[0].outputs[0].second.p50.back() + 0.1);
}

TEST(FmuBehaviorTest, RegistryKeepsThePumpAndRefusesASecondBindingOfAModel) {
  const BehaviorModel* pump = BehaviorModel::Find("dtmi:doppel:demo:Pump;1");
  ASSERT_NE(pump, nullptr);
  EXPECT_TRUE(pump->station_pump());
  EXPECT_EQ(pump->num_channels(), pump->num_measurements());
  Fixture f("dtmi:test:fmubeh:Tank;4");
  ASSERT_TRUE(f.Register(f.Config()).ok());
  Status again = f.Register(f.Config());
  EXPECT_EQ(again.code(), StatusCode::kInvalidArgument) << again.ToString();
  EXPECT_NE(again.message().find("already has a behavior model"), std::string::npos) << again.ToString();
  auto dup = FmuBehavior::Create((*ParseBehaviorConfigYaml(f.Config()))[0],
                                 *model::LoadModelsFromDirectory(f.dir.path())->Find(f.model));
  ASSERT_TRUE(dup.ok()) << dup.status().ToString();
  EXPECT_EQ(BehaviorModel::Register(std::move(dup).value()).code(), StatusCode::kAlreadyExists);
}

// Each bad config gives an error naming the key and saying what is wrong.
struct BadConfig {
  const char* name;
  std::string from, to;     // replaced in the good config
  std::string key, reason;  // expected in the message
};

TEST(FmuBehaviorTest, ConfigErrorsNameTheKeyAndTheReason) {
  Fixture f("dtmi:test:fmubeh:Tank;5");
  const std::vector<BadConfig> cases = {
      {"missing FMU", f.fmu_path, f.dir.file("nope.fmu"), "config: behavior[0].fmu: ", "nope.fmu"},
      {"unknown output variable", "{h: level_m}", "{hh: level_m}",
       "behavior[0].outputs.hh: ", "no variable 'hh'"},
      {"an input as output", "{h: level_m}", "{q_in: level_m}",
       "behavior[0].outputs.q_in: ", "'q_in' is a continuous input variable, not an output"},
      {"unknown telemetry", "level_m", "lvl", "behavior[0].outputs.h: ",
       "telemetry 'lvl' is not in " + f.model + " (its telemetry: level_m, inflow_m3s, status_code)"},
      {"unknown input telemetry", "{q_in: inflow_m3s}", "{q_in: inflow}",
       "behavior[0].inputs.q_in: ", "telemetry 'inflow' is not in"},
      {"unknown input variable", "{q_in: inflow_m3s}", "{q: inflow_m3s}",
       "behavior[0].inputs.q: ", "no variable 'q'"},
      {"fixed parameter estimated", "parameter: k", "parameter: h0", "behavior[0].estimate[0].parameter: ",
       "'h0' is a fixed parameter variable, not a tunable Real parameter (the FMU's parameters: A, k)"},
      {"unknown state", "states: {h:", "states: {x:", "behavior[0].states.x: ", "no variable 'x'"},
      {"unknown model", "model: \"" + f.model + "\"", "model: \"dtmi:test:other;1\"",
       "behavior[0].model: ", "'dtmi:test:other;1' is not a loaded DTDL model"},
      {"sensor std missing", "sensor_std: {level_m: 0.005}", "sensor_std: {}",
       "behavior[0].sensor_std.level_m: ", "missing"},
      {"bad sensor std", "{level_m: 0.005}", "{level_m: -1}", "behavior[0].sensor_std.level_m: ", "> 0"},
      {"bad estimator", "estimator: ekf", "estimator: pf", "behavior[0].estimator: ", "not one of ekf, ukf"},
      {"unknown key", "  outputs:", "  outputz: {}\n  outputs:", "behavior[0].outputz: ", "unknown key"},
      {"missing std", "std: 0.02, ", "", "behavior[0].estimate[0].std: ", "missing"},
      {"unknown start value", "  outputs:", "  start_values: {h00: 2}\n  outputs:",
       "behavior[0].start_values.h00: ", "no variable 'h00'"},
  };
  const std::string good = f.Config();
  for (const BadConfig& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string bad = Replace(good, c.from, c.to);
    ASSERT_NE(bad, good);
    Status s = f.Register(bad);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(c.key), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find(c.reason), std::string::npos) << s.ToString();
    EXPECT_EQ(BehaviorModel::Find(f.model), nullptr);  // nothing registered on error
  }
  // A file that is not an FMU: the loader's refusal, after the key.
  std::ofstream(f.dir.file("junk.fmu")) << "not a zip";
  Status s = f.Register(Replace(good, f.fmu_path, f.dir.file("junk.fmu")));
  EXPECT_NE(s.message().find("config: behavior[0].fmu: "), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("junk.fmu"), std::string::npos) << s.ToString();
  // The good one registers.
  EXPECT_TRUE(f.Register(good).ok());
}

TEST(FmuBehaviorTest, ParserTakesConstantsAndTheEmptyList) {
  auto none = ParseBehaviorConfigYaml("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto c = ParseBehaviorConfigYaml(
      "- {model: \"dtmi:a:b;1\", fmu: x.fmu, outputs: {h: level_m, q_out: outflow}, inputs: {q_in: 0.02},"
      " sensor_std: {level_m: 0.01, outflow: 0.001}}");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 1u);
  const FmuBehaviorConfig& b = (*c)[0];
  EXPECT_EQ(b.where, "behavior[0]");
  ASSERT_EQ(b.outputs.size(), 2u);
  EXPECT_EQ(b.outputs[1].first, "q_out");  // document order = channel order
  ASSERT_EQ(b.inputs.size(), 1u);
  EXPECT_TRUE(b.inputs[0].telemetry.empty());
  EXPECT_DOUBLE_EQ(b.inputs[0].constant, 0.02);
  EXPECT_EQ(ParseBehaviorConfigYaml("{model: x}").status().message(),
            "config: behavior: expected a list of {model, fmu, outputs, ...} (docs/fmu.md)");
  EXPECT_NE(
      ParseBehaviorConfigYaml("- {model: \"dtmi:a:b;1\", fmu: x.fmu, outputs: {h: a}, sensor_std: {a: 1}}\n"
                              "- {model: \"dtmi:a:b;1\", fmu: y.fmu, outputs: {h: a}, sensor_std: {a: 1}}")
          .status()
          .message()
          .find("behavior[1].model: 'dtmi:a:b;1' is bound by an earlier entry"),
      std::string::npos);
}

}  // namespace
}  // namespace doppel::engine
