// SeriesStore behaviour, run against the POSIX Env (temp dir) and the in-memory Env.
#include "doppel/store/series_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <thread>

#include "doppel/store/segment.h"
#include "store/store_test_env.h"

namespace doppel::store {
namespace {

Reading R(const std::string& twin, const std::string& signal, TimeNs ts, double v,
          Quality q = Quality::kGood) {
  return Reading{twin, signal, ts, v, q};
}

constexpr TimeNs kMin = std::numeric_limits<TimeNs>::min();
constexpr TimeNs kMax = std::numeric_limits<TimeNs>::max();

template <typename Holder>
class SeriesStoreTest : public ::testing::Test {
 protected:
  SeriesStoreOptions Options() {
    SeriesStoreOptions o;
    o.dir = h_.dir();
    o.lanes = 2;
    o.fsync = FsyncPolicy::kNever;
    o.checkpoint_on_open_close = false;  // these tests check the WAL layer alone
    o.checkpoint_wal_bytes = 0;
    return o;
  }
  std::unique_ptr<SeriesStore> OpenStore(const SeriesStoreOptions& o) {
    auto s = SeriesStore::Open(h_.env(), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<SeriesStore> OpenStore() { return OpenStore(Options()); }
  std::vector<Sample> All(SeriesStore& s, const std::string& twin, const std::string& signal) {
    auto r = s.Query(twin, signal, kMin, kMax, 0);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::vector<Sample>{};
  }
  platform::Env* env() { return h_.env(); }
  std::vector<std::string> Segments() { return testing::SegmentPaths(h_.env(), h_.dir()); }

  Holder h_;
};

using Envs = ::testing::Types<testing::PosixEnvHolder, testing::MemEnvHolder>;
TYPED_TEST_SUITE(SeriesStoreTest, Envs);

TYPED_TEST(SeriesStoreTest, AppendedReadingsAreQueryableInTimeOrder) {
  auto s = this->OpenStore();
  ASSERT_TRUE(s->Append(0, {R("p1", "flow", 30, 3), R("p1", "flow", 10, 1)}).ok());
  ASSERT_TRUE(s->Append(0, {R("p1", "flow", 20, 2, Quality::kBad), R("p1", "flow", 40, 4)}).ok());
  ASSERT_TRUE(s->Append(0, {R("p1", "flow", 5, 0.5)}).ok());  // late
  EXPECT_EQ(this->All(*s, "p1", "flow"),
            (std::vector<Sample>{{5, 0.5}, {10, 1}, {20, 2, Quality::kBad}, {30, 3}, {40, 4}}));
  // Inclusive range.
  auto r = s->Query("p1", "flow", 10, 30, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 3u);
  EXPECT_EQ(r->front().ts_ns, 10);
  EXPECT_EQ(r->back().ts_ns, 30);
}

TYPED_TEST(SeriesStoreTest, UnknownSeriesIsEmptyAndReversedRangeIsInvalid) {
  auto s = this->OpenStore();
  EXPECT_TRUE(this->All(*s, "nope", "flow").empty());
  EXPECT_EQ(s->Query("p1", "flow", 10, 5, 0).status().code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(SeriesStoreTest, DuplicateTimestampLastWriteWins) {
  {
    auto s = this->OpenStore();
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 10, 1), R("p1", "flow", 10, 2)}).ok());
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 20, 5), R("p1", "flow", 30, 6)}).ok());
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 20, 7, Quality::kUncertain)}).ok());
    EXPECT_EQ(this->All(*s, "p1", "flow"),
              (std::vector<Sample>{{10, 2}, {20, 7, Quality::kUncertain}, {30, 6}}));
    EXPECT_EQ(s->Stats().samples, 3u);
  }
  auto s = this->OpenStore();  // replay applies the same rule
  EXPECT_EQ(this->All(*s, "p1", "flow"),
            (std::vector<Sample>{{10, 2}, {20, 7, Quality::kUncertain}, {30, 6}}));
  EXPECT_EQ(s->Stats().samples, 3u);
}

