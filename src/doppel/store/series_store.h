// SeriesStore: durable time-series storage for readings, one series per (twin, signal).
//
// Writes go to a write-ahead log (docs/formats/wal.md) and then into the series' in-memory head,
// which is sealed into immutable compressed chunks (docs/formats/chunk.md) every
// `chunk_samples` samples or `chunk_span_ns`. A checkpoint writes the chunks sealed since the
// last one plus a snapshot of every head to a chunk segment file (docs/formats/segment.md) and
// deletes the WAL segments it covers, so Open loads the segments and replays only the WAL tail.
// Compressed chunks stay resident (about 1-2 bytes per sample); see docs/storage.md.
//
// Lanes: the store has `lanes` independent write lanes, one per engine shard. Each lane has its
// own log segment files, so lanes never contend on a file or a lock when writing.
//
// Thread safety:
//  - Append(lane, ...) must be called by exactly one thread per lane at a time (the shard's
//    thread). Different lanes may append concurrently. Two threads appending to the same lane
//    at once is misuse; it is detected and the second gets kFailedPrecondition.
//  - Query, ListSeries, Stats and recovery() may be called from any thread, concurrently with
//    each other and with Append. A query sees every batch whose Append has returned; a batch
//    being appended concurrently may be partly visible.
//  - A series should be written through one lane only (the engine shards by twin). If two lanes
//    write the same timestamp of the same series, which value survives a reopen is unspecified.
//
// Failures are returned, never thrown. A store whose log cannot be written keeps serving
// queries; Append reports the error, cuts the partial record off the log (or, if that fails,
// starts a fresh segment on the next Append) and the next Append tries again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/store/downsample.h"

namespace doppel {
class MetricsRegistry;
namespace platform {
class Env;
}
}  // namespace doppel

namespace doppel::store {

// When the log is forced to stable storage (fdatasync). Every policy writes each batch to the
// OS (write(2)) before Append returns, so no policy loses data when only the process dies
// (kill -9, crash). They differ on power loss / kernel crash:
enum class FsyncPolicy {
  kNever,       // OS page cache only: may lose everything written since the OS last flushed.
  kEveryBatch,  // fsync before Append returns: loses nothing that was acknowledged.
  kInterval,    // a background thread syncs every fsync_interval_ms: loses at most about the
                // last interval of acknowledged batches.
};

struct SeriesStoreOptions {
  std::string dir;  // directory of the log segments; created if missing. Required.
  int lanes = 1;    // 1 .. 1000; one per engine shard
  // Default: kInterval every 200 ms, a bounded loss window on power loss at a small fraction of
  // the cost of kEveryBatch (which costs one fdatasync per batch per lane).
  FsyncPolicy fsync = FsyncPolicy::kInterval;
  int fsync_interval_ms = 200;  // kInterval only; 1 .. 60000
  // A lane starts a new segment file when the next record would make its current one larger
  // than this. 4 KiB .. 1 GiB. A single larger record gets a segment of its own.
  uint64_t segment_bytes = 64ull << 20;
  // A series' head is sealed into a chunk when it holds chunk_samples samples (16 .. 65536) or
  // spans chunk_span_ns (> 0), whichever comes first. Larger chunks compress better.
  size_t chunk_samples = 1024;
  TimeNs chunk_span_ns = 7 * 24 * 3600 * kNsPerS;
  // A background checkpoint runs when the WAL has grown by this many bytes since the last one
  // (0: only explicit Checkpoint() calls, the one after recovery and the one at close).
  uint64_t checkpoint_wal_bytes = 64ull << 20;
  // Checkpoint after Open replayed a WAL and in the destructor, so a clean shutdown leaves no
  // WAL to replay. (Off, together with checkpoint_wal_bytes = 0: the store only ever appends
  // to the WAL, which tests of the WAL layer use.)
  bool checkpoint_on_open_close = true;
  // Open for inspection only (tools): recovery changes nothing on disk (torn tails are not
  // truncated), no checkpoint runs, Append and Checkpoint fail with kFailedPrecondition.
  bool read_only = false;
  // Optional: store metrics (appends, bytes, fsync latency) are registered here. Must outlive
  // the store.
  MetricsRegistry* metrics = nullptr;

