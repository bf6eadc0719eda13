// Rice blocks (docs/formats/chunk.md, "Rice blocks"): the encoder's parameter choice, the
// writer and the reader.
#include "doppel/store/chunk_rice.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "doppel/store/chunk_format.h"

namespace doppel::store::rice {
namespace {

using namespace chunkfmt;
using coding::BitReader;
using coding::BitWriter;

int BitWidth(uint64_t v) { return 64 - std::countl_zero(v); }

// Bits of one block coded with parameter k (flag bit and k included).
uint64_t RiceCost(const uint64_t* v, size_t n, int k) {
  uint64_t bits = kRiceKBits + 1;
  for (size_t i = 0; i < n; ++i) {
    uint64_t q = v[i] >> k;
    bits += q < static_cast<uint64_t>(kRiceEscape) ? q + 1 + k : kRiceEscape + 64;
  }
  return bits;
}

// Sum of v[i] >> k.
uint64_t ShiftedSum(const uint64_t* v, size_t n, int k) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += v[i] >> k;
  return sum;
}

// Wrapping sum and bitwise OR of p[0, n).
void SumAndOr(const uint64_t* p, size_t n, uint64_t* sum, uint64_t* any) {
  U64x2 s0 = {0, 0}, s1 = {0, 0}, a0 = {0, 0}, a1 = {0, 0};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const U64x2 x = Load2(p + i), y = Load2(p + i + 2);
    s0 += x;
    s1 += y;
    a0 |= x;
    a1 |= y;
  }
  s0 += s1;
  a0 |= a1;
  uint64_t s = s0[0] + s0[1], a = a0[0] | a0[1];
  for (; i < n; ++i) s += p[i], a |= p[i];
  *sum = s;
  *any = a;
}

using U32x4 = uint32_t __attribute__((vector_size(16)));

// out[j] = sum of p[i] >> (k + j), j = 0..3, in one pass; every p[i] < 2^24 (so the sums of up
// to 128 values fit 32-bit lanes, four values to a vector).
void ShiftedSums4Small(const uint64_t* p, size_t n, int k, uint64_t out[4]) {
  U32x4 s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const U32x4 lo = reinterpret_cast<U32x4>(Load2(p + i)), hi = reinterpret_cast<U32x4>(Load2(p + i + 2));
    // The low 32-bit halves of the four values (little-endian lanes 0 and 2 of each).
    const U32x4 x = __builtin_shufflevector(lo, hi, 0, 2, 4, 6) >> k;
    s0 += x;
    s1 += x >> 1;
    s2 += x >> 2;
    s3 += x >> 3;
  }
  out[0] = uint64_t{s0[0]} + s0[1] + s0[2] + s0[3];
  out[1] = uint64_t{s1[0]} + s1[1] + s1[2] + s1[3];
  out[2] = uint64_t{s2[0]} + s2[1] + s2[2] + s2[3];
  out[3] = uint64_t{s3[0]} + s3[1] + s3[2] + s3[3];
  for (; i < n; ++i) {
    const uint64_t x = p[i] >> k;
    out[0] += x, out[1] += x >> 1, out[2] += x >> 2, out[3] += x >> 3;
  }
}

// out[j] = sum of p[i] >> (k + j), j = 0..3, in one pass.
void ShiftedSums4(const uint64_t* p, size_t n, int k, uint64_t out[4]) {
  U64x2 s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const U64x2 x = Load2(p + i) >> k;
    s0 += x;
    s1 += x >> 1;
    s2 += x >> 2;
    s3 += x >> 3;
  }
  out[0] = s0[0] + s0[1], out[1] = s1[0] + s1[1], out[2] = s2[0] + s2[1], out[3] = s3[0] + s3[1];
  for (; i < n; ++i) {
    const uint64_t x = p[i] >> k;
    out[0] += x, out[1] += x >> 1, out[2] += x >> 2, out[3] += x >> 3;
  }
}

