#include "doppel/core/config.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace doppel {
namespace {

constexpr const char* kIssueConfig = R"(
listen: 127.0.0.1:18080
data_dir: /tmp/doppel-data
models: examples/models
mqtt:
  broker: mqtt://127.0.0.1:18830
  client_id: doppel-1
  telemetry_topic: plant/{twin}/telemetry
  command_topic: plant/{twin}/commands
  ack_topic: plant/{twin}/commands/ack
  provision: { "pump-*": "dtmi:doppel:demo:Pump;1", "tank-*": "dtmi:doppel:demo:Tank;1" }
tokens:
  - { token: admin-secret, role: admin }
  - { token: viewer-secret, role: viewer }
)";

TEST(ServeConfigTest, TheDocumentedExampleParses) {
  auto c = ParseServeConfig(kIssueConfig, "doppel.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->listen, "127.0.0.1:18080");
  EXPECT_TRUE(c->mqtt.enabled);
  EXPECT_EQ(c->mqtt.broker, "mqtt://127.0.0.1:18830");
  ASSERT_EQ(c->mqtt.provision.size(), 2u);
  EXPECT_EQ(c->mqtt.provision[0].first, "pump-*");
  EXPECT_EQ(c->mqtt.provision[1].second, "dtmi:doppel:demo:Tank;1");
  ASSERT_EQ(c->tokens.size(), 2u);
  EXPECT_EQ(c->tokens[1].role, "viewer");
}

TEST(ServeConfigTest, ErrorsNameTheSourceKeyAndReason) {
  struct Case {
    std::string yaml, expect;
  } cases[] = {
      {"listen: 1\nlisten_port: 3\ntokens: [{token: a, role: admin}]", "cfg.yaml: listen_port: unknown key"},
      {"tokens: [{token: a, role: root}]", "cfg.yaml: tokens[0].role: 'root' is not one of"},
      {"tokens: [{token: a, role: admin}]\nengine: {shards: -1}", "cfg.yaml: engine.shards: -1 is outside"},
      {"tokens: [{token: a, role: admin}]\nengine: {shards: many}", "engine.shards: expected an integer"},
      {"tokens: [{token: a, role: admin}]\nengine: {whatif_jobs: {workers: 0}}",
       "cfg.yaml: engine.whatif_jobs.workers: 0 is outside 1..16"},
      {"tokens: [{token: a, role: admin}]\nengine: {whatif_jobs: {max_finished: 1000}}",
       "cfg.yaml: engine.whatif_jobs.max_finished: 1000 is outside 1..256"},
      {"tokens: [{token: a, role: admin}]\nengine: {whatif_jobs: {queue: 3}}",
       "cfg.yaml: engine.whatif_jobs.queue: unknown key"},
      {"tokens: [{token: a, role: admin}]\nmqtt: {client_id: x}", "mqtt.broker: missing"},
      {"tokens: [{token: a, role: admin}]\nstorage: {fsync: sometimes}", "storage.fsync"},
      {"listen: [1, 2", "cfg.yaml: line"},
      {"", "empty configuration"},
      {"listen: 127.0.0.1:1", "tokens: at least one token"},
      {"tokens: [{token: a, role: admin}]\ncalibration: {pump-1: {curve_k: 1}}",
       "cfg.yaml: calibration: expected a list of {twins, parameters}"},
      {"tokens: [{token: a, role: admin}]\nonline_fit: {twins: pump-1}",
       "cfg.yaml: online_fit: expected a list of {twins, parameters, forgetting}"},
  };
  for (const auto& c : cases) {
    auto r = ParseServeConfig(c.yaml, "cfg.yaml");
    ASSERT_FALSE(r.ok()) << c.yaml;
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos) << r.status().message();
  }
}

