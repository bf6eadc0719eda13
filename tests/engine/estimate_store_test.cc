// Persisted estimates (engine/estimate_store.h): rows read back exactly, bad rows are skipped
// and named, bad estimates are refused, and a restarted engine starts each twin's estimator from
// its saved wear instead of the prior.
#include "doppel/engine/estimate_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "doppel/engine/behavior.h"
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
// The pump's sensors but vibration (bearing wear is not the subject here).
const std::vector<std::string> kSensors = {"flow_m3h", "discharge_pressure_bar", "speed_rpm", "power_kw",
                                           "motor_temp_c"};

SavedEstimate Example(const std::string& twin, double wear) {
  SavedEstimate e;
  e.twin = twin;
  e.model = kPump;
  e.ts_ns = kT0 + 12345;
  e.names = {"speed_rpm", "impeller_wear"};
  e.mean = Eigen::Vector2d(1301.25, wear);
  e.covariance.resize(2, 2);
  e.covariance << 4.0, 1e-3 / 3, 1e-3 / 3, 2.5e-5;
  return e;
}

void ExpectSame(const SavedEstimate& a, const SavedEstimate& b) {
  EXPECT_EQ(a.twin, b.twin);
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.ts_ns, b.ts_ns);
  EXPECT_EQ(a.names, b.names);
  EXPECT_EQ(a.mean, b.mean);  // bit-exact: the JSON numbers round-trip
  EXPECT_EQ(a.covariance, b.covariance);
}

TEST(EstimateStore, SavedEstimatesReadBackExactlyAndASaveReplacesATwinsRow) {
  testing::TempDir dir;
  const std::string path = dir.file("estimates.db");
  {
    auto s = EstimateStore::Open(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->Save({Example("pump-1", 0.1), Example("pump-2", 0.2)}).ok());
    ASSERT_TRUE((*s)->Save({Example("pump-1", 0.15)}).ok());
  }
  auto s = EstimateStore::Open(path);
  ASSERT_TRUE(s.ok());
  auto all = (*s)->LoadAll();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  ExpectSame((*all)[0], Example("pump-1", 0.15));
  ExpectSame((*all)[1], Example("pump-2", 0.2));
}

TEST(EstimateStore, SaveRefusesAnEstimateWhoseSizesDisagreeOrThatIsNotFinite) {
  testing::TempDir dir;
  auto s = EstimateStore::Open(dir.file("estimates.db"));
  ASSERT_TRUE(s.ok());
  SavedEstimate short_mean = Example("pump-1", 0.1);
  short_mean.mean.resize(1);
  EXPECT_EQ((*s)->Save({Example("pump-2", 0.2), short_mean}).message(),
            "estimate of 'pump-1': sizes disagree with its names");
  SavedEstimate nan = Example("pump-3", NAN);
  EXPECT_EQ((*s)->Save({nan}).message(), "estimate of 'pump-3': non-finite mean or covariance");
  auto all = (*s)->LoadAll();
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty()) << "nothing of a refused save is written";
}

TEST(EstimateStore, RowsThatDoNotParseAreSkippedAndNamed) {
  testing::TempDir dir;
  const std::string path = dir.file("estimates.db");
  {
    auto s = EstimateStore::Open(path);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Save({Example("pump-1", 0.1)}).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   "INSERT INTO estimates VALUES ('pump-2', 'm', 1, '[\"a\",\"b\"]', '[1]', '[1,0,0,1]');"
                   "INSERT INTO estimates VALUES ('pump-3', 'm', 1, 'not json', '[]', '[]');"
                   "INSERT INTO estimates VALUES ('pump-4', 'm', 1, '[\"a\"]', '[\"x\"]', '[1]');"
                   "INSERT INTO estimates VALUES ('pump-5', 'm', 1, '[\"a\"]', '[1]', '[1e400]');",
                   nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto s = EstimateStore::Open(path);
  ASSERT_TRUE(s.ok());
  std::vector<std::string> skipped;
  auto all = (*s)->LoadAll(&skipped);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].twin, "pump-1");
  EXPECT_EQ(skipped, (std::vector<std::string>{
                         "pump-2: 2 names, 1 mean entries, 4 covariance entries",
                         "pump-3: names: not a JSON array", "pump-4: mean[0] is not a finite number",
                         "pump-5: covariance: not a JSON array" /* 1e400 overflows: not JSON */}));
}

