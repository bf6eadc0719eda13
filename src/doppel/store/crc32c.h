// CRC32C (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), hardware or table-driven, as used by
// iSCSI, ext4 and LevelDB. Internal to the store; the WAL format (docs/formats/wal.md) uses it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace doppel::store::crc32c {

// CRC32C of data[0, n) continuing from `crc` (the value returned for the preceding bytes; 0 to
// start). Value("123456789") == 0xE3069283. Uses the SSE4.2 CRC32 instruction when the CPU has
// it, else the tables.
uint32_t Extend(uint32_t crc, const void* data, size_t n);
namespace internal {
uint32_t ExtendPortable(uint32_t crc, const void* data, size_t n);  // the table version (tests)
}  // namespace internal
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }

// Stored CRCs are masked (rotated and offset) so that a CRC over bytes that themselves contain
// CRCs stays well distributed; see docs/formats/wal.md.
inline constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace doppel::store::crc32c
