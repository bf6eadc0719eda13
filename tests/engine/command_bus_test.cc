// The command bus: lifecycle, modes, supersede, envelope, audit persistence, restart rule.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "doppel/engine/commands.h"
#include "doppel/engine/engine.h"
#include "doppel/engine/envelope.h"
#include "doppel/model/dtdl.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

using nlohmann::json;

constexpr TimeNs kT0 = 1'000 * kNsPerS;

std::vector<std::string> Statuses(const CommandRecord& c) {
  std::vector<std::string> out;
  for (const auto& e : c.history) out.push_back(CommandStatusName(e.status));
  return out;
}

using V = std::vector<std::string>;

CommandLimitConfig SpeedLimit(bool clamp) {
  CommandLimitConfig l;
  l.twins = "pump-*";
  l.command = "setSpeed";
  l.field = "speed_rpm";
  l.has_min = l.has_max = true;
  l.min = 0;
  l.max = 2900;
  l.clamp = clamp;
  return l;
}

InterlockConfig LastPump(double low_level) {
  InterlockConfig k;
  k.name = "last-running-pump";
  k.stop_below = 100;
  k.running_above = 100;
  k.low_level = low_level;
  return k;
}

FleetValues Fleet(TimeNs now, double level, double pump1, double pump2) {
  FleetValues f;
  f["tank-1"]["level_m"] = {now, level, Quality::kGood};
  f["pump-1"]["speed_rpm"] = {now, pump1, Quality::kGood};
  f["pump-2"]["speed_rpm"] = {now, pump2, Quality::kGood};
  return f;
}

// --- SafetyEnvelope ----------------------------------------------------------------------------

TEST(SafetyEnvelopeTest, ClampRuleMovesTheFieldToItsBoundRefuseRuleRefuses) {
  CommandsConfig clamp;
  clamp.limits = {SpeedLimit(true)};
  auto e = SafetyEnvelope::Create(clamp, nullptr);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  auto d = e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 3500.0}}, kT0, {});
  EXPECT_EQ(d.verdict, EnvelopeVerdict::kClamped);
  EXPECT_EQ(d.request["speed_rpm"].get<double>(), 2900);
  EXPECT_NE(d.why.find("max 2900"), std::string::npos) << d.why;
  d = e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 1500.0}}, kT0, {});
  EXPECT_EQ(d.verdict, EnvelopeVerdict::kPass);
  EXPECT_EQ(d.request["speed_rpm"].get<double>(), 1500);
  // Other twins and commands are outside the rule.
  EXPECT_EQ(e->Evaluate("fan-1", "setSpeed", {{"speed_rpm", 3500.0}}, kT0, {}).verdict,
            EnvelopeVerdict::kPass);

  CommandsConfig refuse;
  refuse.limits = {SpeedLimit(false)};
  e = SafetyEnvelope::Create(refuse, nullptr);
  ASSERT_TRUE(e.ok());
  d = e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", -5.0}}, kT0, {});
  EXPECT_EQ(d.verdict, EnvelopeVerdict::kRefused);
  EXPECT_EQ(d.request["speed_rpm"].get<double>(), -5);  // untouched
  EXPECT_NE(d.why.find("below min 0"), std::string::npos) << d.why;
}

