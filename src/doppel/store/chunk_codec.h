// Chunk codec: a run of one series' samples (strictly increasing timestamps) encoded into an
// immutable, self-describing byte string, plus the summary kept beside it in the index.
// The byte layout is docs/formats/chunk.md. Internal to the store; thread-compatible.
//
//  - timestamps: delta-of-delta, Rice-coded in blocks of 128 (a regular interval costs one bit
//    per block);
//  - values: the smallest of (a) constant, (b) Gorilla XOR, (c) decimal: each value is
//    i / 10^scale plus a small residual in units in the last place (so 1.7619999999999998 is
//    1762 / 10^3 - 1 ulp), the integers delta or delta-of-delta coded with adaptive Rice codes.
//    Every mode is lossless for every double, including NaN payloads and -0.0;
//  - qualities: nothing when all good, run-length pairs otherwise.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/store/downsample.h"

namespace doppel::store {

// Aggregates of one chunk, so queries can answer without decoding it. NaN values are not
// counted in min/max/sum/value_count (they are in count).
struct ChunkSummary {
  uint32_t count = 0;
  Sample first, last;  // earliest and latest sample
  Sample min, max;     // smallest / largest non-NaN value (earliest on ties); = first if all NaN
  double sum = 0;
  uint32_t value_count = 0;  // non-NaN values

  TimeNs min_ts() const { return first.ts_ns; }
  TimeNs max_ts() const { return last.ts_ns; }
  friend bool operator==(const ChunkSummary&, const ChunkSummary&) = default;
};

// `samples` must be non-empty, at most chunkfmt::kMaxChunkSamples, strictly increasing in time.
ChunkSummary SummarizeSamples(std::span<const Sample> samples);

// Replaces *out with the encoding of `samples` (same preconditions as SummarizeSamples).
void EncodeChunk(std::span<const Sample> samples, std::string* out);

// Decodes a chunk, appending its samples to *out. kCorruption naming the problem for anything
// that is not a valid encoding (then *out is unchanged). Safe on untrusted input: never reads out
// of bounds and allocates at most kMaxChunkSamples samples.
Status DecodeChunk(std::string_view data, std::vector<Sample>* out);

namespace chunkcodec_internal {
// Exposed for tests: the value mode EncodeChunk picked for these bytes (-1 if undecodable).
int ValueModeOf(std::string_view data);
}  // namespace chunkcodec_internal

}  // namespace doppel::store
