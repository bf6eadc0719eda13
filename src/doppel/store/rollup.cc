#include "doppel/store/rollup.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "doppel/store/coding.h"
#include "doppel/store/crc32c.h"

namespace doppel::store {

TimeNs AlignDown(TimeNs t, TimeNs step) {
  TimeNs q = t / step;
  if (t % step != 0 && t < 0) --q;
  return q * step;
}

void MergeBucket(RollupBucket* a, const RollupBucket& b) {
  if (b.value_count > 0) {
    a->min = a->value_count ? std::min(a->min, b.min) : b.min;
    a->max = a->value_count ? std::max(a->max, b.max) : b.max;
    a->sum += b.sum;
    a->value_count += b.value_count;
  }
  if (a->count == 0) a->first_ts = b.first_ts;
  a->count += b.count;
  a->last = b.last;
}

size_t AddToLevel(std::span<const Sample> samples, RollupLevel* level) {
  auto& bs = level->buckets;
  size_t first_changed = bs.size();
  for (const Sample& x : samples) {
    const TimeNs start = AlignDown(x.ts_ns, level->step_ns);
    if (bs.empty() || bs.back().start_ns != start) {
      bs.push_back(RollupBucket{});
      bs.back().start_ns = start;
    }
    first_changed = std::min(first_changed, bs.size() - 1);
    RollupBucket one;
    one.start_ns = start;
    one.count = 1;
    one.first_ts = x.ts_ns;
    one.last = x;
    if (!std::isnan(x.value)) {
      one.value_count = 1;
      one.min = one.max = one.sum = x.value;
    }
    MergeBucket(&bs.back(), one);
  }
  return first_changed;
}

namespace rollupfile {
namespace {

void PutDouble(std::string* out, double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  coding::PutFixed64(out, u);
}
bool GetDouble(coding::Cursor* r, double* v) {
  uint64_t u;
  if (!r->Fixed64(&u)) return false;
  std::memcpy(v, &u, 8);
  return true;
}

void AppendBlock(std::string_view payload, std::string* out) {
  std::string len;
  coding::PutFixed32(&len, static_cast<uint32_t>(payload.size()));
  uint32_t crc = crc32c::Extend(crc32c::Value(len.data(), len.size()), payload.data(), payload.size());
  coding::PutFixed32(out, crc32c::Mask(crc));
  out->append(len);
  out->append(payload);
}

void EncodeSeries(const SeriesRollups& s, std::string* p) {
  p->push_back(static_cast<char>(kBlockSeries));
  coding::PutLengthPrefixed(p, s.twin);
  coding::PutLengthPrefixed(p, s.signal);
  coding::PutVarint(p, coding::ZigZag(s.raw_horizon));
  coding::PutVarint(p, s.levels.size());
  for (const RollupLevel& l : s.levels) {
    coding::PutVarint(p, static_cast<uint64_t>(l.step_ns));
    coding::PutVarint(p, coding::ZigZag(l.kept_from));
    coding::PutVarint(p, l.buckets.size());
    TimeNs prev = 0;
    for (const RollupBucket& b : l.buckets) {
      coding::PutVarint(p, coding::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(b.start_ns) -
                                                               static_cast<uint64_t>(prev))));
      prev = b.start_ns;
      coding::PutVarint(p, b.count);
      coding::PutVarint(p, b.value_count);
      PutDouble(p, b.min);
      PutDouble(p, b.max);
      PutDouble(p, b.sum);
      coding::PutVarint(p, coding::ZigZag(b.first_ts - b.start_ns));
      coding::PutVarint(p, coding::ZigZag(b.last.ts_ns - b.start_ns));
      PutDouble(p, b.last.value);
      p->push_back(static_cast<char>(b.last.quality));
    }
  }
}

Status DecodeSeries(std::string_view payload, SeriesRollups* s) {
  coding::Cursor r(payload);
  uint8_t type;
  std::string_view twin, signal;
  uint64_t u, nlevels;
  if (!r.Byte(&type) || type != kBlockSeries) return Corruption("not a series block");
  if (!r.LengthPrefixed(&twin) || !r.LengthPrefixed(&signal) || twin.empty() || signal.empty())
    return Corruption("bad series key");
  s->twin = twin;
  s->signal = signal;
  if (!r.Varint(&u) || !r.Varint(&nlevels) || nlevels > 64) return Corruption("bad level count");
  s->raw_horizon = coding::UnZigZag(u);
  s->levels.resize(nlevels);
  for (RollupLevel& l : s->levels) {
    uint64_t step, kept, n;
    if (!r.Varint(&step) || step == 0 || step > static_cast<uint64_t>(INT64_MAX) || !r.Varint(&kept) ||
        !r.Varint(&n) || n > r.remaining() / 29) {
      return Corruption("bad level header");
    }
    l.step_ns = static_cast<TimeNs>(step);
    l.kept_from = coding::UnZigZag(kept);
    l.buckets.resize(n);
    TimeNs prev = 0;
    for (RollupBucket& b : l.buckets) {
      uint64_t d, f, t;
      uint8_t q;
      if (!r.Varint(&d) || !r.Varint(&b.count) || !r.Varint(&b.value_count) || !GetDouble(&r, &b.min) ||
          !GetDouble(&r, &b.max) || !GetDouble(&r, &b.sum) || !r.Varint(&f) || !r.Varint(&t) ||
          !GetDouble(&r, &b.last.value) || !r.Byte(&q)) {
        return Corruption("truncated bucket");
      }
      b.start_ns =
          static_cast<TimeNs>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(coding::UnZigZag(d)));
      if (&b != &l.buckets.front() && b.start_ns <= prev) return Corruption("buckets out of order");
      prev = b.start_ns;
      // Both sample times lie in the bucket, [start_ns, start_ns + step_ns), in order.
      const int64_t first_off = coding::UnZigZag(f), last_off = coding::UnZigZag(t);
      if (first_off < 0 || last_off < first_off || last_off >= l.step_ns ||
          b.start_ns > std::numeric_limits<TimeNs>::max() - last_off) {
        return Corruption("bucket sample times outside the bucket");
      }
      b.first_ts = b.start_ns + first_off;
      b.last.ts_ns = b.start_ns + last_off;
      if (q > 2 || b.count == 0 || b.value_count > b.count) return Corruption("bad bucket");
      b.last.quality = static_cast<Quality>(q);
    }
  }
  if (r.remaining() != 0) return Corruption("trailing bytes");
  return Status::Ok();
}

}  // namespace

