// Fuzzes the chunk decoder and the chunk segment parser with arbitrary bytes.
// The first byte picks the target: even = a chunk (docs/formats/chunk.md), odd = a whole chunk
// segment file (docs/formats/segment.md). Properties: no crash, no out-of-bounds read, no UB, no
// huge allocation; a decoded chunk has 1..kMaxChunkSamples strictly increasing samples, and
// encoding them again decodes to the same bits.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/store/chunk_codec.h"
#include "doppel/store/chunk_format.h"
#include "doppel/store/segment.h"

using namespace doppel::store;

namespace {

void CheckChunk(std::string_view data) {
  std::vector<Sample> s;
  if (!DecodeChunk(data, &s).ok()) {
    if (!s.empty()) std::abort();  // failure leaves the output untouched
    return;
  }
  if (s.empty() || s.size() > chunkfmt::kMaxChunkSamples) std::abort();
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i].ts_ns <= s[i - 1].ts_ns) std::abort();
  }
  std::string again;
  EncodeChunk(s, &again);
  std::vector<Sample> t;
  if (!DecodeChunk(again, &t).ok() || t.size() != s.size()) std::abort();
  for (size_t i = 0; i < s.size(); ++i) {
    if (t[i].ts_ns != s[i].ts_ns ||
        std::bit_cast<uint64_t>(t[i].value) != std::bit_cast<uint64_t>(s[i].value) ||
        t[i].quality != s[i].quality) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    CheckChunk(in);
    return 0;
  }
  segment::Contents c;
  if (!segment::Parse(in, &c).ok()) return 0;
  for (const auto& s : c.series) {
    for (const auto& e : s.chunks) {
      std::string_view chunk;
      if (segment::ReadChunk(in, e, &chunk).ok()) CheckChunk(chunk);
    }
  }
  return 0;
}
