// Live online fits bound to twins (EstimationOptions::online_fits, the serve config's
// `online_fit:` list; docs/estimation.md "Live online fit"): the recursive least-squares fit of
// `doppel fit --online` (estimate::RecursiveFit), fed while the twin runs instead of from stored
// history.
//
// A sample is quasi-static, as in `doppel fit`: the model's states are taken as measured (every
// state needs a measurement channel of the same short name, e.g. the pump's speed_rpm and
// motor_temp_c; a state is held from its last reading), the inputs as the estimator holds them,
// and the residuals are the other measurement channels, each divided by its sensor noise std:
// the channel's absolute std plus its relative std times the model's prediction at the current
// parameters (never the reading's own value; see EstimatorOptions::measurement_rel_std). The
// parameters not fitted stay at the twin's values (nominal, or calibrated, calibration.h); the
// estimator's augmented states (wears, biases) are not fed in: the two answers are independent.
// Prior and bounds: estimate::DefaultParameterPrior at the twin's value.
#pragma once

#include <Eigen/Core>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/engine/estimation_options.h"
#include "doppel/engine/service.h"
#include "doppel/estimate/estimator.h"
#include "doppel/estimate/recursive_fit.h"

namespace doppel::engine {

class BehaviorModel;

// The first entry whose `twins` glob matches `twin`, or null.
const TwinOnlineFit* FindOnlineFit(const std::vector<TwinOnlineFit>& fits, std::string_view twin);

// Startup check (after the FMU behaviors are registered): every parameter of every entry is a
// parameter of at least one of the `bound` behavior models (BoundBehaviorModels, behavior.h)
// that can be fitted live, i.e. whose states are all measured directly, and none is named twice.
// InvalidArgument naming the entry, e.g. "config: online_fit[0].parameters[1]: 'curve_kk' is not a parameter
// of a behavior model that can be fitted live (dtmi:doppel:demo:Pump;1: pump.shutoff_head_m, ...)".
Status CheckOnlineFits(const std::vector<TwinOnlineFit>& fits,
                       const std::vector<const BehaviorModel*>& bound);

// One twin's live fit. A plain single-threaded object (its twin's shard thread owns it); the
// behavior model must outlive it.
class LiveFit {
 public:
  // `parameters`: the twin's full parameter vector (the model's nominal values, calibrated ones
  // in); `rel_std`: relative sensor std per measurement channel (empty = none). InvalidArgument
  // naming the entry for an unknown parameter or a state no channel measures.
  static Result<LiveFit> Create(const BehaviorModel& model, const Eigen::VectorXd& parameters,
                                const Eigen::VectorXd& rel_std, const TwinOnlineFit& spec);

  // One sample at source time ts: the measurement channels' values, present mask and absolute
  // std (size num_measurements(); a TwinEstimator group) and the model inputs. Returns true when
  // the fit stepped; false when a state was never measured yet, no residual channel is present,
  // or the fit refused the sample (counted in skipped).
  bool Add(TimeNs ts, const estimate::Measurement& group, const Eigen::VectorXd& inputs);

  OnlineFitView View() const;                                    // service.h
  const Eigen::VectorXd& value() const { return fit_.value(); }  // fitted values, spec order
  // "fit.<short name>" per fitted parameter: the stored series.
  const std::vector<std::string>& series_names() const { return series_names_; }

 private:
  LiveFit(const BehaviorModel* model, estimate::RecursiveFit fit) : model_(model), fit_(std::move(fit)) {}
  const BehaviorModel* model_;
  estimate::RecursiveFit fit_;
  std::vector<int> state_channel_;     // per state: the measurement channel that reads it
  std::vector<int> residual_channel_;  // measurement channels compared with the model
  std::vector<int> residual_output_;   // their system output indices
  Eigen::VectorXd rel_std_;            // per residual channel
  std::vector<std::string> names_, units_, series_names_;
  Eigen::VectorXd x_;                   // states as last measured (NaN: not yet)
  Eigen::VectorXd y_, sd_, predicted_;  // scratch
  std::vector<bool> present_;
  int64_t skipped_ = 0;
  TimeNs ts_ns_ = 0;
};

}  // namespace doppel::engine
