// TwinEstimator (behavior.h): a bound twin's readings into estimator steps, its live online fit
// (online_fit.h) and its start from a saved estimate (estimate_store.h).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "doppel/engine/behavior.h"
#include "doppel/engine/calibration.h"

namespace doppel::engine {

TwinEstimator::TwinEstimator(const BehaviorModel* model, std::string twin, const EstimationOptions& options)
    : model_(model), twin_(std::move(twin)), opt_(options) {
  const int m = model_->num_measurements();
  group_.values = Eigen::VectorXd::Zero(m);
  group_.std = Eigen::VectorXd::Zero(m);
  group_.present.assign(static_cast<size_t>(m), false);
  inputs_latest_ = Eigen::VectorXd::Constant(model_->num_channels() - m, physics::kNaN);
  inputs_held_ = inputs_latest_;
  for (const auto& n : model_->display_names()) series_names_.push_back("est." + n);
  series_names_.push_back("est.nis_per_dof");
}

void TwinEstimator::Begin(TimeNs ts) {
  pending_ = true;
  pending_ts_ = ts;
  inputs_held_ = inputs_latest_;  // reported before ts: they held over the step to ts
  std::fill(group_.present.begin(), group_.present.end(), false);
  pending_skip_ = false;
  if (has_update_) {
    const double since = static_cast<double>(ts - last_update_ns_) * 1e-9;
    if (ts < last_update_ns_ || since < opt_.min_update_interval_s) pending_skip_ = true;
    if (ts == last_update_ns_) pending_skip_ = true;  // a second message for an applied time
  }
}

bool TwinEstimator::Add(const Reading& r, const StationLevel* level, std::vector<Reading>* series) {
  const int k = model_->Channel(r.signal);
  if (k < 0) return false;
  return Add(k, r, level, series);
}

bool TwinEstimator::Add(int k, const Reading& r, const StationLevel* level, std::vector<Reading>* series) {
  bool changed = false;
  if (pending_ && r.source_ts_ns != pending_ts_) changed = Flush(level, series);
  if (!pending_) Begin(r.source_ts_ns);
  if (k >= model_->num_measurements()) {  // an input channel: held from now on, skipped group or not
    if (r.quality != Quality::kBad && std::isfinite(r.value) && k < model_->num_channels())
      inputs_latest_[k - model_->num_measurements()] = r.value;
    return changed;
  }
  if (pending_skip_ || r.quality == Quality::kBad || !std::isfinite(r.value)) return changed;
  group_.values[k] = r.value;
  group_.std[k] = model_->SensorStd(k, r.value);
  group_.present[static_cast<size_t>(k)] = true;
  return changed;
}

bool TwinEstimator::Flush(const StationLevel* level, std::vector<Reading>* series) {
  if (!pending_) return false;
  pending_ = false;
  if (pending_skip_) return false;
  bool any = false;
  for (bool p : group_.present) any |= p;
  if (!any) return false;
  Apply(level, series);
  return true;
}

void TwinEstimator::Restore(SavedEstimate saved) {
  if (saved.model != model_->model_id() || saved.names != model_->display_names()) {
    spdlog::warn("twin {}: saved estimate not used: it is for {} with [{}], the twin's model is {} with [{}]",
                 twin_, saved.model, fmt::join(saved.names, ", "), model_->model_id(),
                 fmt::join(model_->display_names(), ", "));
    return;
  }
  restored_ = std::move(saved);
}

void TwinEstimator::StartFromSaved(const SavedEstimate& saved, estimate::EstimatorOptions* o) const {
  const int nx = model_->num_states();
  const double gap_s = std::max(0.0, static_cast<double>(pending_ts_ - saved.ts_ns) * 1e-9);
  for (Eigen::Index i = nx; i < saved.mean.size() && i < o->initial_mean.size() && i < o->initial_std.size();
       ++i) {
    const double q = i < o->process_std.size() ? o->process_std[i] : 0.0;
    const double var = std::max(0.0, saved.covariance(i, i)) + q * q * gap_s;
    double mean = saved.mean[i];
    if (i < o->lower_bound.size()) mean = std::max(mean, o->lower_bound[i]);
    if (i < o->upper_bound.size()) mean = std::min(mean, o->upper_bound[i]);
    o->initial_mean[i] = mean;
    if (var > 0) o->initial_std[i] = std::min(o->initial_std[i], std::sqrt(var));
  }
  spdlog::info("twin {}: estimator starts from an earlier estimate ({:.0f} s old)", twin_, gap_s);
}

void TwinEstimator::BindOnlineFit(const estimate::FilterModel& filter, const estimate::EstimatorOptions& o) {
  fit_bound_ = true;
  const TwinOnlineFit* spec = FindOnlineFit(opt_.online_fits, twin_);
  if (spec == nullptr) return;
  const Eigen::VectorXd p = filter.parameters.size() == model_->system().num_parameters()
                                ? filter.parameters
                                : model_->system().DefaultValues(physics::SignalKind::kParameter);
  auto f = LiveFit::Create(*model_, p, o.measurement_rel_std, *spec);
  if (!f.ok()) {
    spdlog::warn("twin {}: live online fit not bound: {}", twin_, f.status().ToString());
    return;
  }
  fit_ = std::make_unique<LiveFit>(std::move(f).value());
}

SavedEstimate TwinEstimator::LastGood() const {
  return SavedEstimate{twin_,      model_->model_id(), last_update_ns_, model_->display_names(),
                       good_mean_, good_cov_};
}

void TwinEstimator::Apply(const StationLevel* level, std::vector<Reading>* series) {
  const double silent_s = static_cast<double>(pending_ts_ - last_update_ns_) * 1e-9;
  if (est_ && has_update_ && silent_s > opt_.max_predict_gap_s) {
    // A long silence (or a clock jump): no open-loop prediction over it. Restart from the last
    // estimate, as from a saved one (StartFromSaved): states from this sample, parameters kept.
    ++gap_restarts_;
    spdlog::info(
        "twin {}: {:.0f} s since its last estimator step (max_predict_gap_s {:.0f}): the estimator "
        "restarts from that estimate",
        twin_, silent_s, opt_.max_predict_gap_s);
    restored_ = LastGood();
    carried_.emplace(est_->innovations(), est_->summary());
    est_.reset();
  }
  if (!est_) {
    estimate::EstimatorOptions o = model_->InitialOptions(group_.values, group_.present, 0.0);
    o.outlier_sigma = opt_.outlier_sigma;
    o.outlier_patience = opt_.outlier_patience;
    o.outlier_max_sigma = opt_.outlier_max_sigma;
    estimate::FilterModel filter = model_->filter_model();
    if (const TwinCalibration* c = FindCalibration(opt_.calibrations, twin_)) {
      for (const std::string& name : ApplyCalibration(*model_, *c, &filter, &o)) {
        spdlog::warn("twin {}: {}.parameters.{}: not a parameter of {}; skipped", twin_, c->where, name,
                     model_->model_id());
      }
    }
    // Replacements completed before the estimate the estimator starts from are in it already:
    // the saved one's time, else this first sample's (maintenance.h).
    const TimeNs known_ns = restored_ ? restored_->ts_ns : pending_ts_;
    prior_std_ = o.initial_std;  // a new part's variance (maintenance), before a saved estimate narrows it
    if (restored_) StartFromSaved(*restored_, &o);
    auto e = model_->MakeEstimator(filter, o);
    if (!e.ok()) {
      ++failures_;
      spdlog::warn("twin {}: estimator not created: {}", twin_, e.status().ToString());
      return;
    }
    est_ = std::move(e).value();
    restored_.reset();  // once
    if (carried_)
      est_->ContinueStatistics(carried_->first, carried_->second);  // the twin's, not this estimator's
    carried_.reset();
    if (!fit_bound_) BindOnlineFit(filter, o);
    t0_ns_ = pending_ts_;
    maintenance_.Begin(known_ns);
  }
  const double t = static_cast<double>(pending_ts_ - t0_ns_) * 1e-9;
  if (t < est_->time()) return;
  const double level_m = level != nullptr && model_->has_level_input()
                             ? level->At(pending_ts_, opt_.default_level_m)
                             : opt_.default_level_m;
  const Eigen::VectorXd u = model_->Inputs(level_m, setpoint_, inputs_held_);
  (void)est_->SetInputs(u);
  if (fit_) fit_->Add(pending_ts_, group_, u);
  // maintenance: due part replacements reset their wear prior before this step
  if (maintenance_.pending() > 0) maintenance_.ApplyDue(est_.get(), t0_ns_, pending_ts_, twin_, prior_std_);
  group_.t = t;
  auto rep = est_->Update(group_);
  if (!rep.ok()) {
    ++failures_;
    ++consecutive_failures_;
    // Divergence: start over from the next sample (the snapshot keeps the last good estimate
    // until then). The new estimator takes its parameters from the last good estimate, as after
    // a long gap, unless the steps from there failed kMaxRestartsFromLastGood times in a row:
    // then from the prior.
    const bool from_last_good = has_update_ && consecutive_failures_ <= kMaxRestartsFromLastGood;
    if (failures_ < 10 || failures_ % 1000 == 0) {
      spdlog::warn("twin {}: estimator step failed ({} so far), re-initializing from {}: {}", twin_,
                   failures_, from_last_good ? "the last good estimate" : "the prior",
                   rep.status().ToString());
    }
    if (snap_stale_) BuildSnapshot();  // the last good step's estimate (only on a divergence)
    if (from_last_good) restored_ = LastGood();
    carried_.emplace(est_->innovations(), est_->summary());
    est_.reset();
    if (!from_last_good) has_update_ = false;
    return;
  }
  ++updates_;
  consecutive_failures_ = 0;
  has_update_ = true;
  last_update_ns_ = pending_ts_;
  good_mean_ = est_->mean();  // same sizes every step: no allocation
  good_cov_ = est_->covariance();
  snap_stale_ = true;  // built when someone asks (snapshot()): a shard pass publishes only its last
  if (series != nullptr &&
      (!has_series_ || static_cast<double>(pending_ts_ - last_series_ns_) * 1e-9 >= opt_.series_interval_s)) {
    has_series_ = true;
    last_series_ns_ = pending_ts_;
    const Eigen::VectorXd& mean = est_->mean();
    for (int i = 0; i < static_cast<int>(mean.size()); ++i) {
      series->push_back(
          Reading{twin_, series_names_[static_cast<size_t>(i)], pending_ts_, mean[i], Quality::kGood});
    }
    series->push_back(Reading{twin_, series_names_.back(), pending_ts_, est_->innovations().ewma_nis_per_dof,
                              Quality::kGood});
    if (fit_) {
      for (size_t i = 0; i < fit_->series_names().size(); ++i) {
        series->push_back(Reading{twin_, fit_->series_names()[i], pending_ts_,
                                  fit_->value()[static_cast<Eigen::Index>(i)], Quality::kGood});
      }
    }
  }
}

std::shared_ptr<const EstimateSnapshot> TwinEstimator::snapshot() {
  if (snap_stale_) BuildSnapshot();
  return snap_;
}

void TwinEstimator::BuildSnapshot() {
  snap_stale_ = false;
  auto snap = std::make_shared<EstimateSnapshot>();
  snap->model = model_;
  snap->twin = twin_;
  snap->ts_ns = last_update_ns_;
  // The last successful step's estimate: est_ itself may have predicted past it in a step that
  // then failed.
  snap->mean = good_mean_;
  snap->covariance = good_cov_;
  snap->inputs = est_->inputs();
  snap->stats = est_->innovations();
  snap->summary = est_->summary();
  snap->summary.divergences = failures_;  // over every restart of this twin's estimator
  snap->context =
      est_->model().ToContext(static_cast<double>(last_update_ns_ - t0_ns_) * 1e-9, snap->mean, snap->inputs);
  if (fit_) snap->fit = fit_->View();
  snap_ = std::move(snap);
}

}  // namespace doppel::engine
