// `doppel rul band`: the RUL uncertainty band of the live RUL monitor (docs/analytics.md,
// "Live RUL"), from grouped K-fold cross-validation over the training units.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "doppel/analytics/csv.h"
#include "doppel/analytics/rul.h"
#include "doppel/app/commands.h"
#include "doppel/engine/rul_monitor.h"

namespace doppel::app {

int RunRulBand(const std::vector<std::string>& args);

int RunRulBand(const std::vector<std::string>& args) {
  const char* usage =
      "usage: doppel rul band --train FILE --out BAND [--folds K] [--rounds R] [--ensemble E] [--eta X]\n"
      "  Residual quantiles (5th, 95th percentile of true - predicted RUL per 10-cycle bin of predicted\n"
      "  RUL) from grouped K-fold CV over the training units (default K 5, E 1, R and eta as rul train).\n";
  std::string train, out;
  engine::RulBandOptions opt;
  opt.train.ensemble = 1;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* key, std::string* v) {
      std::string k = std::string("--") + key;
      if (a == k && i + 1 < args.size()) {
        *v = args[++i];
        return true;
      }
      if (a.rfind(k + "=", 0) == 0) {
        *v = a.substr(k.size() + 1);
        return true;
      }
      return false;
    };
    std::string v;
    auto number = [&](const char* key, double* x) {
      auto n = analytics::ParseNumber(v);
      if (!n.ok()) {
        std::cerr << "error: rul band: --" << key << ": '" << v << "' is not a number\n";
        return false;
      }
      *x = *n;
      return true;
    };
    double x = 0;
    if (value("train", &v)) {
      train = v;
    } else if (value("out", &v)) {
      out = v;
    } else if (value("folds", &v)) {
      if (!number("folds", &x)) return 2;
      opt.folds = static_cast<int>(x);
    } else if (value("rounds", &v)) {
      if (!number("rounds", &x)) return 2;
      opt.train.rounds = static_cast<int>(x);
    } else if (value("ensemble", &v)) {
      if (!number("ensemble", &x)) return 2;
      opt.train.ensemble = static_cast<int>(x);
    } else if (value("eta", &v)) {
      if (!number("eta", &x)) return 2;
      opt.train.eta = x;
    } else {
      std::cerr << "error: rul band: unknown argument '" << a << "'\n" << usage;
      return 2;
    }
  }
  if (train.empty() || out.empty()) {
    std::cerr << "error: rul band: --train and --out are required\n" << usage;
    return 2;
  }
  if (Status s = opt.Validate(); !s.ok()) return Fail(s);
  auto data = analytics::ReadCmapss(train);
  if (!data.ok()) return Fail(data.status());
  auto band = engine::CalibrateRulBand(*data, opt);
  if (!band.ok()) return Fail(band.status());
  if (Status s = band->Save(out); !s.ok()) return Fail(s);
  std::printf("band from %zu held-out cycles (%d folds); wrote %s\n", band->points, band->folds, out.c_str());
  for (size_t b = 0; b < band->q_lo.size(); ++b)
    std::printf("  predicted RUL %3.0f-%3.0f: %5zu residuals, p5 %+6.1f, p95 %+6.1f\n", b * band->bin_width,
                (b + 1) * band->bin_width, band->counts[b], band->q_lo[b], band->q_hi[b]);
  return 0;
}

}  // namespace doppel::app
