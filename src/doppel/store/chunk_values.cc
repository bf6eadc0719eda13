// The value block of a chunk (chunk_values.h; docs/formats/chunk.md "Values").
#include "doppel/store/chunk_values.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "doppel/store/chunk_format.h"

namespace doppel::store::chunkvalues {
namespace {

using namespace chunkfmt;
using coding::BitReader;
using coding::BitWriter;
using coding::Cursor;
using coding::UnZigZag;
using coding::ZigZag;
using rice::BlockStats;
using rice::ComputeBlockStats;
using rice::GetRice;
using rice::Load2;
using rice::PutRice;
using rice::RiceBits;
using rice::RiceBitsLowerBound;
using rice::RiceBlocks;
using rice::U64x2;

constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
static_assert(sizeof(kPow10) / sizeof(kPow10[0]) == kMaxDecimalScale + 1);

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }
double FromBits(uint64_t b) { return std::bit_cast<double>(b); }

// std::llround(m) for |m| < 2^53, inline: there m - trunc(m) is exact.
int64_t RoundHalfAway(double m) {
  int64_t t = static_cast<int64_t>(m);
  const double f = m - static_cast<double>(t);
  if (f >= 0.5) {
    ++t;
  } else if (f <= -0.5) {
    --t;
  }
  return t;
}

// value = i / 10^scale with the bits adjusted by `ulp`; false when not representable that way.
bool ToDecimal(double v, int scale, int64_t* i, int64_t* ulp) {
  // |m| < 2^53 also rules out NaN and infinities.
  const double m = v * kPow10[scale];
  if (!(std::fabs(m) < 9007199254740992.0)) return false;  // 2^53: integers exact
  const int64_t k = RoundHalfAway(m);
  const int64_t r = static_cast<int64_t>(Bits(v) - Bits(static_cast<double>(k) / kPow10[scale]));
  // Within the limit only when v and the base have the same sign: the bits of finite doubles of
  // opposite signs differ by more than 2^52 (as int64, wrapping), the two zeros included.
  if (r <= kMaxUlpResidual && r >= -kMaxUlpResidual) {
    *i = k;
    *ulp = r;
    return true;
  }
  if (Bits(v) != Bits(-0.0)) return false;
  *i = 0;  // -0.0 (e.g. "-0.0000" in a CSV)
  *ulp = kNegativeZeroUlp;
  return true;
}

using F64x2 = double __attribute__((vector_size(16)));

// ToDecimal of every value at `scale`: integers to ints, zigzagged ulps to ulps, their bitwise OR
// to *ulp_any. Returns the index of the first value that does not fit (s.size() when all do).
//
// Two values at a time on the common path, |v * 10^scale| < 2^52 and |ulp| < 4096: there the
// integer nearest m = v * 10^scale is exact in double arithmetic, (|m| + 2^52) - 2^52 rounds
// |m| to nearest-even, and a tie rounded down (difference -0.5) is moved up, which is llround's
// half-away-from-zero. Pairs off that path go through ToDecimal.
size_t ToDecimals(std::span<const Sample> s, int scale, int64_t* ints, uint64_t* ulps, uint64_t* ulp_any) {
  const double pow10 = kPow10[scale];
  const F64x2 p = {pow10, pow10}, two52 = {0x1p52, 0x1p52}, half = {-0.5, -0.5}, one = {1.0, 1.0};
  const U64x2 abs_mask = {~0ull >> 1, ~0ull >> 1}, zero = {0, 0}, limit = {kMaxUlpResidual, kMaxUlpResidual};
  const U64x2 two52_bits = {std::bit_cast<uint64_t>(0x1p52), std::bit_cast<uint64_t>(0x1p52)};
  U64x2 any = zero;
  uint64_t any_scalar = 0;
  size_t j = 0;
  for (; j + 2 <= s.size(); j += 2) {
    const F64x2 v = {s[j].value, s[j + 1].value};
    const F64x2 m = v * p;
    const F64x2 a = reinterpret_cast<F64x2>(reinterpret_cast<U64x2>(m) & abs_mask);
    const F64x2 shifted = a + two52;                                  // in [2^52, 2^53): exact integer
    const F64x2 rn = shifted - two52;                                 // |m| rounded to nearest-even
    const U64x2 tie = reinterpret_cast<U64x2>((rn - a) == half) & 1;  // a tie rounded down
    const F64x2 ra = rn + reinterpret_cast<F64x2>(reinterpret_cast<U64x2>(one) & (zero - tie));
    const U64x2 neg = zero - (reinterpret_cast<U64x2>(m) >> 63);  // all ones where m < 0
    // k as a double: -ra for negative m (0.0 - 0.0 is +0.0, as static_cast<double>(0)).
    const F64x2 minus_ra = F64x2{0.0, 0.0} - ra;
    const F64x2 kd = reinterpret_cast<F64x2>((reinterpret_cast<U64x2>(minus_ra) & neg) |
                                             (reinterpret_cast<U64x2>(ra) & ~neg));
    const U64x2 r = reinterpret_cast<U64x2>(v) - reinterpret_cast<U64x2>(kd / p);
    // On the path: |m| < 2^52 (a compared as a double) and r + 4096 < 8192.
    const auto in_range = a < two52;
    const U64x2 off = ((r + limit) >> 13) | ~reinterpret_cast<U64x2>(in_range);
    if ((off[0] | off[1]) != 0) {
      for (size_t i = j; i < j + 2; ++i) {
        int64_t u;
        if (!ToDecimal(s[i].value, scale, &ints[i], &u)) return i;
        ulps[i] = ZigZag(u);
        any_scalar |= ulps[i];
      }
      continue;
    }
    const U64x2 ka = (reinterpret_cast<U64x2>(shifted) - two52_bits) + tie;  // |k|
    const U64x2 k = (ka ^ neg) - neg;
    std::memcpy(ints + j, &k, sizeof k);
    const U64x2 z = (r << 1) ^ (zero - (r >> 63));
    std::memcpy(ulps + j, &z, sizeof z);
    any |= z;
  }
  for (; j < s.size(); ++j) {
    int64_t u;
    if (!ToDecimal(s[j].value, scale, &ints[j], &u)) return j;
    ulps[j] = ZigZag(u);
    any_scalar |= ulps[j];
  }
  *ulp_any = any[0] | any[1] | any_scalar;
  return s.size();
}

double FromDecimal(int64_t i, int scale, int64_t ulp) {
  if (i == 0 && ulp == kNegativeZeroUlp) return -0.0;
  return FromBits(Bits(static_cast<double>(i) / kPow10[scale]) + static_cast<uint64_t>(ulp));
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, ++n;
  return n;
}

// Residual i of a decimal encoding of order kOrder (the first kOrder integers go in the
// header), wrapping, zigzagged, two lanes at a time. Order 0: ints[i + 1] - ints[0];
// 1: ints[i + 1] - ints[i]; 2: ints[i + 2] - 2 ints[i + 1] + ints[i].
template <int kOrder>
U64x2 ResidualPair(const uint64_t* u, size_t i, U64x2 first) {
  U64x2 d;
  if constexpr (kOrder == 0) {
    d = Load2(u + i + 1) - first;
  } else if constexpr (kOrder == 1) {
    d = Load2(u + i + 1) - Load2(u + i);
  } else {
    const U64x2 mid = Load2(u + i + 1);
    d = (Load2(u + i + 2) - mid) - (mid - Load2(u + i));
  }
  const U64x2 zero = {0, 0};
  return (d << 1) ^ (zero - (d >> 63));  // zigzag
}

// The `nres` residuals of order kOrder into res, with their block statistics.
template <int kOrder>
void OrderResiduals(const uint64_t* u, size_t nres, uint64_t* res, BlockStats* stats) {
  const U64x2 first = {u[0], u[0]};
  for (size_t b = 0, blk = 0; b < nres; b += kRiceBlock, ++blk) {
    const size_t end = std::min(nres, b + kRiceBlock);
    U64x2 sum = {0, 0}, any = {0, 0};
    size_t i = b;
    for (; i + 2 <= end; i += 2) {
      const U64x2 z = ResidualPair<kOrder>(u, i, first);
      std::memcpy(res + i, &z, sizeof z);
      sum += z;
      any |= z;
    }
    uint64_t s = sum[0] + sum[1], a = any[0] | any[1];
    if (i < end) {  // odd tail: the last residual alone (its pair would read past the end)
      const uint64_t d = kOrder == 0   ? u[i + 1] - u[0]
                         : kOrder == 1 ? u[i + 1] - u[i]
                                       : (u[i + 2] - u[i + 1]) - (u[i + 1] - u[i]);
      res[i] = ZigZag(static_cast<int64_t>(d));
      s += res[i];
      a |= res[i];
    }
    stats[blk] = {s, a};
  }
}

// The residuals of the three orders (count >= 2 integers) and their block statistics.
void DecimalResiduals(size_t count, const int64_t* ints, Scratch& sc) {
  const uint64_t* u = reinterpret_cast<const uint64_t*>(ints);
  for (int o = 0; o < 3; ++o) {
    sc.res[o].resize(count);
    sc.res_stats[o].resize(RiceBlocks(count));
  }
  OrderResiduals<0>(u, count - 1, sc.res[0].data(), sc.res_stats[0].data());
  OrderResiduals<1>(u, count - 1, sc.res[1].data(), sc.res_stats[1].data());
  OrderResiduals<2>(u, count - 2, sc.res[2].data(), sc.res_stats[2].data());
}

// Bytes EncodeDecimal appends, given the Rice bit counts of the residuals and the ulps.
size_t DecimalSize(size_t count, int order, const int64_t* ints, uint64_t bits) {
  size_t size = 3 + VarintSize(ZigZag(ints[0]));
  if (order == 2 && count > 1) {
    size += VarintSize(ZigZag(static_cast<int64_t>(static_cast<uint64_t>(ints[1]) - ints[0])));
  }
  const size_t bytes = static_cast<size_t>((bits + 7) / 8);
  return size + VarintSize(bytes) + bytes;
}

void EncodeDecimal(size_t count, int scale, int order, Scratch& sc, size_t nres, uint64_t res_bits,
                   uint64_t ulp_bits, std::string* out) {
  const int64_t* ints = sc.ints.data();
  out->push_back(static_cast<char>(kValuesDecimal));
  out->push_back(static_cast<char>(scale));
  out->push_back(static_cast<char>(order));
  coding::PutVarint(out, ZigZag(ints[0]));
  if (order == 2 && count > 1) {
    coding::PutVarint(out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(ints[1]) - ints[0])));
  }
  BitWriter& w = sc.w;
  w.Clear();
  PutRice(sc.res[order].data(), nres, sc.res_ks[order].data(), sc.res_stats[order].data(), res_bits, &w);
  PutRice(sc.ulps.data(), count, sc.ulp_ks.data(), sc.ulp_stats.data(), ulp_bits, &w);
  w.FinishLengthPrefixed(out);
}

