// Operating-condition normalization and grouped cross-validation for the RUL model (rul.h).
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <tuple>

#include "doppel/analytics/rul.h"

namespace doppel::analytics {

namespace {

constexpr size_t kSettings = 3;

std::tuple<long, long, long> ConditionKey(const std::vector<double>& c) {
  return {std::lround(c[0]), std::lround(c[1] * 100), std::lround(c[2])};
}

}  // namespace

Result<ConditionNormalizer> ConditionNormalizer::Fit(const std::vector<EngineCycle>& train) {
  if (train.empty()) return InvalidArgument("condition normalizer: no training rows");
  const size_t width = train[0].columns.size();
  if (width <= kSettings)
    return InvalidArgument("condition normalizer: rows need 3 operational settings and at least one sensor");
  struct Acc {
    size_t n = 0;
    std::vector<double> set, s, ss;
  };
  std::map<std::tuple<long, long, long>, Acc> acc;
  std::vector<double> lo(kSettings, INFINITY), hi(kSettings, -INFINITY);
  for (const auto& r : train) {
    if (r.columns.size() != width)
      return InvalidArgument("condition normalizer: unit " + std::to_string(r.unit) + " cycle " +
                             std::to_string(r.cycle) + " has " + std::to_string(r.columns.size()) +
                             " columns, expected " + std::to_string(width));
    Acc& a = acc[ConditionKey(r.columns)];
    if (a.n == 0) a.set.assign(kSettings, 0), a.s.assign(width, 0), a.ss.assign(width, 0);
    ++a.n;
    for (size_t k = 0; k < kSettings; ++k) {
      a.set[k] += r.columns[k];
      lo[k] = std::min(lo[k], r.columns[k]);
      hi[k] = std::max(hi[k], r.columns[k]);
    }
    for (size_t c = 0; c < width; ++c) {
      a.s[c] += r.columns[c];
      a.ss[c] += r.columns[c] * r.columns[c];
    }
  }
  ConditionNormalizer n;
  for (size_t k = 0; k < kSettings; ++k) n.scale_.push_back(hi[k] - lo[k] > 1e-9 ? hi[k] - lo[k] : 1.0);
  for (const auto& [key, a] : acc) {
    double cnt = static_cast<double>(a.n);
    std::vector<double> center(kSettings), mean(width), sd(width);
    for (size_t k = 0; k < kSettings; ++k) center[k] = a.set[k] / cnt;
    for (size_t c = 0; c < width; ++c) {
      mean[c] = a.s[c] / cnt;
      sd[c] = std::sqrt(std::max(a.ss[c] / cnt - mean[c] * mean[c], 0.0));
    }
    n.center_.push_back(std::move(center));
    n.mean_.push_back(std::move(mean));
    n.sd_.push_back(std::move(sd));
  }
  return n;
}

size_t ConditionNormalizer::Nearest(const std::vector<double>& columns) const {
  size_t best = 0;
  double best_d = INFINITY;
  for (size_t i = 0; i < center_.size(); ++i) {
    double d = 0;
    for (size_t k = 0; k < kSettings; ++k) d += std::pow((columns[k] - center_[i][k]) / scale_[k], 2);
    if (d < best_d) best_d = d, best = i;
  }
  return best;
}

std::vector<EngineCycle> ConditionNormalizer::Apply(const std::vector<EngineCycle>& data) const {
  std::vector<EngineCycle> out = data;
  if (center_.empty()) return out;
  for (auto& r : out) {
    size_t i = Nearest(r.columns);
    for (size_t c = 0; c < r.columns.size() && c < mean_[i].size(); ++c)
      r.columns[c] = sd_[i][c] > 1e-9 ? (r.columns[c] - mean_[i][c]) / sd_[i][c] : 0.0;
  }
  return out;
}

std::string ConditionNormalizer::ToJson() const {
  nlohmann::json j;
  j["center"] = center_;
  j["mean"] = mean_;
  j["sd"] = sd_;
  j["scale"] = scale_;
  return j.dump();
}

Result<ConditionNormalizer> ConditionNormalizer::FromJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("condition normalizer: not a JSON object");
  ConditionNormalizer n;
  try {
    n.center_ = j.at("center").get<std::vector<std::vector<double>>>();
    n.mean_ = j.at("mean").get<std::vector<std::vector<double>>>();
    n.sd_ = j.at("sd").get<std::vector<std::vector<double>>>();
    n.scale_ = j.at("scale").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("condition normalizer: ") + e.what());
  }
  bool ok =
      n.scale_.size() == kSettings && n.mean_.size() == n.center_.size() && n.sd_.size() == n.center_.size();
  for (size_t i = 0; ok && i < n.center_.size(); ++i)
    ok = n.center_[i].size() == kSettings && n.mean_[i].size() == n.sd_[i].size() &&
         n.mean_[i].size() > kSettings;
  if (!ok) return InvalidArgument("condition normalizer: inconsistent array sizes");
  return n;
}

Result<RulCvReport> CrossValidateRul(const std::vector<EngineCycle>& train, const RulTrainOptions& opt,
                                     int folds, int min_cycles) {
  DOPPEL_RETURN_IF_ERROR(opt.Validate());
  std::set<int> unit_set;
  for (const auto& r : train) unit_set.insert(r.unit);
  if (folds < 2 || static_cast<size_t>(folds) > unit_set.size())
    return InvalidArgument("cross-validation: folds must be in [2, units] (" +
                           std::to_string(unit_set.size()) + " units), got " + std::to_string(folds));
  std::vector<int> order(unit_set.begin(), unit_set.end());
  std::mt19937 rng(opt.seed);
  std::shuffle(order.begin(), order.end(), rng);
  std::map<int, int> last;
  for (const auto& r : train) last[r.unit] = std::max(last[r.unit], r.cycle);
  RulCvReport rep;
  rep.folds = folds;
  double se_capped = 0, se_linear = 0, score = 0;
  size_t n_linear = 0;
  for (int f = 0; f < folds; ++f) {
    std::set<int> held;
    for (size_t i = static_cast<size_t>(f); i < order.size(); i += static_cast<size_t>(folds))
      held.insert(order[i]);
    std::vector<EngineCycle> tr, va;
    for (const auto& r : train) (held.count(r.unit) ? va : tr).push_back(r);
    RulTrainReport trep;
    auto model = RulModel::Train(tr, opt, &trep);
    if (!model.ok()) return model.status();
    rep.mean_rounds += trep.rounds / static_cast<double>(folds);
    std::vector<int> unit, cycle;
    auto pred = model->PredictEveryCycle(va, &unit, &cycle);
    if (!pred.ok()) return pred.status();
    for (size_t i = 0; i < pred->size(); ++i) {
      if (cycle[i] < min_cycles) continue;
      double truth = last[unit[i]] - cycle[i];
      double p = (*pred)[i];
      se_capped += std::pow(p - std::min(truth, opt.cap), 2);
      ++rep.points;
      if (truth <= opt.cap) {
        se_linear += (p - truth) * (p - truth);
        score += Phm08Score({p}, {truth});
        ++n_linear;
      }
    }
  }
  if (rep.points == 0) return InvalidArgument("cross-validation: no held-out cycle at or after min_cycles");
  rep.rmse_capped = std::sqrt(se_capped / static_cast<double>(rep.points));
  if (n_linear) {
    rep.rmse_linear = std::sqrt(se_linear / static_cast<double>(n_linear));
    rep.score_linear = score / static_cast<double>(n_linear);
  }
  return rep;
}

}  // namespace doppel::analytics
