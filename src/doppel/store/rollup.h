// Rollups: per-series aggregates per epoch-aligned time bucket, computed from raw data when
// retention drops it, and the rollup file format that persists them (docs/formats/rollup.md).
// Internal to the store and its tools.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/store/downsample.h"

namespace doppel::store {

// Aggregates of the samples with ts in [start_ns, start_ns + step).
struct RollupBucket {
  TimeNs start_ns = 0;
  uint64_t count = 0;        // samples
  uint64_t value_count = 0;  // non-NaN samples: the basis of min, max, sum
  double min = 0, max = 0, sum = 0;
  TimeNs first_ts = 0;  // earliest sample
  Sample last;          // latest sample
  friend bool operator==(const RollupBucket&, const RollupBucket&) = default;
};

// One level (step) of a series' rollups.
struct RollupLevel {
  TimeNs step_ns = 0;
  // Buckets starting before this were dropped by retention (INT64_MIN: none dropped).
  TimeNs kept_from = INT64_MIN;
  std::vector<RollupBucket> buckets;  // increasing start_ns
};

// floor(t / step) * step (also for negative t).
TimeNs AlignDown(TimeNs t, TimeNs step);

// Folds `samples` (strictly increasing ts, all later than every sample already in `level`)
// into level->buckets. Returns the index of the first bucket that changed.
size_t AddToLevel(std::span<const Sample> samples, RollupLevel* level);

// Combines b into a (a's samples all earlier than b's).
void MergeBucket(RollupBucket* a, const RollupBucket& b);

namespace rollupfile {

inline constexpr char kMagic[4] = {'D', 'R', 'L', 'P'};
inline constexpr uint16_t kVersion = 1;
inline constexpr size_t kHeaderSize = 16;  // magic(4) version(2) flags(2) seq(8)
inline constexpr uint16_t kFlagFull = 1;   // the file holds the whole rollup state
inline constexpr uint8_t kBlockSeries = 1;
inline constexpr uint8_t kBlockEnd = 2;

// "rollups-<seq, 10+ digits>.rlp"
std::string FileName(uint64_t seq);
bool ParseFileName(std::string_view name, uint64_t* seq);

struct SeriesRollups {
  std::string twin, signal;
  TimeNs raw_horizon = INT64_MIN;
  std::vector<RollupLevel> levels;  // in a delta file: only the changed buckets
};
struct Contents {
  uint64_t seq = 0;
  bool full = false;
  std::vector<SeriesRollups> series;
};

std::string Build(const Contents& c);

// Parses a file. A bad header, a missing or inconsistent end block are kCorruption (nothing
// usable); a series block whose CRC or decoding fails is skipped and described in *damaged.
Status Parse(std::string_view file, Contents* out, std::vector<std::string>* damaged);

}  // namespace rollupfile
}  // namespace doppel::store
