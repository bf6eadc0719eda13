// Integrators against closed-form solutions.
#include "doppel/physics/integrator.h"

#include <gtest/gtest.h>

#include <cmath>

#include "doppel/physics/linear_system.h"

namespace doppel::physics {
namespace {

// xdot = -k x; x(t) = x0 e^{-kt}.
std::unique_ptr<LinearSystem> Decay(double k) {
  LinearSystemSpec s;
  s.A = Eigen::MatrixXd::Constant(1, 1, -k);
  s.C = Eigen::MatrixXd::Identity(1, 1);
  s.initial_state = Eigen::VectorXd::Constant(1, 1.0);
  return std::move(LinearSystem::Create("decay", s)).value();
}

// Harmonic oscillator q'' = -w^2 q; q = cos(wt), v = -w sin(wt) from (1, 0).
std::unique_ptr<LinearSystem> Oscillator(double w) {
  LinearSystemSpec s;
  s.A.resize(2, 2);
  s.A << 0, 1, -w * w, 0;
  s.C = Eigen::MatrixXd::Identity(2, 2);
  s.initial_state = Eigen::Vector2d(1, 0);
  s.state_names = {"q", "v"};
  return std::move(LinearSystem::Create("osc", s)).value();
}

// Stiff: xdot = -L (x - cos t) - sin t; x(t) = cos t + (x0 - 1) e^{-L t}.
class Stiff final : public LeafSystem<Stiff> {
 public:
  explicit Stiff(double lambda) : LeafSystem("stiff"), lambda_(lambda) { DeclareState("x", "1", 2.0); }
  template <typename T>
  void DoCalcDerivatives(double t, InVec<T> x, InVec<T>, InVec<T>, OutVec<T> xdot) const {
    xdot[0] = -lambda_ * (x[0] - std::cos(t)) - std::sin(t);
  }
  template <typename T>
  void DoCalcOutputs(double, InVec<T>, InVec<T>, InVec<T>, OutVec<T>) const {}

 private:
  double lambda_;
};

double Rk4DecayError(double h) {
  auto sys = Decay(1.0);
  Simulator sim(*sys, sys->CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = h})).value());
  EXPECT_TRUE(sim.AdvanceTo(2.0).ok());
  return std::abs(sim.context().state[0] - std::exp(-2.0));
}

TEST(Rk4Test, ExponentialDecayErrorIsFourthOrder) {
  const double e1 = Rk4DecayError(0.1), e2 = Rk4DecayError(0.05);
  EXPECT_LT(e1, 1e-6);
  // Halving h divides the global error by 2^4.
  EXPECT_NEAR(std::log2(e1 / e2), 4.0, 0.15);
}

TEST(Rk4Test, HarmonicOscillatorMatchesClosedFormAndOrder) {
  const double w = 2.0;
  auto sys = Oscillator(w);
  auto err = [&](double h) {
    Simulator sim(*sys, sys->CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = h})).value());
    EXPECT_TRUE(sim.AdvanceTo(5.0).ok());
    return (sim.context().state - Eigen::Vector2d(std::cos(w * 5), -w * std::sin(w * 5))).norm();
  };
  const double e1 = err(0.02), e2 = err(0.01);
  EXPECT_LT(e1, 1e-6);
  EXPECT_NEAR(std::log2(e1 / e2), 4.0, 0.2);
}

TEST(Rk4Test, LandsExactlyOnTargetTimes) {
  auto sys = Decay(1.0);
  Simulator sim(*sys, sys->CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = 0.3})).value());
  ASSERT_TRUE(sim.AdvanceTo(1.0).ok());
  EXPECT_EQ(sim.context().time, 1.0);
  EXPECT_NEAR(sim.context().state[0], std::exp(-1.0), 1e-4);
  EXPECT_FALSE(sim.AdvanceTo(0.5).ok());  // backwards
}

TEST(Rk4Test, UnstableStepIsReportedNotCrashed) {
  auto sys = Decay(1000.0);
  Simulator sim(*sys, sys->CreateDefaultContext(), std::move(MakeRk4Integrator({.step_s = 0.1})).value());
  Status s = sim.AdvanceTo(1000.0);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
}

TEST(IntegratorOptionsTest, ValidateRejectsBadValues) {
  EXPECT_FALSE(MakeRk4Integrator({.step_s = 0}).ok());
  CvodeOptions o;
  o.relative_tolerance = -1;
  EXPECT_FALSE(MakeCvodeIntegrator(o).ok());
}

