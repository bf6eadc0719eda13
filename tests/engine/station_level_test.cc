// The pumps' tank level input by source time (station_level.h).
#include "doppel/engine/station_level.h"

#include <gtest/gtest.h>

#include <thread>

namespace doppel::engine {
namespace {

TEST(StationLevelTest, NothingRecordedGivesTheFallback) {
  StationLevel l;
  EXPECT_DOUBLE_EQ(l.At(100, 2.5), 2.5);
  EXPECT_EQ(l.size(), 0u);
}

TEST(StationLevelTest, AStepSeesTheNewestSampleAtOrBeforeItsTime) {
  StationLevel l;
  l.Record(10, 1.0);
  l.Record(20, 2.0);
  l.Record(30, 3.0);
  EXPECT_DOUBLE_EQ(l.At(10, -1), 1.0);  // exactly at a sample
  EXPECT_DOUBLE_EQ(l.At(19, -1), 1.0);  // held until the next one
  EXPECT_DOUBLE_EQ(l.At(20, -1), 2.0);
  EXPECT_DOUBLE_EQ(l.At(29, -1), 2.0);
  EXPECT_DOUBLE_EQ(l.At(1000, -1), 3.0);  // a tank behind the pump: its newest
  EXPECT_DOUBLE_EQ(l.At(5, -1), 1.0);     // older than everything kept: the oldest
}

TEST(StationLevelTest, OutOfOrderSamplesAreSortedInAndASameTimeSampleReplaces) {
  StationLevel l;
  l.Record(20, 2.0);
  l.Record(10, 1.0);  // out of order: sorted in
  l.Record(30, 3.0);
  l.Record(25, 2.6);
  l.Record(20, 2.5);  // the same time: replaces
  EXPECT_EQ(l.size(), 4u);
  EXPECT_DOUBLE_EQ(l.At(15, -1), 1.0);
  EXPECT_DOUBLE_EQ(l.At(20, -1), 2.5);
  EXPECT_DOUBLE_EQ(l.At(27, -1), 2.6);
  EXPECT_DOUBLE_EQ(l.At(35, -1), 3.0);
}

TEST(StationLevelTest, WhenFullASampleOlderThanAllKeptIsDropped) {
  StationLevel l(2);
  l.Record(20, 2.0);
  l.Record(30, 3.0);
  l.Record(10, 1.0);  // full, older than both: dropped
  EXPECT_EQ(l.size(), 2u);
  EXPECT_DOUBLE_EQ(l.At(10, -1), 2.0);
  l.Record(25, 2.5);  // full, in between: sorted in, the oldest goes
  EXPECT_EQ(l.size(), 2u);
  EXPECT_DOUBLE_EQ(l.At(20, -1), 2.5);  // older than all kept: the oldest kept
  EXPECT_DOUBLE_EQ(l.At(30, -1), 3.0);
}

TEST(StationLevelTest, OnlyTheNewestCapacitySamplesAreKept) {
  StationLevel l(3);
  for (int i = 1; i <= 5; ++i) l.Record(i * 10, i);
  EXPECT_EQ(l.size(), 3u);
  EXPECT_DOUBLE_EQ(l.At(10, -1), 3.0);  // 10 and 20 dropped: the oldest kept
  EXPECT_DOUBLE_EQ(l.At(45, -1), 4.0);
}

TEST(StationLevelTest, RecordAndAtFromTwoThreads) {
  StationLevel l(64);
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i) l.Record(i, 0.001 * i);
  });
  double last = -1;
  for (int i = 0; i < 20000; ++i) {
    const double v = l.At(1'000'000, -1);  // the newest: never goes back
    EXPECT_GE(v, last);
    last = v;
  }
  writer.join();
  EXPECT_DOUBLE_EQ(l.At(19999, -1), 19.999);
}

}  // namespace
}  // namespace doppel::engine
