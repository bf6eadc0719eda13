// The fused twin score on the simulated plant (docs/analytics.md, "Multivariate detectors and
// the fused score"): the harness of plant_detection_test.cc (StationModel, RK4 at 0.1 s,
// Measure at 1 Hz, the demo's anomalous_signal rule through a real AlertEvaluator), with each
// pump scored as the engine does it: one EnsembleDetector per signal ("anomaly.<signal>"), a
// PcaDetector on the pump's rows ("anomaly.pca") and the fused score "anomaly" = max of both.
// (No estimator here, so no NIS component: tests/engine/multivariate_anomaly_test.cc has it.)
//
// The fault is a flow sensor miscalibration: a constant bias from its onset. The flow stays
// inside its daily range and moves as before, so the per-signal detectors do not see it; the
// flow no longer agrees with speed, pressure and power, which the PCA model does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "analytics/plant_harness.h"
#include "doppel/analytics/alert_engine.h"
#include "doppel/analytics/alert_rules.h"
#include "doppel/analytics/detector.h"
#include "doppel/analytics/multivariate.h"
#include "doppel/plant/station_model.h"

namespace doppel::analytics {
namespace {

using plant::Fault;
using plant::FaultKind;

using plant_harness::kDemoAnomalyRule;
using plant_harness::Median;
using plant_harness::Raise;

struct RunSpec {
  uint64_t seed = 1;
  int pumps = 3;
  double hours = 24;
  std::vector<Fault> faults;  // explicit schedule (none: fault-free)
};

std::vector<Raise> Simulate(const RunSpec& spec) {
  plant::StationParams params = plant::StationParams::FromSeed(spec.seed, spec.pumps);
  params.time_of_day_at_start_s = 0;
  const plant::StationModel model(std::move(params), plant::FaultSchedule(spec.faults));

  auto rules = ParseAlertRulesYamlText(kDemoAnomalyRule, "test rules");
  EXPECT_TRUE(rules.ok());
  auto evaluator = AlertEvaluator::Create(*rules);
  EXPECT_TRUE(evaluator.ok());
  DetectorConfig live;
  live.alarm_level = 1.01;  // the engine's live configuration
  const size_t pumps = static_cast<size_t>(spec.pumps);
  std::vector<std::vector<EnsembleDetector>> uni(pumps);
  std::vector<PcaDetector> pca;
  for (size_t i = 0; i < pumps; ++i) {
    uni[i].assign(plant::kNumPumpSignals, EnsembleDetector(live));
    pca.emplace_back(plant::kNumPumpSignals, PcaDetectorOptions{});  // the defaults, as the engine
  }
  std::vector<Raise> raises;
  std::vector<AlertTransition> out;
  std::vector<double> row(plant::kNumPumpSignals);
  plant_harness::RunAtOneHertz(
      model, spec.seed, spec.hours, [&](double t, TimeNs ts, const plant::StationReadings& r) {
        for (size_t i = 0; i < pumps; ++i) {
          const std::string twin = "pump-" + std::to_string(i + 1);
          out.clear();
          double u_max = 0;
          for (size_t s = 0; s < plant::kNumPumpSignals; ++s) {
            const std::optional<double>& v = r.pumps[i].values[s];
            row[s] = v ? *v : std::numeric_limits<double>::quiet_NaN();
            if (!v) continue;
            const double score = uni[i][s].Update(ts, *v);
            u_max = std::max(u_max, score);
            evaluator->ObserveAnomaly(twin, plant::PumpSignalName(static_cast<plant::PumpSignal>(s)), ts,
                                      score, &out);
          }
          const double fused = FuseAnomalyScores({u_max, pca[i].Update(ts, row)});
          evaluator->ObserveAnomaly(twin, "anomaly", ts, fused, &out);
          for (const AlertTransition& tr : out) {
            if (tr.kind == AlertTransition::Kind::kRaised)
              raises.push_back({static_cast<int>(i), t, tr.signal});
          }
        }
      });
  return raises;
}

// Bounds (README, docs/analytics.md), with margin over the measured figures.
constexpr double kMaxFalseAlarmsPerPumpDay = 0.25;  // the README's bound for the anomaly rule
constexpr double kMinBiasDetected = 0.9;
constexpr double kBiasWindow_s = 120;
constexpr double kMaxMedianBiasDelay_s = 30;

TEST(PlantMultivariate, FaultFreePlantRaisesFewAlarmsWithTheFusedScore) {
  size_t raises = 0, fused = 0;
  double pump_days = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    RunSpec spec;
    spec.seed = seed;
    for (const Raise& x : Simulate(spec)) {
      ++raises;
      if (x.signal == "anomaly") ++fused;
    }
    pump_days += spec.pumps * spec.hours / 24.0;
  }
  const double rate = static_cast<double>(raises) / pump_days;
  RecordProperty("false_alarms_per_pump_day", std::to_string(rate));
  RecordProperty("fused_raises", std::to_string(fused));
  EXPECT_LE(rate, kMaxFalseAlarmsPerPumpDay)
      << raises << " raises (" << fused << " fused) in " << pump_days << " pump-days";
}

// A flow sensor bias of `bias_m3h` on every pump, onsets spread over the day after the PCA
// training window (the first 600 s).
struct BiasResult {
  std::vector<double> fused_delays;  // onset to the first fused raise, detected ones
  size_t onsets = 0, univariate_detected = 0;
  size_t early_raises = 0;  // raises on a pump before its bias started: false alarms
  double healthy_pump_days = 0;
};

BiasResult FlowBias(double bias_m3h, std::initializer_list<uint64_t> seeds) {
  BiasResult res;
  for (uint64_t seed : seeds) {
    RunSpec spec;
    spec.seed = seed;
    spec.hours = 12;
    for (int p = 0; p < spec.pumps; ++p) {
      Fault f;
      f.kind = FaultKind::kSensorDrift;
      f.pump = p;
      f.signal = plant::PumpSignal::kFlow;
      f.start_s = 3600.0 * (2 + 3 * p + static_cast<double>(seed % 3));
      f.end_s = std::numeric_limits<double>::infinity();
      f.offset = bias_m3h;
      spec.faults.push_back(f);
    }
    const std::vector<Raise> raises = Simulate(spec);
    for (const Fault& f : spec.faults) {
      ++res.onsets;
      res.healthy_pump_days += f.start_s / plant::kSecondsPerDay;
      for (const Raise& x : raises) res.early_raises += x.pump == f.pump && x.t_s < f.start_s;
      bool fused = false, uni = false;
      for (const Raise& x : raises) {
        if (x.pump != f.pump || x.t_s < f.start_s || x.t_s >= f.start_s + kBiasWindow_s) continue;
        if (x.signal == "anomaly" && !fused) {
          fused = true;
          res.fused_delays.push_back(x.t_s - f.start_s);
        }
        if (x.signal != "anomaly") uni = true;
      }
      if (uni) ++res.univariate_detected;
    }
  }
  return res;
}

TEST(PlantMultivariate, FlowSensorBiasIsDetectedByTheFusedScoreAndMissedPerSignal) {
  const BiasResult r = FlowBias(6.0, {1, 2, 3});  // 6 x the flow sensor noise
  ASSERT_EQ(r.onsets, 9u);
  const double detected = static_cast<double>(r.fused_delays.size()) / static_cast<double>(r.onsets);
  const double median = Median(r.fused_delays);
  RecordProperty("bias_detected_fraction", std::to_string(detected));
  RecordProperty("bias_median_delay_s", std::to_string(median));
  RecordProperty("bias_univariate_detected", std::to_string(r.univariate_detected));
  EXPECT_GE(detected, kMinBiasDetected);
  EXPECT_LE(median, kMaxMedianBiasDelay_s);
  // The per-signal detectors alone (the demo rule on anomaly.<signal>) miss most of them.
  EXPECT_LE(r.univariate_detected, 3u);
  EXPECT_LE(static_cast<double>(r.early_raises) / r.healthy_pump_days, kMaxFalseAlarmsPerPumpDay);
}

}  // namespace
}  // namespace doppel::analytics
