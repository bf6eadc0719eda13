// The fused twin score in the running engine (docs/analytics.md, "Multivariate detectors and the
// fused score"): a simulated plant pump (and its tank) streamed through Submit with anomaly
// detection on; the shard writes "anomaly", "anomaly.pca" and "anomaly.nis" next to the
// per-signal "anomaly.<signal>", and an anomaly rule on signal "anomaly" raises for a flow sensor
// bias that no per-signal score sees.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "doppel/analytics/alert_rules.h"
#include "doppel/engine/engine.h"
#include "doppel/plant/station_model.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

constexpr TimeNs kT0 = 1'700'000'000 * kNsPerS;

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::unique_ptr<Engine> engine;

  void Open() {
    EngineOptions o;
    o.data_dir = dir.file("data");
    o.models_dir = testing::SourceDir() + "/examples/models";
    o.shards = 2;
    o.allowed_lateness_ns = 0;
    o.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}, {"tank-*", "dtmi:doppel:demo:Tank;1"}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [] { return kT0; };
    // The demo rule's levels, on the twin-level score only, and on the per-signal scores.
    auto rules = analytics::ParseAlertRulesYamlText(R"(
- {name: twin_anomaly, kind: anomaly, twins: "pump-*", signal: anomaly, min_score: 0.9, clear_score: 0.5, min_duration_s: 3}
- {name: signal_anomaly, kind: anomaly, twins: "pump-*", signal: "*_*", min_score: 0.9, clear_score: 0.5, min_duration_s: 3}
)",
                                                    "test rules");
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    o.alert_rules = *rules;
    o.anomaly_detection = true;
    auto e = Engine::Open(o, &metrics, platform::DefaultEnv());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
    ASSERT_TRUE(engine->Start().ok());
  }

  std::vector<analytics::Alert> Raised(const std::string& rule) {
    auto all = engine->ListAlerts({});
    EXPECT_TRUE(all.ok());
    std::vector<analytics::Alert> out;
    for (const auto& a : *all) {
      if (a.rule == rule) out.push_back(a);
    }
    return out;
  }
};

// One pump of the plant of seed 1 at 1 Hz with its tank, as the plant publishes them; a flow
// sensor bias of `bias_m3h` from `bias_start_s`. Calls `at(t)` every `every_s` seconds after
// draining the engine.
void StreamPlant(Engine* engine, double seconds, double bias_m3h, double bias_start_s, double every_s,
                 const std::function<void(double)>& at) {
  plant::StationParams params = plant::StationParams::FromSeed(1, 1);
  params.time_of_day_at_start_s = 6 * 3600;  // the morning ramp: the operating point moves
  plant::Fault bias;
  bias.kind = plant::FaultKind::kSensorDrift;
  bias.pump = 0;
  bias.signal = plant::PumpSignal::kFlow;
  bias.start_s = bias_start_s;
  bias.end_s = std::numeric_limits<double>::infinity();
  bias.offset = bias_m3h;
  const plant::StationModel model(std::move(params), plant::FaultSchedule({bias}));
  plant::StationSimulator sim(&model, model.DefaultState(), /*step_s=*/0.1);
  const plant::StationInputs inputs = model.DefaultInputs();
  std::mt19937_64 noise(plant::DeriveSeed(1, 3));
  std::vector<Reading> batch;
  for (long k = 1; k <= static_cast<long>(seconds); ++k) {
    const double t = static_cast<double>(k);
    sim.AdvanceTo(t, inputs);
    const plant::StationReadings r = plant::Measure(model, t, sim.state(), inputs, noise);
    const TimeNs ts = kT0 + static_cast<TimeNs>(k) * kNsPerS;
    batch.push_back(Reading{"tank-1", "level_m", ts, r.level_m, Quality::kGood});
    for (int s = 0; s < plant::kNumPumpSignals; ++s) {
      const std::optional<double>& v = r.pumps[0].values[static_cast<size_t>(s)];
      if (v)
        batch.push_back(Reading{"pump-1", plant::PumpSignalName(static_cast<plant::PumpSignal>(s)), ts, *v,
                                Quality::kGood});
    }
    if (k % static_cast<long>(every_s) == 0) {
      ASSERT_TRUE(engine->Submit(std::move(batch)).ok());
      batch.clear();
      engine->Drain();
      at(t);
    }
  }
}