// Bits of the Gorilla XOR stream EncodeXor writes (without the length prefix); once the count
// passes `cap`, some value above `cap` (the exact count no longer matters).
uint64_t XorBits(std::span<const Sample> s, uint64_t cap) {
  uint64_t bits = 64;
  uint64_t prev = Bits(s[0].value);
  int lead = -1, trail = 0;
  for (size_t j = 1; j < s.size(); ++j) {
    const uint64_t cur = Bits(s[j].value), x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      bits += 1;
      continue;
    }
    int l = std::min(std::countl_zero(x), 31), t = std::countr_zero(x);
    if (lead >= 0 && l >= lead && t >= trail) {
      bits += 2 + static_cast<uint64_t>(64 - lead - trail);
    } else {
      lead = l;
      trail = t;
      bits += 2 + 5 + 6 + static_cast<uint64_t>(64 - l - t);
    }
    if (bits > cap) return bits;
  }
  return bits;
}

void EncodeXor(std::span<const Sample> s, BitWriter& writer, std::string* out) {
  out->push_back(static_cast<char>(kValuesXor));
  writer.Clear();
  // At most 2 + 5 + 6 + 64 bits per value after the first.
  BitWriter::Run w = writer.Begin(64 + 77 * (s.size() - 1));
  uint64_t prev = Bits(s[0].value);
  w.Put(prev, 64);
  int lead = -1, trail = 0;  // current window; lead -1: none yet
  for (size_t j = 1; j < s.size(); ++j) {
    const uint64_t cur = Bits(s[j].value), x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      w.Put(0, 1);
      continue;
    }
    // x >> trail fits the window's len bits (x has at least `lead` leading zeros).
    int l = std::min(std::countl_zero(x), 31), t = std::countr_zero(x);
    if (lead >= 0 && l >= lead && t >= trail) {
      const int len = 64 - lead - trail;
      if (len <= 62) {
        w.Put((2ull << len) | (x >> trail),
              len + 2);  // "10", then the meaningful bits
      } else {
        w.Put(2, 2);
        w.Put(x >> trail, len);
      }
      continue;
    }
    lead = l;
    trail = t;
    const int len = 64 - l - t;  // 1..64; 64 is written as 0
    w.Put((3u << 11) | (static_cast<unsigned>(l) << 6) | static_cast<unsigned>(len & 63), 13);
    w.Put(x >> t, len);
  }
  writer.End(w);
  writer.FinishLengthPrefixed(out);
}