TYPED_TEST(SeriesStoreTest, InterleavedBatchOfManySeriesKeepsBatchOrderWithinEachSeries) {
  // Messages interleave twins and signals in varying order, with repeated timestamps: every
  // series must get its readings in batch order (so the last write of a timestamp wins), and
  // a reopen must replay the same thing. Expected values are computed independently here.
  std::mt19937_64 rng(11);
  std::map<std::pair<std::string, std::string>, std::map<TimeNs, double>> want;
  auto s = this->OpenStore();
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<Reading> b;
    for (int i = 0; i < 300; ++i) {
      const std::string twin = "pump-" + std::to_string(rng() % 7);
      const std::string signal = "signal_with_a_long_name_" + std::to_string(rng() % 9);
      const TimeNs ts = static_cast<TimeNs>(rng() % 50);
      const double v = static_cast<double>(batch * 1000 + i);
      b.push_back(R(twin, signal, ts, v));
      want[{twin, signal}][ts] = v;  // later in the batch (and later batches) win
    }
    ASSERT_TRUE(s->Append(0, b).ok());
  }
  uint64_t total = 0;
  auto check = [&](SeriesStore& st) {
    for (const auto& [key, points] : want) {
      std::vector<Sample> expect;
      for (const auto& [ts, v] : points) expect.push_back({ts, v});
      EXPECT_EQ(this->All(st, key.first, key.second), expect) << key.first << "/" << key.second;
    }
  };
  for (const auto& [key, points] : want) total += points.size();
  check(*s);
  EXPECT_EQ(s->Stats().samples, total);
  s.reset();
  auto reopened = this->OpenStore();
  check(*reopened);
  EXPECT_EQ(reopened->Stats().samples, total);
}

TYPED_TEST(SeriesStoreTest, ReopenReplaysEveryAcknowledgedBatch) {
  std::map<std::pair<std::string, std::string>, std::vector<Sample>> expected;
  uint64_t readings = 0;
  {
    auto s = this->OpenStore();
    for (int b = 0; b < 50; ++b) {
      std::vector<Reading> batch;
      for (int i = 0; i < 7; ++i) {
        std::string twin = "t" + std::to_string(i % 3);
        std::string sig = "s" + std::to_string(i);
        TimeNs ts = 1000 * b + i;
        batch.push_back(R(twin, sig, ts, b * 0.5 + i));
        expected[{twin, sig}].push_back({ts, b * 0.5 + i});
      }
      readings += batch.size();
      ASSERT_TRUE(s->Append(b % 2, batch).ok());
    }
  }
  auto s = this->OpenStore();
  EXPECT_EQ(s->recovery().records, 50u);
  EXPECT_EQ(s->recovery().readings, readings);
  EXPECT_EQ(s->recovery().truncated_bytes, 0u);
  EXPECT_EQ(s->recovery().corrupt_segments, 0u);
  EXPECT_TRUE(s->recovery().warnings.empty());
  auto list = s->ListSeries();
  ASSERT_EQ(list.size(), expected.size());
  for (const auto& [key, samples] : expected) {
    EXPECT_EQ(this->All(*s, key.first, key.second), samples) << key.first << "/" << key.second;
  }
  // Sorted by (twin, signal).
  for (size_t i = 1; i < list.size(); ++i) {
    EXPECT_LT(std::tie(list[i - 1].twin, list[i - 1].signal), std::tie(list[i].twin, list[i].signal));
  }
}

TYPED_TEST(SeriesStoreTest, SegmentsRollAtTheSizeLimitAndAllAreReplayed) {
  auto o = this->Options();
  o.segment_bytes = 4096;
  {
    auto s = this->OpenStore(o);
    for (int b = 0; b < 600; ++b) {
      ASSERT_TRUE(s->Append(0, {R("p1", "flow", b, b), R("p1", "speed", b, -b)}).ok());
    }
    auto st = s->Stats();
    EXPECT_GT(st.segments, 3u);
    EXPECT_EQ(st.samples, 1200u);
    uint64_t on_disk = 0;
    for (const auto& p : this->Segments()) {
      uint64_t size = *this->env()->FileSize(p);
      EXPECT_LE(size, 4096u) << p;
      on_disk += size;
    }
    EXPECT_EQ(st.bytes_on_disk, on_disk);
  }
  auto s = this->OpenStore(o);
  EXPECT_EQ(s->recovery().records, 600u);
  EXPECT_EQ(this->All(*s, "p1", "speed").size(), 600u);
  EXPECT_EQ(this->All(*s, "p1", "speed")[599].value, -599);
}

