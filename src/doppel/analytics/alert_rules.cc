#include "doppel/analytics/alert_rules.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace doppel::analytics {

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo: return "info";
    case Severity::kWarning: return "warning";
    case Severity::kCritical: return "critical";
  }
  return "?";
}

bool ParseSeverity(std::string_view s, Severity* out) {
  if (s == "info")
    *out = Severity::kInfo;
  else if (s == "warning")
    *out = Severity::kWarning;
  else if (s == "critical")
    *out = Severity::kCritical;
  else
    return false;
  return true;
}

const char* RuleKindName(RuleKind k) {
  switch (k) {
    case RuleKind::kThreshold: return "threshold";
    case RuleKind::kRateOfChange: return "rate_of_change";
    case RuleKind::kAnomaly: return "anomaly";
    case RuleKind::kRulBelow: return "rul_below";
    case RuleKind::kStale: return "stale";
  }
  return "?";
}

bool ParseRuleKind(std::string_view s, RuleKind* out) {
  for (RuleKind k : {RuleKind::kThreshold, RuleKind::kRateOfChange, RuleKind::kAnomaly, RuleKind::kRulBelow,
                     RuleKind::kStale}) {
    if (s == RuleKindName(k)) {
      *out = k;
      return true;
    }
  }
  return false;
}

namespace {

bool Finite(double v) { return std::isfinite(v); }

Status FieldError(const char* field, const std::string& what) {
  return InvalidArgument(fmt::format("{}: {}", field, what));
}

}  // namespace

Status AlertRule::Validate() const {
  if (name.empty()) return FieldError("name", "missing");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-' || c == '.';
    if (!ok)
      return FieldError("name", fmt::format("'{}' may only hold letters, digits, '_', '-' and '.'", name));
  }
  if (twins.empty()) return FieldError("twins", "empty glob (use \"*\" for every twin)");
  if (kind != RuleKind::kRulBelow && signal.empty())
    return FieldError(
        "signal", fmt::format("missing ({} rules watch one signal or a glob of them)", RuleKindName(kind)));
  constexpr double kMaxSeconds = 1e9;  // ~31 years; keeps the nanosecond conversions in range
  if (min_duration_s > kMaxSeconds || window_s > kMaxSeconds || max_age_s > kMaxSeconds)
    return FieldError(min_duration_s > kMaxSeconds ? "min_duration_s"
                      : window_s > kMaxSeconds     ? "window_s"
                                                   : "max_age_s",
                      "must be <= 1e9 seconds");
  if (!Finite(min_duration_s) || min_duration_s < 0)
    return FieldError("min_duration_s", fmt::format("{} must be a finite number >= 0", min_duration_s));
  switch (kind) {
    case RuleKind::kThreshold: {
      if (!Finite(value)) return FieldError("value", "must be finite");
      double c = EffectiveClearValue();
      if (!Finite(c)) return FieldError("clear_value", "must be finite");
      if (direction == Direction::kAbove && c > value)
        return FieldError("clear_value", fmt::format("{} must be <= value {} for direction above", c, value));
      if (direction == Direction::kBelow && c < value)
        return FieldError("clear_value", fmt::format("{} must be >= value {} for direction below", c, value));
      break;
    }
    case RuleKind::kRateOfChange: {
      if (!Finite(max_rate_per_s) || max_rate_per_s <= 0)
        return FieldError("max_rate_per_s", fmt::format("{} must be > 0 (a magnitude)", max_rate_per_s));
      double c = EffectiveClearRate();
      if (!Finite(c) || c < 0 || c > max_rate_per_s)
        return FieldError("clear_rate_per_s",
                          fmt::format("{} must be in [0, max_rate_per_s {}]", c, max_rate_per_s));
      if (!Finite(window_s) || window_s <= 0)
        return FieldError("window_s", fmt::format("{} must be > 0", window_s));
      break;
    }
    case RuleKind::kAnomaly: {
      if (!Finite(min_score) || min_score <= 0 || min_score > 1)
        return FieldError("min_score", fmt::format("{} must be in (0, 1]", min_score));
      double c = EffectiveClearScore();
      if (!Finite(c) || c < 0 || c > min_score)
        return FieldError("clear_score", fmt::format("{} must be in [0, min_score {}]", c, min_score));
      break;
    }
    case RuleKind::kRulBelow: {
      if (!Finite(horizon_h) || horizon_h <= 0)
        return FieldError("horizon_h", fmt::format("{} must be > 0 hours", horizon_h));
      double c = EffectiveClearHorizon();
      if (!Finite(c) || c < horizon_h)
        return FieldError("clear_horizon_h", fmt::format("{} must be >= horizon_h {}", c, horizon_h));
      break;
    }
    case RuleKind::kStale: {
      if (!Finite(max_age_s) || max_age_s <= 0)
        return FieldError("max_age_s", fmt::format("{} must be > 0 seconds", max_age_s));
      if (min_duration_s != 0)
        return FieldError("min_duration_s", "not used by stale rules (max_age_s is the delay)");
      break;
    }
  }
  return Status::Ok();
}

