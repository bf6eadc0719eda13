// Diagram wiring and the pumping-station model library.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "doppel/physics/diagram.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/linear_system.h"
#include "doppel/physics/station.h"

namespace doppel::physics {
namespace {

std::unique_ptr<LinearSystem> Scalar(const std::string& name, double a, double b, double c, double d,
                                     double x0, std::string unit = "1") {
  LinearSystemSpec s;
  s.A = Eigen::MatrixXd::Constant(1, 1, a);
  s.B = Eigen::MatrixXd::Constant(1, 1, b);
  s.C = Eigen::MatrixXd::Constant(1, 1, c);
  if (d != 0) s.D = Eigen::MatrixXd::Constant(1, 1, d);
  s.initial_state = Eigen::VectorXd::Constant(1, x0);
  s.input_units = {unit};
  s.output_units = {unit};
  return std::move(LinearSystem::Create(name, s)).value();
}

TEST(DiagramTest, WiresOutputsToInputsByName) {
  // a: xdot = -x (x0 = 1), y = x.  b: xdot = u (x0 = 0).  b.x(t) = 1 - e^{-t}.
  DiagramBuilder b;
  b.AddSystem(Scalar("a", -1, 0, 1, 0, 1.0));
  b.AddSystem(Scalar("b", 0, 1, 1, 0, 0.0));
  b.Connect("a", "y0", "b", "u0");
  b.ExportOutput("b", "y0", "integral");
  auto d = std::move(b).Build("chain");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  const Diagram& dg = **d;
  EXPECT_EQ(dg.num_states(), 2);
  EXPECT_EQ(dg.num_inputs(), 1);  // a.u0 is unwired
  EXPECT_EQ(dg.inputs()[0].name, "a.u0");
  EXPECT_EQ(dg.states()[1].name, "b.x0");
  EXPECT_EQ(dg.IndexOf(SignalKind::kOutput, "integral"), 1);
  EXPECT_EQ(dg.IndexOf(SignalKind::kOutput, "a.y0"), 0);
  Simulator sim(dg, dg.CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = 0.01})).value());
  ASSERT_TRUE(sim.AdvanceTo(3.0).ok());
  EXPECT_NEAR(sim.context().state[0], std::exp(-3.0), 1e-9);
  EXPECT_NEAR(sim.Outputs()[1], 1 - std::exp(-3.0), 1e-9);
}

TEST(DiagramTest, DirectFeedthroughIsEvaluatedInDependencyOrder) {
  // g1: y = 2u (pure gain, added second), g0: y = 3u (added first, fed by g1).
  DiagramBuilder b;
  b.AddSystem(Scalar("g0", 0, 0, 0, 3, 0));
  b.AddSystem(Scalar("g1", 0, 0, 0, 2, 0));
  b.Connect("g1", "y0", "g0", "u0");
  auto d = std::move(b).Build("gains");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  Context c = (*d)->CreateDefaultContext();
  c.inputs[0] = 5.0;  // g1.u0
  EXPECT_EQ((*d)->inputs()[0].name, "g1.u0");
  EXPECT_TRUE((*d)->HasDirectFeedthrough());
  EXPECT_DOUBLE_EQ((*d)->EvalOutputs(c)[0], 30.0);
}

TEST(DiagramTest, RejectsAlgebraicLoopsBadNamesAndUnitMismatch) {
  {
    DiagramBuilder b;
    b.AddSystem(Scalar("g0", 0, 0, 0, 3, 0));
    b.AddSystem(Scalar("g1", 0, 0, 0, 2, 0));
    b.Connect("g1", "y0", "g0", "u0");
    b.Connect("g0", "y0", "g1", "u0");
    auto d = std::move(b).Build("loop");
    EXPECT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find("algebraic loop"), std::string::npos);
  }
  {
    DiagramBuilder b;
    b.AddSystem(Scalar("a", -1, 0, 1, 0, 0));
    b.Connect("a", "nope", "a", "u0");
    EXPECT_EQ(std::move(b).Build("d").status().code(), StatusCode::kNotFound);
  }
  {
    DiagramBuilder b;
    b.AddSystem(Scalar("a", -1, 0, 1, 0, 0, "kW"));
    b.AddSystem(Scalar("b", -1, 1, 1, 0, 0, "W"));
    b.Connect("a", "y0", "b", "u0");
    auto d = std::move(b).Build("units");
    EXPECT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find("units differ"), std::string::npos);
  }
  {
    DiagramBuilder b;
    b.AddSystem(Scalar("a", -1, 0, 1, 0, 0));
    b.AddSystem(Scalar("a", -1, 0, 1, 0, 0));
    EXPECT_EQ(std::move(b).Build("dup").status().code(), StatusCode::kAlreadyExists);
  }
}

