#include "doppel/store/chunk_codec.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "doppel/store/chunk_format.h"
#include "doppel/store/coding.h"

namespace doppel::store {
namespace {

using namespace chunkfmt;
using coding::BitReader;
using coding::BitWriter;
using coding::Cursor;
using coding::UnZigZag;
using coding::ZigZag;

constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
static_assert(sizeof(kPow10) / sizeof(kPow10[0]) == kMaxDecimalScale + 1);

uint64_t Bits(double v) { return std::bit_cast<uint64_t>(v); }
double FromBits(uint64_t b) { return std::bit_cast<double>(b); }

// ---- Rice blocks: [1 bit all-zero][6 bits k, then per value: unary(q) 0 low-k-bits | escape] ----

int BitWidth(uint64_t v) { return 64 - std::countl_zero(v); }

uint64_t RiceCost(const uint64_t* v, size_t n, int k) {
  uint64_t bits = kRiceKBits + 1;
  for (size_t i = 0; i < n; ++i) {
    uint64_t q = v[i] >> k;
    bits += q < static_cast<uint64_t>(kRiceEscape) ? q + 1 + k : kRiceEscape + 64;
  }
  return bits;
}

// The Rice parameter of one block (values p[0, n), not all zero) and its cost in bits.
int BestRiceK(const uint64_t* p, size_t n, uint64_t* cost) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(p[i]);
  const double mean = sum / static_cast<double>(n);
  const int guess = mean < 2 ? 0 : BitWidth(static_cast<uint64_t>(std::min(mean, 1.8e19))) - 1;
  // The cost is (close to) convex in k: walk downhill from the guess within
  // [guess - 4, guess + 2], preferring the smaller k on ties. Usually 2-3 evaluations.
  const int lo = std::max(0, guess - 4), hi = std::min(63, guess + 2);
  const int start = std::clamp(guess, lo, hi);
  int best_k = start;
  uint64_t best = RiceCost(p, n, start);
  while (best_k > lo) {
    const uint64_t c = RiceCost(p, n, best_k - 1);
    if (c > best) break;
    best = c;
    --best_k;
  }
  const bool went_down = best_k != start;
  while (!went_down && best_k < hi) {
    const uint64_t c = RiceCost(p, n, best_k + 1);
    if (c >= best) break;
    best = c;
    ++best_k;
  }
  *cost = best;
  return best_k;
}

bool AllZero(const uint64_t* p, size_t n) {
  uint64_t any = 0;
  for (size_t i = 0; i < n; ++i) any |= p[i];
  return any == 0;
}

// Bits PutRice(v) writes.
uint64_t RiceBits(const std::vector<uint64_t>& v) {
  uint64_t bits = 0;
  for (size_t b = 0; b < v.size(); b += kRiceBlock) {
    const size_t n = std::min(kRiceBlock, v.size() - b);
    const uint64_t* p = v.data() + b;
    if (AllZero(p, n)) {
      bits += 1;
      continue;
    }
    uint64_t cost;
    BestRiceK(p, n, &cost);
    bits += cost;  // includes the flag bit and k
  }
  return bits;
}

void PutRice(const std::vector<uint64_t>& v, BitWriter* w) {
  for (size_t b = 0; b < v.size(); b += kRiceBlock) {
    const size_t n = std::min(kRiceBlock, v.size() - b);
    const uint64_t* p = v.data() + b;
    if (AllZero(p, n)) {
      w->Bit(true);
      continue;
    }
    w->Bit(false);
    uint64_t cost;
    const int best_k = BestRiceK(p, n, &cost);
    w->Write(best_k, kRiceKBits);
    for (size_t i = 0; i < n; ++i) {
      uint64_t q = p[i] >> best_k;
      if (q < static_cast<uint64_t>(kRiceEscape)) {
        // q ones, a zero, then the low k bits: one write when it fits.
        const int len = static_cast<int>(q) + 1 + best_k;
        if (len <= 64) {
          const uint64_t low = best_k == 0 ? 0 : (p[i] & (~0ull >> (64 - best_k)));
          const uint64_t ones = q == 0 ? 0 : ((~0ull >> (64 - q)) << (1 + best_k));
          w->Write(ones | low, len);
        } else {
          w->Write(~0ull, static_cast<int>(q));
          w->Bit(false);
          w->Write(p[i], best_k);
        }
      } else {
        w->Write(~0ull, kRiceEscape);
        w->Write(p[i], 64);
      }
    }
  }
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

// ---- Values ----

// value = i / 10^scale with the bits adjusted by `ulp`; false when not representable that way.
bool ToDecimal(double v, int scale, int64_t* i, int64_t* ulp) {
  if (!std::isfinite(v)) return false;
  const double m = v * kPow10[scale];
  if (!(std::fabs(m) < 9007199254740992.0)) return false;  // 2^53: integers exact
  const int64_t k = std::llround(m);
  const double base = static_cast<double>(k) / kPow10[scale];
  if (std::signbit(base) != std::signbit(v)) {
    if (k != 0 || v != 0) return false;
    *i = 0;  // -0.0 (e.g. "-0.0000" in a CSV)
    *ulp = kNegativeZeroUlp;
    return true;
  }
  const int64_t r = static_cast<int64_t>(Bits(v) - Bits(base));
  if (r > kMaxUlpResidual || r < -kMaxUlpResidual) return false;
  *i = k;
  *ulp = r;
  return true;
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

// The residuals a decimal encoding of `order` Rice-codes (after the first `order` integers,
// which go in the header).
void DecimalResiduals(size_t count, int order, const std::vector<int64_t>& ints, std::vector<uint64_t>* res) {
  const size_t skip = order == 2 && count > 1 ? 2 : 1;
  res->clear();
  for (size_t j = skip; j < count; ++j) {
    uint64_t d = static_cast<uint64_t>(ints[j]) - static_cast<uint64_t>(ints[order == 0 ? 0 : j - 1]);
    if (order == 2) d -= static_cast<uint64_t>(ints[j - 1]) - static_cast<uint64_t>(ints[j - 2]);
    res->push_back(ZigZag(static_cast<int64_t>(d)));
  }
}

// Bytes EncodeDecimal appends, given the Rice bit counts of the residuals and the ulps.
size_t DecimalSize(size_t count, int order, const std::vector<int64_t>& ints, uint64_t bits) {
  size_t size = 3 + VarintSize(ZigZag(ints[0]));
  if (order == 2 && count > 1) {
    size += VarintSize(ZigZag(static_cast<int64_t>(static_cast<uint64_t>(ints[1]) - ints[0])));
  }
  const size_t bytes = static_cast<size_t>((bits + 7) / 8);
  return size + VarintSize(bytes) + bytes;
}

void EncodeDecimal(size_t count, int scale, int order, const std::vector<int64_t>& ints,
                   const std::vector<uint64_t>& res, const std::vector<uint64_t>& ulps, std::string* out) {
  out->push_back(static_cast<char>(kValuesDecimal));
  out->push_back(static_cast<char>(scale));
  out->push_back(static_cast<char>(order));
  coding::PutVarint(out, ZigZag(ints[0]));
  if (order == 2 && count > 1) {
    coding::PutVarint(out, ZigZag(static_cast<int64_t>(static_cast<uint64_t>(ints[1]) - ints[0])));
  }
  BitWriter w;
  PutRice(res, &w);
  PutRice(ulps, &w);
  coding::PutLengthPrefixed(out, w.Finish());
}

// Bits of the Gorilla XOR stream EncodeXor writes (without the length prefix).
uint64_t XorBits(std::span<const Sample> s) {
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
      continue;
    }
    lead = l;
    trail = t;
    bits += 2 + 5 + 6 + static_cast<uint64_t>(64 - l - t);
  }
  return bits;
}

void EncodeXor(std::span<const Sample> s, std::string* out) {
  out->push_back(static_cast<char>(kValuesXor));
  BitWriter w;
  uint64_t prev = Bits(s[0].value);
  w.Write(prev, 64);
  int lead = -1, trail = 0;  // current window; lead -1: none yet
  for (size_t j = 1; j < s.size(); ++j) {
    const uint64_t cur = Bits(s[j].value), x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      w.Bit(false);
      continue;
    }
    w.Bit(true);
    int l = std::min(std::countl_zero(x), 31), t = std::countr_zero(x);
    if (lead >= 0 && l >= lead && t >= trail) {
      w.Bit(false);
      w.Write(x >> trail, 64 - lead - trail);
      continue;
    }
    lead = l;
    trail = t;
    const int len = 64 - l - t;  // 1..64; 64 is written as 0
    w.Bit(true);
    w.Write(l, 5);
    w.Write(len & 63, 6);
    w.Write(x >> t, len);
  }
  coding::PutLengthPrefixed(out, w.Finish());
}

