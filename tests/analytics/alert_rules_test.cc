#include "doppel/analytics/alert_rules.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testing/test_util.h"

namespace doppel::analytics {
namespace {

using nlohmann::json;

std::string ErrorOf(const json& rules) {
  auto r = ParseAlertRules(rules, "doppel.yaml: alerts.rules");
  return r.ok() ? "" : r.status().message();
}

TEST(ParseAlertRulesYaml, ReadsEveryKindWithDefaults) {
  auto r = ParseAlertRulesYamlText(R"(
- name: low_flow
  kind: threshold
  twins: "pump-*"
  signal: flow_m3h
  direction: below
  value: 20
  clear_value: 22
  min_duration_s: 30
  severity: critical
- name: temp_rise
  kind: rate_of_change
  signal: motor_temp_c
  direction: rising
  max_rate_per_s: 0.5
  window_s: 60
- name: anomalous
  kind: anomaly
  min_score: 0.7
- name: rul_week
  kind: rul_below
  horizon_h: 168
  clear_horizon_h: 200
- name: flow_silent
  kind: stale
  signal: flow_m3h
  max_age_s: 60
  severity: info
)",
                                   "test");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& v = *r;
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0].kind, RuleKind::kThreshold);
  EXPECT_EQ(v[0].twins, "pump-*");
  EXPECT_EQ(v[0].direction, Direction::kBelow);
  EXPECT_EQ(v[0].value, 20);
  EXPECT_EQ(v[0].EffectiveClearValue(), 22);
  EXPECT_EQ(v[0].min_duration_s, 30);
  EXPECT_EQ(v[0].severity, Severity::kCritical);
  EXPECT_EQ(v[1].kind, RuleKind::kRateOfChange);
  EXPECT_EQ(v[1].rate_direction, RateDirection::kRising);
  EXPECT_EQ(v[1].EffectiveClearRate(), 0.5);  // defaults to the trigger limit
  EXPECT_EQ(v[1].severity, Severity::kWarning);
  EXPECT_EQ(v[1].twins, "*");
  EXPECT_EQ(v[2].signal, "*");  // anomaly rules default to every signal
  EXPECT_EQ(v[2].EffectiveClearScore(), 0.7);
  EXPECT_EQ(v[3].EffectiveClearHorizon(), 200);
  EXPECT_EQ(v[4].kind, RuleKind::kStale);
  EXPECT_EQ(v[4].max_age_s, 60);
  EXPECT_EQ(v[4].severity, Severity::kInfo);
}

TEST(ParseAlertRulesYaml, QuotedNumberStaysAStringAndIsRejected) {
  auto r =
      ParseAlertRulesYamlText("- {name: a, kind: threshold, signal: x, direction: above, value: \"5\"}", "f");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "f[0].value: expected a number, got \"5\"");
}

TEST(ParseAlertRules, NullOrMissingSectionIsNoRules) {
  auto r = ParseAlertRules(json(nullptr), "x");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ParseAlertRules, ErrorsNameTheRuleIndexAndField) {
  json ok = {{"name", "a"}, {"kind", "threshold"}, {"signal", "s"}, {"direction", "above"}, {"value", 5}};
  EXPECT_EQ(ErrorOf(json::array({ok})), "");

  json missing = ok;
  missing.erase("value");
  EXPECT_EQ(ErrorOf(json::array({ok, missing})), "doppel.yaml: alerts.rules[1].value: missing");

  json typo = ok;
  typo["clear_valu"] = 4;
  EXPECT_EQ(ErrorOf(json::array({typo})),
            "doppel.yaml: alerts.rules[0].clear_valu: unknown key for a threshold rule");

  json other_kind = ok;
  other_kind["window_s"] = 4;
  EXPECT_EQ(ErrorOf(json::array({other_kind})),
            "doppel.yaml: alerts.rules[0].window_s: unknown key for a threshold rule");

  json kind = ok;
  kind["kind"] = "treshold";
  EXPECT_NE(ErrorOf(json::array({kind})).find("rules[0].kind: 'treshold' is not one of"), std::string::npos);

  json sev = ok;
  sev["severity"] = "fatal";
  EXPECT_NE(ErrorOf(json::array({sev})).find("rules[0].severity: 'fatal'"), std::string::npos);

  json dir = ok;
  dir["direction"] = "up";
  EXPECT_NE(ErrorOf(json::array({dir})).find("rules[0].direction: 'up' is not one of above, below"),
            std::string::npos);

  json wrong_side = ok;
  wrong_side["clear_value"] = 6;  // above 5 must clear at or below 5
  EXPECT_EQ(ErrorOf(json::array({wrong_side})),
            "doppel.yaml: alerts.rules[0].clear_value: 6 must be <= value 5 for direction above");

  json dup = ok;
  EXPECT_EQ(ErrorOf(json::array({ok, dup})),
            "doppel.yaml: alerts.rules[1].name: 'a' is already used by "
            "doppel.yaml: alerts.rules[0]");

  EXPECT_EQ(ErrorOf(json::array({1})), "doppel.yaml: alerts.rules[0]: expected a mapping (one rule)");
  EXPECT_EQ(ErrorOf(json::object()), "doppel.yaml: alerts.rules: expected a list of rules");
}

