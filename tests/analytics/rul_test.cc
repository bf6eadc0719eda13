#include "doppel/analytics/rul.h"

#include <gtest/gtest.h>

#include <cmath>

namespace doppel::analytics {
namespace {

TEST(Phm08Score, PenalisesLatePredictionsMoreThanEarlyOnes) {
  double late = Phm08Score({30}, {20});
  double early = Phm08Score({10}, {20});
  EXPECT_NEAR(late, std::exp(1.0) - 1, 1e-12);
  EXPECT_NEAR(early, std::exp(10.0 / 13.0) - 1, 1e-12);
  EXPECT_GT(late, early);
  EXPECT_EQ(Phm08Score({5}, {5}), 0.0);
}

TEST(Rmse, IsRootMeanSquare) { EXPECT_NEAR(Rmse({1, 3}, {0, 0}), std::sqrt(5.0), 1e-12); }

TEST(ParseCmapss, RaggedRowIsInvalidArgument) {
  EXPECT_TRUE(ParseCmapss("1 1 0.1 0.2\n1 2 0.1 0.3\n", "t").ok());
  auto r = ParseCmapss("1 1 0.1 0.2\n1 2 0.1\n", "t");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("line 2"), std::string::npos);
}

std::vector<EngineCycle> SyntheticFleet(int units) {
  // Sensor 3 degrades linearly towards failure; sensor 4 is constant; 3 settings first.
  std::vector<EngineCycle> out;
  for (int u = 1; u <= units; ++u) {
    int life = 120 + 7 * u % 80;
    for (int c = 1; c <= life; ++c) {
      double wear = static_cast<double>(c) / life;
      out.push_back({u, c, {0, 0, 100, 500 + 20 * wear * wear + 0.01 * (c % 7), 7.0}});
    }
  }
  return out;
}

TEST(InformativeColumns, DropsSettingsAndConstantSensors) {
  auto kept = InformativeColumns(SyntheticFleet(5));
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0], 3);
}

TEST(BuildFeatures, AreCausal) {
  // Features of a cycle must not change when later cycles are appended.
  auto fleet = SyntheticFleet(2);
  std::vector<EngineCycle> cut;
  for (const auto& r : fleet)
    if (r.unit == 1 && r.cycle <= 40) cut.push_back(r);
  std::vector<EngineCycle> unit1;
  for (const auto& r : fleet)
    if (r.unit == 1) unit1.push_back(r);
  auto full = BuildFeatures(unit1, {3}, true, 0.2);
  auto last = BuildFeatures(cut, {3}, false, 0.2);
  ASSERT_EQ(last.rows, 1u);
  ASSERT_EQ(last.cols, 1u + 11u);
  ASSERT_EQ(full.cols, last.cols);
  for (size_t j = 0; j < last.cols; ++j) EXPECT_FLOAT_EQ(full.x[39 * full.cols + j], last.x[j]) << j;
}

TEST(RulModel, LearnsSyntheticDegradationAndRoundTrips) {
  RulTrainOptions opt;
  opt.rounds = 60;
  opt.early_stop = 20;
  opt.ensemble = 1;
  RulTrainReport report;
  auto train = SyntheticFleet(20);
  auto m = RulModel::Train(train, opt, &report);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // Test fleet: the same engines cut 60 cycles before failure (true RUL 60).
  std::vector<EngineCycle> test;
  std::vector<double> truth;
  for (const auto& r : SyntheticFleet(10)) {
    int life = 120 + 7 * r.unit % 80;
    if (r.cycle <= life - 60) test.push_back(r);
  }
  for (int u = 1; u <= 10; ++u) truth.push_back(60);
  auto pred = m->PredictLast(test);
  ASSERT_TRUE(pred.ok());
  EXPECT_LT(Rmse(*pred, truth), 15.0);
  std::string path = ::testing::TempDir() + "/rul_model.json";
  ASSERT_TRUE(m->Save(path).ok());
  auto loaded = RulModel::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto pred2 = loaded->PredictLast(test);
  ASSERT_TRUE(pred2.ok());
  for (size_t i = 0; i < pred->size(); ++i) EXPECT_NEAR((*pred)[i], (*pred2)[i], 1e-4);
}

