#include "doppel/store/series_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <thread>
#include <tuple>

#include "doppel/core/metrics.h"
#include "doppel/platform/env.h"
#include "doppel/store/wal_format.h"

namespace doppel::store {
namespace {

using platform::Env;
using platform::WritableFile;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMinSegmentBytes = 4096;
constexpr uint64_t kMaxSegmentBytes = 1ull << 30;

// One series: samples sorted by strictly increasing ts_ns.
struct Series {
  Series(std::string t, std::string s) : twin(std::move(t)), signal(std::move(s)) {}
  const std::string twin, signal;
  mutable std::shared_mutex mu;
  std::vector<Sample> samples;
};

// Orders (twin, signal) keys; transparent so lookups need no string copies.
struct KeyLess {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    int c = std::string_view(a.first).compare(std::string_view(b.first));
    return c < 0 || (c == 0 && std::string_view(a.second) < std::string_view(b.second));
  }
};
using Key = std::pair<std::string, std::string>;
using KeyView = std::pair<std::string_view, std::string_view>;

struct Lane {
  int id = 0;
  std::atomic<bool> busy{false};  // detects two threads appending to one lane
  // Guards `file` (replaced on roll and at close) and `synced` against the syncer and SyncAll.
  // The writer reads `file` without it: only the writer ever replaces it.
  std::mutex file_mu;
  std::unique_ptr<WritableFile> file;
  uint64_t synced = 0;
  std::atomic<uint64_t> written{0};  // bytes written to this lane's segments since Open
  // Writer-only state.
  std::string path;
  uint64_t seq = 0;   // sequence number of the current (or, before the first roll, last) segment
  uint64_t size = 0;  // bytes in the current segment
  bool needs_roll = true;
  wal::BatchEncoder encoder;
  std::string payload, record;
};

struct Metrics {
  Counter* batches = nullptr;
  Counter* readings = nullptr;
  Counter* wal_bytes = nullptr;
  Counter* errors = nullptr;
  Histogram* append_seconds = nullptr;
  Histogram* fsync_seconds = nullptr;
};

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Status WithContext(const Status& st, const std::string& context) {
  return {st.code(), context + ": " + st.message()};
}

}  // namespace

Status SeriesStoreOptions::Validate() const {
  if (dir.empty()) return InvalidArgument("dir: required");
  if (lanes < 1 || lanes > wal::kMaxLanes) {
    return InvalidArgument("lanes: must be in 1.." + std::to_string(wal::kMaxLanes) + ", got " +
                           std::to_string(lanes));
  }
  if (fsync != FsyncPolicy::kNever && fsync != FsyncPolicy::kEveryBatch && fsync != FsyncPolicy::kInterval) {
    return InvalidArgument("fsync: unknown policy " + std::to_string(static_cast<int>(fsync)));
  }
  if (fsync == FsyncPolicy::kInterval && (fsync_interval_ms < 1 || fsync_interval_ms > 60000)) {
    return InvalidArgument("fsync_interval_ms: must be in 1..60000 with FsyncPolicy::kInterval, got " +
                           std::to_string(fsync_interval_ms));
  }
  if (segment_bytes < kMinSegmentBytes || segment_bytes > kMaxSegmentBytes) {
    return InvalidArgument("segment_bytes: must be in " + std::to_string(kMinSegmentBytes) + ".." +
                           std::to_string(kMaxSegmentBytes) + ", got " + std::to_string(segment_bytes));
  }
  return Status::Ok();
}

struct SeriesStore::Impl {
  Env* env = nullptr;
  SeriesStoreOptions opts;
  RecoverySummary recovery;
  Metrics metrics;

  std::vector<std::unique_ptr<Lane>> lanes;

  mutable std::shared_mutex index_mu;
  std::map<Key, std::unique_ptr<Series>, KeyLess> index;

  std::atomic<uint64_t> samples{0};
  std::atomic<uint64_t> bytes_on_disk{0};
  std::atomic<uint64_t> segments{0};
  std::atomic<uint64_t> sync_errors{0};

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stop = false;
  std::thread syncer;

  Series* FindOrCreate(std::string_view twin, std::string_view signal) {
    KeyView kv{twin, signal};
    {
      std::shared_lock lk(index_mu);
      auto it = index.find(kv);
      if (it != index.end()) return it->second.get();
    }
    std::unique_lock lk(index_mu);
    auto it = index.find(kv);
    if (it != index.end()) return it->second.get();
    auto s = std::make_unique<Series>(std::string(twin), std::string(signal));
    Series* p = s.get();
    index.emplace(Key{p->twin, p->signal}, std::move(s));
    return p;
  }