TEST(MultivariateAnomalyTest, FlowSensorBiasRaisesTheTwinScoreAndNotTheSignalScores) {
  Fixture f;
  f.Open();
  const double bias_start_s = 1800;
  double healthy_fused = 0, healthy_pca = 0, healthy_nis = 0;
  bool components_seen = false;
  StreamPlant(f.engine.get(), 2100, 6.0, bias_start_s, 30, [&](double t) {
    auto twin = f.engine->GetTwin("pump-1");
    ASSERT_TRUE(twin.ok());
    const auto& l = twin->latest;
    if (t < bias_start_s && t > 700) {  // after discovery (10 rows) and PCA training (600 rows)
      ASSERT_TRUE(l.count("anomaly") && l.count("anomaly.pca") && l.count("anomaly.nis")) << "at " << t;
      components_seen = true;
      healthy_fused = std::max(healthy_fused, l.at("anomaly").value);
      healthy_pca = std::max(healthy_pca, l.at("anomaly.pca").value);
      healthy_nis = std::max(healthy_nis, l.at("anomaly.nis").value);
      // The fused score is the maximum of its components.
      for (const auto& [name, v] : l) {
        if (name.rfind("anomaly.", 0) == 0) {
          EXPECT_LE(v.value, l.at("anomaly").value + 1e-12) << name;
        }
      }
    }
  });
  ASSERT_TRUE(components_seen);
  RecordProperty("healthy_max_fused", std::to_string(healthy_fused));
  RecordProperty("healthy_max_pca", std::to_string(healthy_pca));
  RecordProperty("healthy_max_nis", std::to_string(healthy_nis));
  const auto twin_alerts = f.Raised("twin_anomaly");
  ASSERT_EQ(twin_alerts.size(), 1u) << "healthy max fused " << healthy_fused << " pca " << healthy_pca
                                    << " nis " << healthy_nis;
  const double delay_s = static_cast<double>(twin_alerts[0].raised_ns - kT0) / 1e9 - bias_start_s;
  RecordProperty("bias_delay_s", std::to_string(delay_s));
  EXPECT_GE(delay_s, 0);
  EXPECT_LE(delay_s, 60);
  EXPECT_EQ(twin_alerts[0].signal, "anomaly");
  EXPECT_TRUE(f.Raised("signal_anomaly").empty());  // no per-signal score saw it
}

// The fused score and its components are stored like anomaly.<signal>: at most one point per
// second of source time, the maximum since the last one.
TEST(MultivariateAnomalyTest, FusedScoreAndComponentsAreStoredAsSeries) {
  Fixture f;
  f.Open();
  const double bias_start_s = 900;
  StreamPlant(f.engine.get(), 1000, 6.0, bias_start_s, 100, [](double) {});
  for (const char* name : {"anomaly", "anomaly.pca", "anomaly.nis"}) {
    auto pts = f.engine->QueryTelemetry("pump-1", name, kT0, kT0 + 1100 * kNsPerS, 100000);
    ASSERT_TRUE(pts.ok()) << name << ": " << pts.status().ToString();
    EXPECT_GT(pts->size(), std::string(name) == "anomaly" ? 900u : 250u) << name;
    for (size_t i = 1; i < pts->size(); ++i)
      ASSERT_GE((*pts)[i].ts_ns - (*pts)[i - 1].ts_ns, kNsPerS) << name;
  }
  auto pca = f.engine->QueryTelemetry("pump-1", "anomaly.pca", kT0, kT0 + 1100 * kNsPerS, 100000);
  double after = 0;
  for (const Point& p : *pca) {
    if (p.ts_ns > kT0 + static_cast<TimeNs>(bias_start_s) * kNsPerS) after = std::max(after, p.value);
  }
  EXPECT_GE(after, 0.9);
}

}  // namespace
}  // namespace doppel::engine
