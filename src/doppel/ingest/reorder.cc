#include "doppel/ingest/reorder.h"

#include <algorithm>
#include <utility>

namespace doppel::ingest {

bool ReorderBuffer::Add(Reading&& r, TimeNs arrival_ns) {
  if (r.source_ts_ns < last_released_ns_) return false;
  max_seen_ns_ = std::max(max_seen_ns_, r.source_ts_ns);
  const TimeNs ts = r.source_ts_ns;
  if (head_ == held_.size()) {
    held_.clear();
    head_ = 0;
  }
  if (head_ == held_.size() || held_.back().r.source_ts_ns <= ts) {
    held_.emplace_back(std::move(r), arrival_ns);  // in place: the reading is moved once
    return true;
  }
  // Out of order: after every held reading with the same or an earlier source time.
  auto at = std::upper_bound(held_.begin() + static_cast<std::ptrdiff_t>(head_), held_.end(), ts,
                             [](TimeNs t, const Entry& e) { return t < e.r.source_ts_ns; });
  held_.insert(at, Entry{std::move(r), arrival_ns});
  return true;
}

void ReorderBuffer::Compact() {
  if (head_ == held_.size()) {
    held_.clear();
    head_ = 0;
  } else if (head_ >= 256 && head_ * 2 >= held_.size()) {
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void ReorderBuffer::Release(TimeNs now_ns, std::vector<Reading>* out) {
  ReleaseEach(now_ns, [out](Reading& r) { out->push_back(std::move(r)); });
}

void ReorderBuffer::Flush(std::vector<Reading>* out) {
  FlushEach([out](Reading& r) { out->push_back(std::move(r)); });
}

}  // namespace doppel::ingest
