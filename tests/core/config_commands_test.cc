// The `commands:` section of the serve config: modes and the safety envelope (docs/commands.md).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "doppel/core/config.h"
#include "testing/test_util.h"

namespace doppel {
namespace {

const std::string kBase = R"(
tokens: [{token: t, role: admin}]
)";

// The complete example of docs/commands.md, taken from the document itself.
std::string DocExample() {
  std::ifstream in(testing::SourceDir() + "/docs/commands.md");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  size_t start = doc.find("```yaml\ncommands:");
  if (start == std::string::npos) return "";
  start += 8;
  return doc.substr(start, doc.find("```", start) - start);
}

TEST(ConfigCommandsTest, TheDocumentedExampleParsesToItsValues) {
  std::string yaml = DocExample();
  ASSERT_FALSE(yaml.empty()) << "docs/commands.md has no ```yaml commands: block";
  auto c = ParseServeConfig(kBase + yaml, "doppel.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->command_timeout_ms, 10000);
  EXPECT_EQ(c->commands.default_mode, "auto");
  ASSERT_EQ(c->commands.modes.size(), 2u);
  EXPECT_EQ(c->commands.modes[0], (std::pair<std::string, std::string>{"pump-*", "approve"}));
  EXPECT_EQ(c->commands.modes[1], (std::pair<std::string, std::string>{"tank-*", "advisory"}));
  ASSERT_EQ(c->commands.limits.size(), 2u);
  const CommandLimitConfig& l = c->commands.limits[0];
  EXPECT_EQ(l.twins, "pump-*");
  EXPECT_EQ(l.command, "setSpeed");
  EXPECT_EQ(l.field, "speed_rpm");
  EXPECT_TRUE(l.has_min && l.has_max && !l.has_rate && l.clamp);
  EXPECT_EQ(l.min, 0);
  EXPECT_EQ(l.max, 2950);
  EXPECT_TRUE(c->commands.limits[1].has_rate);
  EXPECT_EQ(c->commands.limits[1].max_rate_per_s, 300);
  EXPECT_FALSE(c->commands.limits[1].clamp);
  ASSERT_EQ(c->commands.interlocks.size(), 1u);
  const InterlockConfig& k = c->commands.interlocks[0];
  EXPECT_EQ(k.name, "last-running-pump");
  EXPECT_EQ(k.level_twin, "tank-1");
  EXPECT_EQ(k.low_level, 1.5);
  EXPECT_EQ(k.stop_below, 100);
  EXPECT_EQ(k.max_age_s, 60);
}

TEST(ConfigCommandsTest, WithoutTheSectionEveryTwinIsAutoWithoutAnEnvelope) {
  auto c = ParseServeConfig(kBase, "doppel.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->commands.default_mode, "auto");
  EXPECT_TRUE(c->commands.modes.empty());
  EXPECT_TRUE(c->commands.limits.empty());
  EXPECT_TRUE(c->commands.interlocks.empty());
}

TEST(ConfigCommandsTest, BadKeysAndValuesNameTheirPath) {
  struct Case {
    std::string yaml, needle;
  };
  for (const Case& c : std::vector<Case>{
           {"commands: {default_mode: manual}", "commands.default_mode: 'manual'"},
           {"commands: {modes: {\"pump-*\": on}}", "commands.modes.pump-*"},
           {"commands: {envelope: {limit: []}}", "commands.envelope.limit: unknown key"},
           {"commands: {envelope: {limits: [{command: setSpeed, field: speed_rpm}]}}",
            "commands.envelope.limits[0]: sets none of min, max, max_rate_per_s"},
           {"commands: {envelope: {limits: [{field: speed_rpm, max: 1}]}}", "limits[0].command: missing"},
           {"commands: {envelope: {limits: [{command: s, field: f, min: 5, max: 1}]}}",
            "min 5 is above max 1"},
           {"commands: {envelope: {limits: [{command: s, field: f, max: x}]}}",
            "limits[0].max: expected a finite"},
           {"commands: {envelope: {limits: [{command: s, field: f, max: 1, on_violation: stop}]}}",
            "limits[0].on_violation: 'stop' is not clamp or refuse"},
           {"commands: {envelope: {limits: [{command: s, field: f, max_rate_per_s: 0}]}}",
            "limits[0].max_rate_per_s: must be positive"},
           {"commands: {envelope: {interlocks: [{kind: keep_one_running}]}}",
            "interlocks[0].low_level: missing"},
           {"commands: {envelope: {interlocks: [{kind: open_valve, low_level: 1}]}}",
            "interlocks[0].kind: 'open_valve'"},
           {"commands: {envelope: {interlocks: [{low_level: 1, colour: red}]}}",
            "interlocks[0].colour: unknown key"},
       }) {
    auto r = ParseServeConfig(kBase + c.yaml, "cfg.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos)
        << c.yaml << " -> " << r.status().message();
    EXPECT_EQ(r.status().message().rfind("cfg.yaml: ", 0), 0u) << r.status().message();
  }
}

// The analytics sections the engine parses itself are kept as YAML text; the section must be a
// mapping and its key known.
TEST(ServeConfigAnalyticsTest, WearRulSectionIsKeptForTheEngineAndMustBeAMapping) {
  auto ok = ParseServeConfig(kBase + "analytics: {wear_rul: {impeller_threshold: 0.5, window_h: 12}}\n",
                             "cfg.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_NE(ok->wear_rul_yaml.find("impeller_threshold: 0.5"), std::string::npos) << ok->wear_rul_yaml;
  auto none = ParseServeConfig(kBase, "cfg.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->wear_rul_yaml.empty());
  auto bad = ParseServeConfig(kBase + "analytics: {wear_rul: [1, 2]}\n", "cfg.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("analytics.wear_rul: expected a mapping"), std::string::npos)
      << bad.status().message();
  auto typo = ParseServeConfig(kBase + "analytics: {wear_rull: {}}\n", "cfg.yaml");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("wear_rull"), std::string::npos) << typo.status().message();
}

}  // namespace
}  // namespace doppel
