// Detection tested on the simulated plant (docs/analytics.md, "Detection on the simulated plant").
//
// The plant is simulated directly, as plant::Plant does it but without threads or a bus:
// StationModel (params and fault schedule from the seed), StationSimulator (RK4, 0.1 s) and
// Measure() at 1 Hz. Every pump signal gets its own EnsembleDetector, as in the engine (one per
// twin signal), and the scores go through a real AlertEvaluator running the demo's
// `anomalous_signal` rule (min_score 0.9, clear 0.5, min_duration_s 3; serve_cmd.cc).
// Measured with the plant detector config below over the seeds used here (figures in the docs):
//   fault-free, 12 pump-days: 0 raises;  faulty runs, 18 pump-days: 0 unexplained raises;
//   13 cavitation onsets (seeds 1-6): 13 detected, delay 3..8 s (median 3.5 s).
// Asserted with margin: <= 0.25 false alarms per pump per day, >= 90 % of cavitation onsets
// detected within 60 s, median delay <= 15 s. Slow faults (bearing defect, sensor drift) are not
// asserted: the anomaly rule does not see them (docs); sensor dropouts are the stale rule's job.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "analytics/plant_harness.h"
#include "doppel/analytics/alert_engine.h"
#include "doppel/analytics/alert_rules.h"
#include "doppel/analytics/detector.h"
#include "doppel/plant/station_model.h"

