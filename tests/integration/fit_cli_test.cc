// `doppel fit` on a real store: the plant's readings of one pump go through an Engine into its
// data directory (as `doppel serve` would store them), then the real binary fits the pump twin's
// wear to that history, in batch (Ceres) and online (recursive least squares) mode, against the
// plant's hidden truth (docs/estimation.md, "Offline fit" and "Online fit").
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "doppel/engine/behavior_config.h"
#include "doppel/engine/engine.h"
#include "doppel/plant/station_model.h"
#include "doppel/platform/env.h"
#include "harness.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

constexpr TimeNs kT0 = 1'700'000'000LL * kNsPerS;
constexpr double kImpeller = 0.25, kBearing = 0.10;  // the plant's hidden wear (constant here)
constexpr int kSeconds = 1200;

// Stores 20 min of one pump's and the tank's readings (1 Hz) in `data_dir`.
void StorePlantHistory(const std::string& data_dir) {
  MetricsRegistry metrics;
  EngineOptions o;
  o.data_dir = data_dir;
  o.models_dir = testing::SourceDir() + "/examples/models";
  o.shards = 1;
  o.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}, {"tank-*", "dtmi:doppel:demo:Tank;1"}};
  o.fsync = store::FsyncPolicy::kNever;
  o.now_ns = [] { return kT0 + static_cast<TimeNs>(kSeconds + 60) * kNsPerS; };
  auto engine = Engine::Open(o, &metrics, platform::DefaultEnv());
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  ASSERT_TRUE((*engine)->Start().ok());
  plant::StationParams params = plant::StationParams::Nominal(1);
  params.time_of_day_at_start_s = static_cast<double>((kT0 / kNsPerS) % 86400);
  params.pumps[0].initial_impeller_wear = kImpeller;
  params.pumps[0].initial_bearing_wear = kBearing;
  params.pumps[0].impeller_wear_rate_per_s = 0;
  params.pumps[0].bearing_wear_rate_per_s = 0;
  const plant::StationModel model(std::move(params), plant::FaultSchedule());
  plant::StationSimulator sim(&model, model.DefaultState(), 0.1);
  const plant::StationInputs u = model.DefaultInputs();
  std::mt19937_64 noise(plant::DeriveSeed(5, 3));
  for (int s = 1; s <= kSeconds; ++s) {
    sim.AdvanceTo(s, u);
    const plant::StationReadings r = plant::Measure(model, s, sim.state(), u, noise);
    const TimeNs ts = kT0 + static_cast<TimeNs>(s) * kNsPerS;
    std::vector<Reading> batch;
    for (int k = 0; k < plant::kNumPumpSignals; ++k) {
      const auto& v = r.pumps[0].values[static_cast<size_t>(k)];
      if (v)
        batch.push_back(Reading{"pump-1", plant::PumpSignalName(static_cast<plant::PumpSignal>(k)), ts, *v,
                                Quality::kGood});
    }
    batch.push_back(Reading{"tank-1", "level_m", ts, r.level_m, Quality::kGood});
    ASSERT_TRUE((*engine)->Submit(std::move(batch)).ok());
  }
  (*engine)->Drain();
  (*engine)->Stop();
}

// Runs `doppel fit ARGS` to completion; its output (stdout and stderr) in *out.
bool RunFitCli(const testing::TempDir& dir, const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> a = {"fit"};
  a.insert(a.end(), args.begin(), args.end());
  return integration::RunDoppel(a, dir.file("fit.log"), out, std::chrono::seconds(120));
}

// Runs `doppel fit ARGS`; returns its last output line parsed as JSON.
nlohmann::json RunFit(const testing::TempDir& dir, const std::vector<std::string>& args) {
  std::string out;
  EXPECT_TRUE(RunFitCli(dir, args, &out));
  // The entry to paste into the serve config's `calibration:` list parses as one.
  const size_t entry = out.find("\n  - {twins: pump-1, parameters: {pump.impeller_wear: ");
  EXPECT_NE(entry, std::string::npos) << out;
  if (entry != std::string::npos) {
    const std::string line = out.substr(entry + 1, out.find('\n', entry + 1) - entry - 1);
    auto parsed = engine::ParseCalibrationYaml(line);
    EXPECT_TRUE(parsed.ok() && parsed->size() == 1 && (*parsed)[0].parameters.size() == 2)
        << line << " " << parsed.status().ToString();
  }
  std::istringstream in(out);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '{') last = line;
  }
  EXPECT_FALSE(last.empty()) << "no JSON line from doppel fit: " << out;
  return last.empty() ? nlohmann::json::object() : nlohmann::json::parse(last);
}

