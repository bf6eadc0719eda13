// `doppel detect` (streaming anomaly scores for a CSV) and `doppel rul train|predict`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "doppel/analytics/csv.h"
#include "doppel/analytics/multivariate.h"
#include "doppel/analytics/nab_corpus.h"
#include "doppel/analytics/nab_scorer.h"
#include "doppel/analytics/rul.h"
#include "doppel/app/commands.h"

namespace doppel::app {

// Accepts "--key value" and "--key=value" (commands.h).
bool TakeOption(const std::vector<std::string>& args, size_t* i, const std::string& key, std::string* out) {
  const std::string& a = args[*i];
  if (a == "--" + key && *i + 1 < args.size()) {
    *out = args[++*i];
    return true;
  }
  if (a.rfind("--" + key + "=", 0) == 0) {
    *out = a.substr(key.size() + 3);
    return true;
  }
  return false;
}

namespace {

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string x;
  while (std::getline(ss, x, ','))
    if (!x.empty()) out.push_back(x);
  return out;
}

}  // namespace

int RunDetect(const std::vector<std::string>& args) {
  std::string csv, time_col = "timestamp", cols, results, multivariate = "1", explain = "0", pca_train;
  analytics::DetectorConfig config;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    if (TakeOption(args, &i, "csv", &v))
      csv = v;
    else if (TakeOption(args, &i, "time-column", &v))
      time_col = v;
    else if (TakeOption(args, &i, "columns", &v))
      cols = v;
    else if (TakeOption(args, &i, "results", &v))
      results = v;
    else if (TakeOption(args, &i, "multivariate", &v))
      multivariate = v;
    else if (TakeOption(args, &i, "explain", &v))
      explain = v;
    else if (TakeOption(args, &i, "pca-train-rows", &v))
      pca_train = v;
    else if (TakeOption(args, &i, "set", &v)) {
      Status st = config.Set(v);
      if (!st.ok()) return Fail(st);
    } else {
      std::cerr << "usage: doppel detect --csv FILE [--time-column NAME] [--columns A,B] [--results DIR]"
                   " [--set key=value] [--multivariate 0|1] [--pca-train-rows N] [--explain 0|1]\n";
      return 2;
    }
  }
  if (csv.empty()) return Fail(InvalidArgument("detect: --csv FILE is required"));
  auto table = analytics::ReadCsvFile(csv);
  if (!table.ok()) return Fail(table.status());
  std::vector<std::string> columns = SplitComma(cols);
  if (columns.empty()) {
    for (const auto& h : table->header)
      if (h != time_col) columns.push_back(h);
  }
  if (columns.empty()) return Fail(InvalidArgument(csv + ": no value columns"));
  if (multivariate != "0" && multivariate != "1")
    return Fail(InvalidArgument("detect: --multivariate must be 0 or 1"));
  if (explain != "0" && explain != "1") return Fail(InvalidArgument("detect: --explain must be 0 or 1"));
  // One detector per column (the row's univariate score is the maximum over columns); with
  // several columns also a PCA model of the rows (docs/analytics.md, "Multivariate detectors and
  // the fused score"), learned on the rows of the NAB probation (15 %, <= 750) unless
  // --pca-train-rows says otherwise. The row's score is the fused max of both.
  std::vector<double> combined;
  std::vector<analytics::Series> series;
  for (const auto& c : columns) {
    auto s = analytics::ReadSeries(*table, time_col, c, csv);
    if (!s.ok()) return Fail(s.status());
    auto scores = analytics::DetectSeries(*s, config);
    if (combined.empty()) {
      combined = scores;
    } else {
      for (size_t i = 0; i < combined.size(); ++i) combined[i] = std::max(combined[i], scores[i]);
    }
    series.push_back(std::move(*s));
  }
  const std::vector<double> univariate = combined;
  std::vector<double> pca_scores(combined.size(), 0.0);
  if (multivariate == "1" && columns.size() >= 2) {
    analytics::PcaDetectorOptions po;
    po.train_rows = std::max(analytics::ProbationaryLength(combined.size()), columns.size() + 10);
    if (!pca_train.empty()) {
      auto n = analytics::ParseNumber(pca_train);
      if (!n.ok() || *n < 10 || *n > 1e7 || *n != std::floor(*n))
        return Fail(
            InvalidArgument("detect: --pca-train-rows: '" + pca_train + "' is not an integer in 10..1e7"));
      po.train_rows = static_cast<size_t>(*n);
    }
    if (po.train_rows <= columns.size())
      return Fail(InvalidArgument("detect: --pca-train-rows must exceed the number of columns"));
    analytics::PcaDetector pca(columns.size(), po);
    std::vector<double> row(columns.size());
    for (size_t i = 0; i < combined.size(); ++i) {
      for (size_t c = 0; c < columns.size(); ++c) row[c] = series[c].values[i];
      pca_scores[i] = pca.Update(series[0].times[i], row);
      combined[i] = analytics::FuseAnomalyScores({univariate[i], pca_scores[i]});
    }
  }
  int tc = table->ColumnIndex(time_col);
  if (results.empty()) {
    std::printf(explain == "1" ? "timestamp,anomaly_score,univariate_score,pca_score\n"
                               : "timestamp,anomaly_score\n");
    for (size_t i = 0; i < combined.size(); ++i) {
      if (explain == "1") {
        std::printf("%s,%.6f,%.6f,%.6f\n", table->rows[i][tc].c_str(), combined[i], univariate[i],
                    pca_scores[i]);
      } else {
        std::printf("%s,%.6f\n", table->rows[i][tc].c_str(), combined[i]);
      }
    }
    return 0;
  }
  // NAB results layout: DIR/doppel/<category>/doppel_<file>.csv with
  // timestamp,value,anomaly_score (category = the CSV's parent directory name).
  std::filesystem::path in(csv);
  std::string category = in.parent_path().filename().string();
  if (category.empty()) category = "data";
  std::filesystem::path dir = std::filesystem::path(results) / "doppel" / category;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(IOError(dir.string() + ": " + ec.message()));
  std::filesystem::path out = dir / ("doppel_" + in.filename().string());
  std::ofstream f(out);
  if (!f) return Fail(IOError(out.string() + ": cannot create"));
  int vc = table->ColumnIndex(columns[0]);
  f << "timestamp,value,anomaly_score\n";
  char buf[64];
  for (size_t i = 0; i < combined.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%.6f", combined[i]);
    f << table->rows[i][tc] << ',' << table->rows[i][vc] << ',' << buf << '\n';
  }
  f.close();
  if (!f) return Fail(IOError(out.string() + ": write failed"));
  std::printf("wrote %s (%zu rows)\n", out.string().c_str(), combined.size());
  return 0;
}