TEST(SafetyEnvelopeTest, RateLimitAllowsRateTimesElapsedSecondsFromTheLastSentValue) {
  CommandsConfig c;
  CommandLimitConfig l;
  l.command = "setSpeed";
  l.field = "speed_rpm";
  l.has_rate = true;
  l.max_rate_per_s = 100;  // rpm/s
  l.clamp = true;
  c.limits = {l};
  auto e = SafetyEnvelope::Create(c, nullptr);
  ASSERT_TRUE(e.ok());
  // No reference yet: nothing to compare against.
  EXPECT_EQ(e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 2000.0}}, kT0, {}).verdict,
            EnvelopeVerdict::kPass);
  e->RecordSent("pump-1", "setSpeed", {{"speed_rpm", 1000.0}}, kT0);
  // 2.5 s later: at most 250 rpm away from 1000.
  auto d = e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 1500.0}}, kT0 + 2500 * kNsPerMs, {});
  EXPECT_EQ(d.verdict, EnvelopeVerdict::kClamped);
  EXPECT_DOUBLE_EQ(d.request["speed_rpm"].get<double>(), 1250);
  d = e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 600.0}}, kT0 + 2500 * kNsPerMs, {});
  EXPECT_DOUBLE_EQ(d.request["speed_rpm"].get<double>(), 750);
  EXPECT_EQ(e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 1240.0}}, kT0 + 2500 * kNsPerMs, {}).verdict,
            EnvelopeVerdict::kPass);
  // An older send does not replace the newer reference.
  e->RecordSent("pump-1", "setSpeed", {{"speed_rpm", 0.0}}, kT0 - kNsPerS);
  EXPECT_EQ(e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 1240.0}}, kT0 + 2500 * kNsPerMs, {}).verdict,
            EnvelopeVerdict::kPass);
  // Refusing variant.
  c.limits[0].clamp = false;
  e = SafetyEnvelope::Create(c, nullptr);
  e->RecordSent("pump-1", "setSpeed", {{"speed_rpm", 1000.0}}, kT0);
  d = e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 1500.0}}, kT0 + kNsPerS, {});
  EXPECT_EQ(d.verdict, EnvelopeVerdict::kRefused);
  EXPECT_NE(d.why.find("100/s"), std::string::npos) << d.why;
}

TEST(SafetyEnvelopeTest, LastRunningPumpIsNotStoppedWhileTheTankIsLow) {
  CommandsConfig c;
  c.interlocks = {LastPump(1.5)};
  auto e = SafetyEnvelope::Create(c, nullptr);
  ASSERT_TRUE(e.ok());
  const json stop = {{"speed_rpm", 0.0}};
  // pump-1 runs alone, the tank is low: stopping it is refused, naming the rule and the level.
  auto d = e->Evaluate("pump-1", "setSpeed", stop, kT0, Fleet(kT0, 0.8, 1450, 0));
  EXPECT_EQ(d.verdict, EnvelopeVerdict::kRefused);
  EXPECT_NE(d.why.find("last-running-pump"), std::string::npos) << d.why;
  EXPECT_NE(d.why.find("0.8"), std::string::npos) << d.why;
  // Another pump runs: allowed.
  EXPECT_EQ(e->Evaluate("pump-1", "setSpeed", stop, kT0, Fleet(kT0, 0.8, 1450, 1400)).verdict,
            EnvelopeVerdict::kPass);
  // The tank is above its low level: allowed.
  EXPECT_EQ(e->Evaluate("pump-1", "setSpeed", stop, kT0, Fleet(kT0, 2.0, 1450, 0)).verdict,
            EnvelopeVerdict::kPass);
  // Not a stop: allowed.
  EXPECT_EQ(e->Evaluate("pump-1", "setSpeed", {{"speed_rpm", 900.0}}, kT0, Fleet(kT0, 0.8, 1450, 0)).verdict,
            EnvelopeVerdict::kPass);
  // Unknown level (missing, or older than max_age_s): fail safe.
  FleetValues no_level = Fleet(kT0, 2.0, 1450, 0);
  no_level.erase("tank-1");
  EXPECT_EQ(e->Evaluate("pump-1", "setSpeed", stop, kT0, no_level).verdict, EnvelopeVerdict::kRefused);
  FleetValues stale = Fleet(kT0 - 120 * kNsPerS, 2.0, 1450, 1400);
  d = e->Evaluate("pump-1", "setSpeed", stop, kT0, stale);
  EXPECT_EQ(d.verdict, EnvelopeVerdict::kRefused) << "a stale running pump does not count either";
  EXPECT_NE(d.why.find("unknown"), std::string::npos) << d.why;
}

