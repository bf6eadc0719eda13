// Physics of the simulated pumping station, checked against closed forms.
#include "doppel/plant/station_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace doppel::plant {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// One pump, no faults, no wear growth: the cleanest model to compare with closed forms.
StationParams OnePump() {
  StationParams p = StationParams::Nominal(1);
  p.pumps[0].impeller_wear_rate_per_s = 0;
  p.pumps[0].bearing_wear_rate_per_s = 0;
  return p;
}

// A state whose pump already runs at `rpm` and inputs that hold it there.
StationState AtSpeed(const StationModel& m, double rpm, StationInputs* u) {
  StationState x = m.DefaultState();
  for (auto& p : x.pumps) p.speed_rpm = rpm;
  u->speed_setpoint_rpm.assign(x.pumps.size(), rpm);
  return x;
}

TEST(StationModel, AffinityLawsHoldAtTheOperatingPoint) {
  StationParams p = OnePump();
  p.tank.static_lift_m = 0;  // no static head: the system curve is pure friction
  StationModel m(p, FaultSchedule());
  const PumpParams& pp = p.pumps[0];
  const double n0 = pp.rated_speed_rpm;
  OperatingPoint ref = m.Solve(0, n0, /*level_m=*/0, 0, 0);
  // Closed form at n0: H0 = (k + r)·Q^2.
  EXPECT_NEAR(ref.flow_m3h, std::sqrt(pp.shutoff_head_m / (pp.curve_k + pp.line_r)), 1e-9);
  for (double n : {500.0, 1000.0, 1200.0, 1800.0, 2500.0, 3000.0}) {
    SCOPED_TRACE(n);
    double s = n / n0;
    OperatingPoint op = m.Solve(0, n, 0, 0, 0);
    EXPECT_NEAR(op.flow_m3h / ref.flow_m3h, s, 1e-12);
    EXPECT_NEAR(op.head_m / ref.head_m, s * s, 1e-12);
    EXPECT_NEAR(op.efficiency, ref.efficiency, 1e-12);  // same point on the η(Q/Q_bep) curve
    EXPECT_NEAR(op.power_kw / ref.power_kw, s * s * s, 1e-12);
  }
}

TEST(StationModel, OperatingPointLiesOnBothPumpAndSystemCurves) {
  StationParams p = OnePump();
  StationModel m(p, FaultSchedule());
  const PumpParams& pp = p.pumps[0];
  for (double n : {1100.0, 1450.0, 2000.0}) {
    for (double level : {0.0, 2.5, 5.0}) {
      for (double wear : {0.0, 0.5}) {
        OperatingPoint op = m.Solve(0, n, level, wear, 0);
        double s = n / pp.rated_speed_rpm;
        double h0 = pp.shutoff_head_m * (1 - pp.impeller_head_loss * wear);
        double pump_h = h0 * s * s - pp.curve_k * op.flow_m3h * op.flow_m3h;
        double sys_h = p.tank.static_lift_m + level + pp.line_r * op.flow_m3h * op.flow_m3h;
        EXPECT_NEAR(op.head_m, pump_h, 1e-9);
        if (op.flow_m3h > 0) {
          EXPECT_NEAR(op.head_m, sys_h, 1e-9);
        }
        // Shaft power is hydraulic power over efficiency plus mechanical losses.
        double hyd_kw = kWaterDensity * kGravity * op.flow_m3h / 3600 * op.head_m / 1000;
        EXPECT_NEAR(op.power_kw, hyd_kw / op.efficiency + pp.mech_loss_kw * s * s * s, 1e-9);
      }
    }
  }
}

TEST(StationModel, BelowStaticHeadThePumpDeliversNothing) {
  StationModel m(OnePump(), FaultSchedule());
  // H0·s^2 < static lift + level: the check valve stays shut.
  OperatingPoint op = m.Solve(0, 900, 2.5, 0, 0);
  EXPECT_EQ(op.flow_m3h, 0);
  EXPECT_GT(op.head_m, 0);
  EXPECT_GT(op.power_kw, 0);  // mechanical losses only
}

