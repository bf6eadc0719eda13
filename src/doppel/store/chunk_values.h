// The value block of a chunk: constant, decimal (an integer scale with order-0/1/2 residuals,
// Rice-coded, and per-value ULP corrections, so every double round-trips bit for bit) or XOR,
// whichever is smallest (docs/formats/chunk.md "Values"). Internal to the chunk codec:
// chunk_codec.cc frames a chunk around it (timestamps before, qualities after).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/store/chunk_codec.h"
#include "doppel/store/chunk_rice.h"
#include "doppel/store/coding.h"

namespace doppel::store::chunkvalues {

// Buffers the caller keeps per thread, so encoding allocates nothing once they have grown.
struct Scratch {
  std::vector<uint64_t> ulps, res[3];
  std::vector<int64_t> ints;
  std::vector<uint8_t> ulp_ks, res_ks[3];
  std::vector<rice::BlockStats> ulp_stats, res_stats[3];
  coding::BitWriter w;
};

// Appends the value block of `s` (non-empty) to `out`.
void EncodeValues(std::span<const Sample> s, Scratch& sc, std::string* out);
// Reads the value block of n samples at `c` into `v` (resized to n). kCorruption naming what is
// wrong ("chunk: truncated XOR bit stream").
Status DecodeValues(coding::Cursor* c, size_t n, std::vector<double>* v);

}  // namespace doppel::store::chunkvalues
