#include "doppel/analytics/rul.h"

#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "doppel/analytics/csv.h"

namespace doppel::analytics {

namespace {

Status XgbError(const std::string& what) { return Internal(what + ": xgboost: " + XGBGetLastError()); }

// Groups rows by unit (ascending), cycles in order.
std::map<int, std::vector<const EngineCycle*>> ByUnit(const std::vector<EngineCycle>& data) {
  std::map<int, std::vector<const EngineCycle*>> units;
  for (const auto& r : data) units[r.unit].push_back(&r);
  for (auto& [u, v] : units)
    std::stable_sort(v.begin(), v.end(),
                     [](const EngineCycle* a, const EngineCycle* b) { return a->cycle < b->cycle; });
  return units;
}

}  // namespace

Result<std::vector<EngineCycle>> ParseCmapss(const std::string& text, const std::string& what) {
  std::vector<EngineCycle> out;
  std::istringstream in(text);
  std::string line;
  size_t lineno = 0;
  size_t width = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::istringstream ls(line);
    std::vector<double> vals;
    std::string tok;
    while (ls >> tok) {
      auto v = ParseNumber(tok);
      if (!v.ok())
        return InvalidArgument(what + ": line " + std::to_string(lineno) + ": " + v.status().message());
      vals.push_back(*v);
    }
    if (vals.empty()) continue;
    if (vals.size() < 3)
      return InvalidArgument(what + ": line " + std::to_string(lineno) + ": too few columns");
    if (width == 0) width = vals.size();
    if (vals.size() != width)
      return InvalidArgument(what + ": line " + std::to_string(lineno) + ": " + std::to_string(vals.size()) +
                             " columns, expected " + std::to_string(width));
    EngineCycle c;
    c.unit = static_cast<int>(vals[0]);
    c.cycle = static_cast<int>(vals[1]);
    c.columns.assign(vals.begin() + 2, vals.end());
    out.push_back(std::move(c));
  }
  if (out.empty()) return InvalidArgument(what + ": no data rows");
  return out;
}

Result<std::vector<EngineCycle>> ReadCmapss(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return ParseCmapss(*text, path);
}

Result<std::vector<double>> ReadRulTruth(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  std::istringstream in(*text);
  std::string tok;
  std::vector<double> out;
  while (in >> tok) {
    auto v = ParseNumber(tok);
    if (!v.ok()) return InvalidArgument(path + ": " + v.status().message());
    out.push_back(*v);
  }
  return out;
}

std::vector<int> InformativeColumns(const std::vector<EngineCycle>& data) {
  std::vector<int> kept;
  if (data.empty()) return kept;
  size_t width = data[0].columns.size();
  for (size_t c = 0; c < width; ++c) {
    std::set<double> distinct;
    double s = 0, ss = 0;
    for (const auto& r : data) {
      if (distinct.size() < 8) distinct.insert(r.columns[c]);
      s += r.columns[c];
      ss += r.columns[c] * r.columns[c];
    }
    double n = static_cast<double>(data.size());
    double mean = s / n;
    double sd = std::sqrt(std::max(ss / n - mean * mean, 0.0));
    // Operational settings in a single-condition fleet are noise around a set point; sensors
    // with a handful of levels carry no trend.
    if (distinct.size() < 8 || sd < 1e-6 * (std::fabs(mean) + 1)) continue;
    if (c < 3) continue;  // operational settings: not degradation signals
    kept.push_back(static_cast<int>(c));
  }
  return kept;
}