// Pump outputs at speed n and level L.
Eigen::VectorXd PumpAt(const PumpModel& pump, Context c, double n, double level) {
  c.state[0] = n;
  c.inputs[PumpModel::kLevel] = level;
  return pump.EvalOutputs(c);
}

TEST(PumpModelTest, AffinityLawsHoldWithoutStaticHead) {
  PumpModel pump;
  Context c = pump.CreateDefaultContext();
  c.parameters[PumpModel::kStaticLift] = 0;
  const Eigen::VectorXd a = PumpAt(pump, c, 1000, 0.0), b = PumpAt(pump, c, 1500, 0.0);
  const double r = 1.5;
  EXPECT_NEAR(b[PumpModel::kFlow] / a[PumpModel::kFlow], r, 1e-12);
  EXPECT_NEAR(b[PumpModel::kHead] / a[PumpModel::kHead], r * r, 1e-12);
  EXPECT_NEAR(b[PumpModel::kPressure] / a[PumpModel::kPressure], r * r, 1e-12);
  EXPECT_NEAR(b[PumpModel::kPower] / a[PumpModel::kPower], r * r * r, 1e-12);
  EXPECT_NEAR(b[PumpModel::kEfficiency], a[PumpModel::kEfficiency], 1e-12);
}

TEST(PumpModelTest, NominalOperatingPointsMatchPlantTable) {
  // docs/plant.md, "Nominal pump at L = 2.5 m".
  PumpModel pump;
  Context c = pump.CreateDefaultContext();
  struct Row {
    double n, q, h, p, eta, kw;
  };
  for (const Row& row :
       {Row{1100, 60.9, 23.4, 2.30, 0.61, 6.8}, Row{1300, 122.1, 26.2, 2.57, 0.77, 12.0},
        Row{1450, 156.7, 28.6, 2.81, 0.78, 16.7}, Row{1800, 226.1, 35.3, 3.46, 0.74, 31.1}}) {
    Eigen::VectorXd y = PumpAt(pump, c, row.n, 2.5);
    EXPECT_NEAR(y[PumpModel::kFlow], row.q, 0.06) << row.n;
    EXPECT_NEAR(y[PumpModel::kHead], row.h, 0.06) << row.n;
    EXPECT_NEAR(y[PumpModel::kPressure], row.p, 0.006) << row.n;
    EXPECT_NEAR(y[PumpModel::kEfficiency], row.eta, 0.006) << row.n;
    EXPECT_NEAR(y[PumpModel::kPower], row.kw, 0.06) << row.n;
  }
  // Below ≈1025 rpm the pump cannot lift: no flow.
  EXPECT_EQ(PumpAt(pump, c, 1000, 2.5)[PumpModel::kFlow], 0.0);
}

TEST(PumpModelTest, WearAndBiasesMoveTheRightOutputs) {
  PumpModel pump;
  Context c = pump.CreateDefaultContext();
  const Eigen::VectorXd base = PumpAt(pump, c, 1300, 2.5);
  Context worn = c;
  worn.parameters[PumpModel::kImpellerWear] = 0.2;
  worn.parameters[PumpModel::kBearingWear] = 0.5;
  const Eigen::VectorXd w = PumpAt(pump, worn, 1300, 2.5);
  EXPECT_LT(w[PumpModel::kFlow], base[PumpModel::kFlow] - 5);
  EXPECT_LT(w[PumpModel::kPressure], base[PumpModel::kPressure]);
  EXPECT_NEAR(w[PumpModel::kVibration] / base[PumpModel::kVibration], 1 + 4 * 0.5, 1e-12);
  Context biased = c;
  biased.parameters[PumpModel::kFlowBias] = 7;
  const Eigen::VectorXd b = PumpAt(pump, biased, 1300, 2.5);
  EXPECT_DOUBLE_EQ(b[PumpModel::kFlow], base[PumpModel::kFlow] + 7);
  EXPECT_DOUBLE_EQ(b[PumpModel::kFlowTrue], base[PumpModel::kFlowTrue]);
  EXPECT_DOUBLE_EQ(b[PumpModel::kPower], base[PumpModel::kPower]);
}

