// Estimators bound to twins: the shard runs one per pump twin on its released readings; the
// engine serves the estimate, stores it as est.* series and runs what-ifs from it.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <random>

#include "doppel/engine/engine.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

using physics::SignalKind;
const char* kPump = "dtmi:doppel:demo:Pump;1";
const char* kTank = "dtmi:doppel:demo:Tank;1";
const std::vector<std::string> kSensors = {"flow_m3h", "discharge_pressure_bar", "speed_rpm",
                                           "power_kw", "motor_temp_c",           "vibration_mm_s"};
constexpr TimeNs kT0 = 1'700'000'000 * kNsPerS;

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::unique_ptr<Engine> engine;
  double min_interval_s = 0;  // every message
  platform::Env* env = platform::DefaultEnv();
  int shards = 2;
  void Open() {
    EngineOptions o;
    o.data_dir = dir.file("data");
    o.models_dir = testing::SourceDir() + "/examples/models";
    o.shards = shards;
    o.allowed_lateness_ns = 100 * kNsPerMs;
    o.provision = {{"pump-*", kPump}, {"tank-*", kTank}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [] { return kT0; };
    o.estimation.min_update_interval_s = min_interval_s;
    engine.reset();
    std::filesystem::create_directories(o.data_dir);  // SQLite files stay on disk with a MemEnv
    auto e = Engine::Open(o, &metrics, env);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
    ASSERT_TRUE(engine->Start().ok());
  }
  // Pump telemetry from the nominal twin with hidden wear, sampled every `dt` s (one message =
  // one timestamp); `drop` is the chance a sensor is missing from a message.
  void Feed(const std::string& twin, double seconds, double dt, double drop, uint64_t seed) {
    auto d = physics::MakePumpTwinDiagram();
    ASSERT_TRUE(d.ok());
    const physics::System& sys = **d;
    physics::Context c = sys.CreateDefaultContext();
    ASSERT_TRUE(sys.SetValue(&c, SignalKind::kParameter, "pump.impeller_wear", 0.2).ok());
    ASSERT_TRUE(sys.SetValue(&c, SignalKind::kParameter, "pump.bearing_wear", 0.3).ok());
    c.state << 1300, 50;
    c.inputs[sys.IndexOf(SignalKind::kInput, "level_m")] = 2.5;
    physics::Simulator sim(sys, c, std::move(physics::MakeRk4Integrator({.step_s = 0.1})).value());
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd;
    std::uniform_real_distribution<double> u01;
    const double sd[] = {1.0, 0.01, 2.0, 0.1, 0.2, 0.1};
    for (double t = dt; t <= seconds + 1e-9; t += dt) {
      ASSERT_TRUE(sim.AdvanceTo(t).ok());
      Eigen::VectorXd y = sim.Outputs();
      std::vector<Reading> msg;
      const TimeNs ts = kT0 + static_cast<TimeNs>(std::llround(t * 1e9));
      for (size_t k = 0; k < kSensors.size(); ++k) {
        double v = y[sys.IndexOf(SignalKind::kOutput, kSensors[k])];
        v += (k == 5 ? 0.05 + 0.03 * v : sd[k]) * nd(rng);
        if (u01(rng) < drop) continue;
        msg.push_back(Reading{twin, kSensors[k], ts, v, Quality::kGood});
      }
      if (!msg.empty()) {
        ASSERT_TRUE(engine->Submit(std::move(msg)).ok());
      }
    }
    engine->Drain();
  }
  static double Param(const TwinEstimate& e, const std::string& name, bool std = false) {
    for (const auto& p : e.parameters) {
      if (p.name == name) return std ? p.std : p.value;
    }
    ADD_FAILURE() << "no parameter " << name;
    return NAN;
  }
};