TEST(ConditionNormalizer, ZScoresEachOperatingConditionSeparately) {
  // Two conditions (altitude 0 and 35 kft) with different sensor levels; small setting noise.
  std::vector<EngineCycle> rows;
  for (int c = 1; c <= 40; ++c) {
    bool high = c % 2 == 0;
    double noise = 0.001 * (c % 5);
    double sensor = (high ? 300.0 : 600.0) + (c % 4);  // levels {0,1,2,3} around each base
    rows.push_back({1, c, {(high ? 35.0 : 0.0) + noise, (high ? 0.84 : 0.0) + noise / 10, 100, sensor}});
  }
  auto n = ConditionNormalizer::Fit(rows);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->conditions(), 2u);
  auto z = n->Apply(rows);
  for (int high = 0; high < 2; ++high) {
    double s = 0, ss = 0, cnt = 0;
    for (size_t i = 0; i < z.size(); ++i)
      if ((rows[i].cycle % 2 == 0) == (high == 1))
        s += z[i].columns[3], ss += z[i].columns[3] * z[i].columns[3], ++cnt;
    EXPECT_NEAR(s / cnt, 0.0, 1e-9);
    EXPECT_NEAR(ss / cnt, 1.0, 1e-9);
  }
  // Rows with slightly different settings go to the nearest condition. The low-altitude
  // condition (odd cycles) has sensor levels 601 and 603 equally often: mean 602, sd 1.
  auto one = n->Apply({{2, 1, {0.02, 0.001, 100, 602}}, {2, 2, {0.03, 0.0, 100, 603}}});
  EXPECT_NEAR(one[0].columns[3], 0.0, 1e-9);
  EXPECT_NEAR(one[1].columns[3], 1.0, 1e-9);
  auto back = ConditionNormalizer::FromJson(n->ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(n->Apply(rows)[7].columns[3], back->Apply(rows)[7].columns[3]);
  EXPECT_FALSE(ConditionNormalizer::FromJson("{\"center\":[]}").ok());
}

TEST(RulTrainOptions, ValidateNamesTheBrokenRule) {
  RulTrainOptions opt;
  EXPECT_TRUE(opt.Validate().ok());
  opt.smooth = 0;
  EXPECT_NE(opt.Validate().message().find("smooth"), std::string::npos);
  opt = RulTrainOptions{};
  opt.rounds = -1;
  EXPECT_NE(opt.Validate().message().find("rounds"), std::string::npos);
  EXPECT_EQ(RulModel::Train(SyntheticFleet(5), opt, nullptr).status().code(), StatusCode::kInvalidArgument);
}

TEST(CrossValidateRul, HeldOutErrorIsSmallOnLearnableFleetAndFoldsAreChecked) {
  RulTrainOptions opt;
  opt.rounds = 60;
  opt.ensemble = 1;
  auto fleet = SyntheticFleet(20);
  auto cv = CrossValidateRul(fleet, opt, 4);
  ASSERT_TRUE(cv.ok()) << cv.status().ToString();
  EXPECT_EQ(cv->folds, 4);
  // Every held-out cycle from 31 on is scored once.
  size_t expected = 0;
  for (const auto& r : fleet) expected += r.cycle >= 31;
  EXPECT_EQ(cv->points, expected);
  EXPECT_LT(cv->rmse_capped, 15.0);
  EXPECT_GT(cv->rmse_capped, 0.0);
  EXPECT_EQ(CrossValidateRul(fleet, opt, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CrossValidateRul(fleet, opt, 21).status().code(), StatusCode::kInvalidArgument);
}

TEST(RulModel, EarlyStoppingModeReportsChosenRounds) {
  RulTrainOptions opt;
  opt.rounds = 0;
  opt.max_rounds = 80;
  opt.early_stop = 10;
  opt.ensemble = 1;
  RulTrainReport report;
  auto m = RulModel::Train(SyntheticFleet(20), opt, &report);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GE(report.rounds, 10);
  EXPECT_LE(report.rounds, 80);
  EXPECT_TRUE(std::isfinite(report.validation_rmse));
}

TEST(RulModel, LoadRejectsForeignFile) {
  std::string path = ::testing::TempDir() + "/not_a_model.json";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs("{\"hello\":1}", f);
  std::fclose(f);
  EXPECT_EQ(RulModel::Load(path).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace doppel::analytics
