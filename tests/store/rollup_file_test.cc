// The rollup file format (docs/formats/rollup.md): what Build writes Parse reads back, and what
// is damaged is named and skipped without taking the rest of the file with it.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "doppel/store/rollup.h"

namespace doppel::store {
namespace {

constexpr TimeNs kMinute = 60 * kNsPerS;

rollupfile::SeriesRollups Series(const std::string& twin, int buckets) {
  rollupfile::SeriesRollups s;
  s.twin = twin;
  s.signal = "flow_m3h";
  s.raw_horizon = buckets * kMinute;
  RollupLevel l;
  l.step_ns = kMinute;
  l.kept_from = 0;
  std::vector<Sample> samples;
  for (int i = 0; i < buckets * 6; ++i) samples.push_back(Sample{i * 10 * kNsPerS, 40.0 + i % 7});
  AddToLevel(samples, &l);
  s.levels.push_back(l);
  return s;
}

TEST(RollupFileTest, WhatBuildWritesParseReadsBack) {
  rollupfile::Contents c;
  c.seq = 12;
  c.full = true;
  c.series = {Series("pump-1", 5), Series("pump-2", 3)};
  rollupfile::Contents back;
  std::vector<std::string> damaged;
  ASSERT_TRUE(rollupfile::Parse(rollupfile::Build(c), &back, &damaged).ok());
  EXPECT_TRUE(damaged.empty());
  EXPECT_EQ(back.seq, 12u);
  EXPECT_TRUE(back.full);
  ASSERT_EQ(back.series.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back.series[i].twin, c.series[i].twin);
    EXPECT_EQ(back.series[i].raw_horizon, c.series[i].raw_horizon);
    ASSERT_EQ(back.series[i].levels.size(), 1u);
    EXPECT_EQ(back.series[i].levels[0].buckets, c.series[i].levels[0].buckets);
  }
}

// A bucket whose sample times lie outside it (a writer bug or a damaged block whose CRC still
// matches) is refused with its block, not read as times that overflow or contradict the bucket.
TEST(RollupFileTest, ABucketWithSampleTimesOutsideItDamagesOnlyItsBlock) {
  for (const TimeNs bad_offset : {-kNsPerS, kMinute, std::numeric_limits<TimeNs>::max() / 2}) {
    rollupfile::Contents c;
    c.series = {Series("pump-1", 2), Series("pump-2", 2)};
    c.series[0].levels[0].buckets[1].last.ts_ns = c.series[0].levels[0].buckets[1].start_ns + bad_offset;
    rollupfile::Contents back;
    std::vector<std::string> damaged;
    ASSERT_TRUE(rollupfile::Parse(rollupfile::Build(c), &back, &damaged).ok());
    ASSERT_EQ(damaged.size(), 1u) << bad_offset;
    EXPECT_NE(damaged[0].find("outside the bucket"), std::string::npos) << damaged[0];
    ASSERT_EQ(back.series.size(), 1u);
    EXPECT_EQ(back.series[0].twin, "pump-2");
  }
}

TEST(RollupFileTest, AFlippedByteIsAChecksumMismatchAndATruncatedFileHasNoEndBlock) {
  rollupfile::Contents c;
  c.series = {Series("pump-1", 2), Series("pump-2", 2)};
  std::string file = rollupfile::Build(c);
  std::string flipped = file;
  flipped[rollupfile::kHeaderSize + 20] ^= 0x40;  // inside the first series block's payload
  rollupfile::Contents back;
  std::vector<std::string> damaged;
  ASSERT_TRUE(rollupfile::Parse(flipped, &back, &damaged).ok());
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_NE(damaged[0].find("checksum"), std::string::npos) << damaged[0];
  EXPECT_EQ(back.series.size(), 1u);

  rollupfile::Contents untouched;
  untouched.seq = 5;
  Status s = rollupfile::Parse(file.substr(0, file.size() - 3), &untouched, &damaged);
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(untouched.seq, 5u);
}

}  // namespace
}  // namespace doppel::store
