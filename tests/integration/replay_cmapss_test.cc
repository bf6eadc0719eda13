// C-MAPSS engines as live twins: mosquitto + `doppel serve` (engine-* -> Turbofan, analytics.rul)
// + `doppel replay cmapss --speed 200 --engines 3`. The engine twins appear, every cycle gets a
// stored rul_cycles inside its band, and the final RUL equals `rul predict` on the whole unit and
// is near the truth (docs/analytics.md, "Live RUL").
//
// The model is trained here with few rounds (seconds, not the full model's minute) from
// ../shared/data/cmapss/train_FD001.txt; the band by `doppel rul band` on the same file. Without
// the data set (or with DOPPEL_CMAPSS_DIR naming a missing directory) a synthetic fleet in the
// C-MAPSS layout is used and only the checks against the published truth are skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "doppel/analytics/rul.h"
#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

constexpr const char* kTurbofan = "dtmi:doppel:demo:Turbofan;1";
// Allowed |final RUL - min(true RUL, 125)| for the 3 replayed FD001 units with the small test
// model (60 rounds, one seed). The full model's test RMSE is 11.6 (docs/analytics.md).
constexpr double kFinalRulToleranceCycles = 30;

// A synthetic fleet (C-MAPSS text layout): sensors drift with (cycle / life)^2.
void WriteSyntheticFleet(const std::string& path, int units, uint32_t seed, bool cut,
                         std::vector<int>* truth) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> z(0, 1);
  std::ofstream f(path);
  for (int u = 1; u <= units; ++u) {
    int life = 130 + static_cast<int>(rng() % 120);
    int last = cut ? 40 + static_cast<int>(rng() % 60) : life;
    if (truth) truth->push_back(life - last);
    for (int c = 1; c <= last; ++c) {
      double d = std::pow(static_cast<double>(c) / life, 2);
      f << u << ' ' << c << ' ' << 0.002 * z(rng) << ' ' << 0.0003 * z(rng) << " 100";
      for (int s = 0; s < 21; ++s) {
        bool constant = s == 0 || s == 4 || s == 9 || s == 15 || s == 17 || s == 18;
        double base = 100 + 10 * s;
        f << ' ' << (constant ? base : base + (s % 2 ? 1.0 : -1.0) * (1 + s % 4) * d + 0.05 * z(rng));
      }
      f << '\n';
    }
  }
}

bool WaitExited(testing::ChildProcess& p, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return !p.running(); }, timeout, std::chrono::milliseconds(50));
}

Points History(int port, const std::string& twin, const std::string& signal) {
  HttpResult r = Get(
      port,
      "/api/v1/twins/" + twin + "/telemetry?signal=" + signal + "&from=0&to=9000000000000000000&points=10000",
      kAdmin);
  Points out;
  if (r.status != 200) {
    ADD_FAILURE() << r.Describe();
    return out;
  }
  for (const auto& p : r.Items("points")) out.emplace_back(p[0].get<int64_t>(), p[1].get<double>());
  return out;
}