Status ValidateAlertRules(const std::vector<AlertRule>& rules) {
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < rules.size(); ++i) {
    Status st = rules[i].Validate();
    if (!st.ok()) return InvalidArgument(fmt::format("rules[{}].{}", i, st.message()));
    auto [it, fresh] = seen.emplace(rules[i].name, i);
    if (!fresh)
      return InvalidArgument(
          fmt::format("rules[{}].name: '{}' is already used by rules[{}]", i, rules[i].name, it->second));
  }
  return Status::Ok();
}

namespace {

using json = nlohmann::json;

class RuleReader {
 public:
  RuleReader(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  Status Error(const std::string& key, const std::string& what) const {
    return InvalidArgument(fmt::format("{}.{}: {}", path_, key, what));
  }
  bool Has(const char* key) const { return obj_.contains(key); }

  Status String(const char* key, std::string* out, bool required) const {
    if (!Has(key)) return required ? Error(key, "missing") : Status::Ok();
    const json& v = obj_[key];
    if (!v.is_string()) return Error(key, fmt::format("expected a string, got {}", v.dump()));
    *out = v.get<std::string>();
    return Status::Ok();
  }
  Status Number(const char* key, double* out, bool required) const {
    if (!Has(key)) return required ? Error(key, "missing") : Status::Ok();
    const json& v = obj_[key];
    if (!v.is_number()) return Error(key, fmt::format("expected a number, got {}", v.dump()));
    *out = v.get<double>();
    return Status::Ok();
  }
  Status Optional(const char* key, std::optional<double>* out) const {
    if (!Has(key)) return Status::Ok();
    double v = 0;
    DOPPEL_RETURN_IF_ERROR(Number(key, &v, true));
    *out = v;
    return Status::Ok();
  }
  Status Keys(const std::set<std::string>& allowed, RuleKind kind) const {
    for (auto it = obj_.begin(); it != obj_.end(); ++it) {
      if (allowed.count(it.key())) continue;
      return Error(it.key(), fmt::format("unknown key for a {} rule", RuleKindName(kind)));
    }
    return Status::Ok();
  }

 private:
  const json& obj_;
  std::string path_;
};

Result<AlertRule> ParseOne(const json& obj, const std::string& path) {
  if (!obj.is_object()) return InvalidArgument(fmt::format("{}: expected a mapping (one rule)", path));
  RuleReader r(obj, path);
  AlertRule rule;
  std::string kind, severity;
  DOPPEL_RETURN_IF_ERROR(r.String("kind", &kind, true));
  if (!ParseRuleKind(kind, &rule.kind))
    return r.Error(
        "kind", fmt::format("'{}' is not one of threshold, rate_of_change, anomaly, rul_below, stale", kind));
  std::set<std::string> allowed = {"name", "kind", "severity", "twins", "description"};
  switch (rule.kind) {
    case RuleKind::kThreshold:
      allowed.insert({"signal", "direction", "value", "clear_value", "min_duration_s"});
      break;
    case RuleKind::kRateOfChange:
      allowed.insert(
          {"signal", "direction", "max_rate_per_s", "clear_rate_per_s", "window_s", "min_duration_s"});
      break;
    case RuleKind::kAnomaly: allowed.insert({"signal", "min_score", "clear_score", "min_duration_s"}); break;
    case RuleKind::kRulBelow: allowed.insert({"horizon_h", "clear_horizon_h", "min_duration_s"}); break;
    case RuleKind::kStale: allowed.insert({"signal", "max_age_s"}); break;
  }
  DOPPEL_RETURN_IF_ERROR(r.Keys(allowed, rule.kind));
  DOPPEL_RETURN_IF_ERROR(r.String("name", &rule.name, true));
  DOPPEL_RETURN_IF_ERROR(r.String("twins", &rule.twins, false));
  DOPPEL_RETURN_IF_ERROR(r.String("description", &rule.description, false));
  if (r.Has("severity")) {
    DOPPEL_RETURN_IF_ERROR(r.String("severity", &severity, true));
    if (!ParseSeverity(severity, &rule.severity))
      return r.Error("severity", fmt::format("'{}' is not one of info, warning, critical", severity));
  }
  if (rule.kind == RuleKind::kAnomaly) rule.signal = "*";
  if (rule.kind != RuleKind::kRulBelow)
    DOPPEL_RETURN_IF_ERROR(r.String("signal", &rule.signal, rule.kind != RuleKind::kAnomaly));
  DOPPEL_RETURN_IF_ERROR(r.Number("min_duration_s", &rule.min_duration_s, false));
  std::string dir;
  switch (rule.kind) {
    case RuleKind::kThreshold:
      DOPPEL_RETURN_IF_ERROR(r.String("direction", &dir, true));
      if (dir == "above")
        rule.direction = Direction::kAbove;
      else if (dir == "below")
        rule.direction = Direction::kBelow;
      else
        return r.Error("direction", fmt::format("'{}' is not one of above, below", dir));
      DOPPEL_RETURN_IF_ERROR(r.Number("value", &rule.value, true));
      DOPPEL_RETURN_IF_ERROR(r.Optional("clear_value", &rule.clear_value));
      break;
    case RuleKind::kRateOfChange:
      DOPPEL_RETURN_IF_ERROR(r.String("direction", &dir, false));
      if (dir.empty() || dir == "either")
        rule.rate_direction = RateDirection::kEither;
      else if (dir == "rising")
        rule.rate_direction = RateDirection::kRising;
      else if (dir == "falling")
        rule.rate_direction = RateDirection::kFalling;
      else
        return r.Error("direction", fmt::format("'{}' is not one of rising, falling, either", dir));
      DOPPEL_RETURN_IF_ERROR(r.Number("max_rate_per_s", &rule.max_rate_per_s, true));
      DOPPEL_RETURN_IF_ERROR(r.Optional("clear_rate_per_s", &rule.clear_rate_per_s));
      DOPPEL_RETURN_IF_ERROR(r.Number("window_s", &rule.window_s, true));
      break;
    case RuleKind::kAnomaly:
      DOPPEL_RETURN_IF_ERROR(r.Number("min_score", &rule.min_score, true));
      DOPPEL_RETURN_IF_ERROR(r.Optional("clear_score", &rule.clear_score));
      break;
    case RuleKind::kRulBelow:
      DOPPEL_RETURN_IF_ERROR(r.Number("horizon_h", &rule.horizon_h, true));
      DOPPEL_RETURN_IF_ERROR(r.Optional("clear_horizon_h", &rule.clear_horizon_h));
      break;
    case RuleKind::kStale: DOPPEL_RETURN_IF_ERROR(r.Number("max_age_s", &rule.max_age_s, true)); break;
  }
  Status st = rule.Validate();
  if (!st.ok()) return InvalidArgument(fmt::format("{}.{}", path, st.message()));
  return rule;
}

// YAML 1.2 core schema for plain scalars; quoted scalars (tag "!") stay strings.
json ScalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  const char* b = s.c_str();
  char* e = nullptr;
  long long i = std::strtoll(b, &e, 10);
  if (e && *e == '\0' && e != b) return i;
  double d = std::strtod(b, &e);
  if (e && *e == '\0' && e != b && std::isfinite(d)) return d;
  return s;
}

json YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(YamlToJson(e));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = YamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar: return ScalarToJson(n);
    default: return nullptr;
  }
}

}  // namespace