TEST(SafetyEnvelopeTest, RulesAreCheckedAgainstTheModelsNamingTheRule) {
  auto models = model::LoadModelsFromDirectory(testing::SourceDir() + "/examples/models");
  ASSERT_TRUE(models.ok()) << models.status().ToString();
  CommandsConfig c;
  c.limits = {SpeedLimit(true)};
  c.interlocks = {LastPump(1)};
  EXPECT_TRUE(SafetyEnvelope::Create(c, &*models).ok());
  c.limits[0].command = "setSped";
  auto e = SafetyEnvelope::Create(c, &*models);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("commands.envelope.limits[0].command"), std::string::npos)
      << e.status().message();
  c.limits[0].command = "setSpeed";
  c.limits[0].field = "rpm";
  e = SafetyEnvelope::Create(c, &*models);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("limits[0].field"), std::string::npos) << e.status().message();
  c.limits[0].field = "speed_rpm";
  c.interlocks[0].level_signal = "height";
  e = SafetyEnvelope::Create(c, &*models);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("interlocks[0].level_signal"), std::string::npos)
      << e.status().message();
}

// --- CommandManager ----------------------------------------------------------------------------

struct Bus {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::unique_ptr<store::MetadataStore> meta;
  std::unique_ptr<CommandManager> mgr;
  std::vector<CommandRecord> sent;
  Status send_status;
  std::vector<CommandRecord> timeouts;
  FleetValues fleet;

  explicit Bus(CommandBusOptions o = {}) { Open(std::move(o)); }
  void Open(CommandBusOptions o = {}) {
    mgr.reset();
    meta.reset();
    auto m = store::MetadataStore::Open(dir.file("meta.db"));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    meta = std::move(m).value();
    if (o.timeout_ns == 10 * kNsPerS) o.timeout_ns = 5 * kNsPerS;
    mgr = std::make_unique<CommandManager>(meta.get(), &metrics, std::move(o));
    ASSERT_TRUE(mgr->Restore().ok());
    mgr->SetSender([this](const CommandRecord& c) {
      if (send_status.ok()) sent.push_back(c);
      return send_status;
    });
    mgr->SetOnTimeout([this](const CommandRecord& c) { timeouts.push_back(c); });
    mgr->SetFleetSource([this] { return fleet; });
  }
  CommandRecord Create(const std::string& twin, double rpm, CommandSource src, TimeNs at,
                       const std::string& who = "api:operator") {
    auto r = mgr->Create(twin, "setSpeed", {{"speed_rpm", rpm}}, who, src, at);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : CommandRecord{};
  }
  CommandRecord Get(const CommandRecord& c) { return *mgr->Get(c.twin, c.id); }
};

CommandBusOptions WithMode(ControlMode m) {
  CommandBusOptions o;
  o.modes = {{"pump-*", m}};
  return o;
}

TEST(CommandBusTest, AutoModeCommandGoesProposedApprovedSentAcked) {
  Bus b;
  CommandRecord c = b.Create("pump-1", 1200, CommandSource::kMpc, kT0, "mpc");
  EXPECT_EQ(c.status, CommandStatus::kSent);
  ASSERT_EQ(b.sent.size(), 1u);
  EXPECT_EQ(b.sent[0].id, c.id);
  b.mgr->OnAck("pump-1", c.id, true, "", kT0 + kNsPerS);
  c = b.Get(c);
  EXPECT_EQ(Statuses(c), (V{"proposed", "approved", "sent", "acked"}));
  EXPECT_EQ(c.history[0].by, "mpc");
  EXPECT_EQ(c.history[1].by, "mode:auto");
  EXPECT_EQ(c.history[3].by, "device:pump-1");
  EXPECT_EQ(c.history[3].at_ns, kT0 + kNsPerS);
}

