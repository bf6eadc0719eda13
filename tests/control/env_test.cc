// The sandbox environment, the baseline controller, the parametric policy and CEM.
#include "doppel/control/env.h"

#include <gtest/gtest.h>

#include <cmath>

#include "doppel/control/baseline.h"
#include "doppel/control/cem.h"
#include "doppel/control/policy.h"

namespace doppel::control {
namespace {

EnvOptions Short(double hours) {
  EnvOptions o;
  o.episode_s = hours * 3600;
  return o;
}

std::vector<std::optional<double>> Speeds(double a, double b, double c) { return {a, b, c}; }

TEST(StationEnv, SameSeedAndActionsGiveTheSameEpisode) {
  auto run = [](uint64_t seed) {
    auto env = StationEnv::Create(Short(1));
    EXPECT_TRUE(env.ok());
    std::vector<double> trace;
    EnvObservation ob = (*env)->Reset(seed);
    trace.push_back(ob.level_m);
    for (int k = 0;; ++k) {
      auto st = (*env)->Step(Speeds(k % 7 < 4 ? 1400 : 0, 1300, 0));
      EXPECT_TRUE(st.ok());
      trace.push_back(st->observation.level_m);
      trace.push_back(st->reward);
      trace.push_back(st->observation.power_kw[1]);
      if (st->done) break;
    }
    trace.push_back((*env)->stats().cost_eur);
    return trace;
  };
  const auto a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a, b);  // bit-identical
  EXPECT_NE(a, c);
  EXPECT_EQ(a.size(), 1 + 60 * 3 + 1);
}

TEST(StationEnv, StoppedPumpsDrainTheTankByTheDemandIntegral) {
  EnvOptions o = Short(0.5);
  o.initial_level_m = 4.0;
  o.time_of_day_at_start_s = 2 * 3600;
  auto env = StationEnv::Create(o);
  ASSERT_TRUE(env.ok());
  (*env)->Reset(3);
  const plant::StationModel& m = (*env)->model();
  double volume = 0;  // ∫ demand dt by Simpson, independent of the RK4 in the plant
  const int n = 1800;
  for (int j = 0; j <= n; ++j) {
    const double w = (j == 0 || j == n) ? 1 : (j % 2 ? 4 : 2);
    volume += w * m.Demand(j * 1.0) / 3600.0;
  }
  volume /= 3.0;
  for (bool done = false; !done;) {
    auto st = (*env)->Step(Speeds(0, 0, 0));
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->energy_kwh, 0.0);
    done = st->done;
  }
  EXPECT_NEAR((*env)->true_state().level_m, 4.0 - volume / m.params().tank.area_m2, 1e-6);
  EXPECT_EQ((*env)->stats().pumped_m3, 0.0);
}

TEST(StationEnv, CostIsEnergyTimesPriceAndRewardPenalizesLeavingTheBand) {
  EnvOptions o = Short(0.25);
  o.time_of_day_at_start_s = 18 * 3600;  // peak band throughout
  o.initial_level_m = 1.05;              // just above the band floor, demand high
  auto env = StationEnv::Create(o);
  ASSERT_TRUE(env.ok());
  (*env)->Reset(5);
  bool left = false;
  for (bool done = false; !done;) {
    auto st = (*env)->Step(Speeds(1300, 0, 0));  // one pump cannot meet the evening demand
    ASSERT_TRUE(st.ok());
    EXPECT_NEAR(st->cost_eur, st->energy_kwh * o.tariff.peak_eur_kwh, 1e-12);
    // Energy of the step ≈ power × period: one pump at ~1300 rpm draws 9–13 kW (electrical).
    EXPECT_GT(st->energy_kwh, 9.0 / 60 * 0.9);
    EXPECT_LT(st->energy_kwh, 14.0 / 60);
    if (st->left_band) {
      left = true;
      EXPECT_LT(st->reward, -st->cost_eur - o.violation_penalty_eur + 1e-12);
    } else {
      EXPECT_DOUBLE_EQ(st->reward, -st->cost_eur);
    }
    done = st->done;
  }
  EXPECT_TRUE(left);
  EXPECT_EQ((*env)->stats().excursions, 1);
  EXPECT_GT((*env)->stats().violation_samples, 0);
  EXPECT_LT((*env)->stats().min_level_m, o.level_min_m);
}

