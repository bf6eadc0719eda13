// RulBand (cross-validated residual quantiles) and the `analytics.rul` config section.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "doppel/analytics/csv.h"
#include "doppel/engine/rul_monitor.h"

namespace doppel::engine {

namespace {

// Linear-interpolated quantile of sorted values (q in [0, 1]).
double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t i = static_cast<size_t>(std::floor(pos));
  size_t j = std::min(i + 1, sorted.size() - 1);
  double f = pos - static_cast<double>(i);
  return sorted[i] + f * (sorted[j] - sorted[i]);
}

}  // namespace

void RulBand::Apply(double rul, double* p5, double* p95) const {
  double lo = 0, hi = 0;
  if (!q_lo.empty() && bin_width > 0) {
    size_t bin = static_cast<size_t>(std::max(0.0, std::floor(rul / bin_width)));
    bin = std::min(bin, q_lo.size() - 1);
    lo = q_lo[bin];
    hi = q_hi[bin];
  }
  *p5 = std::min(std::max(0.0, rul + lo), rul);
  *p95 = std::max(rul + hi, rul);
}

std::string RulBand::ToJson() const {
  nlohmann::json j;
  j["format"] = "doppel-rul-band-v1";
  j["bin_width"] = bin_width;
  j["q05"] = q_lo;
  j["q95"] = q_hi;
  j["counts"] = counts;
  j["points"] = points;
  j["folds"] = folds;
  return j.dump(1);
}

Result<RulBand> RulBand::FromJson(const std::string& text, const std::string& what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "doppel-rul-band-v1")
    return InvalidArgument(what + ": not a doppel RUL band (format doppel-rul-band-v1)");
  RulBand b;
  try {
    b.bin_width = j.at("bin_width").get<double>();
    b.q_lo = j.at("q05").get<std::vector<double>>();
    b.q_hi = j.at("q95").get<std::vector<double>>();
    b.counts = j.value("counts", std::vector<size_t>{});
    b.points = j.value("points", size_t{0});
    b.folds = j.value("folds", 0);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(what + ": " + e.what());
  }
  if (!(b.bin_width > 0 && std::isfinite(b.bin_width)))
    return InvalidArgument(what + ": bin_width must be > 0");
  if (b.q_lo.empty() || b.q_lo.size() != b.q_hi.size())
    return InvalidArgument(what + ": q05 and q95 must be non-empty and of equal length");
  for (size_t i = 0; i < b.q_lo.size(); ++i)
    if (!std::isfinite(b.q_lo[i]) || !std::isfinite(b.q_hi[i]) || b.q_lo[i] > b.q_hi[i])
      return InvalidArgument(what + ": bin " + std::to_string(i) + ": q05 must be <= q95, both finite");
  return b;
}

Result<RulBand> RulBand::Load(const std::string& path) {
  auto text = analytics::ReadTextFile(path);
  if (!text.ok()) return text.status();
  return FromJson(*text, path);
}

Status RulBand::Save(const std::string& path) const {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return IOError(path + ": cannot create");
  std::string s = ToJson();
  bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return IOError(path + ": write failed");
  return Status::Ok();
}

Status RulBandOptions::Validate() const {
  if (folds < 2 || folds > 20) return InvalidArgument("RulBandOptions: folds must be in [2, 20]");
  if (min_cycles < 1) return InvalidArgument("RulBandOptions: min_cycles must be >= 1");
  if (!(bin_width > 0 && std::isfinite(bin_width)))
    return InvalidArgument("RulBandOptions: bin_width must be > 0");
  if (min_bin_points < 1) return InvalidArgument("RulBandOptions: min_bin_points must be >= 1");
  return train.Validate();
}

