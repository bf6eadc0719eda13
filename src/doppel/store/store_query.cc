// SeriesStore reads: range and downsampled queries, aggregations, as-of and aligned reads,
// listing and statistics. All run concurrently with appends on a View (series_data.h).
#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "doppel/store/series_store_impl.h"

namespace doppel::store {
namespace {

Status CheckRange(TimeNs from_ns, TimeNs to_ns) {
  if (from_ns > to_ns) {
    return InvalidArgument("from_ns (" + std::to_string(from_ns) + ") is after to_ns (" +
                           std::to_string(to_ns) + ")");
  }
  return Status::Ok();
}

TimeNs RawFrom(TimeNs horizon) { return horizon == INT64_MIN ? INT64_MIN : horizon + 1; }

// The rollup level that answers a range starting at from_ns: the finest whose retained buckets
// reach back to from_ns, else the one reaching furthest back. nullptr when none has buckets.
const RollupLevel* ChooseLevel(const Series& s, TimeNs from_ns) {
  const RollupLevel* best = nullptr;
  for (const RollupLevel& l : s.rollups) {  // finest first
    if (l.buckets.empty()) continue;
    if (l.kept_from <= from_ns) return &l;
    if (best == nullptr || l.kept_from < best->kept_from) best = &l;
  }
  return best;
}

// Copies the buckets of the chosen level with start in [from, to].
std::vector<RollupBucket> RollupRange(const Series& s, TimeNs from, TimeNs to) {
  std::vector<RollupBucket> out;
  const RollupLevel* l = ChooseLevel(s, from);
  if (l == nullptr || from > to) return out;
  auto it = std::lower_bound(l->buckets.begin(), l->buckets.end(), from,
                             [](const RollupBucket& b, TimeNs t) { return b.start_ns < t; });
  for (; it != l->buckets.end() && it->start_ns <= to; ++it) out.push_back(*it);
  return out;
}

// [from, to] of one series, read under its lock: the part before the raw horizon (data dropped
// by retention) as rollup buckets, the rest as raw samples starting at raw_from.
struct SplitRange {
  View raw;
  std::vector<RollupBucket> rolled;
  TimeNs raw_from;
};

SplitRange SplitAtHorizon(const Series& s, TimeNs from_ns, TimeNs to_ns) {
  SplitRange r;
  std::shared_lock lk(s.mu);
  r.raw_from = std::max(from_ns, RawFrom(s.raw_horizon));
  if (from_ns < r.raw_from) r.rolled = RollupRange(s, from_ns, std::min(to_ns, r.raw_from - 1));
  if (r.raw_from <= to_ns) r.raw = TakeView(s, r.raw_from, to_ns);
  return r;
}

}  // namespace

Result<std::vector<Sample>> SeriesStore::Query(const std::string& twin, const std::string& signal,
                                               TimeNs from_ns, TimeNs to_ns, size_t max_points) const {
  DOPPEL_RETURN_IF_ERROR(CheckRange(from_ns, to_ns));
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return std::vector<Sample>{};
  auto [v, rolled, raw_from] = SplitAtHorizon(*s, from_ns, to_ns);
  std::vector<Sample> out;
  if (raw_from <= to_ns) DOPPEL_RETURN_IF_ERROR(DownsampleView(v, max_points, &out));
  if (rolled.empty()) return out;
  std::vector<Sample> all;
  all.reserve(rolled.size() + out.size());
  for (const RollupBucket& b : rolled) {
    all.push_back({b.start_ns,
                   b.value_count ? b.sum / static_cast<double>(b.value_count)
                                 : std::numeric_limits<double>::quiet_NaN(),
                   Quality::kGood});
  }
  all.insert(all.end(), out.begin(), out.end());
  if (max_points > 0 && all.size() > max_points) return DownsampleM4(all, max_points);
  return all;
}

Result<std::vector<AggregatePoint>> SeriesStore::Aggregate(const std::string& twin, const std::string& signal,
                                                           TimeNs from_ns, TimeNs to_ns,
                                                           TimeNs step_ns) const {
  DOPPEL_RETURN_IF_ERROR(CheckRange(from_ns, to_ns));
  if (step_ns <= 0) return InvalidArgument("step_ns: must be positive, got " + std::to_string(step_ns));
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return std::vector<AggregatePoint>{};
  auto [v, rolled, raw_from] = SplitAtHorizon(*s, from_ns, to_ns);
  std::vector<Bucket> buckets, raw;
  // Rollup buckets count in the query bucket holding their start.
  for (const RollupBucket& r : rolled) {
    const uint64_t k =
        (static_cast<uint64_t>(r.start_ns) - static_cast<uint64_t>(from_ns)) / static_cast<uint64_t>(step_ns);
    const TimeNs start =
        static_cast<TimeNs>(static_cast<uint64_t>(from_ns) + k * static_cast<uint64_t>(step_ns));
    if (buckets.empty() || buckets.back().start_ns != start) {
      buckets.emplace_back();
      buckets.back().start_ns = start;
    }
    Bucket& b = buckets.back();
    if (r.value_count > 0) {
      b.min = b.value_count ? std::min(b.min, r.min) : r.min;
      b.max = b.value_count ? std::max(b.max, r.max) : r.max;
      b.sum += r.sum;
      b.value_count += r.value_count;
    }
    b.count += r.count;
    b.last = r.last;
  }
  if (raw_from <= to_ns) DOPPEL_RETURN_IF_ERROR(AggregateView(v, step_ns, &raw, from_ns));
  for (const Bucket& r : raw) {
    if (buckets.empty() || buckets.back().start_ns != r.start_ns) {
      buckets.push_back(r);
      continue;
    }
    Bucket& b = buckets.back();  // the query bucket holding the raw horizon
    if (r.value_count > 0) {
      b.min = b.value_count ? std::min(b.min, r.min) : r.min;
      b.max = b.value_count ? std::max(b.max, r.max) : r.max;
      b.sum += r.sum;
      b.value_count += r.value_count;
    }
    b.count += r.count;
    b.last = r.last;
  }
  std::vector<AggregatePoint> out;
  out.reserve(buckets.size());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Bucket& b : buckets) {
    AggregatePoint p;
    p.start_ns = b.start_ns;
    p.count = b.count;
    p.min = b.value_count ? b.min : nan;
    p.max = b.value_count ? b.max : nan;
    p.sum = b.sum;
    p.avg = b.avg();
    p.last = b.last;
    out.push_back(p);
  }
  return out;
}