void EncodeValues(std::span<const Sample> s, std::string* out) {
  bool constant = true;
  for (const Sample& x : s) constant = constant && Bits(x.value) == Bits(s[0].value);
  if (constant) {
    out->push_back(static_cast<char>(kValuesConstant));
    coding::PutFixed64(out, Bits(s[0].value));
    return;
  }
  // Sizes first, then only the smallest encoding is written (ties: XOR, then the lower order).
  const uint64_t xor_bytes = (XorBits(s) + 7) / 8;
  size_t best_size = 1 + VarintSize(xor_bytes) + static_cast<size_t>(xor_bytes);
  int best_order = -1, best_scale = 0;
  std::vector<int64_t> ints(s.size());
  std::vector<uint64_t> ulps(s.size()), res;
  res.reserve(s.size());
  for (int scale = 0; scale <= kMaxDecimalScale; ++scale) {
    bool ok = true;
    for (size_t j = 0; j < s.size() && ok; ++j) {
      int64_t u = 0;
      ok = ToDecimal(s[j].value, scale, &ints[j], &u);
      ulps[j] = ZigZag(u);
    }
    if (!ok) continue;
    const uint64_t ulp_bits = RiceBits(ulps);
    for (int order = 0; order <= 2; ++order) {
      DecimalResiduals(s.size(), order, ints, &res);
      const size_t size = DecimalSize(s.size(), order, ints, RiceBits(res) + ulp_bits);
      if (size < best_size) best_size = size, best_order = order, best_scale = scale;
    }
    break;  // a larger scale only makes the integers larger
  }
  if (best_order < 0) {
    EncodeXor(s, out);
    return;
  }
  // ints and ulps still hold best_scale's values (the loop stopped there).
  DecimalResiduals(s.size(), best_order, ints, &res);
  EncodeDecimal(s.size(), best_scale, best_order, ints, res, ulps, out);
}