class CvodeMethodTest : public ::testing::TestWithParam<CvodeOptions::Method> {};

TEST_P(CvodeMethodTest, ExponentialDecayWithinTolerance) {
  auto sys = Decay(1.0);
  CvodeOptions o;
  o.method = GetParam();
  o.relative_tolerance = 1e-9;
  o.absolute_tolerance = 1e-12;
  Simulator sim(*sys, sys->CreateDefaultContext(), std::move(MakeCvodeIntegrator(o)).value());
  for (double t = 0.5; t <= 3.0; t += 0.5) {
    ASSERT_TRUE(sim.AdvanceTo(t).ok());
    EXPECT_NEAR(sim.context().state[0], std::exp(-t), 1e-7) << t;
  }
  EXPECT_EQ(sim.summary().restarts, 1);  // warm across calls
  EXPECT_GT(sim.summary().steps, 0);
}

TEST_P(CvodeMethodTest, HarmonicOscillatorErrorFollowsTolerance) {
  const double w = 2.0;
  auto sys = Oscillator(w);
  auto err = [&](double rtol) {
    CvodeOptions o;
    o.method = GetParam();
    o.relative_tolerance = rtol;
    o.absolute_tolerance = rtol * 1e-2;
    Simulator sim(*sys, sys->CreateDefaultContext(), std::move(MakeCvodeIntegrator(o)).value());
    EXPECT_TRUE(sim.AdvanceTo(5.0).ok());
    return (sim.context().state - Eigen::Vector2d(std::cos(w * 5), -w * std::sin(w * 5))).norm();
  };
  const double loose = err(1e-4), tight = err(1e-9);
  EXPECT_LT(tight, 1e-6);
  EXPECT_LT(tight, loose / 100);
}

INSTANTIATE_TEST_SUITE_P(Methods, CvodeMethodTest,
                         ::testing::Values(CvodeOptions::Method::kBdf, CvodeOptions::Method::kAdams));

TEST(CvodeTest, BdfSolvesStiffProblemInFewSteps) {
  Stiff sys(1e4);
  CvodeOptions o;
  o.method = CvodeOptions::Method::kBdf;
  o.relative_tolerance = 1e-8;
  o.absolute_tolerance = 1e-10;
  Simulator sim(sys, sys.CreateDefaultContext(), std::move(MakeCvodeIntegrator(o)).value());
  ASSERT_TRUE(sim.AdvanceTo(10.0).ok());
  EXPECT_NEAR(sim.context().state[0], std::cos(10.0), 1e-6);
  // An explicit method would need > 10 / (2.8e-4) ≈ 36000 steps for stability alone.
  EXPECT_LT(sim.summary().steps, 3000);
  EXPECT_GT(sim.summary().jacobian_evals, 0);
  // And Adams (non-stiff) needs far more steps on the same problem.
  CvodeOptions a = o;
  a.method = CvodeOptions::Method::kAdams;
  Simulator sim2(sys, sys.CreateDefaultContext(), std::move(MakeCvodeIntegrator(a)).value());
  Status s = sim2.AdvanceTo(10.0);
  if (s.ok()) {
    EXPECT_GT(sim2.summary().steps, 5 * sim.summary().steps);
  }
}

TEST(CvodeTest, ChangedInputsOrStateRestartIntegration) {
  auto sys = Decay(1.0);
  Simulator sim(*sys, sys->CreateDefaultContext(), std::move(MakeCvodeIntegrator({})).value());
  ASSERT_TRUE(sim.AdvanceTo(1.0).ok());
  sim.mutable_context().state[0] = 5.0;  // external change
  ASSERT_TRUE(sim.AdvanceTo(2.0).ok());
  EXPECT_NEAR(sim.context().state[0], 5.0 * std::exp(-1.0), 1e-5);
  EXPECT_EQ(sim.summary().restarts, 2);
}

TEST(CvodeTest, StepLimitIsResourceExhausted) {
  Stiff sys(1e4);
  CvodeOptions o;
  o.method = CvodeOptions::Method::kAdams;
  o.max_steps_per_call = 50;
  Simulator sim(sys, sys.CreateDefaultContext(), std::move(MakeCvodeIntegrator(o)).value());
  Status s = sim.AdvanceTo(10.0);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_LT(sim.context().time, 10.0);
}

}  // namespace
}  // namespace doppel::physics