TYPED_TEST(SeriesStoreTest, TornTailIsTruncatedAndEarlierDataKept) {
  std::string seg;
  uint64_t after_first = 0;
  {
    auto s = this->OpenStore();
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 1, 1), R("p1", "flow", 2, 2)}).ok());
    seg = this->Segments().at(0);
    after_first = *this->env()->FileSize(seg);
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 3, 3), R("p1", "flow", 4, 4)}).ok());
  }
  uint64_t full = *this->env()->FileSize(seg);
  // A crash in the middle of writing the second record.
  ASSERT_TRUE(this->env()->TruncateFile(seg, full - 5).ok());
  {
    auto s = this->OpenStore();
    EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{1, 1}, {2, 2}}));
    EXPECT_EQ(s->recovery().records, 1u);
    EXPECT_EQ(s->recovery().truncated_bytes, full - 5 - after_first);
    EXPECT_EQ(s->recovery().corrupt_segments, 0u);
    EXPECT_EQ(s->recovery().warnings.size(), 1u);
    EXPECT_EQ(*this->env()->FileSize(seg), after_first);
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 5, 5)}).ok());
  }
  auto s = this->OpenStore();  // clean now, and the later batch is there
  EXPECT_TRUE(s->recovery().warnings.empty());
  EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{1, 1}, {2, 2}, {5, 5}}));
}

TYPED_TEST(SeriesStoreTest, TornSegmentHeaderIsRemoved) {
  {
    auto s = this->OpenStore();
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 1, 1)}).ok());
  }
  auto f = this->env()->NewAppendableFile(this->h_.dir() + "/" + wal::SegmentFileName(0, 99));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("DWA").ok());
  ASSERT_TRUE((*f)->Close().ok());
  auto s = this->OpenStore();
  EXPECT_EQ(s->recovery().truncated_bytes, 3u);
  EXPECT_FALSE(this->env()->FileExists(this->h_.dir() + "/" + wal::SegmentFileName(0, 99)));
  EXPECT_EQ(this->All(*s, "p1", "flow").size(), 1u);
  ASSERT_TRUE(s->Append(0, {R("p1", "flow", 2, 2)}).ok());  // new segment numbered after 99
  EXPECT_EQ(this->Segments().back(), this->h_.dir() + "/" + wal::SegmentFileName(0, 100));
}

TYPED_TEST(SeriesStoreTest, CorruptRecordInMiddleIsReported) {
  std::string seg;
  uint64_t after_first = 0;
  {
    auto s = this->OpenStore();
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 1, 1)}).ok());
    seg = this->Segments().at(0);
    after_first = *this->env()->FileSize(seg);
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 2, 2)}).ok());
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 3, 3)}).ok());
  }
  {
    auto s = this->OpenStore();  // a later segment, written after the damaged one
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 4, 4)}).ok());
  }
  const uint64_t size = *this->env()->FileSize(seg);
  // Flip one payload byte of the second record (bit rot).
  std::string data = *this->env()->ReadFile(seg);
  data[after_first + wal::kRecordHeaderSize + 2] ^= 0x10;
  ASSERT_TRUE(this->env()->RemoveFile(seg).ok());
  auto f = this->env()->NewAppendableFile(seg);
  ASSERT_TRUE((*f)->Append(data).ok());
  ASSERT_TRUE((*f)->Close().ok());

  auto s = this->OpenStore();
  EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{1, 1}, {4, 4}}));
  EXPECT_EQ(s->recovery().corrupt_segments, 1u);
  EXPECT_EQ(s->recovery().skipped_bytes, size - after_first);
  EXPECT_EQ(s->recovery().truncated_bytes, 0u);
  ASSERT_EQ(s->recovery().warnings.size(), 1u);
  EXPECT_NE(s->recovery().warnings[0].find("checksum"), std::string::npos) << s->recovery().warnings[0];
  // Kept for inspection under another name, so no checkpoint deletes it.
  EXPECT_FALSE(this->env()->FileExists(seg));
  EXPECT_EQ(*this->env()->ReadFile(seg + ".corrupt"), data);
  s.reset();
  // No checkpoint covers it yet: its intact first record is replayed again, the file untouched.
  s = this->OpenStore();
  EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{1, 1}, {4, 4}}));
  EXPECT_EQ(s->recovery().corrupt_segments, 1u);
  EXPECT_EQ(*this->env()->ReadFile(seg + ".corrupt"), data);
}

