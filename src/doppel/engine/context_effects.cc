#include "doppel/engine/context_effects.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <set>

#include "doppel/engine/alert_center.h"
#include "doppel/engine/commands.h"
#include "doppel/engine/envelope.h"
#include "doppel/engine/shard.h"

namespace doppel::engine {

namespace {

analytics::AlertRule SpecRule(const store::DesignSpec& spec, const store::SpecLimit& l, bool max) {
  analytics::AlertRule r;
  r.name = fmt::format("{}{}.{}.{}", kSpecRulePrefix, spec.twin, l.signal, max ? "max" : "min");
  for (char& ch : r.name) {
    if (ch == ':') ch = '_';  // twin ids may hold ':', rule names may not
  }
  r.kind = analytics::RuleKind::kThreshold;
  r.severity = analytics::Severity::kWarning;
  r.twins = spec.twin;
  r.signal = l.signal;
  r.direction = max ? analytics::Direction::kAbove : analytics::Direction::kBelow;
  r.value = max ? *l.max : *l.min;
  // A reading at the limit's noise level must not flap: hold 5 s before raising.
  r.min_duration_s = 5;
  r.description = fmt::format("design spec of {} ({}{})", spec.twin, l.from,
                              spec.source.empty() ? "" : ", from " + spec.source);
  return r;
}

}  // namespace

bool IsSpecRule(const analytics::AlertRule& r) { return r.name.starts_with(kSpecRulePrefix); }

SpecEffects EffectsOfSpecs(const std::vector<store::DesignSpec>& specs) {
  SpecEffects out;
  for (const store::DesignSpec& spec : specs) {
    for (const store::SpecLimit& l : store::SpecLimits(spec)) {
      if (l.max) out.alert_rules.push_back(SpecRule(spec, l, true));
      if (l.min && !l.zero_ok) out.alert_rules.push_back(SpecRule(spec, l, false));
      if (!l.command_envelope) continue;
      CommandLimitConfig c;
      c.twins = spec.twin;
      c.command = "setSpeed";
      c.field = l.signal;
      c.has_min = l.min.has_value();
      c.min = l.min.value_or(0);
      c.has_max = l.max.has_value();
      c.max = l.max.value_or(0);
      c.zero_ok = l.zero_ok;
      c.source = kSpecLimitSource + l.from;
      out.envelope_limits.push_back(std::move(c));
    }
  }
  return out;
}

Result<size_t> ApplyDesignSpecs(const std::string& data_dir, std::vector<analytics::AlertRule>* alert_rules,
                                CommandsConfig* commands, int64_t* spec_cursor) {
  if (spec_cursor != nullptr) *spec_cursor = 0;
  const std::string path = data_dir + "/context.db";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return size_t{0};
  auto db = store::ContextStore::Open(path);
  if (!db.ok()) return db.status();
  if (spec_cursor != nullptr) {  // before the list: a spec written in between is applied live later
    auto c = (*db)->SpecChangesSince(0);
    if (!c.ok()) return c.status();
    *spec_cursor = c->last_seq;
  }
  auto specs = (*db)->ListSpecs();
  if (!specs.ok()) return specs.status();
  SpecEffects fx = EffectsOfSpecs(*specs);
  for (auto& r : fx.alert_rules) alert_rules->push_back(std::move(r));
  for (auto& l : fx.envelope_limits) commands->limits.push_back(std::move(l));
  return specs->size();
}

// --- Live ------------------------------------------------------------------------------------

ContextLink::ContextLink(std::string data_dir, LiveSpecTargets targets,
                         std::vector<analytics::AlertRule> rules, int64_t spec_cursor)
    : data_dir_(std::move(data_dir)), t_(std::move(targets)), rules_(std::move(rules)) {
  std::lock_guard lk(mu_);
  if (spec_cursor >= 0) {
    spec_cursor_ = spec_cursor;
    return;
  }
  auto db = Db();
  if (!db.ok() || *db == nullptr) return;  // an unreadable store fails the first sync, with its reason
  if (auto c = (*db)->SpecChangesSince(0); c.ok()) spec_cursor_ = c->last_seq;
}

ContextLink::~ContextLink() = default;

Result<store::ContextStore*> ContextLink::Db() {
  if (db_) return db_.get();
  const std::string path = data_dir_ + "/context.db";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return nullptr;
  // Opened once and kept: opening runs a schema transaction, which a poll every few seconds
  // should not repeat. A short busy timeout: a locked database is tried again at the next poll.
  store::ContextStoreOptions o;
  o.busy_timeout_ms = kBusyTimeoutMs;
  auto db = store::ContextStore::Open(path, o);
  if (!db.ok()) return db.status();
  db_ = std::move(db).value();
  return db_.get();
}

Result<ContextSync> ContextLink::SyncChanges() {
  std::lock_guard lk(mu_);
  ContextSync out;
  auto db = Db();
  if (!db.ok()) return db.status();
  if (*db == nullptr) return out;
  auto n = SyncWorkOrdersLocked(**db);
  if (!n.ok()) return n.status();
  out.replacements = *n;
  auto c = (*db)->SpecChangesSince(spec_cursor_);
  if (!c.ok()) return c.status();
  if (c->rows.empty()) return out;
  auto fx = SyncSpecsLocked(*db);
  if (!fx.ok()) return fx.status();
  out.specs = true;
  return out;
}

std::vector<analytics::AlertRule> ContextLink::rules() const {
  std::lock_guard lk(mu_);
  return rules_;
}

Result<size_t> ContextLink::SyncWorkOrders() {
  std::lock_guard lk(mu_);
  auto db = Db();
  if (!db.ok()) return db.status();
  if (*db == nullptr) return size_t{0};
  return SyncWorkOrdersLocked(**db);
}

Result<size_t> ContextLink::SyncWorkOrdersLocked(store::ContextStore& db) {
  auto changes = db.WorkOrderChangesSince(workorder_cursor_);
  if (!changes.ok()) return changes.status();
  workorder_cursor_ = changes->last_seq;
  const std::vector<MaintenanceEvent> events = ReplacementsOf(changes->rows);
  for (const MaintenanceEvent& e : events) t_.shards[t_.shard_of(e.twin)]->AddMaintenance(e);
  if (t_.replacements_applied != nullptr) t_.replacements_applied->Inc(events.size());
  if (!events.empty())
    spdlog::info("context: {} completed part replacement(s) handed to the twins", events.size());
  return events.size();
}

Result<SpecEffects> ContextLink::SyncSpecs() {
  std::lock_guard lk(mu_);
  auto db = Db();
  if (!db.ok()) return db.status();
  return SyncSpecsLocked(*db);
}

Result<SpecEffects> ContextLink::SyncSpecsLocked(store::ContextStore* db) {
  std::vector<store::DesignSpec> specs;
  int64_t cursor = spec_cursor_;
  if (db != nullptr) {
    // The cursor before the list: a spec written in between is listed now and seen again later.
    auto changes = db->SpecChangesSince(spec_cursor_);
    if (!changes.ok()) return changes.status();
    cursor = changes->last_seq;
    auto listed = db->ListSpecs();
    if (!listed.ok()) return listed.status();
    specs = std::move(listed).value();
  }
  SpecEffects fx = EffectsOfSpecs(specs);
  std::vector<analytics::AlertRule> rules;
  std::set<std::string> evaluated;  // rule names the shards' evaluators hold now
  for (const analytics::AlertRule& r : rules_) {
    evaluated.insert(r.name);
    if (!IsSpecRule(r)) rules.push_back(r);
  }
  for (const analytics::AlertRule& r : fx.alert_rules) rules.push_back(r);
  if (Status v = analytics::ValidateAlertRules(rules); !v.ok()) return v;
  CommandsConfig check;
  check.limits = fx.envelope_limits;
  if (auto env = SafetyEnvelope::Create(check, t_.models); !env.ok()) return env.status();
  // Everything is valid: apply. Active alerts of the rules evaluated so far are re-armed (or
  // cleared when their rule is gone); alerts of other sources (command_timeout) are not touched.
  if (t_.commands != nullptr) t_.commands->ReplaceEnvelopeLimits(kSpecLimitSource, fx.envelope_limits);
  std::vector<std::vector<analytics::Alert>> active(t_.shards.size());
  if (t_.alerts != nullptr) {
    for (analytics::Alert& a : t_.alerts->Active()) {
      if (evaluated.count(a.rule)) active[t_.shard_of(a.twin)].push_back(std::move(a));
    }
  }
  for (size_t i = 0; i < t_.shards.size(); ++i) t_.shards[i]->ReplaceAlertRules(rules, std::move(active[i]));
  rules_ = std::move(rules);
  spec_cursor_ = cursor;
  if (t_.spec_syncs != nullptr) t_.spec_syncs->Inc();
  spdlog::info("context: {} design spec(s) in force: {} alert rule(s), {} command-envelope limit(s)",
               specs.size(), fx.alert_rules.size(), fx.envelope_limits.size());
  return fx;
}

}  // namespace doppel::engine
