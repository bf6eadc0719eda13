#include "doppel/analytics/alert_engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace doppel::analytics {
namespace {

using Kind = AlertTransition::Kind;
constexpr TimeNs S = kNsPerS;

AlertEvaluator Make(const std::string& yaml) {
  auto rules = ParseAlertRulesYamlText(yaml, "test");
  if (!rules.ok()) throw std::runtime_error(rules.status().ToString());
  auto ev = AlertEvaluator::Create(std::move(rules).value());
  if (!ev.ok()) throw std::runtime_error(ev.status().ToString());
  return std::move(ev).value();
}

const char* kLowFlow = R"(
- {name: low_flow, kind: threshold, twins: "pump-*", signal: flow_m3h, direction: below, value: 20,
   clear_value: 22, min_duration_s: 30, severity: critical}
)";

TEST(ThresholdRule, ShortDipsShorterThanMinDurationDoNotRaise) {
  auto ev = Make(kLowFlow);
  std::vector<AlertTransition> out;
  // Dips below 20 lasting 20 s (samples every 5 s), separated by normal flow: never 30 s in a row.
  for (int cycle = 0; cycle < 10; ++cycle) {
    TimeNs t0 = cycle * 60 * S;
    for (int k = 0; k <= 4; ++k) ev.Observe("pump-1", "flow_m3h", t0 + k * 5 * S, 12.0, &out);
    for (int k = 5; k < 12; ++k) ev.Observe("pump-1", "flow_m3h", t0 + k * 5 * S, 30.0, &out);
  }
  EXPECT_TRUE(out.empty());
}

TEST(ThresholdRule, RaisesAfterMinDurationWithReasonNamingValueLimitAndDuration) {
  auto ev = Make(kLowFlow);
  std::vector<AlertTransition> out;
  ev.Observe("pump-1", "flow_m3h", 0, 25.0, &out);
  for (int k = 1; k <= 7; ++k) ev.Observe("pump-1", "flow_m3h", 5 * k * S, 12.3, &out);  // below from t=5 s
  ASSERT_EQ(out.size(), 1u);
  const AlertTransition& tr = out[0];
  EXPECT_EQ(tr.kind, Kind::kRaised);
  EXPECT_EQ(tr.t_ns, 35 * S);  // the first sample 30 s after the condition began at 5 s
  EXPECT_EQ(tr.rule, "low_flow");
  EXPECT_EQ(tr.twin, "pump-1");
  EXPECT_EQ(tr.signal, "flow_m3h");
  EXPECT_EQ(tr.severity, Severity::kCritical);
  EXPECT_EQ(tr.value, 12.3);
  EXPECT_EQ(tr.limit, 20);
  EXPECT_EQ(tr.reason, "flow_m3h 12.3 below 20 for 30 s");
}

TEST(ThresholdRule, HysteresisPreventsChatteringAroundTheLimit) {
  auto ev =
      Make("- {name: hot, kind: threshold, signal: temp_c, direction: above, value: 80, clear_value: 75}");
  std::vector<AlertTransition> out;
  // Noise of +-2 around 80 for 200 samples: one raise, never a clear (never at or below 75).
  for (int k = 0; k < 200; ++k) ev.Observe("m-1", "temp_c", k * S, 80.0 + ((k % 2) ? 2.0 : -2.0), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kRaised);
  EXPECT_EQ(out[0].reason, "temp_c 82 above 80");
  ev.Observe("m-1", "temp_c", 300 * S, 75.0, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].kind, Kind::kCleared);
  EXPECT_EQ(out[1].limit, 75);
  EXPECT_EQ(out[1].reason, "temp_c 75 back at or below clear level 75");
  EXPECT_EQ(out[1].trigger_count, 100u);  // the 100 samples at 82 while active
}

TEST(ThresholdRule, WithoutHysteresisTheSameNoiseChatters) {
  // The counterpart of the test above: it shows the hysteresis test can fail.
  auto ev = Make("- {name: hot, kind: threshold, signal: temp_c, direction: above, value: 80}");
  std::vector<AlertTransition> out;
  for (int k = 0; k < 20; ++k) ev.Observe("m-1", "temp_c", k * S, 80.0 + ((k % 2) ? 2.0 : -2.0), &out);
  EXPECT_EQ(out.size(), 19u);  // raise at k = 1, then a transition at every sample
}

