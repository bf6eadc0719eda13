// The economic MPC: its pump model against the twin's and the plant's physics, bounds and rate
// limits of its commands, load sharing by efficiency, and the solver-failure fallback.
#include "doppel/control/mpc.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "doppel/control/env.h"
#include "doppel/physics/station.h"
#include "doppel/plant/station_model.h"

namespace doppel::control {
namespace {

TEST(Tariff, MeanPriceIsTheExactIntegralOfTheBands) {
  Tariff t;
  ASSERT_TRUE(t.Validate().ok());
  EXPECT_EQ(t.BandAt(3 * 3600.0), TariffBand::kNight);
  EXPECT_EQ(t.BandAt(12 * 3600.0), TariffBand::kDay);
  EXPECT_EQ(t.BandAt(18 * 3600.0), TariffBand::kPeak);
  EXPECT_EQ(t.BandAt(23 * 3600.0 + kSecondsPerDay), TariffBand::kNight);
  // 16:00-18:00: one hour day, one hour peak.
  EXPECT_NEAR(t.MeanPrice(16 * 3600.0, 18 * 3600.0), (0.20 + 0.35) / 2, 1e-12);
  // A whole day: 8 h night, 4 h peak, 12 h day, from any start.
  const double day_mean = (8 * 0.08 + 4 * 0.35 + 12 * 0.20) / 24;
  EXPECT_NEAR(t.MeanPrice(0, kSecondsPerDay), day_mean, 1e-12);
  EXPECT_NEAR(t.MeanPrice(5000, 5000 + kSecondsPerDay), day_mean, 1e-12);
  // Across midnight, inside the night band.
  EXPECT_NEAR(t.MeanPrice(23 * 3600.0, 25 * 3600.0), 0.08, 1e-12);
  Tariff bad;
  bad.peak_start_h = 22.5;
  Status s = bad.Validate();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("peak_start_h"), std::string::npos) << s.message();
}

TEST(StationEstimate, PumpCurveMatchesThePlantAndTheTwinModel) {
  // The plant's closed-form operating point (plant::StationModel::Solve) ...
  plant::StationModel plant(plant::StationParams::Nominal(1), plant::FaultSchedule());
  // ... and the twin's PumpModel evaluated through the station diagram.
  auto diagram = physics::MakeStationDiagram(1);
  ASSERT_TRUE(diagram.ok());
  const physics::System& sys = **diagram;
  physics::Context c = sys.CreateDefaultContext();
  ASSERT_TRUE(sys.SetValue(&c, physics::SignalKind::kParameter, "pump-1.impeller_wear", 0.3).ok());
  auto est = StationEstimateFromDiagram(sys, c, 1);
  ASSERT_TRUE(est.ok()) << est.status().ToString();
  EXPECT_DOUBLE_EQ(est->pumps[0].impeller_wear, 0.3);
  for (double rpm : {1150.0, 1450.0, 1800.0}) {
    for (double level : {0.5, 2.5, 4.5}) {
      SCOPED_TRACE(testing::Message() << rpm << " rpm, " << level << " m");
      plant::OperatingPoint op = plant.Solve(0, rpm, level, 0.3, 0);
      PumpPointT<double> pt = EvalPump<double>(est->pumps[0], est->static_lift_m, rpm / 1450.0, level);
      EXPECT_NEAR(pt.flow_m3h, op.flow_m3h, 1e-9);
      EXPECT_NEAR(pt.head_m, op.head_m, 1e-9);
      EXPECT_NEAR(pt.efficiency, op.efficiency, 1e-12);
      EXPECT_NEAR(pt.shaft_power_kw, op.power_kw, 1e-9);
      // The twin's model: speed state at rpm, level input.
      physics::Context cc = c;
      ASSERT_TRUE(sys.SetValue(&cc, physics::SignalKind::kState, "pump-1.speed_rpm", rpm).ok());
      ASSERT_TRUE(sys.SetValue(&cc, physics::SignalKind::kState, "tank-1.level_m", level).ok());
      Eigen::VectorXd y = sys.EvalOutputs(cc);
      auto idx = sys.Find(physics::SignalKind::kOutput, "pump-1.power_kw");
      ASSERT_TRUE(idx.ok());
      EXPECT_NEAR(pt.shaft_power_kw, y[*idx], 1e-9);
    }
  }
  // Lifting speed: zero flow exactly at MinLiftSpeedRpm with no margin.
  const double n = MinLiftSpeedRpm(est->pumps[0], est->static_lift_m, 2.0, 0.0);
  EXPECT_LT(plant.Solve(0, n, 2.0, 0.3, 0).flow_m3h, 1e-4);  // sqrt of rounding error
  EXPECT_GT(plant.Solve(0, n + 5, 2.0, 0.3, 0).flow_m3h, 0.0);
}

TEST(StationEstimate, MissingParameterIsNamed) {
  auto diagram = physics::MakeStationDiagram(1);
  ASSERT_TRUE(diagram.ok());
  auto est = StationEstimateFromDiagram(**diagram, (*diagram)->CreateDefaultContext(), 2);
  ASSERT_FALSE(est.ok());
  EXPECT_NE(est.status().message().find("pump-2."), std::string::npos) << est.status().message();
}

TEST(MpcOptions, ValidateNamesTheBrokenRule) {
  EXPECT_TRUE(MpcOptions{}.Validate().ok());
  MpcOptions o;
  o.level_min_m = 3;
  o.level_max_m = 2;
  EXPECT_NE(o.Validate().message().find("level_min_m"), std::string::npos);
  o = MpcOptions{};
  o.max_speed_change_rpm = 0;
  EXPECT_NE(o.Validate().message().find("max_speed_change_rpm"), std::string::npos);
  o = MpcOptions{};
  o.terminal_level_m = o.level_max_m + 0.1;
  EXPECT_NE(o.Validate().message().find("terminal_level_m"), std::string::npos);
  o = MpcOptions{};
  o.terminal_time_of_day_s = kSecondsPerDay;
  EXPECT_NE(o.Validate().message().find("terminal_time_of_day_s"), std::string::npos);
  auto m = MpcController::Create(MpcOptions{}, StationEstimate::Nominal(0), [](double) { return 100.0; });
  EXPECT_FALSE(m.ok());
}

// Runs the MPC in closed loop on the sandbox plant; checks every command against the limits.
TEST(Mpc, CommandsRespectSpeedBoundsAndRateLimitsAndKeepTheBand) {
  EnvOptions eo;
  eo.episode_s = 1.5 * 3600;
  eo.time_of_day_at_start_s = 16.5 * 3600;  // into the evening peak: demand and price rise
  eo.initial_level_m = 1.8;
  auto env = StationEnv::Create(eo);
  ASSERT_TRUE(env.ok());
  EnvObservation ob = (*env)->Reset(7);
  plant::StationModel nominal(plant::StationParams::Nominal(3), plant::FaultSchedule());
  MpcOptions mo;
  mo.max_speed_change_rpm = 60;
  mo.horizon_s = 6 * 3600;
  auto mpc =
      MpcController::Create(mo, StationEstimate::Nominal(3), [&](double t) { return nominal.Demand(t); });
  ASSERT_TRUE(mpc.ok());
  std::vector<double> prev(3, 0.0);
  int solved = 0;
  for (bool done = false; !done;) {
    MpcSummary sum;
    auto cmd = (*mpc)->Step({ob.t_s, ob.level_m, ob.speed_rpm}, &sum);
    ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
    solved += sum.solved;
    // The plan itself: levels in the tank, speeds within limits, rate-limited between steps.
    for (size_t k = 0; k < sum.planned_speed_rpm.size(); ++k) {
      for (size_t i = 0; i < 3; ++i) {
        EXPECT_LE(sum.planned_speed_rpm[k][i], mo.max_speed_rpm + 1e-6);
        EXPECT_GE(sum.planned_duty[k][i], 0.0);
        EXPECT_LE(sum.planned_duty[k][i], 1.0);
        if (k > 0) {
          const double allowed = mo.max_speed_change_rpm * sum.step_s[k - 1] / mo.period_s;
          EXPECT_LE(std::abs(sum.planned_speed_rpm[k][i] - sum.planned_speed_rpm[k - 1][i]), allowed + 1e-3);
        }
      }
    }
    for (size_t i = 0; i < 3; ++i) {
      ASSERT_TRUE(cmd->speed_setpoint_rpm[i].has_value());
      const double n = *cmd->speed_setpoint_rpm[i];
      if (n > 0) {
        EXPECT_LE(n, mo.max_speed_rpm + 1e-6);
        EXPECT_GE(n, MinLiftSpeedRpm(PumpEstimate{}, 20, 5, mo.min_head_margin_m) - 1e-6);
        if (prev[i] > 0) {
          EXPECT_LE(std::abs(n - prev[i]), mo.max_speed_change_rpm + 1e-6);
        }
      }
      prev[i] = n;
    }
    auto st = (*env)->Step(cmd->speed_setpoint_rpm);
    ASSERT_TRUE(st.ok());
    ob = st->observation;
    done = st->done;
  }
  EXPECT_EQ(solved, 90);
  EXPECT_EQ((*env)->stats().excursions, 0);
  EXPECT_GE((*env)->stats().min_level_m, eo.level_min_m);
  EXPECT_LE((*env)->stats().max_level_m, eo.level_max_m);
}

TEST(Mpc, WornPumpCarriesLess) {
  StationEstimate est = StationEstimate::Nominal(2);
  est.pumps[0].impeller_wear = 0.5;  // pump 1 worn: lower head and efficiency
  MpcOptions mo;
  mo.tariff.night_eur_kwh = mo.tariff.day_eur_kwh = mo.tariff.peak_eur_kwh = 0.2;  // flat
  auto mpc = MpcController::Create(mo, est, [](double) { return 180.0; });
  ASSERT_TRUE(mpc.ok());
  MpcSummary sum;
  auto cmd = (*mpc)->Step({0, 2.5, {0, 0}}, &sum);
  ASSERT_TRUE(cmd.ok());
  ASSERT_TRUE(sum.solved) << sum.solver_status;
  double worn = 0, fresh = 0;
  for (size_t k = 0; k < sum.step_s.size(); ++k) {
    worn += sum.planned_flow_m3h[k][0] * sum.step_s[k];
    fresh += sum.planned_flow_m3h[k][1] * sum.step_s[k];
  }
  EXPECT_LT(worn, 0.8 * fresh) << "worn " << worn / 3600 << " m3, fresh " << fresh / 3600 << " m3";
  // The demand is met on average: the tank does not drain over the day.
  EXPECT_NEAR((worn + fresh) / 3600 / 24, 180.0, 15.0);
}

// The plan's level at the next terminal time of day, linear between grid points.
double PlannedLevelAt(const MpcSummary& sum, double t0, double level0, double t) {
  double tk = t0, lk = level0;
  for (size_t k = 0; k < sum.step_s.size(); ++k) {
    const double t1 = tk + sum.step_s[k], l1 = sum.planned_level_m[k];
    if (t <= t1) return lk + (t - tk) / (t1 - tk) * (l1 - lk);
    tk = t1;
    lk = l1;
  }
  return lk;
}

TEST(Mpc, PlanReachesTheTerminalLevelAtTheNextTerminalTimeOfDay) {
  MpcOptions mo;
  mo.horizon_s = 12 * 3600;
  auto plan = [&](double terminal_level_m, double t_s) {
    MpcOptions o = mo;
    o.terminal_level_m = terminal_level_m;
    auto mpc = MpcController::Create(o, StationEstimate::Nominal(3), [](double) { return 150.0; });
    EXPECT_TRUE(mpc.ok());
    MpcSummary sum;
    EXPECT_TRUE((*mpc)->Step({t_s, 2.0, {0, 0, 0}}, &sum).ok());
    EXPECT_TRUE(sum.solved) << sum.solver_status;
    return sum;
  };
  // 22:00 on day 1 (t_s past one midnight): the next midnight is 2 h ahead, inside a coarse step.
  const double t0 = kSecondsPerDay + 22 * 3600.0, midnight = 2 * kSecondsPerDay;
  MpcSummary free = plan(-1, t0);
  EXPECT_TRUE(std::isnan(free.terminal_t_s));
  const double free_at_midnight = PlannedLevelAt(free, t0, 2.0, midnight);
  // Night price all the way to 06:00: without the terminal level the plan fills more slowly.
  RecordProperty("free_level_at_midnight_m", std::to_string(free_at_midnight));
  ASSERT_LT(free_at_midnight, 3.5);
  MpcSummary term = plan(3.8, t0);
  EXPECT_DOUBLE_EQ(term.terminal_t_s, midnight);
  EXPECT_NEAR(term.planned_terminal_level_m, PlannedLevelAt(term, t0, 2.0, midnight), 1e-9);
  EXPECT_GE(term.planned_terminal_level_m, 3.8 - 1e-4);
  for (double l : term.planned_level_m) EXPECT_LE(l, mo.level_max_m - mo.level_margin_m + 1e-3);
  // A horizon that ends before the terminal time of day has no terminal point.
  mo.horizon_s = 3600;
  MpcSummary short_h = plan(3.8, t0);
  EXPECT_TRUE(std::isnan(short_h.terminal_t_s));
  EXPECT_TRUE(std::isnan(short_h.planned_terminal_level_m));
}

TEST(Mpc, ClosedLoopEndsTheDayAtTheTerminalLevel) {
  EnvOptions eo;
  eo.episode_s = 2 * 3600;
  eo.period_s = 120;
  eo.time_of_day_at_start_s = 22 * 3600;  // ends at midnight
  eo.initial_level_m = 2.0;
  plant::StationModel nominal(plant::StationParams::Nominal(3), plant::FaultSchedule());
  auto run = [&](double terminal_level_m) {
    auto env = StationEnv::Create(eo);
    EXPECT_TRUE(env.ok());
    EnvObservation ob = (*env)->Reset(9);
    MpcOptions mo;
    mo.period_s = eo.period_s;
    mo.horizon_s = 8 * 3600;
    mo.terminal_level_m = terminal_level_m;
    mo.terminal_time_of_day_s = 0;
    // The twin's nominal model and demand profile against the seed's truth plant.
    auto mpc =
        MpcController::Create(mo, StationEstimate::Nominal(3), [&](double t) { return nominal.Demand(t); });
    EXPECT_TRUE(mpc.ok());
    for (bool done = false; !done;) {
      auto cmd = (*mpc)->Step({ob.t_s, ob.level_m, ob.speed_rpm});
      EXPECT_TRUE(cmd.ok());
      auto st = (*env)->Step(cmd->speed_setpoint_rpm);
      EXPECT_TRUE(st.ok());
      ob = st->observation;
      done = st->done;
    }
    EXPECT_EQ((*env)->stats().excursions, 0);
    return (*env)->true_state().level_m;
  };
  const double free_end = run(-1), end = run(3.6);
  RecordProperty("free_end_level_m", std::to_string(free_end));
  RecordProperty("end_level_m", std::to_string(end));
  EXPECT_LT(free_end, 3.3);    // the constraint is what lifts the end level
  EXPECT_GT(end, 3.6 - 0.05);  // measurement noise and model error: a few cm
  EXPECT_LT(end, 3.6 + 0.3);   // and it does not overfill at night price
}

TEST(Mpc, SolverFailureHoldsTheLastCommandThenHandsBackToLocalControl) {
  MpcOptions mo;
  mo.hold_periods = 2;
  auto mpc = MpcController::Create(mo, StationEstimate::Nominal(3), [](double) { return 250.0; });
  ASSERT_TRUE(mpc.ok());
  MpcSummary sum;
  auto first = (*mpc)->Step({0, 1.6, {0, 0, 0}}, &sum);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(sum.solved);
  ASSERT_FALSE(sum.fallback);
  MpcOptions failing = mo;
  failing.max_iterations = 1;  // Ipopt stops with maximum_iterations_exceeded
  ASSERT_TRUE((*mpc)->SetOptions(failing).ok());
  for (int p = 1; p <= 2; ++p) {
    auto held = (*mpc)->Step({60.0 * p, 1.6, {1300, 1300, 1300}}, &sum);
    ASSERT_TRUE(held.ok());
    EXPECT_FALSE(sum.solved);
    EXPECT_TRUE(sum.fallback);
    EXPECT_FALSE(sum.local_control);
    EXPECT_EQ(sum.consecutive_failures, p);
    EXPECT_EQ(sum.solver_status, "maximum_iterations_exceeded");
    EXPECT_EQ(held->speed_setpoint_rpm, first->speed_setpoint_rpm);
  }
  auto local = (*mpc)->Step({180, 1.6, {1300, 1300, 1300}}, &sum);
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(sum.fallback);
  EXPECT_TRUE(sum.local_control);
  for (const auto& sp : local->speed_setpoint_rpm) EXPECT_FALSE(sp.has_value());
  // Recovery: a successful solve commands again.
  ASSERT_TRUE((*mpc)->SetOptions(mo).ok());
  auto back = (*mpc)->Step({240, 1.6, {1300, 1300, 1300}}, &sum);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(sum.solved);
  EXPECT_EQ(sum.consecutive_failures, 0);
  for (const auto& sp : back->speed_setpoint_rpm) EXPECT_TRUE(sp.has_value());
}

TEST(Mpc, FailureBeforeAnyCommandGoesStraightToLocalControl) {
  MpcOptions mo;
  mo.max_iterations = 1;
  auto mpc = MpcController::Create(mo, StationEstimate::Nominal(2), [](double) { return 200.0; });
  ASSERT_TRUE(mpc.ok());
  MpcSummary sum;
  auto cmd = (*mpc)->Step({0, 2.5, {0, 0}}, &sum);
  ASSERT_TRUE(cmd.ok());
  EXPECT_TRUE(sum.fallback && sum.local_control);
  for (const auto& sp : cmd->speed_setpoint_rpm) EXPECT_FALSE(sp.has_value());
}

TEST(Mpc, ObservationOfTheWrongStationIsRejected) {
  auto mpc = MpcController::Create(MpcOptions{}, StationEstimate::Nominal(3), [](double) { return 200.0; });
  ASSERT_TRUE(mpc.ok());
  auto cmd = (*mpc)->Step({0, 2.5, {0, 0}});
  ASSERT_FALSE(cmd.ok());
  EXPECT_EQ(cmd.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE((*mpc)->Step({0, std::nan(""), {0, 0, 0}}).ok());
}

}  // namespace
}  // namespace doppel::control
