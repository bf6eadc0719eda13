// ControlLoop (docs/control.md "The live loop") against a fake Service holding the station's
// latest telemetry and estimates: what it submits (source mpc, within the speed limits), that it
// plans with the estimated wear (the worn pump carries less), the solver-failure fallback (no
// command, last speeds held, alert raised and cleared) and the option checks.
#include "doppel/engine/control_loop.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <thread>

#include "doppel/control/station_estimate.h"

namespace doppel::engine {
namespace {

using nlohmann::json;

constexpr TimeNs kT0 = 1'700'000'000LL * kNsPerS;       // 2023-11-14 22:13:20 UTC (night tariff)
constexpr TimeNs kMorning = 1'699'948'800LL * kNsPerS;  // 2023-11-14 08:00 UTC (morning peak)

// The station as the loop sees it through the Service: latest values, estimates, the command
// bus (every command acked at once, or proposed in approve mode) and alerts.
class FakeService : public Service {
 public:
  FakeService() {
    for (const char* p : {"pump-1", "pump-2", "pump-3"}) {
      twins_[p].id = p;
      twins_[p].model = "dtmi:doppel:demo:Pump;1";
    }
    twins_["tank-1"].id = "tank-1";
    twins_["tank-1"].model = "dtmi:doppel:demo:Tank;1";
  }
  void SetLatest(const std::string& twin, const std::string& signal, TimeNs ts, double v) {
    std::lock_guard lk(mu_);
    twins_[twin].latest[signal] = SignalValue{ts, v, Quality::kGood};
  }
  void SetWear(const std::string& twin, double wear) {
    std::lock_guard lk(mu_);
    TwinEstimate e;
    e.twin = twin;
    e.parameters = {{"impeller_wear", wear, 0.01, ""}, {"bearing_wear", 0.02, 0.01, ""}};
    estimates_[twin] = e;
  }
  void SetMode(ControlMode m) { mode_ = m; }
  std::vector<CommandRecord> commands() const {
    std::lock_guard lk(mu_);
    return commands_;
  }
  std::vector<analytics::AlertTransition> alerts() const {
    std::lock_guard lk(mu_);
    return alerts_;
  }

  nlohmann::json ListModels() const override { return json::array(); }
  std::vector<TwinView> ListTwins(const TwinFilter&) const override { return {}; }
  Result<TwinView> GetTwin(const std::string& id) const override {
    std::lock_guard lk(mu_);
    auto it = twins_.find(id);
    if (it == twins_.end()) return NotFound("twin '" + id + "' not found");
    return it->second;
  }
  Result<TwinView> CreateTwin(const TwinSpec&) override { return FailedPrecondition("fake"); }
  Result<std::vector<Point>> QueryTelemetry(const std::string&, const std::string&, TimeNs, TimeNs,
                                            size_t) const override {
    return FailedPrecondition("fake");
  }
  Result<CommandRecord> SubmitCommandAs(const std::string& twin, const std::string& name, const json& request,
                                        const std::string& principal, CommandSource source) override {
    std::lock_guard lk(mu_);
    if (twins_.count(twin) == 0) return NotFound("twin '" + twin + "' not found");
    CommandRecord c;
    c.id = "c-" + std::to_string(commands_.size() + 1);
    c.twin = twin;
    c.name = name;
    c.request = request;
    c.source = source;
    c.issued_by = principal;
    const bool waits = source != CommandSource::kOperator && mode_ != ControlMode::kAuto;
    c.status = waits ? CommandStatus::kProposed : CommandStatus::kAcked;
    commands_.push_back(c);
    return c;
  }
  Result<std::vector<CommandRecord>> ListCommands(const std::string&) const override { return commands(); }
  Result<CommandRecord> GetCommand(const std::string& twin, const std::string& id) const override {
    std::lock_guard lk(mu_);
    for (const auto& c : commands_)
      if (c.twin == twin && c.id == id) return c;
    return NotFound("command " + id);
  }
  Result<IngestSummary> Ingest(std::vector<Reading>) override { return FailedPrecondition("fake"); }
  Result<TwinEstimate> GetEstimate(const std::string& twin) const override {
    std::lock_guard lk(mu_);
    auto it = estimates_.find(twin);
    if (it == estimates_.end())
      return NotFound("twin '" + twin + "' has no estimate yet (no telemetry received)");
    return it->second;
  }
  Result<WhatIfResult> WhatIf(const std::string&, const WhatIfRequest&) const override {
    return FailedPrecondition("fake");
  }
  Status PostAlert(const analytics::AlertTransition& t) override {
    std::lock_guard lk(mu_);
    alerts_.push_back(t);
    return Status::Ok();
  }
  std::string RenderMetrics() const override { return ""; }
  uint64_t SubscribeStream(StreamCallback) override { return 0; }
  void UnsubscribeStream(uint64_t) override {}