Status Bad(const std::string& what) { return Corruption("chunk: " + what); }

}  // namespace

void EncodeValues(std::span<const Sample> s, Scratch& sc, std::string* out) {
  const size_t n = s.size();
  const uint64_t first = Bits(s[0].value);
  size_t same = 1;
  while (same < n && Bits(s[same].value) == first) ++same;
  if (same == n) {
    out->push_back(static_cast<char>(kValuesConstant));
    coding::PutFixed64(out, first);
    return;
  }
  // Decimal: the smallest scale at which every value fits (a larger one only makes the integers
  // larger). The value that failed the previous scale is tried first: it usually fails again.
  sc.ints.resize(n);
  sc.ulps.resize(n);
  int64_t* ints = sc.ints.data();
  uint64_t* ulps = sc.ulps.data();
  int scale = -1;
  size_t failed = 0;
  uint64_t ulp_any = 0;
  for (int t = 0; t <= kMaxDecimalScale && scale < 0; ++t) {
    if (ToDecimals(s.subspan(failed, 1), t, ints, ulps, &ulp_any) == 0) continue;
    failed = ToDecimals(s, t, ints, ulps, &ulp_any);
    if (failed == n) scale = t;
  }
  if (scale < 0) {
    EncodeXor(s, sc.w, out);
    return;
  }
  // Sizes first, then only the smallest encoding is written (ties: XOR, then the lower order).
  const size_t blocks = RiceBlocks(n);
  sc.ulp_ks.resize(blocks);
  sc.ulp_stats.resize(blocks);
  if (ulp_any == 0) {
    sc.ulp_stats.assign(blocks, BlockStats{});  // the rule: decimal data needs no ulps
  } else {
    ComputeBlockStats(ulps, n, sc.ulp_stats.data());
  }
  const uint64_t ulp_bits = RiceBits(ulps, n, sc.ulp_stats.data(), sc.ulp_ks.data());
  DecimalResiduals(n, ints, sc);
  const size_t nres[3] = {n - 1, n - 1, n - 2};
  // Exact sizes, the most promising order first: an order whose lower bound exceeds the best
  // exact size so far can neither win nor tie, so its Rice parameters are never searched.
  size_t lower[3];
  int seq[3] = {0, 1, 2};
  for (int o = 0; o < 3; ++o) {
    const uint64_t lb = RiceBitsLowerBound(sc.res[o].data(), nres[o], sc.res_stats[o].data());
    lower[o] = DecimalSize(n, o, ints, lb + ulp_bits);
  }
  std::sort(seq, seq + 3,
            [&](int a, int b) { return lower[a] < lower[b] || (lower[a] == lower[b] && a < b); });
  size_t best_size = SIZE_MAX;
  int best_order = -1;
  uint64_t best_bits = 0;
  for (int o : seq) {
    if (lower[o] > best_size) continue;
    sc.res_ks[o].resize(blocks);
    const uint64_t bits = RiceBits(sc.res[o].data(), nres[o], sc.res_stats[o].data(), sc.res_ks[o].data());
    const size_t size = DecimalSize(n, o, ints, bits + ulp_bits);
    if (size < best_size || (size == best_size && o < best_order)) {
      best_size = size, best_order = o, best_bits = bits;
    }
  }
  // XOR (which wins ties) is smaller only if its bit count stays within 8 * best_size.
  const uint64_t xor_bits = XorBits(s, 8 * static_cast<uint64_t>(best_size));
  const uint64_t xor_bytes = (xor_bits + 7) / 8;
  if (xor_bits <= 8 * static_cast<uint64_t>(best_size) &&
      1 + VarintSize(xor_bytes) + static_cast<size_t>(xor_bytes) <= best_size) {
    EncodeXor(s, sc.w, out);
    return;
  }
  EncodeDecimal(n, scale, best_order, sc, nres[best_order], best_bits, ulp_bits, out);
}

