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
//   - a replacement completed at or before the estimator's first sample (this process; or after
//     a divergence restart) is dropped: the estimator then starts from the same new-part prior,
//     so nothing persisted is needed for a restart not to re-apply an old replacement.
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
  // The estimator was (re)created with its first sample at t0_ns: pending replacements completed
  // at or before t0_ns are dropped (its initial prior already is the new part's).
  void Begin(TimeNs t0_ns);
  // Before the estimator step at source time step_ns (estimator time 0 = t0_ns): applies every
  // pending replacement with completed_ns <= step_ns, oldest first. Returns how many reset an
  // entry (a twin whose estimator has no such entry just drops the order).
  int ApplyDue(estimate::Estimator* est, TimeNs t0_ns, TimeNs step_ns, const std::string& twin);
  size_t pending() const { return pending_.size(); }
  int64_t applied() const { return applied_; }

 private:
  std::vector<MaintenanceEvent> pending_;  // by completed_ns
  std::set<std::string> seen_;
  int64_t applied_ = 0;
};

}  // namespace doppel::engine