// The fixed-size derivative scalar (AutoDiff8, used by estimators with ≤ 8 augmented states) and
// the dynamic one run the same model code: identical values and partials on the pump twin
// diagram, for derivatives and outputs, with unseeded directions left zero.
TEST(PumpTwinTest, FixedSizeAutoDiffGivesTheDynamicOnesPartials) {
  auto twin = MakePumpTwinDiagram();
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  const Diagram& d = **twin;
  Context c = d.CreateDefaultContext();
  c.state << 1310, 48;
  c.parameters[*d.Find(SignalKind::kParameter, "pump.impeller_wear")] = 0.15;
  c.parameters[*d.Find(SignalKind::kParameter, "pump.bearing_wear")] = 0.2;
  const int nx = d.num_states(), nu = d.num_inputs(), np = d.num_parameters();
  // Seed the states and the first three parameters: 5 directions of 8.
  auto seed_xd = [&](const Eigen::VectorXd& v, int offset, int count) {
    VectorX<AutoDiffXd> a = ToAutoDiff(v, 5, false);
    for (int i = 0; i < count; ++i) a[i].derivatives()[offset + i] = 1;
    return a;
  };
  auto seed_8 = [&](const Eigen::VectorXd& v, int offset, int count) {
    VectorX<AutoDiff8> a(v.size());
    for (Eigen::Index i = 0; i < v.size(); ++i) {
      a[i].value() = v[i];
      a[i].derivatives().setZero();
      if (i < count) a[i].derivatives()[offset + i] = 1;
    }
    return a;
  };
  const VectorX<AutoDiffXd> xd = seed_xd(c.state, 0, nx), ud = seed_xd(c.inputs, 0, 0),
                            pd = seed_xd(c.parameters, nx, 3);
  const VectorX<AutoDiff8> x8 = seed_8(c.state, 0, nx), u8 = seed_8(c.inputs, 0, 0),
                           p8 = seed_8(c.parameters, nx, 3);
  ASSERT_EQ(ud.size(), nu);
  ASSERT_EQ(pd.size(), np);
  VectorX<AutoDiffXd> fd(nx), yd(d.num_outputs());
  VectorX<AutoDiff8> f8(nx), y8(d.num_outputs());
  d.CalcDerivatives(0.0, xd, ud, pd, fd);
  d.CalcOutputs(0.0, xd, ud, pd, yd);
  d.CalcDerivatives(0.0, x8, u8, p8, f8);
  d.CalcOutputs(0.0, x8, u8, p8, y8);
  auto expect_same = [](const VectorX<AutoDiffXd>& a, const VectorX<AutoDiff8>& b, const char* what) {
    for (Eigen::Index i = 0; i < a.size(); ++i) {
      EXPECT_DOUBLE_EQ(a[i].value(), b[i].value()) << what << " " << i;
      Eigen::VectorXd da = Eigen::VectorXd::Zero(8);
      da.head(a[i].derivatives().size()) = a[i].derivatives();
      for (int k = 0; k < 8; ++k)
        EXPECT_NEAR(da[k], b[i].derivatives()[k], 1e-12 * (1 + std::abs(da[k])))
            << what << " " << i << "," << k;
      EXPECT_TRUE(b[i].derivatives().tail(3).isZero(0)) << what << " " << i;
    }
  };
  expect_same(fd, f8, "xdot");
  expect_same(yd, y8, "y");
  // The wear partials are really there (the comparison is not of zeros).
  EXPECT_NE(y8[*d.Find(SignalKind::kOutput, "flow_m3h")].derivatives()[nx], 0.0);
}

TEST(PumpTwinTest, MotorTemperatureSettlesAtPlantSteadyState) {
  auto twin = MakePumpTwinDiagram();
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  const Diagram& d = **twin;
  for (const char* n :
       {"flow_m3h", "discharge_pressure_bar", "speed_rpm", "power_kw", "motor_temp_c", "vibration_mm_s"}) {
    EXPECT_GE(d.IndexOf(SignalKind::kOutput, n), 0) << n;
  }
  Context c = d.CreateDefaultContext();
  ASSERT_TRUE(d.SetValue(&c, SignalKind::kInput, "speed_setpoint_rpm", 1450).ok());
  ASSERT_TRUE(d.SetValue(&c, SignalKind::kInput, "level_m", 2.5).ok());
  Simulator sim(d, c, std::move(MakeRk4Integrator({.step_s = 0.5})).value());
  ASSERT_TRUE(sim.AdvanceTo(12 * 1200.0).ok());
  Eigen::VectorXd y = sim.Outputs();
  EXPECT_NEAR(y[d.IndexOf(SignalKind::kOutput, "speed_rpm")], 1450, 1e-6);
  EXPECT_NEAR(y[d.IndexOf(SignalKind::kOutput, "motor_temp_c")], 66.8, 0.1);  // docs/plant.md table
}

