#include "doppel/store/wal_format.h"

#include <bit>
#include <cstdio>
#include <cstring>

#include "doppel/store/crc32c.h"

namespace doppel::store::wal {
namespace {

void PutFixed16(std::string* out, uint16_t v) {
  char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out->append(b, 2);
}
void PutFixed32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void PutLengthPrefixed(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

uint16_t GetFixed16(const char* p) {
  return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) | static_cast<uint8_t>(p[1]) << 8);
}
uint32_t GetFixed32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetFixed64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// A bounds-checked cursor over a payload.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  size_t remaining() const { return s_.size() - pos_; }
  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64 && pos_ < s_.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(s_[pos_++]);
      if (shift == 63 && b > 1) return false;  // overflows 64 bits
      result |= static_cast<uint64_t>(b & 0x7F) << shift;
      if ((b & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = s_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Fixed64(uint64_t* v) {
    if (remaining() < 8) return false;
    *v = GetFixed64(s_.data() + pos_);
    pos_ += 8;
    return true;
  }
  bool Byte(uint8_t* v) {
    if (remaining() < 1) return false;
    *v = static_cast<uint8_t>(s_[pos_++]);
    return true;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

}  // namespace

std::string SegmentFileName(int lane, uint64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "wal-%03d-%010llu.log", lane, static_cast<unsigned long long>(seq));
  return buf;
}

bool ParseSegmentFileName(std::string_view name, int* lane, uint64_t* seq) {
  // wal-LLL-SSSSSSSSSS.log: 4 + 3 + 1 + 10 + 4 = 22 characters (seq may grow past 10 digits).
  if (name.size() < 22 || name.substr(0, 4) != "wal-" || name[7] != '-' ||
      name.substr(name.size() - 4) != ".log") {
    return false;
  }
  int l = 0;
  for (size_t i = 4; i < 7; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    l = l * 10 + (name[i] - '0');
  }
  std::string_view digits = name.substr(8, name.size() - 12);
  if (digits.size() > 19) return false;
  uint64_t s = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    s = s * 10 + static_cast<uint64_t>(c - '0');
  }
  *lane = l;
  *seq = s;
  return true;
}

void EncodeSegmentHeader(const SegmentHeader& h, std::string* out) {
  out->append(kSegmentMagic, 4);
  PutFixed16(out, h.version);
  PutFixed16(out, h.lane);
  PutFixed64(out, h.seq);
}

void AppendRecord(uint8_t type, std::string_view payload, std::string* out) {
  size_t start = out->size();
  PutFixed32(out, 0);  // CRC placeholder
  PutFixed32(out, static_cast<uint32_t>(payload.size()));
  out->push_back(static_cast<char>(type));
  out->append(payload);
  // CRC covers length, type and payload.
  uint32_t crc = crc32c::Value(out->data() + start + 4, out->size() - start - 4);
  uint32_t masked = crc32c::Mask(crc);
  for (int i = 0; i < 4; ++i) (*out)[start + i] = static_cast<char>(masked >> (8 * i));
}

uint32_t BatchEncoder::IdOf(TwinSeries* t, const Reading& r, std::string* defs, uint32_t* next) {
  auto& sig = t->signals;
  // After the twin's last signal its next message starts again with the first one.
  if (t->cursor == sig.size()) t->cursor = 0;
  if (t->cursor < sig.size() && sig[t->cursor].first == r.signal) return sig[t->cursor++].second;
  auto it = t->index.find(std::string_view(r.signal));
  if (it != t->index.end()) {
    t->cursor = it->second + 1;
    return sig[it->second].second;
  }
  const uint32_t id = (*next)++;
  t->index.emplace(r.signal, static_cast<uint32_t>(sig.size()));
  sig.emplace_back(r.signal, id);
  t->cursor = sig.size();
  pending_.push_back(t);
  PutLengthPrefixed(defs, r.twin);
  PutLengthPrefixed(defs, r.signal);
  return id;
}

void BatchEncoder::Encode(const std::vector<Reading>& batch, std::string* payload) {
  refs_.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) refs_[i] = &batch[i];
  EncodeRefs(std::span<const Reading* const>(refs_), payload);
}