TEST(ThresholdRule, TwinGlobAndSignalSelectTheStates) {
  auto ev = Make(kLowFlow);
  std::vector<AlertTransition> out;
  ev.Observe("tank-1", "flow_m3h", 0, 0.0, &out);
  ev.Observe("tank-1", "flow_m3h", 100 * S, 0.0, &out);
  ev.Observe("pump-1", "level_m", 0, 0.0, &out);
  ev.Observe("pump-1", "level_m", 100 * S, 0.0, &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ev.summary().states, 0u);
}

TEST(AlertEvaluator, OneActiveAlertPerRuleTwinSignalAndRepeatsAreCounted) {
  auto ev = Make(
      "- {name: hot, kind: threshold, twins: '*', signal: '*_c', direction: above, value: 80, clear_value: "
      "70}");
  std::vector<AlertTransition> out;
  for (int k = 0; k < 10; ++k) {
    ev.Observe("m-1", "temp_c", k * S, 90, &out);
    ev.Observe("m-1", "oil_c", k * S, 90, &out);
    ev.Observe("m-2", "temp_c", k * S, 75, &out);  // between the limits: neither raises nor clears
    ev.Observe("m-2", "temp_c", k * S, 85, &out);  // re-triggers m-2 (raised on k = 0)
  }
  ASSERT_EQ(out.size(), 3u);  // (m-1, temp_c), (m-1, oil_c), (m-2, temp_c): one raise each
  for (const auto& t : out) EXPECT_EQ(t.kind, Kind::kRaised);
  ev.Observe("m-2", "temp_c", 20 * S, 60, &out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[3].kind, Kind::kCleared);
  EXPECT_EQ(out[3].twin, "m-2");
  EXPECT_EQ(out[3].trigger_count, 10u);
  auto sum = ev.summary();
  EXPECT_EQ(sum.raised, 3u);
  EXPECT_EQ(sum.cleared, 1u);
  EXPECT_EQ(sum.active, 2u);
}

TEST(AlertEvaluator, OutOfOrderAndNonFiniteSamplesAreIgnoredAndCounted) {
  auto ev = Make("- {name: hot, kind: threshold, signal: t, direction: above, value: 80}");
  std::vector<AlertTransition> out;
  ev.Observe("a", "t", 10 * S, 50, &out);
  ev.Observe("a", "t", 5 * S, 99, &out);  // older than the previous evaluation
  ev.Observe("a", "t", 11 * S, std::nan(""), &out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ev.summary().ignored_out_of_order, 1u);
  EXPECT_EQ(ev.summary().ignored_nonfinite, 1u);
}

TEST(RateOfChangeRule, RaisesOnASteepRampAndClearsWhenFlat) {
  auto ev =
      Make(R"(- {name: heat_up, kind: rate_of_change, signal: temp_c, direction: rising, max_rate_per_s: 0.5,
                       clear_rate_per_s: 0.2, window_s: 20})");
  std::vector<AlertTransition> out;
  // Flat at 40 for 60 s, then +1 per second (slope 1 > 0.5), then flat again.
  double v = 40;
  for (int t = 0; t <= 60; ++t) ev.Observe("m", "temp_c", t * S, v, &out);
  EXPECT_TRUE(out.empty());
  for (int t = 61; t <= 120; ++t) ev.Observe("m", "temp_c", t * S, v += 1.0, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kRaised);
  EXPECT_GT(out[0].value, 0.5);
  EXPECT_LE(out[0].t_ns, 71 * S);  // within half a window (10 s) of the ramp start at 61 s
  EXPECT_EQ(out[0].reason.rfind("temp_c changing at ", 0), 0u);
  for (int t = 121; t <= 200; ++t) ev.Observe("m", "temp_c", t * S, v, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].kind, Kind::kCleared);
  EXPECT_LE(out[1].value, 0.2);
}

TEST(RateOfChangeRule, SlopeOverTheFullWindowIsTheLeastSquaresSlope) {
  // A pure ramp of 0.3/s under a 0.25/s limit raises with value exactly 0.3 once half the window is filled.
  auto ev = Make("- {name: r, kind: rate_of_change, signal: x, max_rate_per_s: 0.25, window_s: 10}");
  std::vector<AlertTransition> out;
  for (int t = 0; t <= 20; ++t) ev.Observe("a", "x", t * S, 0.3 * t, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].t_ns, 5 * S);
  EXPECT_NEAR(out[0].value, 0.3, 1e-12);
}

