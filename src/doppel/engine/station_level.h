// The station's tank level by source time: the pumps' `level_m` input.
//
// The tank twin's shard records each level reading as it arrives (before its reorder buffer
// releases it); a pump twin's estimator, on any shard, asks for the level at its step's source
// time. The answer is the newest recorded sample at or before that time (zero-order hold, as the
// pump model holds its inputs between steps), so a pump step sees the level of its own moment
// whether the tank's shard runs ahead of it or not. When the tank's readings for that moment have
// not arrived yet (a tank shard behind, a delayed tank message), the newest sample before it is
// the best there is (the level moves slowly); when the asked time is older than everything kept,
// the oldest kept sample. One tank per station: two tanks' samples would interleave.
//
// Thread safety: every method may be called from any thread (one mutex; Record runs at the
// tank's reading rate, At once per estimator step).
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <utility>

#include "doppel/core/reading.h"

namespace doppel::engine {

class StationLevel {
 public:
  // Keeps the newest `capacity` samples (≥ 1; 4096 ≈ 7 min of a 10 Hz tank).
  explicit StationLevel(size_t capacity = 4096);

  // A tank level reading at source time ts_ns, in any order: kept sorted by source time; one at
  // a kept sample's time replaces it; one older than everything kept when full is dropped (the
  // oldest are the first to go).
  void Record(TimeNs ts_ns, double level_m);
  // The level at ts_ns (see above); `fallback` while nothing has been recorded.
  double At(TimeNs ts_ns, double fallback) const;
  size_t size() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::deque<std::pair<TimeNs, double>> samples_;  // ascending source time
};

}  // namespace doppel::engine