// The checkpoint after recovery deletes the WAL segments up to the highest sequence replayed;
// a segment with a corrupt record must survive it (and later ones) with its bytes.
TYPED_TEST(SeriesStoreTest, CorruptSegmentIsKeptThroughCheckpoints) {
  std::string seg;
  uint64_t after_first = 0;
  {
    auto s = this->OpenStore();  // no checkpoint: the records stay in the WAL
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 1, 1)}).ok());
    seg = this->Segments().at(0);
    after_first = *this->env()->FileSize(seg);
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 2, 2)}).ok());
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 3, 3)}).ok());
  }
  std::string data = *this->env()->ReadFile(seg);
  data[after_first + wal::kRecordHeaderSize + 2] ^= 0x10;  // bit rot in the second record
  ASSERT_TRUE(this->env()->RemoveFile(seg).ok());
  auto f = this->env()->NewAppendableFile(seg);
  ASSERT_TRUE((*f)->Append(data).ok());
  ASSERT_TRUE((*f)->Close().ok());

  auto o = this->Options();
  o.checkpoint_on_open_close = true;  // the default: a checkpoint right after recovery and at close
  const std::string kept = seg + ".corrupt";
  {
    auto s = this->OpenStore(o);
    EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{1, 1}}));
    EXPECT_EQ(s->recovery().corrupt_segments, 1u);
    ASSERT_EQ(s->recovery().warnings.size(), 1u);
    const std::string& w = s->recovery().warnings[0];
    EXPECT_NE(w.find(wal::SegmentFileName(0, 1)), std::string::npos) << w;
    EXPECT_NE(w.find("at offset " + std::to_string(after_first)), std::string::npos) << w;
    EXPECT_NE(w.find(".corrupt"), std::string::npos) << w;
    EXPECT_EQ(s->Stats().checkpoints, 1u);
    EXPECT_FALSE(this->env()->FileExists(seg));
    ASSERT_TRUE(this->env()->FileExists(kept));
    EXPECT_EQ(*this->env()->ReadFile(kept), data);
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 4, 4)}).ok());
    ASSERT_TRUE(s->Checkpoint().ok());
    EXPECT_EQ(*this->env()->ReadFile(kept), data);
  }
  auto s = this->OpenStore(o);
  EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{1, 1}, {4, 4}}));
  // Covered by a checkpoint now: not replayed (or reported) again, but still on disk.
  EXPECT_EQ(s->recovery().corrupt_segments, 0u);
  EXPECT_TRUE(s->recovery().warnings.empty());
  EXPECT_EQ(*this->env()->ReadFile(kept), data);
}

// A .tmp file left by an interrupted or failed write must not end up in front of the new bytes.
TYPED_TEST(SeriesStoreTest, StaleTempFileDoesNotCorruptACheckpoint) {
  auto o = this->Options();
  o.checkpoint_on_open_close = true;
  auto s = this->OpenStore(o);
  // Open removes stale temporary files; these appear afterwards (a removal that failed).
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    auto f = this->env()->NewAppendableFile(this->h_.dir() + "/" + segment::FileName(seq) + ".tmp");
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append(std::string(100, 'x')).ok());
    ASSERT_TRUE((*f)->Close().ok());
  }
  ASSERT_TRUE(s->Append(0, {R("p1", "flow", 1, 1)}).ok());
  ASSERT_TRUE(s->Checkpoint().ok());  // deletes the WAL it covers
  ASSERT_TRUE(s->Append(0, {R("p1", "flow", 2, 2)}).ok());
  s.reset();  // checkpoint at close
  s = this->OpenStore(o);
  EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{1, 1}, {2, 2}}));
  EXPECT_EQ(s->recovery().corrupt_segments, 0u);
  EXPECT_TRUE(s->recovery().warnings.empty());
}