 private:
  mutable std::mutex mu_;
  std::map<std::string, TwinView> twins_;
  std::map<std::string, TwinEstimate> estimates_;
  std::vector<CommandRecord> commands_;
  std::vector<analytics::AlertTransition> alerts_;
  ControlMode mode_ = ControlMode::kAuto;
};

// The station at `ts`: level, demand and speeds.
void Feed(FakeService& s, TimeNs ts, double level_m, double demand_m3h, double rpm = 1300) {
  s.SetLatest("tank-1", "level_m", ts, level_m);
  s.SetLatest("tank-1", "demand_m3h", ts, demand_m3h);
  for (const char* p : {"pump-1", "pump-2", "pump-3"}) s.SetLatest(p, "speed_rpm", ts, rpm);
}

ControlLoopOptions Options() {
  ControlLoopOptions o;
  o.mpc.horizon_s = 6 * 3600;  // keeps each solve small
  o.mpc.max_speed_rpm = 1700;
  return o;
}

// Water each pump pumps over the plan: Σ_k flow_ik·Δt_k (m3).
std::vector<double> PlannedVolume(const json& plan) {
  std::vector<double> v;
  for (const auto& p : plan["pumps"]) {
    double sum = 0;
    for (size_t k = 0; k < plan["step_s"].size(); ++k)
      sum += p["flow_m3h"][k].get<double>() * plan["step_s"][k].get<double>() / 3600;
    v.push_back(sum);
  }
  return v;
}

TEST(ControlLoop, SubmitsOneSetSpeedPerPumpAsMpcWithinTheSpeedLimits) {
  FakeService svc;
  for (const char* p : {"pump-1", "pump-2", "pump-3"}) svc.SetWear(p, 0.0);
  Feed(svc, kT0, 2.5, 250);
  auto loop = ControlLoop::Create(Options(), svc);
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  auto s = (*loop)->Step(kT0);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->solved) << s->solver_status;
  EXPECT_FALSE(s->fallback);
  ASSERT_EQ(s->commands_submitted, 3);
  const auto cmds = svc.commands();
  ASSERT_EQ(cmds.size(), 3u);
  for (size_t i = 0; i < cmds.size(); ++i) {
    EXPECT_EQ(cmds[i].twin, "pump-" + std::to_string(i + 1));
    EXPECT_EQ(cmds[i].name, "setSpeed");
    EXPECT_EQ(cmds[i].source, CommandSource::kMpc);
    EXPECT_EQ(cmds[i].issued_by, "mpc");
    const double rpm = cmds[i].request.at("speed_rpm").get<double>();
    // Stopped, or running between the lifting speed and the configured maximum.
    EXPECT_TRUE(rpm == 0 || (rpm >= 900 && rpm <= 1700 + 1e-6)) << rpm;
    EXPECT_DOUBLE_EQ(rpm, s->setpoint_rpm[i]);
    EXPECT_NE(s->command_reasons[i].find("level 2.50 m"), std::string::npos) << s->command_reasons[i];
  }
  EXPECT_TRUE(svc.alerts().empty());
}

TEST(ControlLoop, PlansWithTheEstimatedWearSoTheWornPumpCarriesLess) {
  FakeService svc;
  svc.SetWear("pump-1", 0.35);
  svc.SetWear("pump-2", 0.0);
  svc.SetWear("pump-3", 0.0);
  Feed(svc, kT0, 2.5, 300);
  auto loop = ControlLoop::Create(Options(), svc);
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  auto s = (*loop)->Step(kT0);
  ASSERT_TRUE(s.ok() && s->solved) << (s.ok() ? s->solver_status : s.status().ToString());
  EXPECT_EQ(s->wear_source, (std::vector<std::string>{"estimate", "estimate", "estimate"}));
  EXPECT_DOUBLE_EQ(s->impeller_wear[0], 0.35);
  auto plan = (*loop)->LastPlan();
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const std::vector<double> vol = PlannedVolume(*plan);
  ASSERT_EQ(vol.size(), 3u);
  EXPECT_LT(vol[0], 0.8 * vol[1]) << "worn " << vol[0] << " m3 vs new " << vol[1] << " m3";
  EXPECT_LT(vol[0], 0.8 * vol[2]);

  // The plan's flows are the worn pump's curve (independent closed form, control::EvalPump):
  // in the first step, flow / duty = Q(s, L̄) with wear 0.35 at L̄ the step's mean level.
  const json& p1 = (*plan)["pumps"][0];
  const double duty = p1["duty"][0], rpm = p1["speed_rpm"][0], flow = p1["flow_m3h"][0];
  if (duty > 0.05) {
    control::PumpEstimate pe;
    pe.impeller_wear = 0.35;
    const double mid = 0.5 * (2.5 + (*plan)["planned_level_m"][0].get<double>());
    const double q = control::EvalPump<double>(pe, 20.0, rpm / pe.rated_speed_rpm, mid).flow_m3h;
    EXPECT_NEAR(flow / duty, q, 1e-6 * q);
  }
  // The plan is timestamped from the step: step k starts at ts + Σ_{j<k} Δt_j.
  EXPECT_EQ((*plan)["ts"].get<TimeNs>(), kT0);
  EXPECT_EQ((*plan)["step_start_ns"][0].get<TimeNs>(), kT0);
  EXPECT_EQ((*plan)["step_start_ns"][1].get<TimeNs>(), kT0 + 60 * kNsPerS);
}

TEST(ControlLoop, APumpWithoutAnEstimatePlansAsNominalAndSaysWhy) {
  FakeService svc;
  svc.SetWear("pump-1", 0.2);
  svc.SetWear("pump-2", 0.1);  // pump-3: no estimate
  Feed(svc, kT0, 2.0, 250);
  auto loop = ControlLoop::Create(Options(), svc);
  ASSERT_TRUE(loop.ok());
  auto s = (*loop)->Step(kT0);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->wear_source[0], "estimate");
  EXPECT_EQ(s->impeller_wear[2], 0.0);
  EXPECT_NE(s->wear_source[2].find("nominal: "), std::string::npos);
  EXPECT_NE(s->wear_source[2].find("no estimate yet"), std::string::npos) << s->wear_source[2];
}

