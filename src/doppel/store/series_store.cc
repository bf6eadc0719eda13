#include "doppel/store/series_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <string_view>
#include <tuple>

#include "doppel/store/chunk_format.h"
#include "doppel/store/series_store_impl.h"

namespace doppel::store {
namespace {

using platform::Env;
using platform::WritableFile;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMinSegmentBytes = 4096;
constexpr uint64_t kMaxSegmentBytes = 1ull << 30;

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
  if (chunk_samples < 16 || chunk_samples > chunkfmt::kMaxChunkSamples) {
    return InvalidArgument("chunk_samples: must be in 16.." + std::to_string(chunkfmt::kMaxChunkSamples) +
                           ", got " + std::to_string(chunk_samples));
  }
  if (chunk_span_ns <= 0) return InvalidArgument("chunk_span_ns: must be positive");
  if (segment_bytes < kMinSegmentBytes || segment_bytes > kMaxSegmentBytes) {
    return InvalidArgument("segment_bytes: must be in " + std::to_string(kMinSegmentBytes) + ".." +
                           std::to_string(kMaxSegmentBytes) + ", got " + std::to_string(segment_bytes));
  }
  for (size_t i = 0; i < retention.size(); ++i) {
    const RetentionRule& r = retention[i];
    const std::string name = "retention[" + std::to_string(i) + "] (pattern \"" + r.pattern + "\")";
    if (r.pattern.empty()) return InvalidArgument("retention[" + std::to_string(i) + "]: pattern is empty");
    if (r.raw_retention_ns < 0) return InvalidArgument(name + ": raw retention must not be negative");
    if (r.rollups.size() > 8) return InvalidArgument(name + ": at most 8 rollup levels");
    if (r.raw_retention_ns == 0 && !r.rollups.empty())
      return InvalidArgument(name +
                             ": rollups need a raw retention (they are computed when raw data is dropped)");
    for (size_t j = 0; j < r.rollups.size(); ++j) {
      const RollupRule& u = r.rollups[j];
      const std::string lname = name + ": rollups[" + std::to_string(j) + "]";
      if (u.step_ns <= 0) return InvalidArgument(lname + ": step must be positive");
      if (u.retention_ns < 0) return InvalidArgument(lname + ": retention must not be negative");
      if (j > 0 && u.step_ns <= r.rollups[j - 1].step_ns)
        return InvalidArgument(lname + ": steps must be strictly increasing (finest first)");
      if (u.retention_ns != 0 && u.retention_ns < u.step_ns)
        return InvalidArgument(lname + ": retention is shorter than one step");
      if (u.retention_ns != 0 && (r.raw_retention_ns == 0 || u.retention_ns <= r.raw_retention_ns))
        return InvalidArgument(lname + ": retention must be 0 (forever) or longer than the raw retention");
    }
  }
  return Status::Ok();
}

Series* SeriesStore::Impl::FindOrCreate(std::string_view twin, std::string_view signal) {
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

const Series* SeriesStore::Impl::Find(std::string_view twin, std::string_view signal) const {
  std::shared_lock lk(index_mu);
  auto it = index.find(KeyView{twin, signal});
  return it == index.end() ? nullptr : it->second.get();
}

bool SeriesStore::Impl::Insert(Series* s, const Sample& x, bool count) {
  if (x.ts_ns <= s->raw_horizon) {
    // Older than data retention already dropped (and rolled up): expired on arrival.
    expired_readings.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const bool fresh = InsertSample(s, x);
  if (fresh && count) samples.fetch_add(1, std::memory_order_relaxed);
  if (s->head.size() < opts.chunk_samples && s->head.size() > 1 &&
      s->head.back().ts_ns - s->head.front().ts_ns < opts.chunk_span_ns) {
    return fresh;  // fast path: nothing to seal
  }
  const size_t before = s->chunks.size();
  uint64_t seq = next_chunk_seq.load(std::memory_order_relaxed);
  uint64_t start = seq;
  const size_t bytes = MaybeSeal(s, opts.chunk_samples, opts.chunk_span_ns, &seq);
  if (seq != start) {
    // Sequence numbers only order chunks of one series, so a racy reservation is enough as
    // long as it is monotonic per series: take the range [start, seq) atomically.
    const uint64_t base = next_chunk_seq.fetch_add(seq - start, std::memory_order_relaxed);
    for (size_t i = before; i < s->chunks.size(); ++i) s->chunks[i].seq = base + (i - before);
    chunks.fetch_add(s->chunks.size() - before, std::memory_order_relaxed);
    chunk_bytes.fetch_add(bytes, std::memory_order_relaxed);
  }
  return fresh;
}

void SeriesStore::Impl::Apply(std::span<const Reading* const> batch, Lane& lane) {
  const std::vector<uint32_t>& ids = lane.encoder.batch_ids();
  assert(ids.size() == batch.size());
  const size_t defined = lane.encoder.series_defined();
  if (lane.series_of_id.size() < defined) lane.series_of_id.resize(defined, nullptr);
  if (lane.id_count.size() < defined) lane.id_count.resize(defined, 0);
  // Group by series, keeping batch order within each: a counting sort over the ids used.
  auto& count = lane.id_count;
  auto& touched = lane.touched;
  auto& order = lane.order;
  touched.clear();
  for (uint32_t id : ids) {
    if (count[id]++ == 0) touched.push_back(id);
  }
  order.resize(batch.size());
  if (touched.size() == batch.size()) {
    for (uint32_t i = 0; i < batch.size(); ++i) order[i] = i;  // one reading per series
  } else {
    // count[id] becomes the end of the id's range, then each reading is placed from the back.
    uint32_t end = 0;
    for (uint32_t id : touched) count[id] = end += count[id];
    for (uint32_t i = static_cast<uint32_t>(batch.size()); i-- > 0;) order[--count[ids[i]]] = i;
    // Now count[id] is the start of its range; touched order is range order.
  }
  uint64_t fresh = 0;
  size_t i = 0;
  for (uint32_t id : touched) {
    count[id] = 0;
    Series*& s = lane.series_of_id[id];
    if (s == nullptr) s = FindOrCreate(batch[order[i]]->twin, batch[order[i]]->signal);
    std::unique_lock lk(s->mu);
    for (; i < order.size() && ids[order[i]] == id; ++i) {
      const Reading& r = *batch[order[i]];
      fresh += Insert(s, Sample{r.source_ts_ns, r.value, r.quality}, /*count=*/false);
    }
  }
  if (fresh > 0) samples.fetch_add(fresh, std::memory_order_relaxed);
}

void SeriesStore::Impl::Warn(std::string msg) {
  spdlog::warn("series store {}: {}", opts.dir, msg);
  recovery.warnings.push_back(std::move(msg));
}

Status SeriesStore::Impl::Recover() {
  DOPPEL_RETURN_IF_ERROR(LoadRollups());
  std::vector<uint64_t> covered;  // per lane: WAL segments up to this sequence are in chunks
  DOPPEL_RETURN_IF_ERROR(LoadChunkSegments(&covered));
  for (size_t i = 0; i < covered.size() && i < lanes.size(); ++i) {
    lanes[i]->seq = std::max(lanes[i]->seq, covered[i]);  // never reuse a covered sequence number
  }
  // Lanes beyond opts.lanes keep the coverage the newest checkpoint recorded for them, so every
  // later checkpoint records it too (if the lanes come back, they do not reuse covered numbers).
  if (covered.size() > lanes.size()) retired_lanes_covered.assign(covered.begin(), covered.end());
  for (size_t i = 0; i < lanes.size() && i < retired_lanes_covered.size(); ++i) retired_lanes_covered[i] = 0;
  auto names = env->ListDir(opts.dir);
  if (!names.ok()) return names.status();
  struct Seg {
    int lane;
    uint64_t seq;
    std::string name;
    bool kept;  // <segment>.corrupt: a corrupt segment kept for inspection, never modified
  };
  std::vector<Seg> segs;
  for (const std::string& n : *names) {
    Seg s{0, 0, n, n.ends_with(wal::kCorruptSuffix)};
    std::string_view base(n);
    if (s.kept) base.remove_suffix(wal::kCorruptSuffix.size());
    if (wal::ParseSegmentFileName(base, &s.lane, &s.seq)) segs.push_back(std::move(s));
  }
  std::sort(segs.begin(), segs.end(),
            [](const Seg& a, const Seg& b) { return std::tie(a.lane, a.seq) < std::tie(b.lane, b.seq); });

  std::vector<wal::WalSample> batch;
  std::vector<Series*> ids;  // segment series id -> series
  for (const Seg& seg : segs) {
    const std::string path = opts.dir + "/" + seg.name;
    if (seg.lane < static_cast<int>(lanes.size())) {
      lanes[seg.lane]->seq = std::max(lanes[seg.lane]->seq, seg.seq);
    }
    if (static_cast<size_t>(seg.lane) < covered.size() && seg.seq <= covered[seg.lane]) {
      // Its intact records are in the chunk segments; a kept corrupt segment stays for inspection.
      if (opts.read_only || seg.kept) continue;
      // Already in the chunk segments (a checkpoint stopped before deleting it).
      Status st = env->RemoveFile(path);
      if (!st.ok()) spdlog::warn("series store {}: cannot remove {}: {}", opts.dir, path, st.ToString());
      continue;
    }
    auto data = env->ReadFile(path);
    if (!data.ok()) return data.status();
    ++recovery.segments;
    if (seg.lane >= static_cast<int>(lanes.size()) && !seg.kept) {
      auto& retired = retired_lanes_covered;
      if (retired.size() <= static_cast<size_t>(seg.lane))
        retired.resize(static_cast<size_t>(seg.lane) + 1, 0);
      retired[static_cast<size_t>(seg.lane)] = std::max(retired[static_cast<size_t>(seg.lane)], seg.seq);
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
      Status st = opts.read_only || seg.kept ? Status::Ok()
                  : valid == 0               ? env->RemoveFile(path)
                                             : env->TruncateFile(path, valid);
      if (!st.ok()) return st;
      recovery.truncated_bytes += rest;
      Warn(seg.name + ": " + reader.error() + "; truncated " + std::to_string(rest) + " bytes" +
           (valid == 0 ? " (file removed)" : ""));
      if (valid == 0) continue;
    } else if (o == wal::SegmentReader::Outcome::kCorrupt) {
      ++recovery.corrupt_segments;
      recovery.skipped_bytes += rest;
      std::string kept = "left on disk";
      if (seg.kept) {
        kept = "kept for inspection";
      } else if (!opts.read_only) {
        // Renamed, so that no checkpoint (which deletes the WAL segments it covers) or later
        // Open removes or truncates the bytes after the damage: they may hold acknowledged
        // records. The intact records before it are replayed until a checkpoint covers them.
        const std::string to = path + std::string(wal::kCorruptSuffix);
        Status st = env->RenameFile(path, to);
        if (st.ok()) st = env->SyncDir(opts.dir);
        if (!st.ok()) return WithContext(st, "keeping corrupt WAL segment " + path);
        kept = "renamed to " + seg.name + std::string(wal::kCorruptSuffix) + " for inspection";
      }
      Warn(seg.name + ": " + reader.error() + "; replay of this segment stopped, " + std::to_string(rest) +
           " bytes not replayed (" + kept + ")");
    }
    segments.fetch_add(1, std::memory_order_relaxed);
    wal_bytes.fetch_add(o == wal::SegmentReader::Outcome::kTorn ? valid : data->size(),
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
  lane.series_of_id.clear();
  lane.needs_roll = true;
  {
    std::lock_guard lk(lane.file_mu);
    if (lane.file) {
      if (opts.fsync != FsyncPolicy::kNever) {
        Status st = SyncLane(lane);
        if (!st.ok()) NoteSyncFailure("sync of " + lane.path + " before roll", st);
      }
      Status st = lane.file->Close();
      if (!st.ok())
        spdlog::warn("series store {}: close of {} failed: {}", opts.dir, lane.path, st.ToString());
      lane.file.reset();
    }
  }
  const uint64_t seq = ++lane.seq;  // never reused, even if this roll fails
  const std::string path = WalPath(lane.id, seq);
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
    // On failure nothing may be acknowledged in it: the Append fails and the next one retries.
    Status ds = env->SyncDir(opts.dir);
    if (!ds.ok()) {
      sync_errors.fetch_add(1, std::memory_order_relaxed);
      (*file)->Close().ok();
      env->RemoveFile(path).ok();  // best effort; a segment of only a header replays as empty
      return WithContext(ds, "directory sync after creating " + path);
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
  wal_bytes.fetch_add(header.size(), std::memory_order_relaxed);
  return Status::Ok();
}

void SeriesStore::Impl::NoteSyncFailure(const std::string& what, const Status& st) {
  sync_errors.fetch_add(1, std::memory_order_relaxed);
  if (opts.fsync != FsyncPolicy::kInterval) {
    spdlog::error("series store {}: {} failed: {}", opts.dir, what, st.ToString());
    return;
  }
  if (!durability_lost.exchange(true, std::memory_order_acq_rel)) {
    spdlog::error(
        "series store {}: {} failed: {}; records written since the last good sync may not be on disk, so "
        "appends are refused until a checkpoint has written them durably",
        opts.dir, what, st.ToString());
  }
}

void SeriesStore::Impl::RestoreDurability() {
  if (!durability_lost.load(std::memory_order_acquire)) return;
  // The checkpoint writes every acknowledged reading (all are in memory) to a chunk segment with
  // a successful sync, covers the WAL segments written so far and makes the lanes start new ones.
  std::lock_guard ck(checkpoint_mu);
  Status st = CheckpointLocked(true);
  if (!st.ok()) {
    // Retried every interval; logged at most every 30 s.
    const auto now = Clock::now();
    if (now - last_durability_log >= std::chrono::seconds(30)) {
      last_durability_log = now;
      spdlog::error("series store {}: checkpoint to recover from a failed sync failed (retrying): {}",
                    opts.dir, st.ToString());
    }
    return;
  }
  durability_lost.store(false, std::memory_order_release);
  spdlog::warn("series store {}: a checkpoint made the records since the failed sync durable; appends resume",
               opts.dir);
}

void SeriesStore::Impl::BackgroundLoop() {
  const auto interval =
      std::chrono::milliseconds(opts.fsync == FsyncPolicy::kInterval ? opts.fsync_interval_ms : 200);
  std::unique_lock lk(stop_mu);
  while (!stop) {
    stop_cv.wait_for(lk, interval, [this] { return stop; });
    if (stop) break;
    lk.unlock();
    if (opts.fsync == FsyncPolicy::kInterval) {
      for (auto& lane : lanes) {
        std::lock_guard flk(lane->file_mu);
        Status st = SyncLane(*lane);
        if (!st.ok()) NoteSyncFailure("background fsync", st);
      }
    }
    RestoreDurability();
    if (opts.checkpoint_wal_bytes > 0 &&
        wal_since_checkpoint.load(std::memory_order_relaxed) >= opts.checkpoint_wal_bytes) {
      std::lock_guard ck(checkpoint_mu);
      Status st = CheckpointLocked(false);
      if (!st.ok()) spdlog::error("series store {}: checkpoint failed: {}", opts.dir, st.ToString());
    }
    lk.lock();
  }
}

SeriesStore::SeriesStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SeriesStore::~SeriesStore() {
  if (impl_->background.joinable()) {
    {
      std::lock_guard lk(impl_->stop_mu);
      impl_->stop = true;
    }
    impl_->stop_cv.notify_all();
    impl_->background.join();
  }
  const bool unsynced = impl_->durability_lost.load();  // a last try to save them
  if ((impl_->opts.checkpoint_on_open_close || unsynced) && !impl_->opts.read_only) {
    std::lock_guard ck(impl_->checkpoint_mu);
    Status st = impl_->CheckpointLocked(unsynced);
    if (!st.ok())
      spdlog::error("series store {}: checkpoint at close failed: {}", impl_->opts.dir, st.ToString());
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
    impl->metrics.checkpoints = &m->GetCounter("doppel_store_checkpoints_total", "Chunk segment checkpoints");
  }
  for (int i = 0; i < options.lanes; ++i) {
    impl->lanes.push_back(std::make_unique<Lane>());
    impl->lanes.back()->id = i;
  }
  if (!options.read_only) DOPPEL_RETURN_IF_ERROR(env->CreateDir(options.dir));
  DOPPEL_RETURN_IF_ERROR(impl->Recover());
  const RecoverySummary& r = impl->recovery;
  spdlog::info(
      "series store {}: replayed {} segments, {} records, {} readings ({} series); {} bytes truncated, {} "
      "corrupt segments",
      options.dir, r.segments, r.records, r.readings, impl->index.size(), r.truncated_bytes,
      r.corrupt_segments);
  if (r.readings > 0 && options.checkpoint_on_open_close && !options.read_only) {
    // Fold the replayed WAL into chunk segments so the next Open replays only new writes.
    std::lock_guard ck(impl->checkpoint_mu);
    Status st = impl->CheckpointLocked(true);
    if (!st.ok())
      spdlog::warn("series store {}: checkpoint after recovery failed: {}", options.dir, st.ToString());
  }
  if (!options.read_only && (options.fsync == FsyncPolicy::kInterval || options.checkpoint_wal_bytes > 0)) {
    Impl* p = impl.get();
    impl->background = std::thread([p] { p->BackgroundLoop(); });
  }
  return std::unique_ptr<SeriesStore>(new SeriesStore(std::move(impl)));
}

Status SeriesStore::Append(int lane_no, const std::vector<Reading>& batch) {
  const std::vector<Reading>* part = &batch;
  return AppendParts(lane_no, std::span<const std::vector<Reading>* const>(&part, 1));
}

Status SeriesStore::AppendParts(int lane_no, std::span<const std::vector<Reading>* const> parts) {
  // The record is encoded from pointers to the readings, so parts are not copied together.
  // Per writer thread scratch (keeps its capacity; appends never nest).
  thread_local std::vector<const Reading*> refs;
  refs.clear();
  for (const std::vector<Reading>* p : parts) {
    for (const Reading& r : *p) refs.push_back(&r);
  }
  return impl_->AppendRefs(lane_no, refs);
}

Status SeriesStore::Impl::AppendRefs(int lane_no, std::span<const Reading* const> batch) {
  Impl& d = *this;
  if (lane_no < 0 || lane_no >= static_cast<int>(d.lanes.size())) {
    return InvalidArgument("lane " + std::to_string(lane_no) + " out of range 0.." +
                           std::to_string(d.lanes.size() - 1));
  }
  Lane& lane = *d.lanes[lane_no];
  if (lane.busy.exchange(true, std::memory_order_acquire)) {
    return FailedPrecondition("lane " + std::to_string(lane_no) + ": Append called from two threads at once");
  }
  std::shared_lock checkpoint_guard(d.append_mu);  // a checkpoint captures state between appends
  struct Release {
    Lane& l;
    ~Release() { l.busy.store(false, std::memory_order_release); }
  } release{lane};

  if (d.opts.read_only) return FailedPrecondition("store opened read-only");
  if (d.durability_lost.load(std::memory_order_acquire)) {
    return Unavailable("WAL lane " + std::to_string(lane_no) +
                       ": a WAL sync failed; appends are refused until a checkpoint has made the records "
                       "since then durable (retried every fsync interval)");
  }
  if (batch.empty()) return Status::Ok();
  for (size_t i = 0; i < batch.size(); ++i) {
    const Reading& r = *batch[i];
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

  // A record over the limit would read back as corruption, so it is never written.
  const auto too_large = [&](const std::string& where) {
    lane.encoder.Abort();
    return InvalidArgument("batch of " + std::to_string(batch.size()) + " readings encodes to " +
                           std::to_string(lane.payload.size()) + " bytes" + where + ", over the " +
                           std::to_string(wal::kMaxRecordPayload) + " byte record limit");
  };
  lane.encoder.EncodeRefs(batch, &lane.payload);
  if (lane.payload.size() > wal::kMaxRecordPayload) return too_large("");
  const uint64_t record_size = wal::kRecordHeaderSize + lane.payload.size();
  if (lane.needs_roll || !lane.file ||
      (lane.size > wal::kSegmentHeaderSize && lane.size + record_size > d.opts.segment_bytes)) {
    lane.encoder.Abort();
    Status st = d.Roll(lane);
    if (!st.ok()) {
      if (d.metrics.errors) d.metrics.errors->Inc();
      return WithContext(st, context);
    }
    lane.encoder.EncodeRefs(batch, &lane.payload);  // series ids restart in the new segment
    // Now every series of the batch is defined again, so the record can have grown past the limit.
    if (lane.payload.size() > wal::kMaxRecordPayload) {
      return too_large(" (with its series defined again in the new segment " + lane.path + ")");
    }
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
  d.wal_bytes.fetch_add(lane.record.size(), std::memory_order_relaxed);
  d.wal_since_checkpoint.fetch_add(lane.record.size(), std::memory_order_relaxed);

  Status sync_st;
  if (d.opts.fsync == FsyncPolicy::kEveryBatch) {
    std::lock_guard lk(lane.file_mu);
    sync_st = d.SyncLane(lane);
    if (!sync_st.ok()) lane.needs_roll = true;  // after a failed fsync the file's state is unknown
  }

  d.Apply(batch, lane);

  if (d.metrics.batches) {
    d.metrics.batches->Inc();
    d.metrics.readings->Inc(batch.size());
    d.metrics.wal_bytes->Inc(lane.record.size());
    d.metrics.append_seconds->Observe(SecondsSince(start));
  }
  return sync_st;
}

const RecoverySummary& SeriesStore::recovery() const { return impl_->recovery; }

Status SeriesStore::SyncAll() {
  Status first;
  for (auto& lane : impl_->lanes) {
    std::lock_guard lk(lane->file_mu);
    Status st = impl_->SyncLane(*lane);
    if (!st.ok()) impl_->NoteSyncFailure("sync of lane " + std::to_string(lane->id), st);
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

}  // namespace doppel::store
