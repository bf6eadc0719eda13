#include "doppel/analytics/nab_scorer.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace doppel::analytics {

std::vector<CostProfile> DefaultNabProfiles() {
  return {{"standard", 1.0, 0.11, 1.0},
          {"reward_low_FP_rate", 1.0, 0.22, 1.0},
          {"reward_low_FN_rate", 1.0, 0.11, 2.0}};
}

Result<std::vector<CostProfile>> ParseNabProfiles(const std::string& json_text) {
  auto j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("profiles: not a JSON object");
  std::vector<CostProfile> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& cm = it.value().contains("CostMatrix") ? it.value()["CostMatrix"] : nlohmann::json();
    if (!cm.is_object()) return InvalidArgument("profiles: $." + it.key() + ": no CostMatrix object");
    CostProfile p;
    p.name = it.key();
    for (auto [key, dst] : {std::pair<const char*, double*>{"tpWeight", &p.tp_weight},
                            {"fpWeight", &p.fp_weight},
                            {"fnWeight", &p.fn_weight}}) {
      if (!cm.contains(key) || !cm[key].is_number())
        return InvalidArgument("profiles: $." + it.key() + ".CostMatrix." + key +
                               ": missing or not a number");
      *dst = cm[key].get<double>();
    }
    out.push_back(p);
  }
  // Keep NAB's order: standard first.
  std::stable_sort(out.begin(), out.end(), [](const CostProfile& a, const CostProfile& b) {
    return a.name == "standard" && b.name != "standard";
  });
  return out;
}

double ScaledSigmoid(double x) {
  if (x >= 3.0) return -1.0;
  return 2.0 / (1.0 + std::exp(5.0 * x)) - 1.0;
}

size_t ProbationaryLength(size_t rows, double fraction) {
  double a = std::floor(fraction * static_cast<double>(rows));
  double b = fraction * 5000.0;
  return static_cast<size_t>(std::ceil(std::min(a, b)));
}

Result<FileRows> WeighRows(const ScoredFile& file, const CostProfile& profile, double probation) {
  const size_t n = file.times.size();
  if (file.scores.size() != n)
    return InvalidArgument(file.name + ": " + std::to_string(file.scores.size()) + " scores for " +
                           std::to_string(n) + " rows");
  // Window limits as row indices: first row >= start, last row <= end.
  struct Span {
    size_t left, right;
    bool empty;
  };
  std::vector<Span> spans;
  // Rows need not be strictly ordered (one NAB file has a time step backwards): a window
  // starts at the first row at or after its start and runs while rows stay <= its end.
  for (const auto& w : file.windows) {
    Span s{0, 0, true};
    size_t i = 0;
    while (i < n && file.times[i] < w.start) ++i;
    if (i < n && file.times[i] <= w.end) {
      s.left = s.right = i;
      s.empty = false;
      while (s.right + 1 < n && file.times[s.right + 1] <= w.end) ++s.right;
    }
    spans.push_back(s);
  }
  const double max_tp = ScaledSigmoid(-1.0);
  const size_t probation_rows = ProbationaryLength(n, probation);
  FileRows out;
  out.window_scorable.assign(spans.size(), false);
  out.rows.reserve(n - std::min(n, probation_rows));
  size_t next = 0;  // next window to enter
  int cur = -1;
  long prev_right = -1;
  double prev_width = 0;
  for (size_t i = 0; i < n; ++i) {
    while (cur < 0 && next < spans.size() && (spans[next].empty || spans[next].right < i)) ++next;
    if (cur < 0 && next < spans.size() && spans[next].left == i) cur = static_cast<int>(next++);
    WeightedRow row;
    row.anomaly_score = file.scores[i];
    if (cur >= 0) {
      const Span& s = spans[cur];
      double width = static_cast<double>(s.right - s.left + 1);
      double pos = -(static_cast<double>(s.right) - static_cast<double>(i) + 1.0) / width;
      row.weight = ScaledSigmoid(pos) * profile.tp_weight / max_tp;
      row.window = cur;
    } else {
      double pos = 3.0;
      if (prev_right >= 0 && prev_width > 1)
        pos = std::fabs(static_cast<double>(prev_right) - static_cast<double>(i)) / (prev_width - 1.0);
      row.weight = ScaledSigmoid(pos) * profile.fp_weight;
    }
    if (i >= probation_rows) {
      out.rows.push_back(row);
      if (cur >= 0 && !out.window_scorable[cur]) {
        out.window_scorable[cur] = true;
        ++out.scorable_windows;
      }
    }
    if (cur >= 0 && i == spans[cur].right) {
      prev_right = static_cast<long>(i);
      prev_width = static_cast<double>(spans[cur].right - spans[cur].left + 1);
      cur = -1;
    }
  }
  return out;
}