// The parameters BestRiceK may pick for a block and where its walk starts: floor(log2(mean)),
// the mean summed in doubles (as the encoder always did: the choice is pinned by
// tests/store/chunk_golden_test.cc).
struct KRange {
  int lo, hi, start;
};
KRange RiceKRange(const uint64_t* p, size_t n, uint64_t sum, uint64_t any) {
  double mean;
  if (any < (1ull << 46)) {
    // Every value and every partial sum (n <= 128) is below 2^53, so the double sum is exact.
    mean = static_cast<double>(sum) / static_cast<double>(n);
  } else {
    double dsum = 0;
    for (size_t i = 0; i < n; ++i) dsum += static_cast<double>(p[i]);
    mean = dsum / static_cast<double>(n);
  }
  const int guess = mean < 2 ? 0 : BitWidth(static_cast<uint64_t>(std::min(mean, 1.8e19))) - 1;
  const int lo = std::max(0, guess - 4), hi = std::min(63, guess + 2);
  return {lo, hi, std::clamp(guess, lo, hi)};
}

// The Rice parameter of one block (values p[0, n), n <= kRiceBlock, not all zero; `sum` and
// `any` are their wrapping sum and bitwise OR) and its cost in bits: from the start, walk downhill
// in cost within [lo, hi], preferring the smaller k on ties. The walk nearly always stays within
// start - 2 .. start + 1; those costs come from one pass (when no value escapes at that k), any
// other from a pass of its own.
int BestRiceK(const uint64_t* p, size_t n, uint64_t sum, uint64_t any, uint64_t* cost) {
  const auto [lo, hi, start] = RiceKRange(p, n, sum, any);
  const int k0 = std::max(lo, start - 2);
  uint64_t sums[4];
  if (std::endian::native == std::endian::little && any < (1u << 24)) {
    ShiftedSums4Small(p, n, k0, sums);
  } else {
    ShiftedSums4(p, n, k0, sums);
  }
  auto cost_at = [&](int k) -> uint64_t {
    if ((any >> k) >= static_cast<uint64_t>(kRiceEscape)) return RiceCost(p, n, k);
    // No value escapes: each costs q + 1 + k bits.
    const uint64_t q_sum = k >= k0 && k < k0 + 4 ? sums[k - k0] : ShiftedSum(p, n, k);
    return kRiceKBits + 1 + n * static_cast<uint64_t>(1 + k) + q_sum;
  };
  int best_k = start;
  uint64_t best = cost_at(start);
  while (best_k > lo) {
    const uint64_t c = cost_at(best_k - 1);
    if (c > best) break;
    best = c;
    --best_k;
  }
  const bool went_down = best_k != start;
  while (!went_down && best_k < hi) {
    const uint64_t c = cost_at(best_k + 1);
    if (c >= best) break;
    best = c;
    ++best_k;
  }
  *cost = best;
  return best_k;
}

// kUnary[q]: q one-bits, then a zero-bit.
constexpr auto kUnary = [] {
  std::array<uint64_t, kRiceEscape> t{};
  for (int q = 0; q < kRiceEscape; ++q) t[q] = ((1ull << q) - 1) << 1;
  return t;
}();

}  // namespace

void ComputeBlockStats(const uint64_t* v, size_t n, BlockStats* stats) {
  for (size_t b = 0, blk = 0; b < n; b += kRiceBlock, ++blk) {
    SumAndOr(v + b, std::min(kRiceBlock, n - b), &stats[blk].sum, &stats[blk].any);
  }
}

// A lower bound of the bits PutRice writes for v[0, n), from the block statistics alone.
uint64_t RiceBitsLowerBound(const uint64_t* v, size_t n, const BlockStats* stats) {
  uint64_t bits = 0;
  for (size_t b = 0, blk = 0; b < n; b += kRiceBlock, ++blk) {
    const size_t m = std::min(kRiceBlock, n - b);
    const BlockStats& st = stats[blk];
    if (st.any == 0) {
      bits += 1;
      continue;
    }
    // BestRiceK picks some k in [lo, hi]. A value costs at least 1 + k bits; without escapes
    // (any >> k < 24) the m values cost n (1 + k) + sum floor(v / 2^k), and sum floor(v / 2^k)
    // >= (sum - m (2^k - 1)) / 2^k. (No overflow: any < 2^56, k < 56.)
    const KRange r = RiceKRange(v + b, m, st.sum, st.any);
    uint64_t best = UINT64_MAX;
    for (int k = r.lo; k <= r.hi; ++k) {
      uint64_t c = kRiceKBits + 1 + m * static_cast<uint64_t>(1 + k);
      if (st.any < (1ull << 56) && k < 56 && (st.any >> k) < static_cast<uint64_t>(kRiceEscape)) {
        const uint64_t slack = m * ((1ull << k) - 1);
        if (st.sum > slack) c += (st.sum - slack + (1ull << k) - 1) >> k;
      }
      best = std::min(best, c);
    }
    bits += best;
  }
  return bits;
}