// A pump with impeller wear 0.25 feeds an engine for 15 min; the engine stops and a new one
// opens the same data directory. After two more samples its estimate is still about 0.25 (and as
// certain), where an engine without the saved estimate is back near its prior.
class Restart : public ::testing::Test {
 protected:
  std::unique_ptr<Engine> OpenEngine(const std::string& data) {
    EngineOptions o;
    o.data_dir = data;
    o.models_dir = testing::SourceDir() + "/examples/models";
    o.shards = 1;
    o.provision = {{"pump-*", kPump}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [] { return kT0; };
    auto e = Engine::Open(o, &metrics_, platform::DefaultEnv());
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    if (!e.ok()) return nullptr;
    EXPECT_TRUE((*e)->Start().ok());
    return std::move(e).value();
  }
  // Telemetry from t0_s to t1_s (1 Hz) of the worn pump.
  void Feed(Engine* e, int t0_s, int t1_s) {
    testing_pump::PumpTelemetry pump({{"pump.impeller_wear", 0.25}}, static_cast<uint64_t>(t0_s) + 3);
    for (int t = 1; t <= t1_s; ++t) {
      pump.AdvanceTo(t);
      if (t < t0_s) continue;
      std::vector<Reading> msg;
      pump.Append(kT0 + t * kNsPerS, "pump-1", kSensors, /*noise=*/true, &msg);
      ASSERT_TRUE(e->Submit(std::move(msg)).ok());
    }
    e->Drain();
  }
  static EstimatedValue Wear(Engine* e) {
    auto est = e->GetEstimate("pump-1");
    EXPECT_TRUE(est.ok()) << est.status().ToString();
    if (est.ok()) {
      for (const auto& p : est->parameters) {
        if (p.name == "impeller_wear") return p;
      }
    }
    ADD_FAILURE() << "no impeller_wear";
    return {};
  }
  MetricsRegistry metrics_;
};

TEST_F(Restart, RestartedEngineStartsFromTheSavedWearNotThePrior) {
  testing::TempDir dir;
  EstimatedValue before;
  {
    auto e = OpenEngine(dir.file("data"));
    ASSERT_NE(e, nullptr);
    Feed(e.get(), 1, 900);
    before = Wear(e.get());
    e->Stop();  // saves
  }
  auto saved = EstimateStore::Open(dir.file("data") + "/" + kEstimatesFile);
  ASSERT_TRUE(saved.ok());
  auto rows = (*saved)->LoadAll();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].twin, "pump-1");
  saved->reset();

  auto again = OpenEngine(dir.file("data"));
  ASSERT_NE(again, nullptr);
  Feed(again.get(), 901, 902);
  const EstimatedValue after = Wear(again.get());
  auto fresh = OpenEngine(dir.file("fresh"));
  ASSERT_NE(fresh, nullptr);
  Feed(fresh.get(), 901, 902);
  const EstimatedValue prior = Wear(fresh.get());
  std::printf(
      "impeller wear 0.25: before the restart %.4f ± %.4f, after %.4f ± %.4f, without the save %.4f ± %.4f\n",
      before.value, before.std, after.value, after.std, prior.value, prior.std);
  EXPECT_NEAR(before.value, 0.25, 0.03);
  EXPECT_NEAR(after.value, before.value, 0.01);
  EXPECT_LT(after.std, 2 * before.std);
  EXPECT_GT(prior.std, 5 * before.std) << "a fresh estimator is still near its prior";
  again->Stop();
  fresh->Stop();
}

