// SeriesStore retention: dropping raw chunks older than their rule's retention after folding
// them into rollups, rollup files (docs/formats/rollup.md), rewriting chunk segments without
// the dropped chunks, and loading rollups at Open. See docs/storage.md, "Retention and rollups".
#include <fnmatch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "doppel/store/chunk_format.h"
#include "doppel/store/segment.h"
#include "doppel/store/series_store_impl.h"

namespace doppel::store {
namespace {

constexpr uint64_t kFullEveryDeltas = 16;  // a full rollup file replaces this many deltas

TimeNs SatSub(TimeNs a, TimeNs b) {  // a - b, clamped (b >= 0)
  return a < std::numeric_limits<TimeNs>::min() + b ? std::numeric_limits<TimeNs>::min() : a - b;
}

RollupLevel* FindLevel(std::vector<RollupLevel>& levels, TimeNs step) {
  for (RollupLevel& l : levels) {
    if (l.step_ns == step) return &l;
  }
  return nullptr;
}

RollupLevel* FindOrAddLevel(std::vector<RollupLevel>& levels, TimeNs step) {
  if (RollupLevel* l = FindLevel(levels, step)) return l;
  auto it = std::lower_bound(levels.begin(), levels.end(), step,
                             [](const RollupLevel& l, TimeNs s) { return l.step_ns < s; });
  it = levels.insert(it, RollupLevel{});
  it->step_ns = step;
  return &*it;
}

// Replaces buckets of `dst` with equal start and inserts the others (both sorted by start).
void Upsert(RollupLevel* dst, const std::vector<RollupBucket>& in) {
  if (in.empty()) return;
  auto& d = dst->buckets;
  if (d.empty() || d.back().start_ns < in.front().start_ns) {
    d.insert(d.end(), in.begin(), in.end());
    return;
  }
  std::vector<RollupBucket> out;
  out.reserve(d.size() + in.size());
  size_t i = 0, j = 0;
  while (i < d.size() || j < in.size()) {
    if (j == in.size() || (i < d.size() && d[i].start_ns < in[j].start_ns)) {
      out.push_back(d[i++]);
    } else {
      if (i < d.size() && d[i].start_ns == in[j].start_ns) ++i;
      out.push_back(in[j++]);
    }
  }
  d.swap(out);
}

void Trim(RollupLevel* l) {
  auto& b = l->buckets;
  auto it = std::lower_bound(b.begin(), b.end(), l->kept_from,
                             [](const RollupBucket& x, TimeNs t) { return x.start_ns < t; });
  b.erase(b.begin(), it);
}

}  // namespace

const RetentionRule* SeriesStore::Impl::RuleFor(const Series& s) const {
  if (opts.retention.empty()) return nullptr;
  const std::string name = s.twin + "/" + s.signal;
  for (const RetentionRule& r : opts.retention) {
    if (fnmatch(r.pattern.c_str(), name.c_str(), 0) == 0) return &r;
  }
  return nullptr;
}

Status SeriesStore::Impl::LoadRollups() {
  auto names = env->ListDir(opts.dir);
  if (!names.ok()) {
    // A missing directory (fresh store) is handled by the rest of recovery.
    return names.status().code() == StatusCode::kNotFound ? Status::Ok() : names.status();
  }
  std::vector<uint64_t> seqs;
  for (const std::string& n : *names) {
    uint64_t seq;
    if (rollupfile::ParseFileName(n, &seq)) seqs.push_back(seq);
    if (n.starts_with("rollups-") && n.ends_with(".rlp.tmp") && !opts.read_only) {
      (void)env->RemoveFile(opts.dir + "/" + n);  // an interrupted write
    }
  }
  std::sort(seqs.begin(), seqs.end());
  struct Loaded {
    uint64_t seq, bytes;
    bool ok;
    rollupfile::Contents c;
  };
  std::vector<Loaded> files;
  size_t base = 0;  // newest intact full file: older files are superseded
  for (uint64_t seq : seqs) {
    next_rollup_seq = std::max(next_rollup_seq, seq + 1);
    const std::string name = rollupfile::FileName(seq);
    auto data = env->ReadFile(opts.dir + "/" + name);
    if (!data.ok()) return data.status();
    Loaded l{seq, data->size(), false, {}};
    std::vector<std::string> damaged;
    Status st = rollupfile::Parse(*data, &l.c, &damaged);
    ++recovery.rollup_files;
    if (!st.ok()) {
      ++recovery.damaged_rollups;
      Warn(name + ": " + st.message() + "; not loaded (file left on disk)");
    } else {
      l.ok = true;
      for (const std::string& d : damaged) {
        ++recovery.damaged_rollups;
        Warn(name + ": " + d + "; skipped");
      }
      if (l.c.full) base = files.size();
    }
    files.push_back(std::move(l));
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const Loaded& l = files[i];
    if (i < base) {
      if (!opts.read_only) (void)env->RemoveFile(opts.dir + "/" + rollupfile::FileName(l.seq));
      continue;
    }
    rollup_files[l.seq] = l.bytes;
    rollup_file_count.store(rollup_files.size(), std::memory_order_relaxed);
    rollup_file_bytes.fetch_add(l.bytes, std::memory_order_relaxed);
    if (!l.ok) continue;
    if (!l.c.full) ++rollup_deltas;
    for (const rollupfile::SeriesRollups& sr : l.c.series) {
      Series* s = FindOrCreate(sr.twin, sr.signal);
      s->raw_horizon = std::max(s->raw_horizon, sr.raw_horizon);
      for (const RollupLevel& in : sr.levels) {
        RollupLevel* dst = FindOrAddLevel(s->rollups, in.step_ns);
        dst->kept_from = std::max(dst->kept_from, in.kept_from);
        Upsert(dst, in.buckets);
        Trim(dst);
      }
    }
  }
  return Status::Ok();
}

Status SeriesStore::Impl::WriteFileDurably(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  auto f = env->NewWritableFile(tmp);  // truncates a stale .tmp a failed write left behind
  if (!f.ok()) return f.status();
  Status st = (*f)->Append(bytes);
  if (st.ok()) st = (*f)->Sync();
  Status cst = (*f)->Close();
  if (st.ok()) st = cst;
  if (st.ok()) st = env->RenameFile(tmp, path);
  if (st.ok()) st = env->SyncDir(opts.dir);
  if (!st.ok()) (void)env->RemoveFile(tmp);
  return st;
}

Status SeriesStore::Impl::WriteRollupFile(rollupfile::Contents* c) {
  c->seq = next_rollup_seq++;
  const std::string bytes = rollupfile::Build(*c);
  const std::string path = opts.dir + "/" + rollupfile::FileName(c->seq);
  DOPPEL_RETURN_IF_ERROR(WriteFileDurably(path, bytes));
  rollup_files[c->seq] = bytes.size();
  rollup_file_count.store(rollup_files.size(), std::memory_order_relaxed);
  rollup_file_bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
  return Status::Ok();
}

Status SeriesStore::Impl::RewriteSegment(uint64_t seq) {
  const std::string name = segment::FileName(seq);
  const std::string path = opts.dir + "/" + name;
  auto data = env->ReadFile(path);
  if (!data.ok()) return data.status();
  segment::Contents c;
  if (!segment::Parse(*data, &c).ok()) return Status::Ok();  // damaged: left alone (Open warned)
  // Its heads are the live ones if no intact segment is newer (a newer corrupt one does not count:
  // Open loads the heads of the newest intact segment).
  const bool newest = NewestIntactSegment() == seq;
  segment::Contents out;
  out.seq = c.seq;
  out.wal_covered = c.wal_covered;
  out.next_chunk_seq = c.next_chunk_seq;
  std::vector<std::vector<std::string_view>> blocks;
  size_t removed = 0;
  bool has_sealed = false;
  std::vector<Sample> tmp;
  for (const segment::SeriesEntry& se : c.series) {
    TimeNs horizon = INT64_MIN;
    if (const Series* s = Find(se.twin, se.signal)) {
      std::shared_lock lk(s->mu);
      horizon = s->raw_horizon;
    }
    segment::SeriesEntry ne{se.twin, se.signal, {}};
    std::vector<std::string_view> nb;
    for (const segment::ChunkEntry& e : se.chunks) {
      if (e.kind == chunkfmt::kChunkKindHead && !newest) {
        ++removed;  // superseded snapshot
        continue;
      }
      std::string_view bytes;
      Status st = segment::ReadChunk(*data, e, &bytes);
      if (st.ok() && e.kind == chunkfmt::kChunkKindSealed) {
        tmp.clear();
        st = DecodeChunk(bytes, &tmp);
        if (st.ok() && tmp.back().ts_ns <= horizon) {
          ++removed;
          continue;
        }
      }
      if (!st.ok()) {
        // Keep damaged bytes for inspection: do not rewrite this file.
        Warn(name + ": not rewritten by retention: chunk of " + se.twin + "/" + se.signal + ": " +
             st.message());
        return Status::Ok();
      }
      has_sealed = has_sealed || e.kind == chunkfmt::kChunkKindSealed;
      ne.chunks.push_back({e.kind, e.chunk_seq, 0, 0});
      nb.push_back(bytes);
    }
    if (!ne.chunks.empty()) {
      out.series.push_back(std::move(ne));
      blocks.push_back(std::move(nb));
    }
  }
  if (removed == 0) return Status::Ok();
  const uint64_t old_bytes = data->size();
  if (!has_sealed && !newest) {
    DOPPEL_RETURN_IF_ERROR(env->RemoveFile(path));
    DOPPEL_RETURN_IF_ERROR(env->SyncDir(opts.dir));
    segment_bytes.fetch_sub(std::min(old_bytes, segment_bytes.load()), std::memory_order_relaxed);
    chunk_segments.erase(seq);
    return Status::Ok();
  }
  const std::string bytes = segment::Build(&out, blocks);
  DOPPEL_RETURN_IF_ERROR(WriteFileDurably(path, bytes));  // atomically replaces the old file
  segment_bytes.fetch_sub(std::min(old_bytes, segment_bytes.load()), std::memory_order_relaxed);
  segment_bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
  chunk_segments[seq] = {bytes.size(), has_sealed};
  return Status::Ok();
}

Status SeriesStore::Impl::EnforceRetentionLocked(TimeNs now_ns) {
  struct Plan {
    Series* s;
    TimeNs horizon;                  // new raw horizon
    std::vector<uint64_t> drop;      // chunk seqs, sorted
    uint64_t rolled = 0;             // distinct samples rolled up
    uint64_t head_rolled = 0;        // of them in the head
    std::vector<RollupLevel> delta;  // changed buckets and kept_from per level
  };
  struct Trims {
    Series* s;
    std::vector<std::pair<TimeNs, TimeNs>> kept_from;  // (step, kept_from)
  };
  std::vector<Plan> plans;
  std::vector<Trims> trims;
  std::vector<Series*> all;
  {
    std::shared_lock ilk(index_mu);
    for (auto& [k, sp] : index) all.push_back(sp.get());
  }
  // 1. Plan under shared locks (appends continue).
  for (Series* s : all) {
    const RetentionRule* rule = RuleFor(*s);
    if (rule == nullptr) continue;
    std::shared_lock lk(s->mu);
    Trims t{s, {}};
    for (const RollupRule& u : rule->rollups) {
      const RollupLevel* l = nullptr;
      for (const RollupLevel& x : s->rollups) {
        if (x.step_ns == u.step_ns) l = &x;
      }
      TimeNs kept = l ? l->kept_from : INT64_MIN;
      if (u.retention_ns > 0) kept = std::max(kept, AlignDown(SatSub(now_ns, u.retention_ns), u.step_ns));
      t.kept_from.push_back({u.step_ns, kept});
    }
    if (!t.kept_from.empty()) trims.push_back(t);
    if (rule->raw_retention_ns <= 0) continue;
    const TimeNs cutoff = SatSub(now_ns, rule->raw_retention_ns);
    Plan p{s, s->raw_horizon, {}, 0, 0, {}};
    for (const Chunk& c : s->chunks) {
      if (c.summary.max_ts() < cutoff) {
        p.drop.push_back(c.seq);
        p.horizon = std::max(p.horizon, c.summary.max_ts());
      }
    }
    if (p.drop.empty()) continue;
    std::sort(p.drop.begin(), p.drop.end());
    // Everything of the series in (old horizon, new horizon], from every source (overlapping
    // kept chunks and the head included), merged with last write wins.
    const TimeNs from = s->raw_horizon == INT64_MIN ? INT64_MIN : s->raw_horizon + 1;
    View v = TakeView(*s, from, p.horizon);
    std::vector<Sample> rolled;
    DOPPEL_RETURN_IF_ERROR(Materialize(v, &rolled));
    p.rolled = rolled.size();
    p.head_rolled = v.head.size();
    for (size_t i = 0; i < rule->rollups.size(); ++i) {
      RollupLevel d;
      d.step_ns = rule->rollups[i].step_ns;
      d.kept_from = t.kept_from[i].second;
      const RollupLevel* l = nullptr;
      for (const RollupLevel& x : s->rollups) {
        if (x.step_ns == d.step_ns) l = &x;
      }
      if (!rolled.empty() && l && !l->buckets.empty() &&
          l->buckets.back().start_ns == AlignDown(rolled.front().ts_ns, d.step_ns)) {
        d.buckets.push_back(l->buckets.back());  // the boundary bucket continues
      }
      AddToLevel(rolled, &d);
      p.delta.push_back(std::move(d));
    }
    plans.push_back(std::move(p));
  }
  // 2. Make the rollups durable before any raw data is dropped.
  if (!plans.empty()) {
    rollupfile::Contents c;
    for (const Plan& p : plans) c.series.push_back({p.s->twin, p.s->signal, p.horizon, p.delta});
    DOPPEL_RETURN_IF_ERROR(WriteRollupFile(&c));
    ++rollup_deltas;
  }
  // 3. Apply in memory.
  for (const Trims& t : trims) {
    std::unique_lock lk(t.s->mu);
    for (const auto& [step, kept] : t.kept_from) {
      RollupLevel* l = FindLevel(t.s->rollups, step);
      if (l == nullptr) continue;
      l->kept_from = std::max(l->kept_from, kept);
      Trim(l);
    }
  }
  for (Plan& p : plans) {
    Series* s = p.s;
    std::unique_lock lk(s->mu);
    uint64_t bytes = 0, n = 0;
    std::vector<Chunk> kept;
    for (Chunk& c : s->chunks) {
      if (std::binary_search(p.drop.begin(), p.drop.end(), c.seq)) {
        bytes += c.data->size();
        ++n;
        if (c.persisted) dirty_segments.insert(c.segment);
      } else {
        kept.push_back(std::move(c));
      }
    }
    s->chunks.swap(kept);
    s->chunks_max_ts = INT64_MIN;
    for (const Chunk& c : s->chunks) s->chunks_max_ts = std::max(s->chunks_max_ts, c.summary.max_ts());
    chunks.fetch_sub(std::min<uint64_t>(n, chunks.load()), std::memory_order_relaxed);
    chunk_bytes.fetch_sub(std::min<uint64_t>(bytes, chunk_bytes.load()), std::memory_order_relaxed);
    dropped_chunks.fetch_add(n, std::memory_order_relaxed);
    uint64_t gone = p.rolled;
    // Head samples at or before the new horizon were rolled up (or, if they arrived after the
    // plan, expire now, as they would on arrival).
    auto& h = s->head;
    auto it = std::upper_bound(h.begin(), h.end(), p.horizon,
                               [](TimeNs t, const Sample& x) { return t < x.ts_ns; });
    const uint64_t in_head = static_cast<uint64_t>(it - h.begin());
    h.erase(h.begin(), it);
    if (in_head > p.head_rolled) {
      expired_readings.fetch_add(in_head - p.head_rolled, std::memory_order_relaxed);
      gone += in_head - p.head_rolled;
    }
    gone = std::min<uint64_t>(s->samples, gone);
    s->samples -= gone;
    samples.fetch_sub(std::min<uint64_t>(gone, samples.load()), std::memory_order_relaxed);
    s->raw_horizon = p.horizon;
    for (RollupLevel& d : p.delta) {
      RollupLevel* l = FindOrAddLevel(s->rollups, d.step_ns);
      l->kept_from = std::max(l->kept_from, d.kept_from);
      Upsert(l, d.buckets);
      Trim(l);
    }
  }
  // 4. Compact the rollup files now and then: one full file replaces the deltas.
  Status first;
  if (rollup_deltas >= kFullEveryDeltas) {
    rollupfile::Contents c;
    c.full = true;
    for (Series* s : all) {
      std::shared_lock lk(s->mu);
      if (s->raw_horizon == INT64_MIN && s->rollups.empty()) continue;
      c.series.push_back({s->twin, s->signal, s->raw_horizon, s->rollups});
    }
    Status st = WriteRollupFile(&c);
    if (st.ok()) {
      rollup_deltas = 0;
      for (auto it = rollup_files.begin(); it != rollup_files.end() && it->first < c.seq;) {
        if (!env->RemoveFile(opts.dir + "/" + rollupfile::FileName(it->first)).ok()) break;
        rollup_file_bytes.fetch_sub(std::min(it->second, rollup_file_bytes.load()),
                                    std::memory_order_relaxed);
        it = rollup_files.erase(it);
      }
      rollup_file_count.store(rollup_files.size(), std::memory_order_relaxed);
      (void)env->SyncDir(opts.dir);
    } else {
      first = st;
    }
  }
  // 5. Reclaim the space of dropped chunks.
  for (auto it = dirty_segments.begin(); it != dirty_segments.end();) {
    Status st = chunk_segments.count(*it) ? RewriteSegment(*it) : Status::Ok();
    if (!st.ok()) {
      if (first.ok()) first = st;
      ++it;  // retried next time
    } else {
      it = dirty_segments.erase(it);
    }
  }
  return first;
}

Status SeriesStore::EnforceRetention(TimeNs now_ns) {
  if (impl_->opts.read_only) return FailedPrecondition("store opened read-only");
  std::lock_guard ck(impl_->checkpoint_mu);
  return impl_->EnforceRetentionLocked(now_ns);
}

TimeNs SeriesStore::RawHorizon(const std::string& twin, const std::string& signal) const {
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return INT64_MIN;
  std::shared_lock lk(s->mu);
  return s->raw_horizon;
}

Result<std::vector<AggregatePoint>> SeriesStore::Rollups(const std::string& twin, const std::string& signal,
                                                         TimeNs step_ns, TimeNs from_ns, TimeNs to_ns) const {
  if (from_ns > to_ns) return InvalidArgument("from_ns is after to_ns");
  std::vector<AggregatePoint> out;
  const Series* s = impl_->Find(twin, signal);
  if (s == nullptr) return out;
  std::shared_lock lk(s->mu);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const RollupLevel& l : s->rollups) {
    if (l.step_ns != step_ns) continue;
    auto it = std::lower_bound(l.buckets.begin(), l.buckets.end(), from_ns,
                               [](const RollupBucket& b, TimeNs t) { return b.start_ns < t; });
    for (; it != l.buckets.end() && it->start_ns <= to_ns; ++it) {
      AggregatePoint p;
      p.start_ns = it->start_ns;
      p.count = it->count;
      p.min = it->value_count ? it->min : nan;
      p.max = it->value_count ? it->max : nan;
      p.sum = it->sum;
      p.avg = it->value_count ? it->sum / static_cast<double>(it->value_count) : nan;
      p.last = it->last;
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace doppel::store