  // kInvalidArgument naming the first broken rule, e.g. "lanes: must be in 1..1000, got 0".
  Status Validate() const;
};

// What Open found in the log.
struct RecoverySummary {
  uint64_t segments = 0;              // segment files read
  uint64_t records = 0;               // batch records replayed
  uint64_t readings = 0;              // readings in those records
  uint64_t truncated_bytes = 0;       // torn tails cut off the files (crash during a write)
  uint64_t corrupt_segments = 0;      // segments whose replay stopped at a damaged record
  uint64_t skipped_bytes = 0;         // bytes after damaged records: kept on disk, not replayed
  uint64_t chunk_segments = 0;        // chunk segment files loaded
  uint64_t chunks = 0;                // chunks loaded from them
  uint64_t damaged_chunks = 0;        // chunks whose CRC or decoding failed (skipped)
  std::vector<std::string> warnings;  // one line per problem (also logged with spdlog)
};

struct StoreStats {
  uint64_t series = 0;
  uint64_t samples = 0;              // distinct (series, timestamp) pairs held
  uint64_t bytes_on_disk = 0;        // WAL segments + chunk segments
  uint64_t segments = 0;             // log segment files
  uint64_t wal_bytes = 0;            // bytes in WAL segments
  uint64_t chunk_segment_bytes = 0;  // bytes in chunk segment files
  uint64_t chunks = 0;               // sealed chunks held
  uint64_t chunk_bytes = 0;          // their encoded size
  uint64_t head_samples = 0;         // samples not yet sealed
  uint64_t checkpoints = 0;          // since Open
  uint64_t sync_errors = 0;          // background fsyncs that failed (kInterval); each is logged
};

// One time bucket of an aggregation: [start_ns, start_ns + step_ns).
struct AggregatePoint {
  TimeNs start_ns = 0;
  uint64_t count = 0;  // samples in the bucket
  // Over the non-NaN values (NaN when there are none).
  double min = 0, max = 0, avg = 0, sum = 0;
  Sample last;  // the latest sample in the bucket
};

struct SeriesKey {
  std::string twin, signal;
  friend bool operator==(const SeriesKey&, const SeriesKey&) = default;
};

class SeriesStore {
 public:
  // Opens (creating if needed) the store in options.dir and replays its log. A torn or corrupt
  // record never makes Open fail: replay of that segment stops there, a warning is logged and
  // recorded in recovery(), and later segments are still replayed (docs/formats/wal.md).
  // Fails for invalid options (kInvalidArgument) and I/O errors. `env` must outlive the store.
  static Result<std::unique_ptr<SeriesStore>> Open(platform::Env* env, const SeriesStoreOptions& options);

  // Stops the background syncer, syncs (unless kNever) and closes the segment files.
  ~SeriesStore();
  SeriesStore(const SeriesStore&) = delete;
  SeriesStore& operator=(const SeriesStore&) = delete;

  // Writes `batch` to lane `lane`'s log as one record, then makes it visible to queries. When
  // it returns OK the batch is in the log (write(2) done; fdatasync done for kEveryBatch) and
  // every reading is visible. A reading for an existing (series, timestamp) replaces it (last
  // write wins); late readings are stored in time order.
  // Errors: kInvalidArgument for a bad lane or reading (empty or over-long twin/signal, bad
  // quality, batch over 64 MiB encoded) — nothing is written; kResourceExhausted (disk full) or
  // kIOError when the write failed — nothing of the batch is visible and the log is cut back,
  // so a later successful batch is not hidden behind a partial record. If only the fdatasync of
  // kEveryBatch fails, the batch is written and visible but maybe not durable; the error is
  // returned. An empty batch is OK and writes nothing.
  Status Append(int lane, const std::vector<Reading>& batch);

  // Samples of (twin, signal) with from_ns <= ts_ns <= to_ns, in increasing time order, at
  // most max_points of them (0: no limit), downsampled with DownsampleM4 when there are more.
  // An unknown series yields an empty vector. kInvalidArgument when from_ns > to_ns.
  Result<std::vector<Sample>> Query(const std::string& twin, const std::string& signal, TimeNs from_ns,
                                    TimeNs to_ns, size_t max_points) const;

  // Aggregates (count, min, max, sum, avg, last) per bucket [from_ns + k*step_ns, +step_ns)
  // within [from_ns, to_ns]; empty buckets are omitted. Answered from chunk summaries where a
  // chunk lies in one bucket. kInvalidArgument for from_ns > to_ns or step_ns <= 0.
  Result<std::vector<AggregatePoint>> Aggregate(const std::string& twin, const std::string& signal,
                                                TimeNs from_ns, TimeNs to_ns, TimeNs step_ns) const;

  // The latest sample with ts_ns <= at_ns ("value as of"); nullopt when there is none.
  Result<std::optional<Sample>> ValueAt(const std::string& twin, const std::string& signal,
                                        TimeNs at_ns) const;

  // Several series on one grid t_k = from_ns + k*step_ns <= to_ns: values[i][k] is the value of
  // keys[i] as of t_k (latest sample at or before it, no older than max_age_ns; 0: any age), or
  // NaN. For analytics and learning. kInvalidArgument for a bad range/step or over 10^7 cells.
  struct Aligned {
    std::vector<TimeNs> ts_ns;
    std::vector<std::vector<double>> values;  // [series][grid point]
  };
  Result<Aligned> ReadAligned(const std::vector<SeriesKey>& keys, TimeNs from_ns, TimeNs to_ns,
                              TimeNs step_ns, TimeNs max_age_ns = 0) const;

  // Writes chunks sealed since the last checkpoint and a snapshot of every head to a new chunk
  // segment (fdatasync + rename + directory sync), then deletes the WAL segments it covers.
  // Appends wait while the state is captured (not while the file is written). Safe from any
  // thread; checkpoints are serialised. On failure nothing is deleted and the WAL still holds
  // everything.
  Status Checkpoint();

  // Every series that has samples, sorted by (twin, signal).
  std::vector<SeriesKey> ListSeries() const;
  StoreStats Stats() const;
  // Fixed after Open.
  const RecoverySummary& recovery() const;

  // Forces every lane's current segment to stable storage now, whatever the policy. Safe from
  // any thread.
  Status SyncAll();

 private:
  struct Impl;
  explicit SeriesStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::store
