// Estimator::ResetEntry: a prior reset of one augmented-state entry (a replaced part's wear,
// docs/enterprise.md). For every estimator kind the covariance after the reset must equal the
// covariance before it with that entry's row and column zeroed and its variance set, and the
// mean must change in that entry only.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <functional>
#include <random>

#include "doppel/estimate/estimator.h"
#include "doppel/physics/linear_system.h"
#include "estimate/filter_kinds.h"

namespace doppel::estimate {
namespace {

using testing::Coupled;
using testing::Kind;
using testing::Kinds;

EstimatorOptions Options() {
  EstimatorOptions o;
  o.initial_mean = Eigen::Vector3d(0.5, -0.2, 1.0);
  o.initial_std = Eigen::Vector3d(1.0, 0.8, 0.6);
  o.process_std = Eigen::Vector3d(0.05, 0.05, 0.05);
  o.measurement_std = Eigen::Vector2d(0.1, 0.2);
  return o;
}

// Runs `steps` updates on a noisy trajectory so the covariance is full.
void Warm(Estimator* e, int steps) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> nd;
  for (int k = 1; k <= steps; ++k) {
    const double t = 0.5 * k;
    Eigen::Vector2d y(std::sin(t) + 0.1 * nd(rng), std::cos(t) + 0.2 * nd(rng));
    ASSERT_TRUE(e->Update(Measurement(t, y)).ok());
  }
}

TEST(ResetEntryTest, CovarianceEqualsTheExpectedMatrixForEveryKind) {
  auto sys = Coupled();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  for (const Kind& k : Kinds()) {
    SCOPED_TRACE(k.name);
    auto e = k.make(fm, Options());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    Warm(e->get(), 20);
    const Eigen::VectorXd z0 = (*e)->mean();
    const Eigen::MatrixXd P0 = (*e)->covariance();
    ASSERT_GT(std::abs(P0(1, 0)) + std::abs(P0(1, 2)), 1e-6) << "warm-up left no cross-covariance";
    const double t0 = (*e)->time();

    ASSERT_TRUE((*e)->ResetEntry(1, 0.25, 0.64).ok());

    Eigen::MatrixXd want = P0;
    want.row(1).setZero();
    want.col(1).setZero();
    want(1, 1) = 0.64;
    Eigen::VectorXd want_z = z0;
    want_z[1] = 0.25;
    const Eigen::MatrixXd P1 = (*e)->covariance();
    EXPECT_LE((P1 - want).cwiseAbs().maxCoeff(), k.tol) << "P after:\n" << P1 << "\nwant:\n" << want;
    EXPECT_LE(((*e)->mean() - want_z).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_EQ((*e)->time(), t0);
    // The filter keeps working from the reset prior.
    EXPECT_TRUE((*e)->Update(Measurement(t0 + 0.5, Eigen::Vector2d(0.1, 0.2))).ok());
  }
}

TEST(ResetEntryTest, MeanIsClampedToTheBounds) {
  auto sys = Coupled();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  EstimatorOptions o = Options();
  o.lower_bound = Eigen::Vector3d(-10, 0, -10);
  o.upper_bound = Eigen::Vector3d(10, 1, 10);
  for (const Kind& k : Kinds()) {
    SCOPED_TRACE(k.name);
    auto e = k.make(fm, o);
    ASSERT_TRUE(e.ok());
    ASSERT_TRUE((*e)->ResetEntry(1, -0.5, 0.01).ok());
    EXPECT_NEAR((*e)->mean()[1], 0.0, 1e-12);
  }
}

TEST(ResetEntryTest, RefusesBadArgumentsAndLeavesTheEstimate) {
  auto sys = Coupled();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  for (const Kind& k : Kinds()) {
    SCOPED_TRACE(k.name);
    auto e = k.make(fm, Options());
    ASSERT_TRUE(e.ok());
    const Eigen::MatrixXd P0 = (*e)->covariance();
    for (auto [i, m, v] : std::vector<std::tuple<int, double, double>>{
             {-1, 0, 1}, {3, 0, 1}, {0, NAN, 1}, {0, 0, 0}, {0, 0, -1}, {0, 0, INFINITY}}) {
      Status s = (*e)->ResetEntry(i, m, v);
      EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << i << " " << m << " " << v;
      EXPECT_NE(s.message().find("ResetEntry"), std::string::npos) << s.ToString();
    }
    EXPECT_EQ((*e)->covariance(), P0);
  }
}

}  // namespace
}  // namespace doppel::estimate