TEST(EstimationTest, PumpTwinGetsAnEstimateWhoseWearStdShrinksWithReadings) {
  Fixture f;
  f.Open();
  EXPECT_EQ(f.engine->GetEstimate("pump-1").status().code(), StatusCode::kNotFound);
  f.Feed("pump-1", 3, 1, 0, 1);
  auto early = f.engine->GetEstimate("pump-1");
  ASSERT_TRUE(early.ok()) << early.status().ToString();
  EXPECT_EQ(early->estimator, "ekf");
  EXPECT_EQ(early->model, kPump);
  EXPECT_EQ(early->ts_ns, kT0 + 3 * kNsPerS);
  ASSERT_EQ(early->states.size(), 2u);
  EXPECT_EQ(early->states[0].name, "speed_rpm");
  EXPECT_EQ(early->states[0].unit, "rpm");
  ASSERT_EQ(early->parameters.size(), 3u);
  f.engine.reset();  // continue in a fresh engine: the estimator restarts, history stays
  f.Open();
  f.Feed("pump-2", 400, 1, 0, 2);
  auto late = f.engine->GetEstimate("pump-2");
  ASSERT_TRUE(late.ok());
  EXPECT_LT(Fixture::Param(*late, "impeller_wear", true),
            0.5 * Fixture::Param(*early, "impeller_wear", true));
  EXPECT_LT(Fixture::Param(*late, "bearing_wear", true), 0.5 * Fixture::Param(*early, "bearing_wear", true));
  EXPECT_NEAR(Fixture::Param(*late, "impeller_wear"), 0.2, 0.05);
  EXPECT_NEAR(Fixture::Param(*late, "bearing_wear"), 0.3, 0.05);
  EXPECT_EQ(late->updates, 400);
  EXPECT_GT(late->mean_nis_per_dof, 0.3);
  EXPECT_LT(late->mean_nis_per_dof, 3.0);
}

TEST(EstimationTest, MissingSensorsAndIrregularTimesStillEstimate) {
  Fixture f;
  f.Open();
  f.Feed("pump-3", 300, 0.7, 0.2, 3);
  auto e = f.engine->GetEstimate("pump-3");
  ASSERT_TRUE(e.ok());
  EXPECT_NEAR(Fixture::Param(*e, "bearing_wear"), 0.3, 0.08);
  EXPECT_EQ(e->divergences, 0);
}

TEST(EstimationTest, MinUpdateIntervalDecimatesEstimatorSteps) {
  Fixture f;
  f.min_interval_s = 1.0;
  f.Open();
  f.Feed("pump-1", 60, 0.25, 0, 9);
  auto e = f.engine->GetEstimate("pump-1");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->updates, 60);                    // 240 messages, one step per second of source time
  EXPECT_EQ(e->ts_ns, kT0 + 59250 * kNsPerMs);  // first at 0.25 s, then every second
}

TEST(EstimationTest, TankLevelAndAcceptedSetSpeedAreTheEstimatorInputs) {
  Fixture f;
  f.Open();
  f.engine->SetCommandSender([](const CommandRecord&) { return Status::Ok(); });
  ASSERT_TRUE(f.engine->Submit({Reading{"tank-1", "level_m", kT0, 3.1, Quality::kGood}}).ok());
  f.engine->Drain();
  f.Feed("pump-1", 3, 1, 0, 10);
  auto e = f.engine->GetEstimate("pump-1");
  ASSERT_TRUE(e.ok());
  auto input = [](const TwinEstimate& x, const std::string& n) {
    for (const auto& [name, v] : x.inputs) {
      if (name == n) return v;
    }
    return -1.0;
  };
  EXPECT_DOUBLE_EQ(input(*e, "level_m"), 3.1);
  EXPECT_TRUE(std::isnan(input(*e, "speed_setpoint_rpm")));
  auto cmd = f.engine->SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", 1400}}, "t");
  ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
  f.engine->OnCommandAck({"pump-1", cmd->id, true, ""});
  ASSERT_TRUE(
      f.engine->Submit({Reading{"pump-1", "speed_rpm", kT0 + 10 * kNsPerS, 1310, Quality::kGood}}).ok());
  f.engine->Drain();
  e = f.engine->GetEstimate("pump-1");
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(input(*e, "speed_setpoint_rpm"), 1400);
}