int RunRul(const std::vector<std::string>& args) {
  const char* usage =
      "usage: doppel rul train --train FILE --out MODEL\n"
      "       doppel rul predict --model MODEL --test FILE [--truth RUL_FILE]\n";
  if (args.empty()) {
    std::cerr << usage;
    return 2;
  }
  std::string train, out, model, test, truth;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string v;
    if (TakeOption(args, &i, "train", &v))
      train = v;
    else if (TakeOption(args, &i, "out", &v))
      out = v;
    else if (TakeOption(args, &i, "model", &v))
      model = v;
    else if (TakeOption(args, &i, "test", &v))
      test = v;
    else if (TakeOption(args, &i, "truth", &v))
      truth = v;
    else {
      std::cerr << usage;
      return 2;
    }
  }
  if (args[0] == "train") {
    if (train.empty() || out.empty())
      return Fail(InvalidArgument("rul train: --train and --out are required"));
    auto data = analytics::ReadCmapss(train);
    if (!data.ok()) return Fail(data.status());
    analytics::RulTrainReport report;
    auto m = analytics::RulModel::Train(*data, analytics::RulTrainOptions{}, &report);
    if (!m.ok()) return Fail(m.status());
    Status st = m->Save(out);
    if (!st.ok()) return Fail(st);
    std::printf("trained on %zu rows: %d operating condition(s), %zu sensor columns, %d rounds; wrote %s\n",
                data->size(), report.conditions, report.kept_columns.size(), report.rounds, out.c_str());
    return 0;
  }
  if (args[0] == "predict") {
    if (model.empty() || test.empty())
      return Fail(InvalidArgument("rul predict: --model and --test are required"));
    auto m = analytics::RulModel::Load(model);
    if (!m.ok()) return Fail(m.status());
    auto data = analytics::ReadCmapss(test);
    if (!data.ok()) return Fail(data.status());
    auto pred = m->PredictLast(*data);
    if (!pred.ok()) return Fail(pred.status());
    std::vector<int> units;
    for (const auto& r : *data)
      if (units.empty() || units.back() != r.unit) units.push_back(r.unit);
    std::sort(units.begin(), units.end());
    units.erase(std::unique(units.begin(), units.end()), units.end());
    std::printf("unit,predicted_rul\n");
    for (size_t i = 0; i < pred->size(); ++i) std::printf("%d,%.2f\n", units[i], (*pred)[i]);
    if (!truth.empty()) {
      auto t = analytics::ReadRulTruth(truth);
      if (!t.ok()) return Fail(t.status());
      if (t->size() != pred->size())
        return Fail(InvalidArgument(truth + ": " + std::to_string(t->size()) + " values for " +
                                    std::to_string(pred->size()) + " units"));
      std::printf("{\"rmse\":%.3f,\"phm08_score\":%.1f}\n", analytics::Rmse(*pred, *t),
                  analytics::Phm08Score(*pred, *t));
    }
    return 0;
  }
  std::cerr << usage;
  return 2;
}

}  // namespace doppel::app