FeatureSet BuildFeatures(const std::vector<EngineCycle>& data, const std::vector<int>& kept, bool all_cycles,
                         double smooth) {
  constexpr size_t kWindows[] = {5, 10, 20, 30};
  // Cycles that define a unit's own starting level (one offset feature each).
  constexpr size_t kBaselines[] = {20, 30};
  constexpr int kPerColumn = 1 + std::size(kBaselines) + 2 * std::size(kWindows);
  smooth = std::clamp(smooth, 1e-3, 1.0);
  FeatureSet fs;
  fs.cols = 1 + kept.size() * kPerColumn;
  for (const auto& [unit, v] : ByUnit(data)) {
    // Exponentially smoothed sensors (causal), one series per kept column.
    std::vector<std::vector<double>> sm(kept.size(), std::vector<double>(v.size()));
    for (size_t k = 0; k < kept.size(); ++k)
      for (size_t i = 0; i < v.size(); ++i) {
        double x = v[i]->columns[kept[k]];
        sm[k][i] = i == 0 ? x : sm[k][i - 1] + smooth * (x - sm[k][i - 1]);
      }
    for (size_t i = 0; i < v.size(); ++i) {
      if (!all_cycles && i + 1 != v.size()) continue;
      fs.x.push_back(static_cast<float>(v[i]->cycle));
      for (size_t k = 0; k < kept.size(); ++k) {
        const std::vector<double>& y = sm[k];
        fs.x.push_back(static_cast<float>(y[i]));
        // Offsets from this unit's own early level (raw mean of its first cycles seen so far).
        for (size_t len : kBaselines) {
          size_t nb = std::min(len, i + 1);
          double base = 0;
          for (size_t j = 0; j < nb; ++j) base += v[j]->columns[kept[k]];
          fs.x.push_back(static_cast<float>(y[i] - base / static_cast<double>(nb)));
        }
        for (size_t n : kWindows) {
          size_t start = i + 1 >= n ? i + 1 - n : 0;
          double m = static_cast<double>(i - start + 1);
          double sy = 0, sx = 0, sxy = 0, sxx = 0;
          for (size_t j = start; j <= i; ++j) {
            double xj = static_cast<double>(j - start);
            sy += y[j];
            sx += xj;
            sxy += xj * y[j];
            sxx += xj * xj;
          }
          double mean = sy / m;
          double den = sxx - sx * sx / m;
          double slope = den > 0 ? (sxy - sx * sy / m) / den : 0.0;
          fs.x.push_back(static_cast<float>(mean));
          fs.x.push_back(static_cast<float>(slope));
        }
      }
      fs.unit.push_back(unit);
      fs.cycle.push_back(v[i]->cycle);
      ++fs.rows;
    }
  }
  return fs;
}

RulModel::RulModel() = default;
RulModel::~RulModel() {
  for (void* b : boosters_) XGBoosterFree(b);
}
RulModel::RulModel(RulModel&& o) noexcept
    : boosters_(std::move(o.boosters_)),
      norm_(std::move(o.norm_)),
      kept_(std::move(o.kept_)),
      cap_(o.cap_),
      smooth_(o.smooth_) {
  o.boosters_.clear();
}

namespace {

struct DMatrix {
  DMatrixHandle h = nullptr;
  ~DMatrix() {
    if (h) XGDMatrixFree(h);
  }
};

Status MakeDMatrix(const FeatureSet& fs, const std::vector<float>* labels, DMatrix* out) {
  if (XGDMatrixCreateFromMat(fs.x.data(), fs.rows, fs.cols, NAN, &out->h) != 0) return XgbError("DMatrix");
  if (labels && XGDMatrixSetFloatInfo(out->h, "label", labels->data(), labels->size()) != 0)
    return XgbError("labels");
  return Status::Ok();
}

Status SetParams(BoosterHandle b, int seed, const RulTrainOptions& opt) {
  const std::pair<const char*, std::string> params[] = {
      {"objective", "reg:squarederror"},
      {"eta", std::to_string(opt.eta)},
      {"max_depth", "4"},
      {"min_child_weight", "10"},
      {"subsample", "0.8"},
      {"colsample_bytree", "0.6"},
      {"lambda", "2"},
      {"nthread", std::to_string(opt.nthread)},
      {"seed", std::to_string(seed)},
      {"eval_metric", "rmse"},
      {"tree_method", "hist"},
  };
  for (const auto& [k, v] : params)
    if (XGBoosterSetParam(b, k, v.c_str()) != 0) return XgbError(std::string("param ") + k);
  return Status::Ok();
}

std::vector<float> Targets(const FeatureSet& fs, const std::vector<EngineCycle>& data, double cap) {
  std::map<int, int> last;
  for (const auto& r : data) last[r.unit] = std::max(last[r.unit], r.cycle);
  std::vector<float> y(fs.rows);
  for (size_t i = 0; i < fs.rows; ++i)
    y[i] = static_cast<float>(std::min<double>(last[fs.unit[i]] - fs.cycle[i], cap));
  return y;
}

}  // namespace

Status RulTrainOptions::Validate() const {
  if (!(cap > 0)) return InvalidArgument("RulTrainOptions: cap must be > 0");
  if (!(smooth > 0 && smooth <= 1)) return InvalidArgument("RulTrainOptions: smooth must be in (0, 1]");
  if (!(eta > 0 && eta <= 1)) return InvalidArgument("RulTrainOptions: eta must be in (0, 1]");
  if (!(validation_fraction >= 0 && validation_fraction <= 0.9))
    return InvalidArgument("RulTrainOptions: validation_fraction must be in [0, 0.9]");
  if (rounds < 0) return InvalidArgument("RulTrainOptions: rounds must be >= 0 (0: early stopping)");
  if (max_rounds < 1 || early_stop < 1)
    return InvalidArgument("RulTrainOptions: max_rounds and early_stop must be >= 1");
  if (ensemble < 1 || ensemble > 50) return InvalidArgument("RulTrainOptions: ensemble must be in [1, 50]");
  if (nthread < 1 || nthread > 64) return InvalidArgument("RulTrainOptions: nthread must be in [1, 64]");
  return Status::Ok();
}