TEST_F(Restart, AnEstimateSavedForAnotherModelIsNotUsed) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("data"));
  {
    auto s = EstimateStore::Open(dir.file("data") + "/" + kEstimatesFile);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    // The pump's state layout and a confident wear of 0.4, but saved for another model.
    SavedEstimate other;
    other.twin = "pump-1";
    other.model = "dtmi:example:Other;1";
    other.ts_ns = kT0;
    other.names = {"speed_rpm", "motor_temp_c", "impeller_wear", "bearing_wear", "flow_bias_m3h"};
    other.mean.resize(5);
    other.mean << 1300, 50, 0.4, 0.1, 0;
    other.covariance = Eigen::MatrixXd::Identity(5, 5) * 1e-8;
    ASSERT_TRUE((*s)->Save({other}).ok());
  }
  auto e = OpenEngine(dir.file("data"));
  ASSERT_NE(e, nullptr);
  Feed(e.get(), 1, 2);
  const EstimatedValue w = Wear(e.get());
  EXPECT_GT(w.std, 0.01) << "started from the prior";
  EXPECT_NEAR(w.value, 0.25, 0.05);
  e->Stop();
}

TEST_F(Restart, ACorruptEstimatesFileIsSetAsideAndTheEngineStarts) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.file("data"));
  const std::string path = dir.file("data") + "/" + kEstimatesFile;
  std::ofstream(path) << std::string(8192, 'x');  // not an SQLite database
  auto e = OpenEngine(dir.file("data"));
  ASSERT_NE(e, nullptr);
  Feed(e.get(), 1, 2);
  EXPECT_GT(Wear(e.get()).std, 0.01) << "started from the prior";
  e->Stop();
  const std::string aside = path + ".corrupt-" + std::to_string(kT0 / kNsPerS);
  EXPECT_TRUE(std::filesystem::exists(aside)) << aside;
  auto s = EstimateStore::Open(path);  // the new file holds the estimate saved at Stop
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto rows = (*s)->LoadAll();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 1u);
}

// A pump-twin estimate saved at `ts_ns` with impeller wear `wear` ± `wear_std`.
SavedEstimate PumpEstimate(TimeNs ts_ns, double wear, double wear_std) {
  SavedEstimate e;
  e.twin = "pump-1";
  e.model = kPump;
  e.ts_ns = ts_ns;
  e.names = BehaviorModel::Find(kPump)->display_names();
  e.mean.resize(5);
  e.mean << 1300, 50, wear, 0.0, 0.0;
  e.covariance = Eigen::MatrixXd::Identity(5, 5) * 1e-4;
  e.covariance(2, 2) = wear_std * wear_std;
  return e;
}

// Readings of the worn pump (impeller wear 0.25) at the given seconds after kT0 (stamped
// `shift_s` later: the pump is steady, so they are its readings then too), straight into a
// TwinEstimator; returns its impeller wear estimate. `wild_flow_at` (a second of `seconds`): that
// sample's flow reading is 1e160 instead.
EstimatedValue RunEstimator(TwinEstimator* est, const std::vector<int>& seconds, int64_t shift_s = 0,
                            int wild_flow_at = -1) {
  testing_pump::PumpTelemetry pump({{"pump.impeller_wear", 0.25}}, 0);
  std::vector<Reading> readings, series;
  for (int t : seconds) {
    pump.AdvanceTo(t);
    readings.clear();
    pump.Append(kT0 + (t + shift_s) * kNsPerS, "pump-1", kSensors, /*noise=*/false, &readings);
    for (Reading& r : readings) {
      if (t == wild_flow_at && r.signal == "flow_m3h") r.value = 1e160;
      est->Add(r, nullptr, &series);
    }
  }
  est->Flush(nullptr, &series);  // the default level, 2.5 m
  auto snap = est->snapshot();
  EXPECT_NE(snap, nullptr);
  if (!snap) return {};
  const TwinEstimate e = ToTwinEstimate(*snap);
  for (const auto& p : e.parameters) {
    if (p.name == "impeller_wear") return p;
  }
  return {};
}