TEST(CommandBusTest, ApproveModeHoldsMpcCommandsUntilAnOperatorApproves) {
  Bus b(WithMode(ControlMode::kApprove));
  CommandRecord op = b.Create("pump-1", 1000, CommandSource::kOperator, kT0);
  EXPECT_EQ(op.status, CommandStatus::kSent) << "an operator acts directly";
  b.sent.clear();
  CommandRecord p = b.Create("pump-2", 1200, CommandSource::kMpc, kT0, "mpc");
  EXPECT_EQ(p.status, CommandStatus::kProposed);
  b.mgr->Tick(kT0 + 60 * kNsPerS);  // proposals have no timeout and are not sent by Tick
  EXPECT_TRUE(b.sent.empty());
  EXPECT_EQ(b.Get(p).status, CommandStatus::kProposed);
  auto a = b.mgr->Approve("pump-2", p.id, "api:alice", "checked", kT0 + 61 * kNsPerS);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->status, CommandStatus::kSent);
  ASSERT_EQ(b.sent.size(), 1u);
  EXPECT_EQ(b.sent[0].id, p.id);
  EXPECT_EQ(Statuses(*a), (V{"proposed", "approved", "sent"}));
  EXPECT_EQ(a->history[1].by, "api:alice");
  EXPECT_EQ(a->history[1].reason, "checked");
  // Deciding again does not fit the state.
  EXPECT_EQ(b.mgr->Approve("pump-2", p.id, "x", "", kT0).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(b.mgr->Reject("pump-2", p.id, "x", "", kT0).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(b.mgr->Approve("pump-1", p.id, "x", "", kT0).status().code(), StatusCode::kNotFound);
  // The timeout counts from the approval, not from the proposal.
  b.mgr->Tick(kT0 + 65 * kNsPerS);
  EXPECT_EQ(b.Get(p).status, CommandStatus::kSent);
  b.mgr->Tick(kT0 + 66 * kNsPerS);
  EXPECT_EQ(b.Get(p).status, CommandStatus::kTimedOut);
}

TEST(CommandBusTest, OperatorRejectsAProposal) {
  Bus b(WithMode(ControlMode::kApprove));
  CommandRecord p = b.Create("pump-1", 1200, CommandSource::kApi, kT0, "api:script");
  auto r = b.mgr->Reject("pump-1", p.id, "api:alice", "", kT0 + 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Statuses(*r), (V{"proposed", "rejected"}));
  EXPECT_EQ(r->history[1].by, "api:alice");
  EXPECT_EQ(r->reason, "rejected by an operator");
  EXPECT_TRUE(b.sent.empty());
}

TEST(CommandBusTest, AdvisoryProposalsStayProposedAndAreSupersededByNewerOnes) {
  Bus b(WithMode(ControlMode::kAdvisory));
  CommandRecord p1 = b.Create("pump-1", 1200, CommandSource::kMpc, kT0, "mpc");
  CommandRecord other = b.Create("pump-2", 1200, CommandSource::kMpc, kT0 + 1, "mpc");
  CommandRecord p2 = b.Create("pump-1", 1300, CommandSource::kMpc, kT0 + 2, "mpc");
  EXPECT_EQ(b.Get(p1).status, CommandStatus::kSuperseded);
  EXPECT_EQ(b.Get(p1).reason, "superseded by " + p2.id);
  EXPECT_EQ(b.Get(other).status, CommandStatus::kProposed) << "another twin's proposal stays";
  EXPECT_EQ(b.Get(p2).status, CommandStatus::kProposed);
  auto a = b.mgr->Approve("pump-1", p2.id, "api:alice", "", kT0 + 3);
  EXPECT_EQ(a.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("advisory"), std::string::npos);
  EXPECT_TRUE(b.sent.empty());
  // The operator acts directly; that supersedes the waiting proposal too.
  CommandRecord op = b.Create("pump-1", 1250, CommandSource::kOperator, kT0 + 4);
  EXPECT_EQ(op.status, CommandStatus::kSent);
  EXPECT_EQ(b.Get(p2).status, CommandStatus::kSuperseded);
}

TEST(CommandBusTest, OnlyUnsentCommandsAreSuperseded) {
  Bus b;
  CommandRecord sent = b.Create("pump-1", 1000, CommandSource::kOperator, kT0);
  b.send_status = Unavailable("broker down");
  CommandRecord stuck = b.Create("pump-1", 1100, CommandSource::kOperator, kT0 + 1);
  EXPECT_EQ(stuck.status, CommandStatus::kApproved);
  b.send_status = Status::Ok();
  CommandRecord newer = b.Create("pump-1", 1200, CommandSource::kOperator, kT0 + 2);
  EXPECT_EQ(b.Get(sent).status, CommandStatus::kSent) << "on the wire: only its ack or timeout closes it";
  EXPECT_EQ(b.Get(stuck).status, CommandStatus::kSuperseded);
  EXPECT_EQ(newer.status, CommandStatus::kSent);
  b.mgr->Tick(kT0 + 3 * kNsPerS);  // the superseded command is not retried
  ASSERT_EQ(b.sent.size(), 2u);
  EXPECT_EQ(b.sent[1].id, newer.id);
}

TEST(CommandBusTest, EnvelopeRefusalNeverReachesTheSenderAndClampingChangesWhatIsSent) {
  CommandsConfig cfg;
  cfg.limits = {SpeedLimit(true)};
  cfg.interlocks = {LastPump(1.5)};
  auto o = CommandBusOptionsFromConfig(cfg, 5 * kNsPerS, nullptr);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  Bus b(std::move(o).value());
  b.fleet = Fleet(kT0, 0.8, 1450, 0);
  CommandRecord r = b.Create("pump-1", 0, CommandSource::kOperator, kT0);
  EXPECT_EQ(r.status, CommandStatus::kRefused);
  EXPECT_EQ(Statuses(r), (V{"proposed", "refused"}));
  EXPECT_EQ(r.history[1].by, "envelope");
  EXPECT_NE(r.reason.find("last-running-pump"), std::string::npos) << r.reason;
  EXPECT_TRUE(b.sent.empty());
  b.mgr->Tick(kT0 + 10 * kNsPerS);
  EXPECT_TRUE(b.sent.empty()) << "refused is final";

  CommandRecord c = b.Create("pump-1", 3500, CommandSource::kOperator, kT0);
  EXPECT_EQ(c.status, CommandStatus::kSent);
  ASSERT_EQ(b.sent.size(), 1u);
  EXPECT_EQ(b.sent[0].request["speed_rpm"].get<double>(), 2900);
  EXPECT_NE(c.history[0].reason.find("clamped"), std::string::npos) << c.history[0].reason;
  EXPECT_NE(c.history[0].reason.find("3500"), std::string::npos) << "the audit keeps what was asked";
}

TEST(CommandBusTest, ApprovalRechecksTheEnvelopeAgainstTheLatestValues) {
  CommandsConfig cfg;
  cfg.interlocks = {LastPump(1.5)};
  cfg.modes = {{"*", "approve"}};
  auto o = CommandBusOptionsFromConfig(cfg, 5 * kNsPerS, nullptr);
  ASSERT_TRUE(o.ok());
  Bus b(std::move(o).value());
  b.fleet = Fleet(kT0, 0.8, 1450, 1400);  // two pumps run: stopping one is fine
  CommandRecord p = b.Create("pump-1", 0, CommandSource::kMpc, kT0, "mpc");
  EXPECT_EQ(p.status, CommandStatus::kProposed);
  b.fleet = Fleet(kT0 + kNsPerS, 0.8, 1450, 0);  // meanwhile pump-2 stopped
  auto a = b.mgr->Approve("pump-1", p.id, "api:alice", "", kT0 + kNsPerS);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, CommandStatus::kRefused);
  EXPECT_TRUE(b.sent.empty());
}

