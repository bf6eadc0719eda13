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
#include <span>
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
                // last interval of acknowledged batches. A failed background sync is not
                // retried (after EIO the kernel may have dropped the pages and a later fsync
                // "succeeds"): appends are refused with kUnavailable and the background thread
                // checkpoints the in-memory state (every interval until it succeeds); then the
                // lanes start new segments and appends resume. docs/storage.md.
};

// One rollup level of a retention rule: aggregates per epoch-aligned bucket
// [k*step_ns, (k+1)*step_ns), kept for `retention_ns` (0: forever).
struct RollupRule {
  TimeNs step_ns = 0;       // > 0
  TimeNs retention_ns = 0;  // >= 0; 0 = forever
};

// Retention of the series whose "twin/signal" matches `pattern` (a glob as in fnmatch(3):
// "*", "pump-*/vibration_mm_s"). The first matching rule of SeriesStoreOptions::retention wins;
// a series no rule matches keeps raw data forever and has no rollups. See docs/storage.md.
struct RetentionRule {
  std::string pattern;
  // Sealed chunks whose samples are all older than now - raw_retention_ns are dropped by
  // EnforceRetention (0: keep raw data forever).
  TimeNs raw_retention_ns = 0;
  // Finest first: steps strictly increasing. Computed from the raw data when it is dropped.
  std::vector<RollupRule> rollups;
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
  // Retention rules, first match wins (empty: keep everything forever, the default).
  std::vector<RetentionRule> retention;

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
  uint64_t rollup_files = 0;          // rollup files loaded
  uint64_t damaged_rollups = 0;       // rollup files or series blocks that failed their CRC (skipped)
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
  bool durability_lost = false;      // a background sync failed and no checkpoint has covered it yet
  uint64_t rollup_series = 0;        // series holding rollup buckets
  uint64_t rollup_buckets = 0;       // rollup buckets held (all series and steps)
  uint64_t rollup_files = 0;         // rollup files on disk
  uint64_t rollup_file_bytes = 0;    // their size (included in bytes_on_disk)
  uint64_t dropped_chunks = 0;       // sealed chunks dropped by EnforceRetention since Open
  uint64_t expired_readings = 0;     // readings older than their series' raw horizon, discarded
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
  // quality, batch over 64 MiB encoded, counting the definitions of all its series when it
  // starts a new WAL segment) — nothing is written; kResourceExhausted (disk full) or
  // kIOError when the write failed — nothing of the batch is visible and the log is cut back,
  // so a later successful batch is not hidden behind a partial record. If only the fdatasync of
  // kEveryBatch fails, the batch is written and visible but maybe not durable; the error is
  // returned. An empty batch is OK and writes nothing.
  Status Append(int lane, const std::vector<Reading>& batch);
  // The same for a batch in several parts, written as one record as if concatenated (a group
  // commit of several producers' batches without copying them together).
  Status AppendParts(int lane, std::span<const std::vector<Reading>* const> parts);

  // Samples of (twin, signal) with from_ns <= ts_ns <= to_ns, in increasing time order, at
  // most max_points of them (0: no limit), downsampled with DownsampleM4 when there are more.
  // An unknown series yields an empty vector. kInvalidArgument when from_ns > to_ns.
  // The part of the range at or before RawHorizon (raw data dropped by retention) is served
  // from the finest rollup level covering it: one sample per bucket, at the bucket start, with
  // the bucket's average (NaN when it has no non-NaN value).
  Result<std::vector<Sample>> Query(const std::string& twin, const std::string& signal, TimeNs from_ns,
                                    TimeNs to_ns, size_t max_points) const;

  // Aggregates (count, min, max, sum, avg, last) per bucket [from_ns + k*step_ns, +step_ns)
  // within [from_ns, to_ns]; empty buckets are omitted. Answered from chunk summaries where a
  // chunk lies in one bucket. kInvalidArgument for from_ns > to_ns or step_ns <= 0.
  // At or before RawHorizon, answered from the finest rollup level covering the range: each
  // rollup bucket counts in the query bucket holding its start (exact when step_ns is a multiple
  // of the rollup step and from_ns is aligned to it).
  Result<std::vector<AggregatePoint>> Aggregate(const std::string& twin, const std::string& signal,
                                                TimeNs from_ns, TimeNs to_ns, TimeNs step_ns) const;

  // The latest sample with ts_ns <= at_ns ("value as of"); nullopt when there is none. When the
  // raw data before at_ns was dropped, the last sample of the latest finest-level rollup bucket
  // whose last sample is at or before at_ns.
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

  // Applies the retention rules as of `now_ns` (the caller's clock; the store has none):
  //  1. per series, the sealed chunks whose samples are all older than now_ns - raw_retention
  //     are aggregated into the rule's rollup levels and dropped. The series' *raw horizon*
  //     (RawHorizon) becomes the newest dropped timestamp: later readings at or before it are
  //     discarded (counted in StoreStats::expired_readings);
  //  2. rollup buckets that ended before now_ns - retention of their level are dropped;
  //  3. the new rollups are written to a rollup file (docs/formats/rollup.md; fdatasync,
  //     rename, directory sync) before any chunk segment is rewritten without the dropped
  //     chunks (each segment: temporary file, fdatasync, rename over the old one). A crash at
  //     any point leaves either the old state or one that Open completes.
  // The engine calls it periodically (e.g. every minute). Serialised with checkpoints; appends
  // and queries run concurrently. kFailedPrecondition for a read-only store.
  Status EnforceRetention(TimeNs now_ns);

  // Timestamps at or before this have been dropped from the raw data of (twin, signal) and are
  // served from rollups; INT64_MIN when nothing was dropped (or the series is unknown).
  TimeNs RawHorizon(const std::string& twin, const std::string& signal) const;

  // Rollup buckets of (twin, signal) at `step_ns` (a step of its rule) with start in
  // [from_ns, to_ns], oldest first, as AggregatePoints (start_ns = bucket start).
  Result<std::vector<AggregatePoint>> Rollups(const std::string& twin, const std::string& signal,
                                              TimeNs step_ns, TimeNs from_ns, TimeNs to_ns) const;

  // Every series that has samples or rollups, sorted by (twin, signal).
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