TEST(StationModel, EfficiencyPeaksAtTheBestEfficiencyPoint) {
  StationParams p = OnePump();
  p.tank.static_lift_m = 0;
  StationModel m(p, FaultSchedule());
  // Sweep the system curve resistance to move the operating point along the pump curve.
  double best_eta = 0, best_x = 0;
  for (double r = 0; r < 5e-3; r += 1e-5) {
    StationParams q = p;
    q.pumps[0].line_r = r;
    StationModel mr(q, FaultSchedule());
    OperatingPoint op = mr.Solve(0, 1450, 0, 0, 0);
    if (op.efficiency > best_eta) {
      best_eta = op.efficiency;
      best_x = op.flow_m3h / p.pumps[0].bep_flow_m3h;
    }
  }
  EXPECT_NEAR(best_eta, p.pumps[0].bep_efficiency, 1e-4);
  EXPECT_NEAR(best_x, 1.0, 0.02);
}

TEST(StationModel, ImpellerWearLowersFlowHeadAndEfficiency) {
  StationModel m(OnePump(), FaultSchedule());
  OperatingPoint fresh = m.Solve(0, 1450, 2.5, 0, 0);
  OperatingPoint worn = m.Solve(0, 1450, 2.5, 0.3, 0);
  EXPECT_LT(worn.flow_m3h, fresh.flow_m3h);
  EXPECT_LT(worn.head_m, fresh.head_m);
  EXPECT_LT(worn.efficiency, fresh.efficiency);
}

TEST(StationModel, CavitationDropsFlowAndHeadAndRaisesVibration) {
  StationParams p = OnePump();
  Fault f;
  f.kind = FaultKind::kCavitation;
  f.start_s = 100;
  f.end_s = 200;
  f.severity = 0.8;
  StationModel m(p, FaultSchedule({f}));
  StationInputs u;
  StationState x = AtSpeed(m, 1450, &u);
  PumpOutputs before = m.PumpOutput(0, 50, x, u);
  PumpOutputs during = m.PumpOutput(0, 150, x, u);
  PumpOutputs after = m.PumpOutput(0, 250, x, u);
  EXPECT_LT(during.flow_m3h, 0.9 * before.flow_m3h);
  EXPECT_LT(during.head_m, before.head_m);
  EXPECT_GT(during.vibration_mm_s, before.vibration_mm_s + 3.0);
  EXPECT_DOUBLE_EQ(after.flow_m3h, before.flow_m3h);
  EXPECT_DOUBLE_EQ(during.cavitation, 0.8);
}

TEST(StationModel, TankMassBalanceIntegratesNetFlow) {
  // Pumps stopped, constant demand: L(t) = L0 − D·t / (3600·A).
  StationParams p = OnePump();
  p.tank.morning_peak = p.tank.evening_peak = 0;
  StationModel m(p, FaultSchedule());
  StationInputs u;
  StationState x0 = AtSpeed(m, 0, &u);
  StationSimulator sim(&m, x0, 0.5);
  const double d = p.tank.demand_scale_m3h * p.tank.demand_base;
  sim.AdvanceTo(1800, u);
  EXPECT_NEAR(sim.state().level_m, p.tank.initial_level_m - d * 1800 / 3600 / p.tank.area_m2, 1e-9);
  // And it empties, then stays at 0 (the clamp), never negative.
  sim.AdvanceTo(20000, u);
  EXPECT_EQ(sim.state().level_m, 0);
}

