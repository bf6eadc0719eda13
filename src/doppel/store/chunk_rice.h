// Rice blocks of the chunk format (docs/formats/chunk.md, "Rice blocks"): sequences of unsigned
// integers in blocks of chunkfmt::kRiceBlock, each block either one all-zero bit or a 6-bit
// parameter k and per value a unary quotient and k low bits (escapes for huge values). Internal
// to the store (chunk_codec.cc).
//
// Encoding is split so a caller can compare candidate sequences cheaply: per-block statistics
// (BlockStats, usually computed while producing the values), a lower bound from them alone, the
// exact size with the parameter of each block (RiceBits), and the writer (PutRice).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "doppel/store/chunk_format.h"
#include "doppel/store/coding.h"

namespace doppel::store::rice {

// Two 64-bit lanes (GCC/Clang vector extension; SSE2 on x86-64) for the per-value loops.
using U64x2 = uint64_t __attribute__((vector_size(16)));
inline U64x2 Load2(const uint64_t* p) {
  U64x2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline size_t RiceBlocks(size_t n) { return (n + chunkfmt::kRiceBlock - 1) / chunkfmt::kRiceBlock; }

// Per block: the wrapping sum and the bitwise OR of its values.
struct BlockStats {
  uint64_t sum = 0, any = 0;
};
// The parameter of a block whose values are all zero.
inline constexpr uint8_t kZeroBlock = 0xFF;

// stats[0, RiceBlocks(n)) of v[0, n).
void ComputeBlockStats(const uint64_t* v, size_t n, BlockStats* stats);

// A lower bound of RiceBits(v, n, stats, ...) from the statistics (it reads a block of v only
// when the block holds values of 2^46 or more).
uint64_t RiceBitsLowerBound(const uint64_t* v, size_t n, const BlockStats* stats);

// The bits PutRice writes for v[0, n); the parameter of each block goes to ks[0,
// RiceBlocks(n)). The choice per block is part of the pinned encoding
// (tests/store/chunk_golden_test.cc).
uint64_t RiceBits(const uint64_t* v, size_t n, const BlockStats* stats, uint8_t* ks);

// Writes v[0, n) with the parameters and statistics RiceBits used and returned `bits` for.
void PutRice(const uint64_t* v, size_t n, const uint8_t* ks, const BlockStats* stats, uint64_t bits,
             coding::BitWriter* writer);

// Reads `count` values; false when the bit stream ends first.
bool GetRice(coding::BitReader* r, size_t count, std::vector<uint64_t>* out);

}  // namespace doppel::store::rice
