// Behavior models bound to twins (engine-private; docs/estimation.md "Binding to twins").
//
// A small registry maps a DTDL model id to a BehaviorModel: a nominal physics::System (shared,
// const), which of its outputs the model's telemetry measures, which telemetry feeds its inputs,
// which parameters are estimated and how the estimator starts. Built in:
// "dtmi:doppel:demo:Pump;1" -> the pump twin diagram (physics::MakePumpTwinDiagram) with an EKF
// estimating impeller wear, bearing wear and a flow sensor bias. Further models are registered
// at startup (Register; e.g. an FMU from the serve config's `behavior:` list, fmu_behavior.h);
// every other model -> none.
//
// Measurement channels: [0, num_measurements()) are telemetry the model's outputs predict (the
// estimator's measurements); [num_measurements(), num_channels()) are telemetry fed to the
// model's inputs (held from the reading's time until the next one: zero-order hold).
//
// A TwinEstimator (one per bound twin, owned by the twin's shard thread) turns the readings the
// shard releases in source-time order into estimator steps: the readings of one timestamp form
// one Measurement with a present mask (missing sensors are simply absent), the estimator
// predicts to that time first (irregular gaps are fine) and then updates. It publishes an
// immutable EstimateSnapshot that readers (GET .../state, what-ifs) use without touching the
// shard.
#pragma once

#include <Eigen/Core>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/engine/estimate_store.h"
#include "doppel/engine/estimation_options.h"
#include "doppel/engine/maintenance.h"
#include "doppel/engine/online_fit.h"
#include "doppel/engine/service.h"
#include "doppel/engine/station_level.h"
#include "doppel/estimate/estimator.h"
#include "doppel/physics/system.h"

namespace doppel::engine {

class BehaviorModel {
 public:
  virtual ~BehaviorModel() = default;
  const std::string& model_id() const { return model_id_; }
  const physics::System& system() const { return *system_; }
  const estimate::FilterModel& filter_model() const { return filter_; }
  const char* estimator_kind() const { return estimator_kind_.c_str(); }  // "ekf" | "ukf"
  // The built-in station pump binding (sandboxes fork the station from these twins).
  virtual bool station_pump() const { return false; }

  // Channel of a telemetry name (a measurement, then an input channel), or -1.
  int Channel(std::string_view signal) const;
  int num_measurements() const { return static_cast<int>(meas_names_.size()); }
  int num_channels() const { return num_measurements() + static_cast<int>(input_channel_in_.size()); }
  // Telemetry names of the measurement channels (what-if outputs and per-sensor NIS are named so).
  const std::vector<std::string>& measurement_names() const { return meas_names_; }
  // Sensor noise std of channel k passed with a reading v: the absolute part; the estimator adds
  // the value-dependent part (vibration: 3 %) at its prediction (EstimatorOptions::
  // measurement_rel_std), so a reading's own value does not weight it.
  double SensorStd(int k, double v) const;
  // Estimator options with the initial state taken from a first sample (NaN where unknown).
  // Each model has its own tuning (the pump spec, an FMU binding's config).
  virtual estimate::EstimatorOptions InitialOptions(const Eigen::VectorXd& first_sample,
                                                    const std::vector<bool>& present, double t0) const = 0;
  // The estimator for one twin.
  Result<std::unique_ptr<estimate::Estimator>> MakeEstimator(const estimate::EstimatorOptions& o) const;
  // The same on a copy of filter_model() with other parameter values (a calibrated twin,
  // calibration.h); `filter.system` must be &system().
  Result<std::unique_ptr<estimate::Estimator>> MakeEstimator(const estimate::FilterModel& filter,
                                                             const estimate::EstimatorOptions& o) const;
  // Inputs at a tank level (setpoint NaN = local control; both ignored by models without those
  // inputs), with the input channels' latest values (size num_channels() - num_measurements(),
  // or empty; NaN = not reported yet: the configured constant or the model's default).
  Eigen::VectorXd Inputs(double level_m, double setpoint_rpm,
                         const Eigen::VectorXd& channel_inputs = {}) const;
  // True if the model has the tank level input (Inputs uses `level_m`).
  bool has_level_input() const { return level_in_ >= 0; }

