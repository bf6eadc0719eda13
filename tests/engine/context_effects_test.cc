// Design specs acting on the platform: their limits become alert rules and the command envelope
// (docs/enterprise.md), checked on the rules themselves, through the envelope, and in a running
// engine opened over a data directory whose context.db holds a spec.
#include "doppel/engine/context_effects.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "doppel/engine/engine.h"
#include "doppel/engine/envelope.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

store::DesignSpec Spec(const std::string& twin) {
  store::DesignSpec s;
  s.twin = twin;
  s.rated_flow_m3h = 120;
  s.rated_head_m = 32;
  s.rated_power_kw = 15;
  s.min_speed_rpm = 600;
  s.max_speed_rpm = 1800;
  s.max_motor_temp_c = 95;
  s.max_vibration_mm_s = 7.1;
  s.source = "datasheet.pdf";
  return s;
}

const analytics::AlertRule* FindRule(const std::vector<analytics::AlertRule>& rules,
                                     const std::string& name) {
  for (const auto& r : rules) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

TEST(SpecEffectsTest, EveryMaxLimitIsAnAlertRuleWithTheSpecValueAndValidRules) {
  SpecEffects fx = EffectsOfSpecs({Spec("pump-1")});
  const auto* temp = FindRule(fx.alert_rules, "spec.pump-1.motor_temp_c.max");
  ASSERT_NE(temp, nullptr);
  EXPECT_EQ(temp->twins, "pump-1");
  EXPECT_EQ(temp->signal, "motor_temp_c");
  EXPECT_EQ(temp->direction, analytics::Direction::kAbove);
  EXPECT_DOUBLE_EQ(temp->value, 95);
  const auto* vib = FindRule(fx.alert_rules, "spec.pump-1.vibration_mm_s.max");
  ASSERT_NE(vib, nullptr);
  EXPECT_DOUBLE_EQ(vib->value, 7.1);
  const auto* speed = FindRule(fx.alert_rules, "spec.pump-1.speed_rpm.max");
  ASSERT_NE(speed, nullptr);
  EXPECT_DOUBLE_EQ(speed->value, 1800);
  // A stopped pump is within its spec: the minimum speed raises no alert.
  EXPECT_EQ(FindRule(fx.alert_rules, "spec.pump-1.speed_rpm.min"), nullptr);
  EXPECT_TRUE(analytics::ValidateAlertRules(fx.alert_rules).ok());
}

TEST(SpecEffectsTest, OptionalLimitsAppearOnlyWhenStated) {
  store::DesignSpec s = Spec("pump-2");
  EXPECT_EQ(FindRule(EffectsOfSpecs({s}).alert_rules, "spec.pump-2.power_kw.max"), nullptr);
  s.max_power_kw = 18;
  s.max_discharge_pressure_bar = 4;
  SpecEffects fx = EffectsOfSpecs({s});
  ASSERT_NE(FindRule(fx.alert_rules, "spec.pump-2.power_kw.max"), nullptr);
  EXPECT_DOUBLE_EQ(FindRule(fx.alert_rules, "spec.pump-2.discharge_pressure_bar.max")->value, 4);
}

TEST(SpecEffectsTest, SpeedLimitsBoundCommandsButStopIsAllowed) {
  SpecEffects fx = EffectsOfSpecs({Spec("pump-1")});
  ASSERT_EQ(fx.envelope_limits.size(), 1u);
  CommandsConfig c;
  c.limits = fx.envelope_limits;
  auto env = SafetyEnvelope::Create(c, nullptr);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  auto eval = [&](const std::string& twin, double rpm) {
    return env->Evaluate(twin, "setSpeed", {{"speed_rpm", rpm}}, 0, {});
  };
  EXPECT_EQ(eval("pump-1", 1200).verdict, EnvelopeVerdict::kPass);
  EXPECT_EQ(eval("pump-1", 0).verdict, EnvelopeVerdict::kPass);
  EnvelopeDecision low = eval("pump-1", 400);
  EXPECT_EQ(low.verdict, EnvelopeVerdict::kRefused);
  EXPECT_NE(low.why.find("below min 600"), std::string::npos) << low.why;
  EXPECT_NE(low.why.find("design spec"), std::string::npos) << low.why;
  EXPECT_EQ(eval("pump-1", 1900).verdict, EnvelopeVerdict::kRefused);
  // Another twin's spec does not bind this one.
  EXPECT_EQ(eval("pump-9", 1900).verdict, EnvelopeVerdict::kPass);
}

TEST(SpecEffectsTest, ApplyReadsTheDataDirsContextDbAndNothingWithoutOne) {
  testing::TempDir dir;
  std::vector<analytics::AlertRule> rules;
  CommandsConfig commands;
  auto none = ApplyDesignSpecs(dir.path(), &rules, &commands);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(*none, 0u);
  EXPECT_TRUE(rules.empty());
  {
    auto db = store::ContextStore::Open(dir.file("context.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->UpsertSpecs({Spec("pump-1"), Spec("pump-2")}).ok());
  }
  auto two = ApplyDesignSpecs(dir.path(), &rules, &commands);
  ASSERT_TRUE(two.ok()) << two.status().ToString();
  EXPECT_EQ(*two, 2u);
  EXPECT_NE(FindRule(rules, "spec.pump-2.motor_temp_c.max"), nullptr);
  EXPECT_EQ(commands.limits.size(), 2u);
}

TEST(SpecEffectsTest, ARunningEngineAlertsOnASpecLimitAndRefusesAnOutOfSpecCommand) {
  testing::TempDir dir;
  std::atomic<TimeNs> now{1'000'000'000'000};
  std::filesystem::create_directories(dir.file("data"));
  {
    auto db = store::ContextStore::Open(dir.file("data/context.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    ASSERT_TRUE((*db)->UpsertSpecs({Spec("pump-1")}).ok());
  }
  EngineOptions o;
  o.data_dir = dir.file("data");
  o.models_dir = testing::SourceDir() + "/examples/models";
  o.shards = 1;
  o.allowed_lateness_ns = 0;
  o.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}};
  o.fsync = store::FsyncPolicy::kNever;
  o.now_ns = [&] { return now.load(); };
  auto applied = ApplyDesignSpecs(o.data_dir, &o.alert_rules, &o.commands);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  MetricsRegistry metrics;
  auto e = Engine::Open(o, &metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  // 90 °C is inside the spec; 97 °C for longer than the rule's 5 s hold raises it.
  for (int s = 1; s <= 12; ++s) {
    double temp = s < 4 ? 90 : 97;
    ASSERT_TRUE((*e)->Submit({Reading{"pump-1", "motor_temp_c", s * kNsPerS, temp, Quality::kGood}}).ok());
  }
  (*e)->Drain();
  auto alerts = (*e)->ListAlerts({});
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ((*alerts)[0].rule, "spec.pump-1.motor_temp_c.max");
  auto refused = (*e)->SubmitCommandAs("pump-1", "setSpeed", {{"speed_rpm", 300}}, "api:operator",
                                       CommandSource::kOperator);
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->status, CommandStatus::kRefused);
  EXPECT_NE(refused->reason.find("below min 600"), std::string::npos) << refused->reason;
  (*e)->Stop();
}

}  // namespace
}  // namespace doppel::engine