void BatchEncoder::EncodeRefs(std::span<const Reading* const> batch, std::string* payload) {
  pending_.clear();
  std::vector<uint32_t>& ids = batch_ids_;
  ids.resize(batch.size());
  std::string defs;
  uint32_t next = next_id_;
  TwinSeries* twin = nullptr;
  const std::string* twin_name = nullptr;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Reading& r = *batch[i];
    // Batches are runs of one twin's messages: look the twin up once per run.
    if (twin == nullptr || !SameKey(*twin_name, r.twin)) {
      auto it = twins_.find(std::string_view(r.twin));
      if (it == twins_.end()) it = twins_.emplace(r.twin, TwinSeries{}).first;
      twin = &it->second;
      twin_name = &it->first;
    }
    // The common case inline: the signal after the last one (see IdOf).
    auto& sig = twin->signals;
    size_t c = twin->cursor == sig.size() ? 0 : twin->cursor;
    if (c < sig.size() && SameKey(sig[c].first, r.signal)) {
      ids[i] = sig[c].second;
      twin->cursor = c + 1;
    } else {
      ids[i] = IdOf(twin, r, &defs, &next);
    }
  }
  payload->clear();
  PutVarint(payload, pending_.size());
  payload->append(defs);
  PutVarint(payload, batch.size());
  // Per reading at most 5 (id) + 10 (ts delta) + 8 (value) + 1 (quality) bytes: write through a
  // pointer into space reserved once, then trim.
  constexpr size_t kMaxSampleBytes = 24;
  size_t at = payload->size();
  payload->resize(at + batch.size() * kMaxSampleBytes);
  char* const base = payload->data();
  char* p = base + at;
  auto varint = [&p](uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
  };
  uint64_t prev = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Reading& r = *batch[i];
    uint64_t ts = static_cast<uint64_t>(r.source_ts_ns);
    varint(ids[i]);
    varint(ZigZag(static_cast<int64_t>(ts - prev)));  // wrapping difference
    const uint64_t bits = std::bit_cast<uint64_t>(r.value);
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(p, &bits, 8);  // one store: the little-endian layout the format specifies
    } else {
      for (int k = 0; k < 8; ++k) p[k] = static_cast<char>(bits >> (8 * k));
    }
    p += 8;
    *p++ = static_cast<char>(r.quality);
    prev = ts;
  }
  payload->resize(static_cast<size_t>(p - base));
  pending_next_ = next;
}

void BatchEncoder::Commit() {
  next_id_ = pending_next_;
  pending_.clear();
}

void BatchEncoder::Abort() {
  // The series the last Encode added are the last entries of their twins, in that order.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    TwinSeries* t = *it;
    t->index.erase(t->index.find(std::string_view(t->signals.back().first)));
    t->signals.pop_back();
    t->cursor = 0;
  }
  pending_.clear();
  pending_next_ = next_id_;
}

void BatchEncoder::Reset() {
  twins_.clear();
  pending_.clear();
  next_id_ = pending_next_ = 0;
}

Status DecodeBatch(std::string_view payload, std::vector<SeriesName>* dict, std::vector<WalSample>* samples) {
  Cursor c(payload);
  uint64_t n_new = 0;
  if (!c.Varint(&n_new)) return Corruption("batch: bad series count");
  if (n_new > c.remaining() / 4) return Corruption("batch: series count exceeds payload");
  std::vector<SeriesName> added;
  added.reserve(n_new);
  for (uint64_t i = 0; i < n_new; ++i) {
    uint64_t tl = 0, sl = 0;
    std::string_view twin, signal;
    if (!c.Varint(&tl) || tl == 0 || tl > kMaxKeyBytes || !c.Bytes(tl, &twin)) {
      return Corruption("batch: bad twin id in series definition " + std::to_string(i));
    }
    if (!c.Varint(&sl) || sl == 0 || sl > kMaxKeyBytes || !c.Bytes(sl, &signal)) {
      return Corruption("batch: bad signal name in series definition " + std::to_string(i));
    }
    added.push_back({std::string(twin), std::string(signal)});
  }
  uint64_t known = dict->size() + added.size();
  uint64_t n = 0;
  if (!c.Varint(&n)) return Corruption("batch: bad reading count");
  if (n > c.remaining() / kMinSampleBytes) return Corruption("batch: reading count exceeds payload");
  std::vector<WalSample> out;
  out.reserve(n);
  uint64_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id = 0, delta = 0, bits = 0;
    uint8_t q = 0;
    if (!c.Varint(&id) || !c.Varint(&delta) || !c.Fixed64(&bits) || !c.Byte(&q)) {
      return Corruption("batch: truncated reading " + std::to_string(i));
    }
    if (id >= known)
      return Corruption("batch: reading " + std::to_string(i) + " names undefined series " +
                        std::to_string(id));
    if (q > static_cast<uint8_t>(Quality::kBad))
      return Corruption("batch: reading " + std::to_string(i) + " has bad quality");
    prev += static_cast<uint64_t>(UnZigZag(delta));
    out.push_back({static_cast<uint32_t>(id), static_cast<TimeNs>(prev), std::bit_cast<double>(bits),
                   static_cast<Quality>(q)});
  }
  if (c.remaining() != 0) return Corruption("batch: " + std::to_string(c.remaining()) + " trailing bytes");
  for (auto& s : added) dict->push_back(std::move(s));
  *samples = std::move(out);
  return Status::Ok();
}