TEST(StationModel, TankFillsAlongTheClosedFormOfOnePumpAtConstantSpeed) {
  // No demand, one pump at constant speed: A·dL/dt = Q(L)/3600 with Q = sqrt((c − L)/K),
  // c = H0·s^2 − H_st, K = k + r. With u = sqrt(c − L): du/dt = −1/(2·3600·A·sqrt(K)), so
  // L(t) = c − (sqrt(c − L0) − t/(2·3600·A·sqrt(K)))^2.
  StationParams p = OnePump();
  p.tank.demand_scale_m3h = 0;
  p.tank.area_m2 = 50;
  StationModel m(p, FaultSchedule());
  StationInputs u;
  StationState x0 = AtSpeed(m, 1450, &u);
  StationSimulator sim(&m, x0, 0.5);
  const PumpParams& pp = p.pumps[0];
  double c = pp.shutoff_head_m - p.tank.static_lift_m;
  double K = pp.curve_k + pp.line_r;
  double rate = 1.0 / (2 * 3600 * p.tank.area_m2 * std::sqrt(K));
  for (double t : {300.0, 600.0, 1200.0}) {
    sim.AdvanceTo(t, u);
    double u_t = std::sqrt(c - p.tank.initial_level_m) - rate * t;
    EXPECT_NEAR(sim.state().level_m, c - u_t * u_t, 1e-7) << "t=" << t;
  }
  // It stops at the rim.
  sim.AdvanceTo(20000, u);
  EXPECT_EQ(sim.state().level_m, p.tank.height_m);
}

TEST(StationModel, MotorTemperatureApproachesSteadyStateExponentially) {
  StationParams p = OnePump();
  p.tank.area_m2 = 1e12;  // level (and so the operating point and power) effectively constant
  StationModel m(p, FaultSchedule());
  StationInputs u;
  StationState x0 = AtSpeed(m, 1450, &u);
  const PumpParams& pp = p.pumps[0];
  double power = m.Solve(0, 1450, p.tank.initial_level_m, 0, 0).power_kw;
  double t_ss = pp.ambient_c + pp.loss_k_per_kw * power;
  StationSimulator sim(&m, x0, 1.0);
  for (double k : {0.5, 1.0, 2.0, 5.0}) {
    double t = k * pp.thermal_tau_s;
    sim.AdvanceTo(t, u);
    double expected = t_ss + (pp.ambient_c - t_ss) * std::exp(-t / pp.thermal_tau_s);
    EXPECT_NEAR(sim.state().pumps[0].motor_temp_c, expected, 1e-6) << "t=" << t;
  }
}

TEST(StationModel, SpeedRampsToItsSetpointAtABoundedRate) {
  StationParams p = OnePump();
  StationModel m(p, FaultSchedule());
  StationInputs u;
  u.speed_setpoint_rpm = {1450.0};
  StationSimulator sim(&m, m.DefaultState(), 0.1);
  double prev = 0;
  for (int i = 1; i <= 600; ++i) {
    sim.AdvanceTo(i * 0.1, u);
    double n = sim.state().pumps[0].speed_rpm;
    EXPECT_LE(n - prev, p.pumps[0].max_ramp_rpm_s * 0.1 + 1e-9);
    EXPECT_GE(n, prev);
    prev = n;
  }
  EXPECT_NEAR(sim.state().pumps[0].speed_rpm, 1450, 0.5);
  // Commanded speeds are obeyed whatever the level: local control does not override them.
  sim.mutable_state().level_m = 4.9;
  sim.AdvanceTo(120, u);
  EXPECT_NEAR(sim.state().pumps[0].speed_rpm, 1450, 1e-3);
}

TEST(StationModel, LocalControlSlowsPumpsAsTheTankFills) {
  StationModel m(StationParams::Nominal(1), FaultSchedule());
  StationInputs u = m.DefaultInputs();
  StationState x = m.DefaultState();
  x.level_m = 1.0;
  double low = m.EffectiveSetpoint(0, x, u);
  x.level_m = 4.0;
  double high = m.EffectiveSetpoint(0, x, u);
  EXPECT_GT(low, high);
  u.speed_setpoint_rpm[0] = 2000;
  EXPECT_EQ(m.EffectiveSetpoint(0, x, u), 2000);
}