TEST(ParseAlertRules, KindSpecificLimitsAreChecked) {
  auto err = [](json rule) { return ErrorOf(json::array({rule})); };
  EXPECT_NE(err({{"name", "r"},
                 {"kind", "rate_of_change"},
                 {"signal", "s"},
                 {"max_rate_per_s", 0},
                 {"window_s", 5}})
                .find("rules[0].max_rate_per_s: 0 must be > 0"),
            std::string::npos);
  EXPECT_NE(err({{"name", "r"},
                 {"kind", "rate_of_change"},
                 {"signal", "s"},
                 {"max_rate_per_s", 1},
                 {"window_s", -1}})
                .find("rules[0].window_s:"),
            std::string::npos);
  EXPECT_NE(err({{"name", "r"},
                 {"kind", "rate_of_change"},
                 {"signal", "s"},
                 {"max_rate_per_s", 1},
                 {"window_s", 5},
                 {"clear_rate_per_s", 2}})
                .find("rules[0].clear_rate_per_s:"),
            std::string::npos);
  EXPECT_NE(err({{"name", "r"}, {"kind", "anomaly"}, {"min_score", 1.5}})
                .find("rules[0].min_score: 1.5 must be in (0, 1]"),
            std::string::npos);
  EXPECT_NE(err({{"name", "r"}, {"kind", "anomaly"}, {"min_score", 0.5}, {"clear_score", 0.6}})
                .find("rules[0].clear_score:"),
            std::string::npos);
  EXPECT_NE(err({{"name", "r"}, {"kind", "rul_below"}, {"horizon_h", 100}, {"clear_horizon_h", 50}})
                .find("rules[0].clear_horizon_h: 50 must be >= horizon_h 100"),
            std::string::npos);
  EXPECT_NE(err({{"name", "r"}, {"kind", "rul_below"}, {"horizon_h", 100}, {"signal", "x"}})
                .find("rules[0].signal: unknown key for a rul_below rule"),
            std::string::npos);
  EXPECT_NE(
      err({{"name", "r"}, {"kind", "stale"}, {"signal", "x"}, {"max_age_s", 0}}).find("rules[0].max_age_s:"),
      std::string::npos);
  EXPECT_NE(err({{"name", "r"}, {"kind", "stale"}, {"max_age_s", 5}}).find("rules[0].signal: missing"),
            std::string::npos);
  EXPECT_NE(err({{"name", "bad name"}, {"kind", "anomaly"}, {"min_score", 0.5}}).find("rules[0].name:"),
            std::string::npos);
  EXPECT_NE(err({{"name", "r"}, {"kind", "anomaly"}, {"min_score", 0.5}, {"min_duration_s", -1}})
                .find("rules[0].min_duration_s:"),
            std::string::npos);
}

TEST(ValidateAlertRules, NamesTheRuleOfAProgrammaticError) {
  AlertRule a;
  a.name = "a";
  a.signal = "s";
  a.value = 10;
  AlertRule b = a;
  b.name = "b";
  b.direction = Direction::kBelow;
  b.clear_value = 9;
  Status st = ValidateAlertRules({a, b});
  EXPECT_EQ(st.message(), "rules[1].clear_value: 9 must be >= value 10 for direction below");
  b.clear_value = 11;
  EXPECT_TRUE(ValidateAlertRules({a, b}).ok());
}

TEST(AlertsDoc, YamlExampleParses) {
  std::ifstream f(testing::SourceDir() + "/docs/alerts.md");
  ASSERT_TRUE(f) << "docs/alerts.md";
  std::stringstream ss;
  ss << f.rdbuf();
  std::string doc = ss.str();
  size_t begin = doc.find("```yaml\n");
  ASSERT_NE(begin, std::string::npos);
  begin += 8;
  size_t end = doc.find("```", begin);
  ASSERT_NE(end, std::string::npos);
  YAML::Node root = YAML::Load(doc.substr(begin, end - begin));
  auto rules = ParseAlertRulesYaml(root["alerts"]["rules"], "docs/alerts.md: alerts.rules");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  ASSERT_EQ(rules->size(), 6u);
  for (RuleKind k : {RuleKind::kThreshold, RuleKind::kRateOfChange, RuleKind::kAnomaly, RuleKind::kRulBelow,
                     RuleKind::kStale}) {
    bool found = false;
    for (const auto& r : *rules) found |= r.kind == k;
    EXPECT_TRUE(found) << RuleKindName(k);
  }
}

}  // namespace
}  // namespace doppel::analytics