Result<std::optional<Sample>> SeriesStore::ValueAt(const std::string& twin, const std::string& signal,
                                                   TimeNs at_ns) const {
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return std::optional<Sample>{};
  View v;
  std::optional<Sample> rolled;
  TimeNs raw_from;
  {
    std::shared_lock lk(s->mu);
    raw_from = RawFrom(s->raw_horizon);
    if (raw_from <= at_ns) v = TakeView(*s, raw_from, at_ns);
    if (raw_from > std::numeric_limits<TimeNs>::min()) {
      // The finest level with buckets: the last bucket whose last sample is at or before at_ns.
      for (const RollupLevel& l : s->rollups) {
        if (l.buckets.empty()) continue;
        auto it = std::upper_bound(l.buckets.begin(), l.buckets.end(), at_ns,
                                   [](TimeNs t, const RollupBucket& b) { return t < b.start_ns; });
        while (it != l.buckets.begin() && std::prev(it)->last.ts_ns > at_ns) --it;
        if (it != l.buckets.begin()) rolled = std::prev(it)->last;
        break;
      }
    }
  }
  Sample x;
  bool found = false;
  if (raw_from <= at_ns) DOPPEL_RETURN_IF_ERROR(LatestInView(v, &x, &found));
  if (!found) return rolled;
  return std::optional<Sample>{x};
}