TEST(StationModel, WearGrowsMonotonically) {
  StationModel m(StationParams::FromSeed(3, 3), FaultSchedule::FromSeed(3, 3));
  StationSimulator sim(&m, m.DefaultState(), 0.5);
  StationInputs u = m.DefaultInputs();
  StationState start = sim.state();
  StationState prev = start;
  for (int minute = 1; minute <= 24 * 60; ++minute) {
    sim.AdvanceTo(minute * 60.0, u);
    for (size_t i = 0; i < prev.pumps.size(); ++i) {
      ASSERT_GE(sim.state().pumps[i].impeller_wear, prev.pumps[i].impeller_wear);
      ASSERT_GE(sim.state().pumps[i].bearing_wear, prev.pumps[i].bearing_wear);
    }
    prev = sim.state();
  }
  for (size_t i = 0; i < prev.pumps.size(); ++i) {
    EXPECT_GT(prev.pumps[i].impeller_wear, start.pumps[i].impeller_wear);
    EXPECT_GT(prev.pumps[i].bearing_wear, start.pumps[i].bearing_wear);
    EXPECT_LE(prev.pumps[i].bearing_wear, 1.0);
  }
}

TEST(StationModel, BearingDefectAcceleratesBearingWear) {
  StationParams p = StationParams::Nominal(2);
  Fault f;
  f.kind = FaultKind::kBearingDefect;
  f.pump = 1;
  f.start_s = 0;
  f.end_s = kInf;
  StationModel m(p, FaultSchedule({f}));
  StationInputs u;
  StationState x = AtSpeed(m, 1450, &u);
  StationSimulator sim(&m, x, 1.0);
  sim.AdvanceTo(3600, u);
  double healthy = sim.state().pumps[0].bearing_wear;
  double defect = sim.state().pumps[1].bearing_wear;
  EXPECT_GT(healthy, 0);
  EXPECT_NEAR(defect / healthy, p.pumps[1].bearing_defect_factor, 1e-6);
  // Worn bearings vibrate more.
  EXPECT_GT(m.PumpOutput(1, 3600, sim.state(), u).vibration_mm_s,
            m.PumpOutput(0, 3600, sim.state(), u).vibration_mm_s);
}

TEST(StationModel, FasterPumpsWearFaster) {
  StationModel m(StationParams::Nominal(2), FaultSchedule());
  StationInputs u;
  StationState x = AtSpeed(m, 1000, &u);
  x.pumps[1].speed_rpm = 2000;
  u.speed_setpoint_rpm[1] = 2000;
  StationSimulator sim(&m, x, 1.0);
  sim.AdvanceTo(3600, u);
  EXPECT_NEAR(sim.state().pumps[1].impeller_wear / sim.state().pumps[0].impeller_wear, 8.0, 1e-6);  // ∝ n^3
}

TEST(StationModel, DemandHasMorningAndEveningPeaks) {
  StationModel m(StationParams::Nominal(1), FaultSchedule());
  double night = m.Demand(3 * 3600), morning = m.Demand(7.5 * 3600), noon = m.Demand(13 * 3600),
         evening = m.Demand(19 * 3600);
  EXPECT_GT(morning, 1.8 * night);
  EXPECT_GT(evening, 1.5 * night);
  EXPECT_GT(morning, noon);
  EXPECT_GT(evening, noon);
  EXPECT_NEAR(m.Demand(3600), m.Demand(3600 + kSecondsPerDay), 1e-9);  // daily
}

TEST(StationModel, LevelStaysInRangeOverASimulatedDay) {
  for (uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    StationModel m(StationParams::FromSeed(seed, 3), FaultSchedule::FromSeed(seed, 3));
    StationSimulator sim(&m, m.DefaultState(), 0.5);
    StationInputs u = m.DefaultInputs();
    double lo = 1e9, hi = -1e9;
    for (int minute = 1; minute <= 24 * 60; ++minute) {
      sim.AdvanceTo(minute * 60.0, u);
      lo = std::min(lo, sim.state().level_m);
      hi = std::max(hi, sim.state().level_m);
    }
    // Well inside [0, 5]: the tank neither runs dry nor overflows.
    EXPECT_GT(lo, 1.0);
    EXPECT_LT(hi, 4.0);
  }
}