TEST(RateOfChangeRule, FallingRuleIgnoresRises) {
  auto ev = Make(
      "- {name: r, kind: rate_of_change, signal: x, direction: falling, max_rate_per_s: 0.25, window_s: 10}");
  std::vector<AlertTransition> out;
  for (int t = 0; t <= 20; ++t) ev.Observe("a", "x", t * S, 1.0 * t, &out);
  EXPECT_TRUE(out.empty());
  for (int t = 21; t <= 40; ++t) ev.Observe("a", "x", t * S, 20.0 - (t - 20), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_LT(out[0].value, -0.25);
}

TEST(AnomalyRule, WildcardSignalKeepsOneAlertPerSignal) {
  auto ev = Make("- {name: anom, kind: anomaly, min_score: 0.7, clear_score: 0.3, min_duration_s: 2}");
  std::vector<AlertTransition> out;
  for (int t = 0; t <= 5; ++t) {
    ev.ObserveAnomaly("p", "flow_m3h", t * S, 0.9, &out);
    ev.ObserveAnomaly("p", "power_kw", t * S, t == 1 ? 0.9 : 0.1, &out);  // a one-sample spike
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].signal, "flow_m3h");
  EXPECT_EQ(out[0].t_ns, 2 * S);
  EXPECT_EQ(out[0].reason, "flow_m3h anomaly score 0.900 >= 0.7 for 2 s");
  ev.ObserveAnomaly("p", "flow_m3h", 6 * S, 0.5, &out);  // in the band: stays active
  ev.ObserveAnomaly("p", "flow_m3h", 7 * S, 0.2, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].kind, Kind::kCleared);
  // Values and scores travel on separate channels: a value of 0.9 is not a score.
  ev.Observe("p", "flow_m3h", 8 * S, 0.9, &out);
  EXPECT_EQ(out.size(), 2u);
}

TEST(RulBelowRule, RaisesBelowHorizonAndClearsPastClearHorizon) {
  auto ev = Make("- {name: rul, kind: rul_below, horizon_h: 168, clear_horizon_h: 200, twins: 'pump-*'}");
  std::vector<AlertTransition> out;
  ev.ObserveRul("pump-2", 0, 300, &out);
  ev.ObserveRul("pump-2", 1 * S, 150, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].signal, "");
  EXPECT_EQ(out[0].reason, "remaining useful life 150 h below 168 h");
  ev.ObserveRul("pump-2", 2 * S, 190, &out);  // above the horizon, below the clear horizon
  EXPECT_EQ(out.size(), 1u);
  ev.ObserveRul("pump-2", 3 * S, 210, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].kind, Kind::kCleared);
}

TEST(StaleRule, RaisesOnTickAfterMaxAgeAndClearsOnTheNextSample) {
  auto ev = Make("- {name: silent, kind: stale, signal: flow_m3h, max_age_s: 60}");
  std::vector<AlertTransition> out;
  ev.Observe("p", "flow_m3h", 100 * S, 30, &out);
  ev.Tick(160 * S, &out);  // age exactly 60 s: not stale yet
  EXPECT_TRUE(out.empty());
  ev.Tick(175 * S, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kRaised);
  EXPECT_EQ(out[0].reason, "flow_m3h no sample for 75 s (max 60 s)");
  ev.Tick(180 * S, &out);  // still stale: no second raise
  EXPECT_EQ(out.size(), 1u);
  ev.Observe("p", "flow_m3h", 190 * S, 31, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].kind, Kind::kCleared);
  EXPECT_EQ(out[1].reason, "flow_m3h reported again after 90 s without samples");
}

TEST(StaleRule, ASignalThatNeverReportsIsStaleFromTheTwinsFirstSighting) {
  auto ev = Make("- {name: silent, kind: stale, signal: flow_m3h, max_age_s: 60}");
  std::vector<AlertTransition> out;
  ev.Observe("p", "power_kw", 0, 30, &out);  // the twin reports, but never flow
  ev.AddTwin("q", 30 * S);                   // a provisioned twin that sends nothing
  ev.Tick(61 * S, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].twin, "p");
  ev.Tick(91 * S, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].twin, "q");
}