TEST(CommandBusTest, MissingAckTimesOutOnceFiresTheHookAndALateAckStillCloses) {
  Bus b;
  CommandRecord c = b.Create("pump-1", 1200, CommandSource::kOperator, kT0);
  b.mgr->Tick(kT0 + 4 * kNsPerS);
  EXPECT_TRUE(b.timeouts.empty());
  b.mgr->Tick(kT0 + 5 * kNsPerS);
  b.mgr->Tick(kT0 + 6 * kNsPerS);
  ASSERT_EQ(b.timeouts.size(), 1u);
  EXPECT_EQ(b.timeouts[0].id, c.id);
  EXPECT_EQ(b.timeouts[0].status, CommandStatus::kTimedOut);
  EXPECT_EQ(b.Get(c).history.back().by, "timeout");
  b.mgr->OnAck("pump-1", c.id, true, "", kT0 + 7 * kNsPerS);
  EXPECT_EQ(b.Get(c).status, CommandStatus::kAcked);
  EXPECT_NE(b.Get(c).reason.find("late"), std::string::npos);
  EXPECT_EQ(b.sent.size(), 1u) << "a timed-out command is never re-sent";
}

TEST(CommandBusTest, AuditAndModesArePersistedAndReloaded) {
  Bus b(WithMode(ControlMode::kApprove));
  CommandRecord p = b.Create("pump-1", 1200, CommandSource::kMpc, kT0, "mpc");
  ASSERT_TRUE(b.mgr->Approve("pump-1", p.id, "api:alice", "ok", kT0 + 1).ok());
  b.mgr->OnAck("pump-1", p.id, false, "speed_rpm outside 0..3000", kT0 + 2);
  CommandRecord q = b.Create("pump-2", 900, CommandSource::kApi, kT0 + 3, "api:script");
  ASSERT_TRUE(b.mgr->SetMode("pump-3", ControlMode::kAdvisory, "api:bob", kT0 + 4).ok());
  const CommandRecord before_p = b.Get(p), before_q = b.Get(q);

  b.Open(WithMode(ControlMode::kApprove));
  for (const CommandRecord& want : {before_p, before_q}) {
    CommandRecord got = b.Get(want);
    EXPECT_EQ(got.status, want.status);
    EXPECT_EQ(got.source, want.source);
    EXPECT_EQ(got.request, want.request);
    EXPECT_EQ(got.reason, want.reason);
    ASSERT_EQ(got.history.size(), want.history.size());
    for (size_t i = 0; i < got.history.size(); ++i) {
      EXPECT_EQ(got.history[i].status, want.history[i].status) << i;
      EXPECT_EQ(got.history[i].by, want.history[i].by) << i;
      EXPECT_EQ(got.history[i].at_ns, want.history[i].at_ns) << i;
      EXPECT_EQ(got.history[i].reason, want.history[i].reason) << i;
    }
  }
  EXPECT_EQ(Statuses(b.Get(p)), (V{"proposed", "approved", "sent", "rejected"}));
  EXPECT_EQ(b.Get(q).source, CommandSource::kApi);
  ControlModeView m = b.mgr->ModeOf("pump-3");
  EXPECT_EQ(m.mode, ControlMode::kAdvisory);
  EXPECT_TRUE(m.overridden);
  EXPECT_EQ(m.set_by, "api:bob");
  EXPECT_EQ(b.mgr->ModeOf("pump-1").mode, ControlMode::kApprove) << "from the config glob";
  EXPECT_EQ(b.mgr->ModeOf("tank-1").mode, ControlMode::kAuto) << "the default";
  // A proposal survives a restart and can be approved afterwards.
  auto a = b.mgr->Approve("pump-2", q.id, "api:alice", "", kT0 + 5);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, CommandStatus::kSent);
}