Result<RulModel> RulModel::Train(const std::vector<EngineCycle>& raw_train, const RulTrainOptions& opt,
                                 RulTrainReport* report) {
  DOPPEL_RETURN_IF_ERROR(opt.Validate());
  RulModel m;
  m.cap_ = opt.cap;
  m.smooth_ = opt.smooth;
  auto norm = ConditionNormalizer::Fit(raw_train);
  if (!norm.ok()) return norm.status();
  m.norm_ = std::move(*norm);
  const std::vector<EngineCycle> train = m.norm_.Apply(raw_train);
  m.kept_ = InformativeColumns(train);
  if (m.kept_.empty()) return InvalidArgument("training data: no informative sensor columns");
  // Validation split by unit.
  std::set<int> units;
  for (const auto& r : train) units.insert(r.unit);
  std::vector<int> order(units.begin(), units.end());
  std::mt19937 rng(opt.seed);
  std::shuffle(order.begin(), order.end(), rng);
  size_t nval = static_cast<size_t>(opt.validation_fraction * static_cast<double>(order.size()));
  std::set<int> val_units(order.begin(), order.begin() + static_cast<long>(nval));
  std::vector<EngineCycle> tr, va;
  for (const auto& r : train) (val_units.count(r.unit) ? va : tr).push_back(r);

  int rounds = opt.rounds > 0 ? opt.rounds : opt.max_rounds;
  double best_rmse = NAN;
  if (opt.rounds == 0 && !va.empty() && !tr.empty()) {
    FeatureSet ftr = BuildFeatures(tr, m.kept_, true, m.smooth_),
               fva = BuildFeatures(va, m.kept_, true, m.smooth_);
    auto ytr = Targets(ftr, tr, opt.cap), yva = Targets(fva, va, opt.cap);
    DMatrix dtr, dva;
    DOPPEL_RETURN_IF_ERROR(MakeDMatrix(ftr, &ytr, &dtr));
    DOPPEL_RETURN_IF_ERROR(MakeDMatrix(fva, &yva, &dva));
    BoosterHandle b;
    DMatrixHandle cache[] = {dtr.h, dva.h};
    if (XGBoosterCreate(cache, 2, &b) != 0) return XgbError("booster");
    Status st = SetParams(b, opt.seed, opt);
    int best_round = 0;
    best_rmse = 1e300;
    DMatrixHandle evals[] = {dva.h};
    const char* names[] = {"val"};
    for (int it = 0; st.ok() && it < opt.max_rounds; ++it) {
      if (XGBoosterUpdateOneIter(b, it, dtr.h) != 0) {
        st = XgbError("train");
        break;
      }
      const char* out = nullptr;
      if (XGBoosterEvalOneIter(b, it, evals, names, 1, &out) != 0) {
        st = XgbError("eval");
        break;
      }
      const char* p = std::strstr(out, "val-rmse:");
      double rmse = p ? std::strtod(p + 9, nullptr) : 1e300;
      if (rmse < best_rmse) {
        best_rmse = rmse;
        best_round = it + 1;
      } else if (it + 1 - best_round >= opt.early_stop) {
        break;
      }
    }
    XGBoosterFree(b);
    DOPPEL_RETURN_IF_ERROR(st);
    rounds = std::max(best_round, 10);
  }
  if (report) {
    report->rounds = rounds;
    report->validation_rmse = best_rmse;
    report->kept_columns = m.kept_;
    report->conditions = static_cast<int>(m.norm_.conditions());
  }
  FeatureSet fall = BuildFeatures(train, m.kept_, true, m.smooth_);
  auto yall = Targets(fall, train, opt.cap);
  DMatrix dall;
  DOPPEL_RETURN_IF_ERROR(MakeDMatrix(fall, &yall, &dall));
  for (int e = 0; e < std::max(opt.ensemble, 1); ++e) {
    BoosterHandle b;
    if (XGBoosterCreate(&dall.h, 1, &b) != 0) return XgbError("booster");
    m.boosters_.push_back(b);
    DOPPEL_RETURN_IF_ERROR(SetParams(b, opt.seed + 1000 * e, opt));
    for (int it = 0; it < rounds; ++it)
      if (XGBoosterUpdateOneIter(b, it, dall.h) != 0) return XgbError("train");
  }
  return m;
}

