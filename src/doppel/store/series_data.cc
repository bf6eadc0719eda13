#include "doppel/store/series_data.h"

#include <algorithm>
#include <cmath>

#include "doppel/store/chunk_format.h"

namespace doppel::store {
namespace {

bool TsLess(const Sample& a, TimeNs t) { return a.ts_ns < t; }

// True when a sealed chunk holds timestamp t (decodes the chunks whose range covers t).
bool InChunks(const Series& s, TimeNs t) {
  std::vector<Sample> tmp;
  for (const Chunk& c : s.chunks) {
    if (t < c.summary.min_ts() || t > c.summary.max_ts()) continue;
    tmp.clear();
    if (!DecodeChunk(*c.data, &tmp).ok()) continue;
    auto it = std::lower_bound(tmp.begin(), tmp.end(), t, TsLess);
    if (it != tmp.end() && it->ts_ns == t) return true;
  }
  return false;
}

// Samples of chunk c within [from, to].
Status DecodeRange(const Chunk& c, TimeNs from, TimeNs to, std::vector<Sample>* out) {
  std::vector<Sample> tmp;
  DOPPEL_RETURN_IF_ERROR(DecodeChunk(*c.data, &tmp));
  auto lo = std::lower_bound(tmp.begin(), tmp.end(), from, TsLess);
  auto hi = std::upper_bound(lo, tmp.end(), to, [](TimeNs t, const Sample& a) { return t < a.ts_ns; });
  out->insert(out->end(), lo, hi);
  return Status::Ok();
}

bool Inside(const Chunk& c, const View& v) {
  return c.summary.min_ts() >= v.from && c.summary.max_ts() <= v.to;
}

// M4 state of one bucket, fed in time order with samples or whole-chunk summaries; the same
// choices as DownsampleM4 (earliest on ties, NaN only when the bucket has nothing else).
struct M4Acc {
  bool any = false, have = false;
  Sample first, last, min, max;
  void Add(const Sample& x) {
    if (!any) {
      first = min = max = last = x;
      any = true;
      have = !std::isnan(x.value);
      return;
    }
    last = x;
    if (std::isnan(x.value)) return;
    if (!have) {
      min = max = x;
      have = true;
      return;
    }
    if (x.value < min.value) min = x;
    if (x.value > max.value) max = x;
  }
  void Add(const ChunkSummary& s) {
    if (!any) {
      first = s.first;
      min = s.min;
      max = s.max;
      last = s.last;
      any = true;
      have = s.value_count > 0;
      return;
    }
    last = s.last;
    if (s.value_count == 0) return;
    if (!have) {
      min = s.min;
      max = s.max;
      have = true;
      return;
    }
    if (s.min.value < min.value) min = s.min;
    if (s.max.value > max.value) max = s.max;
  }
  void Emit(std::vector<Sample>* out) {
    if (!any) return;
    Sample pts[4] = {first, min, max, last};
    std::sort(pts, pts + 4, [](const Sample& a, const Sample& b) { return a.ts_ns < b.ts_ns; });
    for (int i = 0; i < 4; ++i) {
      if (i == 0 || pts[i].ts_ns != pts[i - 1].ts_ns) out->push_back(pts[i]);
    }
    *this = M4Acc{};
  }
};

// One time-ordered source of a disjoint view: a whole chunk (summary usable) or decoded samples.
struct Source {
  const Chunk* chunk = nullptr;  // whole chunk inside the range
  std::vector<Sample> samples;   // otherwise
  uint64_t count() const { return chunk ? chunk->summary.count : samples.size(); }
  TimeNs first_ts() const { return chunk ? chunk->summary.min_ts() : samples.front().ts_ns; }
  TimeNs last_ts() const { return chunk ? chunk->summary.max_ts() : samples.back().ts_ns; }
};

Status Sources(const View& v, std::vector<Source>* out) {
  for (const Chunk& c : v.chunks) {
    Source s;
    if (Inside(c, v)) {
      s.chunk = &c;
    } else {
      DOPPEL_RETURN_IF_ERROR(DecodeRange(c, v.from, v.to, &s.samples));
      if (s.samples.empty()) continue;
    }
    out->push_back(std::move(s));
  }
  if (!v.head.empty()) {
    Source s;
    s.samples = v.head;
    out->push_back(std::move(s));
  }
  return Status::Ok();
}

}  // namespace

bool InsertSample(Series* s, const Sample& x) {
  auto& h = s->head;
  auto it = h.end();
  if (!h.empty() && h.back().ts_ns >= x.ts_ns) {
    it = std::lower_bound(h.begin(), h.end(), x.ts_ns, TsLess);
    if (it != h.end() && it->ts_ns == x.ts_ns) {
      *it = x;  // last write wins
      return false;
    }
  }
  const bool fresh = x.ts_ns > s->chunks_max_ts || !InChunks(*s, x.ts_ns);
  if (it == h.end()) {
    h.push_back(x);
  } else {
    h.insert(it, x);
  }
  if (fresh) ++s->samples;
  return fresh;
}

void SealHead(Series* s, uint64_t* next_seq) {
  // Encoded into a buffer reused by this thread, then copied once into a string of exactly
  // that size (chunks stay in memory until retention drops them: no slack capacity).
  thread_local std::string encoded;
  std::span<const Sample> all(s->head);
  for (size_t at = 0; at < all.size(); at += chunkfmt::kMaxChunkSamples) {
    auto part = all.subspan(at, std::min<size_t>(chunkfmt::kMaxChunkSamples, all.size() - at));
    EncodeChunk(part, &encoded);
    Chunk c;
    c.summary = SummarizeSamples(part);
    c.data = std::make_shared<const std::string>(encoded);
    c.seq = (*next_seq)++;
    s->chunks_max_ts = std::max(s->chunks_max_ts, c.summary.max_ts());
    s->chunks.push_back(std::move(c));
  }
  s->head.clear();
}

size_t MaybeSeal(Series* s, size_t max_samples, TimeNs max_span_ns, uint64_t* next_seq) {
  const auto& h = s->head;
  if (h.empty()) return 0;
  const uint64_t span = static_cast<uint64_t>(h.back().ts_ns) - static_cast<uint64_t>(h.front().ts_ns);
  if (h.size() < max_samples && span < static_cast<uint64_t>(max_span_ns)) return 0;
  const size_t before = s->chunks.size();
  SealHead(s, next_seq);
  size_t bytes = 0;
  for (size_t i = before; i < s->chunks.size(); ++i) bytes += s->chunks[i].data->size();
  return bytes;
}

View TakeView(const Series& s, TimeNs from, TimeNs to) {
  View v;
  v.from = from;
  v.to = to;
  TimeNs prev_max = INT64_MIN;
  bool first = true;
  for (const Chunk& c : s.chunks) {
    if (c.summary.max_ts() < from || c.summary.min_ts() > to) continue;
    if (!first && c.summary.min_ts() <= prev_max) v.disjoint = false;
    prev_max = std::max(prev_max, c.summary.max_ts());
    first = false;
    v.chunks.push_back(c);
  }
  auto lo = std::lower_bound(s.head.begin(), s.head.end(), from, TsLess);
  auto hi = std::upper_bound(lo, s.head.end(), to, [](TimeNs t, const Sample& a) { return t < a.ts_ns; });
  v.head.assign(lo, hi);
  if (!first && !v.head.empty() && v.head.front().ts_ns <= prev_max) v.disjoint = false;
  return v;
}

Status Materialize(const View& v, std::vector<Sample>* out) {
  out->clear();
  if (v.disjoint) {
    for (const Chunk& c : v.chunks) DOPPEL_RETURN_IF_ERROR(DecodeRange(c, v.from, v.to, out));
    out->insert(out->end(), v.head.begin(), v.head.end());
    return Status::Ok();
  }
  // Overlapping sources: tag each sample with its source's rank (seal order, head last) and
  // keep, per timestamp, the sample of the highest rank.
  std::vector<std::pair<Sample, size_t>> all;
  std::vector<Sample> tmp;
  for (size_t i = 0; i < v.chunks.size(); ++i) {
    tmp.clear();
    DOPPEL_RETURN_IF_ERROR(DecodeRange(v.chunks[i], v.from, v.to, &tmp));
    for (const Sample& x : tmp) all.push_back({x, i});
  }
  for (const Sample& x : v.head) all.push_back({x, v.chunks.size()});
  std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.first.ts_ns < b.first.ts_ns || (a.first.ts_ns == b.first.ts_ns && a.second < b.second);
  });
  for (size_t i = 0; i < all.size(); ++i) {
    if (i + 1 < all.size() && all[i + 1].first.ts_ns == all[i].first.ts_ns) continue;
    out->push_back(all[i].first);
  }
  return Status::Ok();
}

