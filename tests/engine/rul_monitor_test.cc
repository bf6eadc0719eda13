// RulMonitor: released readings -> cycles -> the trained RUL model -> rul_cycles and its band.
// A small synthetic run-to-failure fleet (C-MAPSS layout) stands in for the data set, so these
// tests do not depend on ../shared/data.
#include "doppel/engine/rul_monitor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <thread>

#include "doppel/engine/engine.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

using analytics::EngineCycle;

// Units 1..n, each run to failure: sensors drift with (cycle / life)^2 plus noise, six sensors are
// constant (as in FD001), the settings are noise around one operating point.
std::vector<EngineCycle> Fleet(int units, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> z(0, 1);
  std::vector<EngineCycle> out;
  for (int u = 1; u <= units; ++u) {
    int life = 130 + static_cast<int>(rng() % 120);
    for (int c = 1; c <= life; ++c) {
      double d = std::pow(static_cast<double>(c) / life, 2);
      EngineCycle e;
      e.unit = u;
      e.cycle = c;
      e.columns = {0.002 * z(rng), 0.0003 * z(rng), 100};
      for (int s = 0; s < 21; ++s) {
        bool constant = s == 0 || s == 4 || s == 9 || s == 15 || s == 17 || s == 18;
        double base = 100 + 10 * s;
        e.columns.push_back(constant ? base : base + (s % 2 ? 1.0 : -1.0) * (1 + s % 4) * d + 0.05 * z(rng));
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

analytics::RulTrainOptions SmallTraining() {
  analytics::RulTrainOptions o;
  o.rounds = 40;
  o.eta = 0.2;
  o.ensemble = 1;
  return o;
}

// One model file shared by the tests (trained once).
const std::string& ModelPath() {
  static testing::TempDir dir;  // removed at exit
  static const std::string path = [] {
    std::string p = dir.file("model.json");
    auto m = analytics::RulModel::Train(Fleet(30, 1), SmallTraining(), nullptr);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    if (m.ok()) {
      EXPECT_TRUE(m->Save(p).ok());
    }
    return p;
  }();
  return path;
}

// The readings one cycle of `e` becomes at source time ts, in a scrambled signal order.
std::vector<Reading> CycleReadings(const std::string& twin, const EngineCycle& e, TimeNs ts, uint32_t seed) {
  std::vector<Reading> r;
  r.push_back(Reading{twin, kTurbofanCycleSignal, ts, static_cast<double>(e.cycle), Quality::kGood});
  for (size_t k = 0; k < kTurbofanColumns.size(); ++k)
    r.push_back(Reading{twin, std::string(kTurbofanColumns[k]), ts, e.columns[k], Quality::kGood});
  std::shuffle(r.begin(), r.end(), std::mt19937(seed));
  return r;
}

std::vector<EngineCycle> Unit(const std::vector<EngineCycle>& fleet, int unit) {
  std::vector<EngineCycle> out;
  for (const auto& e : fleet)
    if (e.unit == unit) out.push_back(e);
  return out;
}

RulMonitorOptions Options() {
  RulMonitorOptions o;
  o.model_path = ModelPath();
  return o;
}

RulMonitor::ModelOf AllTurbofan() {
  return [](const std::string&) { return std::string(kTurbofanModelId); };
}

std::map<std::string, std::vector<Reading>> BySignal(const std::vector<Reading>& out,
                                                     const std::string& twin) {
  std::map<std::string, std::vector<Reading>> m;
  for (const auto& r : out)
    if (r.twin == twin) m[r.signal].push_back(r);
  return m;
}

TEST(RulMonitorTest, EachCyclesRulEqualsRulPredictOnTheUnitsPrefix) {
  auto monitor = RulMonitor::Create(Options(), AllTurbofan());
  ASSERT_TRUE(monitor.ok()) << monitor.status().ToString();
  auto reference = analytics::RulModel::Load(ModelPath());
  ASSERT_TRUE(reference.ok());
  const auto test = Fleet(2, 99);
  const auto u1 = Unit(test, 1), u2 = Unit(test, 2);
  std::vector<Reading> out;
  // Two engines interleaved, each cycle's signals in scrambled order.
  for (size_t i = 0; i < std::max(u1.size(), u2.size()); ++i) {
    std::vector<Reading> in;
    if (i < u1.size())
      in = CycleReadings("engine-1", u1[i], (1000 + static_cast<TimeNs>(i)) * kNsPerS, 7 + i);
    if (i < u2.size()) {
      auto b = CycleReadings("engine-2", u2[i], (1000 + static_cast<TimeNs>(i)) * kNsPerS, 11 + i);
      in.insert(in.end(), b.begin(), b.end());
    }
    (*monitor)->Process(in, &out);
  }
  for (auto [twin, unit] : {std::pair{"engine-1", &u1}, std::pair{"engine-2", &u2}}) {
    auto rul = BySignal(out, twin)["rul_cycles"];
    ASSERT_EQ(rul.size(), unit->size()) << twin;
    for (size_t i = 0; i < unit->size(); i += 7) {
      std::vector<EngineCycle> prefix(unit->begin(), unit->begin() + static_cast<long>(i + 1));
      auto want = reference->PredictLast(prefix);
      ASSERT_TRUE(want.ok());
      EXPECT_NEAR(rul[i].value, (*want)[0], 1e-9) << twin << " cycle " << i + 1;
      EXPECT_EQ(rul[i].source_ts_ns, (1000 + static_cast<TimeNs>(i)) * kNsPerS);
    }
  }
  EXPECT_EQ((*monitor)->summary().cycles, u1.size() + u2.size());
  EXPECT_EQ((*monitor)->summary().errors, 0u);
}

TEST(RulMonitorTest, UnmatchedTwinsModelsAndSignalsAreIgnored) {
  std::map<std::string, std::string> models = {
      {"engine-1", kTurbofanModelId}, {"engine-9", "dtmi:doppel:demo:Pump;1"}, {"pump-1", kTurbofanModelId}};
  int asked = 0;
  auto model = analytics::RulModel::Load(ModelPath());
  ASSERT_TRUE(model.ok());
  RulMonitor monitor(std::move(*model), std::nullopt, Options(), [&](const std::string& twin) {
    ++asked;
    auto it = models.find(twin);
    return it == models.end() ? std::string() : it->second;
  });
  const auto unit = Unit(Fleet(1, 5), 1);
  std::vector<Reading> out;
  for (size_t i = 0; i < 5; ++i) {
    TimeNs ts = static_cast<TimeNs>(i + 1) * kNsPerS;
    for (const char* twin : {"engine-9", "pump-1", "engine-7", "engine-1"})
      monitor.Process(CycleReadings(twin, unit[i], ts, 3), &out);
    monitor.Process({Reading{"engine-1", "rul_cycles", ts, 1.0, Quality::kGood},
                     Reading{"engine-1", "flow_m3h", ts, 2.0, Quality::kGood}},
                    &out);
  }
  ASSERT_EQ(out.size(), 5u);  // engine-1 only, rul_cycles only (no band loaded, no hours)
  for (const auto& r : out) {
    EXPECT_EQ(r.twin, "engine-1");
    EXPECT_EQ(r.signal, "rul_cycles");
  }
  EXPECT_EQ(asked, 3);  // "pump-1" fails the glob before its model is asked; answers are cached
  EXPECT_EQ(monitor.history_size("engine-9"), 0u);
}

TEST(RulMonitorTest, IncompleteCycleIsDroppedAndDecreasingCycleStartsANewLife) {
  auto monitor = RulMonitor::Create(Options(), AllTurbofan());
  ASSERT_TRUE(monitor.ok());
  const auto unit = Unit(Fleet(1, 5), 1);
  std::vector<Reading> out;
  auto c1 = CycleReadings("engine-1", unit[0], 1 * kNsPerS, 1);
  c1.pop_back();  // one signal missing: never completes
  (*monitor)->Process(c1, &out);
  EXPECT_TRUE(out.empty());
  (*monitor)->Process(CycleReadings("engine-1", unit[1], 2 * kNsPerS, 2), &out);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ((*monitor)->summary().incomplete_dropped, 1u);
  (*monitor)->Process(CycleReadings("engine-1", unit[2], 3 * kNsPerS, 3), &out);
  EXPECT_EQ((*monitor)->history_size("engine-1"), 2u);
  (*monitor)->Process(CycleReadings("engine-1", unit[0], 4 * kNsPerS, 4), &out);  // cycle 1 again
  EXPECT_EQ((*monitor)->history_size("engine-1"), 1u);
  EXPECT_EQ((*monitor)->summary().restarts, 1u);
}

TEST(RulMonitorTest, HoursPerCycleAddsRulHours) {
  RulMonitorOptions o = Options();
  o.hours_per_cycle = 1.5;
  auto monitor = RulMonitor::Create(o, AllTurbofan());
  ASSERT_TRUE(monitor.ok());
  std::vector<Reading> out;
  (*monitor)->Process(CycleReadings("engine-1", Unit(Fleet(1, 5), 1)[0], kNsPerS, 1), &out);
  auto m = BySignal(out, "engine-1");
  ASSERT_EQ(m["rul_h"].size(), 1u);
  EXPECT_DOUBLE_EQ(m["rul_h"][0].value, 1.5 * m["rul_cycles"][0].value);
}

TEST(RulBandTest, ApplyAddsTheBinsQuantilesClipsAtZeroAndContainsThePoint) {
  RulBand b;
  b.bin_width = 10;
  b.q_lo = {-3, -8, -12};
  b.q_hi = {4, 9, 30};
  double p5, p95;
  b.Apply(5, &p5, &p95);  // bin 0
  EXPECT_DOUBLE_EQ(p5, 2);
  EXPECT_DOUBLE_EQ(p95, 9);
  b.Apply(12, &p5, &p95);  // bin 1
  EXPECT_DOUBLE_EQ(p5, 4);
  EXPECT_DOUBLE_EQ(p95, 21);
  b.Apply(500, &p5, &p95);  // beyond the last bin: the last bin
  EXPECT_DOUBLE_EQ(p5, 488);
  EXPECT_DOUBLE_EQ(p95, 530);
  b.q_lo = {2, 2, 2};  // a band that does not contain the point is widened to contain it
  b.Apply(5, &p5, &p95);
  EXPECT_DOUBLE_EQ(p5, 5);
  b.q_lo = {-30, -30, -30};
  b.Apply(5, &p5, &p95);
  EXPECT_DOUBLE_EQ(p5, 0);
}

TEST(RulBandTest, JsonRoundTripsAndBadFilesNameTheProblem) {
  RulBand b;
  b.q_lo = {-5, -7};
  b.q_hi = {6, 20};
  b.counts = {40, 50};
  b.points = 90;
  b.folds = 3;
  auto back = RulBand::FromJson(b.ToJson(), "band.json");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->q_lo, b.q_lo);
  EXPECT_EQ(back->q_hi, b.q_hi);
  EXPECT_EQ(back->points, 90u);
  auto bad =
      RulBand::FromJson(R"({"format":"doppel-rul-band-v1","bin_width":10,"q05":[1],"q95":[0]})", "b.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "b.json: bin 0: q05 must be <= q95, both finite");
  EXPECT_FALSE(RulBand::FromJson("{}", "b.json").ok());
  auto missing = RulBand::Load("/nonexistent/band.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/band.json"), std::string::npos);
}

TEST(RulBandTest, CrossValidatedBandCoversAboutNinetyPercentOfUnseenEngines) {
  RulBandOptions o;
  o.folds = 3;
  o.train = SmallTraining();
  auto band = CalibrateRulBand(Fleet(30, 1), o);
  ASSERT_TRUE(band.ok()) << band.status().ToString();
  EXPECT_GT(band->points, 1000u);
  for (size_t i = 0; i < band->q_lo.size(); ++i) EXPECT_LE(band->q_lo[i], band->q_hi[i]) << "bin " << i;
  // Independent engines (another seed), every cycle >= 31 scored against the true RUL.
  auto model = analytics::RulModel::Load(ModelPath());
  ASSERT_TRUE(model.ok());
  const auto fresh = Fleet(10, 4242);
  std::map<int, int> life;
  for (const auto& e : fresh) life[e.unit] = std::max(life[e.unit], e.cycle);
  std::vector<int> unit, cycle;
  auto pred = model->PredictEveryCycle(fresh, &unit, &cycle);
  ASSERT_TRUE(pred.ok());
  size_t n = 0, inside = 0;
  for (size_t i = 0; i < pred->size(); ++i) {
    if (cycle[i] < 31) continue;
    double p5, p95, truth = life[unit[i]] - cycle[i];
    band->Apply((*pred)[i], &p5, &p95);
    ++n;
    inside += truth >= p5 && truth <= p95;
  }
  double coverage = static_cast<double>(inside) / static_cast<double>(n);
  EXPECT_GT(coverage, 0.75) << n << " points";
  EXPECT_LT(coverage, 0.99) << n << " points";
}

TEST(RulMonitorConfigTest, ParsesDefaultsAndNamesTheBrokenKey) {
  auto o = ParseRulMonitorConfigYaml("{model: m.json, band: b.json, hours_per_cycle: 2}", "analytics.rul");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->model_path, "m.json");
  EXPECT_EQ(o->band_path, "b.json");
  EXPECT_EQ(o->twins, "engine-*");
  EXPECT_EQ(o->model_id, kTurbofanModelId);
  EXPECT_DOUBLE_EQ(o->hours_per_cycle, 2);
  auto cases = std::vector<std::pair<std::string, std::string>>{
      {"{band: b.json}", "analytics.rul.model: required (a `doppel rul train` model file)"},
      {"{model: m.json, modle: x}", "analytics.rul.modle: unknown key"},
      {"{model: m.json, hours_per_cycle: fast}", "analytics.rul.hours_per_cycle: expected a number"},
      {"{model: m.json, hours_per_cycle: -1}", "analytics.rul.hours_per_cycle: must be >= 0"},
      {"{model: m.json, max_history: 10}", "analytics.rul.max_history: must be >= 31"},
      {"{model: m.json, twins: [a, b]}", "analytics.rul.twins: expected a scalar"},
      {"[1, 2]", "analytics.rul: expected a mapping (docs/analytics.md)"},
      {"? :", "analytics.rul: keys must be names"},  // a null key (found by control_config_fuzz)
  };
  for (const auto& [yaml, want] : cases) {
    auto r = ParseRulMonitorConfigYaml(yaml, "analytics.rul");
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_EQ(r.status().message(), want) << yaml;
  }
  auto missing_model =
      RulMonitor::Create(*ParseRulMonitorConfigYaml("{model: /nonexistent/m.json}", "x"), AllTurbofan());
  ASSERT_FALSE(missing_model.ok());
  EXPECT_NE(missing_model.status().message().find("/nonexistent/m.json"), std::string::npos);
}

// The threaded shell on a real engine: readings submitted like an MQTT ingest come back as
// stored rul_cycles / band readings in the twin's latest values and its history.
TEST(RulMonitorRunnerTest, WritesRulIntoTheRunningEngine) {
  testing::TempDir dir;
  MetricsRegistry metrics;
  EngineOptions eo;
  eo.data_dir = dir.file("data");
  eo.models_dir = testing::SourceDir() + "/examples/models";
  eo.shards = 2;
  eo.allowed_lateness_ns = 0;
  eo.provision = {{"engine-*", kTurbofanModelId}};
  eo.fsync = store::FsyncPolicy::kNever;
  auto engine = Engine::Open(eo, &metrics, platform::DefaultEnv());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->Start().ok());
  RulBand band;
  band.q_lo = {-10};
  band.q_hi = {15};
  ASSERT_TRUE(band.Save(dir.file("band.json")).ok());
  RulMonitorOptions o = Options();
  o.band_path = dir.file("band.json");
  auto runner = RulMonitorRunner::Start(o, engine->get(), engine->get());
  ASSERT_TRUE(runner.ok()) << runner.status().ToString();
  const auto unit = Unit(Fleet(1, 77), 1);
  const size_t n = 40;
  for (size_t i = 0; i < n; ++i)
    ASSERT_TRUE((*engine)
                    ->Submit(CycleReadings("engine-3", unit[i], (100 + static_cast<TimeNs>(i)) * kNsPerS, 1))
                    .ok());
  auto reference = analytics::RulModel::Load(ModelPath());
  ASSERT_TRUE(reference.ok());
  auto want = reference->PredictLast(std::vector<EngineCycle>(unit.begin(), unit.begin() + n));
  ASSERT_TRUE(want.ok());
  const TimeNs last_ts = (100 + static_cast<TimeNs>(n - 1)) * kNsPerS;
  bool seen = false;
  for (int i = 0; i < 200 && !seen; ++i) {
    (*engine)->Drain();
    auto t = (*engine)->GetTwin("engine-3");
    ASSERT_TRUE(t.ok());
    auto it = t->latest.find("rul_cycles");
    seen = it != t->latest.end() && it->second.ts_ns == last_ts;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(seen) << "rul_cycles of the last cycle never reached the twin";
  auto t = (*engine)->GetTwin("engine-3");
  EXPECT_NEAR(t->latest.at("rul_cycles").value, (*want)[0], 1e-9);
  EXPECT_NEAR(t->latest.at("rul_p5_cycles").value, std::max(0.0, (*want)[0] - 10), 1e-9);
  EXPECT_NEAR(t->latest.at("rul_p95_cycles").value, (*want)[0] + 15, 1e-9);
  auto hist = (*engine)->QueryTelemetry("engine-3", "rul_cycles", 0, last_ts, 10000);
  ASSERT_TRUE(hist.ok());
  EXPECT_EQ(hist->size(), n);  // one stored value per cycle
  (*engine)->Stop();
  runner->reset();
}

}  // namespace
}  // namespace doppel::engine