TEST(StationEnv, TerminalShortfallIsChargedOnceAtTheEndAtThePricePerCubicMetre) {
  EnvOptions o = Short(0.25);
  o.initial_level_m = 3.0;
  o.terminal_level_m = 3.5;  // stopped pumps end below it
  o.terminal_shortfall_eur_per_m3 = 0.03;
  auto env = StationEnv::Create(o);
  ASSERT_TRUE(env.ok());
  (*env)->Reset(4);
  double last_reward = 0, last_charge = 0;
  for (bool done = false; !done;) {
    auto st = (*env)->Step(Speeds(0, 0, 0));
    ASSERT_TRUE(st.ok());
    done = st->done;
    if (!done) {
      EXPECT_EQ(st->terminal_shortfall_eur, 0.0);
      EXPECT_EQ(st->reward, 0.0);  // no energy, inside the band
    }
    last_reward = st->reward;
    last_charge = st->terminal_shortfall_eur;
  }
  const double end = (*env)->true_state().level_m;
  ASSERT_LT(end, 3.0);
  const double expected = 0.03 * (*env)->model().params().tank.area_m2 * (3.5 - end);
  EXPECT_NEAR(last_charge, expected, 1e-9);
  EXPECT_NEAR(last_reward, -expected, 1e-9);

  // Ending above the terminal level earns nothing.
  o.terminal_level_m = 1.5;
  auto env2 = StationEnv::Create(o);
  ASSERT_TRUE(env2.ok());
  (*env2)->Reset(4);
  for (bool done = false; !done;) {
    auto st = (*env2)->Step(Speeds(0, 0, 0));
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->terminal_shortfall_eur, 0.0);
    EXPECT_EQ(st->reward, 0.0);
    done = st->done;
  }
  o.terminal_level_m = 9;
  EXPECT_NE(StationEnv::Create(o).status().message().find("terminal_level_m"), std::string::npos);
}

TEST(StationEnv, BadActionsAndStepsAfterDoneAreErrors) {
  auto env = StationEnv::Create(Short(1.0 / 60));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ((*env)->Step(Speeds(0, 0, 0)).status().code(), StatusCode::kFailedPrecondition);
  (*env)->Reset(1);
  EXPECT_EQ((*env)->Step({0.0, 0.0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*env)->Step(Speeds(std::nan(""), 0, 0)).status().code(), StatusCode::kInvalidArgument);
  auto st = (*env)->Step(Speeds(0, 0, 0));
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->done);
  EXPECT_EQ((*env)->Step(Speeds(0, 0, 0)).status().code(), StatusCode::kFailedPrecondition);
  EnvOptions bad;
  bad.level_max_m = 6;
  EXPECT_NE(StationEnv::Create(bad).status().message().find("level_max_m"), std::string::npos);
}

TEST(StationEnv, PumpParametersReplaceTheSeedsSpreadAndFasterCurvesPumpMore) {
  EnvOptions o = Short(1.0 / 6);
  o.pumps = 2;
  auto seeded = StationEnv::Create(o);
  ASSERT_TRUE(seeded.ok());
  (*seeded)->Reset(4);
  o.pump_parameters = {{{"shutoff_head_m", 50.0}, {"pump.curve_k", 6.0e-4}}, {}};
  auto calibrated = StationEnv::Create(o);
  ASSERT_TRUE(calibrated.ok()) << calibrated.status().ToString();
  (*calibrated)->Reset(4);
  const plant::PumpParams& p0 = (*calibrated)->model().params().pumps[0];
  EXPECT_EQ(p0.shutoff_head_m, 50.0);
  EXPECT_EQ(p0.curve_k, 6.0e-4);
  // Everything else, and the second pump, is the seed's.
  const plant::PumpParams& s0 = (*seeded)->model().params().pumps[0];
  EXPECT_EQ(p0.bep_efficiency, s0.bep_efficiency);
  EXPECT_EQ((*calibrated)->model().params().pumps[1].shutoff_head_m,
            (*seeded)->model().params().pumps[1].shutoff_head_m);
  // A higher head pumps more at the same speed and level.
  const double q_cal = (*calibrated)->model().Solve(0, 1400, 2.5, 0, 0).flow_m3h;
  const double q_seed = (*seeded)->model().Solve(0, 1400, 2.5, 0, 0).flow_m3h;
  EXPECT_GT(q_cal, q_seed);
}

TEST(StationEnv, PumpParametersNameTheBadEntry) {
  EnvOptions o = Short(1);
  o.pumps = 2;
  o.pump_parameters = {{}};
  EXPECT_EQ(StationEnv::Create(o).status().message(),
            "env: pump_parameters has 1 lists, the station 2 pumps");
  o.pump_parameters = {{}, {{"shutoff_hed_m", 40.0}}};
  EXPECT_EQ(StationEnv::Create(o).status().message(),
            "env: pump_parameters[1].shutoff_hed_m: not a pump parameter");
  o.pump_parameters = {{{"curve_k", NAN}}, {}};
  EXPECT_EQ(StationEnv::Create(o).status().message(), "env: pump_parameters[0].curve_k: must be finite");
  o.pump_parameters = {{{"pump.rated_speed_rpm", 0.0}}, {}};
  EXPECT_EQ(StationEnv::Create(o).status().message(),
            "env: pump_parameters[0].pump.rated_speed_rpm: must be > 0");
  o.pump_parameters = {{{"max_speed_rpm", 2000.0}}, {}};  // the sandbox's own command limit
  EXPECT_EQ(StationEnv::Create(o).status().message(),
            "env: pump_parameters[0].max_speed_rpm: not a pump parameter");
}

