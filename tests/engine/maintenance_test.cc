// The enterprise context acting on running twins (docs/enterprise.md, "What the context changes
// in the running twin"), in an engine fed with pump telemetry from the twin model with a known
// hidden wear:
//   - a completed impeller replacement resets the wear estimate's prior at its completion time
//     (mean 0, the initial prior std) — and without the work order the estimate stays at the old
//     wear; one completed before the estimator's first sample is not applied;
//   - a spec imported through the engine while it runs raises alerts on its limits and bounds
//     commands at once, and a re-import replaces those rules and limits;
//   - records written to context.db by another writer (`doppel import` next to a running serve)
//     are applied by the engine's poll, without a restart.
#include "doppel/engine/maintenance.h"

#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <random>
#include <thread>

#include "doppel/engine/context_service.h"
#include "doppel/engine/engine.h"
#include "doppel/estimate/pump_estimator.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

using physics::SignalKind;
const char* kPump = "dtmi:doppel:demo:Pump;1";
const std::vector<std::string> kSensors = {"flow_m3h", "discharge_pressure_bar", "speed_rpm",
                                           "power_kw", "motor_temp_c",           "vibration_mm_s"};
constexpr TimeNs kT0 = 1'700'000'000 * kNsPerS;
TimeNs At(double s) { return kT0 + static_cast<TimeNs>(std::llround(s * 1e9)); }

// The prior std of impeller wear (the engine's tuning).
double PriorStd() { return estimate::DefaultPumpEstimatorSpec().initial_std[2]; }

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<physics::System> sys;
  std::unique_ptr<physics::Simulator> sim;
  std::mt19937_64 rng{11};
  double t = 0;
  int context_poll_ms = 5000;  // EngineOptions::context_poll_ms

  void Open(std::vector<analytics::AlertRule> rules = {}) {
    EngineOptions o;
    o.data_dir = dir.file("data");
    o.models_dir = testing::SourceDir() + "/examples/models";
    o.shards = 2;
    o.allowed_lateness_ns = 100 * kNsPerMs;
    o.provision = {{"pump-*", kPump}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [] { return kT0; };
    o.estimation.min_update_interval_s = 0;
    o.alert_rules = std::move(rules);
    o.context_poll_ms = context_poll_ms;
    auto e = Engine::Open(o, &metrics, platform::DefaultEnv());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
    ASSERT_TRUE(engine->Start().ok());
    auto d = physics::MakePumpTwinDiagram();
    ASSERT_TRUE(d.ok());
    sys = std::move(d).value();
    physics::Context c = sys->CreateDefaultContext();
    c.state << 1300, 50;
    c.inputs[sys->IndexOf(SignalKind::kInput, "level_m")] = 2.5;
    sim = std::make_unique<physics::Simulator>(
        *sys, c, std::move(physics::MakeRk4Integrator({.step_s = 0.1})).value());
    SetWear(0.3);
  }
  void SetWear(double w) {
    ASSERT_TRUE(sys->SetValue(&sim->mutable_context(), SignalKind::kParameter, "pump.impeller_wear", w).ok());
  }
  // Telemetry of pump-1 every second up to `until` s (one message per second).
  void FeedTo(double until) {
    std::normal_distribution<double> nd;
    const double sd[] = {1.0, 0.01, 2.0, 0.1, 0.2, 0.1};
    while (t + 1 <= until + 1e-9) {
      t += 1;
      ASSERT_TRUE(sim->AdvanceTo(t).ok());
      Eigen::VectorXd y = sim->Outputs();
      std::vector<Reading> msg;
      for (size_t k = 0; k < kSensors.size(); ++k) {
        double v = y[sys->IndexOf(SignalKind::kOutput, kSensors[k])];
        v += (k == 5 ? 0.05 + 0.03 * v : sd[k]) * nd(rng);
        msg.push_back(Reading{"pump-1", kSensors[k], At(t), v, Quality::kGood});
      }
      ASSERT_TRUE(engine->Submit(std::move(msg)).ok());
    }
    engine->Drain();
  }
  TwinEstimate Estimate() {
    auto e = engine->GetEstimate("pump-1");
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? *e : TwinEstimate{};
  }
  static std::pair<double, double> Wear(const TwinEstimate& e) {
    for (const auto& p : e.parameters) {
      if (p.name == "impeller_wear") return {p.value, p.std};
    }
    ADD_FAILURE() << "no impeller_wear";
    return {NAN, NAN};
  }
  nlohmann::json Import(const std::string& kind, const nlohmann::json& body) {
    ContextImportRequest r;
    r.kind = kind;
    r.format = "json";
    auto out = engine->ImportContext(r, body.dump());
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    if (!out.ok()) return {};
    EXPECT_TRUE((*out)["applied"].get<bool>()) << out->dump();
    return *out;
  }
  nlohmann::json Replacement(const std::string& id, TimeNs completed) {
    return nlohmann::json::array({{{"id", id},
                                   {"twin", "pump-1"},
                                   {"kind", "impeller_replacement"},
                                   {"status", "completed"},
                                   {"planned_start_ns", completed - 3600 * kNsPerS},
                                   {"completed_ns", completed}}});
  }
};