// Bits PutRice writes for v[0, n); the parameter of each block goes to ks[0, RiceBlocks(n)).
uint64_t RiceBits(const uint64_t* v, size_t n, const BlockStats* stats, uint8_t* ks) {
  uint64_t bits = 0;
  for (size_t b = 0, blk = 0; b < n; b += kRiceBlock, ++blk) {
    const size_t m = std::min(kRiceBlock, n - b);
    const uint64_t sum = stats[blk].sum, any = stats[blk].any;
    if (any == 0) {
      ks[blk] = kZeroBlock;
      bits += 1;
      continue;
    }
    uint64_t cost;
    ks[blk] = static_cast<uint8_t>(BestRiceK(v + b, m, sum, any, &cost));
    bits += cost;  // includes the flag bit and k
  }
  return bits;
}

// Writes v[0, n) as Rice blocks with the parameters and statistics RiceBits used, `bits` bits
// in all.
void PutRice(const uint64_t* v, size_t n, const uint8_t* ks, const BlockStats* stats, uint64_t bits,
             BitWriter* writer) {
  BitWriter::Run w = writer->Begin(bits);
  for (size_t b = 0, blk = 0; b < n; b += kRiceBlock, ++blk) {
    if (ks[blk] == kZeroBlock) {
      w.Put(1, 1);
      continue;
    }
    const size_t m = std::min(kRiceBlock, n - b);
    const uint64_t* p = v + b;
    const int k = ks[blk];
    w.Put(static_cast<uint64_t>(k), 1 + kRiceKBits);  // flag 0, then k
    const uint64_t low_mask = k == 0 ? 0 : ~0ull >> (64 - k);
    if ((stats[blk].any >> k) < static_cast<uint64_t>(kRiceEscape) && k + kRiceEscape <= 64) {
      // No escapes and every code fits one write: q ones and a zero (kUnary[q]), the low k
      // bits.
      for (size_t i = 0; i < m; ++i) {
        const uint64_t q = p[i] >> k;
        w.Put((kUnary[q] << k) | (p[i] & low_mask), static_cast<int>(q) + 1 + k);
      }
      continue;
    }
    for (size_t i = 0; i < m; ++i) {
      const uint64_t q = p[i] >> k;
      if (q < static_cast<uint64_t>(kRiceEscape)) {
        // q ones, a zero, then the low k bits: one write when it fits.
        const int len = static_cast<int>(q) + 1 + k;
        if (len <= 64) {
          // ((2^q - 1) << 1 << k): q ones then the zero, above the low k bits.
          w.Put((((1ull << q) - 1) << 1 << k) | (p[i] & low_mask), len);
        } else {
          w.Put((1ull << q) - 1, static_cast<int>(q));
          w.Put(0, 1);
          w.Write(p[i], k);
        }
      } else {
        w.Put((1ull << kRiceEscape) - 1, kRiceEscape);
        w.Put(p[i], 64);
      }
    }
  }
  writer->End(w);
}

bool GetRice(BitReader* r, size_t count, std::vector<uint64_t>* out) {
  out->resize(count);
  for (size_t b = 0; b < count; b += kRiceBlock) {
    const size_t n = std::min(kRiceBlock, count - b);
    if (r->Bit()) {
      for (size_t i = 0; i < n; ++i) (*out)[b + i] = 0;
      continue;
    }
    const int k = static_cast<int>(r->Read(kRiceKBits));
    for (size_t i = 0; i < n; ++i) {
      int q = 0;
      while (q < kRiceEscape && r->Bit()) ++q;
      (*out)[b + i] = q == kRiceEscape ? r->Read(64) : (static_cast<uint64_t>(q) << k) | r->Read(k);
    }
    if (r->failed()) return false;
  }
  return !r->failed();
}

}  // namespace doppel::store::rice
