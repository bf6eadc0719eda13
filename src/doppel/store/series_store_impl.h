// SeriesStore internals shared by series_store.cc (WAL, recovery, append), checkpoint.cc
// (chunk segments) and store_query.cc (reads). Not part of the public interface.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "doppel/core/metrics.h"
#include "doppel/platform/env.h"
#include "doppel/store/rollup.h"
#include "doppel/store/series_data.h"
#include "doppel/store/series_store.h"
#include "doppel/store/wal_format.h"

namespace doppel::store {

// Orders (twin, signal) keys; transparent so lookups need no string copies.
struct KeyLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    int c = std::string_view(a.first).compare(std::string_view(b.first));
    return c < 0 || (c == 0 && std::string_view(a.second) < std::string_view(b.second));
  }
};
using Key = std::pair<std::string, std::string>;
using KeyView = std::pair<std::string_view, std::string_view>;

struct Lane {
  int id = 0;
  std::atomic<bool> busy{false};  // detects two threads appending to one lane
  // Guards `file` (replaced on roll and at close) and `synced` against the syncer and SyncAll.
  // The writer reads `file` without it: only the writer (or a checkpoint, which excludes
  // writers) ever replaces it.
  std::mutex file_mu;
  std::unique_ptr<platform::WritableFile> file;
  uint64_t synced = 0;
  std::atomic<uint64_t> written{0};  // bytes written to this lane's segments since Open
  // Writer-only state.
  std::string path;
  uint64_t seq = 0;   // sequence number of the current (or, before the first roll, last) segment
  uint64_t size = 0;  // bytes in the current segment
  bool needs_roll = true;
  wal::BatchEncoder encoder;
  std::string payload, record;
  // Writer-only: the encoder's segment series ids resolved to series (null until first used;
  // cleared with the encoder on roll), and scratch for grouping a batch by series (a counting
  // sort: readings per id, the ids in first-seen order, batch indices grouped by id).
  std::vector<Series*> series_of_id;
  std::vector<uint32_t> id_count;  // by series id; all zero between appends
  std::vector<uint32_t> touched;   // ids of this batch, first-seen order
  std::vector<uint32_t> order;     // batch indices grouped by id, batch order within each
};

struct StoreMetrics {
  Counter* batches = nullptr;
  Counter* readings = nullptr;
  Counter* wal_bytes = nullptr;
  Counter* errors = nullptr;
  Counter* checkpoints = nullptr;
  Histogram* append_seconds = nullptr;
  Histogram* fsync_seconds = nullptr;
};

struct SeriesStore::Impl {
  platform::Env* env = nullptr;
  SeriesStoreOptions opts;
  RecoverySummary recovery;
  StoreMetrics metrics;

  std::vector<std::unique_ptr<Lane>> lanes;

  mutable std::shared_mutex index_mu;
  std::map<Key, std::unique_ptr<Series>, KeyLess> index;

  // Appends hold this shared; a checkpoint holds it exclusively while it captures the state.
  std::shared_mutex append_mu;
  std::mutex checkpoint_mu;  // serialises checkpoints
  std::atomic<uint64_t> next_chunk_seq{1};
  uint64_t next_segment_seq = 1;  // under checkpoint_mu
  // Chunk segment files and their sizes, under checkpoint_mu.
  struct SegmentInfo {
    uint64_t bytes = 0;
    bool has_sealed = false;  // false: only head snapshots, obsolete once a newer segment exists
    bool corrupt = false;     // failed to parse at Open: left on disk, never rewritten or removed
  };
  // The sequence number of the newest intact chunk segment (whose head snapshots Open loads),
  // 0 when there is none. Caller holds checkpoint_mu.
  uint64_t NewestIntactSegment() const {
    for (auto it = chunk_segments.rbegin(); it != chunk_segments.rend(); ++it) {
      if (!it->second.corrupt) return it->first;
    }
    return 0;
  }
  std::map<uint64_t, SegmentInfo> chunk_segments;
  // Retention (retention.cc), under checkpoint_mu: chunk segments holding dropped chunks (to
  // be rewritten), rollup files and their sizes, delta files written since the last full one.
  std::set<uint64_t> dirty_segments;
  std::map<uint64_t, uint64_t> rollup_files;
  uint64_t next_rollup_seq = 1;
  uint64_t rollup_deltas = 0;
  std::atomic<uint64_t> rollup_file_bytes{0};
  std::atomic<uint64_t> rollup_file_count{0};  // rollup_files.size(), for Stats
  std::atomic<uint64_t> dropped_chunks{0};
  std::atomic<uint64_t> expired_readings{0};
  std::atomic<uint64_t> wal_since_checkpoint{0};
  // WAL lanes beyond opts.lanes (the store was opened with more lanes before): index = lane,
  // value = the newest of its segments replayed at Open (0: none). Every checkpoint covers them,
  // so their segments are deleted like any covered segment instead of replayed at every Open.
  // Set by Recover, read under checkpoint_mu.
  std::vector<uint64_t> retired_lanes_covered;

