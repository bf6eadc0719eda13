// `doppel bench nab` and `doppel bench cmapss` (docs/analytics.md).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "doppel/analytics/nab_corpus.h"
#include "doppel/analytics/nab_scorer.h"
#include "doppel/analytics/rul.h"
#include "doppel/app/commands.h"

namespace doppel::app {

namespace {

struct Published {
  const char* name;
  double standard, low_fp, low_fn;
};
constexpr Published kScoreboard[] = {
    {"ARTime", 74.9, 65.1, 80.4},
    {"Numenta HTM", 70.5, 62.6, 75.2},
    {"CAD OSE", 69.9, 67.0, 73.2},
    {"KNN CAD", 58.0, 43.4, 64.8},
    {"Random Cut Forest", 51.7, 38.4, 59.7},
    {"Twitter ADVec", 47.1, 33.6, 53.5},
    {"Windowed Gaussian", 39.6, 20.9, 47.4},
    {"null", 0, 0, 0},
};

}  // namespace

int RunNabBench(const std::vector<std::string>& args) {
  std::string data = "../shared/data/nab";
  analytics::DetectorConfig config;
  bool per_file = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    if (TakeOption(args, &i, "data", &v)) {
      data = v;
    } else if (TakeOption(args, &i, "set", &v)) {
      Status st = config.Set(v);
      if (!st.ok()) return Fail(st);
    } else if (args[i] == "--per-file") {
      per_file = true;
    } else {
      return Fail(InvalidArgument("bench nab: unknown option '" + args[i] +
                                  "' (--data DIR, --set key=value, --per-file)"));
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  auto corpus = analytics::LoadNabCorpus(data);
  if (!corpus.ok()) return Fail(corpus.status());
  std::vector<analytics::ScoredFile> scored;
  size_t rows = 0;
  for (const auto& f : corpus->files) {
    scored.push_back({f.relative_path, f.series.times, analytics::DetectSeries(f.series, config), f.windows});
    rows += f.series.values.size();
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::map<std::string, analytics::ProfileScore> results;
  for (const auto& p : corpus->profiles) {
    auto s = analytics::ScoreCorpus(scored, p);
    if (!s.ok()) return Fail(s.status());
    results[p.name] = std::move(*s);
  }
  auto get = [&](const char* name) { return results.count(name) ? results[name].normalized : NAN; };
  if (per_file && results.count("standard")) {
    const auto& st = results["standard"];
    std::printf("%-60s %8s %8s %5s\n", "file (standard profile)", "raw", "windows", "fp");
    for (const auto& f : st.files)
      std::printf("%-60s %8.3f %4d/%-3d %5d\n", f.name.c_str(), f.raw, f.detected_windows, f.windows,
                  f.false_positives);
  }
  std::printf("NAB corpus: %zu files, %zu rows, detector time %.1f s (%.2f us/row)\n", scored.size(), rows,
              secs, 1e6 * secs / static_cast<double>(rows));
  for (const auto& [name, s] : results)
    std::printf("  profile %-20s threshold %.4f raw %.2f (null %.1f, perfect %.1f) -> %.1f\n", name.c_str(),
                s.threshold, s.raw, s.null_raw, s.perfect_raw, s.normalized);
  std::printf("\n%-22s %9s %9s %9s\n", "detector", "standard", "low FP", "low FN");
  std::printf("%-22s %9.1f %9.1f %9.1f   <- this run\n", "doppel ensemble", get("standard"),
              get("reward_low_FP_rate"), get("reward_low_FN_rate"));
  for (const auto& p : kScoreboard)
    std::printf("%-22s %9.1f %9.1f %9.1f\n", p.name, p.standard, p.low_fp, p.low_fn);
  std::printf("{\"nab_standard\":%.2f,\"nab_reward_low_fp\":%.2f,\"nab_reward_low_fn\":%.2f}\n",
              get("standard"), get("reward_low_FP_rate"), get("reward_low_FN_rate"));
  return 0;
}

}  // namespace doppel::app

namespace doppel::app {

int RunCmapssBench(const std::vector<std::string>& args) {
  std::string data = "../shared/data/cmapss";
  std::string subset;                      // empty: every FD00x subset present in the data directory
  std::map<std::string, std::string> num;  // option -> text
  const char* kNumeric[] = {"smooth", "eta", "cap", "ensemble", "rounds", "cv"};
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    bool taken = false;
    if (TakeOption(args, &i, "data", &v)) {
      data = v, taken = true;
    } else if (TakeOption(args, &i, "subset", &v)) {
      subset = v, taken = true;
    } else {
      for (const char* k : kNumeric)
        if (TakeOption(args, &i, k, &v)) num[k] = v, taken = true;
    }
    if (!taken)
      return Fail(
          InvalidArgument("bench cmapss: unknown option '" + args[i] +
                          "' (--data DIR, --subset FD00x, --smooth A, --eta E, --cap C, --ensemble N, "
                          "--rounds R (0: early stopping), --cv K (grouped K-fold on training units))"));
  }
  analytics::RulTrainOptions opt;
  int cv_folds = 0;
  auto number = [&](const std::string& key, double lo, double hi, double* out) {
    if (!num.count(key)) return Status::Ok();
    const std::string& text = num[key];
    char* end = nullptr;
    double x = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(x >= lo && x <= hi))
      return InvalidArgument("bench cmapss: --" + key + " '" + text + "': expected a number in [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
    *out = x;
    return Status::Ok();
  };
  double ensemble = opt.ensemble, rounds = opt.rounds, cv = 0;
  for (Status st : {number("smooth", 0.001, 1, &opt.smooth), number("eta", 0.001, 1, &opt.eta),
                    number("cap", 1, 1000, &opt.cap), number("ensemble", 1, 20, &ensemble),
                    number("rounds", 0, 5000, &rounds), number("cv", 2, 20, &cv)})
    if (!st.ok()) return Fail(st);
  opt.ensemble = static_cast<int>(ensemble);
  opt.rounds = static_cast<int>(rounds);
  cv_folds = static_cast<int>(cv);
  std::vector<std::string> subsets;
  for (const char* s : {"FD001", "FD002", "FD003", "FD004"}) {
    std::FILE* f = std::fopen((data + "/train_" + s + ".txt").c_str(), "r");
    if (f) std::fclose(f);
    if ((subset.empty() && f) || subset == s) subsets.push_back(s);
  }
  if (subsets.empty())
    return Fail(InvalidArgument("bench cmapss: no train_FD00x.txt in '" + data + "'" +
                                (subset.empty() ? "" : " for --subset " + subset)));
  std::printf("cap %.0f (piecewise-linear RUL target), smooth %.2f, eta %.3f, %d rounds, %d-seed ensemble\n",
              opt.cap, opt.smooth, opt.eta, opt.rounds, opt.ensemble);
  std::string json;
  std::vector<std::pair<std::string, std::pair<double, double>>> table;
  auto t_all = std::chrono::steady_clock::now();
  for (const std::string& sub : subsets) {
    auto t0 = std::chrono::steady_clock::now();
    auto train = analytics::ReadCmapss(data + "/train_" + sub + ".txt");
    if (!train.ok()) return Fail(train.status());
    auto test = analytics::ReadCmapss(data + "/test_" + sub + ".txt");
    if (!test.ok()) return Fail(test.status());
    auto truth = analytics::ReadRulTruth(data + "/RUL_" + sub + ".txt");
    if (!truth.ok()) return Fail(truth.status());
    if (cv_folds > 0) {
      auto cvr = analytics::CrossValidateRul(*train, opt, cv_folds);
      if (!cvr.ok()) return Fail(cvr.status());
      std::printf(
          "%s grouped %d-fold CV on training units (%zu held-out cycles >= 31): RMSE %.3f vs capped RUL, "
          "RMSE %.3f / PHM08 mean %.3f where true RUL <= cap (%.0f rounds)\n",
          sub.c_str(), cvr->folds, cvr->points, cvr->rmse_capped, cvr->rmse_linear, cvr->score_linear,
          cvr->mean_rounds);
    }
    analytics::RulTrainReport report;
    auto model = analytics::RulModel::Train(*train, opt, &report);
    if (!model.ok()) return Fail(model.status());
    double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto pred = model->PredictLast(*test);
    if (!pred.ok()) return Fail(pred.status());
    if (pred->size() != truth->size())
      return Fail(InvalidArgument("bench cmapss " + sub + ": " + std::to_string(pred->size()) +
                                  " test units, " + std::to_string(truth->size()) + " truth values"));
    double rmse = analytics::Rmse(*pred, *truth);
    double score = analytics::Phm08Score(*pred, *truth);
    std::printf(
        "%s: %zu train rows, %d operating condition(s), %zu kept sensor columns, %d rounds; %zu test units; "
        "%.1f s (training, plus CV when asked)\n",
        sub.c_str(), train->size(), report.conditions, report.kept_columns.size(), report.rounds,
        pred->size(), train_s);
    table.push_back({sub, {rmse, score}});
    char buf[128];
    std::snprintf(buf, sizeof buf, "%s\"rmse_%s\":%.3f,\"score_%s\":%.1f", json.empty() ? "" : ",",
                  sub.c_str(), rmse, sub.c_str(), score);
    json += buf;
  }
  double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  std::printf("\n%-30s %8s %10s\n", "model (test set, true RUL)", "RMSE", "PHM08");
  for (const auto& [sub, v] : table)
    std::printf("%-30s %8.2f %10.1f   <- this run\n", ("doppel windowed GBT " + sub).c_str(), v.first,
                v.second);
  std::printf("%-30s %8.1f\n%-30s %8.1f\n%-30s %8.1f\n", "FD001 CNN (published)", 18.4,
              "FD001 LSTM (published)", 16.1, "FD001 deep CNN (published)", 12.6);
  std::printf("total %.1f s\n{%s}\n", total_s, json.c_str());
  return 0;
}

}  // namespace doppel::app
