// Simulation sandboxes through the engine (engine/sim_envs.h): a sandbox forks a station twin's
// current estimate, is deterministic for a seed, rewards as configured, ends after episode_s,
// is bounded in number and idle time, and is a usable environment for policy search.
#include "doppel/engine/sim_envs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "doppel/control/cem.h"
#include "doppel/control/env.h"
#include "doppel/control/policy.h"
#include "doppel/engine/engine.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"
#include "doppel/platform/env.h"
#include "engine/pump_telemetry.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

using nlohmann::json;
using physics::SignalKind;
const char* kPump = "dtmi:doppel:demo:Pump;1";
const char* kTank = "dtmi:doppel:demo:Tank;1";
constexpr TimeNs kT0 = 1'700'000'000 * kNsPerS;  // 22:13:20 UTC (80000 s after midnight)

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::unique_ptr<Engine> engine;
  std::atomic<TimeNs> now{kT0};
  SimEnvLimits limits;
  std::vector<TwinCalibration> calibrations;

  void Open() {
    EngineOptions o;
    o.data_dir = dir.file("data");
    o.models_dir = testing::SourceDir() + "/examples/models";
    o.shards = 2;
    o.allowed_lateness_ns = 100 * kNsPerMs;
    o.provision = {{"pump-*", kPump}, {"tank-*", kTank}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [this] { return now.load(); };
    o.sim_envs = limits;
    o.estimation.calibrations = calibrations;
    auto e = Engine::Open(o, &metrics, platform::DefaultEnv());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
    ASSERT_TRUE(engine->Start().ok());
  }

  // Telemetry of a pump with impeller wear 0.2 (the nominal pump twin model), one message a second.
  void FeedPump(const std::string& twin, double seconds) {
    testing_pump::PumpTelemetry pump({{"pump.impeller_wear", 0.2}}, 5);
    for (double t = 1; t <= seconds + 1e-9; t += 1) {
      pump.AdvanceTo(t);
      std::vector<Reading> msg;
      pump.Append(kT0 + static_cast<TimeNs>(std::llround(t * 1e9)), twin,
                  {"flow_m3h", "discharge_pressure_bar", "speed_rpm", "power_kw"}, /*noise=*/true, &msg);
      ASSERT_TRUE(engine->Submit(std::move(msg)).ok());
    }
    engine->Drain();
  }

  json Create(const json& request) {
    auto r = engine->CreateSimEnv(request, "api:operator");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : json();
  }
  json Step(const std::string& id, const json& speeds) {
    auto r = engine->StepSimEnv(id, {{"speeds_rpm", speeds}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : json();
  }
};

double ParamOf(const TwinEstimate& e, const std::string& name) {
  for (const auto& p : e.parameters) {
    if (p.name == name) return p.value;
  }
  ADD_FAILURE() << "no parameter " << name;
  return NAN;
}

// A calibrated pump twin forks into a sandbox whose truth-model pump runs the twin's curve.
TEST(SimEnvs, ForkRunsTheCalibratedCurveOfAPumpTwin) {
  Fixture f;
  f.calibrations = {
      {"calibration[0]", "pump-1", {{"shutoff_head_m", 47.5}, {"curve_k", 6.5e-4}, {"level_ref_m", 2.0}}}};
  f.Open();
  f.FeedPump("pump-1", 30);
  auto est = f.engine->GetEstimate("pump-1");
  ASSERT_TRUE(est.ok()) << est.status().ToString();
  using Params = std::vector<std::pair<std::string, double>>;
  // In model order; the estimated wears are not "calibrated".
  EXPECT_EQ(est->calibrated, (Params{{"shutoff_head_m", 47.5}, {"curve_k", 6.5e-4}, {"level_ref_m", 2.0}}));

  json made = f.Create({{"twin", "pump-1"}, {"seed", 3}});
  ASSERT_TRUE(made.contains("id")) << made.dump();
  const json& pump = made["fork"]["pumps"][0];
  EXPECT_DOUBLE_EQ(pump["parameters"]["shutoff_head_m"].get<double>(), 47.5);
  EXPECT_DOUBLE_EQ(pump["parameters"]["curve_k"].get<double>(), 6.5e-4);
  EXPECT_EQ(pump["parameters"].size(), 2u) << pump.dump();
  // The local level controller's reference is the twin model's, not a truth-pump field.
  EXPECT_EQ(pump["parameters_not_applied"], json::array({"level_ref_m"}));
  const plant::StationParams seeded = plant::StationParams::FromSeed(3, 1);
  ASSERT_TRUE(f.engine->sim_envs()
                  .Inspect(made["id"],
                           [&](const control::StationEnv& env) {
                             const plant::PumpParams& p = env.model().params().pumps[0];
                             EXPECT_EQ(p.shutoff_head_m, 47.5);
                             EXPECT_EQ(p.curve_k, 6.5e-4);
                             EXPECT_EQ(p.bep_efficiency, seeded.pumps[0].bep_efficiency);
                           })
                  .ok());
  // A nominal twin forks with no parameters: the seed's spread.
  ASSERT_TRUE(f.engine->CreateTwin({"pump-2", kPump, json::object(), {}}).ok());
  f.FeedPump("pump-2", 5);
  json nominal = f.Create({{"twin", "pump-2"}, {"seed", 3}});
  EXPECT_TRUE(nominal["fork"]["pumps"][0]["parameters"].empty()) << nominal["fork"].dump();
  EXPECT_FALSE(nominal["fork"]["pumps"][0].contains("parameters_not_applied"));
}

// Before a calibrated pump twin has sent anything (no estimate yet), the fork takes its curve
// from the config: the same parameters the estimator will run with.
TEST(SimEnvs, ForkOfACalibratedTwinWithoutAnEstimateTakesTheConfiguredCurve) {
  Fixture f;
  f.calibrations = {{"calibration[0]",
                     "pump-*",
                     {{"pump.shutoff_head_m", 46.0}, {"curve_k", 6.9e-4}, {"impeller_wear", 0.1}}}};
  f.Open();
  ASSERT_TRUE(f.engine->CreateTwin({"pump-7", kPump, json::object(), {}}).ok());
  ASSERT_FALSE(f.engine->GetEstimate("pump-7").ok());
  json made = f.Create({{"twin", "pump-7"}, {"seed", 3}});
  ASSERT_TRUE(made.contains("id")) << made.dump();
  const json& pump = made["fork"]["pumps"][0];
  EXPECT_DOUBLE_EQ(pump["parameters"]["shutoff_head_m"].get<double>(), 46.0);
  EXPECT_DOUBLE_EQ(pump["parameters"]["curve_k"].get<double>(), 6.9e-4);
  // An estimated parameter's calibration is its initial mean, not a fixed curve value.
  EXPECT_EQ(pump["parameters"].size(), 2u) << pump.dump();
  // The calibrated wear is where the estimator will start: the fork starts there too.
  EXPECT_DOUBLE_EQ(pump["impeller_wear"].get<double>(), 0.1);
  EXPECT_EQ(pump["from"], "calibration[0]") << pump.dump();
  ASSERT_TRUE(f.engine->sim_envs()
                  .Inspect(made["id"],
                           [&](const control::StationEnv& env) {
                             EXPECT_EQ(env.model().params().pumps[0].shutoff_head_m, 46.0);
                             EXPECT_EQ(env.model().params().pumps[0].curve_k, 6.9e-4);
                           })
                  .ok());
  // Once the twin has an estimate, the same values come from it.
  f.FeedPump("pump-7", 5);
  auto est = f.engine->GetEstimate("pump-7");
  ASSERT_TRUE(est.ok()) << est.status().ToString();
  using Params = std::vector<std::pair<std::string, double>>;
  EXPECT_EQ(est->calibrated, (Params{{"shutoff_head_m", 46.0}, {"curve_k", 6.9e-4}}));
}

// Every truth-pump field a fork can set is a parameter of the pump twin model, so that a
// calibration of it reaches the sandbox.
TEST(SimEnvs, EveryTruthPumpParameterIsAPumpTwinParameter) {
  auto d = physics::MakePumpTwinDiagram();
  ASSERT_TRUE(d.ok());
  for (const std::string& name : plant::PumpParameterNames()) {
    EXPECT_TRUE((*d)->IndexOf(SignalKind::kParameter, "pump." + name) >= 0 ||
                (*d)->IndexOf(SignalKind::kParameter, "motor." + name) >= 0)
        << name;
  }
}

TEST(SimEnvs, ForkStartsFromTheEstimatedWearTheTankLevelAndTheTimeOfDay) {
  Fixture f;
  f.Open();
  f.FeedPump("pump-1", 60);
  ASSERT_TRUE(f.engine->CreateTwin({"pump-2", kPump, json::object(), {}}).ok());  // no telemetry
  ASSERT_TRUE(f.engine->Ingest({Reading{"tank-1", "level_m", kT0 + 61 * kNsPerS, 3.1, Quality::kGood}}).ok());
  f.engine->Drain();  // released to the twin's latest values
  ASSERT_TRUE(f.engine
                  ->CreateTwin({"station-1",
                                "dtmi:doppel:demo:PumpStation;1",
                                json::object(),
                                {{"contains", "pump-1"}, {"contains", "pump-2"}, {"contains", "tank-1"}}})
                  .ok());
  auto est = f.engine->GetEstimate("pump-1");
  ASSERT_TRUE(est.ok()) << est.status().ToString();
  const double wear = ParamOf(*est, "impeller_wear");

  json made = f.Create({{"twin", "station-1"}, {"seed", 11}});
  ASSERT_TRUE(made.contains("id"));
  const std::string id = made["id"];
  EXPECT_EQ(id.rfind("env-", 0), 0u);
  EXPECT_EQ(id.size(), 8u);
  EXPECT_EQ(made["options"]["pumps"], 2);
  EXPECT_EQ(made["fork"]["pumps"][0]["twin"], "pump-1");
  EXPECT_EQ(made["fork"]["pumps"][0]["from"], "estimate");
  EXPECT_DOUBLE_EQ(made["fork"]["pumps"][0]["impeller_wear"].get<double>(), wear);
  EXPECT_TRUE(made["fork"]["pumps"][1]["impeller_wear"].is_null());
  EXPECT_EQ(made["fork"]["pumps"][1]["from"].get<std::string>().rfind("seed: ", 0), 0u) << made["fork"];
  EXPECT_EQ(made["fork"]["tank"]["twin"], "tank-1");
  EXPECT_DOUBLE_EQ(made["options"]["initial_level_m"].get<double>(), 3.1) << made["fork"];
  EXPECT_EQ(made["fork"]["tank"]["from"], "telemetry");
  EXPECT_DOUBLE_EQ(made["options"]["time_of_day_s"].get<double>(), 80000.0);
  EXPECT_DOUBLE_EQ(made["observation"]["time_of_day_h"].get<double>(), 80000.0 / 3600.0);
  EXPECT_EQ(made["observation"]["band"], "night");  // 22:13

  // The truth plant of the sandbox: pump 1 carries the estimate, pump 2 the seed's wear.
  const plant::StationParams seeded = plant::StationParams::FromSeed(11, 2);
  ASSERT_TRUE(f.engine->sim_envs()
                  .Inspect(id,
                           [&](const control::StationEnv& env) {
                             EXPECT_DOUBLE_EQ(env.true_state().pumps[0].impeller_wear, wear);
                             EXPECT_DOUBLE_EQ(env.true_state().pumps[1].impeller_wear,
                                              seeded.pumps[1].initial_impeller_wear);
                             EXPECT_DOUBLE_EQ(env.true_state().level_m, 3.1);
                           })
                  .ok());
  // A pump twin forks into a one-pump sandbox; overrides win over the fork.
  json one = f.Create({{"twin", "pump-1"}, {"initial_wear", {0.4}}, {"initial_level_m", 2.0}});
  EXPECT_EQ(one["options"]["pumps"], 1);
  EXPECT_DOUBLE_EQ(one["options"]["initial_wear"][0].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(one["options"]["initial_level_m"].get<double>(), 2.0);
}

TEST(SimEnvs, SameSeedAndSameActionsGiveTheSameRewards) {
  Fixture f;
  f.Open();
  const json req = {{"pumps", 3}, {"seed", 7}, {"period_s", 120}, {"episode_s", 3600}, {"time_of_day_s", 0}};
  const std::vector<json> actions = {
      {1400, nullptr, 0}, {1200, 1200, 0}, {0, nullptr, 1500}, {nullptr, nullptr, nullptr}};
  auto run = [&](const std::string& id) {
    std::vector<double> rewards;
    for (int k = 0; k < 8; ++k)
      rewards.push_back(f.Step(id, actions[k % actions.size()])["reward"].get<double>());
    return rewards;
  };
  const std::string a = f.Create(req)["id"], b = f.Create(req)["id"];
  const std::vector<double> ra = run(a);
  EXPECT_EQ(run(b), ra);  // another sandbox, same seed
  ASSERT_TRUE(f.engine->ResetSimEnv(a, std::nullopt).ok());
  EXPECT_EQ(run(a), ra);  // reset keeps the seed
  auto reset = f.engine->ResetSimEnv(a, 8);
  ASSERT_TRUE(reset.ok());
  EXPECT_EQ((*reset)["seed"], 8);
  EXPECT_NE(run(a), ra);  // another plant (parameter spread, demand noise)
}

TEST(SimEnvs, RewardIsTheWeightedCostLevelPenaltyAndViolationPenalty) {
  Fixture f;
  f.Open();
  // In band: the reward is −energy_weight·cost.
  for (double w : {0.0, 1.0, 2.5}) {
    const std::string id =
        f.Create({{"pumps", 2}, {"seed", 3}, {"time_of_day_s", 18 * 3600}, {"energy_weight", w}})["id"];
    json s = f.Step(id, {1450, 1450});
    EXPECT_GT(s["cost_eur"].get<double>(), 0);
    EXPECT_NEAR(s["energy_kwh"].get<double>() * 0.35, s["cost_eur"].get<double>(), 1e-12);  // peak price
    EXPECT_FALSE(s["left_band"].get<bool>());
    EXPECT_NEAR(s["reward"].get<double>(), -w * s["cost_eur"].get<double>(), 1e-12);
    ASSERT_TRUE(f.engine->DeleteSimEnv(id).ok());
  }
  // Below the band with the pumps stopped: the level falls monotonically, so the excursion
  // integral ∫(lo − L) dt lies between its values at the start and end levels.
  const double lo = 1.0, p = 20, v = 5, period = 600;
  const std::string id = f.Create({{"pumps", 2},
                                   {"seed", 3},
                                   {"period_s", period},
                                   {"initial_level_m", 0.8},
                                   {"level_min_m", lo},
                                   {"level_penalty_eur_per_m_h", p},
                                   {"violation_penalty_eur", v},
                                   {"energy_weight", 1.0}})["id"];
  double l0 = 0, l1 = 0;
  ASSERT_TRUE(f.engine->sim_envs()
                  .Inspect(id, [&](const control::StationEnv& e) { l0 = e.true_state().level_m; })
                  .ok());
  json s = f.Step(id, {0, 0});
  ASSERT_TRUE(f.engine->sim_envs()
                  .Inspect(id, [&](const control::StationEnv& e) { l1 = e.true_state().level_m; })
                  .ok());
  ASSERT_LT(l1, l0);
  EXPECT_TRUE(s["left_band"].get<bool>());
  const double penalty = -s["reward"].get<double>() - v - s["cost_eur"].get<double>();  // p·∫(lo − L)dt/3600
  EXPECT_GE(penalty, p * (lo - l0) * period / 3600 - 1e-9);
  EXPECT_LE(penalty, p * (lo - l1) * period / 3600 + 1e-9);
}

TEST(SimEnvs, EpisodeIsDoneAfterEpisodeSecondsAndStepsAfterDoneAreRefused) {
  Fixture f;
  f.Open();
  const std::string id = f.Create({{"pumps", 1}, {"period_s", 60}, {"episode_s", 300}})["id"];
  for (int k = 1; k <= 5; ++k) {
    json s = f.Step(id, {nullptr});
    EXPECT_EQ(s["done"].get<bool>(), k == 5) << k;
    EXPECT_EQ(s["step"], k);
    EXPECT_DOUBLE_EQ(s["episode"]["simulated_s"].get<double>(), 60.0 * k);
  }
  auto after = f.engine->StepSimEnv(id, {{"speeds_rpm", {nullptr}}});
  EXPECT_EQ(after.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(after.status().message().find("done"), std::string::npos) << after.status().message();
  ASSERT_TRUE(f.engine->ResetSimEnv(id, std::nullopt).ok());
  EXPECT_FALSE(f.Step(id, {nullptr})["done"].get<bool>());
}

TEST(SimEnvs, BadRequestsNameTheField) {
  Fixture f;
  f.Open();
  auto msg = [&](const json& req) {
    auto r = f.engine->CreateSimEnv(req, "op");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << req;
    return r.status().message();
  };
  EXPECT_EQ(msg({{"pumps", 0}}).rfind("$.pumps:", 0), 0u);
  EXPECT_EQ(msg({{"period_s", "60"}}).rfind("$.period_s:", 0), 0u);
  EXPECT_EQ(msg({{"period_s", 0.5}}).rfind("$.period_s:", 0), 0u);
  EXPECT_EQ(msg({{"colour", 1}}), "$.colour: unknown field");
  EXPECT_EQ(msg({{"tariff", {{"peak_eur_kwh", -1}}}}).rfind("$.tariff.peak_eur_kwh:", 0), 0u);
  EXPECT_EQ(msg({{"level_min_m", 3}, {"level_max_m", 2}}).rfind("$.level_min_m:", 0), 0u);
  EXPECT_EQ(msg({{"pumps", 2}, {"initial_wear", {0.1}}}).rfind("$.initial_wear:", 0), 0u);
  EXPECT_EQ(f.engine->CreateSimEnv({{"twin", "nope"}}, "op").status().code(), StatusCode::kNotFound);

  const std::string id = f.Create({{"pumps", 3}})["id"];
  auto step = [&](const json& action) { return f.engine->StepSimEnv(id, action).status().message(); };
  EXPECT_EQ(step({{"speeds_rpm", {1400, "fast", 0}}}), "$.action.speeds_rpm[1]: must be a number or null");
  EXPECT_EQ(step({{"speeds_rpm", {1400}}}).rfind("$.action.speeds_rpm: must be an array of 3", 0), 0u);
  EXPECT_EQ(step({{"speed", {1, 2, 3}}}), "$.action.speed: unknown field");
  EXPECT_EQ(step(json::object()), "$.action.speeds_rpm: required");
  EXPECT_EQ(f.engine->StepSimEnv("env-zzzz", {{"speeds_rpm", {0, 0, 0}}}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(f.engine->ResetSimEnv("env-zzzz", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(f.engine->DeleteSimEnv("env-zzzz").code(), StatusCode::kNotFound);
}

TEST(SimEnvs, AtMostMaxEnvsLiveAndIdleOnesExpire) {
  Fixture f;
  f.limits.max_envs = 2;
  f.limits.idle_expiry_s = 100;
  f.Open();
  const std::string a = f.Create({{"pumps", 1}})["id"];
  f.now += 60 * kNsPerS;
  const std::string b = f.Create({{"pumps", 1}})["id"];
  EXPECT_NE(a, b);
  auto third = f.engine->CreateSimEnv({{"pumps", 1}}, "op");
  EXPECT_EQ(third.status().code(), StatusCode::kResourceExhausted);
  // 50 s later a (idle 110 s) has expired, b (idle 50 s) has not.
  f.now += 50 * kNsPerS;
  auto list = f.engine->ListSimEnvs();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ((*list)["envs"].size(), 1u);
  EXPECT_EQ((*list)["envs"][0]["id"], b);
  EXPECT_EQ((*list)["envs"][0]["created_by"], "api:operator");
  EXPECT_EQ(f.engine->StepSimEnv(a, {{"speeds_rpm", {0}}}).status().code(), StatusCode::kNotFound);
  const std::string c = f.Create({{"pumps", 1}})["id"];
  ASSERT_TRUE(f.engine->DeleteSimEnv(b).ok());
  EXPECT_EQ(f.engine->sim_envs().size(), 1u);
  // Using a sandbox keeps it alive.
  for (int i = 0; i < 3; ++i) {
    f.now += 80 * kNsPerS;
    f.Step(c, {nullptr});
  }
  EXPECT_EQ((*f.engine->ListSimEnvs())["envs"].size(), 1u);
}

TEST(SimEnvs, ConcurrentStepsOnOneSandboxSerialize) {
  Fixture f;
  f.Open();
  const std::string id = f.Create({{"pumps", 2}, {"period_s", 30}, {"integration_step_s", 2}})["id"];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int k = 0; k < 10; ++k)
        ASSERT_TRUE(f.engine->StepSimEnv(id, {{"speeds_rpm", {1300, nullptr}}}).ok());
    });
  }
  for (auto& t : threads) t.join();
  double simulated = 0;
  ASSERT_TRUE(f.engine->sim_envs()
                  .Inspect(id, [&](const control::StationEnv& e) { simulated = e.stats().simulated_s; })
                  .ok());
  EXPECT_DOUBLE_EQ(simulated, 40 * 30.0);
}

// Policy search (the bench's LevelTariffPolicy tuned by CEM) over the Service interface alone:
// every evaluation is Reset + Steps of a sandbox created through the engine, the policy acting
// on the JSON observations.
TEST(SimEnvs, CemPolicySearchRunsAgainstASandboxCreatedThroughTheEngine) {
  Fixture f;
  f.Open();
  const int pumps = 2;
  json made = f.Create({{"pumps", pumps},
                        {"period_s", 600},
                        {"episode_s", 6 * 3600},
                        {"integration_step_s", 2},
                        {"time_of_day_s", 15 * 3600},
                        {"initial_wear", {0.3, 0.0}}});
  const std::string id = made["id"];
  control::StationEstimate est = control::StationEstimate::Nominal(pumps);
  est.pumps[0].impeller_wear = 0.3;
  int episodes = 0;
  auto score = [&](const std::vector<double>& x) {
    control::LevelTariffPolicy policy(control::LevelTariffPolicyParams::FromVector(x), est);
    auto reset = f.engine->ResetSimEnv(id, 21);
    if (!reset.ok()) return -1e9;
    json ob = (*reset)["observation"];
    double total = 0;
    for (bool done = false; !done;) {
      auto o = SimObservationFromJson(ob);
      if (!o.ok()) return -1e9;
      json speeds = json::array();
      for (const auto& a : policy.Act(*o)) speeds.push_back(a ? json(*a) : json(nullptr));
      auto s = f.engine->StepSimEnv(id, {{"speeds_rpm", speeds}});
      if (!s.ok()) return -1e9;
      total += (*s)["reward"].get<double>();
      done = (*s)["done"].get<bool>();
      ob = (*s)["observation"];
    }
    ++episodes;
    return total;
  };
  control::CemOptions co;
  co.iterations = 3;
  co.population = 6;
  co.elites = 2;
  co.seed = 4;
  const std::vector<double> lo = control::LevelTariffPolicyParams::Lower(),
                            hi = control::LevelTariffPolicyParams::Upper();
  std::vector<double> std0(lo.size());
  for (size_t i = 0; i < lo.size(); ++i) std0[i] = 0.25 * (hi[i] - lo[i]);
  auto cem =
      control::CrossEntropyMaximize(score, control::LevelTariffPolicyParams{}.ToVector(), std0, lo, hi, co);
  ASSERT_TRUE(cem.ok()) << cem.status().ToString();
  EXPECT_EQ(cem->evaluations, 18);
  EXPECT_EQ(episodes, 18);  // every evaluation ran a whole episode through the engine
  EXPECT_GT(cem->best_score, -1e9);
  EXPECT_GE(cem->best_score, cem->iteration_mean_score[0]);
  // The sandbox is deterministic through the API: the best parameters score the same again.
  EXPECT_DOUBLE_EQ(score(cem->best_params), cem->best_score);
}

}  // namespace
}  // namespace doppel::engine
