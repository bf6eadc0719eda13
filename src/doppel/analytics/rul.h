// Remaining useful life (RUL) from run-to-failure fleets (NASA C-MAPSS layout).
//
// Features at cycle c of a unit use only cycles <= c: each kept sensor is first exponentially
// smoothed (causal, factor `smooth`); per sensor the smoothed last value and, over the last
// 5/10/20/30 cycles, the mean, least-squares slope and standard deviation, and the offset of the
// smoothed value from the unit's own mean over its first 20 cycles; plus the cycle number.
// Near-constant sensors are dropped (chosen on the training data). The target is the piecewise-linear RUL
// min(rul, cap). The model is gradient-boosted trees (XGBoost); the number of rounds is chosen on a
// validation split of the *training* units, then the model is refitted on all of them.
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

struct RulTrainOptions {
  double cap = 125;
  double smooth = 0.2;               // exponential smoothing factor of the sensors before features
  double eta = 0.05;                 // boosting learning rate
  double validation_fraction = 0.2;  // of training units, for choosing rounds
  int max_rounds = 800;
  int early_stop = 50;
  int seed = 7;
  int ensemble = 3;  // models with different seeds, averaged
};

struct RulTrainReport {
  int rounds = 0;
  double validation_rmse = 0;  // last cycle of each validation unit, truncated at random points
  std::vector<int> kept_columns;
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
  const std::vector<int>& kept_columns() const { return kept_; }

 private:
  std::vector<void*> boosters_;  // BoosterHandle
  std::vector<int> kept_;
  double cap_ = 125;
  double smooth_ = 0.2;
};

double Rmse(const std::vector<double>& pred, const std::vector<double>& truth);
// PHM08: sum of exp(-d/13) - 1 for early (d < 0) and exp(d/10) - 1 for late predictions.
double Phm08Score(const std::vector<double>& pred, const std::vector<double>& truth);

}  // namespace doppel::analytics
