// Model-exchange FMUs as physics::Systems: integrated by the project's RK4 and CVODE and
// checked against independent integrations and closed forms; what-ifs and the EKF on top. Every
// test runs twice, on the FMI 2.0 and the FMI 3.0 build of the same C model (tests/fmu/models):
// one suite for both implementations of FmuInstance's model-exchange calls.
#include "doppel/fmu/fmu_system.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "doppel/estimate/estimator.h"
#include "doppel/physics/integrator.h"
#include "fmu/fmu_test_util.h"

namespace doppel::fmu {
namespace {

using physics::Simulator;

struct Loaded {
  doppel::testing::TempDir dir;
  std::shared_ptr<Fmu> fmu;
  std::unique_ptr<FmuSystem> sys;
  explicit Loaded(const std::string& id, const FmuSystemOptions& o = {}) {
    auto f = Fmu::Load(testing::PackFmu(dir, id));
    if (!f.ok()) throw std::runtime_error(f.status().ToString());
    fmu = *f;
    auto s = FmuSystem::Create(fmu, o);
    if (!s.ok()) throw std::runtime_error(s.status().ToString());
    sys = std::move(s).value();
  }
};

// The parameter is the test model's id suffix: "" (FMI 2.0) or "_fmi3" (FMI 3.0).
class FmuSystemTest : public ::testing::TestWithParam<const char*> {
 protected:
  static std::string Model(const std::string& base) { return base + GetParam(); }
};

// Independent reference: classical RK4 written out here on the Van der Pol equations.
Eigen::Vector2d VanDerPolReference(double mu, Eigen::Vector2d x, double t_end, double dt) {
  auto f = [mu](const Eigen::Vector2d& s) {
    return Eigen::Vector2d(s[1], mu * (1 - s[0] * s[0]) * s[1] - s[0]);
  };
  const int n = static_cast<int>(std::lround(t_end / dt));
  for (int i = 0; i < n; ++i) {
    Eigen::Vector2d k1 = f(x), k2 = f(x + 0.5 * dt * k1), k3 = f(x + 0.5 * dt * k2), k4 = f(x + dt * k3);
    x += dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
  }
  return x;
}

TEST_P(FmuSystemTest, VanDerPolDeclaresStatesOutputsAndTunableParameter) {
  Loaded m(Model("van_der_pol"));
  ASSERT_EQ(m.sys->num_states(), 2);
  EXPECT_EQ(m.sys->states()[0].name, "x0");
  EXPECT_EQ(m.sys->states()[0].default_value, 2.0);
  ASSERT_EQ(m.sys->num_parameters(), 1);
  EXPECT_EQ(m.sys->parameters()[0].name, "mu");
  EXPECT_EQ(m.sys->num_outputs(), 2);
  EXPECT_EQ(m.sys->num_inputs(), 0);
}

TEST_P(FmuSystemTest, VanDerPolWithRk4AndCvodeMatchesAnIndependentIntegration) {
  Loaded m(Model("van_der_pol"));
  const double mu = 1.5, t_end = 10;
  const Eigen::Vector2d ref = VanDerPolReference(mu, Eigen::Vector2d(2, 0), t_end, 1e-4);
  for (bool cvode : {false, true}) {
    auto integ = cvode ? physics::MakeCvodeIntegrator(physics::CvodeOptions{
                             physics::CvodeOptions::Method::kBdf, 1e-9, 1e-11, 0, 0, 100000, true})
                       : physics::MakeRk4Integrator(physics::Rk4Options{1e-3, true});
    ASSERT_TRUE(integ.ok());
    auto ctx = m.sys->CreateDefaultContext();
    ASSERT_TRUE(m.sys->SetValue(&ctx, physics::SignalKind::kParameter, "mu", mu).ok());
    Simulator sim(*m.sys, ctx, std::move(integ).value());
    ASSERT_TRUE(sim.AdvanceTo(t_end).ok()) << m.sys->last_error().ToString();
    EXPECT_NEAR(sim.context().state[0], ref[0], cvode ? 1e-5 : 1e-8) << (cvode ? "cvode" : "rk4");
    EXPECT_NEAR(sim.context().state[1], ref[1], cvode ? 1e-5 : 1e-8) << (cvode ? "cvode" : "rk4");
    EXPECT_NEAR(sim.Outputs()[0], sim.context().state[0], 1e-15);
  }
  EXPECT_TRUE(m.sys->last_error().ok());
}

TEST_P(FmuSystemTest, FiniteDifferenceJacobianMatchesTheAnalyticOne) {
  Loaded m(Model("van_der_pol"));
  const Eigen::Vector2d x(0.7, -1.3);
  const double mu = 2.0;
  auto xa = physics::ToAutoDiff(x, 3, true, 0);
  auto pa = physics::ToAutoDiff(Eigen::VectorXd::Constant(1, mu), 3, true, 2);
  physics::VectorX<physics::AutoDiffXd> ua(0), xdot(2);
  m.sys->CalcDerivatives(0.0, xa, ua, pa, xdot);
  Eigen::MatrixXd j = physics::JacobianOf(xdot, 3);
  Eigen::MatrixXd want(2, 3);
  want << 0, 1, 0,  //
      -2 * mu * x[0] * x[1] - 1, mu * (1 - x[0] * x[0]), (1 - x[0] * x[0]) * x[1];
  EXPECT_LT((j - want).cwiseAbs().maxCoeff(), 1e-8) << j;
  EXPECT_NEAR(physics::ValuesOf(xdot)[1], mu * (1 - x[0] * x[0]) * x[1] - x[0], 1e-15);
}

// The fixed-size derivative scalar (what an EKF with ≤ 8 augmented states uses) gets the same
// difference-quotient Jacobian through the FMU.
TEST_P(FmuSystemTest, FixedSizeAutoDiffGetsTheSameJacobian) {
  Loaded m(Model("van_der_pol"));
  const Eigen::Vector2d x(0.7, -1.3);
  const double mu = 2.0;
  physics::VectorX<physics::AutoDiff8> xa(2), pa(1), ua(0), xdot(2);
  for (int i = 0; i < 2; ++i) {
    xa[i].value() = x[i];
    xa[i].derivatives().setZero();
    xa[i].derivatives()[i] = 1;
  }
  pa[0].value() = mu;
  pa[0].derivatives().setZero();
  pa[0].derivatives()[2] = 1;
  m.sys->CalcDerivatives(0.0, xa, ua, pa, xdot);
  Eigen::MatrixXd want(2, 3);
  want << 0, 1, 0,  //
      -2 * mu * x[0] * x[1] - 1, mu * (1 - x[0] * x[0]), (1 - x[0] * x[0]) * x[1];
  for (int i = 0; i < 2; ++i) {
    EXPECT_LT((xdot[i].derivatives().head(3).transpose() - want.row(i)).cwiseAbs().maxCoeff(), 1e-8);
    EXPECT_TRUE(xdot[i].derivatives().tail(5).isZero(0));
  }
  EXPECT_NEAR(xdot[1].value(), mu * (1 - x[0] * x[0]) * x[1] - x[0], 1e-15);
}

TEST_P(FmuSystemTest, DrainingTankFollowsTheClosedForm) {
  FmuSystemOptions o;
  o.start_values = {{"h0", 1.5}};
  o.rename = {{"h", "level_m"}, {"q_out", "outflow_m3s"}};
  Loaded m(Model("tank"), o);
  auto integ = physics::MakeRk4Integrator(physics::Rk4Options{0.5, true});
  ASSERT_TRUE(integ.ok());
  Simulator sim(*m.sys, m.sys->CreateDefaultContext(), std::move(integ).value());
  EXPECT_EQ(sim.context().state[0], 1.5);
  const double a = 2.0, k = 0.05, h0 = 1.5;
  // h(t) = (sqrt(h0) - k t / (2 A))^2 with no inflow, until empty at 2 A sqrt(h0) / k = 98 s.
  for (double t : {10.0, 40.0, 80.0}) {
    ASSERT_TRUE(sim.AdvanceTo(t).ok());
    const double want = std::pow(std::sqrt(h0) - k * t / (2 * a), 2);
    EXPECT_NEAR(sim.context().state[0], want, 1e-9) << t;
    auto y = sim.Outputs();
    EXPECT_NEAR(y[*m.sys->Find(physics::SignalKind::kOutput, "outflow_m3s")], k * std::sqrt(want), 1e-9);
  }
}

TEST_P(FmuSystemTest, WhatIfForkWithMoreInflowReachesTheHigherSteadyState) {
  Loaded m(Model("tank"));
  auto make = [] { return std::move(physics::MakeCvodeIntegrator()).value(); };
  Simulator base(*m.sys, m.sys->CreateDefaultContext(), make());
  ASSERT_TRUE(m.sys->SetValue(&base.mutable_context(), physics::SignalKind::kInput, "q_in", 0.03).ok());
  ASSERT_TRUE(base.AdvanceTo(100).ok());
  physics::Context fork = base.context();  // what-if: open the inlet further from here
  ASSERT_TRUE(m.sys->SetValue(&fork, physics::SignalKind::kInput, "q_in", 0.06).ok());
  Simulator what_if(*m.sys, fork, make());
  ASSERT_TRUE(base.AdvanceTo(4000).ok());
  ASSERT_TRUE(what_if.AdvanceTo(4000).ok());
  // Steady state: q_in = k sqrt(h)  =>  h = (q_in / k)^2.
  EXPECT_NEAR(base.context().state[0], std::pow(0.03 / 0.05, 2), 1e-4);
  EXPECT_NEAR(what_if.context().state[0], std::pow(0.06 / 0.05, 2), 1e-3);
}

TEST_P(FmuSystemTest, EkfEstimatesTheTankOutletCoefficientThroughTheFmu) {
  Loaded m(Model("tank"));
  // Truth: k = 0.04 (the model's nominal is 0.05), q_in = 0.02, integrated independently.
  const double a = 2.0, k_true = 0.04, q_in = 0.02;
  double h = 1.0;
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 0.005);
  estimate::FilterModel fm{m.sys.get(), {}, {"k"}, {"h"}};
  estimate::EstimatorOptions eo;
  eo.initial_std = Eigen::Vector2d(0.05, 0.02);
  eo.process_std = Eigen::Vector2d(1e-4, 1e-5);
  eo.measurement_std = Eigen::VectorXd::Constant(1, 0.005);
  eo.max_step_s = 1.0;
  auto ekf = estimate::MakeExtendedKalmanFilter(fm, eo);
  ASSERT_TRUE(ekf.ok()) << ekf.status().ToString();
  ASSERT_TRUE((*ekf)->SetInputs(Eigen::VectorXd::Constant(1, q_in)).ok());
  for (int t = 1; t <= 1500; ++t) {
    for (int i = 0; i < 100; ++i) h += 0.01 * (q_in - k_true * std::sqrt(h)) / a;  // Euler, 10 ms
    auto r = (*ekf)->Update(estimate::Measurement(t, Eigen::VectorXd::Constant(1, h + noise(rng))));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  const Eigen::VectorXd mean = (*ekf)->mean();
  EXPECT_NEAR(mean[1], k_true, 0.002);
  EXPECT_NEAR(mean[0], h, 0.01);
}

INSTANTIATE_TEST_SUITE_P(Fmi2AndFmi3, FmuSystemTest, ::testing::Values("", "_fmi3"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param).empty() ? std::string("Fmi2") : std::string("Fmi3");
                         });

}  // namespace
}  // namespace doppel::fmu
