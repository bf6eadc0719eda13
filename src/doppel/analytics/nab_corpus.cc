#include "doppel/analytics/nab_corpus.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace doppel::analytics {

Result<std::vector<std::pair<std::string, std::vector<LabelWindow>>>> ParseNabWindows(
    const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("windows: not a JSON object");
  std::vector<std::pair<std::string, std::vector<LabelWindow>>> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_array()) return InvalidArgument("windows: $." + it.key() + ": not an array");
    std::vector<LabelWindow> ws;
    size_t k = 0;
    for (const auto& w : it.value()) {
      std::string where = "windows: $." + it.key() + "[" + std::to_string(k++) + "]";
      if (!w.is_array() || w.size() != 2 || !w[0].is_string() || !w[1].is_string())
        return InvalidArgument(where + ": expected [start, end] strings");
      auto a = ParseTimestamp(w[0].get<std::string>());
      auto b = ParseTimestamp(w[1].get<std::string>());
      if (!a.ok()) return InvalidArgument(where + ": " + a.status().message());
      if (!b.ok()) return InvalidArgument(where + ": " + b.status().message());
      if (*b < *a) return InvalidArgument(where + ": end before start");
      ws.push_back({*a, *b});
    }
    std::sort(ws.begin(), ws.end(),
              [](const LabelWindow& x, const LabelWindow& y) { return x.start < y.start; });
    out.emplace_back(it.key(), std::move(ws));
  }
  return out;
}

Result<NabCorpus> LoadNabCorpus(const std::string& root) {
  namespace fs = std::filesystem;
  NabCorpus corpus;
  auto wtext = ReadTextFile(root + "/labels/combined_windows.json");
  if (!wtext.ok()) return wtext.status();
  auto windows = ParseNabWindows(*wtext);
  if (!windows.ok())
    return InvalidArgument(root + "/labels/combined_windows.json: " + windows.status().message());
  auto ptext = ReadTextFile(root + "/config/profiles.json");
  if (ptext.ok()) {
    auto p = ParseNabProfiles(*ptext);
    if (!p.ok()) return InvalidArgument(root + "/config/profiles.json: " + p.status().message());
    corpus.profiles = std::move(*p);
  } else {
    corpus.profiles = DefaultNabProfiles();
  }
  for (auto& [rel, ws] : *windows) {
    std::string path = root + "/data/" + rel;
    auto table = ReadCsvFile(path);
    if (!table.ok()) return table.status();
    auto series = ReadSeries(*table, "timestamp", "value", path);
    if (!series.ok()) return series.status();
    corpus.files.push_back({rel, std::move(*series), ws});
  }
  if (corpus.files.empty()) return InvalidArgument(root + ": no data files listed in the labels");
  std::sort(corpus.files.begin(), corpus.files.end(),
            [](const NabFile& a, const NabFile& b) { return a.relative_path < b.relative_path; });
  return corpus;
}

std::vector<double> DetectSeries(const Series& series, DetectorConfig config) {
  config.expected_rows = series.values.size();
  if (config.warmup == 0) config.warmup = ProbationaryLength(series.values.size());
  EnsembleDetector d(config);
  std::vector<double> out;
  out.reserve(series.values.size());
  for (size_t i = 0; i < series.values.size(); ++i)
    out.push_back(d.Update(series.times[i], series.values[i]));
  return out;
}

}  // namespace doppel::analytics