Result<std::vector<AlertRule>> ParseAlertRules(const json& rules, const std::string& where) {
  if (rules.is_null()) return std::vector<AlertRule>{};
  if (!rules.is_array()) return InvalidArgument(fmt::format("{}: expected a list of rules", where));
  std::vector<AlertRule> out;
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string path = fmt::format("{}[{}]", where, i);
    auto rule = ParseOne(rules[i], path);
    if (!rule.ok()) return rule.status();
    auto [it, fresh] = seen.emplace(rule->name, i);
    if (!fresh)
      return InvalidArgument(
          fmt::format("{}.name: '{}' is already used by {}[{}]", path, rule->name, where, it->second));
    out.push_back(std::move(rule).value());
  }
  return out;
}

Result<std::vector<AlertRule>> ParseAlertRulesYaml(const YAML::Node& rules, const std::string& where) {
  if (!rules || rules.IsNull()) return std::vector<AlertRule>{};
  return ParseAlertRules(YamlToJson(rules), where);
}

Result<std::vector<AlertRule>> ParseAlertRulesYamlText(const std::string& yaml_text,
                                                       const std::string& where) {
  YAML::Node n;
  try {
    n = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}: YAML: {}", where, e.what()));
  }
  return ParseAlertRulesYaml(n, where);
}

}  // namespace doppel::analytics
