#include "doppel/engine/station_level.h"

#include <algorithm>

namespace doppel::engine {

StationLevel::StationLevel(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

void StationLevel::Record(TimeNs ts_ns, double level_m) {
  std::lock_guard lk(mu_);
  if (samples_.empty() || ts_ns > samples_.back().first) {  // the usual case: in order
    samples_.emplace_back(ts_ns, level_m);
  } else {
    auto at = std::lower_bound(samples_.begin(), samples_.end(), ts_ns,
                               [](const std::pair<TimeNs, double>& s, TimeNs t) { return s.first < t; });
    if (at != samples_.end() && at->first == ts_ns) {
      at->second = level_m;
      return;
    }
    if (at == samples_.begin() && samples_.size() >= capacity_) return;  // older than all kept
    samples_.insert(at, {ts_ns, level_m});
  }
  if (samples_.size() > capacity_) samples_.pop_front();
}

double StationLevel::At(TimeNs ts_ns, double fallback) const {
  std::lock_guard lk(mu_);
  if (samples_.empty()) return fallback;
  // The first sample after ts_ns; the one before it is the newest at or before ts_ns.
  auto after = std::upper_bound(samples_.begin(), samples_.end(), ts_ns,
                                [](TimeNs t, const std::pair<TimeNs, double>& s) { return t < s.first; });
  if (after == samples_.begin()) return samples_.front().second;
  return std::prev(after)->second;
}

size_t StationLevel::size() const {
  std::lock_guard lk(mu_);
  return samples_.size();
}

}  // namespace doppel::engine