TEST(AlertEvaluator, RemoveTwinClearsItsActiveAlerts) {
  auto ev = Make("- {name: hot, kind: threshold, signal: t, direction: above, value: 80}");
  std::vector<AlertTransition> out;
  ev.Observe("a", "t", 0, 90, &out);
  ev.Observe("b", "t", 0, 90, &out);
  ev.RemoveTwin("a", 5 * S, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].kind, Kind::kCleared);
  EXPECT_EQ(out[2].twin, "a");
  EXPECT_EQ(out[2].reason, "twin removed");
  EXPECT_EQ(ev.summary().states, 1u);
  ev.Observe("a", "t", 6 * S, 90, &out);  // a new twin "a" starts afresh
  EXPECT_EQ(out.size(), 4u);
}

TEST(AlertEvaluator, RestoredActiveAlertClearsNormally) {
  auto ev = Make("- {name: hot, kind: threshold, signal: t, direction: above, value: 80, clear_value: 70}");
  std::vector<AlertTransition> out;
  ASSERT_TRUE(ev.RestoreActive("hot", "a", "t", 0).ok());
  EXPECT_EQ(ev.RestoreActive("gone", "a", "t", 0).code(), StatusCode::kNotFound);
  ev.Observe("a", "t", 1 * S, 90, &out);  // still hot: no second raise
  EXPECT_TRUE(out.empty());
  ev.Observe("a", "t", 2 * S, 60, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kCleared);
}

// ---- AlertBook ----

AlertTransition Raised(const std::string& twin, TimeNs t, Severity sev = Severity::kWarning) {
  AlertTransition tr;
  tr.kind = Kind::kRaised;
  tr.rule = "hot";
  tr.twin = twin;
  tr.signal = "t";
  tr.severity = sev;
  tr.t_ns = t;
  tr.value = 90;
  tr.limit = 80;
  tr.reason = "t 90 above 80";
  return tr;
}

TEST(AlertBook, LifecycleRecordsWhoAndWhen) {
  AlertBook book;
  Alert a = book.Raise(Raised("p1", 10));
  EXPECT_EQ(a.id, 1u);
  EXPECT_EQ(a.state, AlertState::kRaised);
  auto acked = book.Ack(a.id, "alice", 20);
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->state, AlertState::kAcknowledged);
  EXPECT_EQ(acked->acked_by, "alice");
  EXPECT_EQ(acked->acked_ns, 20);
  auto again = book.Ack(a.id, "bob", 30);  // idempotent: the first acknowledgement stands
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->acked_by, "alice");
  EXPECT_EQ(again->acked_ns, 20);
  auto cleared = book.Clear("hot", "p1", "t", 40, "t 60 back at or below clear level 70");
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(cleared->state, AlertState::kCleared);
  EXPECT_EQ(cleared->cleared_ns, 40);
  EXPECT_EQ(cleared->clear_reason, "t 60 back at or below clear level 70");
  EXPECT_EQ(book.Get(a.id)->state, AlertState::kCleared);
}

TEST(AlertBook, ClearBeforeAckLeavesItClearedUnacknowledgedUntilAcked) {
  AlertBook book;
  Alert a = book.Raise(Raised("p1", 10));
  ASSERT_TRUE(book.Clear("hot", "p1", "t", 15, "ok").ok());
  EXPECT_EQ(book.Get(a.id)->state, AlertState::kClearedUnacknowledged);
  auto acked = book.Ack(a.id, "carol", 20);
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->state, AlertState::kCleared);
  EXPECT_EQ(acked->acked_by, "carol");
  EXPECT_EQ(acked->cleared_ns, 15);
}

