// ReorderBuffer: hands one twin's readings on in source-time order within an allowed lateness.
//
// Readings are held until the watermark passes them. The watermark is the newest source time
// seen minus the allowed lateness; a buffer that sees no newer readings releases what it holds
// once `allowed_lateness` of processing time has passed since each reading arrived (so a quiet
// twin is not stuck). A reading older than the last one released is late: Add() refuses it
// and the caller counts it (it is still stored; it only misses the in-order path).
//
// Not thread-safe: one buffer per twin, owned by the twin's shard.
#pragma once

#include <cstdint>
#include <vector>

#include "doppel/core/reading.h"

namespace doppel::ingest {

class ReorderBuffer {
 public:
  explicit ReorderBuffer(TimeNs allowed_lateness_ns) : lateness_ns_(allowed_lateness_ns) {}

  // False when `r` is late (source time before the last released reading).
  bool Add(Reading r, TimeNs arrival_ns);
  // Appends, in source-time order (ties in arrival order), every reading the watermark or
  // the processing-time timeout lets go.
  void Release(TimeNs now_ns, std::vector<Reading>* out);
  // Releases everything (shutdown).
  void Flush(std::vector<Reading>* out);

  size_t size() const { return heap_.size(); }
  TimeNs last_released_ns() const { return last_released_ns_; }

 private:
  struct Entry {
    Reading r;
    TimeNs arrival_ns;
    uint64_t seq;
  };
  struct Later {
    bool operator()(const Entry& a, const Entry& b) const {
      return a.r.source_ts_ns != b.r.source_ts_ns ? a.r.source_ts_ns > b.r.source_ts_ns : a.seq > b.seq;
    }
  };
  void Pop(std::vector<Reading>* out);

  TimeNs lateness_ns_;
  TimeNs max_seen_ns_ = INT64_MIN;
  TimeNs last_released_ns_ = INT64_MIN;
  uint64_t seq_ = 0;
  std::vector<Entry> heap_;  // a min-heap by (source time, seq) under Later
};

}  // namespace doppel::ingest
