// Chunk and segment format constants, shared by the writers (chunk_codec.cc, segment.cc), the
// readers, `doppel store check` and the fuzzer (fuzz/chunk_fuzz.cc). Internal to the store.
// The byte layouts are specified in docs/formats/chunk.md and docs/formats/segment.md; keep
// them in sync.
#pragma once

#include <cstddef>
#include <cstdint>

namespace doppel::store::chunkfmt {

// ---- Chunk (docs/formats/chunk.md) ----
inline constexpr uint8_t kChunkVersion = 1;
inline constexpr uint32_t kMaxChunkSamples = 1u << 16;  // decoder limit
inline constexpr size_t kRiceBlock = 128;               // values per Rice block
inline constexpr int kRiceKBits = 6;                    // width of a block's Rice parameter
inline constexpr int kRiceEscape = 24;                  // quotient at which a value is sent raw
inline constexpr int kMaxDecimalScale = 15;             // values are i / 10^scale, scale 0..15
inline constexpr int64_t kMaxUlpResidual = 1 << 12;     // |bits(v) - bits(i / 10^scale)| limit
// i = 0 with residual -1 (otherwise impossible: +0.0's bits minus 1 is a NaN) means -0.0.
inline constexpr int64_t kNegativeZeroUlp = -1;

enum ValueMode : uint8_t {
  kValuesConstant = 0,  // one 8-byte IEEE 754 value for all samples
  kValuesXor = 1,       // Gorilla XOR encoding of the IEEE 754 bits
  kValuesDecimal = 2,   // scaled integers, delta (order 1) or delta-of-delta (order 2) coded
};
enum QualityMode : uint8_t {
  kQualityAllGood = 0,
  kQualityRuns = 1,  // (quality, run length) pairs
};

// ---- Segment files (docs/formats/segment.md) ----
inline constexpr char kSegmentMagic[4] = {'D', 'S', 'E', 'G'};
inline constexpr char kFooterMagic[4] = {'D', 'S', 'E', 'F'};
inline constexpr uint16_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;  // magic(4) version(2) reserved(2) seq(8)
inline constexpr size_t kFooterSize = 24;         // index offset(8) index length(8) crc(4) magic(4)
inline constexpr size_t kBlockHeaderSize = 8;     // masked crc32c(4) length(4)
inline constexpr uint32_t kMaxBlockBytes = 64u << 20;
inline constexpr uint8_t kChunkKindSealed = 0;  // immutable chunk
inline constexpr uint8_t kChunkKindHead = 1;    // snapshot of a head; valid in the newest segment only

}  // namespace doppel::store::chunkfmt
