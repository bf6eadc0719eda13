#include "doppel/engine/maintenance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace doppel::engine {

const char* RenewedEntryOf(store::WorkOrderKind kind) {
  switch (kind) {
    case store::WorkOrderKind::kImpellerReplacement: return "pump.impeller_wear";
    case store::WorkOrderKind::kBearingReplacement: return "pump.bearing_wear";
    default: return "";
  }
}

std::vector<MaintenanceEvent> ReplacementsOf(const std::vector<store::WorkOrder>& orders) {
  std::vector<MaintenanceEvent> out;
  for (const store::WorkOrder& w : orders) {
    if (w.status != store::WorkOrderStatus::kCompleted || !w.completed_ns) continue;
    if (*RenewedEntryOf(w.kind) == '\0') continue;
    out.push_back(MaintenanceEvent{w.twin, w.id, w.kind, *w.completed_ns});
  }
  return out;
}

bool MaintenanceQueue::Add(const MaintenanceEvent& e) {
  if (!seen_.insert(e.id).second) return false;
  auto at = std::upper_bound(pending_.begin(), pending_.end(), e.completed_ns,
                             [](TimeNs t, const MaintenanceEvent& p) { return t < p.completed_ns; });
  pending_.insert(at, e);
  return true;
}

void MaintenanceQueue::Begin(TimeNs known_ns) {
  auto first_after = std::find_if(pending_.begin(), pending_.end(),
                                  [&](const MaintenanceEvent& p) { return p.completed_ns > known_ns; });
  for (auto it = pending_.begin(); it != first_after; ++it) {
    spdlog::info(
        "twin {}: work order {} ({}) completed before the estimator's first sample: its prior is "
        "already a new part's",
        it->twin, it->id, store::WorkOrderKindName(it->kind));
  }
  pending_.erase(pending_.begin(), first_after);
}

int MaintenanceQueue::ApplyDue(estimate::Estimator* est, TimeNs t0_ns, TimeNs step_ns,
                               const std::string& twin, const Eigen::VectorXd& prior_std) {
  int done = 0;
  size_t n = 0;
  while (n < pending_.size() && pending_[n].completed_ns <= step_ns) ++n;
  for (size_t k = 0; k < n; ++k) {
    const MaintenanceEvent& e = pending_[k];
    const std::string entry = RenewedEntryOf(e.kind);
    const auto& names = est->state_names();
    const auto it = std::find(names.begin(), names.end(), entry);
    if (it == names.end()) {
      spdlog::info("twin {}: work order {} ({}): the estimator has no '{}'; nothing to reset", twin, e.id,
                   store::WorkOrderKindName(e.kind), entry);
      continue;
    }
    const int index = static_cast<int>(it - names.begin());
    // Predict to the replacement time when it is ahead of the estimate; an older one is applied now.
    const double t_s = static_cast<double>(e.completed_ns - t0_ns) * 1e-9;
    if (t_s > est->time()) {
      if (Status s = est->Predict(t_s); !s.ok()) {
        spdlog::warn("twin {}: predicting to work order {} failed: {}", twin, e.id, s.ToString());
      }
    }
    const double sd = prior_std[index];
    Status s = est->ResetEntry(index, 0.0, sd * sd);
    if (!s.ok()) {
      spdlog::warn("twin {}: work order {}: resetting '{}' failed: {}", twin, e.id, entry, s.ToString());
      continue;
    }
    ++done;
    ++applied_;
    spdlog::info("twin {}: work order {} ({}) completed at {} ns: '{}' prior reset to 0 ± {}", twin, e.id,
                 store::WorkOrderKindName(e.kind), e.completed_ns, entry, sd);
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  return done;
}

}  // namespace doppel::engine