  // Input index for a name: the model's input name, the telemetry feeding it, or the DTDL alias
  // of the pump's setpoint ("speed_rpm"). -1 if unknown.
  int InputIndex(std::string_view name) const;
  // Parameter index for "pump.impeller_wear" or the short "impeller_wear"; -1 if unknown.
  int ParameterIndex(std::string_view name) const;
  // Short display names ("impeller_wear") and units of the augmented state entries.
  const std::vector<std::string>& display_names() const { return display_; }
  const std::vector<std::string>& units() const { return units_; }
  int num_states() const { return system_->num_states(); }
  // Indices into system().parameters() of the estimated parameters, in augmented order.
  const std::vector<int>& estimated_parameter_indices() const { return aug_param_idx_; }
  // Output indices of the measured channels (what-if outputs).
  const std::vector<int>& measured_outputs() const { return measured_out_; }
  // Bounds of the augmented state (e.g. wear in [0, 1]).
  const Eigen::VectorXd& lower_bound() const { return lower_; }
  const Eigen::VectorXd& upper_bound() const { return upper_; }

  // The registry: the bound behavior for a DTDL model id, or null. Thread-safe; the models live
  // for the process.
  static const BehaviorModel* Find(std::string_view model_id);
  // Adds a model (before the engines that should bind it open; twins are bound when first
  // seen). AlreadyExists for a model id already bound (the built-in pump included),
  // InvalidArgument for a model without a system.
  static Status Register(std::unique_ptr<BehaviorModel> model);
  // True if `signal` of a twin of `model_id` is the station's tank level (the pumps' input).
  static bool IsLevelSource(std::string_view model_id, std::string_view signal);

 protected:
  BehaviorModel() = default;
  std::string model_id_;
  std::unique_ptr<physics::System> system_;
  estimate::FilterModel filter_;
  Eigen::VectorXd meas_std_;
  std::string estimator_kind_ = "ekf";
  std::vector<std::string> meas_names_;  // telemetry of the measurement channels
  // Input channels: telemetry name and the system input it feeds.
  std::vector<std::string> input_channel_names_;
  std::vector<int> input_channel_in_;
  Eigen::VectorXd input_defaults_;  // empty = the system's defaults
  int setpoint_in_ = -1, level_in_ = -1;
  int vibration_ch_ = -1;
  std::vector<std::string> display_, units_;
  std::vector<int> aug_param_idx_, measured_out_;
  Eigen::VectorXd init_std_, process_std_, lower_, upper_;
};

// The behavior models bound to the DTDL models in `models_dir`, in model order: what the
// startup checks of the config lists that name their parameters run against (calibration.h,
// online_fit.h). Errors of loading the directory pass through.
Result<std::vector<const BehaviorModel*>> BoundBehaviorModels(const std::string& models_dir);
// "<model id>: <parameter> ...; <model id>: ..." for error messages ("no behavior model is
// bound" for none).
std::string DescribeParameters(const std::vector<const BehaviorModel*>& models);

// What readers see: an immutable copy of one twin's estimate.
struct EstimateSnapshot {
  const BehaviorModel* model = nullptr;
  std::string twin;
  TimeNs ts_ns = 0;  // source time of the last step
  Eigen::VectorXd mean;
  Eigen::MatrixXd covariance;
  Eigen::VectorXd inputs;
  estimate::InnovationStats stats;
  estimate::EstimatorSummary summary;
  physics::Context context;  // Estimator::ToContext() at ts_ns (time in s since the twin's first sample)
  std::optional<OnlineFitView> fit;  // the twin's live online fit, if one is bound (online_fit.h)
};

// The API view of a snapshot.
TwinEstimate ToTwinEstimate(const EstimateSnapshot& s);

class TwinEstimator {
 public:
  TwinEstimator(const BehaviorModel* model, std::string twin, const EstimationOptions& options);

  // A released reading (source-time order). Readings of one timestamp are gathered; the group
  // is applied when a newer timestamp arrives or on Flush().
  // Returns true when a previous group was applied (the estimate changed); appends "est.*"
  // points to `series` when one is due. A step's `level_m` input is `level`'s value at the
  // step's source time (null: EstimationOptions::default_level_m).
  bool Add(const Reading& r, const StationLevel* level, std::vector<Reading>* series);
  // The same for a reading already resolved to its channel (Channel(r.signal) >= 0). An input
  // channel's reading is held from its timestamp on (it feeds steps at later timestamps).
  bool Add(int channel, const Reading& r, const StationLevel* level, std::vector<Reading>* series);
  // The measurement channel of a telemetry name, or -1 (the reading is then ignored).
  int Channel(std::string_view signal) const { return model_->Channel(signal); }
  // Applies the gathered group (if any). Returns true when the estimate changed.
  bool Flush(const StationLevel* level, std::vector<Reading>* series);
  // A commanded speed setpoint (NaN: local level control).
  void SetSetpoint(double rpm) { setpoint_ = rpm; }
  // The twin's estimate saved before a restart (estimate_store.h): the estimator's first start
  // takes its estimated parameters (wears, biases) from it instead of the prior, their variance
  // grown by the process noise over the time between the saved estimate and the first sample,
  // never above the prior's. The states still start from the first sample. Ignored (with a
  // warning) when it was saved for another model or another state layout.
  void Restore(SavedEstimate saved);
  // maintenance: a completed part replacement, applied at the first step at or after its time
  // (maintenance.h). Returns false for an id seen before.
  bool AddMaintenance(const MaintenanceEvent& e) { return maintenance_.Add(e); }
  // The estimate after the last successful step; null until the first. Built here, on demand:
  // a step only marks it stale, so a shard pass that runs several steps copies the estimate once
  // (a failing step builds it first, from the step before).
  std::shared_ptr<const EstimateSnapshot> snapshot();
  int64_t updates() const { return updates_; }
  int64_t failures() const { return failures_; }
  // Restarts after more than EstimationOptions::max_predict_gap_s without a step.
  int64_t gap_restarts() const { return gap_restarts_; }
  // A diverging step restarts the estimator from the last good estimate's parameters this many
  // times in a row; after that, from the prior.
  static constexpr int kMaxRestartsFromLastGood = 3;

