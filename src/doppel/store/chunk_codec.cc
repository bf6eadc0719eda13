#include "doppel/store/chunk_codec.h"

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "doppel/store/chunk_format.h"
#include "doppel/store/chunk_rice.h"
#include "doppel/store/chunk_values.h"
#include "doppel/store/coding.h"

namespace doppel::store {
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
using rice::PutRice;
using rice::RiceBits;
using rice::RiceBlocks;

// Buffers reused by EncodeChunk on this thread, so sealing a chunk allocates nothing once they
// have grown (chunks of up to kKeepScratchSamples samples; larger ones release them after use).
struct Scratch {
  std::vector<uint64_t> dods;
  std::vector<uint8_t> dod_ks;
  std::vector<BlockStats> dod_stats;
  BitWriter w;
  chunkvalues::Scratch values;
};
constexpr size_t kKeepScratchSamples = 8192;

Status Bad(const std::string& what) { return Corruption("chunk: " + what); }

// Appends the timestamps. Returns whether every quality is good (checked in the same pass).
bool EncodeTimestamps(std::span<const Sample> s, Scratch& sc, std::string* out) {
  const size_t n = s.size();
  coding::PutVarint(out, ZigZag(s[0].ts_ns));
  // The OR of the qualities is kGood (0) only when every one is.
  static_assert(static_cast<int>(Quality::kGood) == 0);
  uint8_t quality_or = static_cast<uint8_t>(s[0].quality);
  if (n == 1) return quality_or == 0;
  auto raw_delta = [&](size_t j) {
    return static_cast<uint64_t>(s[j].ts_ns) - static_cast<uint64_t>(s[j - 1].ts_ns);
  };
  // Deltas are coded in units of their greatest common divisor (1 s for data logged in whole
  // seconds), so irregular intervals cost bits for the seconds, not the nanoseconds. A delta
  // equal to the previous one changes neither the unit nor the delta-of-delta (0).
  uint64_t unit = 0, last_raw = 0;  // deltas are >= 1, so 0 matches none
  bool regular = true;              // every delta equal
  for (size_t j = 1; j < n; ++j) {
    const uint64_t d = raw_delta(j);
    quality_or |= static_cast<uint8_t>(s[j].quality);
    if (d != last_raw) {
      regular = regular && j == 1;
      unit = std::gcd(unit, d);
      last_raw = d;
    }
  }
  last_raw = raw_delta(1);
  uint64_t prev_delta = last_raw / unit;
  coding::PutVarint(out, unit);
  coding::PutVarint(out, prev_delta);
  const size_t ndods = n - 2, blocks = RiceBlocks(ndods);
  sc.w.Clear();
  if (regular) {
    // Every delta-of-delta is 0: one all-zero flag per block.
    BitWriter::Run w = sc.w.Begin(blocks);
    for (size_t b = 0; b < blocks; ++b) w.Put(1, 1);
    sc.w.End(w);
  } else {
    sc.dods.resize(ndods);
    for (size_t j = 2; j < n; ++j) {
      const uint64_t d = raw_delta(j);
      uint64_t dod = 0;
      if (d != last_raw) {
        const uint64_t delta = d / unit;
        dod = ZigZag(static_cast<int64_t>(delta - prev_delta));
        prev_delta = delta;
        last_raw = d;
      }
      sc.dods[j - 2] = dod;
    }
    sc.dod_ks.resize(blocks);
    sc.dod_stats.resize(blocks);
    ComputeBlockStats(sc.dods.data(), ndods, sc.dod_stats.data());
    const uint64_t bits = RiceBits(sc.dods.data(), ndods, sc.dod_stats.data(), sc.dod_ks.data());
    PutRice(sc.dods.data(), ndods, sc.dod_ks.data(), sc.dod_stats.data(), bits, &sc.w);
  }
  sc.w.FinishLengthPrefixed(out);
  return quality_or == 0;
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
  thread_local Scratch scratch;
  Scratch& sc = scratch;
  const size_t n = s.size();
  out->clear();
  out->push_back(static_cast<char>(kChunkVersion));
  coding::PutVarint(out, n);
  const bool all_good = EncodeTimestamps(s, sc, out);
  chunkvalues::EncodeValues(s, sc.values, out);
  if (n > kKeepScratchSamples) sc = Scratch{};
  // Qualities.
  if (all_good) {
    out->push_back(static_cast<char>(kQualityAllGood));
    return;
  }
  out->push_back(static_cast<char>(kQualityRuns));
  std::string runs;
  uint64_t nruns = 0;
  for (size_t j = 0; j < n;) {
    size_t e = j;
    while (e < n && s[e].quality == s[j].quality) ++e;
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
  DOPPEL_RETURN_IF_ERROR(chunkvalues::DecodeValues(&c, n, &values));
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
