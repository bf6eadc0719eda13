// Alerts, health and annotations in the running engine: rules evaluated on released readings,
// the lifecycle persisted across a restart, alerts and annotations pushed on the stream.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "doppel/analytics/alert_rules.h"
#include "doppel/engine/engine.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

const char* kPump = "dtmi:doppel:demo:Pump;1";

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::atomic<TimeNs> now{1'000'000'000'000};
  std::unique_ptr<Engine> engine;
  bool anomaly = false;

  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = dir.file("data");
    o.models_dir = testing::SourceDir() + "/examples/models";
    o.shards = 2;
    o.allowed_lateness_ns = 0;
    o.provision = {{"pump-*", kPump}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [this] { return now.load(); };
    auto rules = analytics::ParseAlertRulesYamlText(R"(
- {name: vibration_high, kind: threshold, twins: "pump-*", signal: vibration_mm_s, direction: above, value: 7, clear_value: 6, severity: critical}
- {name: rul_short, kind: rul_below, twins: "pump-*", horizon_h: 100, clear_horizon_h: 150}
)",
                                                    "test rules");
    EXPECT_TRUE(rules.ok()) << rules.status().ToString();
    o.alert_rules = *rules;
    o.anomaly_detection = anomaly;
    return o;
  }
  void Open() {
    engine.reset();
    auto e = Engine::Open(Options(), &metrics, platform::DefaultEnv());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
    ASSERT_TRUE(engine->Start().ok());
  }
  void Vibration(TimeNs ts, double v) {
    ASSERT_TRUE(engine->Submit({Reading{"pump-1", "vibration_mm_s", ts, v, Quality::kGood}}).ok());
    engine->Drain();
  }
  std::vector<analytics::Alert> Alerts() {
    auto a = engine->ListAlerts({});
    EXPECT_TRUE(a.ok());
    return a.ok() ? *a : std::vector<analytics::Alert>{};
  }
};

TEST(LiveAlertsTest, ThresholdCrossingRaisesOneAlertAndHysteresisClearsIt) {
  Fixture f;
  f.Open();
  f.Vibration(1 * kNsPerS, 3.0);
  EXPECT_TRUE(f.Alerts().empty());
  f.Vibration(2 * kNsPerS, 8.0);
  f.Vibration(3 * kNsPerS, 9.0);  // still above: the same alert, not a new one
  auto alerts = f.Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rule, "vibration_high");
  EXPECT_EQ(alerts[0].twin, "pump-1");
  EXPECT_EQ(alerts[0].state, analytics::AlertState::kRaised);
  f.Vibration(4 * kNsPerS, 6.5);  // below the trigger, above the clear level: still active
  EXPECT_EQ(f.Alerts()[0].state, analytics::AlertState::kRaised);
  f.Vibration(5 * kNsPerS, 5.0);
  EXPECT_EQ(f.Alerts()[0].state, analytics::AlertState::kClearedUnacknowledged);
}

// A RUL that arrives as telemetry (rul_h, as the turbofan RUL monitor submits it: rul_monitor.h)
// feeds the rul_below rules: the shard hands every released rul_h reading to ObserveRul.
TEST(LiveAlertsTest, RulBelowRuleFiresOnSubmittedRulHours) {
  Fixture f;
  f.Open();
  auto rul = [&](TimeNs ts, double h) {
    ASSERT_TRUE(f.engine->Submit({Reading{"pump-2", "rul_h", ts, h, Quality::kGood}}).ok());
    f.engine->Drain();
  };
  rul(1 * kNsPerS, 500);
  EXPECT_TRUE(f.Alerts().empty());
  rul(2 * kNsPerS, 80);
  auto alerts = f.Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].rule, "rul_short");
  EXPECT_EQ(alerts[0].twin, "pump-2");
  EXPECT_EQ(alerts[0].state, analytics::AlertState::kRaised);
  rul(3 * kNsPerS, 120);  // above the horizon, below the clear horizon: still raised
  EXPECT_EQ(f.Alerts()[0].state, analytics::AlertState::kRaised);
  rul(4 * kNsPerS, 400);
  EXPECT_EQ(f.Alerts()[0].state, analytics::AlertState::kClearedUnacknowledged);
}

TEST(LiveAlertsTest, AcknowledgementRecordsWhoAndSurvivesARestart) {
  Fixture f;
  f.Open();
  f.Vibration(1 * kNsPerS, 8.0);
  auto alerts = f.Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  f.now = 2'000'000'000'000;
  auto acked = f.engine->AcknowledgeAlert(alerts[0].id, "operator-1");
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  EXPECT_EQ(acked->state, analytics::AlertState::kAcknowledged);
  EXPECT_EQ(acked->acked_by, "operator-1");
  EXPECT_EQ(acked->acked_ns, 2'000'000'000'000);
  EXPECT_EQ(f.engine->AcknowledgeAlert(999, "operator-1").status().code(), StatusCode::kNotFound);

  f.Open();  // restart: the alert is back, still active, and clears on the next good reading
  alerts = f.Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].state, analytics::AlertState::kAcknowledged);
  EXPECT_EQ(alerts[0].acked_by, "operator-1");
  f.Vibration(2 * kNsPerS, 1.0);
  alerts = f.Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].state, analytics::AlertState::kCleared);
}