bool SegmentReader::IntactRecordAfter(size_t off) const {
  for (size_t o = off + 1; o + kRecordHeaderSize <= file_.size(); ++o) {
    const char* p = file_.data() + o;
    if (static_cast<uint8_t>(p[8]) != kRecordTypeBatch) continue;  // cheap filters first
    const uint32_t len = GetFixed32(p + 4);
    if (len > file_.size() - o - kRecordHeaderSize) continue;
    if (crc32c::Value(p + 4, kRecordHeaderSize - 4 + len) == crc32c::Unmask(GetFixed32(p))) return true;
  }
  return false;
}

SegmentReader::Outcome SegmentReader::Fail(Outcome o, std::string msg) {
  failed_ = o;
  error_ = std::move(msg);
  return o;
}

SegmentReader::Outcome SegmentReader::ReadHeader(SegmentHeader* header) {
  if (failed_ != Outcome::kRecord) return failed_;
  if (!header_done_) {
    if (file_.size() < kSegmentHeaderSize) {
      return Fail(Outcome::kTorn, "torn segment header (" + std::to_string(file_.size()) + " bytes)");
    }
    if (std::memcmp(file_.data(), kSegmentMagic, 4) != 0) return Fail(Outcome::kCorrupt, "bad segment magic");
    header_.version = GetFixed16(file_.data() + 4);
    header_.lane = GetFixed16(file_.data() + 6);
    header_.seq = GetFixed64(file_.data() + 8);
    if (header_.version != kFormatVersion) {
      return Fail(Outcome::kCorrupt, "unsupported segment version " + std::to_string(header_.version));
    }
    header_done_ = true;
    valid_ = kSegmentHeaderSize;
  }
  if (header != nullptr) *header = header_;
  return Outcome::kRecord;
}

SegmentReader::Outcome SegmentReader::Next(std::vector<WalSample>* samples) {
  if (Outcome o = ReadHeader(nullptr); o != Outcome::kRecord) return o;
  const size_t off = valid_;
  const size_t left = file_.size() - off;
  if (left == 0) return Outcome::kEnd;
  const std::string at = " at offset " + std::to_string(off);
  // A damaged record that runs to the end of the file is a torn tail (the crash happened while
  // it was being written); so is a tail of zero bytes (file system preallocation after a crash).
  bool zero_tail = true;
  for (size_t i = off; i < file_.size() && zero_tail; ++i) zero_tail = file_[i] == 0;
  if (zero_tail) return Fail(Outcome::kTorn, "zero-filled tail of " + std::to_string(left) + " bytes" + at);
  if (left < kRecordHeaderSize) return Fail(Outcome::kTorn, "incomplete record header" + at);
  const char* p = file_.data() + off;
  const uint32_t stored = crc32c::Unmask(GetFixed32(p));
  const uint32_t len = GetFixed32(p + 4);
  const uint8_t type = static_cast<uint8_t>(p[8]);
  const uint64_t end = static_cast<uint64_t>(off) + kRecordHeaderSize + len;
  // A bad record that reaches the end of the file is torn, unless an intact record follows it
  // (then its length field was damaged, and cutting the file would destroy good records).
  if (end > file_.size()) {
    return Fail(IntactRecordAfter(off) ? Outcome::kCorrupt : Outcome::kTorn,
                "record of " + std::to_string(len) + " bytes runs past end of file" + at);
  }
  if (crc32c::Value(p + 4, kRecordHeaderSize - 4 + len) != stored) {
    bool torn = end == file_.size() && !IntactRecordAfter(off);
    return Fail(torn ? Outcome::kTorn : Outcome::kCorrupt, "record checksum mismatch" + at);
  }
  if (len > kMaxRecordPayload) return Fail(Outcome::kCorrupt, "record too large" + at);
  if (type != kRecordTypeBatch)
    return Fail(Outcome::kCorrupt, "unknown record type " + std::to_string(type) + at);
  Status st = DecodeBatch(std::string_view(p + kRecordHeaderSize, len), &dict_, samples);
  if (!st.ok()) return Fail(Outcome::kCorrupt, st.message() + at);
  valid_ = static_cast<size_t>(end);
  return Outcome::kRecord;
}

}  // namespace doppel::store::wal
