// Fuzzes the WAL segment reader and batch decoder with arbitrary bytes as a segment file.
// Properties: no crash, no out-of-bounds read, no UB, no huge allocation; every decoded
// sample names a series defined in the segment's dictionary; valid_bytes never exceeds the input;
// and re-reading the valid prefix yields the same records and ends cleanly.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "doppel/store/wal_format.h"

using doppel::store::wal::SegmentReader;
using doppel::store::wal::WalSample;

namespace {

size_t ReadAll(std::string_view data, SegmentReader::Outcome* last) {
  SegmentReader reader(data);
  std::vector<WalSample> samples;
  size_t records = 0;
  SegmentReader::Outcome o;
  while ((o = reader.Next(&samples)) == SegmentReader::Outcome::kRecord) {
    ++records;
    for (const WalSample& s : samples) {
      if (s.series >= reader.dict().size()) std::abort();
    }
  }
  if (reader.valid_bytes() > data.size()) std::abort();
  if (reader.Next(&samples) != o) std::abort();  // failure outcomes are sticky
  *last = o;
  return records;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  SegmentReader::Outcome o;
  size_t records = ReadAll(in, &o);

  // The valid prefix must replay to the same number of records and end cleanly.
  SegmentReader reader(in);
  std::vector<WalSample> samples;
  while (reader.Next(&samples) == SegmentReader::Outcome::kRecord) {
  }
  if (reader.valid_bytes() >= doppel::store::wal::kSegmentHeaderSize) {
    SegmentReader::Outcome o2;
    size_t again = ReadAll(in.substr(0, reader.valid_bytes()), &o2);
    if (again != records || o2 != SegmentReader::Outcome::kEnd) std::abort();
  }

  // The payload decoder on its own, with an empty dictionary.
  std::vector<doppel::store::wal::SeriesName> dict;
  (void)doppel::store::wal::DecodeBatch(in, &dict, &samples);
  return 0;
}