TEST(LiveAlertsTest, AlertsArePushedOnTheStreamAndLowerTheHealthScore) {
  Fixture f;
  f.Open();
  std::mutex mu;
  std::vector<StreamEvent> got;
  f.engine->SubscribeStream([&](const std::vector<StreamEvent>& ev) {
    std::lock_guard lk(mu);
    for (const auto& e : ev) {
      if (e.kind == "alert") got.push_back(e);
    }
  });
  auto healthy = f.engine->GetHealth("pump-1");
  EXPECT_EQ(healthy.status().code(), StatusCode::kNotFound);  // not provisioned yet
  f.Vibration(1 * kNsPerS, 3.0);
  healthy = f.engine->GetHealth("pump-1");
  ASSERT_TRUE(healthy.ok()) << healthy.status().ToString();
  f.Vibration(2 * kNsPerS, 8.0);
  auto sick = f.engine->GetHealth("pump-1");
  ASSERT_TRUE(sick.ok());
  EXPECT_LT(sick->score, healthy->score);
  ASSERT_FALSE(sick->reasons.empty());
  {
    std::lock_guard lk(mu);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].twin, "pump-1");
    EXPECT_NE(got[0].payload.find("vibration_high"), std::string::npos);
  }
  auto twin = f.engine->GetTwin("pump-1");
  ASSERT_TRUE(twin.ok());
  EXPECT_EQ(twin->alerts_active, 1);
  ASSERT_TRUE(twin->health.has_value());
  EXPECT_DOUBLE_EQ(*twin->health, sick->score);
}

TEST(LiveAnomalyTest, DetectorScoresEverySignalAndStoresTheScoreSeries) {
  Fixture f;
  f.anomaly = true;
  f.Open();
  std::vector<Reading> batch;
  for (int i = 0; i < 600; ++i) {
    const double v = i == 500 ? 40.0 : 2.0 + 0.01 * (i % 7);  // one spike after a calm stretch
    batch.push_back(Reading{"pump-1", "vibration_mm_s", (i + 1) * kNsPerS, v, Quality::kGood});
  }
  ASSERT_TRUE(f.engine->Submit(batch).ok());
  f.engine->Drain();
  auto t = f.engine->GetTwin("pump-1");
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->latest.count("anomaly.vibration_mm_s"));
  auto pts = f.engine->QueryTelemetry("pump-1", "anomaly.vibration_mm_s", 0, 700 * kNsPerS, 10000);
  ASSERT_TRUE(pts.ok()) << pts.status().ToString();
  ASSERT_GT(pts->size(), 100u);
  double at_spike = 0, before = 0;
  for (const Point& p : *pts) {
    if (p.ts_ns >= 500 * kNsPerS && p.ts_ns <= 503 * kNsPerS) at_spike = std::max(at_spike, p.value);
    if (p.ts_ns >= 300 * kNsPerS && p.ts_ns < 500 * kNsPerS) before = std::max(before, p.value);
  }
  EXPECT_GT(at_spike, before);
  EXPECT_GE(at_spike, 0.5);
}

TEST(AnnotationsTest, CreatedListedDeletedAndKeptAcrossARestart) {
  Fixture f;
  f.Open();
  f.Vibration(1 * kNsPerS, 1.0);
  std::vector<StreamEvent> got;
  std::mutex mu;
  f.engine->SubscribeStream([&](const std::vector<StreamEvent>& ev) {
    std::lock_guard lk(mu);
    for (const auto& e : ev) {
      if (e.kind == "annotation") got.push_back(e);
    }
  });
  Annotation a;
  a.twin = "pump-1";
  a.author = "alice";
  a.text = "bearing noise after the night shift";
  a.from_ns = 100;
  a.to_ns = 200;
  a.signal = "vibration_mm_s";
  a.anchor = Point3{1, 2, 3};
  auto made = f.engine->CreateAnnotation(a);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(made->created_ns, f.now.load());
  {
    std::lock_guard lk(mu);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].payload.find("bearing noise"), std::string::npos);
  }
  auto list = f.engine->ListAnnotations("pump-1", 150, 160);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE(f.engine->ListAnnotations("pump-1", 300, 400)->empty());

  f.Open();
  list = f.engine->ListAnnotations("pump-1", 0, 1000);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].author, "alice");
  ASSERT_TRUE((*list)[0].anchor.has_value());
  EXPECT_DOUBLE_EQ((*list)[0].anchor->z, 3);

  EXPECT_EQ(f.engine->DeleteAnnotation("pump-1", made->id, "bob", false).code(),
            StatusCode::kPermissionDenied);
  EXPECT_TRUE(f.engine->DeleteAnnotation("pump-1", made->id, "alice", false).ok());
  EXPECT_EQ(f.engine->DeleteAnnotation("pump-1", made->id, "alice", false).code(), StatusCode::kNotFound);
  EXPECT_TRUE(f.engine->ListAnnotations("pump-1", 0, 1000)->empty());
}

TEST(AnnotationsTest, BadAnnotationsAreRefusedNamingTheField) {
  Fixture f;
  f.Open();
  f.Vibration(1 * kNsPerS, 1.0);
  Annotation a;
  a.twin = "pump-1";
  a.author = "alice";
  EXPECT_NE(f.engine->CreateAnnotation(a).status().message().find("text"), std::string::npos);
  a.text = "x";
  a.from_ns = 10;
  a.to_ns = 5;
  EXPECT_NE(f.engine->CreateAnnotation(a).status().message().find("to_ns"), std::string::npos);
  a.to_ns = 10;
  a.twin = "pump-404";
  EXPECT_EQ(f.engine->CreateAnnotation(a).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace doppel::engine