TEST(CommandBusTest, SentCommandIsResentOnceWithItsIdAfterARestartUnlessItTimedOut) {
  Bus b;
  CommandRecord fresh = b.Create("pump-1", 1200, CommandSource::kOperator, kT0);
  CommandRecord old = b.Create("pump-2", 1200, CommandSource::kOperator, kT0 - 6 * kNsPerS);
  CommandRecord acked = b.Create("pump-3", 1200, CommandSource::kOperator, kT0);
  b.mgr->OnAck("pump-3", acked.id, true, "", kT0);
  b.Open();  // a crash: nothing but the database survives
  b.sent.clear();
  b.mgr->Tick(kT0 + kNsPerS);
  ASSERT_EQ(b.sent.size(), 1u);
  EXPECT_EQ(b.sent[0].id, fresh.id) << "same id: the device applies it once";
  EXPECT_EQ(b.Get(old).status, CommandStatus::kTimedOut);
  EXPECT_EQ(b.Get(fresh).history.back().status, CommandStatus::kSent);
  EXPECT_NE(b.Get(fresh).history.back().reason.find("restart"), std::string::npos);
  b.mgr->Tick(kT0 + 2 * kNsPerS);
  b.mgr->Tick(kT0 + 3 * kNsPerS);
  EXPECT_EQ(b.sent.size(), 1u) << "re-sent once, not on every tick";
  // The duplicate ack of the device (it re-acks a redelivered id) changes nothing.
  b.mgr->OnAck("pump-1", fresh.id, true, "", kT0 + 3 * kNsPerS);
  b.mgr->OnAck("pump-1", fresh.id, true, "", kT0 + 3 * kNsPerS);
  EXPECT_EQ(Statuses(b.Get(fresh)), (V{"proposed", "approved", "sent", "sent", "acked"}));
  EXPECT_EQ(b.metrics.GetCounter("doppel_command_acks_stray_total", "").Value(), 1u);
}