// Opened with fewer lanes than before: the WAL of the lanes that are gone is replayed once and
// folded into a checkpoint, then deleted, not replayed at every Open.
TYPED_TEST(SeriesStoreTest, WalOfLanesRemovedByASmallerLaneCountIsReplayedOnceThenDeleted) {
  auto o = this->Options();
  o.lanes = 3;
  {
    auto s = this->OpenStore(o);
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 10, 1)}).ok());
    ASSERT_TRUE(s->Append(2, {R("p2", "flow", 20, 2)}).ok());  // lane 2: gone below
  }
  o.lanes = 1;
  o.checkpoint_on_open_close = true;
  {
    auto s = this->OpenStore(o);
    EXPECT_EQ(s->recovery().segments, 2u);
    EXPECT_EQ(this->All(*s, "p2", "flow"), (std::vector<Sample>{{20, 2}}));
    for (const std::string& p : this->Segments()) {
      EXPECT_EQ(p.find("wal-002-"), std::string::npos) << p << " of the removed lane 2 was kept";
    }
    ASSERT_TRUE(s->Append(0, {R("p1", "flow", 30, 3)}).ok());
  }
  auto s = this->OpenStore(o);
  EXPECT_EQ(s->recovery().readings, 0u);  // everything came from the checkpoints
  EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{10, 1}, {30, 3}}));
  EXPECT_EQ(this->All(*s, "p2", "flow"), (std::vector<Sample>{{20, 2}}));
  // A later session with one lane checkpoints again: the coverage of lane 2 is kept.
  ASSERT_TRUE(s->Append(0, {R("p1", "flow", 35, 3.5)}).ok());
  s.reset();
  // Back to three lanes: lane 2's new segments do not reuse the numbers a checkpoint covered.
  o.lanes = 3;
  s = this->OpenStore(o);
  ASSERT_TRUE(s->Append(2, {R("p2", "flow", 40, 4)}).ok());
  for (const std::string& p : this->Segments()) {
    EXPECT_EQ(p.find("wal-002-0000000001"), std::string::npos) << p << " reuses a covered number";
  }
  s.reset();
  s = this->OpenStore(o);
  EXPECT_EQ(this->All(*s, "p2", "flow"), (std::vector<Sample>{{20, 2}, {40, 4}}));
  EXPECT_EQ(this->All(*s, "p1", "flow"), (std::vector<Sample>{{10, 1}, {30, 3}, {35, 3.5}}));
}

TYPED_TEST(SeriesStoreTest, DownsampledQueryNeverExceedsMaxPoints) {
  auto s = this->OpenStore();
  std::vector<Reading> batch;
  for (int i = 0; i < 1000; ++i) batch.push_back(R("p1", "flow", i * 10, (i * 37) % 101));
  ASSERT_TRUE(s->Append(1, batch).ok());
  for (size_t max_points : {1u, 2u, 3u, 4u, 5u, 17u, 100u, 999u}) {
    auto r = s->Query("p1", "flow", 0, 9990, max_points);
    ASSERT_TRUE(r.ok());
    EXPECT_LE(r->size(), max_points);
    EXPECT_FALSE(r->empty());
  }
  auto r = s->Query("p1", "flow", 0, 9990, 40);
  ASSERT_TRUE(r.ok());
  auto [mn, mx] = std::minmax_element(r->begin(), r->end(),
                                      [](const Sample& a, const Sample& b) { return a.value < b.value; });
  EXPECT_EQ(mn->value, 0);
  EXPECT_EQ(mx->value, 100);
}