// Saved far from the truth (0.4 for 0.25) and long ago: the estimator starts there, its
// variance grown by the random walk over the gap (3e-6²/s · 1e6 s), not from the prior.
TEST(RestoredEstimator, StartsFromTheSavedWearWithItsVarianceGrownOverTheGap) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  ASSERT_NE(pump, nullptr);
  TwinEstimator restored(pump, "pump-1", EstimationOptions{});
  restored.Restore(PumpEstimate(kT0 - 1'000'000 * kNsPerS, 0.4, 0.001));
  const EstimatedValue w = RunEstimator(&restored, {1, 2});
  TwinEstimator fresh(pump, "pump-1", EstimationOptions{});
  const EstimatedValue f = RunEstimator(&fresh, {1, 2});
  std::printf("saved 0.4 ± 0.001 (1e6 s ago): %.4f ± %.4f; from the prior: %.4f ± %.4f\n", w.value, w.std,
              f.value, f.std);
  EXPECT_NEAR(w.value, 0.4, 0.03) << "the saved mean, barely moved by two samples";
  EXPECT_GT(w.std, 0.0015) << "grown over the gap";
  EXPECT_LE(w.std, std::sqrt(1e-6 + 9e-12 * 1.000002e6) + 1e-9) << "never above the grown saved variance";
  EXPECT_NEAR(f.value, 0.25, 0.03);
  EXPECT_GT(f.std, 5 * w.std);
}

TEST(RestoredEstimator, AnEstimateWithAnotherStateLayoutIsNotUsed) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  TwinEstimator est(pump, "pump-1", EstimationOptions{});
  SavedEstimate other = PumpEstimate(kT0, 0.4, 0.001);
  other.names[2] = "impeller_wear_v0";
  est.Restore(other);
  EXPECT_NEAR(RunEstimator(&est, {1, 2}).value, 0.25, 0.03);
}

// An impeller replaced while the engine was down (after the saved estimate) resets the wear at
// the first step; one replaced before the save is in the saved estimate already.
TEST(RestoredEstimator, AReplacementWhileDownResetsTheWearOneBeforeTheSaveDoesNot) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  const TimeNs saved_ns = kT0 - 3600 * kNsPerS;
  TwinEstimator down(pump, "pump-1", EstimationOptions{});
  down.Restore(PumpEstimate(saved_ns, 0.4, 0.001));
  ASSERT_TRUE(down.AddMaintenance(
      {"pump-1", "wo-7", store::WorkOrderKind::kImpellerReplacement, saved_ns + kNsPerS}));
  const EstimatedValue reset = RunEstimator(&down, {1, 2});
  EXPECT_NEAR(reset.value, 0.25, 0.05) << "a new impeller's prior, then the data";
  EXPECT_GT(reset.std, 0.01);

  TwinEstimator before(pump, "pump-1", EstimationOptions{});
  before.Restore(PumpEstimate(saved_ns, 0.4, 0.001));
  ASSERT_TRUE(before.AddMaintenance(
      {"pump-1", "wo-6", store::WorkOrderKind::kImpellerReplacement, saved_ns - kNsPerS}));
  EXPECT_NEAR(RunEstimator(&before, {1, 2}).value, 0.4, 0.03);
}

std::vector<int> Seconds(int from, int to) {
  std::vector<int> out;
  for (int t = from; t <= to; ++t) out.push_back(t);
  return out;
}

// A twin silent for 10 days (or a clock jumping ahead) does not predict over the gap (about
// 10⁶ RK4 substeps on the shard thread): its estimator restarts from the last estimate, the
// wear kept with its variance grown by the random walk, the states from the new sample.
TEST(EstimatorRestart, ALongSilenceRestartsFromTheLastEstimateInsteadOfPredictingOverIt) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  TwinEstimator est(pump, "pump-1", EstimationOptions{});
  const EstimatedValue before = RunEstimator(&est, Seconds(1, 900));
  EXPECT_EQ(est.gap_restarts(), 0);
  const int64_t updates_before = est.snapshot()->stats.updates;
  const int64_t substeps_before = est.snapshot()->summary.rk4_substeps;
  const int64_t ten_days_s = 10 * 86400;
  const EstimatedValue after = RunEstimator(&est, Seconds(899, 900), ten_days_s);
  std::printf("wear before the gap %.4f ± %.4f, after %.4f ± %.4f\n", before.value, before.std, after.value,
              after.std);
  EXPECT_EQ(est.gap_restarts(), 1);
  EXPECT_EQ(est.failures(), 0);
  auto snap = est.snapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->ts_ns, kT0 + (900 + ten_days_s) * kNsPerS);
  EXPECT_LT(snap->summary.rk4_substeps - substeps_before, 10) << "no integration over the 10 days";
  EXPECT_GT(snap->stats.updates, updates_before) << "NIS statistics continue over the restart";
  EXPECT_NEAR(after.value, before.value, 0.01) << "the wear is kept, not reset to the prior";
  EXPECT_GT(after.std, before.std) << "its variance grew over the gap";
  EXPECT_LT(after.std, 0.05);
  // A gap below the limit is predicted over as before.
  TwinEstimator short_gap(pump, "pump-1", EstimationOptions{});
  RunEstimator(&short_gap, Seconds(1, 900));
  RunEstimator(&short_gap, {900}, 1800);
  EXPECT_EQ(short_gap.gap_restarts(), 0);
}

