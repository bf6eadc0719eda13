// Alert rules: the `alerts.rules` section of the serve configuration (docs/alerts.md).
//
// A rule names a condition over one kind of input of the twins whose id matches `twins` (a glob):
//   threshold       a signal's value above/below `value`; clears past `clear_value` (hysteresis)
//   rate_of_change  the least-squares slope of a signal over the last `window_s` beyond `max_rate_per_s`
//   anomaly         an anomaly score (0..1) of a signal (or of any signal: "*") >= `min_score`
//   rul_below       the remaining useful life of the twin below `horizon_h` hours
//   stale           no sample of a signal for more than `max_age_s`
// The condition must hold for `min_duration_s` before the alert is raised (not for `stale`).
// Parsing reports the rule index and the field: "doppel.yaml: alerts.rules[2].clear_value: ...".
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/glob.h"  // twins and signal selectors are globs
#include "doppel/core/status.h"

namespace YAML {
class Node;
}

namespace doppel::analytics {

enum class Severity : uint8_t { kInfo = 0, kWarning = 1, kCritical = 2 };
const char* SeverityName(Severity s);  // "info" | "warning" | "critical"
bool ParseSeverity(std::string_view s, Severity* out);

enum class RuleKind : uint8_t { kThreshold, kRateOfChange, kAnomaly, kRulBelow, kStale };
const char* RuleKindName(RuleKind k);  // "threshold" | "rate_of_change" | "anomaly" | "rul_below" | "stale"
bool ParseRuleKind(std::string_view s, RuleKind* out);

// For `threshold`: which side of `value` is bad.
enum class Direction : uint8_t { kAbove, kBelow };
// For `rate_of_change`: which sign of the slope is bad.
enum class RateDirection : uint8_t { kEither, kRising, kFalling };

// One rule. Fields not used by the rule's kind are ignored (and rejected by the parser).
struct AlertRule {
  std::string name;  // unique, [A-Za-z0-9_.-]+
  RuleKind kind = RuleKind::kThreshold;
  Severity severity = Severity::kWarning;
  std::string twins = "*";    // glob ('*', '?') over twin ids
  std::string signal;         // glob over signal names ("*": every signal); not used by rul_below
  std::string description;    // optional free text for people reading the config and the alert list
  double min_duration_s = 0;  // condition must hold (at every evaluation) this long before raising

  // threshold: raised when value > `value` (above) / < `value` (below) for min_duration_s;
  // cleared when value <= clear_value (above) / >= clear_value (below). Default clear_value: value.
  Direction direction = Direction::kAbove;
  double value = 0;
  std::optional<double> clear_value;

  // rate_of_change: slope (signal units per second) over samples of the last `window_s`;
  // evaluated once the samples span at least half the window. Default clear_rate_per_s: max_rate_per_s.
  double max_rate_per_s = 0;
  std::optional<double> clear_rate_per_s;
  double window_s = 0;
  RateDirection rate_direction = RateDirection::kEither;

  // anomaly: raised when score >= min_score; cleared when score < clear_score (default min_score).
  double min_score = 0;
  std::optional<double> clear_score;

  // rul_below: raised when RUL < horizon_h; cleared when RUL >= clear_horizon_h (default horizon_h).
  double horizon_h = 0;
  std::optional<double> clear_horizon_h;

  // stale: raised by Tick when the newest sample is older than max_age_s; cleared by the next sample.
  double max_age_s = 0;

  // Checks this rule on its own; the message starts with the offending field:
  // "clear_value: 18 must be >= value 20 for direction below".
  Status Validate() const;
  // The clear limits with their defaults applied.
  double EffectiveClearValue() const { return clear_value.value_or(value); }
  double EffectiveClearRate() const { return clear_rate_per_s.value_or(max_rate_per_s); }
  double EffectiveClearScore() const { return clear_score.value_or(min_score); }
  double EffectiveClearHorizon() const { return clear_horizon_h.value_or(horizon_h); }
};

// Validates every rule and that names are unique; errors name "rules[i].field".
Status ValidateAlertRules(const std::vector<AlertRule>& rules);

// Parses a JSON array of rule objects. `where` prefixes errors, e.g. "doppel.yaml: alerts.rules"
// gives "doppel.yaml: alerts.rules[2].value: expected a number". Unknown keys, and keys of
// another kind, are errors. The result is validated (ValidateAlertRules).
Result<std::vector<AlertRule>> ParseAlertRules(const nlohmann::json& rules, const std::string& where);
// The same from a YAML sequence (the serve config's `alerts.rules` node). Plain scalars are typed
// as YAML 1.2 core (numbers, true/false, null); quoted scalars stay strings.
Result<std::vector<AlertRule>> ParseAlertRulesYaml(const YAML::Node& rules, const std::string& where);
// The same from YAML text holding the sequence (tests, tools).
Result<std::vector<AlertRule>> ParseAlertRulesYamlText(const std::string& yaml_text,
                                                       const std::string& where);

}  // namespace doppel::analytics
