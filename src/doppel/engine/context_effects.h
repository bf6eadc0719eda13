// What design specifications do to the running platform (docs/enterprise.md, "What a record
// does to a twin"): each limit of a twin's spec (store::SpecLimits) becomes
//   - a threshold alert rule for that twin and signal: "spec.<signal>.max" raised above the max,
//     "spec.<signal>.min" below the min (min limits that allow zero — a stopped pump's speed and
//     flow — raise no alert: a stopped machine is within its spec);
//   - for commanded quantities (setSpeed.speed_rpm), a refusing command-envelope limit
//     [min, max], with 0 (stop) allowed.
// Rules and limits name the spec fields they came from. Plain functions; the caller passes the
// specs (from the context store) and applies the result to the engine's options at start.
#pragma once

#include <string>
#include <vector>

#include "doppel/analytics/alert_rules.h"
#include "doppel/core/config.h"
#include "doppel/core/status.h"
#include "doppel/store/context_store.h"

namespace doppel::engine {

struct SpecEffects {
  std::vector<analytics::AlertRule> alert_rules;
  std::vector<CommandLimitConfig> envelope_limits;
};

// Alert severity of spec limits: warning (a rated limit is exceeded, the machine is not yet
// damaged; the config's own rules may add critical ones).
SpecEffects EffectsOfSpecs(const std::vector<store::DesignSpec>& specs);

// Reads every spec of `<data_dir>/context.db` (nothing when the file does not exist) and appends
// their effects to `alert_rules` and `commands->limits`. Returns how many specs were
// applied; errors of the context store (corrupt, locked, newer schema) pass through.
Result<size_t> ApplyDesignSpecs(const std::string& data_dir, std::vector<analytics::AlertRule>* alert_rules,
                                CommandsConfig* commands);

}  // namespace doppel::engine
