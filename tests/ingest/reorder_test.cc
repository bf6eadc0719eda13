#include "doppel/ingest/reorder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "doppel/ingest/topic.h"

namespace doppel::ingest {
namespace {

Reading At(TimeNs ts) { return Reading{"t", "s", ts, static_cast<double>(ts), Quality::kGood}; }

TEST(ReorderBufferTest, ShuffledInputWithinLatenessIsReleasedInSourceOrder) {
  std::vector<TimeNs> ts;
  for (int i = 0; i < 1000; ++i) ts.push_back(i * 10);
  // Shuffle within windows of 5 readings (50 ns) — less than the allowed lateness of 100.
  std::mt19937 rng(3);
  for (size_t i = 0; i + 5 <= ts.size(); i += 5) std::shuffle(ts.begin() + i, ts.begin() + i + 5, rng);
  ReorderBuffer buf(100);
  std::vector<Reading> out;
  for (TimeNs t : ts) {
    ASSERT_TRUE(buf.Add(At(t), 0));
    buf.Release(0, &out);
  }
  buf.Flush(&out);
  ASSERT_EQ(out.size(), 1000u);
  for (size_t i = 1; i < out.size(); ++i) ASSERT_LE(out[i - 1].source_ts_ns, out[i].source_ts_ns);
}

TEST(ReorderBufferTest, ReadingOlderThanLastReleasedIsLate) {
  ReorderBuffer buf(100);
  std::vector<Reading> out;
  ASSERT_TRUE(buf.Add(At(1000), 0));
  ASSERT_TRUE(buf.Add(At(1200), 0));
  buf.Release(0, &out);  // watermark 1100 releases 1000
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(buf.Add(At(1150), 0));  // behind the newest, but not behind what was released
  EXPECT_FALSE(buf.Add(At(999), 0));  // late
  EXPECT_TRUE(buf.Add(At(1000), 0));  // equal to the last released is not late
}

TEST(ReorderBufferTest, RefusedLateReadingIsLeftIntactAndHeldOnesKeepTheirContents) {
  ReorderBuffer buf(100);
  std::vector<Reading> out;
  Reading a{"a-twin-with-a-heap-allocated-id", "a_signal_name_longer_than_sso", 1000, 1.5,
            Quality::kUncertain};
  ASSERT_TRUE(buf.Add(Reading(a), 0));
  ASSERT_TRUE(buf.Add(At(1200), 0));
  buf.Release(0, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].twin, a.twin);
  EXPECT_EQ(out[0].signal, a.signal);
  EXPECT_EQ(out[0].quality, Quality::kUncertain);
  Reading late = a;
  late.source_ts_ns = 999;
  EXPECT_FALSE(buf.Add(std::move(late), 0));
  EXPECT_EQ(late.twin, a.twin);  // the caller still owns it (the engine counts it, it is stored)
  EXPECT_EQ(late.signal, a.signal);
}

TEST(ReorderBufferTest, QuietTwinIsReleasedAfterTheLatenessInProcessingTime) {
  ReorderBuffer buf(100);
  std::vector<Reading> out;
  ASSERT_TRUE(buf.Add(At(5000), /*arrival=*/10));
  buf.Release(50, &out);
  EXPECT_TRUE(out.empty());
  buf.Release(110, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(buf.size(), 0u);
}

TEST(TopicTemplateTest, ExtractsTheTwinAndBuildsTheFilter) {
  auto t = TopicTemplate::Parse("plant/{twin}/telemetry");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Filter(), "plant/+/telemetry");
  EXPECT_EQ(t->Format("pump-2"), "plant/pump-2/telemetry");
  std::string_view twin;
  ASSERT_TRUE(t->Match("plant/pump-2/telemetry", &twin));
  EXPECT_EQ(twin, "pump-2");
  EXPECT_FALSE(t->Match("plant/pump-2/commands", &twin));
  EXPECT_FALSE(t->Match("plant/a/b/telemetry", &twin));
  EXPECT_FALSE(t->Match("plant//telemetry", &twin));
}

TEST(TopicTemplateTest, RejectsTemplatesWithoutASingleWholeLevelTwin) {
  EXPECT_FALSE(TopicTemplate::Parse("plant/telemetry").ok());
  EXPECT_FALSE(TopicTemplate::Parse("plant/{twin}/{twin}").ok());
  EXPECT_FALSE(TopicTemplate::Parse("plant/x{twin}/t").ok());
  EXPECT_FALSE(TopicTemplate::Parse("plant/+/{twin}").ok());
  EXPECT_TRUE(TopicTemplate::Parse("{twin}").ok());
}

TEST(GlobMatchTest, StarAndQuestionMark) {
  EXPECT_TRUE(GlobMatch("pump-*", "pump-1"));
  EXPECT_TRUE(GlobMatch("pump-*", "pump-"));
  EXPECT_FALSE(GlobMatch("pump-*", "tank-1"));
  EXPECT_TRUE(GlobMatch("*-?", "tank-1"));
  EXPECT_FALSE(GlobMatch("*-?", "tank-12"));
  EXPECT_TRUE(GlobMatch("*", ""));
}

}  // namespace
}  // namespace doppel::ingest