  std::atomic<uint64_t> samples{0};
  std::atomic<uint64_t> wal_bytes{0};
  std::atomic<uint64_t> segment_bytes{0};
  std::atomic<uint64_t> segments{0};
  std::atomic<uint64_t> sync_errors{0};
  // kInterval: a background sync (or the sync before a roll) failed, so acknowledged records
  // may not reach the disk however often the file is synced again. Appends are refused until
  // the background thread's checkpoint has written the in-memory state durably.
  std::atomic<bool> durability_lost{false};
  std::chrono::steady_clock::time_point last_durability_log{};  // background thread only
  std::atomic<uint64_t> chunks{0};
  std::atomic<uint64_t> chunk_bytes{0};
  std::atomic<uint64_t> checkpoints{0};

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop = false;
  std::thread background;

  Series* FindOrCreate(std::string_view twin, std::string_view signal);
  const Series* Find(std::string_view twin, std::string_view signal) const;
  // Inserts into the head and seals it when full. Caller holds s->mu exclusively. Returns true
  // when the timestamp is new to the series; with `count` it is also added to `samples`.
  bool Insert(Series* s, const Sample& x, bool count = true);
  // Inserts a committed batch into the in-memory series, one lock per series, using the ids
  // the lane's encoder gave its readings.
  void Apply(std::span<const Reading* const> batch, Lane& lane);
  Status AppendRefs(int lane, std::span<const Reading* const> batch);

  std::string WalPath(int lane, uint64_t seq) const {
    return opts.dir + "/" + wal::SegmentFileName(lane, seq);
  }

  Status Recover();
  Status LoadChunkSegments(std::vector<uint64_t>* wal_covered);  // checkpoint.cc
  Status LoadRollups();                                          // retention.cc; before the above
  // retention.cc; the first rule matching the series (nullptr: keep everything).
  const RetentionRule* RuleFor(const Series& s) const;
  // retention.cc; caller holds checkpoint_mu.
  Status EnforceRetentionLocked(TimeNs now_ns);
  Status RewriteSegment(uint64_t seq);
  // Writes `bytes` to path.tmp, syncs, renames it over `path` and syncs the directory; on any
  // failure the temporary file is removed and `path` is untouched.
  Status WriteFileDurably(const std::string& path, std::string_view bytes);
  Status WriteRollupFile(rollupfile::Contents* c);
  // checkpoint.cc; caller holds checkpoint_mu. Without `force`, does nothing when no batch was
  // appended since the last checkpoint.
  Status CheckpointLocked(bool force);
  Status Roll(Lane& lane);
  Status SyncLane(Lane& lane);  // caller holds lane.file_mu
  void BackgroundLoop();
  // Records a failed WAL sync under kInterval (see durability_lost).
  void NoteSyncFailure(const std::string& what, const Status& st);
  // Background thread: checkpoints when durability_lost is set; clears it on success.
  void RestoreDurability();
  void Warn(std::string msg);
};

}  // namespace doppel::store