TEST(IntegrationFitCli, BatchAndOnlineFitsRecoverThePumpsHiddenWearFromStoredHistory) {
  testing::TempDir dir;
  const std::string data = dir.file("data");
  ASSERT_NO_FATAL_FAILURE(StorePlantHistory(data));
  const std::vector<std::string> common = {
      "--data", data,
      "--twin", "pump-1",
      "--from", std::to_string(kT0),
      "--to",   std::to_string(kT0 + static_cast<TimeNs>(kSeconds + 1) * kNsPerS)};
  nlohmann::json batch = RunFit(dir, common);
  std::vector<std::string> online_args = common;
  online_args.insert(online_args.end(), {"--online", "--forgetting", "0.999"});
  nlohmann::json online = RunFit(dir, online_args);
  std::printf("batch: %s\nonline: %s\n", batch.dump().c_str(), online.dump().substr(0, 600).c_str());

  for (const nlohmann::json* j : {&batch, &online}) {
    ASSERT_TRUE(j->contains("parameters")) << j->dump();
    EXPECT_GE(j->at("samples").get<int>(), kSeconds - 5);
    const auto& p = j->at("parameters");
    EXPECT_NEAR(p.at("pump.impeller_wear").at("value").get<double>(), kImpeller, 0.02);
    EXPECT_NEAR(p.at("pump.bearing_wear").at("value").get<double>(), kBearing, 0.02);
    // The fitted model explains the flow better than the nominal (unworn) one.
    const auto& flow = j->at("outputs").at("flow_m3h");
    EXPECT_LT(flow.at("rmse").get<double>(), flow.at("rmse_nominal").get<double>());
    // Vibration noise is weighted by the model's vibration, not the reading's own value: the
    // fitted vibration is unbiased to within 1.5 standard errors (weighting by the reading left
    // it 2.1 standard errors low, and the bearing wear 1.7 std low).
    const auto& vib = j->at("outputs").at("vibration_mm_s");
    EXPECT_LT(std::abs(vib.at("bias").get<double>()),
              1.5 * vib.at("rmse").get<double>() / std::sqrt(vib.at("samples").get<double>()))
        << vib.dump();
  }
  EXPECT_EQ(online.at("mode"), "online");
  EXPECT_GE(online.at("trajectory").size(), 5u);
  EXPECT_NEAR(online.at("parameters").at("pump.impeller_wear").at("value").get<double>(),
              batch.at("parameters").at("pump.impeller_wear").at("value").get<double>(), 0.01);

  // A bad forgetting factor, or one without --online, is an error naming the flag, not a fit.
  const std::vector<std::vector<std::string>> bad_flags = {
      {"--online", "--forgetting", "1.5"}, {"--online", "--forgetting", "0.99x"}, {"--forgetting", "0.99"}};
  for (const auto& flags : bad_flags) {
    std::vector<std::string> args = common;
    args.insert(args.end(), flags.begin(), flags.end());
    std::string out;
    ASSERT_TRUE(RunFitCli(dir, args, &out));
    EXPECT_NE(out.find(flags.size() == 3 ? "is not a number in (0, 1]" : "only with --online"),
              std::string::npos)
        << out;
    EXPECT_EQ(out.find("\n{"), std::string::npos) << "a fit ran: " << out;
  }
}

// `doppel serve` checks the `calibration:` list at startup: a name no behavior model has stops it
// with the entry and key named (the check itself: Calibration.StartupCheck* in engine_test).
TEST(IntegrationFitCli, ServeRefusesACalibrationOfAnUnknownParameterNamingIt) {
  testing::TempDir dir;
  auto config = [&](const std::string& name) {
    const std::string path = dir.file(name + ".yaml");
    std::ofstream(path) << "listen: 127.0.0.1:0\n"
                        << "data_dir: " << dir.file("data-" + name) << "\n"
                        << "models: " << testing::SourceDir() << "/examples/models\n"
                        << "tokens: [{token: admin-secret, role: admin}]\n"
                        << "calibration:\n  - {twins: 'pump-*', parameters: {" << name << ": 7.0e-4}}\n";
    return path;
  };
  std::string out;
  ASSERT_TRUE(integration::RunDoppel({"serve", "--config", config("curve_kk")}, dir.file("bad.log"), &out,
                                     std::chrono::seconds(30)));
  EXPECT_NE(out.find("config: calibration[0].parameters.curve_kk: not a parameter of any behavior model"),
            std::string::npos)
      << out;
}

TEST(IntegrationFitCli, ServeRefusesAnOnlineFitOfAnUnknownParameterNamingIt) {
  testing::TempDir dir;
  const std::string path = dir.file("fit.yaml");
  std::ofstream(path) << "listen: 127.0.0.1:0\n"
                      << "data_dir: " << dir.file("data") << "\n"
                      << "models: " << testing::SourceDir() << "/examples/models\n"
                      << "tokens: [{token: admin-secret, role: admin}]\n"
                      << "online_fit:\n  - {twins: 'pump-*', parameters: [curve_k, shutoff_hed_m]}\n";
  std::string out;
  ASSERT_TRUE(integration::RunDoppel({"serve", "--config", path}, dir.file("bad.log"), &out,
                                     std::chrono::seconds(30)));
  EXPECT_NE(
      out.find("config: online_fit[0].parameters[1]: 'shutoff_hed_m' is not a parameter of a behavior model "
               "that can be fitted live"),
      std::string::npos)
      << out;
}

}  // namespace
}  // namespace doppel::engine
