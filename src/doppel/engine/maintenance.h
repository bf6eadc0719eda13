// Maintenance that renews a part, as the twin's estimator sees it (docs/enterprise.md, "What the
// context changes in the running twin").
//
// A completed work order of kind impeller_replacement (bearing_replacement) on a twin whose
// estimator estimates "pump.impeller_wear" ("pump.bearing_wear") resets that entry's prior at
// source time completed_ns: mean := 0 (a new part), variance := the entry's initial prior
// variance (EstimatorOptions::initial_std² of the twin's estimator), cross-covariances := 0
// (estimate::Estimator::ResetEntry). Semantics, per twin:
//   - applied at the twin's first estimator step at or after completed_ns: the estimator first
//     predicts to completed_ns, resets, then takes the step's measurement; a replacement older
//     than the estimate when it becomes known is applied at the next step, at the estimate's time;
//   - never twice: the ids applied (or dropped) are remembered for the life of the estimator's
//     twin state;
//   - a replacement completed at or before the estimate the estimator starts from is dropped:
//     the first sample's time when it starts from its prior (this process; or after a divergence
//     restart), the saved estimate's time when it starts from one (estimate_store.h). The prior
//     is a new part's, and a saved estimate had the older replacements applied; one completed
//     while the engine was down is applied at the first step.
//
// MaintenanceQueue is a plain single-threaded object owned by a TwinEstimator (shard thread).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/estimate/estimator.h"
#include "doppel/store/context_store.h"

namespace doppel::engine {

struct MaintenanceEvent {
  std::string twin;
  std::string id;  // the work order's id
  store::WorkOrderKind kind = store::WorkOrderKind::kOther;
  TimeNs completed_ns = 0;
};

// The augmented-state entry a completed work order of `kind` renews: "pump.impeller_wear",
// "pump.bearing_wear", or "" (the kind resets nothing).
const char* RenewedEntryOf(store::WorkOrderKind kind);
// The completed work orders among `orders` that renew an entry, in their order.
std::vector<MaintenanceEvent> ReplacementsOf(const std::vector<store::WorkOrder>& orders);

class MaintenanceQueue {
 public:
  // Queues a replacement; one whose id was queued before is ignored (false).
  bool Add(const MaintenanceEvent& e);
  // The estimator was (re)created from an estimate of source time known_ns (its first sample,
  // or a saved estimate's time): pending replacements completed at or before known_ns are
  // dropped (that estimate already is the new part's).
  void Begin(TimeNs known_ns);
  // Before the estimator step at source time step_ns (estimator time 0 = t0_ns): applies every
  // pending replacement with completed_ns <= step_ns, oldest first, with the new part's
  // variance prior_std[entry]² (the model's initial std per augmented entry, size
  // est->state_names(); not the estimator's initial_std, which a saved estimate may have
  // narrowed). Returns how many reset an entry (a twin whose estimator has no such entry just
  // drops the order).
  int ApplyDue(estimate::Estimator* est, TimeNs t0_ns, TimeNs step_ns, const std::string& twin,
               const Eigen::VectorXd& prior_std);
  size_t pending() const { return pending_.size(); }
  int64_t applied() const { return applied_; }

 private:
  std::vector<MaintenanceEvent> pending_;  // by completed_ns
  std::set<std::string> seen_;
  int64_t applied_ = 0;
};

}  // namespace doppel::engine
