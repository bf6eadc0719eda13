#include "doppel/store/segment.h"

#include <cstdio>

#include "doppel/store/chunk_format.h"
#include "doppel/store/coding.h"
#include "doppel/store/crc32c.h"

namespace doppel::store::segment {
namespace {

using namespace chunkfmt;
using coding::Cursor;

void AppendBlock(std::string_view payload, std::string* out) {
  std::string len;
  coding::PutFixed32(&len, static_cast<uint32_t>(payload.size()));
  uint32_t crc = crc32c::Extend(crc32c::Value(len.data(), len.size()), payload.data(), payload.size());
  coding::PutFixed32(out, crc32c::Mask(crc));
  out->append(len);
  out->append(payload);
}

Status ReadBlock(std::string_view file, uint64_t offset, uint64_t length, std::string_view* payload) {
  if (offset > file.size() || length > file.size() - offset || length < kBlockHeaderSize) {
    return Corruption("block at " + std::to_string(offset) + " out of bounds");
  }
  const char* p = file.data() + offset;
  const uint32_t len = coding::GetFixed32(p + 4);
  if (len != length - kBlockHeaderSize)
    return Corruption("block at " + std::to_string(offset) + ": bad length");
  const uint32_t crc = crc32c::Value(p + 4, 4 + static_cast<size_t>(len));
  if (crc32c::Unmask(coding::GetFixed32(p)) != crc) {
    return Corruption("block at " + std::to_string(offset) + ": checksum mismatch");
  }
  *payload = std::string_view(p + kBlockHeaderSize, len);
  return Status::Ok();
}

}  // namespace

std::string FileName(uint64_t seq) { return coding::SequencedFileName("chunks-", seq, ".seg"); }

bool ParseFileName(std::string_view name, uint64_t* seq) {
  return coding::ParseSequencedFileName(name, "chunks-", ".seg", seq);
}

std::string Build(Contents* c, const std::vector<std::vector<std::string_view>>& chunk_data) {
  std::string out(kSegmentMagic, 4);
  out.push_back(static_cast<char>(kSegmentVersion & 0xFF));
  out.push_back(static_cast<char>(kSegmentVersion >> 8));
  out.append(2, '\0');
  coding::PutFixed64(&out, c->seq);
  for (size_t i = 0; i < c->series.size(); ++i) {
    for (size_t j = 0; j < c->series[i].chunks.size(); ++j) {
      ChunkEntry& e = c->series[i].chunks[j];
      e.offset = out.size();
      AppendBlock(chunk_data[i][j], &out);
      e.length = out.size() - e.offset;
    }
  }
  std::string index;
  coding::PutVarint(&index, c->wal_covered.size());
  for (uint64_t w : c->wal_covered) coding::PutVarint(&index, w);
  coding::PutVarint(&index, c->next_chunk_seq);
  coding::PutVarint(&index, c->series.size());
  for (const SeriesEntry& s : c->series) {
    coding::PutLengthPrefixed(&index, s.twin);
    coding::PutLengthPrefixed(&index, s.signal);
    coding::PutVarint(&index, s.chunks.size());
    for (const ChunkEntry& e : s.chunks) {
      index.push_back(static_cast<char>(e.kind));
      coding::PutVarint(&index, e.chunk_seq);
      coding::PutVarint(&index, e.offset);
      coding::PutVarint(&index, e.length);
    }
  }
  const uint64_t index_offset = out.size();
  AppendBlock(index, &out);
  std::string footer;
  coding::PutFixed64(&footer, index_offset);
  coding::PutFixed64(&footer, out.size() - index_offset);
  coding::PutFixed32(&footer, crc32c::Mask(crc32c::Value(footer.data(), 16)));
  footer.append(kFooterMagic, 4);
  out.append(footer);
  return out;
}

Status Parse(std::string_view file, Contents* out) {
  if (file.size() < kSegmentHeaderSize + kFooterSize)
    return Corruption("segment shorter than header + footer");
  if (file.substr(0, 4) != std::string_view(kSegmentMagic, 4)) return Corruption("bad segment magic");
  const uint16_t version =
      static_cast<uint16_t>(static_cast<uint8_t>(file[4]) | static_cast<uint8_t>(file[5]) << 8);
  if (version != kSegmentVersion) return Corruption("unsupported segment version " + std::to_string(version));
  Contents c;
  c.seq = coding::GetFixed64(file.data() + 8);
  const char* f = file.data() + file.size() - kFooterSize;
  if (std::string_view(f + 20, 4) != std::string_view(kFooterMagic, 4)) return Corruption("bad footer magic");
  if (crc32c::Unmask(coding::GetFixed32(f + 16)) != crc32c::Value(f, 16))
    return Corruption("footer checksum mismatch");
  const uint64_t index_offset = coding::GetFixed64(f), index_len = coding::GetFixed64(f + 8);
  if (index_offset < kSegmentHeaderSize || index_offset > file.size() - kFooterSize ||
      index_len != file.size() - kFooterSize - index_offset) {
    return Corruption("index out of bounds");
  }
  std::string_view index;
  Status st = ReadBlock(file, index_offset, index_len, &index);
  if (!st.ok()) return Corruption("index: " + st.message());
  Cursor r(index);
  uint64_t n;
  if (!r.Varint(&n) || n > 1000) return Corruption("index: bad lane count");
  c.wal_covered.resize(n);
  for (uint64_t& w : c.wal_covered) {
    if (!r.Varint(&w)) return Corruption("index: truncated");
  }
  if (!r.Varint(&c.next_chunk_seq) || !r.Varint(&n) || n > index.size())
    return Corruption("index: truncated");
  c.series.resize(n);
  for (SeriesEntry& s : c.series) {
    std::string_view twin, signal;
    uint64_t m;
    if (!r.LengthPrefixed(&twin) || !r.LengthPrefixed(&signal) || !r.Varint(&m) || m > r.remaining()) {
      return Corruption("index: truncated series entry");
    }
    s.twin = twin;
    s.signal = signal;
    s.chunks.resize(m);
    for (ChunkEntry& e : s.chunks) {
      if (!r.Byte(&e.kind) || !r.Varint(&e.chunk_seq) || !r.Varint(&e.offset) || !r.Varint(&e.length)) {
        return Corruption("index: truncated chunk entry");
      }
      if (e.kind > kChunkKindHead) return Corruption("index: unknown chunk kind");
      if (e.offset < kSegmentHeaderSize || e.offset > index_offset || e.length > index_offset - e.offset) {
        return Corruption("index: chunk out of bounds");
      }
    }
  }
  if (r.remaining() != 0) return Corruption("index: trailing bytes");
  *out = std::move(c);
  return Status::Ok();
}

Status ReadChunk(std::string_view file, const ChunkEntry& e, std::string_view* chunk) {
  return ReadBlock(file, e.offset, e.length, chunk);
}

}  // namespace doppel::store::segment