Status DownsampleView(const View& v, size_t max_points, std::vector<Sample>* out) {
  out->clear();
  std::vector<Source> src;
  if (v.disjoint && max_points >= 4) DOPPEL_RETURN_IF_ERROR(Sources(v, &src));
  uint64_t total = 0;
  for (const Source& s : src) total += s.count();
  if (!v.disjoint || max_points < 4 || total <= max_points) {
    std::vector<Sample> all;
    DOPPEL_RETURN_IF_ERROR(Materialize(v, &all));
    *out = DownsampleM4(all, max_points);
    return Status::Ok();
  }
  using u128 = unsigned __int128;
  const size_t buckets = max_points / 4;
  const uint64_t t0 = static_cast<uint64_t>(src.front().first_ts());
  const u128 width = static_cast<u128>(static_cast<uint64_t>(src.back().last_ts()) - t0) + 1;
  auto bucket_of = [&](TimeNs t) {
    return static_cast<size_t>((static_cast<uint64_t>(t) - t0) * u128{1} * buckets / width);
  };
  M4Acc acc;
  size_t cur = 0;
  auto add_sample = [&](const Sample& x) {
    size_t b = bucket_of(x.ts_ns);
    if (b != cur) acc.Emit(out), cur = b;
    acc.Add(x);
  };
  std::vector<Sample> tmp;
  for (const Source& s : src) {
    if (s.chunk == nullptr) {
      for (const Sample& x : s.samples) add_sample(x);
      continue;
    }
    const size_t b = bucket_of(s.first_ts());
    if (b == bucket_of(s.last_ts())) {
      if (b != cur) acc.Emit(out), cur = b;
      acc.Add(s.chunk->summary);
      continue;
    }
    tmp.clear();
    DOPPEL_RETURN_IF_ERROR(DecodeChunk(*s.chunk->data, &tmp));
    for (const Sample& x : tmp) add_sample(x);
  }
  acc.Emit(out);
  return Status::Ok();
}