  const Series* Find(std::string_view twin, std::string_view signal) const {
    std::shared_lock lk(index_mu);
    auto it = index.find(KeyView{twin, signal});
    return it == index.end() ? nullptr : it->second.get();
  }

  // Caller holds s->mu exclusively.
  void Insert(Series* s, const Sample& x) {
    auto& v = s->samples;
    if (v.empty() || v.back().ts_ns < x.ts_ns) {
      v.push_back(x);
      samples.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto it =
        std::lower_bound(v.begin(), v.end(), x.ts_ns, [](const Sample& a, TimeNs t) { return a.ts_ns < t; });
    if (it != v.end() && it->ts_ns == x.ts_ns) {
      *it = x;  // last write wins
      return;
    }
    v.insert(it, x);
    samples.fetch_add(1, std::memory_order_relaxed);
  }

  void Apply(const std::vector<Reading>& batch) {
    Series* s = nullptr;
    std::unique_lock<std::shared_mutex> lk;
    for (const Reading& r : batch) {
      if (s == nullptr || s->twin != r.twin || s->signal != r.signal) {
        if (lk.owns_lock()) lk.unlock();
        s = FindOrCreate(r.twin, r.signal);
        lk = std::unique_lock(s->mu);
      }
      Insert(s, Sample{r.source_ts_ns, r.value, r.quality});
    }
  }

  std::string SegmentPath(int lane, uint64_t seq) const {
    return opts.dir + "/" + wal::SegmentFileName(lane, seq);
  }

  Status Recover();
  Status Roll(Lane& lane);
  Status SyncLane(Lane& lane);  // caller holds lane.file_mu
  void SyncerLoop();
  void Warn(std::string msg) {
    spdlog::warn("series store {}: {}", opts.dir, msg);
    recovery.warnings.push_back(std::move(msg));
  }
};

Status SeriesStore::Impl::Recover() {
  auto names = env->ListDir(opts.dir);
  if (!names.ok()) return names.status();
  struct Seg {
    int lane;
    uint64_t seq;
    std::string name;
  };
  std::vector<Seg> segs;
  for (const std::string& n : *names) {
    Seg s{0, 0, n};
    if (wal::ParseSegmentFileName(n, &s.lane, &s.seq)) segs.push_back(std::move(s));
  }
  std::sort(segs.begin(), segs.end(),
            [](const Seg& a, const Seg& b) { return std::tie(a.lane, a.seq) < std::tie(b.lane, b.seq); });

  std::vector<wal::WalSample> batch;
  std::vector<Series*> ids;  // segment series id -> series
  for (const Seg& seg : segs) {
    const std::string path = opts.dir + "/" + seg.name;
    auto data = env->ReadFile(path);
    if (!data.ok()) return data.status();
    ++recovery.segments;
    if (seg.lane < static_cast<int>(lanes.size())) {
      lanes[seg.lane]->seq = std::max(lanes[seg.lane]->seq, seg.seq);
    }
    wal::SegmentReader reader(*data);
    wal::SegmentHeader header;
    if (reader.ReadHeader(&header) == wal::SegmentReader::Outcome::kRecord &&
        (header.lane != seg.lane || header.seq != seg.seq)) {
      Warn(seg.name + ": header says lane " + std::to_string(header.lane) + " segment " +
           std::to_string(header.seq) + "; replaying it anyway");
    }
    ids.clear();
    wal::SegmentReader::Outcome o;
    while ((o = reader.Next(&batch)) == wal::SegmentReader::Outcome::kRecord) {
      ++recovery.records;
      recovery.readings += batch.size();
      ids.resize(reader.dict().size(), nullptr);
      for (const wal::WalSample& w : batch) {
        Series*& s = ids[w.series];
        if (s == nullptr) s = FindOrCreate(reader.dict()[w.series].twin, reader.dict()[w.series].signal);
        std::unique_lock lk(s->mu);  // uncontended: nobody else has the store yet
        Insert(s, Sample{w.ts_ns, w.value, w.quality});
      }
    }
    const uint64_t valid = reader.valid_bytes();
    const uint64_t rest = data->size() - valid;
    if (o == wal::SegmentReader::Outcome::kTorn) {
      Status st = valid == 0 ? env->RemoveFile(path) : env->TruncateFile(path, valid);
      if (!st.ok()) return st;
      recovery.truncated_bytes += rest;
      Warn(seg.name + ": " + reader.error() + "; truncated " + std::to_string(rest) + " bytes" +
           (valid == 0 ? " (file removed)" : ""));
      if (valid == 0) continue;
    } else if (o == wal::SegmentReader::Outcome::kCorrupt) {
      ++recovery.corrupt_segments;
      recovery.skipped_bytes += rest;
      Warn(seg.name + ": " + reader.error() + "; replay of this segment stopped, " + std::to_string(rest) +
           " bytes not replayed (left on disk)");
    }
    segments.fetch_add(1, std::memory_order_relaxed);
    bytes_on_disk.fetch_add(o == wal::SegmentReader::Outcome::kTorn ? valid : data->size(),
                            std::memory_order_relaxed);
  }
  return Status::Ok();
}

// Caller holds lane.file_mu.
Status SeriesStore::Impl::SyncLane(Lane& lane) {
  if (!lane.file) return Status::Ok();
  uint64_t w = lane.written.load(std::memory_order_acquire);
  if (w == lane.synced) return Status::Ok();
  auto t = Clock::now();
  Status st = lane.file->Sync();
  if (metrics.fsync_seconds) metrics.fsync_seconds->Observe(SecondsSince(t));
  if (!st.ok()) return WithContext(st, "WAL lane " + std::to_string(lane.id));
  lane.synced = w;
  return Status::Ok();
}

Status SeriesStore::Impl::Roll(Lane& lane) {
  lane.encoder.Reset();
  lane.needs_roll = true;
  {
    std::lock_guard lk(lane.file_mu);
    if (lane.file) {
      if (opts.fsync != FsyncPolicy::kNever) {
        Status st = SyncLane(lane);
        if (!st.ok()) {
          sync_errors.fetch_add(1, std::memory_order_relaxed);
          spdlog::error("series store {}: sync of {} before roll failed: {}", opts.dir, lane.path,
                        st.ToString());
        }
      }
      Status st = lane.file->Close();
      if (!st.ok())
        spdlog::warn("series store {}: close of {} failed: {}", opts.dir, lane.path, st.ToString());
      lane.file.reset();
    }
  }
  const uint64_t seq = ++lane.seq;  // never reused, even if this roll fails
  const std::string path = SegmentPath(lane.id, seq);
  auto file = env->NewAppendableFile(path);
  if (!file.ok()) return file.status();
  std::string header;
  wal::EncodeSegmentHeader({wal::kFormatVersion, static_cast<uint16_t>(lane.id), seq}, &header);
  Status st = (*file)->Append(header);
  if (st.ok()) st = (*file)->Flush();
  if (!st.ok()) {
    (*file)->Close().ok();
    env->RemoveFile(path).ok();  // best effort; a torn header is removed at the next Open anyway
    return st;
  }
  if (opts.fsync != FsyncPolicy::kNever) {
    // Make the new file's directory entry durable, or a power loss could lose the whole segment.
    Status ds = env->SyncDir(opts.dir);
    if (!ds.ok()) {
      sync_errors.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("series store {}: directory sync failed: {}", opts.dir, ds.ToString());
    }
  }
  {
    std::lock_guard lk(lane.file_mu);
    lane.file = std::move(*file);
    lane.written.fetch_add(header.size(), std::memory_order_release);
  }
  lane.path = path;
  lane.size = header.size();
  lane.needs_roll = false;
  segments.fetch_add(1, std::memory_order_relaxed);
  bytes_on_disk.fetch_add(header.size(), std::memory_order_relaxed);
  return Status::Ok();
}

void SeriesStore::Impl::SyncerLoop() {
  const auto interval = std::chrono::milliseconds(opts.fsync_interval_ms);
  std::unique_lock lk(stop_mu);
  while (!stop) {
    stop_cv.wait_for(lk, interval, [this] { return stop; });
    if (stop) break;
    lk.unlock();
    for (auto& lane : lanes) {
      std::lock_guard flk(lane->file_mu);
      Status st = SyncLane(*lane);
      if (!st.ok()) {
        sync_errors.fetch_add(1, std::memory_order_relaxed);
        spdlog::error("series store {}: background fsync failed: {}", opts.dir, st.ToString());
      }
    }
    lk.lock();
  }
}

SeriesStore::SeriesStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SeriesStore::~SeriesStore() {
  if (impl_->syncer.joinable()) {
    {
      std::lock_guard lk(impl_->stop_mu);
      impl_->stop = true;
    }
    impl_->stop_cv.notify_all();
    impl_->syncer.join();
  }
  for (auto& lane : impl_->lanes) {
    std::lock_guard lk(lane->file_mu);
    if (!lane->file) continue;
    if (impl_->opts.fsync != FsyncPolicy::kNever) {
      Status st = impl_->SyncLane(*lane);
      if (!st.ok()) spdlog::error("series store {}: final sync failed: {}", impl_->opts.dir, st.ToString());
    }
    Status st = lane->file->Close();
    if (!st.ok()) spdlog::error("series store {}: close failed: {}", impl_->opts.dir, st.ToString());
  }
}

Result<std::unique_ptr<SeriesStore>> SeriesStore::Open(platform::Env* env,
                                                       const SeriesStoreOptions& options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->opts = options;
  if (MetricsRegistry* m = options.metrics) {
    impl->metrics.batches =
        &m->GetCounter("doppel_store_batches_total", "Batches appended to the series store");
    impl->metrics.readings =
        &m->GetCounter("doppel_store_readings_total", "Readings appended to the series store");
    impl->metrics.wal_bytes = &m->GetCounter("doppel_store_wal_bytes_total", "Bytes written to the WAL");
    impl->metrics.errors = &m->GetCounter("doppel_store_append_errors_total", "Appends that failed to write");
    impl->metrics.append_seconds =
        &m->GetHistogram("doppel_store_append_seconds", "Series store Append latency (log write + index)");
    impl->metrics.fsync_seconds = &m->GetHistogram("doppel_store_fsync_seconds", "WAL fdatasync latency");
  }
  for (int i = 0; i < options.lanes; ++i) {
    impl->lanes.push_back(std::make_unique<Lane>());
    impl->lanes.back()->id = i;
  }
  DOPPEL_RETURN_IF_ERROR(env->CreateDir(options.dir));
  DOPPEL_RETURN_IF_ERROR(impl->Recover());
  const RecoverySummary& r = impl->recovery;
  spdlog::info(
      "series store {}: replayed {} segments, {} records, {} readings ({} series); {} bytes truncated, {} "
      "corrupt segments",
      options.dir, r.segments, r.records, r.readings, impl->index.size(), r.truncated_bytes,
      r.corrupt_segments);
  if (options.fsync == FsyncPolicy::kInterval) {
    Impl* p = impl.get();
    impl->syncer = std::thread([p] { p->SyncerLoop(); });
  }
  return std::unique_ptr<SeriesStore>(new SeriesStore(std::move(impl)));
}

Status SeriesStore::Append(int lane_no, const std::vector<Reading>& batch) {
  Impl& d = *impl_;
  if (lane_no < 0 || lane_no >= static_cast<int>(d.lanes.size())) {
    return InvalidArgument("lane " + std::to_string(lane_no) + " out of range 0.." +
                           std::to_string(d.lanes.size() - 1));
  }
  Lane& lane = *d.lanes[lane_no];
  if (lane.busy.exchange(true, std::memory_order_acquire)) {
    return FailedPrecondition("lane " + std::to_string(lane_no) + ": Append called from two threads at once");
  }
  struct Release {
    Lane& l;
    ~Release() { l.busy.store(false, std::memory_order_release); }
  } release{lane};

  if (batch.empty()) return Status::Ok();
  for (size_t i = 0; i < batch.size(); ++i) {
    const Reading& r = batch[i];
    if (r.twin.empty() || r.twin.size() > wal::kMaxKeyBytes) {
      return InvalidArgument("batch[" + std::to_string(i) + "].twin: must be 1.." +
                             std::to_string(wal::kMaxKeyBytes) + " bytes");
    }
    if (r.signal.empty() || r.signal.size() > wal::kMaxKeyBytes) {
      return InvalidArgument("batch[" + std::to_string(i) + "].signal: must be 1.." +
                             std::to_string(wal::kMaxKeyBytes) + " bytes");
    }
    if (static_cast<uint8_t>(r.quality) > static_cast<uint8_t>(Quality::kBad)) {
      return InvalidArgument("batch[" + std::to_string(i) + "].quality: unknown value");
    }
  }
  const auto start = Clock::now();
  const std::string context = "WAL lane " + std::to_string(lane_no);

  lane.encoder.Encode(batch, &lane.payload);
  if (lane.payload.size() > wal::kMaxRecordPayload) {
    lane.encoder.Abort();
    return InvalidArgument("batch of " + std::to_string(batch.size()) + " readings encodes to " +
                           std::to_string(lane.payload.size()) + " bytes, over the " +
                           std::to_string(wal::kMaxRecordPayload) + " byte record limit");
  }
  const uint64_t record_size = wal::kRecordHeaderSize + lane.payload.size();
  if (lane.needs_roll || !lane.file ||
      (lane.size > wal::kSegmentHeaderSize && lane.size + record_size > d.opts.segment_bytes)) {
    lane.encoder.Abort();
    Status st = d.Roll(lane);
    if (!st.ok()) {
      if (d.metrics.errors) d.metrics.errors->Inc();
      return WithContext(st, context);
    }
    lane.encoder.Encode(batch, &lane.payload);  // series ids restart in the new segment
  }
  lane.record.clear();
  wal::AppendRecord(wal::kRecordTypeBatch, lane.payload, &lane.record);

  Status st = lane.file->Append(lane.record);
  if (st.ok()) st = lane.file->Flush();
  if (!st.ok()) {
    lane.encoder.Abort();
    if (d.metrics.errors) d.metrics.errors->Inc();
    // Cut the partial record off so later records are not hidden behind it; if that fails too,
    // the next Append starts a new segment (recovery stops this one at the partial record).
    Status t = d.env->TruncateFile(lane.path, lane.size);
    if (!t.ok()) {
      lane.needs_roll = true;
      spdlog::warn("series store {}: cannot cut back {} after a failed write: {}", d.opts.dir, lane.path,
                   t.ToString());
    }
    return WithContext(st, context);
  }
  lane.encoder.Commit();
  lane.size += lane.record.size();
  lane.written.fetch_add(lane.record.size(), std::memory_order_release);
  d.bytes_on_disk.fetch_add(lane.record.size(), std::memory_order_relaxed);

  Status sync_st;
  if (d.opts.fsync == FsyncPolicy::kEveryBatch) {
    std::lock_guard lk(lane.file_mu);
    sync_st = d.SyncLane(lane);
    if (!sync_st.ok()) lane.needs_roll = true;  // after a failed fsync the file's state is unknown
  }

  d.Apply(batch);

  if (d.metrics.batches) {
    d.metrics.batches->Inc();
    d.metrics.readings->Inc(batch.size());
    d.metrics.wal_bytes->Inc(lane.record.size());
    d.metrics.append_seconds->Observe(SecondsSince(start));
  }
  return sync_st;
}

Result<std::vector<Sample>> SeriesStore::Query(const std::string& twin, const std::string& signal,
                                               TimeNs from_ns, TimeNs to_ns, size_t max_points) const {
  if (from_ns > to_ns) {
    return InvalidArgument("from_ns (" + std::to_string(from_ns) + ") is after to_ns (" +
                           std::to_string(to_ns) + ")");
  }
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return std::vector<Sample>{};
  std::shared_lock lk(s->mu);
  const auto& v = s->samples;
  auto lo =
      std::lower_bound(v.begin(), v.end(), from_ns, [](const Sample& a, TimeNs t) { return a.ts_ns < t; });
  auto hi = std::upper_bound(lo, v.end(), to_ns, [](TimeNs t, const Sample& a) { return t < a.ts_ns; });
  return DownsampleM4(std::span<const Sample>(lo, hi), max_points);
}

std::vector<SeriesKey> SeriesStore::ListSeries() const {
  std::shared_lock lk(impl_->index_mu);
  std::vector<SeriesKey> out;
  out.reserve(impl_->index.size());
  for (const auto& [k, s] : impl_->index) out.push_back({k.first, k.second});
  return out;
}

StoreStats SeriesStore::Stats() const {
  StoreStats st;
  {
    std::shared_lock lk(impl_->index_mu);
    st.series = impl_->index.size();
  }
  st.samples = impl_->samples.load(std::memory_order_relaxed);
  st.bytes_on_disk = impl_->bytes_on_disk.load(std::memory_order_relaxed);
  st.segments = impl_->segments.load(std::memory_order_relaxed);
  st.sync_errors = impl_->sync_errors.load(std::memory_order_relaxed);
  return st;
}

const RecoverySummary& SeriesStore::recovery() const { return impl_->recovery; }

Status SeriesStore::SyncAll() {
  Status first;
  for (auto& lane : impl_->lanes) {
    std::lock_guard lk(lane->file_mu);
    Status st = impl_->SyncLane(*lane);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace doppel::store