TEST(ControlLoop, SolverFailureSubmitsNothingHoldsTheLastSpeedsAndRaisesThenClearsAnAlert) {
  FakeService svc;
  for (const char* p : {"pump-1", "pump-2", "pump-3"}) svc.SetWear(p, 0.05);
  Feed(svc, kMorning, 1.4, 400);
  ControlLoopOptions o = Options();
  auto loop = ControlLoop::Create(o, svc);
  ASSERT_TRUE(loop.ok());
  auto ok = (*loop)->Step(kMorning);
  ASSERT_TRUE(ok.ok() && ok->solved) << (ok.ok() ? ok->solver_status : ok.status().ToString());
  const size_t sent = svc.commands().size();
  ASSERT_EQ(sent, 3u);
  int running = 0;
  for (const auto& c : svc.commands()) running += c.request["speed_rpm"].get<double>() > 0;
  EXPECT_GE(running, 1) << "at the morning peak at least one pump runs";

  // One Ipopt iteration cannot converge: the solve fails.
  control::MpcOptions failing = o.mpc;
  failing.max_iterations = 1;
  ASSERT_TRUE((*loop)->SetMpcOptions(failing).ok());
  Feed(svc, kMorning + 60 * kNsPerS, 1.4, 400);
  auto bad = (*loop)->Step(kMorning + 60 * kNsPerS);
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  EXPECT_FALSE(bad->solved);
  EXPECT_TRUE(bad->fallback);
  EXPECT_EQ(bad->commands_submitted, 0);
  EXPECT_EQ(svc.commands().size(), sent) << "a failed solve submitted a command";
  EXPECT_TRUE(bad->alert_raised);
  auto alerts = svc.alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, analytics::AlertTransition::Kind::kRaised);
  EXPECT_EQ(alerts[0].rule, "mpc_fallback");
  EXPECT_EQ(alerts[0].twin, "tank-1");
  EXPECT_NE(alerts[0].reason.find(bad->solver_status), std::string::npos) << alerts[0].reason;
  // The held speeds are the ones last sent.
  for (const auto& c : svc.commands()) {
    EXPECT_NE(
        alerts[0].reason.find(fmt::format("{} {:.0f} rpm", c.twin, c.request["speed_rpm"].get<double>())),
        std::string::npos)
        << alerts[0].reason;
  }
  // The dashboard keeps the last good plan and shows the failed step.
  auto plan = (*loop)->LastPlan();
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)["ts"].get<TimeNs>(), kMorning);
  EXPECT_TRUE((*plan)["last_step"]["fallback"].get<bool>());
  EXPECT_EQ((*plan)["fallbacks"].get<int64_t>(), 1);

  // A second failure merges into the same alert key; a success clears it.
  Feed(svc, kMorning + 120 * kNsPerS, 1.4, 400);
  ASSERT_TRUE((*loop)->Step(kMorning + 120 * kNsPerS).ok());
  ASSERT_TRUE((*loop)->SetMpcOptions(o.mpc).ok());
  Feed(svc, kMorning + 180 * kNsPerS, 1.4, 400);
  auto again = (*loop)->Step(kMorning + 180 * kNsPerS);
  ASSERT_TRUE(again.ok() && again->solved) << (again.ok() ? again->solver_status : again.status().ToString());
  EXPECT_TRUE(again->alert_cleared);
  alerts = svc.alerts();
  ASSERT_EQ(alerts.size(), 3u);
  EXPECT_EQ(alerts[1].kind, analytics::AlertTransition::Kind::kRaised);
  EXPECT_EQ(alerts[2].kind, analytics::AlertTransition::Kind::kCleared);
  EXPECT_EQ(alerts[2].rule, "mpc_fallback");
}

