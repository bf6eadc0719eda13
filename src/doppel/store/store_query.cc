// SeriesStore reads: range and downsampled queries, aggregations, as-of and aligned reads,
// listing and statistics. All run concurrently with appends on a View (series_data.h).
#include <cmath>
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

}  // namespace

Result<std::vector<Sample>> SeriesStore::Query(const std::string& twin, const std::string& signal,
                                               TimeNs from_ns, TimeNs to_ns, size_t max_points) const {
  DOPPEL_RETURN_IF_ERROR(CheckRange(from_ns, to_ns));
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return std::vector<Sample>{};
  View v;
  {
    std::shared_lock lk(s->mu);
    v = TakeView(*s, from_ns, to_ns);
  }
  std::vector<Sample> out;
  DOPPEL_RETURN_IF_ERROR(DownsampleView(v, max_points, &out));
  return out;
}

Result<std::vector<AggregatePoint>> SeriesStore::Aggregate(const std::string& twin, const std::string& signal,
                                                           TimeNs from_ns, TimeNs to_ns,
                                                           TimeNs step_ns) const {
  DOPPEL_RETURN_IF_ERROR(CheckRange(from_ns, to_ns));
  if (step_ns <= 0) return InvalidArgument("step_ns: must be positive, got " + std::to_string(step_ns));
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return std::vector<AggregatePoint>{};
  View v;
  {
    std::shared_lock lk(s->mu);
    v = TakeView(*s, from_ns, to_ns);
  }
  std::vector<Bucket> buckets;
  DOPPEL_RETURN_IF_ERROR(AggregateView(v, step_ns, &buckets));
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
  {
    std::shared_lock lk(s->mu);
    v = TakeView(*s, std::numeric_limits<TimeNs>::min(), at_ns);
  }
  Sample x;
  bool found = false;
  DOPPEL_RETURN_IF_ERROR(LatestInView(v, &x, &found));
  if (!found) return std::optional<Sample>{};
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
      v = TakeView(*s, from_ns, to_ns);
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
    if (s->samples > 0) out.push_back({k.first, k.second});
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
      if (s->samples > 0) ++st.series;
      st.head_samples += s->head.size();
    }
  }
  st.samples = d.samples.load(std::memory_order_relaxed);
  st.wal_bytes = d.wal_bytes.load(std::memory_order_relaxed);
  st.chunk_segment_bytes = d.segment_bytes.load(std::memory_order_relaxed);
  st.bytes_on_disk = st.wal_bytes + st.chunk_segment_bytes;
  st.segments = d.segments.load(std::memory_order_relaxed);
  st.sync_errors = d.sync_errors.load(std::memory_order_relaxed);
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