 private:
  void Apply(const StationLevel* level, std::vector<Reading>* series);
  void Begin(TimeNs ts);
  void BuildSnapshot();  // snap_ from est_ (which has had a successful step)
  // Creates fit_ if an `online_fit:` entry matches the twin (the twin's calibrated parameters).
  void BindOnlineFit(const estimate::FilterModel& filter, const estimate::EstimatorOptions& o);
  // The saved estimate's parameters into the first estimator's initial mean and std (Restore).
  void StartFromSaved(const SavedEstimate& saved, estimate::EstimatorOptions* o) const;
  // The last successful step's estimate as a SavedEstimate (a restart starts from it).
  SavedEstimate LastGood() const;

  const BehaviorModel* model_;
  std::string twin_;
  EstimationOptions opt_;
  std::unique_ptr<estimate::Estimator> est_;
  TimeNs t0_ns_ = 0;
  TimeNs last_update_ns_ = 0, last_series_ns_ = 0;
  bool has_update_ = false, has_series_ = false;
  // The gathered group.
  TimeNs pending_ts_ = 0;
  bool pending_ = false, pending_skip_ = false;
  // The gathered group's readings (values, per-sensor std, present mask), passed to the
  // estimator in place.
  estimate::Measurement group_;
  // Input channels: the latest reported values and those held for the gathered group (the
  // latest before its timestamp). NaN = not reported yet.
  Eigen::VectorXd inputs_latest_, inputs_held_;
  std::vector<std::string> series_names_;
  std::shared_ptr<const EstimateSnapshot> snap_;
  bool snap_stale_ = false;  // est_ has stepped since snap_ was built
  int64_t updates_ = 0, failures_ = 0, gap_restarts_ = 0;
  int consecutive_failures_ = 0;
  // The last successful step's mean and covariance (at last_update_ns_).
  Eigen::VectorXd good_mean_;
  Eigen::MatrixXd good_cov_;
  double setpoint_ = physics::kNaN;
  MaintenanceQueue maintenance_;  // maintenance: pending prior resets
  // The live online fit (an `online_fit:` entry matches the twin), created with the first
  // estimator and kept when the estimator re-initializes.
  std::unique_ptr<LiveFit> fit_;
  bool fit_bound_ = false;                 // the binding was tried
  std::optional<SavedEstimate> restored_;  // until the first estimator starts from it
  // The statistics of the estimator a restart dropped, until its successor continues them.
  std::optional<std::pair<estimate::InnovationStats, estimate::EstimatorSummary>> carried_;
  Eigen::VectorXd prior_std_;  // the model's initial std per entry (before a restore)
};

// What-if: forks a snapshot, samples initial states/parameters from its covariance (seeded),
// simulates with RK4 and returns percentile bands. Checks the request (InvalidArgument naming
// the field) and the time budget (DeadlineExceeded).
Status ValidateWhatIf(const WhatIfRequest& req);
// ValidateWhatIf, and every override names an input or parameter of `model` (InvalidArgument
// naming it, e.g. "$.scenarios[1].overrides.inputs.valve: unknown input of ..."): what a
// what-if job is checked against before it is queued.
Status ValidateWhatIfFor(const BehaviorModel& model, const WhatIfRequest& req);
// Cooperative control of a running what-if, shared with another thread (what-if jobs): the run
// polls `cancel` every 8 samples of every grid step (then kCancelled) and publishes `progress`,
// the fraction of the grid steps done over all scenarios (0..1).
struct WhatIfControl {
  std::atomic<bool> cancel{false};
  std::atomic<double> progress{0};
};
Result<WhatIfResult> RunWhatIf(const EstimateSnapshot& snap, const WhatIfRequest& req,
                               WhatIfControl* control = nullptr);

}  // namespace doppel::engine
