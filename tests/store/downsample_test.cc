#include "doppel/store/downsample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace doppel::store {
namespace {

std::vector<Sample> RandomSeries(std::mt19937_64& rng, size_t n, TimeNs start, TimeNs max_step) {
  std::vector<Sample> v;
  TimeNs t = start;
  std::normal_distribution<double> val(0, 10);
  std::uniform_int_distribution<TimeNs> step(1, max_step);
  for (size_t i = 0; i < n; ++i) {
    v.push_back({t, val(rng), Quality::kGood});
    t += step(rng);
  }
  return v;
}

bool Contains(const std::vector<Sample>& v, const Sample& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

void ExpectTimeOrderedSubset(const std::vector<Sample>& out, const std::vector<Sample>& in) {
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_TRUE(Contains(in, out[i]));
    if (i > 0) {
      EXPECT_LT(out[i - 1].ts_ns, out[i].ts_ns);
    }
  }
}

TEST(DownsampleTest, DownsampleKeepsMinAndMaxOfEachBucket) {
  std::mt19937_64 rng(7);
  for (size_t max_points : {4u, 8u, 40u, 100u, 1000u}) {
    auto in = RandomSeries(rng, 5000, 1'700'000'000'000'000'000, 5'000'000);
    auto out = DownsampleM4(in, max_points);
    // Independent answer: split [first ts, last ts] into max_points / 4 equal time buckets
    // (64-bit arithmetic is enough for these spans) and scan each bucket for its extremes.
    const uint64_t buckets = max_points / 4;
    const uint64_t width = static_cast<uint64_t>(in.back().ts_ns - in.front().ts_ns) + 1;
    std::vector<std::vector<Sample>> by_bucket(buckets);
    for (const Sample& s : in) {
      uint64_t b = static_cast<uint64_t>(s.ts_ns - in.front().ts_ns) * buckets / width;
      by_bucket.at(b).push_back(s);
    }
    for (const auto& b : by_bucket) {
      if (b.empty()) continue;
      auto [mn, mx] = std::minmax_element(b.begin(), b.end(),
                                          [](const Sample& a, const Sample& c) { return a.value < c.value; });
      EXPECT_TRUE(Contains(out, *mn)) << "bucket min missing, max_points " << max_points;
      EXPECT_TRUE(Contains(out, *mx)) << "bucket max missing, max_points " << max_points;
      EXPECT_TRUE(Contains(out, b.front()));
      EXPECT_TRUE(Contains(out, b.back()));
    }
    ExpectTimeOrderedSubset(out, in);
  }
}

TEST(DownsampleTest, DownsampleNeverExceedsMaxPoints) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 300; ++round) {
    size_t n = std::uniform_int_distribution<size_t>(0, 400)(rng);
    size_t max_points = std::uniform_int_distribution<size_t>(0, 60)(rng);
    auto in = RandomSeries(rng, n, std::numeric_limits<TimeNs>::min() / 2,
                           std::numeric_limits<TimeNs>::max() / 512);
    auto out = DownsampleM4(in, max_points);
    if (max_points == 0 || n <= max_points) {
      EXPECT_EQ(out, in);
    } else {
      EXPECT_LE(out.size(), max_points) << "n " << n;
      EXPECT_GE(out.size(), std::min<size_t>(max_points, 1));
    }
    ExpectTimeOrderedSubset(out, in);
  }
}

TEST(DownsampleTest, ExtremeTimestampsDoNotOverflow) {
  std::vector<Sample> in = {{std::numeric_limits<TimeNs>::min(), 1},
                            {-1, 5},
                            {0, -5},
                            {1, 2},
                            {std::numeric_limits<TimeNs>::max(), 3}};
  auto out = DownsampleM4(in, 4);
  EXPECT_LE(out.size(), 4u);
  EXPECT_TRUE(Contains(out, in[1]));  // max
  EXPECT_TRUE(Contains(out, in[2]));  // min
  ExpectTimeOrderedSubset(out, in);
}

TEST(DownsampleTest, FewerThanFourPointsKeepTheDocumentedSamples) {
  std::vector<Sample> in = {{1, 5}, {2, -3}, {3, 9}, {4, 0}, {5, 1}};
  EXPECT_EQ(DownsampleM4(in, 1), (std::vector<Sample>{{5, 1}}));
  EXPECT_EQ(DownsampleM4(in, 2), (std::vector<Sample>{{2, -3}, {3, 9}}));
  EXPECT_EQ(DownsampleM4(in, 3), (std::vector<Sample>{{2, -3}, {3, 9}, {5, 1}}));
}

TEST(DownsampleTest, NanIsNotChosenAsMinOrMax) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<Sample> in = {{1, 0}, {2, nan}, {3, 7}, {4, -7}, {5, nan}, {6, 1}};
  auto out = DownsampleM4(in, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].ts_ns, 3);
  EXPECT_EQ(out[1].ts_ns, 4);
}

}  // namespace
}  // namespace doppel::store