TYPED_TEST(SeriesStoreTest, InvalidInputIsRejectedAndNothingIsWritten) {
  auto s = this->OpenStore();
  EXPECT_EQ(s->Append(2, {R("p1", "flow", 1, 1)}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Append(-1, {R("p1", "flow", 1, 1)}).code(), StatusCode::kInvalidArgument);
  Status st = s->Append(0, {R("p1", "flow", 1, 1), R("", "flow", 2, 2)});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("batch[1].twin"), std::string::npos) << st.message();
  EXPECT_EQ(s->Append(0, {R("p1", std::string(5000, 'x'), 1, 1)}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s->Append(0, {R("p1", "flow", 1, 1, static_cast<Quality>(9))}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(s->Append(0, {}).ok());
  EXPECT_EQ(s->Stats().samples, 0u);
  EXPECT_EQ(s->Stats().bytes_on_disk, 0u);
  EXPECT_TRUE(this->Segments().empty());
}

TYPED_TEST(SeriesStoreTest, ConcurrentReadersSeeConsistentData) {
  auto s = this->OpenStore();
  constexpr int kBatches = 400;
  std::atomic<bool> done{false};
  // Two writers (one per lane), each owning one twin. Value is a function of ts, so a reader can
  // check every sample it sees; every 5th batch also rewrites an older timestamp (late data).
  auto writer = [&](int lane) {
    std::string twin = "twin" + std::to_string(lane);
    for (int b = 0; b < kBatches; ++b) {
      std::vector<Reading> batch;
      for (int i = 0; i < 5; ++i) batch.push_back(R(twin, "v", b * 10 + i * 2, (b * 10 + i * 2) * 0.5));
      if (b % 5 == 4) batch.push_back(R(twin, "v", b * 10 - 25, (b * 10 - 25) * 0.5));
      Status st = s->Append(lane, batch);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
  };
  std::atomic<int> bad{0};
  auto reader = [&] {
    size_t last_size[2] = {0, 0};
    while (!done.load()) {
      for (int lane = 0; lane < 2; ++lane) {
        auto r = s->Query("twin" + std::to_string(lane), "v", kMin, kMax, 0);
        if (!r.ok()) {
          ++bad;
          continue;
        }
        for (size_t i = 0; i < r->size(); ++i) {
          const Sample& x = (*r)[i];
          if (x.value != x.ts_ns * 0.5) ++bad;
          if (i > 0 && (*r)[i - 1].ts_ns >= x.ts_ns) ++bad;
        }
        if (r->size() < last_size[lane]) ++bad;  // samples never disappear
        last_size[lane] = r->size();
        auto d = s->Query("twin" + std::to_string(lane), "v", kMin, kMax, 8);
        if (!d.ok() || d->size() > 8) ++bad;
      }
      (void)s->Stats();
      (void)s->ListSeries();
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(reader);
  std::thread w0(writer, 0), w1(writer, 1);
  w0.join();
  w1.join();
  done = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(this->All(*s, "twin0", "v").size(), static_cast<size_t>(kBatches * 5 + kBatches / 5));
}

TYPED_TEST(SeriesStoreTest, StatsCountSeriesSamplesAndBytes) {
  auto s = this->OpenStore();
  ASSERT_TRUE(s->Append(0, {R("a", "x", 1, 1), R("a", "y", 1, 1), R("b", "x", 1, 1)}).ok());
  ASSERT_TRUE(s->Append(1, {R("a", "x", 2, 1)}).ok());
  StoreStats st = s->Stats();
  EXPECT_EQ(st.series, 3u);
  EXPECT_EQ(st.samples, 4u);
  EXPECT_EQ(st.segments, 2u);  // one per lane
  uint64_t on_disk = 0;
  for (const auto& p : this->Segments()) on_disk += *this->env()->FileSize(p);
  EXPECT_EQ(st.bytes_on_disk, on_disk);
  EXPECT_EQ(s->ListSeries(), (std::vector<SeriesKey>{{"a", "x"}, {"a", "y"}, {"b", "x"}}));
}

TYPED_TEST(SeriesStoreTest, EveryFsyncPolicyReplaysAfterCleanClose) {
  for (FsyncPolicy p : {FsyncPolicy::kNever, FsyncPolicy::kEveryBatch, FsyncPolicy::kInterval}) {
    auto o = this->Options();
    o.dir += "-" + std::to_string(static_cast<int>(p));
    o.fsync = p;
    o.fsync_interval_ms = 5;
    {
      auto s = this->OpenStore(o);
      ASSERT_TRUE(s->Append(0, {R("p1", "flow", 1, 1)}).ok());
      ASSERT_TRUE(s->SyncAll().ok());
      ASSERT_TRUE(s->Append(1, {R("p1", "flow", 2, 2)}).ok());
    }
    auto s = this->OpenStore(o);
    EXPECT_EQ(s->recovery().readings, 2u);
  }
}

TEST(SeriesStoreOptionsTest, ValidateNamesTheBrokenRule) {
  SeriesStoreOptions o;
  EXPECT_NE(o.Validate().message().find("dir"), std::string::npos);
  o.dir = "/x";
  EXPECT_TRUE(o.Validate().ok());
  o.lanes = 0;
  EXPECT_NE(o.Validate().message().find("lanes"), std::string::npos);
  o.lanes = 1;
  o.fsync_interval_ms = 0;
  EXPECT_NE(o.Validate().message().find("fsync_interval_ms"), std::string::npos);
  o.fsync = FsyncPolicy::kNever;
  EXPECT_TRUE(o.Validate().ok());  // the interval only matters for kInterval
  o.segment_bytes = 100;
  EXPECT_NE(o.Validate().message().find("segment_bytes"), std::string::npos);
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
  auto env = platform::NewMemEnv();
  EXPECT_EQ(SeriesStore::Open(env.get(), o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace doppel::store