Result<RulBand> CalibrateRulBand(const std::vector<analytics::EngineCycle>& train,
                                 const RulBandOptions& opt) {
  DOPPEL_RETURN_IF_ERROR(opt.Validate());
  std::map<int, int> last;  // unit -> last cycle (the failure)
  for (const auto& r : train) last[r.unit] = std::max(last[r.unit], r.cycle);
  if (last.size() < static_cast<size_t>(opt.folds))
    return InvalidArgument("CalibrateRulBand: " + std::to_string(last.size()) + " training units for " +
                           std::to_string(opt.folds) + " folds");
  std::vector<int> units;
  for (const auto& [u, c] : last) units.push_back(u);
  std::mt19937 rng(static_cast<uint32_t>(opt.train.seed));
  std::shuffle(units.begin(), units.end(), rng);
  std::map<int, int> fold_of;
  for (size_t i = 0; i < units.size(); ++i)
    fold_of[units[i]] = static_cast<int>(i % static_cast<size_t>(opt.folds));

  const double cap = opt.train.cap;
  const size_t bins = static_cast<size_t>(std::ceil(cap / opt.bin_width)) + 1;
  std::vector<std::vector<double>> residuals(bins);
  for (int f = 0; f < opt.folds; ++f) {
    std::vector<analytics::EngineCycle> tr, held;
    for (const auto& r : train) (fold_of[r.unit] == f ? held : tr).push_back(r);
    auto model = analytics::RulModel::Train(tr, opt.train, nullptr);
    if (!model.ok()) return model.status();
    std::vector<int> unit, cycle;
    auto pred = model->PredictEveryCycle(held, &unit, &cycle);
    if (!pred.ok()) return pred.status();
    for (size_t i = 0; i < pred->size(); ++i) {
      if (cycle[i] < opt.min_cycles) continue;
      double p = (*pred)[i];
      double truth = last[unit[i]] - cycle[i];
      size_t bin = std::min(static_cast<size_t>(std::floor(p / opt.bin_width)), bins - 1);
      residuals[bin].push_back(truth - p);
    }
  }
  RulBand band;
  band.bin_width = opt.bin_width;
  band.folds = opt.folds;
  band.q_lo.assign(bins, 0);
  band.q_hi.assign(bins, 0);
  band.counts.assign(bins, 0);
  // Thin bins (typically the lowest and those above the cap) borrow the nearest well-filled one.
  std::vector<bool> filled(bins, false);
  for (size_t b = 0; b < bins; ++b) {
    std::sort(residuals[b].begin(), residuals[b].end());
    band.counts[b] = residuals[b].size();
    band.points += residuals[b].size();
    if (residuals[b].size() >= opt.min_bin_points) {
      band.q_lo[b] = Quantile(residuals[b], 0.05);
      band.q_hi[b] = Quantile(residuals[b], 0.95);
      filled[b] = true;
    }
  }
  if (std::none_of(filled.begin(), filled.end(), [](bool x) { return x; }))
    return InvalidArgument("CalibrateRulBand: no bin has " + std::to_string(opt.min_bin_points) +
                           " held-out residuals (too few training cycles)");
  for (size_t b = 0; b < bins; ++b) {
    if (filled[b]) continue;
    size_t best = bins;
    for (size_t d = 1; d < bins && best == bins; ++d) {
      if (b >= d && filled[b - d])
        best = b - d;
      else if (b + d < bins && filled[b + d])
        best = b + d;
    }
    band.q_lo[b] = band.q_lo[best];
    band.q_hi[b] = band.q_hi[best];
  }
  return band;
}

Status RulMonitorOptions::Validate() const {
  if (model_path.empty()) return InvalidArgument("model: required (a `doppel rul train` model file)");
  if (twins.empty()) return InvalidArgument("twins: must not be empty (a twin-id glob)");
  if (model_id.empty()) return InvalidArgument("model_id: must not be empty (a DTMI)");
  if (!(hours_per_cycle >= 0 && std::isfinite(hours_per_cycle)))
    return InvalidArgument("hours_per_cycle: must be >= 0");
  if (max_history < 31) return InvalidArgument("max_history: must be >= 31");
  return Status::Ok();
}

Result<RulMonitorOptions> ParseRulMonitorConfigYaml(const std::string& yaml_text, const std::string& where) {
  RulMonitorOptions o;
  YAML::Node n;
  try {
    n = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(where + ": " + e.what());
  }
  if (!n.IsMap()) return InvalidArgument(where + ": expected a mapping (docs/analytics.md)");
  static const std::set<std::string> kKeys = {"model",           "band",       "twins", "model_id",
                                              "hours_per_cycle", "max_history"};
  for (const auto& kv : n) {
    // A key that is not a scalar (e.g. "? :", a null complex key) has no name to give.
    if (!kv.first.IsScalar()) return InvalidArgument(where + ": keys must be names");
    std::string k = kv.first.Scalar();
    if (!kKeys.count(k)) return InvalidArgument(where + "." + k + ": unknown key");
    if (!kv.second.IsScalar()) return InvalidArgument(where + "." + k + ": expected a scalar");
  }
  try {
    if (n["model"]) o.model_path = n["model"].as<std::string>();
    if (n["band"]) o.band_path = n["band"].as<std::string>();
    if (n["twins"]) o.twins = n["twins"].as<std::string>();
    if (n["model_id"]) o.model_id = n["model_id"].as<std::string>();
  } catch (const YAML::Exception& e) {
    return InvalidArgument(where + ": " + e.what());
  }
  if (n["hours_per_cycle"] && !YAML::convert<double>::decode(n["hours_per_cycle"], o.hours_per_cycle))
    return InvalidArgument(where + ".hours_per_cycle: expected a number");
  if (n["max_history"]) {
    int64_t v = 0;
    if (!YAML::convert<int64_t>::decode(n["max_history"], v) || v < 0)
      return InvalidArgument(where + ".max_history: expected a non-negative integer");
    o.max_history = static_cast<size_t>(v);
  }
  Status st = o.Validate();
  if (!st.ok()) return InvalidArgument(where + "." + st.message());
  return o;
}

}  // namespace doppel::engine
