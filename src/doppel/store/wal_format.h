// WAL segment format: constants, encoder and decoder shared by the writer (series_store.cc),
// recovery and the fuzzer (fuzz/wal_fuzz.cc). Internal to the store. The byte layout and the
// recovery rules are specified in docs/formats/wal.md; keep the two in sync.
//
// Every decoder here is a parser of untrusted bytes: it never throws, never reads out of
// bounds and never allocates more than a small multiple of its input, whatever the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "doppel/core/keys.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::store::wal {

// ---- Constants (docs/formats/wal.md) ----
inline constexpr char kSegmentMagic[4] = {'D', 'W', 'A', 'L'};
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 16;  // magic(4) version(2) lane(2) seq(8)
inline constexpr size_t kRecordHeaderSize = 9;    // masked crc32c(4) length(4) type(1)
inline constexpr uint32_t kMaxRecordPayload = 64u << 20;
inline constexpr uint8_t kRecordTypeBatch = 1;
inline constexpr size_t kMaxKeyBytes = 4096;   // twin id and signal name, each
inline constexpr size_t kMinSampleBytes = 11;  // id(1) ts delta(1) value(8) quality(1)
inline constexpr int kMaxLanes = 1000;         // lane number has 3 digits in file names

// "wal-<lane, 3 digits>-<seq, 10 digits>.log", e.g. "wal-002-0000000017.log".
std::string SegmentFileName(int lane, uint64_t seq);
// True (and sets lane, seq) for names produced by SegmentFileName.
bool ParseSegmentFileName(std::string_view name, int* lane, uint64_t* seq);
// Recovery renames a segment holding a corrupt record to its name plus this suffix: kept for
// inspection, never deleted, truncated or appended to by the store.
inline constexpr std::string_view kCorruptSuffix = ".corrupt";

struct SegmentHeader {
  uint16_t version = kFormatVersion;
  uint16_t lane = 0;
  uint64_t seq = 0;
};
void EncodeSegmentHeader(const SegmentHeader& h, std::string* out);  // appends 16 bytes

// Appends one framed record (header + payload) to *out.
void AppendRecord(uint8_t type, std::string_view payload, std::string* out);

// One reading inside a decoded batch; `series` indexes the segment's dictionary.
struct WalSample {
  uint32_t series = 0;
  TimeNs ts_ns = 0;
  double value = 0;
  Quality quality = Quality::kGood;
};
struct SeriesName {
  std::string twin, signal;
};

// Encodes batches for one segment. Series keys are interned per segment: the first record that
// mentions a series defines it (id = number of series defined before it in the segment).
// Usage per record: Encode, write the record, then Commit (written) or Abort (not written).
class BatchEncoder {
 public:
  // Replaces *payload with the batch payload. Readings must already be valid (non-empty keys of
  // at most kMaxKeyBytes, a known quality).
  void Encode(const std::vector<Reading>& batch, std::string* payload);
  // The same for a batch given as pointers (e.g. several vectors written as one record).
  void EncodeRefs(std::span<const Reading* const> batch, std::string* payload);
  void Commit();  // the ids handed out by the last Encode are now defined in the segment
  void Abort();   // forget them (the record was not written)
  void Reset();   // a new segment: no series defined
  size_t series_defined() const { return next_id_; }
  // The segment series id of each reading of the last Encode, in batch order.
  const std::vector<uint32_t>& batch_ids() const { return batch_ids_; }

 private:
  // Transparent string hashing, so lookups by string_view copy nothing.
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // The series of one twin, in the order they were first seen. Devices send their signals in
  // a fixed order, so the series after the last one looked up is tried first (one string
  // compare per reading); the map is the fallback.
  struct TwinSeries {
    std::vector<std::pair<std::string, uint32_t>> signals;                   // (signal, id), first-seen order
    std::unordered_map<std::string, uint32_t, Hash, std::equal_to<>> index;  // signal -> position
    size_t cursor = 0;                                                       // position to try first
  };
  uint32_t IdOf(TwinSeries* t, const Reading& r, std::string* defs, uint32_t* next);
  std::vector<const Reading*> refs_;  // scratch for the vector overload

  std::vector<uint32_t> batch_ids_;
  std::unordered_map<std::string, TwinSeries, Hash, std::equal_to<>> twins_;
  std::vector<TwinSeries*> pending_;  // one entry per series added by the last Encode
  uint32_t next_id_ = 0;              // ids defined (committed) in the segment
  uint32_t pending_next_ = 0;         // next_id_ after the last Encode, if committed
};

// Decodes one batch payload against `dict` (the series defined earlier in the segment). On
// success the batch's new series are appended to *dict and *samples holds its readings; on
// failure (kCorruption naming the problem) neither is changed.
Status DecodeBatch(std::string_view payload, std::vector<SeriesName>* dict, std::vector<WalSample>* samples);

// Reads a whole segment file held in memory, record by record.
class SegmentReader {
 public:
  enum class Outcome {
    kRecord,   // *samples holds the next batch
    kEnd,      // clean end of the segment
    kTorn,     // the rest of the file is an incomplete/damaged final record with no intact
               // record after it, a zero-filled tail, or a torn segment header
    kCorrupt,  // a damaged record followed by more data, a bad header or an undecodable record
  };

  explicit SegmentReader(std::string_view file) : file_(file) {}

  // Checks the segment header (the first call to Next does it too).
  Outcome ReadHeader(SegmentHeader* header);
  // After kTorn or kCorrupt every further call returns the same outcome.
  Outcome Next(std::vector<WalSample>* samples);

  // Bytes of the file up to the end of the last good record (the header counts as good).
  size_t valid_bytes() const { return valid_; }
  const std::vector<SeriesName>& dict() const { return dict_; }
  // What was wrong, for kTorn / kCorrupt.
  const std::string& error() const { return error_; }

 private:
  Outcome Fail(Outcome o, std::string msg);
  // True when a record with a valid checksum starts somewhere after `off` (resync scan).
  bool IntactRecordAfter(size_t off) const;

  std::string_view file_;
  size_t valid_ = 0;
  bool header_done_ = false;
  SegmentHeader header_;
  std::vector<SeriesName> dict_;
  std::string error_;
  Outcome failed_ = Outcome::kRecord;  // kRecord: not failed
};

}  // namespace doppel::store::wal
