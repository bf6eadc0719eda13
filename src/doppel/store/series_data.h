// One series in memory: a mutable head (recent and late samples, sorted) plus immutable
// compressed chunks with summaries, and the read-side merge of the two. Internal to the store.
//
// Thread safety: the caller holds Series::mu (exclusive to modify, shared to take a View);
// a View is a consistent, lock-free copy (chunk bytes are shared, immutable).
// Ordering: chunks are kept in seal order (chunk_seq). Normally their time ranges are disjoint
// and increasing and the head lies after them; a late sample older than the newest sealed
// chunk makes ranges overlap, and then reads merge with "later write wins" (head over chunks,
// higher chunk_seq over lower) for equal timestamps.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/store/chunk_codec.h"
#include "doppel/store/downsample.h"
#include "doppel/store/rollup.h"

namespace doppel::store {

struct Chunk {
  ChunkSummary summary;
  std::shared_ptr<const std::string> data;  // EncodeChunk bytes
  uint64_t seq = 0;                         // seal order, global across series
  bool persisted = false;                   // written to a chunk segment
  uint64_t segment = 0;                     // the chunk segment holding it (when persisted)
};

struct Series {
  Series(std::string t, std::string s) : twin(std::move(t)), signal(std::move(s)) {}
  const std::string twin, signal;
  mutable std::shared_mutex mu;
  std::vector<Sample> head;   // strictly increasing ts
  std::vector<Chunk> chunks;  // seal order
  TimeNs chunks_max_ts = INT64_MIN;
  uint64_t samples = 0;  // distinct timestamps
  // Retention (rollup.h): raw samples at or before raw_horizon were dropped and are only in
  // `rollups`; nothing at or before it is held in the head or chunks.
  TimeNs raw_horizon = INT64_MIN;
  std::vector<RollupLevel> rollups;  // increasing step
};

// Inserts x (last write wins). Returns true when the timestamp is new to the series.
bool InsertSample(Series* s, const Sample& x);

// Seals the head into a chunk when it holds `max_samples` samples or spans `max_span_ns`.
// `*next_seq` hands out chunk sequence numbers. Returns the number of bytes sealed (0: none).
size_t MaybeSeal(Series* s, size_t max_samples, TimeNs max_span_ns, uint64_t* next_seq);
// Seals whatever the head holds (used by tests and tools).
void SealHead(Series* s, uint64_t* next_seq);

// A read-only snapshot of the part of a series that overlaps [from, to].
struct View {
  std::vector<Chunk> chunks;  // overlapping chunks, seal order
  std::vector<Sample> head;   // head samples in [from, to]
  TimeNs from = 0, to = 0;
  // True when no two sources overlap in time (chunks increasing, head after them).
  bool disjoint = true;
};
View TakeView(const Series& s, TimeNs from, TimeNs to);  // caller holds s.mu (shared)

// All samples of the view in [from, to], merged, strictly increasing.
Status Materialize(const View& v, std::vector<Sample>* out);

// DownsampleM4(Materialize(v), max_points), computed from chunk summaries where a whole chunk
// falls in one bucket (so a large range decodes only the chunks on bucket edges).
Status DownsampleView(const View& v, size_t max_points, std::vector<Sample>* out);

// Aggregates per time bucket [from + k*step, from + (k+1)*step). Empty buckets are omitted.
struct Bucket {
  TimeNs start_ns = 0;
  uint64_t count = 0;        // samples
  uint64_t value_count = 0;  // non-NaN samples (the basis of min, max, sum, avg)
  double min = 0, max = 0, sum = 0;
  Sample last;  // latest sample in the bucket
  double avg() const { return value_count ? sum / static_cast<double>(value_count) : 0.0 / 0.0; }
};
// Bucket k starts at origin + k*step (origin <= v.from; INT64_MIN: v.from).
Status AggregateView(const View& v, TimeNs step_ns, std::vector<Bucket>* out, TimeNs origin = INT64_MIN);

// The latest sample with ts <= v.to in the view (false when none).
Status LatestInView(const View& v, Sample* out, bool* found);

}  // namespace doppel::store