Status DecodeValues(Cursor* c, size_t n, std::vector<double>* v) {
  uint8_t mode;
  if (!c->Byte(&mode)) return Bad("truncated value mode");
  v->resize(n);
  if (mode == kValuesConstant) {
    uint64_t b;
    if (!c->Fixed64(&b)) return Bad("truncated constant value");
    for (double& x : *v) x = FromBits(b);
    return Status::Ok();
  }
  std::string_view bits;
  if (mode == kValuesXor) {
    if (!c->LengthPrefixed(&bits)) return Bad("truncated XOR values");
    BitReader r(bits);
    uint64_t prev = r.Read(64);
    (*v)[0] = FromBits(prev);
    int lead = -1, trail = 0;
    for (size_t j = 1; j < n; ++j) {
      if (r.Bit()) {
        if (r.Bit()) {
          lead = static_cast<int>(r.Read(5));
          int len = static_cast<int>(r.Read(6));
          if (len == 0) len = 64;
          if (lead + len > 64) return Bad("XOR window out of range");
          trail = 64 - lead - len;
        } else if (lead < 0) {
          return Bad("XOR window reused before defined");
        }
        prev ^= r.Read(64 - lead - trail) << trail;
      }
      (*v)[j] = FromBits(prev);
      if (r.failed()) return Bad("truncated XOR bit stream");
    }
    return r.failed() ? Bad("truncated XOR bit stream") : Status::Ok();
  }
  if (mode != kValuesDecimal) return Bad("unknown value mode " + std::to_string(mode));
  uint8_t scale, order;
  uint64_t first, d1 = 0;
  if (!c->Byte(&scale) || !c->Byte(&order) || !c->Varint(&first)) return Bad("truncated decimal header");
  if (scale > kMaxDecimalScale || order > 2) return Bad("bad decimal scale or order");
  size_t skip = 1;
  if (order == 2 && n > 1) {
    if (!c->Varint(&d1)) return Bad("truncated decimal header");
    skip = 2;
  }
  if (!c->LengthPrefixed(&bits)) return Bad("truncated decimal bit stream");
  BitReader r(bits);
  std::vector<uint64_t> res, ulps;
  if (!GetRice(&r, n - skip, &res) || !GetRice(&r, n, &ulps)) return Bad("truncated decimal bit stream");
  uint64_t prev = static_cast<uint64_t>(UnZigZag(first)), delta = static_cast<uint64_t>(UnZigZag(d1));
  std::vector<uint64_t> ints(n);
  ints[0] = prev;
  if (skip == 2) ints[1] = prev + delta;
  for (size_t j = skip; j < n; ++j) {
    uint64_t d = static_cast<uint64_t>(UnZigZag(res[j - skip]));
    ints[j] = order == 0   ? ints[0] + d
              : order == 1 ? ints[j - 1] + d
                           : ints[j - 1] + (ints[j - 1] - ints[j - 2]) + d;
  }
  for (size_t j = 0; j < n; ++j) {
    const int64_t i = static_cast<int64_t>(ints[j]);
    const int64_t u = UnZigZag(ulps[j]);
    if (i > (1ll << 53) || i < -(1ll << 53) || u > kMaxUlpResidual || u < -kMaxUlpResidual) {
      return Bad("decimal value out of range");
    }
    (*v)[j] = FromDecimal(i, scale, u);
  }
  return Status::Ok();
}

}  // namespace doppel::store::chunkvalues