// The engine takes modes, envelope and the timeout hook from EngineOptions, and the interlock
// sees the fleet's latest telemetry.
TEST(CommandBusTest, EngineAppliesTheConfiguredEnvelopeModesAndTimeoutHook) {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::atomic<TimeNs> now{kT0};
  EngineOptions o;
  o.data_dir = dir.file("data");
  o.models_dir = testing::SourceDir() + "/examples/models";
  o.shards = 1;
  o.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}, {"tank-*", "dtmi:doppel:demo:Tank;1"}};
  o.fsync = store::FsyncPolicy::kNever;
  o.now_ns = [&now] { return now.load(); };
  o.command_timeout_ns = kNsPerS;
  o.commands.limits = {SpeedLimit(false)};
  o.commands.interlocks = {LastPump(1.5)};
  o.commands.modes = {{"pump-2", "approve"}};
  std::vector<std::string> timed_out;
  o.on_command_timeout = [&](const CommandRecord& c) { timed_out.push_back(c.id); };
  const CommandsConfig good = o.commands;
  o.commands.limits[0].field = "rpm";
  auto refused_open = Engine::Open(o, &metrics, platform::DefaultEnv());
  ASSERT_FALSE(refused_open.ok()) << "a rule that does not fit the models stops startup";
  EXPECT_NE(refused_open.status().message().find("limits[0].field"), std::string::npos);
  o.commands = good;
  auto e = Engine::Open(o, &metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  Engine& eng = **e;
  std::vector<CommandRecord> sent;
  eng.SetCommandSender([&](const CommandRecord& c) {
    sent.push_back(c);
    return Status::Ok();
  });
  ASSERT_TRUE(eng.Start().ok());
  ASSERT_TRUE(eng.Ingest({{"pump-1", "speed_rpm", kT0, 1450, Quality::kGood},
                          {"pump-2", "speed_rpm", kT0, 0, Quality::kGood},
                          {"tank-1", "level_m", kT0, 0.9, Quality::kGood}})
                  .ok());
  eng.Drain();

  auto r = eng.SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", 3000.0}}, "api:op");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, CommandStatus::kRefused);
  r = eng.SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", 0.0}}, "api:op");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, CommandStatus::kRefused) << "interlock: pump-1 is the last running pump";
  EXPECT_NE(r->reason.find("tank-1/level_m 0.9"), std::string::npos) << r->reason;
  EXPECT_TRUE(sent.empty());

  auto p = eng.SubmitCommandAs("pump-2", "setSpeed", {{"speed_rpm", 1200.0}}, "mpc", CommandSource::kMpc);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->status, CommandStatus::kProposed);
  EXPECT_EQ(eng.GetControlMode("pump-2")->mode, ControlMode::kApprove);
  EXPECT_EQ(eng.GetControlMode("pump-404").status().code(), StatusCode::kNotFound);
  auto a = eng.ApproveCommand("pump-2", p->id, "api:alice", "");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->status, CommandStatus::kSent);
  ASSERT_EQ(sent.size(), 1u);
  // No ack: the housekeeping thread times it out and calls the hook (Tick runs every 200 ms).
  now += 2 * kNsPerS;
  for (int i = 0; i < 100 && eng.GetCommand("pump-2", p->id)->status != CommandStatus::kTimedOut; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  eng.Stop();
  EXPECT_EQ(eng.GetCommand("pump-2", p->id)->status, CommandStatus::kTimedOut);
  EXPECT_EQ(timed_out, std::vector<std::string>{p->id});
}

}  // namespace
}  // namespace doppel::engine