TEST(ServeConfigTest, WhatIfJobLimitsDefaultToTheEnginesAndCanBeSet) {
  auto d = ParseServeConfig("tokens: [{token: a, role: admin}]", "cfg.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->whatif_jobs.workers, 1);
  EXPECT_EQ(d->whatif_jobs.max_queued, 16);
  EXPECT_EQ(d->whatif_jobs.max_finished, 64);
  EXPECT_EQ(d->whatif_jobs.keep_s, 600);
  auto c = ParseServeConfig(
      "tokens: [{token: a, role: admin}]\n"
      "engine: {whatif_jobs: {workers: 2, max_queued: 4, max_finished: 8, keep_s: 60}}",
      "cfg.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->whatif_jobs.workers, 2);
  EXPECT_EQ(c->whatif_jobs.max_queued, 4);
  EXPECT_EQ(c->whatif_jobs.max_finished, 8);
  EXPECT_EQ(c->whatif_jobs.keep_s, 60);
}

TEST(ServeConfigTest, ContextPollDefaultsToFiveSecondsAndZeroTurnsItOff) {
  auto d = ParseServeConfig("tokens: [{token: a, role: admin}]", "cfg.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->context_poll_ms, 5000);
  auto off = ParseServeConfig("tokens: [{token: a, role: admin}]\nengine: {context_poll_ms: 0}", "cfg.yaml");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->context_poll_ms, 0);
  auto bad = ParseServeConfig("tokens: [{token: a, role: admin}]\nengine: {context_poll_ms: -1}", "cfg.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("engine.context_poll_ms"), std::string::npos)
      << bad.status().message();
}

TEST(ServeConfigTest, MaxFutureSkewDefaultsToThirtyDaysZeroTurnsItOffAndIsRangeChecked) {
  auto d = ParseServeConfig("tokens: [{token: a, role: admin}]", "cfg.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->max_future_skew_s, 30 * 86400);
  auto off =
      ParseServeConfig("tokens: [{token: a, role: admin}]\nengine: {max_future_skew_s: 0}", "cfg.yaml");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ(off->max_future_skew_s, 0);
  for (const char* v : {"-1", "315360001"}) {
    auto bad = ParseServeConfig(
        fmt::format("tokens: [{{token: a, role: admin}}]\nengine: {{max_future_skew_s: {}}}", v), "cfg.yaml");
    ASSERT_FALSE(bad.ok()) << v;
    EXPECT_NE(bad.status().message().find("engine.max_future_skew_s"), std::string::npos)
        << bad.status().message();
  }
}

TEST(ServeConfigTest, CalibrationListIsKeptForTheEngineToCheck) {
  auto c = ParseServeConfig(
      "tokens: [{token: a, role: admin}]\ncalibration:\n  - {twins: pump-2, parameters: {curve_k: 6.9e-4}}\n",
      "cfg.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_NE(c->calibration_yaml.find("pump-2"), std::string::npos) << c->calibration_yaml;
  auto none = ParseServeConfig("tokens: [{token: a, role: admin}]", "cfg.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->calibration_yaml.empty());
}

TEST(ServeConfigTest, OnlineFitListIsKeptForTheEngineToCheck) {
  auto c = ParseServeConfig(
      "tokens: [{token: a, role: admin}]\nonline_fit:\n  - {twins: pump-2, parameters: [curve_k]}\n",
      "cfg.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_NE(c->online_fit_yaml.find("pump-2"), std::string::npos) << c->online_fit_yaml;
  auto none = ParseServeConfig("tokens: [{token: a, role: admin}]", "cfg.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->online_fit_yaml.empty());
}

TEST(ServeConfigTest, RetentionRulesParseWithDurations) {
  auto c = ParseServeConfig(R"(
tokens: [{token: a, role: admin}]
storage:
  retention:
    - {pattern: "pump-*/vibration_mm_s", raw: 7d, rollups: [{step: 1m, keep: 365d}, {step: 1h, keep: 0}]}
    - {pattern: "*", raw: 30d}
)",
                            "cfg.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->retention.size(), 2u);
  EXPECT_EQ(c->retention[0].raw_ns, 7 * 86400 * 1'000'000'000LL);
  ASSERT_EQ(c->retention[0].rollups.size(), 2u);
  EXPECT_EQ(c->retention[0].rollups[0].first, 60'000'000'000LL);
  EXPECT_EQ(c->retention[0].rollups[1].second, 0);
  auto bad = ParseServeConfig(
      "tokens: [{token: a, role: admin}]\nstorage: {retention: [{pattern: x, raw: soon}]}", "cfg.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("storage.retention[0].raw"), std::string::npos)
      << bad.status().message();
}

TEST(ServeConfigTest, MissingFileIsNotFound) {
  auto r = LoadServeConfig("/nonexistent/doppel.yaml");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace doppel