TEST(StationModel, FaultScheduleIsDeterministicFromSeed) {
  auto same = [](const FaultSchedule& a, const FaultSchedule& b) {
    if (a.faults().size() != b.faults().size()) return false;
    for (size_t i = 0; i < a.faults().size(); ++i) {
      const Fault &x = a.faults()[i], &y = b.faults()[i];
      if (x.kind != y.kind || x.pump != y.pump || x.start_s != y.start_s || x.end_s != y.end_s ||
          x.severity != y.severity || x.signal != y.signal || x.drift_per_s != y.drift_per_s) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(same(FaultSchedule::FromSeed(42, 3), FaultSchedule::FromSeed(42, 3)));
  int differing = 0;
  for (uint64_t s = 1; s <= 10; ++s)
    differing += !same(FaultSchedule::FromSeed(42, 3), FaultSchedule::FromSeed(s, 3));
  EXPECT_GE(differing, 9);
  // Pump i's faults do not depend on how many pumps there are.
  FaultSchedule three = FaultSchedule::FromSeed(9, 3), five = FaultSchedule::FromSeed(9, 5);
  std::vector<Fault> five_first3;
  for (const Fault& f : five.faults()) {
    if (f.pump < 3) five_first3.push_back(f);
  }
  EXPECT_TRUE(same(three, FaultSchedule(five_first3)));
  // Over many seeds every kind occurs, some pumps have none, start times are in the horizon.
  int kinds[4] = {0, 0, 0, 0};
  int pumps_without = 0;
  for (uint64_t s = 1; s <= 50; ++s) {
    FaultSchedule fs = FaultSchedule::FromSeed(s, 3, 3600);
    for (int pump = 0; pump < 3; ++pump) {
      bool any = false;
      for (const Fault& f : fs.faults()) any |= f.pump == pump;
      pumps_without += !any;
    }
    for (const Fault& f : fs.faults()) {
      ++kinds[static_cast<int>(f.kind)];
      EXPECT_GE(f.start_s, 0);
      EXPECT_LT(f.start_s, 3600);
      EXPECT_GT(f.end_s, f.start_s);
    }
  }
  for (int k : kinds) EXPECT_GT(k, 0);
  EXPECT_GT(pumps_without, 0);
}

TEST(StationModel, SensorDriftBiasesOneSignalAndDropoutRemovesOne) {
  Fault drift;
  drift.kind = FaultKind::kSensorDrift;
  drift.signal = PumpSignal::kMotorTemp;
  drift.start_s = 100;
  drift.end_s = kInf;
  drift.drift_per_s = 0.01;
  Fault drop;
  drop.kind = FaultKind::kSensorDropout;
  drop.signal = PumpSignal::kVibration;
  drop.start_s = 100;
  drop.end_s = 200;
  StationParams p = OnePump();
  p.noise = NoiseParams{0, 0, 0, 0, 0, 0, 0, 0};
  StationModel m(p, FaultSchedule({drift, drop}));
  StationInputs u;
  StationState x = AtSpeed(m, 1450, &u);
  std::mt19937_64 rng(1);
  EXPECT_DOUBLE_EQ(m.faults().SensorBias(0, PumpSignal::kMotorTemp, 1100), 10.0);
  EXPECT_EQ(m.faults().SensorBias(0, PumpSignal::kFlow, 1100), 0.0);

  StationReadings before = Measure(m, 50, x, u, rng);
  StationReadings during = Measure(m, 150, x, u, rng);
  StationReadings later = Measure(m, 1100, x, u, rng);
  auto val = [](const StationReadings& r, PumpSignal s) { return r.pumps[0].values[static_cast<size_t>(s)]; };
  ASSERT_TRUE(val(before, PumpSignal::kVibration).has_value());
  EXPECT_FALSE(val(during, PumpSignal::kVibration).has_value());
  EXPECT_TRUE(val(later, PumpSignal::kVibration).has_value());
  EXPECT_NEAR(*val(before, PumpSignal::kMotorTemp), x.pumps[0].motor_temp_c, 1e-12);
  EXPECT_NEAR(*val(later, PumpSignal::kMotorTemp), x.pumps[0].motor_temp_c + 10.0, 1e-9);
  EXPECT_NEAR(*val(later, PumpSignal::kFlow), *val(before, PumpSignal::kFlow), 1e-12);
}

TEST(StationModel, MeasurementNoiseIsGaussianWithTheConfiguredSigma) {
  StationParams p = OnePump();
  StationModel m(p, FaultSchedule());
  StationInputs u;
  StationState x = AtSpeed(m, 1450, &u);
  double truth = m.PumpOutput(0, 0, x, u).speed_rpm;
  std::mt19937_64 rng(5);
  double sum = 0, sum2 = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double e = *Measure(m, 0, x, u, rng).pumps[0].values[static_cast<size_t>(PumpSignal::kSpeed)] - truth;
    sum += e;
    sum2 += e * e;
  }
  double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
  EXPECT_NEAR(mean, 0, 0.05);
  EXPECT_NEAR(sd, p.noise.speed_rpm, 0.05);
}

TEST(StationModel, SameSeedGivesIdenticalParametersAndDifferentSeedsDiffer) {
  StationParams a = StationParams::FromSeed(11, 3), b = StationParams::FromSeed(11, 3),
                c = StationParams::FromSeed(12, 3);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(a.pumps[i].shutoff_head_m, b.pumps[i].shutoff_head_m);
    EXPECT_EQ(a.pumps[i].initial_impeller_wear, b.pumps[i].initial_impeller_wear);
    EXPECT_NE(a.pumps[i].shutoff_head_m, c.pumps[i].shutoff_head_m);
  }
  EXPECT_NE(a.pumps[0].shutoff_head_m, a.pumps[1].shutoff_head_m);
}

}  // namespace
}  // namespace doppel::plant