std::string FileName(uint64_t seq) { return coding::SequencedFileName("rollups-", seq, ".rlp"); }

bool ParseFileName(std::string_view name, uint64_t* seq) {
  return coding::ParseSequencedFileName(name, "rollups-", ".rlp", seq);
}

std::string Build(const Contents& c) {
  std::string out(kMagic, 4);
  out.push_back(static_cast<char>(kVersion & 0xFF));
  out.push_back(static_cast<char>(kVersion >> 8));
  const uint16_t flags = c.full ? kFlagFull : 0;
  out.push_back(static_cast<char>(flags & 0xFF));
  out.push_back(static_cast<char>(flags >> 8));
  coding::PutFixed64(&out, c.seq);
  std::string payload;
  for (const SeriesRollups& s : c.series) {
    payload.clear();
    EncodeSeries(s, &payload);
    AppendBlock(payload, &out);
  }
  payload.clear();
  payload.push_back(static_cast<char>(kBlockEnd));
  coding::PutVarint(&payload, c.series.size());
  AppendBlock(payload, &out);
  return out;
}

Status Parse(std::string_view file, Contents* out, std::vector<std::string>* damaged) {
  if (file.size() < kHeaderSize) return Corruption("rollup file shorter than its header");
  if (file.substr(0, 4) != std::string_view(kMagic, 4)) return Corruption("bad rollup file magic");
  const uint16_t version =
      static_cast<uint16_t>(static_cast<uint8_t>(file[4]) | static_cast<uint8_t>(file[5]) << 8);
  if (version != kVersion) return Corruption("unsupported rollup file version " + std::to_string(version));
  const uint16_t flags =
      static_cast<uint16_t>(static_cast<uint8_t>(file[6]) | static_cast<uint8_t>(file[7]) << 8);
  Contents c;
  c.full = (flags & kFlagFull) != 0;
  c.seq = coding::GetFixed64(file.data() + 8);
  size_t at = kHeaderSize;
  uint64_t blocks = 0;
  bool ended = false;
  while (at < file.size()) {
    if (file.size() - at < 8) return Corruption("truncated block header at " + std::to_string(at));
    const uint32_t len = coding::GetFixed32(file.data() + at + 4);
    if (len > file.size() - at - 8)
      return Corruption("block at " + std::to_string(at) + " runs past the end");
    std::string_view payload = file.substr(at + 8, len);
    const bool crc_ok =
        crc32c::Unmask(coding::GetFixed32(file.data() + at)) ==
        crc32c::Extend(crc32c::Value(file.data() + at + 4, 4), payload.data(), payload.size());
    const size_t block_at = at;
    at += 8 + len;
    if (crc_ok && !payload.empty() && static_cast<uint8_t>(payload[0]) == kBlockEnd) {
      coding::Cursor r(payload.substr(1));
      uint64_t n;
      if (!r.Varint(&n) || r.remaining() != 0 || n != blocks) return Corruption("bad end block");
      if (at != file.size()) return Corruption("bytes after the end block");
      ended = true;
      break;
    }
    ++blocks;
    SeriesRollups s;
    Status st = crc_ok ? DecodeSeries(payload, &s) : Corruption("checksum mismatch");
    if (!st.ok()) {
      damaged->push_back("series block at offset " + std::to_string(block_at) + ": " + st.message());
      continue;
    }
    c.series.push_back(std::move(s));
  }
  if (!ended) return Corruption("no end block");
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace rollupfile
}  // namespace doppel::store
