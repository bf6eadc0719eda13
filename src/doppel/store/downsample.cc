#include "doppel/store/downsample.h"

#include <algorithm>
#include <cmath>

namespace doppel::store {
namespace {

// Indices of the first, min, max and last sample of samples[begin, end).
struct Extremes {
  size_t first, min, max, last;
};

Extremes FindExtremes(std::span<const Sample> s, size_t begin, size_t end) {
  Extremes e{begin, begin, begin, end - 1};
  bool have = !std::isnan(s[begin].value);
  for (size_t i = begin + 1; i < end; ++i) {
    double v = s[i].value;
    if (std::isnan(v)) continue;
    if (!have) {
      e.min = e.max = i;
      have = true;
      continue;
    }
    if (v < s[e.min].value) e.min = i;
    if (v > s[e.max].value) e.max = i;
  }
  return e;
}

void EmitSorted(std::span<const Sample> s, std::vector<size_t> idx, std::vector<Sample>* out) {
  std::sort(idx.begin(), idx.end());
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  for (size_t i : idx) out->push_back(s[i]);
}

}  // namespace

std::vector<Sample> DownsampleM4(std::span<const Sample> samples, size_t max_points) {
  const size_t n = samples.size();
  if (max_points == 0 || n <= max_points) return {samples.begin(), samples.end()};
  std::vector<Sample> out;
  if (max_points < 4) {
    Extremes e = FindExtremes(samples, 0, n);
    switch (max_points) {
      case 1: EmitSorted(samples, {e.last}, &out); break;
      case 2: EmitSorted(samples, {e.min, e.max}, &out); break;
      default: EmitSorted(samples, {e.min, e.max, e.last}, &out); break;
    }
    return out;
  }
  const size_t buckets = max_points / 4;
  out.reserve(buckets * 4);
  using u128 = unsigned __int128;
  const uint64_t t0 = static_cast<uint64_t>(samples.front().ts_ns);
  const u128 width = static_cast<u128>(static_cast<uint64_t>(samples.back().ts_ns) - t0) + 1;
  auto bucket_of = [&](size_t i) {
    u128 off = static_cast<uint64_t>(samples[i].ts_ns) - t0;  // wrapping: ts are increasing
    return static_cast<size_t>(off * buckets / width);
  };
  size_t begin = 0;
  while (begin < n) {
    size_t b = bucket_of(begin);
    size_t end = begin + 1;
    while (end < n && bucket_of(end) == b) ++end;
    Extremes e = FindExtremes(samples, begin, end);
    EmitSorted(samples, {e.first, e.min, e.max, e.last}, &out);
    begin = end;
  }
  return out;
}

}  // namespace doppel::store
