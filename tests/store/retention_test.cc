// Retention and rollups: raw data older than its rule's retention is dropped (newer data
// intact), rollups equal an independent aggregation of the raw data (late, duplicate and NaN
// readings included), survive reopen and a crash at any point of EnforceRetention, and serve
// queries over dropped ranges; Validate names the broken rule.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "doppel/platform/env.h"
#include "doppel/store/segment.h"
#include "doppel/store/series_store.h"

namespace doppel::store {
namespace {

constexpr TimeNs kMin = std::numeric_limits<TimeNs>::min();
constexpr TimeNs kMax = std::numeric_limits<TimeNs>::max();
constexpr TimeNs kS = kNsPerS;

struct Agg {
  uint64_t count = 0, value_count = 0;
  double min = 0, max = 0, sum = 0;
  Sample last;
};

// Independent aggregation of `samples` (ts in [from, to]) per bucket [origin + k*step, ...).
std::map<TimeNs, Agg> Aggregate(const std::map<TimeNs, Sample>& samples, TimeNs from, TimeNs to,
                                TimeNs origin, TimeNs step) {
  std::map<TimeNs, Agg> out;
  for (auto it = samples.lower_bound(from); it != samples.end() && it->first <= to; ++it) {
    TimeNs k = (it->first - origin) / step;
    if ((it->first - origin) % step != 0 && it->first < origin) --k;
    Agg& a = out[origin + k * step];
    const Sample& x = it->second;
    ++a.count;
    a.last = x;
    if (std::isnan(x.value)) continue;
    a.min = a.value_count ? std::min(a.min, x.value) : x.value;
    a.max = a.value_count ? std::max(a.max, x.value) : x.value;
    a.sum += x.value;
    ++a.value_count;
  }
  return out;
}

void ExpectSame(const std::map<TimeNs, Agg>& want, const std::vector<AggregatePoint>& got) {
  ASSERT_EQ(got.size(), want.size());
  size_t i = 0;
  for (const auto& [start, a] : want) {
    const AggregatePoint& p = got[i++];
    ASSERT_EQ(p.start_ns, start);
    EXPECT_EQ(p.count, a.count) << start;
    EXPECT_EQ(p.last.ts_ns, a.last.ts_ns) << start;
    EXPECT_EQ(std::isnan(p.last.value), std::isnan(a.last.value)) << start;
    if (!std::isnan(a.last.value)) {
      EXPECT_EQ(p.last.value, a.last.value) << start;
    }
    if (a.value_count == 0) {
      EXPECT_TRUE(std::isnan(p.min)) << start;
      continue;
    }
    EXPECT_EQ(p.min, a.min) << start;
    EXPECT_EQ(p.max, a.max) << start;
    EXPECT_NEAR(p.sum, a.sum, 1e-9 * (1 + std::abs(a.sum))) << start;
  }
}

class RetentionTest : public ::testing::Test {
 protected:
  SeriesStoreOptions Options() {
    SeriesStoreOptions o;
    o.dir = "/data/series";
    o.fsync = FsyncPolicy::kNever;
    o.chunk_samples = 16;
    o.checkpoint_wal_bytes = 0;
    RetentionRule r;
    r.pattern = "pump-*/vib";
    r.raw_retention_ns = 600 * kS;
    r.rollups = {{60 * kS, 0}, {600 * kS, 0}};
    o.retention = {r};
    return o;
  }
  std::unique_ptr<SeriesStore> Open(const SeriesStoreOptions& o) {
    auto s = SeriesStore::Open(env_.get(), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  // n readings of pump-1/vib about one per second: some late (up to 300 s, older than sealed
  // chunks), some duplicates, some NaN; and tank-1/level (no rule) at the same times.
  void Write(SeriesStore* s, int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<Reading> batch;
    for (int i = 0; i < n; ++i) {
      next_ts_ += kS + static_cast<TimeNs>(rng() % 1000) * kNsPerMs;
      TimeNs ts = next_ts_;
      if (rng() % 8 == 0)
        ts = std::max<TimeNs>(next_ts_ - static_cast<TimeNs>(rng() % 300) * kS, ts - ts + 1);
      double v = std::round(std::sin(ts * 1e-10) * 1000) / 100 + (rng() % 9 == 0 ? std::nan("") : 0.0);
      batch.push_back({"pump-1", "vib", ts, v, Quality::kGood});
      batch.push_back({"tank-1", "level", ts, -v, Quality::kGood});
      model_[ts] = {ts, v, Quality::kGood};
      other_[ts] = {ts, -v, Quality::kGood};
      if (batch.size() >= 10) {
        ASSERT_TRUE(s->Append(0, batch).ok());
        batch.clear();
      }
    }
    ASSERT_TRUE(s->Append(0, batch).ok());
  }
  std::vector<Sample> ModelRange(const std::map<TimeNs, Sample>& m, TimeNs from, TimeNs to) {
    std::vector<Sample> out;
    for (auto it = m.lower_bound(from); it != m.end() && it->first <= to; ++it) out.push_back(it->second);
    return out;
  }
  void ExpectSamples(const std::vector<Sample>& want, const std::vector<Sample>& got) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(got[i].ts_ns, want[i].ts_ns) << i;
      ASSERT_EQ(std::isnan(got[i].value), std::isnan(want[i].value)) << i;
      if (!std::isnan(want[i].value)) {
        ASSERT_EQ(got[i].value, want[i].value) << i;
      }
    }
  }
  // The store holds exactly: raw samples after its horizon, rollups of everything at or before.
  void ExpectConsistent(SeriesStore* s) {
    const TimeNs h = s->RawHorizon("pump-1", "vib");
    auto raw = s->Query("pump-1", "vib", h == kMin ? kMin : h + 1, kMax, 0);
    ASSERT_TRUE(raw.ok());
    ExpectSamples(ModelRange(model_, h == kMin ? kMin : h + 1, kMax), *raw);
    for (TimeNs step : {60 * kS, 600 * kS}) {
      auto r = s->Rollups("pump-1", "vib", step, kMin, kMax);
      ASSERT_TRUE(r.ok());
      if (h == kMin) {
        EXPECT_TRUE(r->empty());
      } else {
        ExpectSame(Aggregate(model_, kMin, h, 0, step), *r);
      }
    }
    auto other = s->Query("tank-1", "level", kMin, kMax, 0);
    ASSERT_TRUE(other.ok());
    ExpectSamples(ModelRange(other_, kMin, kMax), *other);
  }

