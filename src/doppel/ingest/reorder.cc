#include "doppel/ingest/reorder.h"

#include <algorithm>

namespace doppel::ingest {

bool ReorderBuffer::Add(Reading r, TimeNs arrival_ns) {
  if (r.source_ts_ns < last_released_ns_) return false;
  max_seen_ns_ = std::max(max_seen_ns_, r.source_ts_ns);
  heap_.push_back(Entry{std::move(r), arrival_ns, seq_++});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return true;
}

void ReorderBuffer::Pop(std::vector<Reading>* out) {
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  last_released_ns_ = heap_.back().r.source_ts_ns;
  out->push_back(std::move(heap_.back().r));
  heap_.pop_back();
}

void ReorderBuffer::Release(TimeNs now_ns, std::vector<Reading>* out) {
  const TimeNs watermark = max_seen_ns_ - lateness_ns_;
  while (!heap_.empty() && heap_.front().r.source_ts_ns <= watermark) Pop(out);
  if (heap_.empty()) return;
  // Processing-time timeout: once the oldest buffered arrival has waited the whole allowed
  // lateness, nothing older can still be expected; release everything buffered.
  TimeNs oldest_arrival = INT64_MAX;
  for (const Entry& e : heap_) oldest_arrival = std::min(oldest_arrival, e.arrival_ns);
  if (now_ns - oldest_arrival >= lateness_ns_) Flush(out);
}

void ReorderBuffer::Flush(std::vector<Reading>* out) {
  while (!heap_.empty()) Pop(out);
}

}  // namespace doppel::ingest
