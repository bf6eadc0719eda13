// Crash safety: a child process appends to a real directory and reports each acknowledged
// batch over a pipe; the parent kill -9s it at a random moment (mid-append, mid-seal or
// mid-checkpoint), reopens the store and checks that every acknowledged sample is readable and
// every chunk segment passes its CRC checks. Repeated over several rounds on the same store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "doppel/platform/env.h"
#include "doppel/store/chunk_codec.h"
#include "doppel/store/segment.h"
#include "doppel/store/series_store.h"

namespace doppel::store {
namespace {

constexpr int kPerBatch = 10;

SeriesStoreOptions Options(const std::string& dir, FsyncPolicy p) {
  SeriesStoreOptions o;
  o.dir = dir;
  o.fsync = p;
  o.fsync_interval_ms = 5;
  o.chunk_samples = 64;
  o.checkpoint_wal_bytes = 8192;  // frequent background checkpoints, so kills land in them too
  return o;
}

// Child: appends batches starting at sample `first` forever; writes each acked batch's last
// sample number to `fd` after Append returned OK.
[[noreturn]] void Writer(const SeriesStoreOptions& o, int64_t first, int fd) {
  auto s = SeriesStore::Open(platform::DefaultEnv(), o);
  if (!s.ok()) _exit(3);
  for (int64_t n = first;; n += kPerBatch) {
    std::vector<Reading> b;
    for (int64_t i = n; i < n + kPerBatch; ++i) {
      b.push_back({"pump-" + std::to_string(i % 3), "flow", i * kNsPerMs, static_cast<double>(i) * 0.25,
                   Quality::kGood});
    }
    if (!(*s)->Append(0, b).ok()) _exit(4);
    int64_t last = n + kPerBatch - 1;
    if (write(fd, &last, sizeof(last)) != sizeof(last)) _exit(5);
  }
}

void ExpectSegmentsIntact(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    uint64_t seq;
    if (!segment::ParseFileName(e.path().filename().string(), &seq)) continue;
    auto data = platform::DefaultEnv()->ReadFile(e.path().string());
    ASSERT_TRUE(data.ok());
    segment::Contents c;
    ASSERT_TRUE(segment::Parse(*data, &c).ok()) << e.path();
    for (const auto& s : c.series) {
      for (const auto& ch : s.chunks) {
        std::string_view bytes;
        std::vector<Sample> samples;
        ASSERT_TRUE(segment::ReadChunk(*data, ch, &bytes).ok()) << e.path();
        ASSERT_TRUE(DecodeChunk(bytes, &samples).ok()) << e.path();
      }
    }
  }
}

class CrashTest : public ::testing::TestWithParam<FsyncPolicy> {};

TEST_P(CrashTest, EveryAcknowledgedSampleSurvivesKillNine) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "doppel-crash-XXXXXX").string();
  const std::string root = ::mkdtemp(tmpl.data());
  const auto o = Options(root + "/series", GetParam());
  std::mt19937 rng(42);
  int64_t acked = -1;  // highest acknowledged sample number
  for (int round = 0; round < 8; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      Writer(o, acked + 1, fds[1]);
    }
    close(fds[1]);
    usleep(20'000 + rng() % 80'000);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "writer exited with " << WEXITSTATUS(status);
    int64_t last;
    while (read(fds[0], &last, sizeof(last)) == sizeof(last)) acked = std::max(acked, last);
    close(fds[0]);

    auto ro = o;
    ro.checkpoint_on_open_close = round % 2 == 0;  // sometimes fold the WAL at reopen, sometimes not
    auto s = SeriesStore::Open(platform::DefaultEnv(), ro);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ((*s)->recovery().corrupt_segments, 0u);
    EXPECT_EQ((*s)->recovery().damaged_chunks, 0u);
    int64_t seen = 0;
    for (int p = 0; p < 3; ++p) {
      auto q = (*s)->Query("pump-" + std::to_string(p), "flow", 0, INT64_MAX, 0);
      ASSERT_TRUE(q.ok());
      int64_t expect = p;
      for (const Sample& x : *q) {
        if (expect > acked) break;  // unacknowledged samples may or may not be there
        ASSERT_EQ(x.ts_ns, expect * kNsPerMs) << "round " << round << ": sample " << expect << " lost";
        ASSERT_EQ(x.value, static_cast<double>(expect) * 0.25);
        expect += 3;
        ++seen;
      }
      ASSERT_GT(expect, acked) << "round " << round << ": acknowledged samples of pump-" << p << " missing";
    }
    EXPECT_EQ(seen, acked + 1);
    s->reset();
    ExpectSegmentsIntact(o.dir);
  }
  EXPECT_GT(acked, 1000) << "the writer made too little progress for the test to mean much";
  std::filesystem::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(Policies, CrashTest, ::testing::Values(FsyncPolicy::kNever, FsyncPolicy::kInterval));

}  // namespace
}  // namespace doppel::store