namespace doppel::plant {
namespace {

// PumpParams is all doubles: the number of fields that differ between two.
int FieldsThatDiffer(const PumpParams& a, const PumpParams& b) {
  static_assert(sizeof(PumpParams) % sizeof(double) == 0);
  double x[sizeof(PumpParams) / sizeof(double)], y[sizeof(PumpParams) / sizeof(double)];
  std::memcpy(x, &a, sizeof a);
  std::memcpy(y, &b, sizeof b);
  int n = 0;
  for (size_t i = 0; i < std::size(x); ++i) n += x[i] != y[i] ? 1 : 0;
  return n;
}

TEST(PumpParameters, EachNameSetsItsOwnFieldOnlyWithOrWithoutAPrefix) {
  const PumpParams defaults;
  PumpParams all;
  for (const std::string& name : PumpParameterNames()) {
    PumpParams p, q;
    ASSERT_TRUE(SetPumpParameter(&p, name, 123.5)) << name;
    EXPECT_EQ(FieldsThatDiffer(p, defaults), 1) << name;
    ASSERT_TRUE(SetPumpParameter(&q, "pump." + name, 123.5)) << name;
    EXPECT_EQ(FieldsThatDiffer(p, q), 0) << name;
    ASSERT_TRUE(SetPumpParameter(&all, name, 123.5));
  }
  // Every name has a field of its own.
  EXPECT_EQ(FieldsThatDiffer(all, defaults), static_cast<int>(PumpParameterNames().size()));
  PumpParams m;
  EXPECT_TRUE(SetPumpParameter(&m, "motor.thermal_tau_s", 900));
  EXPECT_EQ(m.thermal_tau_s, 900);
  EXPECT_TRUE(SetPumpParameter(&m, "shutoff_head_m", 47));
  EXPECT_EQ(m.shutoff_head_m, 47);
}

TEST(PumpParameters, UnknownNamesAndWearsChangeNothing) {
  PumpParams p;
  for (const char* name : {"impeller_wear", "bearing_wear", "shutoff_hed_m", "", "pump.", "tank.area_m2"}) {
    EXPECT_FALSE(SetPumpParameter(&p, name, 1)) << name;
  }
  EXPECT_EQ(FieldsThatDiffer(p, PumpParams{}), 0);
}

}  // namespace
}  // namespace doppel::plant
