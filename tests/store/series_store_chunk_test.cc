// SeriesStore with sealed chunks and checkpoints: reads equal a model of the samples written
// (late, duplicate and out-of-order ones included), downsampled reads equal M4 of the raw range,
// a checkpoint lets restart replay only the WAL tail, and a damaged chunk costs only itself.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "doppel/platform/env.h"
#include "doppel/store/chunk_format.h"
#include "doppel/store/segment.h"
#include "doppel/store/series_store.h"

namespace doppel::store {
namespace {

Reading R(const std::string& twin, const std::string& sig, TimeNs ts, double v) {
  return {twin, sig, ts, v, Quality::kGood};
}

class ChunkedStoreTest : public ::testing::Test {
 protected:
  SeriesStoreOptions Options() {
    SeriesStoreOptions o;
    o.dir = "/data/series";
    o.fsync = FsyncPolicy::kNever;
    o.chunk_samples = 16;
    o.checkpoint_wal_bytes = 0;
    return o;
  }
  std::unique_ptr<SeriesStore> Open(const SeriesStoreOptions& o) {
    auto s = SeriesStore::Open(env_.get(), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::vector<Sample> Model(TimeNs from, TimeNs to) {
    std::vector<Sample> out;
    for (auto it = model_.lower_bound(from); it != model_.end() && it->first <= to; ++it)
      out.push_back(it->second);
    return out;
  }
  // Writes n readings of ("t", "s"): mostly increasing, some late (older than sealed chunks),
  // some duplicates.
  void WriteRandom(SeriesStore* s, int n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<Reading> batch;
    for (int i = 0; i < n; ++i) {
      next_ts_ += 1 + rng() % 10;
      TimeNs ts = next_ts_;
      if (rng() % 10 == 0)
        ts = std::max<TimeNs>(0, next_ts_ - static_cast<TimeNs>(rng() % 500));  // late/duplicate
      double v = std::round(std::sin(ts * 0.01) * 1000) / 100 + (rng() % 3 == 0 ? std::nan("") : 0.0);
      batch.push_back(R("t", "s", ts, v));
      model_[ts] = {ts, v, Quality::kGood};
      if (batch.size() == 7) {
        ASSERT_TRUE(s->Append(0, batch).ok());
        batch.clear();
      }
    }
    ASSERT_TRUE(s->Append(0, batch).ok());
  }
  void ExpectSameAsModel(SeriesStore* s) {
    auto all = s->Query("t", "s", INT64_MIN, INT64_MAX, 0);
    ASSERT_TRUE(all.ok());
    auto want = Model(INT64_MIN, INT64_MAX);
    ASSERT_EQ(all->size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ((*all)[i].ts_ns, want[i].ts_ns) << i;
      ASSERT_EQ(std::isnan((*all)[i].value), std::isnan(want[i].value)) << i;
      if (!std::isnan(want[i].value)) {
        ASSERT_EQ((*all)[i].value, want[i].value) << i;
      }
    }
    EXPECT_EQ(s->Stats().samples, want.size());
  }

  std::unique_ptr<platform::MemEnv> env_ = platform::NewMemEnv();
  std::map<TimeNs, Sample> model_;
  TimeNs next_ts_ = 1000;
};

bool SameSamples(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].ts_ns != b[i].ts_ns ||
        !(a[i].value == b[i].value || (std::isnan(a[i].value) && std::isnan(b[i].value))))
      return false;
  }
  return true;
}

TEST_F(ChunkedStoreTest, ReadsEqualTheWrittenSamplesWithLateAndDuplicateOnes) {
  auto s = Open(Options());
  WriteRandom(s.get(), 3000, 1);
  EXPECT_GT(s->Stats().chunks, 100u);
  ExpectSameAsModel(s.get());
}

TEST_F(ChunkedStoreTest, DownsampledQueryEqualsM4OfTheRawRange) {
  auto o = Options();
  auto s = Open(o);
  // In order (chunks disjoint: the summary fast path) and then with late data (merge path).
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 0) {
      std::vector<Reading> b;
      for (int i = 0; i < 5000; ++i) {
        next_ts_ += 1 + i % 7;
        double v = std::sin(i * 0.003) * 100 + (i % 13 == 0 ? std::nan("") : 0.0);
        b.push_back(R("t", "s", next_ts_, v));
        model_[next_ts_] = {next_ts_, v, Quality::kGood};
      }
      ASSERT_TRUE(s->Append(0, b).ok());
    } else {
      WriteRandom(s.get(), 2000, 2);
    }
    for (auto [from, to] : {std::pair<TimeNs, TimeNs>{INT64_MIN, INT64_MAX}, {5000, 20000}, {1234, 1300}}) {
      for (size_t pts : {4u, 5u, 40u, 100u, 1000u, 3u, 1u}) {
        auto got = s->Query("t", "s", from, to, pts);
        ASSERT_TRUE(got.ok());
        auto raw = Model(from, to);
        EXPECT_TRUE(SameSamples(*got, DownsampleM4(raw, pts)))
            << "pass " << pass << " range " << from << ".." << to << " points " << pts;
      }
    }
  }
}

