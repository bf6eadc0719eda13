// Chunk segment files: sealed chunks (and, in the newest segment, head snapshots) written at a
// checkpoint, with an index and the WAL position the checkpoint covers. Byte layout:
// docs/formats/segment.md; constants in chunk_format.h. Internal to the store and its tools.
//
// A segment is built in memory and written once (temporary file, fdatasync, rename, directory
// sync), so a reader sees either the whole file or none of it; damage afterwards (bit rot) is
// detected by the CRCs: the footer and index CRC cover the index, each chunk block has its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::store::segment {

// "chunks-<seq, 10+ digits>.seg"
std::string FileName(uint64_t seq);
bool ParseFileName(std::string_view name, uint64_t* seq);

struct ChunkEntry {
  uint8_t kind = 0;        // chunkfmt::kChunkKindSealed or kChunkKindHead
  uint64_t chunk_seq = 0;  // global write order of sealed chunks (later wins on equal timestamps)
  uint64_t offset = 0;     // of the block (its CRC) in the file
  uint64_t length = 0;     // of the block, header included
};
struct SeriesEntry {
  std::string twin, signal;
  std::vector<ChunkEntry> chunks;
};
struct Contents {
  uint64_t seq = 0;
  // WAL segments of lane i with sequence <= wal_covered[i] hold nothing the chunks lack.
  std::vector<uint64_t> wal_covered;
  uint64_t next_chunk_seq = 0;
  std::vector<SeriesEntry> series;
};

// Builds a whole segment. `chunk_data[i][j]` is the encoded chunk of contents.series[i].chunks[j];
// the offsets and lengths in *contents are filled in.
std::string Build(Contents* contents, const std::vector<std::vector<std::string_view>>& chunk_data);

// Checks the header, footer and index of `file` and fills *out. kCorruption naming the problem.
Status Parse(std::string_view file, Contents* out);

// The chunk bytes of `e`, after checking its CRC; kCorruption when damaged or out of bounds.
Status ReadChunk(std::string_view file, const ChunkEntry& e, std::string_view* chunk);

}  // namespace doppel::store::segment
