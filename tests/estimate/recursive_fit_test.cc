// The online (recursive) parameter fit: exact on a model linear in its parameters, tracking a
// changed parameter with forgetting on the pump twin, and its errors.
#include "doppel/estimate/recursive_fit.h"

#include <gtest/gtest.h>

#include <Eigen/LU>
#include <cmath>
#include <cstdio>
#include <random>

#include "doppel/physics/station.h"

namespace doppel::estimate {
namespace {

using physics::InVec;
using physics::OutVec;
using physics::SignalKind;

// y0 = a·u0 + b·u1, y1 = c·u0 + a: linear in (a, b, c), no states.
class LinearInParameters final : public physics::LeafSystem<LinearInParameters> {
 public:
  LinearInParameters() : LeafSystem("lin") {
    DeclareInput("u0", "1");
    DeclareInput("u1", "1");
    DeclareParameter("a", "1", 1.0);
    DeclareParameter("b", "1", -0.5);
    DeclareParameter("c", "1", 2.0);
    DeclareOutput("y0", "1");
    DeclareOutput("y1", "1");
  }
  template <typename T>
  void DoCalcDerivatives(double, InVec<T>, InVec<T>, InVec<T>, OutVec<T>) const {}
  template <typename T>
  void DoCalcOutputs(double, InVec<T>, InVec<T> u, InVec<T> p, OutVec<T> y) const {
    y[0] = p[0] * u[0] + p[1] * u[1];
    y[1] = p[2] * u[0] + p[0];
  }
};

// Without forgetting and for outputs linear in θ, the recursion is the batch weighted
// least-squares answer with the prior as one more observation:
//   P = (P0⁻¹ + Σ J̃ᵀJ̃)⁻¹,  θ = P (P0⁻¹ θ0 + Σ J̃ᵀ ỹ)   (J̃, ỹ divided by the sensor std).
TEST(RecursiveFitTest, WithoutForgettingALinearModelGivesTheBatchLeastSquaresAnswer) {
  LinearInParameters sys;
  RecursiveFitOptions o;
  o.parameters = {"a", "b", "c"};
  o.outputs = {"y0", "y1"};
  o.initial_std = Eigen::Vector3d(2.0, 2.0, 2.0);
  auto fit = RecursiveFit::Create(sys, {}, o);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();

  const Eigen::Vector3d truth(0.7, 1.3, -0.4), theta0(1.0, -0.5, 2.0);
  const Eigen::Vector2d sd(0.1, 0.3);
  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd;
  std::uniform_real_distribution<double> uu(-2, 2);
  Eigen::Matrix3d info = o.initial_std.array().square().inverse().matrix().asDiagonal();
  Eigen::Vector3d rhs = info * theta0;
  for (int k = 0; k < 50; ++k) {
    const Eigen::Vector2d u(uu(rng), uu(rng));
    Eigen::Matrix<double, 2, 3> J;
    J << u[0], u[1], 0, 1, 0, u[0];
    Eigen::Vector2d y = J * truth;
    y[0] += sd[0] * nd(rng);
    y[1] += sd[1] * nd(rng);
    const bool both = k % 5 != 0;  // every fifth sample measures y0 only
    auto step = fit->Update(Eigen::VectorXd(), u, y, {true, both}, sd);
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    EXPECT_EQ(step->used, both ? 2 : 1);
    for (int r = 0; r < (both ? 2 : 1); ++r) {
      const Eigen::RowVector3d jr = J.row(r) / sd[r];
      info += jr.transpose() * jr;
      rhs += jr.transpose() * (y[r] / sd[r]);
    }
  }
  const Eigen::Matrix3d P = info.inverse();
  const Eigen::Vector3d theta = P * rhs;
  EXPECT_TRUE(fit->value().isApprox(theta, 1e-9)) << fit->value().transpose() << " vs " << theta.transpose();
  EXPECT_TRUE(fit->covariance().isApprox(P, 1e-9));
  EXPECT_EQ(fit->samples(), 50);
  EXPECT_DOUBLE_EQ(fit->all_parameters()[1], fit->value()[1]);
}

// Quasi-static pump samples (speed, temperature and tank level as measured; flow, pressure, power
// and vibration with the plant's sensor noise) from the nominal pump twin with hidden wear.
struct PumpSamples {
  std::unique_ptr<physics::Diagram> twin = std::move(physics::MakePumpTwinDiagram()).value();
  std::vector<std::string> outputs = {"flow_m3h", "discharge_pressure_bar", "power_kw", "vibration_mm_s"};
  std::mt19937_64 rng{11};
  // One sample at a random operating point; returns (x, u, y, sd).
  void Draw(double impeller, double bearing, Eigen::VectorXd* x, Eigen::VectorXd* u, Eigen::VectorXd* y,
            Eigen::VectorXd* sd) {
    std::uniform_real_distribution<double> speed(1150, 1500), level(2.0, 3.0);
    std::normal_distribution<double> nd;
    Eigen::VectorXd p = twin->DefaultValues(SignalKind::kParameter);
    p[twin->IndexOf(SignalKind::kParameter, "pump.impeller_wear")] = impeller;
    p[twin->IndexOf(SignalKind::kParameter, "pump.bearing_wear")] = bearing;
    x->resize(2);
    *x << speed(rng), 50;
    *u = twin->DefaultValues(SignalKind::kInput);
    (*u)[twin->IndexOf(SignalKind::kInput, "level_m")] = level(rng);
    Eigen::VectorXd out(twin->num_outputs());
    twin->CalcOutputs(0.0, *x, *u, p, out);
    y->resize(4);
    sd->resize(4);
    for (int k = 0; k < 4; ++k)
      (*y)[k] = out[twin->IndexOf(SignalKind::kOutput, outputs[static_cast<size_t>(k)])];
    *sd << 1.0, 0.01, 0.1, 0.05 + 0.03 * (*y)[3];
    for (int k = 0; k < 4; ++k) (*y)[k] += (*sd)[k] * nd(rng);
  }
};

// With forgetting (λ = 0.99, a memory of ≈ 100 samples) the fit follows an impeller that wore
// from 0.20 to 0.35 between two stretches of 400 samples; without forgetting it averages the two.
TEST(RecursiveFitTest, WithForgettingItFollowsAChangedWearAndWithoutItLags) {
  for (double lambda : {0.99, 1.0}) {
    SCOPED_TRACE(::testing::Message() << "forgetting " << lambda);
    PumpSamples s;
    RecursiveFitOptions o;
    o.parameters = {"pump.impeller_wear", "pump.bearing_wear"};
    o.outputs = s.outputs;
    o.forgetting = lambda;
    o.initial_std = Eigen::Vector2d(0.3, 0.3);
    o.lower_bound = Eigen::Vector2d(0, 0);
    o.upper_bound = Eigen::Vector2d(1, 1);
    auto fit = RecursiveFit::Create(*s.twin, {}, o);
    ASSERT_TRUE(fit.ok()) << fit.status().ToString();
    Eigen::VectorXd x, u, y, sd;
    for (int k = 0; k < 800; ++k) {
      const double impeller = k < 400 ? 0.20 : 0.35;
      s.Draw(impeller, 0.1, &x, &u, &y, &sd);
      auto step = fit->Update(x, u, y, {}, sd);
      ASSERT_TRUE(step.ok()) << step.status().ToString();
      if (k == 399) {
        EXPECT_NEAR(fit->value()[0], 0.20, 0.01);
        EXPECT_NEAR(fit->value()[1], 0.10, 0.02);
      }
    }
    std::printf("forgetting %.2f: impeller %.4f ± %.4f (truth 0.35), bearing %.4f ± %.4f (truth 0.10)\n",
                lambda, fit->value()[0], fit->stddev()[0], fit->value()[1], fit->stddev()[1]);
    if (lambda < 1) {
      EXPECT_NEAR(fit->value()[0], 0.35, 0.015);
      EXPECT_NEAR(fit->value()[1], 0.10, 0.02);
    } else {
      EXPECT_NEAR(fit->value()[0], 0.277, 0.02);  // ≈ the average of both stretches, not 0.35
    }
  }
}

// A subset fitted in another order than the system declares it: value() follows the options'
// order, all_parameters() puts each value in its own slot, the rest stay nominal.
TEST(RecursiveFitTest, AFittedSubsetInAnyOrderLandsInTheRightParameters) {
  LinearInParameters sys;  // defaults a = 1, b = −0.5, c = 2
  RecursiveFitOptions o;
  o.parameters = {"c", "a"};
  o.outputs = {"y0", "y1"};
  o.initial_std = Eigen::Vector2d(5.0, 5.0);
  auto fit = RecursiveFit::Create(sys, {}, o);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> uu(-2, 2);
  for (int k = 0; k < 100; ++k) {  // noise-free, truth a = 0.7, b = −0.5 (nominal), c = −0.4
    const Eigen::Vector2d u(uu(rng), uu(rng));
    const Eigen::Vector2d y(0.7 * u[0] - 0.5 * u[1], -0.4 * u[0] + 0.7);
    ASSERT_TRUE(fit->Update(Eigen::VectorXd(), u, y, {}, Eigen::Vector2d(0.1, 0.1)).ok());
  }
  EXPECT_NEAR(fit->value()[0], -0.4, 1e-4);  // c (the prior pulls by ≈ 1e-5)
  EXPECT_NEAR(fit->value()[1], 0.7, 1e-4);   // a
  const Eigen::VectorXd p = fit->all_parameters();
  EXPECT_DOUBLE_EQ(p[0], fit->value()[1]);
  EXPECT_DOUBLE_EQ(p[1], -0.5);
  EXPECT_DOUBLE_EQ(p[2], fit->value()[0]);
}

// With forgetting and a parameter the samples say nothing about (u1 = 0: b is unobservable), its
// variance would grow as λ⁻ᵏ; it is capped at the prior's, and the step reports it. A bound holds
// even when the data pull beyond it.
TEST(RecursiveFitTest, AnUnexcitedParameterKeepsItsPriorVarianceAndBoundsHold) {
  LinearInParameters sys;
  RecursiveFitOptions o;
  o.parameters = {"a", "b"};
  o.outputs = {"y0"};
  o.forgetting = 0.9;
  o.initial_std = Eigen::Vector2d(1.0, 0.5);
  o.lower_bound = Eigen::Vector2d(-10, -10);
  o.upper_bound = Eigen::Vector2d(0.5, 10);  // the data say a = 0.7
  auto fit = RecursiveFit::Create(sys, Eigen::Vector3d(0.0, -0.5, 2.0), o);
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  bool capped = false;
  for (int k = 0; k < 100; ++k) {
    const Eigen::Vector2d u(1.0 + 0.01 * k, 0.0);
    auto step = fit->Update(Eigen::VectorXd(), u, Eigen::VectorXd::Constant(1, 0.7 * u[0]), {},
                            Eigen::VectorXd::Constant(1, 0.1));
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    capped |= step->capped;
  }
  EXPECT_TRUE(capped);
  EXPECT_NEAR(fit->stddev()[1], 0.5, 1e-12);  // b: at its prior, not 0.5·0.9^-50
  EXPECT_LT(fit->stddev()[0], 0.1);           // a: learned
  EXPECT_DOUBLE_EQ(fit->value()[0], 0.5);     // clamped at its upper bound
  // A start outside the bounds is an error naming the parameter.
  auto outside = RecursiveFit::Create(sys, Eigen::Vector3d(0.9, -0.5, 2.0), o);
  EXPECT_NE(outside.status().message().find("'a' is outside its bounds"), std::string::npos)
      << outside.status().ToString();
}

TEST(RecursiveFitTest, BadOptionsAndSamplesAreErrorsNamingTheField) {
  LinearInParameters sys;
  RecursiveFitOptions o;
  o.parameters = {"a"};
  o.outputs = {"y0"};
  o.initial_std = Eigen::VectorXd::Constant(1, 1.0);
  o.forgetting = 1.5;
  EXPECT_NE(RecursiveFit::Create(sys, {}, o).status().message().find("forgetting"), std::string::npos);
  o.forgetting = 0.98;
  o.initial_std = Eigen::VectorXd();
  EXPECT_NE(RecursiveFit::Create(sys, {}, o).status().message().find("initial_std"), std::string::npos);
  o.initial_std = Eigen::VectorXd::Constant(1, 1.0);
  o.parameters = {"nope"};
  EXPECT_NE(RecursiveFit::Create(sys, {}, o).status().message().find("'nope'"), std::string::npos);
  o.parameters = {"a", "a"};
  EXPECT_NE(RecursiveFit::Create(sys, {}, o).status().message().find("twice"), std::string::npos);
  o.parameters = {"a"};
  o.outputs = {"y0", "y0"};
  EXPECT_NE(RecursiveFit::Create(sys, {}, o).status().message().find("outputs: 'y0' listed twice"),
            std::string::npos);
  o.outputs = {"y9"};
  EXPECT_NE(RecursiveFit::Create(sys, {}, o).status().message().find("'y9'"), std::string::npos);
  o.outputs = {"y0"};
  auto fit = RecursiveFit::Create(sys, {}, o);
  ASSERT_TRUE(fit.ok());
  const Eigen::Vector2d u(1, 2);
  const Eigen::VectorXd one = Eigen::VectorXd::Constant(1, 1.0);
  EXPECT_NE(fit->Update(Eigen::VectorXd(), Eigen::VectorXd(), one, {}, one).status().message().find("u:"),
            std::string::npos);
  EXPECT_NE(fit->Update(Eigen::VectorXd(), u, Eigen::VectorXd::Constant(1, NAN), {}, one)
                .status()
                .message()
                .find("y[0] (y0)"),
            std::string::npos);
  EXPECT_NE(
      fit->Update(Eigen::VectorXd(), u, one, {}, Eigen::VectorXd::Zero(1)).status().message().find("sd[0]"),
      std::string::npos);
  // A sample with nothing present changes nothing.
  auto none = fit->Update(Eigen::VectorXd(), u, one, {false}, one);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->used, 0);
  EXPECT_EQ(fit->samples(), 0);
  EXPECT_DOUBLE_EQ(fit->value()[0], 1.0);
}

}  // namespace
}  // namespace doppel::estimate
