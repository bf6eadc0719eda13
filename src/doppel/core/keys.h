// SameKey: equality of twin ids and signal names on the per-reading paths (the engine's
// validation and shards, the WAL encoder).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace doppel {

// a == b, compared inline: keys are short, and a memcmp call per comparison costs more than the
// comparison itself. Same result as operator==.
inline bool SameKey(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  if (n != b.size()) return false;
  const char* p = a.data();
  const char* q = b.data();
  if (n > 32) return std::memcmp(p, q, n) == 0;
  if (n >= 8) {  // 8-byte words, the last one overlapping its predecessor
    uint64_t x, y;
    for (size_t i = 0; i + 8 < n; i += 8) {
      std::memcpy(&x, p + i, 8);
      std::memcpy(&y, q + i, 8);
      if (x != y) return false;
    }
    std::memcpy(&x, p + n - 8, 8);
    std::memcpy(&y, q + n - 8, 8);
    return x == y;
  }
  if (n >= 4) {  // two overlapping 4-byte words
    uint32_t x, y, u, v;
    std::memcpy(&x, p, 4);
    std::memcpy(&y, q, 4);
    std::memcpy(&u, p + n - 4, 4);
    std::memcpy(&v, q + n - 4, 4);
    return x == y && u == v;
  }
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != q[i]) return false;
  }
  return true;
}

}  // namespace doppel