Status Bad(const std::string& what) { return Corruption("chunk: " + what); }

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

}  // namespace

ChunkSummary SummarizeSamples(std::span<const Sample> s) {
  ChunkSummary m;
  m.count = static_cast<uint32_t>(s.size());
  m.first = s.front();
  m.last = s.back();
  m.min = m.max = s.front();
  bool have = false;
  for (const Sample& x : s) {
    if (std::isnan(x.value)) continue;
    m.sum += x.value;
    ++m.value_count;
    if (!have || x.value < m.min.value) m.min = x;
    if (!have || x.value > m.max.value) m.max = x;
    have = true;
  }
  return m;
}

void EncodeChunk(std::span<const Sample> s, std::string* out) {
  out->clear();
  out->push_back(static_cast<char>(kChunkVersion));
  coding::PutVarint(out, s.size());
  // Timestamps.
  coding::PutVarint(out, ZigZag(s[0].ts_ns));
  if (s.size() > 1) {
    // Deltas are coded in units of their greatest common divisor (1 s for data logged in whole
    // seconds), so irregular intervals cost bits for the seconds, not the nanoseconds.
    uint64_t unit = 0;
    for (size_t j = 1; j < s.size(); ++j) {
      unit = std::gcd(unit, static_cast<uint64_t>(s[j].ts_ns) - static_cast<uint64_t>(s[j - 1].ts_ns));
    }
    uint64_t prev_delta = (static_cast<uint64_t>(s[1].ts_ns) - static_cast<uint64_t>(s[0].ts_ns)) / unit;
    coding::PutVarint(out, unit);
    coding::PutVarint(out, prev_delta);
    std::vector<uint64_t> dods;
    dods.reserve(s.size());
    for (size_t j = 2; j < s.size(); ++j) {
      uint64_t delta = (static_cast<uint64_t>(s[j].ts_ns) - static_cast<uint64_t>(s[j - 1].ts_ns)) / unit;
      dods.push_back(ZigZag(static_cast<int64_t>(delta - prev_delta)));
      prev_delta = delta;
    }
    BitWriter w;
    PutRice(dods, &w);
    coding::PutLengthPrefixed(out, w.Finish());
  }
  EncodeValues(s, out);
  // Qualities.
  bool all_good = true;
  for (const Sample& x : s) all_good = all_good && x.quality == Quality::kGood;
  if (all_good) {
    out->push_back(static_cast<char>(kQualityAllGood));
    return;
  }
  out->push_back(static_cast<char>(kQualityRuns));
  std::string runs;
  uint64_t nruns = 0;
  for (size_t j = 0; j < s.size();) {
    size_t e = j;
    while (e < s.size() && s[e].quality == s[j].quality) ++e;
    runs.push_back(static_cast<char>(s[j].quality));
    coding::PutVarint(&runs, e - j);
    ++nruns;
    j = e;
  }
  coding::PutVarint(out, nruns);
  out->append(runs);
}

