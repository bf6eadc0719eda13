// Remaining useful life (RUL) from run-to-failure fleets (NASA C-MAPSS layout).
//
// Features at cycle c of a unit use only cycles <= c: each kept sensor is first exponentially
// smoothed (causal, factor `smooth`); per sensor the smoothed last value and, over the last
// 5/10/20/30 cycles, the mean and least-squares slope, and the offset of the smoothed value from the
// unit's own mean over its first 20 and its first 30 cycles; plus the cycle number (1 + 11 per kept column).
// Near-constant sensors are dropped (chosen on the training data). Before all that, every column is
// z-scored per operating condition (ConditionNormalizer; one condition in FD001/FD003, six in
// FD002/FD004). The target is the piecewise-linear RUL min(rul, cap). The model is gradient-boosted
// trees (XGBoost), `ensemble` seeds averaged; the number of rounds is fixed (chosen by grouped
// cross-validation) or, with rounds = 0, found by early stopping on a split of the *training* units.
// CrossValidateRul scores options by grouped K-fold over the training units, so hyperparameters are never
// chosen on test truth.
#pragma once

#include <string>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::analytics {

struct EngineCycle {
  int unit = 0;
  int cycle = 0;
  std::vector<double> columns;  // operational settings then sensors (3 + 21 in C-MAPSS)
};

// Whitespace separated: unit cycle setting1..3 sensor1..21 per line.
Result<std::vector<EngineCycle>> ParseCmapss(const std::string& text, const std::string& what);
Result<std::vector<EngineCycle>> ReadCmapss(const std::string& path);
// One number per line (RUL_FD001.txt).
Result<std::vector<double>> ReadRulTruth(const std::string& path);

// Feature rows for every cycle (all = true) or only the last cycle of each unit, units in
// ascending order. `kept` lists the column indices used.
struct FeatureSet {
  std::vector<float> x;  // row-major
  size_t rows = 0, cols = 0;
  std::vector<int> unit, cycle;
};
FeatureSet BuildFeatures(const std::vector<EngineCycle>& data, const std::vector<int>& kept, bool all_cycles,
                         double smooth);
// Columns whose values barely vary over the data (fewer than 4 distinct values or ~zero spread).
std::vector<int> InformativeColumns(const std::vector<EngineCycle>& data);

// Operating conditions: the three settings rounded to a grid (altitude to 1 kft, Mach to 0.01,
// throttle resolver angle to 1 degree). Fit() stores per condition the mean settings and the
// mean/standard deviation of every column; Apply() assigns each row to the nearest stored
// condition (settings scaled by their training range) and z-scores its columns (sd < 1e-9 -> 0).
class ConditionNormalizer {
 public:
  static Result<ConditionNormalizer> Fit(const std::vector<EngineCycle>& train);
  std::vector<EngineCycle> Apply(const std::vector<EngineCycle>& data) const;
  size_t conditions() const { return center_.size(); }
  std::string ToJson() const;
  static Result<ConditionNormalizer> FromJson(const std::string& json);

 private:
  size_t Nearest(const std::vector<double>& columns) const;
  std::vector<std::vector<double>> center_, mean_, sd_;  // per condition: settings; per column
  std::vector<double> scale_;                            // per setting: training range (or 1)
};

struct RulTrainOptions {
  double cap = 125;
  double smooth = 0.2;               // exponential smoothing factor of the sensors before features
  double eta = 0.05;                 // boosting learning rate
  double validation_fraction = 0.2;  // of training units, for choosing rounds
  int rounds = 900;      // boosting rounds (chosen by grouped CV, docs/analytics.md); 0: early stopping
  int max_rounds = 800;  // early-stopping mode only
  int early_stop = 50;   // early-stopping mode only
  int seed = 7;
  int ensemble = 3;  // models with different seeds, averaged
  int nthread = 1;   // XGBoost threads; 1 is fastest on a shared 2-core machine
  // Rule broken, or OK. Ranges: cap > 0, smooth in (0, 1], eta in (0, 1], validation_fraction in
  // [0, 0.9], rounds >= 0, max_rounds >= 1, early_stop >= 1, ensemble in [1, 50], nthread in [1, 64].
  Status Validate() const;
};

struct RulTrainReport {
  int rounds = 0;
  double validation_rmse =
      0;  // early-stopping mode: all cycles of the split's units, capped target; else NaN
  std::vector<int> kept_columns;
  int conditions = 0;  // operating conditions found in the training data
};

class RulModel {
 public:
  RulModel();
  ~RulModel();
  RulModel(const RulModel&) = delete;
  RulModel& operator=(const RulModel&) = delete;
  RulModel(RulModel&&) noexcept;

  static Result<RulModel> Train(const std::vector<EngineCycle>& train, const RulTrainOptions& opt,
                                RulTrainReport* report);
  static Result<RulModel> Load(const std::string& path);
  Status Save(const std::string& path) const;
  // RUL predicted at the last cycle of each unit (units ascending), clipped to [0, cap].
  Result<std::vector<double>> PredictLast(const std::vector<EngineCycle>& test) const;
  // RUL predicted at every cycle (rows of BuildFeatures(..., all_cycles = true)), clipped to [0, cap].
  Result<std::vector<double>> PredictEveryCycle(const std::vector<EngineCycle>& data, std::vector<int>* unit,
                                                std::vector<int>* cycle) const;
  double cap() const { return cap_; }
  const std::vector<int>& kept_columns() const { return kept_; }

 private:
  Result<std::vector<double>> Predict(const std::vector<EngineCycle>& data, bool all_cycles,
                                      FeatureSet* fs) const;
  std::vector<void*> boosters_;  // BoosterHandle
  ConditionNormalizer norm_;
  std::vector<int> kept_;
  double cap_ = 125;
  double smooth_ = 0.2;
};

// Grouped K-fold cross-validation over the training units: each fold's units are held out, a
// model is trained (RulModel::Train, with its own inner validation split) on the others and
// predicts every cycle of the held-out units from cycle `min_cycles` on (31: the shortest test
// record in FD001), as if the record ended there. Units are assigned to folds by a shuffle seeded
// with opt.seed.
struct RulCvReport {
  int folds = 0;
  size_t points = 0;
  double rmse_capped = 0;   // against min(true RUL, cap), all points
  double rmse_linear = 0;   // against the true RUL, points whose true RUL <= cap
  double score_linear = 0;  // mean PHM08 term over those points
  double mean_rounds = 0;   // boosting rounds chosen per fold
};
Result<RulCvReport> CrossValidateRul(const std::vector<EngineCycle>& train, const RulTrainOptions& opt,
                                     int folds, int min_cycles = 31);

double Rmse(const std::vector<double>& pred, const std::vector<double>& truth);
// PHM08: sum of exp(-d/13) - 1 for early (d < 0) and exp(d/10) - 1 for late predictions.
double Phm08Score(const std::vector<double>& pred, const std::vector<double>& truth);

}  // namespace doppel::analytics
