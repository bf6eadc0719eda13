#include "doppel/analytics/detector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "doppel/analytics/nab_corpus.h"

namespace doppel::analytics {
namespace {

Series Noisy(size_t n, uint32_t seed) {
  Series s;
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  for (size_t i = 0; i < n; ++i) {
    s.times.push_back(static_cast<TimeNs>(i) * 300 * kNsPerS);
    s.values.push_back(10 + 3 * std::sin(2 * M_PI * static_cast<double>(i) / 288.0) + noise(rng));
  }
  return s;
}

TEST(EnsembleDetector, ScoresStayInUnitInterval) {
  Series s = Noisy(4000, 1);
  s.values[3000] = 1e6;
  s.values[3001] = -1e6;
  for (double v : DetectSeries(s, {})) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
}

TEST(EnsembleDetector, SpikeRaisesAnAlarm) {
  Series s = Noisy(4000, 2);
  s.values[3000] += 40;
  auto scores = DetectSeries(s, {});
  EXPECT_GE(scores[3000], 0.7);
}

TEST(EnsembleDetector, ProbationaryPeriodIsSilent) {
  Series s = Noisy(2000, 3);
  auto scores = DetectSeries(s, {});
  for (size_t i = 0; i < ProbationaryLength(2000); ++i) EXPECT_EQ(scores[i], 0.0);
}

TEST(EnsembleDetector, OneEventRaisesOneAlarm) {
  Series s = Noisy(6000, 4);
  for (size_t i = 4000; i < 4030; ++i) s.values[i] += 50;  // a sustained burst
  auto scores = DetectSeries(s, {});
  int alarms = 0;
  for (size_t i = 4000; i < 4030; ++i) alarms += scores[i] >= 0.7;
  EXPECT_EQ(alarms, 1);
}

TEST(EnsembleDetector, OptionalComponentsKeepScoresInUnitInterval) {
  DetectorConfig c;
  ASSERT_TRUE(c.Set("levels2=30").ok());
  ASSERT_TRUE(c.Set("w_novelty_lik=0.8").ok());
  ASSERT_TRUE(c.Set("w_weekly=1").ok());
  Series s = Noisy(5000, 5);
  s.values[4000] += 40;
  auto scores = DetectSeries(s, c);
  for (double v : scores) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  EXPECT_GE(scores[4000], 0.5);
}

TEST(EnsembleDetector, NonFiniteInputScoresZero) {
  EnsembleDetector d;
  EXPECT_EQ(d.Update(0, NAN), 0.0);
  EXPECT_EQ(d.Update(1, INFINITY), 0.0);
}

TEST(DetectorConfig, RejectsUnknownKeysAndBadNumbers) {
  DetectorConfig c;
  EXPECT_TRUE(c.Set("levels=20").ok());
  EXPECT_EQ(c.levels, 20u);
  EXPECT_FALSE(c.Set("bogus=1").ok());
  EXPECT_FALSE(c.Set("levels=abc").ok());
  EXPECT_FALSE(c.Set("levels").ok());
}

}  // namespace
}  // namespace doppel::analytics