namespace doppel::analytics {
namespace {

using plant::Fault;
using plant::FaultKind;

using plant_harness::kDemoAnomalyRule;
using plant_harness::Median;
using plant_harness::Raise;

// The default DetectorConfig silences a detector for 50 rows after any score >= alarm_level (0.5),
// so a score >= 0.9 never lasts more than one row and a rule with min_duration_s > 0 can never
// raise. For plant signals the refractory period is switched off (alarm_level above the maximum
// score): de-duplication is left to the rule (min_duration_s, clear_score hysteresis).
DetectorConfig PlantDetectorConfig() {
  DetectorConfig c;
  c.alarm_level = 1.01;
  return c;
}

constexpr double kDay_s = plant::kSecondsPerDay;

struct RunSpec {
  uint64_t seed = 1;
  int pumps = 3;
  double hours = 24;
  bool faults = true;
  DetectorConfig detector = PlantDetectorConfig();
  std::string rules_yaml = kDemoAnomalyRule;
};

struct RunResult {
  std::vector<Fault> faults;  // the plant's truth: the whole schedule
  std::vector<Raise> raises;  // in time order
};

RunResult Simulate(const RunSpec& spec) {
  plant::StationParams params = plant::StationParams::FromSeed(spec.seed, spec.pumps);
  params.time_of_day_at_start_s = 0;  // t = 0 is midnight, as are the timestamps below
  plant::FaultSchedule schedule;
  if (spec.faults) schedule = plant::FaultSchedule::FromSeed(spec.seed, spec.pumps, kDay_s);
  const plant::StationModel model(std::move(params), std::move(schedule));

  RunResult res;
  res.faults = model.faults().faults();
  auto rules = ParseAlertRulesYamlText(spec.rules_yaml, "test rules");
  EXPECT_TRUE(rules.ok()) << rules.status().ToString();
  if (!rules.ok()) return res;
  auto evaluator = AlertEvaluator::Create(*rules);
  EXPECT_TRUE(evaluator.ok()) << evaluator.status().ToString();
  if (!evaluator.ok()) return res;

  const size_t pumps = static_cast<size_t>(spec.pumps);
  std::vector<std::vector<EnsembleDetector>> detectors(pumps);
  for (auto& d : detectors) d.assign(plant::kNumPumpSignals, EnsembleDetector(spec.detector));
  std::vector<std::string> twins;
  for (size_t i = 0; i < pumps; ++i) twins.push_back("pump-" + std::to_string(i + 1));

  std::vector<AlertTransition> out;
  plant_harness::RunAtOneHertz(
      model, spec.seed, spec.hours, [&](double t, TimeNs ts, const plant::StationReadings& r) {
        for (size_t i = 0; i < pumps; ++i) {
          for (size_t s = 0; s < plant::kNumPumpSignals; ++s) {
            const std::optional<double>& v = r.pumps[i].values[s];
            if (!v) continue;  // dropped out: the engine gets no reading either
            const double score = detectors[i][s].Update(ts, *v);
            out.clear();
            evaluator->ObserveAnomaly(twins[i], plant::PumpSignalName(static_cast<plant::PumpSignal>(s)), ts,
                                      score, &out);
            for (const AlertTransition& tr : out) {
              if (tr.kind == AlertTransition::Kind::kRaised)
                res.raises.push_back({static_cast<int>(i), t, tr.signal});
            }
          }
        }
      });
  return res;
}

// A raise is explained by a fault on its pump that is active or ended at most `grace_s` before it
// (the return to normal is a change too); permanent faults explain every later raise.
bool Explained(const RunResult& r, const Raise& x, double grace_s) {
  return std::any_of(r.faults.begin(), r.faults.end(), [&](const Fault& f) {
    return f.pump == x.pump && x.t_s >= f.start_s && x.t_s < f.end_s + grace_s;
  });
}

constexpr double kGrace_s = 300;

// Unexplained raises per pump per simulated day.
double FalseAlarmsPerPumpDay(const std::vector<RunResult>& runs, const RunSpec& spec) {
  size_t unexplained = 0;
  for (const RunResult& r : runs) {
    for (const Raise& x : r.raises) {
      if (!Explained(r, x, kGrace_s)) ++unexplained;
    }
  }
  const double pump_days = static_cast<double>(runs.size()) * spec.pumps * spec.hours / 24.0;
  return static_cast<double>(unexplained) / pump_days;
}

struct Onset {
  Fault fault;
  bool detected = false;
  double delay_s = 0;
};

// For every fault of `kind`: the first raise on its pump in [start, start + window_s).
std::vector<Onset> Onsets(const std::vector<RunResult>& runs, FaultKind kind, double window_s) {
  std::vector<Onset> onsets;
  for (const RunResult& r : runs) {
    for (const Fault& f : r.faults) {
      if (f.kind != kind) continue;
      Onset o{f, false, 0};
      for (const Raise& x : r.raises) {
        if (x.pump == f.pump && x.t_s >= f.start_s && x.t_s < f.start_s + window_s) {
          o.detected = true;
          o.delay_s = x.t_s - f.start_s;
          break;
        }
      }
      onsets.push_back(o);
    }
  }
  return onsets;
}

// Bounds (docs/analytics.md): chosen with margin over the measured figures in the header.
constexpr double kMaxFalseAlarmsPerPumpDay = 0.25;
constexpr double kMinCavitationDetected = 0.9;
constexpr double kCavitationWindow_s = 60;
constexpr double kMaxMedianCavitationDelay_s = 15;

TEST(PlantDetection, FaultFreePlantRaisesFewAnomalyAlarmsPerPumpDay) {
  RunSpec spec;
  spec.faults = false;
  std::vector<RunResult> runs;
  for (uint64_t seed : {1, 2, 3, 4}) {
    spec.seed = seed;
    runs.push_back(Simulate(spec));
    EXPECT_TRUE(runs.back().faults.empty());
  }
  const double rate = FalseAlarmsPerPumpDay(runs, spec);
  RecordProperty("false_alarms_per_pump_day", std::to_string(rate));
  EXPECT_LE(rate, kMaxFalseAlarmsPerPumpDay) << "over " << runs.size() * 3 << " pump-days";
}

TEST(PlantDetection, SeededCavitationIsDetectedWithinSecondsWithoutSpuriousAlarms) {
  RunSpec spec;
  std::vector<RunResult> runs;
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    spec.seed = seed;
    runs.push_back(Simulate(spec));
  }
  const std::vector<Onset> onsets = Onsets(runs, FaultKind::kCavitation, kCavitationWindow_s);
  ASSERT_GE(onsets.size(), 10u) << "the seeds must give enough cavitation episodes to measure";
  std::vector<double> delays;
  for (const Onset& o : onsets) {
    if (o.detected) delays.push_back(o.delay_s);
  }
  const double detected = static_cast<double>(delays.size()) / static_cast<double>(onsets.size());
  const double median = Median(delays);
  RecordProperty("cavitation_onsets", std::to_string(onsets.size()));
  RecordProperty("cavitation_detected_fraction", std::to_string(detected));
  RecordProperty("cavitation_median_delay_s", std::to_string(median));
  EXPECT_GE(detected, kMinCavitationDetected);
  EXPECT_LE(median, kMaxMedianCavitationDelay_s);
  // Raises that no fault on their pump explains are false alarms in the faulty plant too.
  const double false_alarms = FalseAlarmsPerPumpDay(runs, spec);
  RecordProperty("false_alarms_per_pump_day", std::to_string(false_alarms));
  EXPECT_LE(false_alarms, kMaxFalseAlarmsPerPumpDay);
}

// The bounds can fail: with a refractory period (the DetectorConfig defaults, which the engine
// uses) a score >= 0.9 is followed by 50 silent rows, so it never lasts min_duration_s and the
// demo rule detects none of the cavitation onsets that PlantDetectorConfig() finds in seconds.
TEST(PlantDetection, RefractoryPeriodKeepsTheDemoRuleFromRaising) {
  RunSpec spec;
  spec.seed = 2;  // three cavitation onsets in the first 12 h
  spec.hours = 12;
  spec.detector = DetectorConfig{};
  spec.detector.alarm_level = 0.5;
  spec.detector.refractory = 50;
  const RunResult r = Simulate(spec);
  const std::vector<Onset> onsets = Onsets({r}, FaultKind::kCavitation, kCavitationWindow_s);
  ASSERT_EQ(onsets.size(), 3u);
  EXPECT_TRUE(r.raises.empty());
  for (const Onset& o : onsets) EXPECT_FALSE(o.detected);
}

}  // namespace
}  // namespace doppel::analytics