// With the outlier gate off, one absurd reading (1e160 m³/h: the innovation's square overflows)
// fails the step. The estimator restarts from the last good estimate, not from the prior, so
// what it learned is kept; the snapshot never shows the failed step's prediction, and counts
// the divergence.
TEST(EstimatorRestart, ADivergedStepRestartsFromTheLastGoodEstimateNotThePrior) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  EstimationOptions no_gate;
  no_gate.outlier_sigma = 0;
  TwinEstimator est(pump, "pump-1", no_gate);
  const EstimatedValue before = RunEstimator(&est, Seconds(1, 900));
  const int64_t updates_before = est.snapshot()->stats.updates;
  const double sum_nis_before = est.snapshot()->stats.sum_nis;
  const EstimatedValue at = RunEstimator(&est, {900, 901}, 1, /*wild_flow_at=*/901);
  EXPECT_EQ(est.failures(), 1);
  const EstimatedValue after = RunEstimator(&est, Seconds(902, 905));
  std::printf("wear before %.4f ± %.4f, at the failed step %.4f ± %.4f, after %.4f ± %.4f\n", before.value,
              before.std, at.value, at.std, after.value, after.std);
  EXPECT_NEAR(after.value, before.value, 0.01);
  EXPECT_LT(after.std, 0.05) << "not the prior's";
  auto snap = est.snapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->summary.divergences, 1);
  EXPECT_GT(snap->stats.updates, updates_before) << "NIS statistics continue over the restart";
  EXPECT_GE(snap->stats.sum_nis, sum_nis_before);
  TwinEstimator fresh(pump, "pump-1", EstimationOptions{});
  EXPECT_GT(RunEstimator(&fresh, {1, 2}).std, 5 * after.std) << "the prior is much wider";
}

// With the default outlier gate the same reading is left out of its step (the pump's other
// sensors are applied): no divergence, no restart, the wear where it was, the flow sensor's
// outlier counted in the twin's estimate.
TEST(EstimatorRestart, TheDefaultOutlierGateLeavesAnAbsurdReadingOut) {
  const BehaviorModel* pump = BehaviorModel::Find(kPump);
  TwinEstimator est(pump, "pump-1", EstimationOptions{});
  const EstimatedValue before = RunEstimator(&est, Seconds(1, 900));
  RunEstimator(&est, {900, 901}, 1, /*wild_flow_at=*/901);
  const EstimatedValue after = RunEstimator(&est, Seconds(902, 905));
  EXPECT_EQ(est.failures(), 0);
  EXPECT_NEAR(after.value, before.value, 0.01);
  EXPECT_LT(after.std, 0.05);
  auto snap = est.snapshot();
  ASSERT_NE(snap, nullptr);
  EXPECT_EQ(snap->summary.divergences, 0);
  EXPECT_EQ(snap->summary.outliers, 1);
  const TwinEstimate view = ToTwinEstimate(*snap);
  int64_t flow_outliers = -1;
  for (const auto& [name, n] : view.outliers) {
    if (name == "flow_m3h") flow_outliers = n;
  }
  EXPECT_EQ(flow_outliers, 1);
}

}  // namespace
}  // namespace doppel::engine
