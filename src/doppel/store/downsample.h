// Samples and shape-preserving downsampling (M4), shared by the store and its readers.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "doppel/core/reading.h"

namespace doppel::store {

// One stored point of one series.
struct Sample {
  TimeNs ts_ns = 0;
  double value = 0;
  Quality quality = Quality::kGood;

  friend bool operator==(const Sample&, const Sample&) = default;
};

// M4 downsampling (Jugel et al., VLDB 2014) of `samples` (sorted by strictly increasing ts_ns)
// to at most `max_points` samples, returned in time order. Every returned sample is one of the
// inputs (no interpolation).
//
//  - max_points == 0, or samples.size() <= max_points: the input, unchanged.
//  - max_points >= 4: B = max_points / 4 buckets of equal time width over
//    [t0, t1] = [first ts, last ts]; sample i goes to bucket floor((ts_i - t0) * B / (t1 - t0 + 1)).
//    Each non-empty bucket contributes its first, minimum-value, maximum-value and last sample
//    (ties: the earliest), deduplicated. NaN values are never chosen as min or max unless the
//    bucket holds only NaNs. So the global minimum and maximum are always kept.
//  - max_points 1: the last sample. 2: the minimum and the maximum. 3: the minimum, the maximum
//    and the last sample (each deduplicated).
std::vector<Sample> DownsampleM4(std::span<const Sample> samples, size_t max_points);

}  // namespace doppel::store
