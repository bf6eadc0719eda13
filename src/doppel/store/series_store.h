// SeriesStore: durable time-series storage for readings, one series per (twin, signal).
//
// Writes go to a write-ahead log (docs/formats/wal.md) and to an in-memory index that serves
// queries; Open rebuilds the index by replaying the log. This first version keeps every sample
// in memory and never deletes log segments; a later version turns the index into compressed
// chunks with retention behind the same interface (docs/storage.md).
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
  std::vector<std::string> warnings;  // one line per problem (also logged with spdlog)
};

struct StoreStats {
  uint64_t series = 0;
  uint64_t samples = 0;        // distinct (series, timestamp) pairs held
  uint64_t bytes_on_disk = 0;  // sum of the log segment sizes
  uint64_t segments = 0;       // log segment files
  uint64_t sync_errors = 0;    // background fsyncs that failed (kInterval); each is logged
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