Status RulModel::Save(const std::string& path) const {
  nlohmann::json j;
  j["format"] = "doppel-rul-v3";
  j["conditions"] = nlohmann::json::parse(norm_.ToJson());
  j["cap"] = cap_;
  j["smooth"] = smooth_;
  j["kept_columns"] = kept_;
  j["models"] = nlohmann::json::array();
  for (void* b : boosters_) {
    bst_ulong len = 0;
    const char* buf = nullptr;
    if (XGBoosterSaveModelToBuffer(b, "{\"format\": \"json\"}", &len, &buf) != 0) return XgbError("save");
    j["models"].push_back(std::string(buf, len));
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return IOError(path + ": cannot create");
  std::string s = j.dump();
  bool ok = std::fwrite(s.data(), 1, s.size(), f) == s.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return IOError(path + ": write failed");
  return Status::Ok();
}

Result<RulModel> RulModel::Load(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "doppel-rul-v3")
    return InvalidArgument(path + ": not a doppel RUL model (format doppel-rul-v3)");
  RulModel m;
  try {
    auto norm = ConditionNormalizer::FromJson(j.at("conditions").dump());
    if (!norm.ok()) return InvalidArgument(path + ": " + norm.status().message());
    m.norm_ = std::move(*norm);
    m.cap_ = j.at("cap").get<double>();
    m.smooth_ = j.at("smooth").get<double>();
    m.kept_ = j.at("kept_columns").get<std::vector<int>>();
    for (const auto& s : j.at("models")) {
      std::string blob = s.get<std::string>();
      BoosterHandle b;
      if (XGBoosterCreate(nullptr, 0, &b) != 0) return XgbError(path);
      m.boosters_.push_back(b);
      if (XGBoosterLoadModelFromBuffer(b, blob.data(), blob.size()) != 0) return XgbError(path);
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(path + ": " + e.what());
  }
  if (m.boosters_.empty() || m.kept_.empty()) return InvalidArgument(path + ": empty model");
  for (int c : m.kept_)
    if (c < 0 || c > 1000) return InvalidArgument(path + ": bad column index");
  return m;
}

Result<std::vector<double>> RulModel::PredictLast(const std::vector<EngineCycle>& test) const {
  FeatureSet fs;
  return Predict(test, false, &fs);
}

Result<std::vector<double>> RulModel::PredictEveryCycle(const std::vector<EngineCycle>& data,
                                                        std::vector<int>* unit,
                                                        std::vector<int>* cycle) const {
  FeatureSet fs;
  auto out = Predict(data, true, &fs);
  if (unit) *unit = fs.unit;
  if (cycle) *cycle = fs.cycle;
  return out;
}

Result<std::vector<double>> RulModel::Predict(const std::vector<EngineCycle>& raw, bool all_cycles,
                                              FeatureSet* fs_out) const {
  const size_t width = raw.empty() ? 0 : raw[0].columns.size();
  for (const auto& r : raw) {
    if (r.columns.size() != width || width < 4)
      return InvalidArgument("RUL input: unit " + std::to_string(r.unit) + " cycle " +
                             std::to_string(r.cycle) + " has " + std::to_string(r.columns.size()) +
                             " columns (settings then sensors)");
    for (int c : kept_)
      if (static_cast<size_t>(c) >= r.columns.size())
        return InvalidArgument("RUL input: unit " + std::to_string(r.unit) + " has too few columns");
  }
  FeatureSet& fs = *fs_out;
  fs = BuildFeatures(norm_.Apply(raw), kept_, all_cycles, smooth_);
  DMatrix d;
  DOPPEL_RETURN_IF_ERROR(MakeDMatrix(fs, nullptr, &d));
  std::vector<double> out(fs.rows, 0.0);
  for (void* b : boosters_) {
    bst_ulong len = 0;
    const float* p = nullptr;
    if (XGBoosterPredict(b, d.h, 0, 0, 0, &len, &p) != 0) return XgbError("predict");
    for (size_t i = 0; i < fs.rows && i < len; ++i) out[i] += p[i] / static_cast<double>(boosters_.size());
  }
  for (double& v : out) v = std::clamp(v, 0.0, cap_);
  return out;
}

double Rmse(const std::vector<double>& pred, const std::vector<double>& truth) {
  size_t n = std::min(pred.size(), truth.size());
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += (pred[i] - truth[i]) * (pred[i] - truth[i]);
  return n ? std::sqrt(s / static_cast<double>(n)) : 0;
}

double Phm08Score(const std::vector<double>& pred, const std::vector<double>& truth) {
  size_t n = std::min(pred.size(), truth.size());
  double s = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = pred[i] - truth[i];
    s += d < 0 ? std::exp(-d / 13.0) - 1 : std::exp(d / 10.0) - 1;
  }
  return s;
}

}  // namespace doppel::analytics