// Wear converges to the hidden 0.3 within this many seconds of 1 Hz telemetry (measured ~150 s).
constexpr double kConverged = 400;

TEST(MaintenanceTest, ACompletedImpellerReplacementResetsTheWearPriorAtItsTime) {
  Fixture f;
  f.Open();
  f.FeedTo(kConverged);
  auto [w0, sd0] = Fixture::Wear(f.Estimate());
  ASSERT_NEAR(w0, 0.3, 0.05);
  ASSERT_LT(sd0, 0.3 * PriorStd());
  // Known before it happens: the impeller is replaced at 410 s.
  nlohmann::json out = f.Import("workorders", f.Replacement("WO-1", At(kConverged + 10)));
  EXPECT_EQ(out["effects"]["replacements"], 1) << out.dump();
  f.FeedTo(kConverged + 9);
  EXPECT_NEAR(Fixture::Wear(f.Estimate()).first, 0.3, 0.05) << "reset before its time";
  f.SetWear(0);
  f.FeedTo(kConverged + 10);  // the step at 410 s: reset, then that second's measurement
  auto [w1, sd1] = Fixture::Wear(f.Estimate());
  EXPECT_LT(w1, 0.05);
  // The reset restores the prior (0.3), and that step's own measurement already narrows it:
  // the snapshot is taken after it. Still far wider than the converged std.
  EXPECT_GT(sd1, 5 * sd0) << "std " << sd0 << " -> " << sd1;
  EXPECT_LE(sd1, PriorStd() + 1e-12);
  std::cout << "[ measured ] wear " << w0 << " ± " << sd0 << " -> after the reset step " << w1 << " ± " << sd1
            << "\n";
  // And it tracks the new impeller from there.
  f.FeedTo(kConverged + 200);
  EXPECT_NEAR(Fixture::Wear(f.Estimate()).first, 0.0, 0.05);
  // Importing the same order again changes nothing (no change, nothing re-applied).
  out = f.Import("workorders", f.Replacement("WO-1", At(kConverged + 10)));
  EXPECT_EQ(out["unchanged"], 1);
  EXPECT_EQ(out["effects"]["replacements"], 0);
}

TEST(MaintenanceTest, WithoutTheWorkOrderTheEstimateKeepsTheOldWear) {
  Fixture f;
  f.Open();
  f.FeedTo(kConverged + 9);
  f.SetWear(0);
  f.FeedTo(kConverged + 10);
  EXPECT_GT(Fixture::Wear(f.Estimate()).first, 0.25);
  f.FeedTo(kConverged + 200);  // the filter only drifts there slowly (random-walk wear)
  EXPECT_GT(Fixture::Wear(f.Estimate()).first, 0.1);
}

TEST(MaintenanceTest, AReplacementReportedLateIsAppliedAtTheNextStepOnce) {
  Fixture f;
  f.Open();
  f.FeedTo(kConverged);
  f.SetWear(0);  // replaced at 400 s, reported at 430 s
  f.FeedTo(kConverged + 30);
  const auto [w_old, sd_old] = Fixture::Wear(f.Estimate());
  EXPECT_GT(w_old, 0.2);
  f.Import("workorders", f.Replacement("WO-2", At(kConverged)));
  f.FeedTo(kConverged + 31);
  auto [w, sd] = Fixture::Wear(f.Estimate());
  EXPECT_LT(w, 0.05);
  EXPECT_GT(sd, 5 * sd_old);
  // Updating the order (a corrected description) does not apply it again.
  f.FeedTo(kConverged + 100);
  const double sd_before = Fixture::Wear(f.Estimate()).second;
  nlohmann::json again = f.Replacement("WO-2", At(kConverged));
  again[0]["description"] = "corrected";
  EXPECT_EQ(f.Import("workorders", again)["updated"], 1);
  f.FeedTo(kConverged + 101);
  EXPECT_LT(Fixture::Wear(f.Estimate()).second, sd_before + 1e-9);
}