Status DecodeChunk(std::string_view data, std::vector<Sample>* out) {
  Cursor c(data);
  uint8_t version;
  uint64_t n, ts0;
  if (!c.Byte(&version) || !c.Varint(&n) || !c.Varint(&ts0)) return Bad("truncated header");
  if (version != kChunkVersion) return Bad("unsupported version " + std::to_string(version));
  if (n == 0 || n > kMaxChunkSamples) return Bad("sample count " + std::to_string(n) + " out of range");
  std::vector<Sample> s(n);
  s[0].ts_ns = UnZigZag(ts0);
  if (n > 1) {
    uint64_t unit, d0;
    std::string_view bits;
    if (!c.Varint(&unit) || !c.Varint(&d0) || !c.LengthPrefixed(&bits)) return Bad("truncated timestamps");
    if (unit == 0) return Bad("zero timestamp unit");
    BitReader r(bits);
    std::vector<uint64_t> dods;
    if (!GetRice(&r, n - 2, &dods)) return Bad("truncated timestamp bit stream");
    uint64_t delta = d0;
    uint64_t ts = static_cast<uint64_t>(s[0].ts_ns);
    for (size_t j = 1; j < n; ++j) {
      if (j >= 2) delta += static_cast<uint64_t>(UnZigZag(dods[j - 2]));
      // Each delta must be positive and the sum must not pass INT64_MAX.
      const unsigned __int128 step = static_cast<unsigned __int128>(delta) * unit;
      const __int128 room = static_cast<__int128>(std::numeric_limits<int64_t>::max()) - s[j - 1].ts_ns;
      if (delta == 0 || static_cast<__int128>(step) > room) {
        return Bad("timestamps not increasing");
      }
      ts += static_cast<uint64_t>(step);
      s[j].ts_ns = static_cast<int64_t>(ts);
    }
  }
  std::vector<double> values;
  DOPPEL_RETURN_IF_ERROR(DecodeValues(&c, n, &values));
  for (size_t j = 0; j < n; ++j) s[j].value = values[j];
  uint8_t qmode;
  if (!c.Byte(&qmode)) return Bad("truncated quality mode");
  if (qmode == kQualityRuns) {
    uint64_t nruns, at = 0;
    if (!c.Varint(&nruns) || nruns > n) return Bad("bad quality run count");
    for (uint64_t k = 0; k < nruns; ++k) {
      uint8_t q;
      uint64_t len;
      if (!c.Byte(&q) || !c.Varint(&len)) return Bad("truncated quality runs");
      if (q > static_cast<uint8_t>(Quality::kBad) || len == 0 || len > n - at) return Bad("bad quality run");
      for (uint64_t j = 0; j < len; ++j) s[at + j].quality = static_cast<Quality>(q);
      at += len;
    }
    if (at != n) return Bad("quality runs do not cover the chunk");
  } else if (qmode != kQualityAllGood) {
    return Bad("unknown quality mode " + std::to_string(qmode));
  }
  if (c.remaining() != 0) return Bad(std::to_string(c.remaining()) + " trailing bytes");
  out->insert(out->end(), s.begin(), s.end());
  return Status::Ok();
}

namespace chunkcodec_internal {
int ValueModeOf(std::string_view data) {
  Cursor c(data);
  uint8_t version, mode;
  uint64_t n, x;
  std::string_view bits;
  if (!c.Byte(&version) || !c.Varint(&n) || !c.Varint(&x)) return -1;
  if (n > 1 && (!c.Varint(&x) || !c.Varint(&x) || !c.LengthPrefixed(&bits))) return -1;
  return c.Byte(&mode) ? mode : -1;
}
}  // namespace chunkcodec_internal

}  // namespace doppel::store
