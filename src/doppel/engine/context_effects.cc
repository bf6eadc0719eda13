#include "doppel/engine/context_effects.h"

#include <fmt/format.h>

#include <filesystem>

namespace doppel::engine {

namespace {

analytics::AlertRule SpecRule(const store::DesignSpec& spec, const store::SpecLimit& l, bool max) {
  analytics::AlertRule r;
  r.name = fmt::format("spec.{}.{}.{}", spec.twin, l.signal, max ? "max" : "min");
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
      c.source = "design spec " + l.from;
      out.envelope_limits.push_back(std::move(c));
    }
  }
  return out;
}

Result<size_t> ApplyDesignSpecs(const std::string& data_dir, std::vector<analytics::AlertRule>* alert_rules,
                                CommandsConfig* commands) {
  const std::string path = data_dir + "/context.db";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return size_t{0};
  auto db = store::ContextStore::Open(path);
  if (!db.ok()) return db.status();
  auto specs = (*db)->ListSpecs();
  if (!specs.ok()) return specs.status();
  SpecEffects fx = EffectsOfSpecs(*specs);
  for (auto& r : fx.alert_rules) alert_rules->push_back(std::move(r));
  for (auto& l : fx.envelope_limits) commands->limits.push_back(std::move(l));
  return specs->size();
}

}  // namespace doppel::engine