TEST(StationTest, DiagramHasDtdlNamedSignalsAndConservesWater) {
  auto st = MakeStationDiagram(3);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  const Diagram& d = **st;
  for (int i = 1; i <= 3; ++i) {
    const std::string p = "pump-" + std::to_string(i) + ".";
    for (const char* n :
         {"flow_m3h", "discharge_pressure_bar", "speed_rpm", "power_kw", "motor_temp_c", "vibration_mm_s"}) {
      EXPECT_GE(d.IndexOf(SignalKind::kOutput, p + n), 0) << p + n;
    }
    EXPECT_GE(d.IndexOf(SignalKind::kInput, p + "speed_setpoint_rpm"), 0);
    EXPECT_GE(d.IndexOf(SignalKind::kParameter, p + "impeller_wear"), 0);
  }
  EXPECT_EQ(d.num_inputs(), 3);
  EXPECT_GE(d.IndexOf(SignalKind::kOutput, "tank-1.level_m"), 0);
  EXPECT_GE(d.IndexOf(SignalKind::kOutput, "tank-1.demand_m3h"), 0);

  // Integrate the tank balance independently (trapezoid on the outputs) and compare.
  Simulator sim(d, d.CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = 0.5})).value());
  const int lvl = d.IndexOf(SignalKind::kOutput, "tank-1.level_m");
  const int dem = d.IndexOf(SignalKind::kOutput, "tank-1.demand_m3h");
  std::vector<int> flows;
  for (int i = 1; i <= 3; ++i)
    flows.push_back(d.IndexOf(SignalKind::kOutput, "pump-" + std::to_string(i) + ".flow_m3h"));
  auto net = [&](const Eigen::VectorXd& y) {
    double q = -y[dem];
    for (int f : flows) q += y[f];
    return q / 3600.0 / 200.0;
  };
  double level = sim.Outputs()[lvl], prev = net(sim.Outputs());
  for (int k = 1; k <= 7200; ++k) {
    ASSERT_TRUE(sim.AdvanceTo(k * 1.0).ok());
    double now = net(sim.Outputs());
    level += 0.5 * (prev + now);
    prev = now;
  }
  EXPECT_NEAR(sim.Outputs()[lvl], level, 2e-3);
  EXPECT_GT(sim.Outputs()[lvl], 1.5);
  EXPECT_LT(sim.Outputs()[lvl], 3.5);
}

TEST(StationTest, WhatIfThroughputWithRk4) {
  // Informational: simulated seconds per wall second for the 3-pump station (RK4, 3 s step,
  // stable since the fastest time constant is the 2 s speed lag), and its accuracy against a
  // 0.25 s reference over one day.
  auto st = MakeStationDiagram(3);
  ASSERT_TRUE(st.ok());
  Simulator sim(**st, (*st)->CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = 3.0})).value());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sim.AdvanceTo(86400.0).ok());
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double rate = 86400.0 / wall;
  RecordProperty("sim_seconds_per_wall_second", std::to_string(rate));
  std::printf("station RK4 (3 s step): %.3g simulated s per wall s\n", rate);
  const Eigen::VectorXd y = sim.Outputs();
  EXPECT_TRUE(y.allFinite());
  Simulator ref(**st, (*st)->CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = 0.25})).value());
  ASSERT_TRUE(ref.AdvanceTo(86400.0).ok());
  const Eigen::VectorXd yr = ref.Outputs();
  EXPECT_NEAR(y[(*st)->IndexOf(SignalKind::kOutput, "tank-1.level_m")],
              yr[(*st)->IndexOf(SignalKind::kOutput, "tank-1.level_m")], 1e-3);
  EXPECT_NEAR(y[(*st)->IndexOf(SignalKind::kOutput, "pump-1.motor_temp_c")],
              yr[(*st)->IndexOf(SignalKind::kOutput, "pump-1.motor_temp_c")], 1e-2);
}

}  // namespace
}  // namespace doppel::physics
