// SeriesStore checkpoints: chunk segments written and loaded (docs/formats/segment.md).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "doppel/store/chunk_format.h"
#include "doppel/store/segment.h"
#include "doppel/store/series_store_impl.h"

namespace doppel::store {

Status SeriesStore::Impl::LoadChunkSegments(std::vector<uint64_t>* covered) {
  auto names = env->ListDir(opts.dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> seqs;
  for (const std::string& n : *names) {
    uint64_t seq;
    if (segment::ParseFileName(n, &seq)) seqs.push_back(seq);
    if (n.starts_with("chunks-") && n.ends_with(".seg.tmp")) {
      if (!opts.read_only) (void)env->RemoveFile(opts.dir + "/" + n);  // an interrupted checkpoint
    }
  }
  std::sort(seqs.begin(), seqs.end());
  // Newest intact segment first for its heads and WAL position; then all sealed chunks.
  std::vector<std::pair<std::string, segment::Contents>> loaded;
  for (uint64_t seq : seqs) {
    next_segment_seq = std::max(next_segment_seq, seq + 1);
    const std::string name = segment::FileName(seq);
    auto data = env->ReadFile(opts.dir + "/" + name);
    if (!data.ok()) return data.status();
    segment::Contents c;
    Status st = segment::Parse(*data, &c);
    ++recovery.chunk_segments;
    segment_bytes.fetch_add(data->size(), std::memory_order_relaxed);
    if (!st.ok()) {
      ++recovery.corrupt_segments;
      Warn(name + ": " + st.message() + "; its chunks are not loaded (file left on disk)");
      chunk_segments[seq] = {data->size(), true, /*corrupt=*/true};
      continue;
    }
    loaded.emplace_back(std::move(*data), std::move(c));
  }
  const size_t newest = loaded.empty() ? 0 : loaded.size() - 1;
  if (!loaded.empty()) *covered = loaded[newest].second.wal_covered;
  std::set<Series*> touched;
  for (size_t li = 0; li < loaded.size(); ++li) {
    const auto& [file, c] = loaded[li];
    const std::string name = segment::FileName(c.seq);
    bool has_sealed = false;
    next_chunk_seq.store(std::max(next_chunk_seq.load(), c.next_chunk_seq));
    for (const segment::SeriesEntry& se : c.series) {
      Series* s = FindOrCreate(se.twin, se.signal);
      touched.insert(s);
      for (const segment::ChunkEntry& e : se.chunks) {
        has_sealed = has_sealed || e.kind == chunkfmt::kChunkKindSealed;
        if (e.kind == chunkfmt::kChunkKindHead && li != newest) continue;  // superseded snapshot
        std::string_view bytes;
        std::vector<Sample> decoded;
        Status st = segment::ReadChunk(file, e, &bytes);
        if (st.ok()) st = DecodeChunk(bytes, &decoded);
        if (!st.ok()) {
          ++recovery.damaged_chunks;
          Warn(name + ": chunk of " + se.twin + "/" + se.signal + " at offset " + std::to_string(e.offset) +
               ": " + st.message() + "; skipped");
          continue;
        }
        ++recovery.chunks;
        if (e.kind == chunkfmt::kChunkKindHead) {
          for (const Sample& x : decoded) {
            if (x.ts_ns > s->raw_horizon) s->head.push_back(x);  // inserted properly below
          }
          continue;
        }
        if (decoded.back().ts_ns <= s->raw_horizon) {
          // Rolled up and dropped by retention; the segment rewrite did not happen (crash).
          dirty_segments.insert(c.seq);
          continue;
        }
        Chunk ch;
        ch.summary = SummarizeSamples(decoded);
        ch.data = std::make_shared<std::string>(bytes);
        ch.seq = e.chunk_seq;
        ch.persisted = true;
        ch.segment = c.seq;
        s->chunks.push_back(std::move(ch));
        next_chunk_seq.store(std::max(next_chunk_seq.load(), e.chunk_seq + 1));
      }
    }
    chunk_segments[c.seq] = {file.size(), has_sealed};
  }
  // Put chunks in seal order, count distinct samples, then re-insert the head snapshots.
  for (Series* s : touched) {
    std::sort(s->chunks.begin(), s->chunks.end(),
              [](const Chunk& a, const Chunk& b) { return a.seq < b.seq; });
    std::vector<Sample> head;
    head.swap(s->head);
    // Samples at or before the raw horizon (in chunks that straddle it) were rolled up.
    const TimeNs from = s->raw_horizon == INT64_MIN ? INT64_MIN : s->raw_horizon + 1;
    View v = TakeView(*s, from, INT64_MAX);
    uint64_t n = 0;
    if (v.disjoint && from == INT64_MIN) {
      for (const Chunk& c : s->chunks) n += c.summary.count;
    } else {
      std::vector<Sample> all;
      if (Materialize(v, &all).ok()) n = all.size();
    }
    for (const Chunk& c : s->chunks) {
      s->chunks_max_ts = std::max(s->chunks_max_ts, c.summary.max_ts());
      chunk_bytes.fetch_add(c.data->size(), std::memory_order_relaxed);
    }
    chunks.fetch_add(s->chunks.size(), std::memory_order_relaxed);
    s->samples = n;
    samples.fetch_add(n, std::memory_order_relaxed);
    for (const Sample& x : head) {
      if (InsertSample(s, x)) samples.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return Status::Ok();
}

Status SeriesStore::Impl::CheckpointLocked(bool force) {
  if (!force && wal_since_checkpoint.load(std::memory_order_relaxed) == 0) return Status::Ok();
  struct Captured {
    Series* s;
    std::vector<Chunk> chunks;  // sealed, not yet persisted
    std::vector<Sample> head;
  };
  std::vector<Captured> caps;
  // Lanes beyond opts.lanes keep the coverage of their segments replayed at Open.
  std::vector<uint64_t> covered(std::max(lanes.size(), retired_lanes_covered.size()));
  for (size_t i = lanes.size(); i < retired_lanes_covered.size(); ++i) covered[i] = retired_lanes_covered[i];
  {
    std::unique_lock ex(append_mu);  // no Append in flight
    for (size_t i = 0; i < lanes.size(); ++i) {
      Lane& lane = *lanes[i];
      std::lock_guard flk(lane.file_mu);
      if (lane.file) {
        Status st = lane.file->Close();
        if (!st.ok())
          spdlog::warn("series store {}: close of {} failed: {}", opts.dir, lane.path, st.ToString());
        lane.file.reset();
      }
      lane.needs_roll = true;  // the next Append starts a segment the checkpoint does not cover
      lane.encoder.Reset();
      lane.series_of_id.clear();
      covered[i] = lane.seq;
    }
    wal_since_checkpoint.store(0, std::memory_order_relaxed);
    std::shared_lock ilk(index_mu);
    for (auto& [key, sp] : index) {
      Series* s = sp.get();
      std::shared_lock slk(s->mu);
      Captured c{s, {}, s->head};
      for (const Chunk& ch : s->chunks) {
        if (!ch.persisted) c.chunks.push_back(ch);
      }
      if (!c.chunks.empty() || !c.head.empty()) caps.push_back(std::move(c));
    }
  }
  segment::Contents contents;
  contents.seq = next_segment_seq++;
  contents.wal_covered = covered;
  contents.next_chunk_seq = next_chunk_seq.load();
  std::vector<std::vector<std::string>> head_bytes(caps.size());
  std::vector<std::vector<std::string_view>> data(caps.size());
  bool has_sealed = false;
  for (size_t i = 0; i < caps.size(); ++i) {
    segment::SeriesEntry se{caps[i].s->twin, caps[i].s->signal, {}};
    for (const Chunk& ch : caps[i].chunks) {
      se.chunks.push_back({chunkfmt::kChunkKindSealed, ch.seq, 0, 0});
      data[i].push_back(*ch.data);
      has_sealed = true;
    }
    std::span<const Sample> head(caps[i].head);
    for (size_t at = 0; at < head.size(); at += chunkfmt::kMaxChunkSamples) {
      head_bytes[i].emplace_back();
      EncodeChunk(head.subspan(at, std::min<size_t>(chunkfmt::kMaxChunkSamples, head.size() - at)),
                  &head_bytes[i].back());
    }
    for (const std::string& b : head_bytes[i]) {
      se.chunks.push_back({chunkfmt::kChunkKindHead, 0, 0, 0});
      data[i].push_back(b);
    }
    contents.series.push_back(std::move(se));
  }
  const std::string bytes = segment::Build(&contents, data);
  const std::string path = opts.dir + "/" + segment::FileName(contents.seq);
  DOPPEL_RETURN_IF_ERROR(WriteFileDurably(path, bytes));
  segment_bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
  chunk_segments[contents.seq] = {bytes.size(), has_sealed};
  for (Captured& c : caps) {
    std::unique_lock slk(c.s->mu);
    size_t j = 0;
    for (Chunk& ch : c.s->chunks) {
      if (j < c.chunks.size() && ch.seq == c.chunks[j].seq)
        ch.persisted = true, ch.segment = contents.seq, ++j;
    }
  }
  // The WAL segments the checkpoint covers, and older segments holding only head snapshots,
  // are now redundant.
  auto names = env->ListDir(opts.dir);
  if (names.ok()) {
    for (const std::string& n : *names) {
      int lane;
      uint64_t seq;
      if (!wal::ParseSegmentFileName(n, &lane, &seq) || lane >= static_cast<int>(covered.size()) ||
          seq > covered[lane]) {
        continue;
      }
      auto size = env->FileSize(opts.dir + "/" + n);
      if (env->RemoveFile(opts.dir + "/" + n).ok()) {
        if (size.ok()) wal_bytes.fetch_sub(std::min(*size, wal_bytes.load()), std::memory_order_relaxed);
        segments.fetch_sub(std::min<uint64_t>(1, segments.load()), std::memory_order_relaxed);
      }
    }
  }
  for (auto it = chunk_segments.begin(); it != chunk_segments.end();) {
    if (it->first != contents.seq && !it->second.has_sealed &&
        env->RemoveFile(opts.dir + "/" + segment::FileName(it->first)).ok()) {
      segment_bytes.fetch_sub(std::min(it->second.bytes, segment_bytes.load()), std::memory_order_relaxed);
      it = chunk_segments.erase(it);
    } else {
      ++it;
    }
  }
  (void)env->SyncDir(opts.dir);
  checkpoints.fetch_add(1, std::memory_order_relaxed);
  if (metrics.checkpoints) metrics.checkpoints->Inc();
  return Status::Ok();
}

}  // namespace doppel::store