// A pump step's level input is the tank level at the step's source time, not whatever the
// tank's shard has reached: here the tank's whole day is in before the pump's first reading
// (tank and pump on different shards, or the tank far ahead), and each step still gets its own
// moment's level.
TEST(EstimationTest, PumpStepsUseTheTankLevelAtTheirOwnSourceTime) {
  Fixture f;
  f.Open();
  std::vector<Reading> tank;
  for (int k = 0; k <= 20; ++k)  // 2.0 m rising 0.1 m/s to 4.0 m at 20 s
    tank.push_back(Reading{"tank-1", "level_m", kT0 + k * kNsPerS, 2.0 + 0.1 * k, Quality::kGood});
  for (Reading& r : tank) ASSERT_TRUE(f.engine->Submit({r}).ok());
  f.engine->Drain();
  auto level_input = [&] {
    auto e = f.engine->GetEstimate("pump-1");
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    for (const auto& [name, v] : e->inputs) {
      if (name == "level_m") return v;
    }
    return -1.0;
  };
  f.Feed("pump-1", 5, 1, 0, 11);  // steps at 1..5 s
  EXPECT_NEAR(level_input(), 2.5, 1e-12);
  // Between tank samples the older one holds; past the tank's newest, the newest.
  ASSERT_TRUE(
      f.engine->Submit({Reading{"pump-1", "speed_rpm", kT0 + 7'500'000'000, 1300, Quality::kGood}}).ok());
  f.engine->Drain();
  EXPECT_NEAR(level_input(), 2.7, 1e-12);
  ASSERT_TRUE(
      f.engine->Submit({Reading{"pump-1", "speed_rpm", kT0 + 60 * kNsPerS, 1300, Quality::kGood}}).ok());
  f.engine->Drain();
  EXPECT_NEAR(level_input(), 4.0, 1e-12);
}

TEST(EstimationTest, UnboundTwinHasNoEstimate) {
  Fixture f;
  f.Open();
  ASSERT_TRUE(f.engine->Submit({Reading{"tank-1", "level_m", kT0, 2.7, Quality::kGood}}).ok());
  f.engine->Drain();
  auto e = f.engine->GetEstimate("tank-1");
  EXPECT_EQ(e.status().code(), StatusCode::kNotFound);
  EXPECT_NE(e.status().message().find("no behavior model"), std::string::npos);
  EXPECT_EQ(f.engine->GetEstimate("nope").status().code(), StatusCode::kNotFound);
}

TEST(EstimationTest, EstimatesAreStoredAsEstSeries) {
  Fixture f;
  f.Open();
  f.Feed("pump-1", 20, 0.5, 0, 4);
  auto pts = f.engine->QueryTelemetry("pump-1", "est.impeller_wear", 0, kT0 + 100 * kNsPerS, 1000);
  ASSERT_TRUE(pts.ok()) << pts.status().ToString();
  EXPECT_GE(pts->size(), 19u);  // one point per second of source time (series_interval_s)
  EXPECT_LE(pts->size(), 21u);
  auto nis = f.engine->QueryTelemetry("pump-1", "est.nis_per_dof", 0, kT0 + 100 * kNsPerS, 1000);
  ASSERT_TRUE(nis.ok());
  EXPECT_FALSE(nis->empty());
  // Unbound twins still only have their DTDL telemetry.
  EXPECT_EQ(f.engine->QueryTelemetry("tank-1", "est.x", 0, 1, 10).status().code(), StatusCode::kNotFound);
}

// Estimate points are history too: a store that refuses their append (a full disk here: the pass's
// telemetry record still fits, the estimate points' record does not) gets them again with the next
// pass instead of losing them.
TEST(EstimationTest, EstimatePointsAStoreRefusedAreStoredWithALaterPass) {
  auto env = platform::NewMemEnv();
  Fixture f;
  f.env = env.get();
  f.shards = 1;
  f.Open();
  f.Feed("pump-1", 10, 1, 0, 4);
  const auto wear_points = [&] {
    auto pts = f.engine->QueryTelemetry("pump-1", "est.impeller_wear", 0, kT0 + 100 * kNsPerS, 1000);
    EXPECT_TRUE(pts.ok()) << pts.status().ToString();
    std::vector<TimeNs> ts;
    if (pts.ok()) {
      for (const auto& p : *pts) ts.push_back(p.ts_ns);
    }
    return ts;
  };
  const size_t before = wear_points().size();
  ASSERT_GE(before, 9u);
  const uint64_t errors0 = f.metrics.GetCounter("doppel_store_errors_total", "").Value();

  // One reading: its WAL record is far smaller than a step's estimate points (every state and
  // parameter with its std, the NIS), so the limit lets it through and refuses those.
  env->FailWritesAfter(64);
  // Ingest waits for the telemetry's append: were its record not to fit, this fails (after the
  // engine's 30 s wait) instead of Drain hanging on the shard's retries.
  auto ingested =
      f.engine->Ingest({Reading{"pump-1", "speed_rpm", kT0 + 11 * kNsPerS, 1300, Quality::kGood}});
  ASSERT_TRUE(ingested.ok()) << "the telemetry record was to fit under the limit: "
                             << ingested.status().ToString();
  f.engine->Drain();
  auto speed = f.engine->QueryTelemetry("pump-1", "speed_rpm", kT0 + 11 * kNsPerS, kT0 + 12 * kNsPerS, 10);
  ASSERT_TRUE(speed.ok());
  ASSERT_EQ(speed->size(), 1u) << "the telemetry record was to fit under the limit";
  ASSERT_GT(f.metrics.GetCounter("doppel_store_errors_total", "").Value(), errors0)
      << "the estimate points were to be refused";
  EXPECT_EQ(wear_points().size(), before);

  env->ClearFaults();
  ASSERT_TRUE(
      f.engine->Submit({Reading{"pump-1", "speed_rpm", kT0 + 12 * kNsPerS, 1300, Quality::kGood}}).ok());
  f.engine->Drain();
  const std::vector<TimeNs> after = wear_points();
  ASSERT_EQ(after.size(), before + 2) << "the refused step's points and the new step's";
  EXPECT_EQ(after[before], kT0 + 11 * kNsPerS);
  EXPECT_EQ(after[before + 1], kT0 + 12 * kNsPerS);
}

TEST(EstimationTest, WhatIfBandsAreOrderedAndDeterministicForASeed) {
  Fixture f;
  f.Open();
  f.Feed("pump-1", 60, 1, 0, 5);
  WhatIfRequest req;
  req.horizon_s = 600;
  req.step_s = 1;
  req.samples = 50;
  req.seed = 9;
  req.overrides.inputs["speed_rpm"] = 1400;
  auto a = f.engine->WhatIf("pump-1", req);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = f.engine->WhatIf("pump-1", req);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(a->t.size(), 601u);
  ASSERT_EQ(a->scenarios.size(), 1u);
  ASSERT_EQ(a->scenarios[0].outputs.size(), 6u);
  for (size_t o = 0; o < a->scenarios[0].outputs.size(); ++o) {
    const WhatIfBands& x = a->scenarios[0].outputs[o].second;
    const WhatIfBands& y = b->scenarios[0].outputs[o].second;
    EXPECT_EQ(x.p50, y.p50);
    EXPECT_EQ(x.p95, y.p95);
    for (size_t k = 0; k < x.p5.size(); ++k) {
      ASSERT_LE(x.p5[k], x.p50[k]);
      ASSERT_LE(x.p50[k], x.p95[k]);
    }
  }
  // The setpoint override drives the speed to 1400 rpm.
  const WhatIfBands& speed = a->scenarios[0].outputs[2].second;
  EXPECT_EQ(a->scenarios[0].outputs[2].first, "speed_rpm");
  EXPECT_NEAR(speed.p50.back(), 1400, 5);
  // Another seed gives other draws.
  req.seed = 10;
  auto c = f.engine->WhatIf("pump-1", req);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->scenarios[0].outputs[3].second.p95, a->scenarios[0].outputs[3].second.p95);
}

TEST(EstimationTest, WhatIfScenariosCompareOverrides) {
  Fixture f;
  f.Open();
  f.Feed("pump-1", 30, 1, 0, 6);
  WhatIfRequest req;
  req.horizon_s = 120;
  req.step_s = 2;
  req.samples = 20;
  req.scenarios = {{"slow", {{{"speed_setpoint_rpm", 1000}}, {}}}, {"fast", {{{"speed_rpm", 1600}}, {}}}};
  auto r = f.engine->WhatIf("pump-1", req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->scenarios.size(), 2u);
  EXPECT_LT(r->scenarios[0].outputs[0].second.p95.back(), r->scenarios[1].outputs[0].second.p5.back());
}

TEST(EstimationTest, BadWhatIfRequestsAreRejectedNamingTheField) {
  Fixture f;
  f.Open();
  f.Feed("pump-1", 5, 1, 0, 7);
  // The same request as a background job is refused the same way before it is queued (not a
  // job that fails later).
  auto bad = [&](WhatIfRequest r, const std::string& field) {
    auto res = f.engine->WhatIf("pump-1", r);
    ASSERT_EQ(res.status().code(), StatusCode::kInvalidArgument) << field;
    EXPECT_NE(res.status().message().find(field), std::string::npos) << res.status().message();
    auto job = f.engine->StartWhatIfJob("pump-1", r, "op");
    ASSERT_EQ(job.status().code(), StatusCode::kInvalidArgument) << field;
    EXPECT_NE(job.status().message().find(field), std::string::npos) << job.status().message();
  };
  WhatIfRequest ok;
  ok.horizon_s = 10;
  WhatIfRequest r = ok;
  r.horizon_s = 8 * 86400;
  bad(r, "$.horizon_s");
  r = ok;
  r.horizon_s = 0;
  bad(r, "$.horizon_s");
  r = ok;
  r.step_s = 0.001;
  bad(r, "$.step_s");
  r = ok;
  r.samples = 1001;
  bad(r, "$.samples");
  r = ok;
  r.horizon_s = 7 * 86400;
  r.step_s = 0.01;
  r.samples = 1000;
  bad(r, "$.samples");  // total work
  r = ok;
  r.overrides.inputs["valve"] = 1;
  bad(r, "$.overrides.inputs.valve");
  r = ok;
  r.overrides.params["colour"] = 1;
  bad(r, "$.overrides.params.colour");
  r = ok;
  r.scenarios = {{"x", {{{"nope", 1}}, {}}}};
  bad(r, "$.scenarios[0].overrides.inputs.nope");
  // A known parameter outside the model's domain: the outputs are not finite (speed / 0).
  r = ok;
  r.overrides.params["rated_speed_rpm"] = 0;
  auto res = f.engine->WhatIf("pump-1", r);
  ASSERT_EQ(res.status().code(), StatusCode::kInvalidArgument) << res.status().ToString();
  EXPECT_NE(res.status().message().find("$.overrides.params"), std::string::npos) << res.status().message();
  EXPECT_NE(res.status().message().find("not finite"), std::string::npos) << res.status().message();
}

TEST(EstimationTest, WhatIfOverTheTimeBudgetIsDeadlineExceeded) {
  Fixture f;
  f.Open();
  f.Feed("pump-1", 5, 1, 0, 8);
  WhatIfRequest r;
  r.horizon_s = 86400;
  r.step_s = 10;
  r.samples = 200;
  r.budget_s = 0.01;
  auto res = f.engine->WhatIf("pump-1", r);
  EXPECT_EQ(res.status().code(), StatusCode::kDeadlineExceeded) << res.status().ToString();
}

}  // namespace
}  // namespace doppel::engine