TEST(MaintenanceTest, AReplacementBeforeTheFirstSampleIsNotApplied) {
  Fixture f;
  f.Open();
  f.FeedTo(1);  // provisions the twin; the estimator's first sample is at 1 s
  f.Import("workorders", f.Replacement("WO-3", kT0 - 10 * kNsPerS));
  f.FeedTo(kConverged);
  auto [w, sd] = Fixture::Wear(f.Estimate());
  EXPECT_NEAR(w, 0.3, 0.05);
  EXPECT_LT(sd, 0.3 * PriorStd());
}

TEST(MaintenanceQueueTest, DuplicateIdsAreIgnoredAndEarlyOnesDroppedAtBegin) {
  MaintenanceQueue q;
  EXPECT_TRUE(q.Add({"pump-1", "A", store::WorkOrderKind::kImpellerReplacement, 100}));
  EXPECT_FALSE(q.Add({"pump-1", "A", store::WorkOrderKind::kImpellerReplacement, 200}));
  EXPECT_TRUE(q.Add({"pump-1", "B", store::WorkOrderKind::kBearingReplacement, 300}));
  q.Begin(100);
  EXPECT_EQ(q.pending(), 1u);
  EXPECT_STREQ(RenewedEntryOf(store::WorkOrderKind::kSealReplacement), "");
  store::WorkOrder planned;
  planned.id = "P";
  planned.twin = "pump-1";
  planned.kind = store::WorkOrderKind::kImpellerReplacement;
  EXPECT_TRUE(ReplacementsOf({planned}).empty());
}

// --- Live specs -------------------------------------------------------------------------------

nlohmann::json Spec(double max_pressure_bar, double max_speed_rpm) {
  return nlohmann::json::array({{{"twin", "pump-1"},
                                 {"rated_flow_m3h", 120},
                                 {"rated_head_m", 32},
                                 {"rated_power_kw", 15},
                                 {"min_speed_rpm", 600},
                                 {"max_speed_rpm", max_speed_rpm},
                                 {"max_motor_temp_c", 130},
                                 {"max_vibration_mm_s", 20},
                                 {"max_discharge_pressure_bar", max_pressure_bar}}});
}

std::vector<analytics::Alert> Alerts(Engine& e, const std::string& rule) {
  std::vector<analytics::Alert> out;
  auto all = e.ListAlerts({});
  EXPECT_TRUE(all.ok());
  for (const auto& a : *all) {
    if (a.rule == rule) out.push_back(a);
  }
  return out;
}