TEST(Baseline, StagesPumpsWithHysteresisAndKeepsTheBandForADay) {
  auto b = BaselineController::Create(BaselineOptions{}, 3);
  ASSERT_TRUE(b.ok());
  EXPECT_NEAR(b->start_level_m(0), 1.0 + 0.55 * 3.5, 1e-12);
  EXPECT_NEAR(b->stop_level_m(2), 1.0 + (0.15 + 0.30) * 3.5, 1e-12);
  auto on = [](const std::vector<std::optional<double>>& u) {
    int n = 0;
    for (const auto& v : u) n += *v > 0;
    return n;
  };
  EXPECT_EQ(on(b->Step(3.5)), 0);
  EXPECT_EQ(on(b->Step(2.5)), 1);  // below the lead pump's start
  EXPECT_EQ(on(b->Step(2.9)), 1);  // hysteresis: still on until its stop level
  EXPECT_EQ(on(b->Step(1.4)), 3);
  EXPECT_EQ(on(b->Step(2.7)), 2);  // above pump 3's stop level
  auto env = StationEnv::Create(Short(24));
  ASSERT_TRUE(env.ok());
  auto ctl = BaselineController::Create(BaselineOptions{}, 3);
  EnvObservation ob = (*env)->Reset(1);
  for (bool done = false; !done;) {
    auto st = (*env)->Step(ctl->Step(ob.level_m));
    ASSERT_TRUE(st.ok());
    ob = st->observation;
    done = st->done;
  }
  EXPECT_EQ((*env)->stats().excursions, 0);
  EXPECT_GT((*env)->stats().pumped_m3, 5000);  // the day's demand is about 6000 m3
}

TEST(Policy, RunsTheMostEfficientPumpsFirst) {
  StationEstimate est = StationEstimate::Nominal(3);
  est.pumps[0].impeller_wear = 0.4;
  LevelTariffPolicyParams p;
  p.pump_flow_m3h = 120;
  LevelTariffPolicy pol(p, est);
  EnvObservation ob;
  ob.band = TariffBand::kDay;
  ob.level_m = p.day_level_m;  // on target: the demand is the flow wanted
  ob.demand_m3h = 200;         // two pumps
  auto u = pol.Act(ob);
  EXPECT_EQ(*u[0], 0.0);  // the worn pump rests
  EXPECT_GT(*u[1], 0.0);
  EXPECT_GT(*u[2], 0.0);
  // Each running pump delivers half the flow at that speed (on the estimated curve).
  PumpPointT<double> pt = EvalPump<double>(est.pumps[1], est.static_lift_m, *u[1] / 1450.0, ob.level_m);
  EXPECT_NEAR(pt.flow_m3h, 100.0, 1e-6);
  ob.demand_m3h = 10;  // below a quarter of a pump's flow: all stop
  for (const auto& v : pol.Act(ob)) EXPECT_EQ(*v, 0.0);
}

TEST(Cem, ImprovesASimpleObjectiveDeterministically) {
  const std::vector<double> c = {0.3, -1.2, 2.0};
  auto score = [&](const std::vector<double>& x) {
    double s = 0;
    for (size_t j = 0; j < x.size(); ++j) s -= (x[j] - c[j]) * (x[j] - c[j]);
    return s;
  };
  CemOptions o;
  o.iterations = 25;
  o.population = 20;
  o.elites = 5;
  const std::vector<double> m0 = {2, 2, -2}, sd0 = {1, 1, 1}, lo = {-3, -3, -3}, hi = {3, 3, 3};
  auto r = CrossEntropyMaximize(score, m0, sd0, lo, hi, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->evaluations, 25 * 20);
  EXPECT_GT(r->best_score, score(m0));
  EXPECT_GT(r->best_score, -1e-2);
  for (size_t j = 0; j < c.size(); ++j) EXPECT_NEAR(r->mean[j], c[j], 0.1);
  EXPECT_GT(r->iteration_mean_score.back(), r->iteration_mean_score.front());
  auto again = CrossEntropyMaximize(score, m0, sd0, lo, hi, o);
  EXPECT_EQ(again->best_params, r->best_params);
  // The box is respected even when the optimum lies outside it.
  auto boxed = CrossEntropyMaximize(score, m0, sd0, {-3, -3, 2.5}, {3, 3, 3}, o);
  ASSERT_TRUE(boxed.ok());
  EXPECT_GE(boxed->best_params[2], 2.5);
  EXPECT_NEAR(boxed->best_params[2], 2.5, 0.1);
  CemOptions bad = o;
  bad.elites = 30;
  EXPECT_FALSE(CrossEntropyMaximize(score, m0, sd0, lo, hi, bad).ok());
}

}  // namespace
}  // namespace doppel::control