TEST(ControlLoop, InApproveModeItsCommandsAreProposalsAndUnchangedOnesAreNotResubmitted) {
  FakeService svc;
  svc.SetMode(ControlMode::kApprove);
  for (const char* p : {"pump-1", "pump-2", "pump-3"}) svc.SetWear(p, 0.0);
  Feed(svc, kT0, 2.5, 250);
  ControlLoopOptions o = Options();
  o.min_change_rpm = 1e6;  // every later setpoint counts as unchanged
  auto loop = ControlLoop::Create(o, svc);
  ASSERT_TRUE(loop.ok());
  auto s = (*loop)->Step(kT0);
  ASSERT_TRUE(s.ok() && s->solved);
  EXPECT_EQ(s->command_status, (std::vector<std::string>{"proposed", "proposed", "proposed"}));
  Feed(svc, kT0 + 60 * kNsPerS, 2.5, 250);
  auto s2 = (*loop)->Step(kT0 + 60 * kNsPerS);
  ASSERT_TRUE(s2.ok() && s2->solved);
  EXPECT_EQ(s2->commands_submitted, 0);
  EXPECT_EQ(s2->commands_unchanged, 3);
  EXPECT_EQ(svc.commands().size(), 3u);
}

TEST(ControlLoop, NoLevelOrAStaleLevelIsNoStep) {
  FakeService svc;
  auto loop = ControlLoop::Create(Options(), svc);
  ASSERT_TRUE(loop.ok());
  auto none = (*loop)->Step(kT0);
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(none.status().message().find("level_m"), std::string::npos);
  Feed(svc, kT0, 2.5, 250);
  auto stale = (*loop)->Step(kT0 + 3600 * kNsPerS);
  EXPECT_EQ(stale.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(stale.status().message().find("max_level_age_s"), std::string::npos) << stale.status().message();
  EXPECT_TRUE(svc.commands().empty());
  EXPECT_EQ((*loop)->LastPlan().status().code(), StatusCode::kNotFound);
}

TEST(ControlLoop, OptionsNameTheBrokenRule) {
  FakeService svc;
  auto check = [&](auto mutate, const std::string& expect) {
    ControlLoopOptions o = Options();
    mutate(o);
    auto l = ControlLoop::Create(o, svc);
    ASSERT_FALSE(l.ok()) << expect;
    EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(l.status().message().find(expect), std::string::npos) << l.status().message();
  };
  check([](ControlLoopOptions& o) { o.pumps.clear(); }, "pumps:");
  check([](ControlLoopOptions& o) { o.pumps = {"pump-1", "pump-1"}; }, "pumps[1]");
  check([](ControlLoopOptions& o) { o.tank = "pump-2"; }, "tank:");
  check([](ControlLoopOptions& o) { o.mpc.period_s = -1; }, "mpc.period_s");
  check([](ControlLoopOptions& o) { o.mpc.level_max_m = 7; }, "mpc.level_max_m");
  check([](ControlLoopOptions& o) { o.demand_persistence_s = 0; }, "demand_persistence_s");
}

TEST(ControlLoop, TheThreadStepsOncePerPeriodOfSourceTime) {
  FakeService svc;
  for (const char* p : {"pump-1", "pump-2", "pump-3"}) svc.SetWear(p, 0.0);
  ControlLoopOptions o = Options();
  o.poll_ms = 5;
  auto loop = ControlLoop::Create(o, svc);
  ASSERT_TRUE(loop.ok());
  ASSERT_TRUE((*loop)->Start().ok());
  EXPECT_EQ((*loop)->Start().code(), StatusCode::kFailedPrecondition);
  // Source time advances 10 s per feed: 150 s of telemetry = steps at 0, 60, 120 s.
  auto wait_steps = [&](int64_t n) {
    for (int i = 0; i < 2000 && (*loop)->steps() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  for (int k = 0; k <= 15; ++k) {
    Feed(svc, kT0 + k * 10 * kNsPerS, 2.5, 250);
    if (k % 6 == 0) wait_steps(k / 6 + 1);  // a step is due: let the thread take it
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  (*loop)->Stop();
  EXPECT_EQ((*loop)->steps(), 3);
  auto plan = (*loop)->LastPlan();
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ((*plan)["ts"].get<TimeNs>(), kT0 + 120 * kNsPerS);
}

}  // namespace
}  // namespace doppel::engine