Status AggregateView(const View& v, TimeNs step_ns, std::vector<Bucket>* out, TimeNs origin) {
  out->clear();
  if (origin == INT64_MIN) origin = v.from;
  if (step_ns <= 0) return InvalidArgument("step_ns must be positive");
  std::vector<Source> src;
  if (v.disjoint) {
    DOPPEL_RETURN_IF_ERROR(Sources(v, &src));
  } else {
    src.emplace_back();
    DOPPEL_RETURN_IF_ERROR(Materialize(v, &src.back().samples));
  }
  auto index_of = [&](TimeNs t) {
    return (static_cast<uint64_t>(t) - static_cast<uint64_t>(origin)) / static_cast<uint64_t>(step_ns);
  };
  auto bucket = [&](TimeNs t) -> Bucket& {
    const TimeNs start =
        static_cast<TimeNs>(static_cast<uint64_t>(origin) + index_of(t) * static_cast<uint64_t>(step_ns));
    if (out->empty() || out->back().start_ns != start) {
      out->emplace_back();
      out->back().start_ns = start;
    }
    return out->back();
  };
  auto add_values = [](Bucket& b, uint64_t n, uint64_t vn, double mn, double mx, double sum,
                       const Sample& last) {
    if (vn > 0) {
      b.min = b.value_count ? std::min(b.min, mn) : mn;
      b.max = b.value_count ? std::max(b.max, mx) : mx;
      b.sum += sum;
      b.value_count += vn;
    }
    b.count += n;
    b.last = last;
  };
  std::vector<Sample> tmp;
  auto add_sample = [&](const Sample& x) {
    const bool nan = std::isnan(x.value);
    add_values(bucket(x.ts_ns), 1, nan ? 0 : 1, x.value, x.value, nan ? 0 : x.value, x);
  };
  for (const Source& s : src) {
    if (s.chunk == nullptr) {
      for (const Sample& x : s.samples) add_sample(x);
    } else if (index_of(s.first_ts()) == index_of(s.last_ts())) {
      const ChunkSummary& m = s.chunk->summary;
      add_values(bucket(m.min_ts()), m.count, m.value_count, m.min.value, m.max.value, m.sum, m.last);
    } else {
      tmp.clear();
      DOPPEL_RETURN_IF_ERROR(DecodeChunk(*s.chunk->data, &tmp));
      for (const Sample& x : tmp) add_sample(x);
    }
  }
  return Status::Ok();
}

Status LatestInView(const View& v, Sample* out, bool* found) {
  *found = false;
  std::vector<Sample> all;
  if (v.disjoint && !v.head.empty()) {
    *out = v.head.back();
    *found = true;
    return Status::Ok();
  }
  if (v.disjoint) {
    // Sources are time ordered: the newest non-empty chunk answers.
    for (auto c = v.chunks.rbegin(); c != v.chunks.rend(); ++c) {
      if (c->summary.max_ts() <= v.to && c->summary.min_ts() >= v.from) {
        *out = c->summary.last;
        *found = true;
        return Status::Ok();
      }
      all.clear();
      DOPPEL_RETURN_IF_ERROR(DecodeRange(*c, v.from, v.to, &all));
      if (!all.empty()) {
        *out = all.back();
        *found = true;
        return Status::Ok();
      }
    }
    return Status::Ok();
  }
  DOPPEL_RETURN_IF_ERROR(Materialize(v, &all));
  if (!all.empty()) *out = all.back(), *found = true;
  return Status::Ok();
}

}  // namespace doppel::store