Result<SeriesStore::Aligned> SeriesStore::ReadAligned(const std::vector<SeriesKey>& keys, TimeNs from_ns,
                                                      TimeNs to_ns, TimeNs step_ns, TimeNs max_age_ns) const {
  DOPPEL_RETURN_IF_ERROR(CheckRange(from_ns, to_ns));
  if (step_ns <= 0) return InvalidArgument("step_ns: must be positive, got " + std::to_string(step_ns));
  if (max_age_ns < 0) return InvalidArgument("max_age_ns: must not be negative");
  const uint64_t points = (static_cast<uint64_t>(to_ns) - static_cast<uint64_t>(from_ns)) / step_ns + 1;
  if (points * std::max<size_t>(keys.size(), 1) > 10'000'000) {
    return InvalidArgument("aligned read of " + std::to_string(points) + " points x " +
                           std::to_string(keys.size()) + " series is over the 10^7 cell limit");
  }
  Aligned out;
  out.ts_ns.resize(points);
  for (uint64_t k = 0; k < points; ++k) out.ts_ns[k] = from_ns + static_cast<TimeNs>(k) * step_ns;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const SeriesKey& key : keys) {
    std::vector<double>& row = out.values.emplace_back(points, nan);
    auto before = ValueAt(key.twin, key.signal, from_ns);
    if (!before.ok()) return before.status();
    const Series* s = impl_->Find(key.twin, key.signal);
    if (s == nullptr) continue;
    View v;
    {
      std::shared_lock lk(s->mu);
      v = TakeView(*s, std::max(from_ns, RawFrom(s->raw_horizon)), to_ns);  // raw data only
    }
    std::vector<Sample> samples;
    DOPPEL_RETURN_IF_ERROR(Materialize(v, &samples));
    std::optional<Sample> cur = *before;
    size_t i = 0;
    for (uint64_t k = 0; k < points; ++k) {
      const TimeNs t = out.ts_ns[k];
      while (i < samples.size() && samples[i].ts_ns <= t) cur = samples[i++];
      if (cur && (max_age_ns == 0 || t - cur->ts_ns <= max_age_ns)) row[k] = cur->value;
    }
  }
  return out;
}

std::vector<SeriesKey> SeriesStore::ListSeries() const {
  std::shared_lock lk(impl_->index_mu);
  std::vector<SeriesKey> out;
  out.reserve(impl_->index.size());
  for (const auto& [k, s] : impl_->index) {
    std::shared_lock slk(s->mu);
    if (s->samples > 0 || !s->rollups.empty()) out.push_back({k.first, k.second});
  }
  return out;
}

StoreStats SeriesStore::Stats() const {
  const Impl& d = *impl_;
  StoreStats st;
  {
    std::shared_lock lk(d.index_mu);
    for (const auto& [k, s] : d.index) {
      std::shared_lock slk(s->mu);
      if (s->samples > 0 || !s->rollups.empty()) ++st.series;
      st.head_samples += s->head.size();
      uint64_t b = 0;
      for (const RollupLevel& l : s->rollups) b += l.buckets.size();
      st.rollup_buckets += b;
      if (b > 0) ++st.rollup_series;
    }
  }
  st.samples = d.samples.load(std::memory_order_relaxed);
  st.wal_bytes = d.wal_bytes.load(std::memory_order_relaxed);
  st.chunk_segment_bytes = d.segment_bytes.load(std::memory_order_relaxed);
  st.rollup_file_bytes = d.rollup_file_bytes.load(std::memory_order_relaxed);
  st.rollup_files = d.rollup_file_count.load(std::memory_order_relaxed);
  st.dropped_chunks = d.dropped_chunks.load(std::memory_order_relaxed);
  st.expired_readings = d.expired_readings.load(std::memory_order_relaxed);
  st.bytes_on_disk = st.wal_bytes + st.chunk_segment_bytes + st.rollup_file_bytes;
  st.segments = d.segments.load(std::memory_order_relaxed);
  st.sync_errors = d.sync_errors.load(std::memory_order_relaxed);
  st.durability_lost = d.durability_lost.load(std::memory_order_relaxed);
  st.chunks = d.chunks.load(std::memory_order_relaxed);
  st.chunk_bytes = d.chunk_bytes.load(std::memory_order_relaxed);
  st.checkpoints = d.checkpoints.load(std::memory_order_relaxed);
  return st;
}

Status SeriesStore::Checkpoint() {
  if (impl_->opts.read_only) return FailedPrecondition("store opened read-only");
  std::lock_guard ck(impl_->checkpoint_mu);
  return impl_->CheckpointLocked(true);
}

}  // namespace doppel::store
