#include "doppel/analytics/nab_scorer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace doppel::analytics {
namespace {

// 100 rows one second apart, one window over rows 50..59 (width 10), probation = 15 rows.
ScoredFile OneWindowFile(std::vector<int> detections) {
  ScoredFile f;
  f.name = "f.csv";
  for (int i = 0; i < 100; ++i) {
    f.times.push_back(i * kNsPerS);
    f.scores.push_back(0.0);
  }
  for (int i : detections) f.scores[i] = 1.0;
  f.windows.push_back({50 * kNsPerS, 59 * kNsPerS});
  return f;
}

double RawAt(const ScoredFile& f, double threshold = 0.5, CostProfile p = DefaultNabProfiles()[0]) {
  auto rows = WeighRows(f, p);
  EXPECT_TRUE(rows.ok());
  return ScoreAtThreshold(f.name, *rows, p, threshold).raw;
}

TEST(ScaledSigmoid, MatchesPublishedAnchorPoints) {
  EXPECT_NEAR(ScaledSigmoid(-1.0), 0.98661, 1e-5);
  EXPECT_NEAR(ScaledSigmoid(-0.5), 0.84828, 1e-5);
  EXPECT_NEAR(ScaledSigmoid(0.0), 0.0, 1e-12);
  EXPECT_NEAR(ScaledSigmoid(1.0), -0.98661, 1e-5);
  EXPECT_EQ(ScaledSigmoid(3.0), -1.0);
}

TEST(ProbationaryLength, IsFifteenPercentCappedAt750) {
  EXPECT_EQ(ProbationaryLength(100), 15u);
  EXPECT_EQ(ProbationaryLength(4032), 604u);
  EXPECT_EQ(ProbationaryLength(22695), 750u);
}

TEST(NabScorer, DetectionAtWindowStartEarnsFullTruePositive) {
  EXPECT_NEAR(RawAt(OneWindowFile({50})), 1.0, 1e-12);
}

TEST(NabScorer, DetectionAtWindowEndEarnsLittle) {
  double expected = ScaledSigmoid(-1.0 / 10.0) / ScaledSigmoid(-1.0);
  EXPECT_NEAR(RawAt(OneWindowFile({59})), expected, 1e-12);
  EXPECT_NEAR(expected, 0.248242, 1e-5);
}

TEST(NabScorer, WindowKeepsOnlyItsEarliestDetection) {
  EXPECT_NEAR(RawAt(OneWindowFile({52, 55, 59})), ScaledSigmoid(-8.0 / 10.0) / ScaledSigmoid(-1.0), 1e-12);
}

TEST(NabScorer, MissedWindowCostsFnWeight) {
  EXPECT_NEAR(RawAt(OneWindowFile({})), -1.0, 1e-12);
  EXPECT_NEAR(RawAt(OneWindowFile({}), 0.5, DefaultNabProfiles()[2]), -2.0, 1e-12);
}

TEST(NabScorer, LateFalsePositiveIsDiscountedByDistanceFromWindow) {
  // Row 70 is 11 rows past the right edge; the window is 10 wide -> position 11/9.
  double fp = ScaledSigmoid(11.0 / 9.0) * 0.11;
  EXPECT_NEAR(RawAt(OneWindowFile({70})), -1.0 + fp, 1e-12);
  // Right after the window the penalty is smaller than far away.
  EXPECT_GT(RawAt(OneWindowFile({60})), RawAt(OneWindowFile({90})));
}

TEST(NabScorer, FalsePositiveBeforeAnyWindowCostsFullFpWeight) {
  EXPECT_NEAR(RawAt(OneWindowFile({20})), -1.0 - 0.11, 1e-12);
}

TEST(NabScorer, ProbationaryRowsAreNotScored) { EXPECT_NEAR(RawAt(OneWindowFile({10})), -1.0, 1e-12); }

TEST(NabScorer, CorpusSweepPicksBestThresholdAndNormalises) {
  ScoredFile f = OneWindowFile({});
  f.scores[50] = 0.9;  // true positive at the window start
  f.scores[20] = 0.8;  // a false positive with a lower score
  auto s = ScoreCorpus({f}, DefaultNabProfiles()[0]);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->threshold, 0.9);
  EXPECT_NEAR(s->raw, 1.0, 1e-12);
  EXPECT_NEAR(s->null_raw, -1.0, 1e-12);
  EXPECT_NEAR(s->perfect_raw, 1.0, 1e-12);
  EXPECT_NEAR(s->normalized, 100.0, 1e-9);
}

TEST(NabScorer, NullDetectorNormalisesToZero) {
  auto s = ScoreCorpus({OneWindowFile({})}, DefaultNabProfiles()[1]);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->normalized, 0.0, 1e-9);
}

TEST(NabScorer, MismatchedScoreCountIsInvalidArgument) {
  ScoredFile f = OneWindowFile({});
  f.scores.pop_back();
  EXPECT_EQ(WeighRows(f, DefaultNabProfiles()[0]).status().code(), StatusCode::kInvalidArgument);
}

TEST(NabProfiles, ParsesNabConfigStandardFirst) {
  auto p =
      ParseNabProfiles(R"({"reward_low_FN_rate":{"CostMatrix":{"tpWeight":1,"fnWeight":2,"fpWeight":0.11}},
                              "standard":{"CostMatrix":{"tpWeight":1,"fnWeight":1,"fpWeight":0.11}}})");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].name, "standard");
  EXPECT_DOUBLE_EQ((*p)[1].fn_weight, 2.0);
  EXPECT_FALSE(ParseNabProfiles(R"({"x":{"CostMatrix":{"tpWeight":"a"}}})").ok());
}

}  // namespace
}  // namespace doppel::analytics
