// ReorderBuffer: hands one twin's readings on in source-time order within an allowed lateness.
//
// Readings are held until the watermark passes them. The watermark is the newest source time
// seen minus the allowed lateness; a buffer that sees no newer readings releases everything it
// holds once the oldest held reading (by source time) has waited `allowed_lateness` of
// processing time (so a quiet twin is not stuck). A reading older than the last one released is late: Add()
// refuses it and the caller counts it (it is still stored; it only misses the in-order path).
//
// Not thread-safe: one buffer per twin, owned by the twin's shard.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "doppel/core/reading.h"

namespace doppel::ingest {

class ReorderBuffer {
 public:
  explicit ReorderBuffer(TimeNs allowed_lateness_ns) : lateness_ns_(allowed_lateness_ns) {}

  // False when `r` is late (source time before the last released reading); then `r` is left
  // as it was. Otherwise it is moved from (once, into the buffer).
  bool Add(Reading&& r, TimeNs arrival_ns);
  // Appends, in source-time order (ties in arrival order), every reading the watermark or
  // the processing-time timeout lets go.
  void Release(TimeNs now_ns, std::vector<Reading>* out);
  // Releases everything (shutdown).
  void Flush(std::vector<Reading>* out);
  // The same, handing each released reading to f(Reading&) in order (f may move it out; it is
  // dropped afterwards) instead of appending it to a vector. f must not call this buffer.
  template <class F>
  void ReleaseEach(TimeNs now_ns, F&& f);
  template <class F>
  void FlushEach(F&& f) {
    ReleaseUpTo(held_.size(), f);
  }

  size_t size() const { return held_.size() - head_; }
  TimeNs last_released_ns() const { return last_released_ns_; }

 private:
  struct Entry {
    // A constructor for emplace_back (clang has no parenthesized aggregate init); moves r once.
    Entry(Reading&& reading, TimeNs arrival) : r(std::move(reading)), arrival_ns(arrival) {}
    Reading r;
    TimeNs arrival_ns;
  };
  // Hands held_[head_, end) to f, then drops them.
  template <class F>
  void ReleaseUpTo(size_t end, F& f);
  void Compact();

  TimeNs lateness_ns_;
  TimeNs max_seen_ns_ = INT64_MIN;
  TimeNs last_released_ns_ = INT64_MIN;
  // held_[head_..] sorted by (source time, arrival order): a queue in one vector (released entries before
  // head_ are dropped in bulk). In-order streams, the common case, append at the back and
  // release from the front in O(1) without allocating; an out-of-order reading is inserted by
  // binary search.
  std::vector<Entry> held_;
  size_t head_ = 0;
};

template <class F>
void ReorderBuffer::ReleaseEach(TimeNs now_ns, F&& f) {
  const TimeNs watermark = max_seen_ns_ - lateness_ns_;
  size_t end = head_;
  while (end < held_.size() && held_[end].r.source_ts_ns <= watermark) ++end;
  // Processing-time timeout: once the oldest held reading has waited the whole allowed
  // lateness, nothing older can still be expected; release everything held.
  if (end < held_.size() && now_ns - held_[end].arrival_ns >= lateness_ns_) end = held_.size();
  ReleaseUpTo(end, f);
}

template <class F>
void ReorderBuffer::ReleaseUpTo(size_t end, F& f) {
  if (end == head_) return;
  for (size_t i = head_; i < end; ++i) f(held_[i].r);
  last_released_ns_ = held_[end - 1].r.source_ts_ns;
  head_ = end;
  Compact();
}

}  // namespace doppel::ingest
