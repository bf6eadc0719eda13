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

// Accepts "--key value" and "--key=value".
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
  std::string subset = "FD001";
  std::string smooth, eta, cap, ensemble;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string v;
    if (TakeOption(args, &i, "data", &v)) {
      data = v;
    } else if (TakeOption(args, &i, "subset", &v)) {
      subset = v;
    } else if (TakeOption(args, &i, "smooth", &v)) {
      smooth = v;
    } else if (TakeOption(args, &i, "eta", &v)) {
      eta = v;
    } else if (TakeOption(args, &i, "cap", &v)) {
      cap = v;
    } else if (TakeOption(args, &i, "ensemble", &v)) {
      ensemble = v;
    } else {
      return Fail(
          InvalidArgument("bench cmapss: unknown option '" + args[i] +
                          "' (--data DIR, --subset FD001, --smooth A, --eta E, --cap C, --ensemble N)"));
    }
  }
  analytics::RulTrainOptions opt;
  auto number = [](const std::string& key, const std::string& text, double lo, double hi, double* out) {
    char* end = nullptr;
    double x = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(x >= lo && x <= hi))
      return InvalidArgument("bench cmapss: --" + key + " '" + text + "': expected a number in [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
    *out = x;
    return Status::Ok();
  };
  double n = 0;
  if (!smooth.empty()) {
    if (Status st = number("smooth", smooth, 0.001, 1, &opt.smooth); !st.ok()) return Fail(st);
  }
  if (!eta.empty()) {
    if (Status st = number("eta", eta, 0.001, 1, &opt.eta); !st.ok()) return Fail(st);
  }
  if (!cap.empty()) {
    if (Status st = number("cap", cap, 1, 1000, &opt.cap); !st.ok()) return Fail(st);
  }
  if (!ensemble.empty()) {
    if (Status st = number("ensemble", ensemble, 1, 20, &n); !st.ok()) return Fail(st);
    opt.ensemble = static_cast<int>(n);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto train = analytics::ReadCmapss(data + "/train_" + subset + ".txt");
  if (!train.ok()) return Fail(train.status());
  auto test = analytics::ReadCmapss(data + "/test_" + subset + ".txt");
  if (!test.ok()) return Fail(test.status());
  auto truth = analytics::ReadRulTruth(data + "/RUL_" + subset + ".txt");
  if (!truth.ok()) return Fail(truth.status());
  analytics::RulTrainReport report;
  auto model = analytics::RulModel::Train(*train, opt, &report);
  if (!model.ok()) return Fail(model.status());
  double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto pred = model->PredictLast(*test);
  if (!pred.ok()) return Fail(pred.status());
  if (pred->size() != truth->size())
    return Fail(InvalidArgument("bench cmapss: " + std::to_string(pred->size()) + " test units, " +
                                std::to_string(truth->size()) + " truth values"));
  double rmse = analytics::Rmse(*pred, *truth);
  double score = analytics::Phm08Score(*pred, *truth);
  std::printf(
      "C-MAPSS %s: %zu train rows, %zu kept sensor columns, %d boosting rounds (validation RMSE %.2f on "
      "held-out training units; smooth %.2f, eta %.3f, cap %.0f), trained in %.1f s\n",
      subset.c_str(), train->size(), report.kept_columns.size(), report.rounds, report.validation_rmse,
      opt.smooth, opt.eta, opt.cap, train_s);
  std::printf("\n%-28s %8s %10s\n", "model", "RMSE", "PHM08");
  std::printf("%-28s %8.2f %10.1f   <- this run (XGBoost, %d-model ensemble)\n", "doppel windowed GBT", rmse,
              score, opt.ensemble);
  std::printf("%-28s %8.1f\n%-28s %8.1f\n%-28s %8.1f\n", "CNN (published)", 18.4, "LSTM (published)", 16.1,
              "deep CNN (published)", 12.6);
  std::printf("{\"rmse_%s\":%.3f,\"score_%s\":%.1f}\n", subset.c_str(), rmse, subset.c_str(), score);
  return 0;
}

}  // namespace doppel::app
