// What design specifications do to the running platform (docs/enterprise.md, "What a record
// does to a twin"): each limit of a twin's spec (store::SpecLimits) becomes
//   - a threshold alert rule for that twin and signal: "spec.<signal>.max" raised above the max,
//     "spec.<signal>.min" below the min (min limits that allow zero — a stopped pump's speed and
//     flow — raise no alert: a stopped machine is within its spec);
//   - for commanded quantities (setSpeed.speed_rpm), a refusing command-envelope limit
//     [min, max], with 0 (stop) allowed.
// Rules and limits name the spec fields they came from. Plain functions; the caller passes the
// specs (from the context store) and applies the result to the engine's options at start.
//
// Live (docs/enterprise.md "What the context changes in the running twin"): ContextLink re-reads
// context.db after an import through the API (Engine::ImportContext), and every
// EngineOptions::context_poll_ms for records another process wrote (`doppel import`), and hands
// the effects to the running engine: every spec's rules and envelope limits replace the previous
// spec ones, and completed part replacements go to the twins' estimators (maintenance.h).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/analytics/alert_rules.h"
#include "doppel/core/config.h"
#include "doppel/core/metrics.h"
#include "doppel/core/status.h"
#include "doppel/engine/maintenance.h"
#include "doppel/store/context_store.h"

namespace doppel::model {
class ModelRegistry;
}

namespace doppel::engine {

class AlertCenter;
class CommandManager;
class Shard;

// Spec rules are named "spec.<twin>.<signal>.max|min" (the "spec." prefix is reserved for them);
// spec envelope limits have a `source` starting with kSpecLimitSource.
inline constexpr const char* kSpecRulePrefix = "spec.";
inline constexpr const char* kSpecLimitSource = "design spec ";
bool IsSpecRule(const analytics::AlertRule& r);

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
// `spec_cursor` (may be null) gets the specs' change sequence read before them: hand it to the
// engine (EngineOptions::context_spec_cursor) so a spec written after it is applied live.
Result<size_t> ApplyDesignSpecs(const std::string& data_dir, std::vector<analytics::AlertRule>* alert_rules,
                                CommandsConfig* commands, int64_t* spec_cursor = nullptr);

// ---------------------------------------------------------------------------------------------
// Live application.

// What the engine exposes to apply spec effects while running (engine.cc fills it).
struct LiveSpecTargets {
  std::vector<Shard*> shards;
  std::function<size_t(const std::string&)> shard_of;  // index into shards of a twin
  CommandManager* commands = nullptr;
  AlertCenter* alerts = nullptr;
  const model::ModelRegistry* models = nullptr;
  // doppel_context_replacements_applied_total and doppel_context_spec_syncs_total (may be null).
  Counter* replacements_applied = nullptr;
  Counter* spec_syncs = nullptr;
};

// What ContextLink::SyncChanges applied.
struct ContextSync {
  size_t replacements = 0;  // completed part replacements handed to twins
  bool specs = false;       // a spec changed: every spec's effects were applied
};

class ContextLink {
 public:
  // `rules`: the engine's alert rules at start (config rules and the start-time spec rules).
  // `spec_cursor`: the change sequence of the specs the caller applied at start (ApplyDesignSpecs);
  // < 0: the specs in context.db now count as applied.
  ContextLink(std::string data_dir, LiveSpecTargets targets, std::vector<analytics::AlertRule> rules,
              int64_t spec_cursor = -1);
  ~ContextLink();

  // Thread-safe: every call holds one mutex from reading context.db to applying what it read, so
  // an API import and the engine's poll never apply the same change twice.
  //
  // Completed part replacements among the work orders changed since the previous call (every
  // work order at the first call) are posted to their twins' shards. Returns how many.
  Result<size_t> SyncWorkOrders();
  // Every spec of context.db: their alert rules replace the previous spec rules (the others are
  // kept) on every shard, their command-envelope limits the previous spec limits. Validates all
  // first (nothing changes on an error). Returns the effects applied.
  Result<SpecEffects> SyncSpecs();
  // Whatever changed in context.db since the last sync, whoever wrote it: completed replacements
  // (SyncWorkOrders) and, only when a spec changed, every spec (SyncSpecs; nothing is re-armed
  // otherwise). A spec set that does not validate is an error, and is tried again at the next call.
  Result<ContextSync> SyncChanges();
  // The alert rules in force.
  std::vector<analytics::AlertRule> rules() const;

 private:
  static constexpr int kBusyTimeoutMs = 500;
  // The context store, opened at the first call that finds context.db (null until then).
  Result<store::ContextStore*> Db();
  Result<size_t> SyncWorkOrdersLocked(store::ContextStore& db);
  Result<SpecEffects> SyncSpecsLocked(store::ContextStore* db);  // db may be null (no file)

  mutable std::mutex mu_;
  std::unique_ptr<store::ContextStore> db_;  // guarded by mu_
  std::string data_dir_;
  LiveSpecTargets t_;
  std::vector<analytics::AlertRule> rules_;
  int64_t workorder_cursor_ = 0;
  int64_t spec_cursor_ = 0;  // the specs up to this change sequence are applied
};

}  // namespace doppel::engine