TEST_F(ChunkedStoreTest, AggregatesValueAtAndAlignedReadsMatchTheRawSamples) {
  auto s = Open(Options());
  WriteRandom(s.get(), 2000, 3);
  const TimeNs from = 1500, to = 9000, step = 250;
  auto agg = s->Aggregate("t", "s", from, to, step);
  ASSERT_TRUE(agg.ok());
  std::map<TimeNs, AggregatePoint> want;
  for (const Sample& x : Model(from, to)) {
    AggregatePoint& p = want[from + (x.ts_ns - from) / step * step];
    p.count++;
    p.last = x;
    if (!std::isnan(x.value)) p.sum += x.value;
  }
  ASSERT_EQ(agg->size(), want.size());
  for (const AggregatePoint& p : *agg) {
    ASSERT_TRUE(want.count(p.start_ns));
    EXPECT_EQ(p.count, want[p.start_ns].count);
    EXPECT_NEAR(p.sum, want[p.start_ns].sum, 1e-9 * (1 + std::fabs(p.sum)));
    EXPECT_EQ(p.last.ts_ns, want[p.start_ns].last.ts_ns);
  }
  for (TimeNs t : {TimeNs{0}, TimeNs{1001}, TimeNs{5555}, next_ts_ + 10}) {
    auto v = s->ValueAt("t", "s", t);
    ASSERT_TRUE(v.ok());
    auto it = model_.upper_bound(t);
    if (it == model_.begin()) {
      EXPECT_FALSE(v->has_value());
    } else {
      ASSERT_TRUE(v->has_value());
      EXPECT_EQ((*v)->ts_ns, std::prev(it)->first);
    }
  }
  auto grid = s->ReadAligned({{"t", "s"}, {"nope", "x"}}, from, to, step);
  ASSERT_TRUE(grid.ok());
  ASSERT_EQ(grid->ts_ns.size(), static_cast<size_t>((to - from) / step + 1));
  for (size_t k = 0; k < grid->ts_ns.size(); ++k) {
    const double want_v = std::prev(model_.upper_bound(grid->ts_ns[k]))->second.value;
    const double got = grid->values[0][k];
    EXPECT_TRUE(got == want_v || (std::isnan(got) && std::isnan(want_v))) << k;
    EXPECT_TRUE(std::isnan(grid->values[1][k]));
  }
}

TEST_F(ChunkedStoreTest, CheckpointRemovesCoveredWalAndRestartReplaysOnlyTheTail) {
  auto o = Options();
  {
    auto s = Open(o);
    WriteRandom(s.get(), 1000, 4);
    ASSERT_TRUE(s->Checkpoint().ok());
    auto names = env_->ListDir(o.dir);
    ASSERT_TRUE(names.ok());
    const std::vector<std::string> list = *names;
    for (const auto& n : list) EXPECT_EQ(n.rfind("wal-", 0), std::string::npos) << n;
    WriteRandom(s.get(), 35, 5);  // the tail: 5 batches of 7
    o.checkpoint_on_open_close = false;
  }
  {
    o.checkpoint_on_open_close = false;
    auto s = Open(o);  // the previous store checkpointed at close; write a tail without one
    EXPECT_EQ(s->recovery().readings, 0u);
    WriteRandom(s.get(), 35, 6);
  }
  o.checkpoint_on_open_close = true;
  auto s = Open(o);
  EXPECT_EQ(s->recovery().readings, 35u);
  EXPECT_EQ(s->recovery().corrupt_segments, 0u);
  EXPECT_TRUE(s->recovery().warnings.empty());
  ExpectSameAsModel(s.get());
}

TEST_F(ChunkedStoreTest, FlippedByteInAChunkIsReportedAndOtherSeriesAreStillServed) {
  auto o = Options();
  {
    auto s = Open(o);
    std::vector<Reading> b;
    for (int i = 0; i < 64; ++i) b.push_back(R("a", "x", i, i * 1.5));
    for (int i = 0; i < 64; ++i) b.push_back(R("b", "y", i, i * 2.5));
    ASSERT_TRUE(s->Append(0, b).ok());
  }  // checkpoint at close
  std::string seg;
  auto names = env_->ListDir(o.dir);
  ASSERT_TRUE(names.ok());
  const std::vector<std::string> list = *names;
  for (const auto& n : list) {
    uint64_t q;
    if (segment::ParseFileName(n, &q)) seg = o.dir + "/" + n;
  }
  ASSERT_FALSE(seg.empty());
  // The first chunk block starts right after the 16-byte header; damage its payload.
  ASSERT_TRUE(env_->CorruptByte(seg, chunkfmt::kSegmentHeaderSize + chunkfmt::kBlockHeaderSize + 3).ok());
  auto s = Open(o);
  EXPECT_EQ(s->recovery().damaged_chunks, 1u);
  ASSERT_FALSE(s->recovery().warnings.empty());
  EXPECT_NE(s->recovery().warnings[0].find("checksum"), std::string::npos) << s->recovery().warnings[0];
  auto a = s->Query("a", "x", 0, 100, 0);
  auto b = s->Query("b", "y", 0, 100, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size() + b->size(), 64u + 64u - 16u);  // one 16-sample chunk lost, the rest served
}

TEST_F(ChunkedStoreTest, ReadOnlyOpenChangesNothing) {
  auto o = Options();
  {
    auto s = Open(o);
    WriteRandom(s.get(), 100, 7);
    o.checkpoint_on_open_close = false;
  }
  auto ro = o;
  ro.read_only = true;
  auto s = Open(ro);
  EXPECT_EQ(s->Append(0, {R("t", "s", 1, 1)}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s->Checkpoint().code(), StatusCode::kFailedPrecondition);
  ExpectSameAsModel(s.get());
}

}  // namespace
}  // namespace doppel::store