FileScore ScoreAtThreshold(const std::string& name, const FileRows& rows, const CostProfile& profile,
                           double threshold) {
  FileScore fs;
  fs.name = name;
  fs.windows = rows.scorable_windows;
  std::vector<double> best(rows.window_scorable.size(), -profile.fn_weight);
  std::vector<bool> hit(rows.window_scorable.size(), false);
  double fp = 0;
  for (const auto& r : rows.rows) {
    if (!(r.anomaly_score >= threshold)) continue;
    if (r.window >= 0) {
      best[r.window] = std::max(best[r.window], r.weight);
      hit[r.window] = true;
    } else {
      fp += r.weight;
      ++fs.false_positives;
    }
  }
  fs.raw = fp;
  for (size_t w = 0; w < best.size(); ++w) {
    if (!rows.window_scorable[w]) continue;
    fs.raw += best[w];
    if (hit[w]) ++fs.detected_windows;
  }
  return fs;
}

Result<ProfileScore> ScoreCorpus(const std::vector<ScoredFile>& files, const CostProfile& profile,
                                 double probation) {
  ProfileScore ps;
  ps.profile = profile;
  std::vector<FileRows> all;
  all.reserve(files.size());
  struct Entry {
    double score, weight;
    int window;  // global window id, -1 outside
  };
  std::vector<Entry> entries;
  std::vector<double> window_best;
  int total_windows = 0;
  for (const auto& f : files) {
    auto rows = WeighRows(f, profile, probation);
    if (!rows.ok()) return rows.status();
    int base = static_cast<int>(window_best.size());
    for (const auto& r : rows->rows)
      entries.push_back({r.anomaly_score, r.weight, r.window < 0 ? -1 : base + r.window});
    for (bool s : rows->window_scorable) window_best.push_back(s ? -profile.fn_weight : 0.0);
    total_windows += rows->scorable_windows;
    all.push_back(std::move(*rows));
  }
  ps.null_raw = -profile.fn_weight * total_windows;
  ps.perfect_raw = profile.tp_weight * total_windows;
  // Sweep: highest scores first; after each group of equal scores, the total is the score at
  // threshold = that value. Start above every score: nothing detected.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.score > b.score; });
  double total = ps.null_raw;
  double best_total = total;
  double best_threshold = 1.1;
  if (!entries.empty() && entries.front().score >= best_threshold)
    best_threshold = entries.front().score + 1.0;
  for (size_t i = 0; i < entries.size();) {
    double t = entries[i].score;
    size_t j = i;
    for (; j < entries.size() && entries[j].score == t; ++j) {
      const Entry& e = entries[j];
      if (e.window < 0) {
        total += e.weight;
      } else if (e.weight > window_best[e.window]) {
        total += e.weight - window_best[e.window];
        window_best[e.window] = e.weight;
      }
    }
    if (total > best_total) {
      best_total = total;
      best_threshold = t;
    }
    i = j;
  }
  ps.threshold = best_threshold;
  ps.raw = 0;
  for (size_t k = 0; k < files.size(); ++k) {
    ps.files.push_back(ScoreAtThreshold(files[k].name, all[k], profile, best_threshold));
    ps.raw += ps.files.back().raw;
  }
  double denom = ps.perfect_raw - ps.null_raw;
  ps.normalized = denom > 0 ? 100.0 * (ps.raw - ps.null_raw) / denom : 0.0;
  return ps;
}

}  // namespace doppel::analytics