TEST(AlertBook, ErrorsForUnknownIdEmptyWhoAndNothingToClear) {
  AlertBook book;
  EXPECT_EQ(book.Ack(42, "alice", 0).status().code(), StatusCode::kNotFound);
  Alert a = book.Raise(Raised("p1", 10));
  EXPECT_EQ(book.Ack(a.id, "", 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(book.Clear("hot", "p2", "t", 0, "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(book.Get(7).status().code(), StatusCode::kNotFound);
  AlertTransition cleared = Raised("p1", 20);
  cleared.kind = Kind::kCleared;
  EXPECT_THROW(book.Raise(cleared), std::invalid_argument);
}

TEST(AlertBook, RaiseForAnActiveKeyIsMergedAndIdsAreNotReused) {
  AlertBook book;
  bool merged = true;
  Alert a = book.Raise(Raised("p1", 10), &merged);
  EXPECT_FALSE(merged);
  Alert b = book.Raise(Raised("p1", 25), &merged);
  EXPECT_TRUE(merged);
  EXPECT_EQ(b.id, a.id);
  EXPECT_EQ(b.occurrences, 2u);
  EXPECT_EQ(b.raised_ns, 10);
  EXPECT_EQ(b.last_raised_ns, 25);
  ASSERT_TRUE(book.Ack(a.id, "x", 30).ok());
  EXPECT_TRUE(book.Raise(Raised("p1", 35), &merged).id == a.id && merged);  // acknowledged is still active
  AlertTransition clear = Raised("p1", 40);
  clear.kind = Kind::kCleared;
  ASSERT_TRUE(book.Apply(clear).ok());
  Alert c = book.Raise(Raised("p1", 50), &merged);
  EXPECT_FALSE(merged);
  EXPECT_EQ(c.id, a.id + 1);
  EXPECT_EQ(book.size(), 2u);
}

TEST(AlertBook, ListFiltersByTwinAndStateNewestFirst) {
  AlertBook book;
  book.Raise(Raised("pump-1", 1));
  book.Raise(Raised("pump-2", 2, Severity::kCritical));
  book.Raise(Raised("tank-1", 3));
  ASSERT_TRUE(book.Clear("hot", "pump-1", "t", 4, "").ok());
  auto pumps = book.List({"pump-*", {}, 0});
  ASSERT_EQ(pumps.size(), 2u);
  EXPECT_EQ(pumps[0].twin, "pump-2");
  EXPECT_EQ(pumps[1].twin, "pump-1");
  auto raised = book.List({"", {AlertState::kRaised}, 0});
  ASSERT_EQ(raised.size(), 2u);
  EXPECT_EQ(raised[0].twin, "tank-1");
  EXPECT_EQ(book.List({"", {}, 1}).size(), 1u);
  SeverityCounts c = book.ActiveCounts("pump-2");
  EXPECT_EQ(c.critical, 1);
  EXPECT_EQ(c.warning, 0);
  EXPECT_EQ(book.ActiveCounts("pump-1").warning, 0);  // cleared
}

TEST(AlertBook, JsonRoundTripAndRestoreContinueIds) {
  AlertBook book;
  book.Raise(Raised("p1", 10));
  book.Raise(Raised("p2", 11));
  ASSERT_TRUE(book.Ack(1, "alice", 12).ok());
  ASSERT_TRUE(book.Clear("hot", "p1", "t", 13, "back to normal").ok());
  std::vector<Alert> loaded;
  for (const Alert& a : book.List()) {
    std::string text = AlertToJson(a).dump();
    auto back = AlertFromJson(nlohmann::json::parse(text), "row");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(AlertToJson(*back), AlertToJson(a));
    loaded.push_back(*back);
  }
  auto j = AlertToJson(*book.Get(2));
  EXPECT_TRUE(j["acked_by"].is_null());
  EXPECT_TRUE(j["cleared_ns"].is_null());
  EXPECT_EQ(j["state"], "raised");

  AlertBook restored;
  ASSERT_TRUE(restored.Restore(loaded).ok());
  bool merged = false;
  EXPECT_EQ(restored.Raise(Raised("p2", 20), &merged).id, 2u);  // still active after the restart
  EXPECT_TRUE(merged);
  EXPECT_EQ(restored.Raise(Raised("p3", 21)).id, 3u);
  EXPECT_EQ(restored.Restore({loaded[0]}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(restored.PruneClosed(14), 1u);  // alert 1: cleared and acknowledged at 13
  EXPECT_EQ(restored.Get(1).status().code(), StatusCode::kNotFound);
}

TEST(AlertFromJson, InconsistentOrMistypedRowsNameTheField) {
  AlertBook book;
  nlohmann::json j = AlertToJson(book.Raise(Raised("p1", 10)));
  auto bad = j;
  bad["state"] = "acknowledged";  // without acked_ns
  EXPECT_EQ(AlertFromJson(bad, "alerts row 1").status().message(),
            "alerts row 1: state: 'acknowledged' with acked_ns null");
  bad = j;
  bad["raised_ns"] = "yesterday";
  EXPECT_EQ(AlertFromJson(bad, "r").status().message(), "r: raised_ns: expected an integer");
  bad = j;
  bad.erase("twin");
  EXPECT_EQ(AlertFromJson(bad, "r").status().message(), "r: twin: missing");
  bad = j;
  bad["severity"] = "major";
  EXPECT_EQ(AlertFromJson(bad, "r").status().message(), "r: severity: unknown severity 'major'");
}

}  // namespace
}  // namespace doppel::analytics
