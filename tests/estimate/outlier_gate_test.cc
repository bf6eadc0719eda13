// EstimatorOptions::outlier_sigma: a sensor's spike is left out of the update (the other sensors
// are applied), a change that persists is taken after outlier_patience updates. Every estimator
// kind is checked against an independently run twin filter that never saw the spike.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <string>

#include "estimate/filter_kinds.h"

namespace doppel::estimate {
namespace {

using testing::Coupled;
using testing::Kind;
using testing::Kinds;

EstimatorOptions Options(double outlier_sigma) {
  EstimatorOptions o;
  o.initial_mean = Eigen::Vector3d(0.5, -0.2, 1.0);
  o.initial_std = Eigen::Vector3d(1.0, 0.8, 0.6);
  o.process_std = Eigen::Vector3d(0.05, 0.05, 0.05);
  o.measurement_std = Eigen::Vector2d(0.1, 0.2);
  o.outlier_sigma = outlier_sigma;
  o.outlier_patience = 3;
  return o;
}

// `steps` updates of the system at rest (its equilibrium is 0) seen through sensor noise, the
// same for every call: no reading is an outlier.
void Warm(Estimator* e, int steps) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> nd;
  for (int k = 1; k <= steps; ++k) {
    Eigen::Vector2d y(0.1 * nd(rng), 0.2 * nd(rng));
    auto rep = e->Update(Measurement(0.5 * k, y));
    ASSERT_TRUE(rep.ok()) << rep.status().ToString();
    ASSERT_TRUE(rep->outliers.empty()) << "warm-up step " << k;
  }
}

TEST(OutlierGateTest, ASpikeIsLeftOutAsIfTheSensorHadNotReportedForEveryKind) {
  auto sys = Coupled();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  for (const Kind& k : Kinds()) {
    for (double spike : {40.0, 1e160}) {  // 1e160: its square overflows the NIS
      SCOPED_TRACE(std::string(k.name) + " spike " + std::to_string(spike));
      auto gated = k.make(fm, Options(6));
      auto absent = k.make(fm, Options(6));
      ASSERT_TRUE(gated.ok() && absent.ok());
      Warm(gated->get(), 20);
      Warm(absent->get(), 20);
      const double t = 10.5;
      const double y2 = 0.1;
      auto rep = (*gated)->Update(Measurement(t, Eigen::Vector2d(spike, y2)));
      ASSERT_TRUE(rep.ok()) << rep.status().ToString();
      EXPECT_EQ(rep->outliers, std::vector<int>{0});
      EXPECT_EQ(rep->channels, std::vector<int>{1});
      EXPECT_EQ(rep->dof, 1);
      auto want = (*absent)->Update(Measurement(t, Eigen::Vector2d(0, y2), {false, true}));
      ASSERT_TRUE(want.ok());
      EXPECT_LE(((*gated)->mean() - (*absent)->mean()).cwiseAbs().maxCoeff(), k.tol);
      EXPECT_LE(((*gated)->covariance() - (*absent)->covariance()).cwiseAbs().maxCoeff(), k.tol);
      EXPECT_EQ((*gated)->summary().outliers, 1);
      EXPECT_EQ((*gated)->summary().divergences, 0);
      EXPECT_EQ((*gated)->innovations().channel_outliers, (std::vector<int64_t>{1, 0}));
      EXPECT_NEAR((*gated)->innovations().sum_nis, (*absent)->innovations().sum_nis, 1e-9);
    }
  }
}

TEST(OutlierGateTest, ASpikeOnEverySensorIsAPredictionOnly) {
  auto sys = Coupled();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  auto e = MakeExtendedKalmanFilter(fm, Options(6));
  ASSERT_TRUE(e.ok());
  Warm(e->get(), 20);
  const Eigen::MatrixXd P0 = (*e)->covariance();
  auto rep = (*e)->Update(Measurement(10.5, Eigen::Vector2d(1e3, -1e3)));
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_EQ(rep->outliers, (std::vector<int>{0, 1}));
  EXPECT_EQ(rep->dof, 0);
  EXPECT_EQ((*e)->summary().predict_only, 1);
  EXPECT_GT((*e)->covariance().trace(), P0.trace());  // predicted, nothing measured
}

// Two independent levels (random walks), each measured: any new level is a state the model can
// be in, so a step in one is a real change.
std::unique_ptr<physics::LinearSystem> Levels() {
  physics::LinearSystemSpec s;
  s.A = Eigen::Matrix2d::Zero();
  s.C = Eigen::Matrix2d::Identity();
  s.state_names = {"a", "b"};
  s.state_units = {"1", "1"};
  s.output_names = {"y1", "y2"};
  return std::move(physics::LinearSystem::Create("levels", s)).value();
}

// Options(6) for Levels(): both levels start at 0 ± 1 and walk at 0.05/√s.
EstimatorOptions LevelsOptions() {
  EstimatorOptions o = Options(6);
  o.initial_mean = Eigen::Vector2d(0, 0);
  o.initial_std = Eigen::Vector2d(1, 1);
  o.process_std = Eigen::Vector2d(0.05, 0.05);
  return o;
}

// A real step (a new level that stays) is left out outlier_patience times, then used, and the
// filter follows it; once it is followed the gate closes again.
TEST(OutlierGateTest, AStepThatPersistsIsTakenAfterThePatienceForEveryKind) {
  auto sys = Levels();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  EstimatorOptions o = LevelsOptions();
  for (const Kind& k : Kinds()) {
    SCOPED_TRACE(k.name);
    auto e = k.make(fm, o);
    ASSERT_TRUE(e.ok());
    Warm(e->get(), 20);
    std::vector<bool> left_out;
    double t = 10;
    for (int i = 0; i < 40; ++i) {
      t += 0.5;
      auto rep = (*e)->Update(Measurement(t, Eigen::Vector2d(5.0, 0.0)));
      ASSERT_TRUE(rep.ok()) << rep.status().ToString();
      left_out.push_back(!rep->outliers.empty());
    }
    EXPECT_EQ(left_out[0] && left_out[1] && left_out[2], true);
    EXPECT_FALSE(left_out[3]) << "the step was not taken after 3 updates";
    EXPECT_EQ((*e)->summary().outliers, 3);
    // Followed: the predicted y1 (= state a) is near the new level.
    EXPECT_NEAR((*e)->mean()[0], 5.0, 0.3);
    // And a spike after it is gated again.
    auto rep = (*e)->Update(Measurement(t + 0.5, Eigen::Vector2d(5.0 + 100, 0.0)));
    ASSERT_TRUE(rep.ok());
    EXPECT_EQ(rep->outliers, std::vector<int>{0});
  }
}

// A transmitter stuck at a fault code is not "a real change": beyond outlier_max_sigma the
// channel stays out for as long as it lasts, and the healthy sensor keeps being applied.
TEST(OutlierGateTest, AStuckFaultCodeBeyondTheLimitIsNeverFollowedForEveryKind) {
  auto sys = Levels();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  EstimatorOptions o = LevelsOptions();
  o.outlier_max_sigma = 1000;
  for (const Kind& k : Kinds()) {
    SCOPED_TRACE(k.name);
    auto e = k.make(fm, o);
    ASSERT_TRUE(e.ok());
    Warm(e->get(), 20);
    double t = 10;
    for (int i = 0; i < 20; ++i) {
      t += 0.5;
      auto rep = (*e)->Update(Measurement(t, Eigen::Vector2d(4.29e9, 0.0)));
      ASSERT_TRUE(rep.ok()) << rep.status().ToString();
      ASSERT_EQ(rep->outliers, std::vector<int>{0}) << "update " << i;
      ASSERT_EQ(rep->channels, std::vector<int>{1}) << "update " << i;
    }
    EXPECT_LT(std::abs((*e)->mean()[0]), 1.0);
    EXPECT_EQ((*e)->summary().outliers, 20);
    // A believable step after it is left out for the patience (the fault code did not count
    // towards it), then followed.
    int left_out = 0;
    for (int i = 0; i < 10; ++i) {
      t += 0.5;
      auto rep = (*e)->Update(Measurement(t, Eigen::Vector2d(5.0, 0.0)));
      ASSERT_TRUE(rep.ok());
      left_out += rep->outliers.empty() ? 0 : 1;
    }
    EXPECT_EQ(left_out, 3);
    EXPECT_NEAR((*e)->mean()[0], 5.0, 1.0);
  }
}

// With the NIS gate (outlier gate off) a reading whose NIS overflows is a rejected update; its
// infinite NIS stays out of the statistics (they would be infinite for good).
TEST(OutlierGateTest, AnOverflowingNisRejectedByTheNisGateLeavesTheStatisticsFinite) {
  auto sys = Coupled();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  EstimatorOptions o = Options(0);
  o.nis_gate = 50;
  for (const Kind& k : Kinds()) {
    SCOPED_TRACE(k.name);
    auto e = k.make(fm, o);
    ASSERT_TRUE(e.ok());
    Warm(e->get(), 20);
    auto rep = (*e)->Update(Measurement(10.5, Eigen::Vector2d(1e160, 0.0)));
    ASSERT_TRUE(rep.ok()) << rep.status().ToString();
    EXPECT_TRUE(rep->rejected);
    for (int i = 1; i <= 5; ++i)
      ASSERT_TRUE((*e)->Update(Measurement(10.5 + 0.5 * i, Eigen::Vector2d(0, 0))).ok());
    const InnovationStats& st = (*e)->innovations();
    EXPECT_TRUE(std::isfinite(st.sum_nis));
    EXPECT_TRUE(std::isfinite(st.ewma_nis_per_dof));
    EXPECT_TRUE(st.ewma_channel_nis.allFinite());
    EXPECT_EQ((*e)->summary().rejected_updates, 1);
  }
}

TEST(OutlierGateTest, OffByDefaultAndOptionsAreChecked) {
  EXPECT_EQ(EstimatorOptions{}.outlier_sigma, 0);
  auto sys = Coupled();
  FilterModel fm{sys.get(), {}, {}, {"y1", "y2"}};
  auto off = MakeExtendedKalmanFilter(fm, Options(0));
  ASSERT_TRUE(off.ok());
  Warm(off->get(), 20);
  auto rep = (*off)->Update(Measurement(10.5, Eigen::Vector2d(40, 0.0)));
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->outliers.empty());
  EXPECT_EQ(rep->dof, 2);

  EstimatorOptions o = Options(-1);
  Status st = MakeExtendedKalmanFilter(fm, o).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("outlier_sigma"), std::string::npos) << st.ToString();
  o = Options(6);
  o.outlier_max_sigma = 3;  // below outlier_sigma
  st = MakeExtendedKalmanFilter(fm, o).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("outlier_max_sigma"), std::string::npos) << st.ToString();
  o = Options(6);
  o.outlier_patience = 0;
  st = MakeExtendedKalmanFilter(fm, o).status();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("outlier_patience"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace doppel::estimate