  std::unique_ptr<platform::MemEnv> env_ = platform::NewMemEnv();
  std::map<TimeNs, Sample> model_, other_;
  TimeNs next_ts_ = 1000 * kS;
};

TEST_F(RetentionTest, RawDataOlderThanRetentionIsGoneAndNewerDataIntact) {
  auto s = Open(Options());
  Write(s.get(), 3000, 1);
  ASSERT_TRUE(s->Checkpoint().ok());
  const TimeNs now = next_ts_;
  const uint64_t chunks_before = s->Stats().chunks;
  ASSERT_TRUE(s->EnforceRetention(now).ok());
  const TimeNs h = s->RawHorizon("pump-1", "vib");
  ASSERT_NE(h, kMin);
  EXPECT_LT(h, now - 600 * kS);             // only data older than the retention went
  EXPECT_GT(h, now - 600 * kS - 100 * kS);  // whole chunks: at most about one chunk kept extra
  EXPECT_LT(s->Stats().chunks, chunks_before);
  EXPECT_GT(s->Stats().dropped_chunks, 0u);
  EXPECT_EQ(s->RawHorizon("tank-1", "level"), kMin);  // no rule: untouched
  ExpectConsistent(s.get());
  // Everything in the retention window is intact.
  auto recent = s->Query("pump-1", "vib", now - 600 * kS, kMax, 0);
  ASSERT_TRUE(recent.ok());
  ExpectSamples(ModelRange(model_, now - 600 * kS, kMax), *recent);
  // A reading at or before the horizon expires on arrival.
  ASSERT_TRUE(s->Append(0, {{"pump-1", "vib", h, 1.0, Quality::kGood}}).ok());
  EXPECT_EQ(s->Stats().expired_readings, 1u);
  ExpectConsistent(s.get());
  // The segment files shrank to the retained data: reopen sees the same.
  s.reset();
  s = Open(Options());
  EXPECT_EQ(s->RawHorizon("pump-1", "vib"), h);
  ExpectConsistent(s.get());
}

// A damaged chunk segment newer than every intact one (left on disk for inspection) must not
// make retention take the newest intact segment's head snapshots for superseded ones: they are
// the only copy of the unsealed samples until the next checkpoint.
TEST_F(RetentionTest, ACorruptNewestSegmentDoesNotMakeRetentionDropTheLiveHeads) {
  {
    auto s = Open(Options());
    Write(s.get(), 3000, 3);
    ASSERT_TRUE(s->Checkpoint().ok());
  }
  // A newer segment whose bytes are garbage (bit rot, a foreign file).
  {
    auto f = env_->NewWritableFile("/data/series/" + segment::FileName(99));
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(std::string(200, 'x')).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  {
    auto s = Open(Options());
    EXPECT_EQ(s->recovery().corrupt_segments, 1u);
    ExpectConsistent(s.get());
    ASSERT_TRUE(s->EnforceRetention(next_ts_).ok());
    ExpectConsistent(s.get());
  }
  auto s = Open(Options());
  ExpectConsistent(s.get());
}

TEST_F(RetentionTest, RollupsEqualIndependentAggregationOfRawDataWithLateInserts) {
  auto s = Open(Options());
  TimeNs prev_h = kMin;
  for (int round = 0; round < 8; ++round) {
    Write(s.get(), 700, 10 + round);
    if (round % 2 == 0) {
      ASSERT_TRUE(s->Checkpoint().ok());  // persisted and unpersisted chunks
    }
    ASSERT_TRUE(s->EnforceRetention(next_ts_).ok());
    const TimeNs h = s->RawHorizon("pump-1", "vib");
    EXPECT_GE(h, prev_h);
    prev_h = h;
    // Late readings after the horizon keep arriving: they land in the raw data.
    ExpectConsistent(s.get());
  }
  EXPECT_NE(prev_h, kMin);
}

TEST_F(RetentionTest, QueriesOverDroppedRangeAreServedFromRollups) {
  auto s = Open(Options());
  Write(s.get(), 3000, 3);
  ASSERT_TRUE(s->EnforceRetention(next_ts_).ok());
  const TimeNs h = s->RawHorizon("pump-1", "vib");
  ASSERT_NE(h, kMin);
  // Aggregate over the whole history at the rollup step (origin aligned): rollup buckets before
  // the horizon, raw after, the bucket holding the horizon combines both; equals aggregating
  // all raw data ever written.
  auto agg = s->Aggregate("pump-1", "vib", 0, kMax / 2, 60 * kS);
  ASSERT_TRUE(agg.ok());
  ExpectSame(Aggregate(model_, kMin, kMax, 0, 60 * kS), *agg);
  // Coarser query steps that are multiples of the rollup step are exact too.
  auto agg10 = s->Aggregate("pump-1", "vib", 0, kMax / 2, 3600 * kS);
  ASSERT_TRUE(agg10.ok());
  ExpectSame(Aggregate(model_, kMin, kMax, 0, 3600 * kS), *agg10);
  // Query: one point per finest bucket (start, avg) before the horizon, raw samples after.
  auto q = s->Query("pump-1", "vib", 0, kMax, 0);
  ASSERT_TRUE(q.ok());
  auto want_buckets = Aggregate(model_, kMin, h, 0, 60 * kS);
  auto want_raw = ModelRange(model_, h + 1, kMax);
  ASSERT_EQ(q->size(), want_buckets.size() + want_raw.size());
  size_t i = 0;
  for (const auto& [start, a] : want_buckets) {
    EXPECT_EQ((*q)[i].ts_ns, start);
    if (a.value_count) {
      EXPECT_NEAR((*q)[i].value, a.sum / a.value_count, 1e-9);
    }
    ++i;
  }
  ExpectSamples(want_raw, std::vector<Sample>(q->begin() + static_cast<long>(i), q->end()));
  // Downsampled: at most max_points.
  auto q100 = s->Query("pump-1", "vib", 0, kMax, 100);
  ASSERT_TRUE(q100.ok());
  EXPECT_LE(q100->size(), 100u);
  EXPECT_FALSE(q100->empty());
  // ValueAt at the end of a rolled-up minute is the latest sample at or before it.
  for (const auto& [start, a] : want_buckets) {
    const TimeNs t = start + 60 * kS - 1;
    if (t > h) break;
    auto v = s->ValueAt("pump-1", "vib", t);
    ASSERT_TRUE(v.ok());
    ASSERT_TRUE(v->has_value());
    EXPECT_EQ((*v)->ts_ns, std::prev(model_.upper_bound(t))->first);
  }
  auto before_all = s->ValueAt("pump-1", "vib", 0);
  ASSERT_TRUE(before_all.ok());
  EXPECT_FALSE(before_all->has_value());
}

TEST_F(RetentionTest, RollupsSurviveReopenAndCompaction) {
  auto o = Options();
  {
    auto s = Open(o);
    for (int round = 0; round < 20; ++round) {  // more than 16 rollup deltas: one full file
      Write(s.get(), 150, 20 + round);
      ASSERT_TRUE(s->EnforceRetention(next_ts_).ok());
    }
    EXPECT_LT(s->Stats().rollup_files, 16u);
    EXPECT_GT(s->Stats().rollup_buckets, 0u);
    ExpectConsistent(s.get());
  }
  auto s = Open(o);
  EXPECT_GT(s->recovery().rollup_files, 0u);
  EXPECT_EQ(s->recovery().damaged_rollups, 0u);
  ExpectConsistent(s.get());
  // Without any rule the rollups are still served (the rule is only used to make new ones).
  auto bare = Options();
  bare.retention.clear();
  s.reset();
  s = Open(bare);
  ExpectConsistent(s.get());
}

TEST_F(RetentionTest, RollupBucketsOlderThanTheirRetentionAreDropped) {
  auto o = Options();
  o.retention[0].rollups = {{60 * kS, 1200 * kS}, {600 * kS, 0}};
  auto s = Open(o);
  Write(s.get(), 4000, 4);
  ASSERT_TRUE(s->EnforceRetention(next_ts_).ok());
  auto fine = s->Rollups("pump-1", "vib", 60 * kS, kMin, kMax);
  auto coarse = s->Rollups("pump-1", "vib", 600 * kS, kMin, kMax);
  ASSERT_TRUE(fine.ok() && coarse.ok());
  ASSERT_FALSE(fine->empty());
  EXPECT_GE(fine->front().start_ns, next_ts_ - 1200 * kS - 60 * kS);
  ExpectSame(Aggregate(model_, kMin, s->RawHorizon("pump-1", "vib"), 0, 600 * kS), *coarse);
  // A range older than the fine level's retention is served by the coarse level.
  // (A rollup bucket counts where it starts: end the range on a bucket boundary.)
  const TimeNs to = (next_ts_ - 2000 * kS) / (600 * kS) * (600 * kS) - 1;
  auto agg = s->Aggregate("pump-1", "vib", 0, to, 600 * kS);
  ASSERT_TRUE(agg.ok());
  ExpectSame(Aggregate(model_, kMin, to, 0, 600 * kS), *agg);
}

TEST_F(RetentionTest, CrashAtAnyPointOfEnforcementLeavesAConsistentStore) {
  auto o = Options();
  o.checkpoint_on_open_close = false;
  // A dry run measures how many bytes one enforcement writes.
  uint64_t total = 0;
  {
    auto s = Open(o);
    Write(s.get(), 2000, 5);
    ASSERT_TRUE(s->Checkpoint().ok());
    const uint64_t before = env_->BytesWritten();
    ASSERT_TRUE(s->EnforceRetention(next_ts_).ok());
    total = env_->BytesWritten() - before;
  }
  ASSERT_GT(total, 0u);
  const std::map<TimeNs, Sample> model = model_;
  const TimeNs now = next_ts_;
  int crashes = 0;
  for (uint64_t budget = 0; budget <= total + 1; budget += std::max<uint64_t>(1, total / 40)) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    env_ = platform::NewMemEnv();
    model_.clear();
    other_.clear();
    next_ts_ = 1000 * kS;
    {
      auto s = Open(o);
      Write(s.get(), 2000, 5);
      ASSERT_TRUE(s->Checkpoint().ok());
      env_->FailWritesAfter(budget);
      if (!s->EnforceRetention(now).ok()) ++crashes;
      env_->DropUnsyncedData();  // and the power goes
      env_->ClearFaults();
    }
    ASSERT_EQ(model_.size(), model.size());
    auto s = Open(o);
    ExpectConsistent(s.get());
    ASSERT_TRUE(s->EnforceRetention(now).ok());  // completes what was interrupted
    ExpectConsistent(s.get());
    s.reset();
    s = Open(o);
    ExpectConsistent(s.get());
  }
  EXPECT_GT(crashes, 0);
}

TEST_F(RetentionTest, ValidateRejectsBadRulesNamingTheRule) {
  auto bad = [](auto edit) {
    SeriesStoreOptions o;
    o.dir = "/d";
    o.retention = {{"*", 3600 * kS, {{60 * kS, 0}}}, {"pump-*/vib", 600 * kS, {{60 * kS, 86400 * kS}}}};
    edit(o.retention[1]);
    return o.Validate();
  };
  EXPECT_TRUE(bad([](RetentionRule&) {}).ok());
  auto expect = [](const Status& st, const std::string& part) {
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(st.message().find("retention[1]"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(part), std::string::npos) << st.message();
  };
  expect(bad([](RetentionRule& r) { r.pattern = ""; }), "pattern is empty");
  expect(bad([](RetentionRule& r) { r.raw_retention_ns = -1; }), "pump-*/vib");
  expect(bad([](RetentionRule& r) { r.rollups[0].step_ns = 0; }), "rollups[0]: step must be positive");
  expect(bad([](RetentionRule& r) {
           r.rollups.push_back({30 * kS, 0});
         }),
         "rollups[1]: steps must be strictly");
  expect(bad([](RetentionRule& r) { r.rollups[0].retention_ns = 300 * kS; }),
         "longer than the raw retention");
  expect(bad([](RetentionRule& r) { r.raw_retention_ns = 0; }), "rollups need a raw retention");
}

}  // namespace
}  // namespace doppel::store