TEST(IntegrationReplayCmapss, EngineTwinsShowALiveRulInsideItsBand) {
  testing::TempDir dir;
  // DOPPEL_CMAPSS_DIR overrides the data directory (a missing one exercises the synthetic path).
  const char* env = std::getenv("DOPPEL_CMAPSS_DIR");
  const std::string shared = env != nullptr ? env : testing::SourceDir() + "/../shared/data/cmapss";
  const bool real = std::filesystem::exists(shared + "/train_FD001.txt") &&
                    std::filesystem::exists(shared + "/test_FD001.txt") &&
                    std::filesystem::exists(shared + "/RUL_FD001.txt");
  std::string data = shared;
  std::vector<double> truth;
  if (real) {
    auto t = analytics::ReadRulTruth(shared + "/RUL_FD001.txt");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    truth = *t;
  } else {
    data = dir.file("cmapss");
    std::filesystem::create_directories(data);
    std::vector<int> tr;
    WriteSyntheticFleet(data + "/train_FD001.txt", 30, 1, false, nullptr);
    WriteSyntheticFleet(data + "/test_FD001.txt", 3, 2, true, &tr);
  }

  // The model (few rounds) and its band (`doppel rul band`, same training options).
  auto train = analytics::ReadCmapss(data + "/train_FD001.txt");
  ASSERT_TRUE(train.ok()) << train.status().ToString();
  analytics::RulTrainOptions to;
  to.rounds = 60;
  to.eta = 0.2;
  to.ensemble = 1;
  auto model = analytics::RulModel::Train(*train, to, nullptr);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_TRUE(model->Save(dir.file("model.json")).ok());
  {
    testing::ChildProcess band(
        {testing::DoppelBinary(), "rul", "band", "--train", data + "/train_FD001.txt", "--out",
         dir.file("band.json"), "--folds", "3", "--rounds", "60", "--eta", "0.2"},
        dir.file("band.log"));
    ASSERT_TRUE(WaitExited(band, std::chrono::seconds(240))) << TailFile(dir.file("band.log"));
  }
  ASSERT_TRUE(std::filesystem::exists(dir.file("band.json"))) << TailFile(dir.file("band.log"));

  testing::Mosquitto mosquitto;
  const int http_port = testing::FreePort();
  {
    std::ofstream f(dir.file("doppel.yaml"));
    f << "listen: 127.0.0.1:" << http_port << "\n"
      << "data_dir: " << dir.file("data") << "\n"
      << "models: " << testing::SourceDir() << "/examples/models\n"
      << "mqtt:\n"
      << "  broker: " << mosquitto.url() << "\n"
      << "  client_id: doppel-it-rul-" << http_port << "\n"
      << "  provision: { \"engine-*\": \"" << kTurbofan << "\" }\n"
      << "tokens:\n"
      << "  - { token: " << kAdmin << ", role: admin }\n"
      << "analytics:\n"
      << "  rul: { model: " << dir.file("model.json") << ", band: " << dir.file("band.json")
      << ", twins: \"engine-*\" }\n"
      << "alerts:\n"
      << "  rules:\n"
      << "    - {name: rul_low, kind: threshold, twins: \"engine-*\", signal: rul_cycles, direction: below, "
         "value: 100}\n";
  }
  testing::ChildProcess serve({testing::DoppelBinary(), "serve", "--config", dir.file("doppel.yaml")},
                              dir.file("serve.log"));
  ASSERT_TRUE(testing::WaitForChildListening(serve, http_port, 20000)) << TailFile(dir.file("serve.log"));
  ASSERT_TRUE(
      WaitFor([&] { return Get(http_port, "/api/v1/health").status == 200; }, std::chrono::seconds(20)));

  testing::ChildProcess replay({testing::DoppelBinary(), "replay", "cmapss", "--broker", mosquitto.url(),
                                "--data", data, "--subset", "FD001", "--speed", "200", "--engines", "3"},
                               dir.file("replay.log"));
  ASSERT_TRUE(WaitExited(replay, std::chrono::seconds(60))) << TailFile(dir.file("replay.log"));
  const std::string replay_log = TailFile(dir.file("replay.log"));

  auto test = analytics::ReadCmapss(data + "/test_FD001.txt");
  ASSERT_TRUE(test.ok());
  std::map<int, std::vector<analytics::EngineCycle>> units;
  for (const auto& r : *test)
    if (r.unit <= 3) units[r.unit].push_back(r);
  ASSERT_EQ(units.size(), 3u);
  size_t total = 0;
  for (const auto& [u, v] : units) total += v.size();
  EXPECT_NE(replay_log.find("replay: done: " + std::to_string(total) + "/" + std::to_string(total)),
            std::string::npos)
      << replay_log;

  for (const auto& [u, cycles] : units) {
    const std::string twin = "engine-" + std::to_string(u);
    // Every replayed cycle has its RUL stored.
    ASSERT_TRUE(WaitFor([&] { return History(http_port, twin, "rul_cycles").size() >= cycles.size(); },
                        std::chrono::seconds(30)))
        << twin << ": " << History(http_port, twin, "rul_cycles").size() << " of " << cycles.size()
        << " RUL values\n"
        << TailFile(dir.file("serve.log")) << replay_log;
    const Points rul = History(http_port, twin, "rul_cycles");
    ASSERT_FALSE(rul.empty());
    // The store has it at once; the twin's latest value after the reorder window (500 ms).
    HttpResult tr;
    EXPECT_TRUE(WaitFor(
        [&] {
          tr = Get(http_port, "/api/v1/twins/" + twin, kAdmin);
          json l = tr.Json()["telemetry"]["rul_cycles"];
          return l.is_object() && l["ts"] == rul.back().first;
        },
        std::chrono::seconds(10)))
        << tr.Describe();
    EXPECT_EQ(tr.Json()["model"], kTurbofan);
    const Points p5 = History(http_port, twin, "rul_p5_cycles");
    const Points p95 = History(http_port, twin, "rul_p95_cycles");
    const Points cyc = History(http_port, twin, "cycle");
    ASSERT_EQ(rul.size(), cycles.size()) << twin;
    ASSERT_EQ(p5.size(), rul.size());
    ASSERT_EQ(p95.size(), rul.size());
    ASSERT_EQ(cyc.size(), rul.size());
    for (size_t i = 0; i < rul.size(); ++i) {
      ASSERT_EQ(p5[i].first, rul[i].first);
      ASSERT_EQ(p95[i].first, rul[i].first);
      EXPECT_EQ(cyc[i].first, rul[i].first) << "a RUL value carries its cycle's source time";
      EXPECT_LE(p5[i].second, rul[i].second) << twin << " cycle " << cyc[i].second;
      EXPECT_LE(rul[i].second, p95[i].second) << twin << " cycle " << cyc[i].second;
      EXPECT_GE(p5[i].second, 0);
    }
    // The final value: `rul predict` on the unit (the same model, in process), and the truth.
    auto want = model->PredictLast(cycles);
    ASSERT_TRUE(want.ok());
    EXPECT_NEAR(rul.back().second, (*want)[0], 1e-6) << twin;
    json latest = tr.Json()["telemetry"]["rul_cycles"]["value"];
    ASSERT_TRUE(latest.is_number()) << tr.Describe();
    EXPECT_NEAR(latest.get<double>(), (*want)[0], 1e-6) << twin << " latest";
    if (real) {
      double capped = std::min(truth[static_cast<size_t>(u - 1)], model->cap());
      EXPECT_NEAR(rul.back().second, capped, kFinalRulToleranceCycles)
          << twin << ": true RUL " << truth[static_cast<size_t>(u - 1)] << ", band [" << p5.back().second
          << ", " << p95.back().second << "]";
      std::printf("%s: %zu cycles, final RUL %.1f [%.1f, %.1f], true %.0f\n", twin.c_str(), rul.size(),
                  rul.back().second, p5.back().second, p95.back().second, truth[static_cast<size_t>(u - 1)]);
    }
  }
  if (!real)
    GTEST_SKIP() << shared << " not found: ran on a synthetic fleet; the accuracy check against "
                 << "RUL_FD001.txt was skipped";
}

TEST(IntegrationReplayCmapss, MissingTestFileIsAClearError) {
  testing::TempDir dir;
  testing::Mosquitto mosquitto;
  testing::ChildProcess replay({testing::DoppelBinary(), "replay", "cmapss", "--broker", mosquitto.url(),
                                "--data", dir.file("nowhere"), "--subset", "FD001"},
                               dir.file("replay.log"));
  ASSERT_TRUE(WaitExited(replay, std::chrono::seconds(20)));
  EXPECT_NE(TailFile(dir.file("replay.log")).find(dir.file("nowhere") + "/test_FD001.txt"), std::string::npos)
      << TailFile(dir.file("replay.log"));
}

}  // namespace
}  // namespace doppel::integration