TEST(LiveSpecTest, ASpecImportedIntoARunningEngineAlertsAndBoundsCommandsAndAReimportReplacesIt) {
  Fixture f;
  analytics::AlertRule own;  // a config rule: it must survive spec changes
  own.name = "hot";
  own.kind = analytics::RuleKind::kThreshold;
  own.twins = "pump-*";
  own.signal = "motor_temp_c";
  own.value = 500;
  f.Open({own});
  f.FeedTo(20);
  const double pressure = f.engine->GetTwin("pump-1")->latest.at("discharge_pressure_bar").value;
  ASSERT_GT(pressure, 0.5);
  // Before any spec: 1900 rpm is accepted.
  auto before =
      f.engine->SubmitCommandAs("pump-1", "setSpeed", {{"speed_rpm", 1900}}, "t", CommandSource::kOperator);
  ASSERT_TRUE(before.ok());
  EXPECT_NE(before->status, CommandStatus::kRefused) << before->reason;

  nlohmann::json out = f.Import("specs", Spec(pressure - 0.3, 1800));
  EXPECT_EQ(out["effects"]["envelope_limits"], 1) << out.dump();
  f.FeedTo(30);  // above the new max for longer than the rule's 5 s hold
  auto raised = Alerts(*f.engine, "spec.pump-1.discharge_pressure_bar.max");
  ASSERT_EQ(raised.size(), 1u);
  EXPECT_TRUE(raised[0].active());
  EXPECT_NEAR(raised[0].limit, pressure - 0.3, 1e-9);
  auto refused =
      f.engine->SubmitCommandAs("pump-1", "setSpeed", {{"speed_rpm", 1900}}, "t", CommandSource::kOperator);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, CommandStatus::kRefused);
  EXPECT_NE(refused->reason.find("design spec"), std::string::npos) << refused->reason;

  // Wider limits: the rule is replaced (the alert clears on the next reading) and 1900 rpm passes.
  f.Import("specs", Spec(pressure + 5, 2000));
  f.FeedTo(32);
  raised = Alerts(*f.engine, "spec.pump-1.discharge_pressure_bar.max");
  ASSERT_EQ(raised.size(), 1u);
  EXPECT_FALSE(raised[0].active());
  auto passed =
      f.engine->SubmitCommandAs("pump-1", "setSpeed", {{"speed_rpm", 1900}}, "t", CommandSource::kOperator);
  ASSERT_TRUE(passed.ok());
  EXPECT_NE(passed->status, CommandStatus::kRefused) << passed->reason;
  // A dry run changes nothing.
  ContextImportRequest dry;
  dry.kind = "specs";
  dry.dry_run = true;
  auto d = f.engine->ImportContext(dry, Spec(0.1, 1000).dump());
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->contains("effects"));
  f.FeedTo(40);
  EXPECT_TRUE(Alerts(*f.engine, "spec.pump-1.discharge_pressure_bar.max").size() == 1);
  EXPECT_TRUE(Alerts(*f.engine, "hot").empty());
}

// `doppel import` writes context.db directly (ImportContextDocument, no engine): the running
// engine's housekeeping poll finds the new records and applies them as an API import would.
TEST(LiveSpecTest, RecordsAnotherProcessWritesAreAppliedByThePollWithoutARestart) {
  Fixture f;
  f.context_poll_ms = 20;
  f.Open();
  f.FeedTo(kConverged);
  auto [w0, sd0] = Fixture::Wear(f.Estimate());
  ASSERT_LT(sd0, 0.3 * PriorStd());
  const std::string data_dir = f.dir.file("data");
  auto write = [&](const std::string& kind, const nlohmann::json& body) {
    ContextImportRequest r;
    r.kind = kind;
    r.format = "json";
    auto out = ImportContextDocument(data_dir, r, body.dump());  // what `doppel import` runs
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_TRUE((*out)["applied"].get<bool>()) << out->dump();
  };
  // Waits (up to 10 s) until `done` holds: the housekeeping thread wakes every 200 ms and polls
  // context.db at most every 20 ms here.
  auto eventually = [](const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return done();
  };
  auto refused_at = [&](double rpm) {
    auto c =
        f.engine->SubmitCommandAs("pump-1", "setSpeed", {{"speed_rpm", rpm}}, "t", CommandSource::kOperator);
    return c.ok() && c->status == CommandStatus::kRefused;
  };
  ASSERT_FALSE(refused_at(1900));

  write("specs", Spec(50, 1800));
  EXPECT_TRUE(eventually([&] { return refused_at(1900); })) << "the spec's speed limit was not applied";
  EXPECT_FALSE(refused_at(1700));
  Counter& spec_syncs = f.metrics.GetCounter("doppel_context_spec_syncs_total", "");
  EXPECT_EQ(spec_syncs.Value(), 1u);

  write("workorders", f.Replacement("WO-9", At(kConverged + 2)));
  // Handed to the twin's shard by the poll; the estimator applies it at its step at that time.
  EXPECT_TRUE(eventually(
      [&] { return f.metrics.GetCounter("doppel_context_replacements_applied_total", "").Value() == 1; }));
  f.SetWear(0);
  f.FeedTo(kConverged + 2);
  auto [w1, sd1] = Fixture::Wear(f.Estimate());
  EXPECT_GT(sd1, 5 * sd0) << "the wear prior was not reset: " << w0 << " ± " << sd0 << " -> " << w1 << " ± "
                          << sd1;
  // A work order alone does not re-apply the specs (their rules' hold timers keep running).
  EXPECT_EQ(spec_syncs.Value(), 1u);
}

}  // namespace
}  // namespace doppel::engine
