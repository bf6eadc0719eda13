// Alert evaluation and the alert lifecycle, as plain single-threaded objects with time passed in.
//
// `AlertEvaluator` turns observations (signal values, anomaly scores, RUL estimates) and clock
// ticks into `AlertTransition`s (raised / cleared) under a list of `AlertRule`s. It keeps one
// condition state per (rule, twin, signal), so a rule is active at most once per key: while it is
// active, further triggering evaluations are counted (`trigger_count`), not raised again.
//
// `AlertBook` is the lifecycle model: alerts are raised (from transitions), acknowledged by an
// operator (who, when) and cleared (when, why). States (docs/alerts.md):
//   raised --ack--> acknowledged --clear--> cleared
//   raised --clear--> cleared_unacknowledged --ack--> cleared
// At most one alert per key (rule, twin, signal) is active (raised or acknowledged); a Raise
// for an active key is merged into it (`occurrences` + 1). Ids are 1, 2, 3 ... in raise order and
// never reused (Restore() continues after the largest restored id).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "doppel/analytics/alert_rules.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

struct AlertTransition {
  enum class Kind : uint8_t { kRaised, kCleared };
  Kind kind = Kind::kRaised;
  std::string rule, twin;
  std::string signal;  // empty for rul_below
  Severity severity = Severity::kWarning;
  TimeNs t_ns = 0;   // time of the evaluation that made the transition
  double value = 0;  // what was compared: the signal value, slope (/s), score, RUL (h) or age (s)
  double limit =
      0;  // what it was compared with (the trigger limit when raised, the clear limit when cleared)
  std::string reason;          // "flow_m3h 12.3 below 20 for 35 s"
  uint64_t trigger_count = 0;  // evaluations that met the trigger condition while active (1 when raised)
};

struct AlertEvaluatorOptions {
  // rate_of_change: samples kept per (rule, twin, signal) window; beyond it the oldest are dropped,
  // which shortens the window (the slope costs O(samples) per observation). Default 2048.
  size_t max_rate_samples = 2048;
  Status Validate() const;
};

struct AlertEvaluatorSummary {
  uint64_t observations = 0;  // Observe + ObserveAnomaly + ObserveRul calls
  uint64_t ignored_nonfinite = 0;
  uint64_t ignored_out_of_order = 0;  // per state: an evaluation older than the previous one
  uint64_t raised = 0, cleared = 0;
  size_t states = 0;  // (rule, twin, signal) condition states held
  size_t active = 0;
};

class AlertEvaluator {
 public:
  // InvalidArgument when the rules or the options are invalid (ValidateAlertRules names the rule).
  static Result<AlertEvaluator> Create(std::vector<AlertRule> rules, AlertEvaluatorOptions options = {});

  // Makes the twin known at `now_ns` (engine start, provisioning): stale rules naming an exact
  // signal start counting its age from here even if it never reports. A twin is also made known
  // by its first observation of any kind.
  void AddTwin(const std::string& twin, TimeNs now_ns);
  // Clears every active alert of the twin (reason "twin removed") and forgets its states.
  void RemoveTwin(const std::string& twin, TimeNs now_ns, std::vector<AlertTransition>* out);

  // Each appends the transitions it causes to `out`. Times are per key non-decreasing; an older
  // one is ignored (counted). Non-finite values are ignored (counted) and do not refresh staleness.
  void Observe(const std::string& twin, const std::string& signal, TimeNs t_ns, double value,
               std::vector<AlertTransition>* out);
  // `score` in [0, 1] from a detector of `signal` (or a twin-level score under a name of your choice).
  void ObserveAnomaly(const std::string& twin, const std::string& signal, TimeNs t_ns, double score,
                      std::vector<AlertTransition>* out);
  void ObserveRul(const std::string& twin, TimeNs t_ns, double rul_h, std::vector<AlertTransition>* out);
  // Stale checks: raises `stale` alerts whose newest sample is older than max_age_s at `now_ns`.
  // `now_ns` must be on the same clock as the observation times.
  void Tick(TimeNs now_ns, std::vector<AlertTransition>* out);

  // After a restart: marks (rule, twin, signal) active as of `raised_ns` (an alert the AlertBook
  // restored as active), so that it clears normally instead of lingering. NotFound when no rule has
  // that name (the caller should clear the alert: its rule is gone).
  Status RestoreActive(const std::string& rule, const std::string& twin, const std::string& signal,
                       TimeNs raised_ns);

  const std::vector<AlertRule>& rules() const { return rules_; }
  AlertEvaluatorSummary summary() const;

 private:
  enum Channel : char { kValue = 'v', kScore = 'a', kRul = 'r' };
  struct State {
    size_t rule = 0;
    std::string twin, signal;
    bool active = false;
    bool pending = false;
    TimeNs pending_since_ns = 0;
    TimeNs last_ns = INT64_MIN;  // last evaluation (stale: newest sample)
    uint64_t trigger_count = 0;
    std::deque<std::pair<TimeNs, double>> window;  // rate_of_change samples
  };

  AlertEvaluator(std::vector<AlertRule> rules, AlertEvaluatorOptions options);
  void Dispatch(Channel ch, const std::string& twin, const std::string& signal, TimeNs t_ns, double x,
                std::vector<AlertTransition>* out);
  const std::vector<size_t>& StatesFor(Channel ch, const std::string& twin, const std::string& signal);
  size_t StateFor(size_t rule, const std::string& twin, const std::string& signal);
  void SeeTwin(const std::string& twin, TimeNs t_ns);
  void Evaluate(State& s, TimeNs t_ns, double x, std::vector<AlertTransition>* out);
  // The generic raise/clear step: `trigger` and `clear` are the rule's predicates at this evaluation.
  void Step(State& s, TimeNs t_ns, bool trigger, bool clear, double x, double limit, double clear_limit,
            std::vector<AlertTransition>* out);
  AlertTransition Make(const State& s, AlertTransition::Kind kind, TimeNs t_ns, double x, double limit) const;

  std::vector<AlertRule> rules_;
  AlertEvaluatorOptions options_;
  std::vector<State> states_;                                    // slots; removed twins leave free slots
  std::vector<size_t> free_;                                     // free slots in states_
  std::unordered_map<std::string, size_t> by_key_;               // rule \0 twin \0 signal -> state
  std::unordered_map<std::string, std::vector<size_t>> routes_;  // channel twin \0 signal -> states
  std::unordered_set<std::string> twins_;
  std::vector<size_t> stale_;  // states of stale rules (Tick walks them)
  AlertEvaluatorSummary summary_;
};

enum class AlertState : uint8_t { kRaised, kAcknowledged, kClearedUnacknowledged, kCleared };
// "raised" | "acknowledged" | "cleared_unacknowledged" | "cleared"
const char* AlertStateName(AlertState s);
bool ParseAlertState(std::string_view s, AlertState* out);

struct Alert {
  uint64_t id = 0;
  std::string rule, twin, signal;
  Severity severity = Severity::kWarning;
  AlertState state = AlertState::kRaised;
  std::string reason;  // of the first raise
  double value = 0, limit = 0;
  TimeNs raised_ns = 0;
  TimeNs last_raised_ns = 0;  // newest raise merged into this alert
  uint64_t occurrences = 1;   // raises merged into this alert (deduplication)
  bool acknowledged = false;
  std::string acked_by;
  TimeNs acked_ns = 0;
  TimeNs cleared_ns = 0;
  std::string clear_reason;

  bool active() const { return state == AlertState::kRaised || state == AlertState::kAcknowledged; }
};

// {"id":7,"rule":"low_flow","twin":"pump-1","signal":"flow_m3h","severity":"warning","state":"raised",
//  "reason":"...","value":12.3,"limit":20,"raised_ns":...,"last_raised_ns":...,"occurrences":1,
//  "acked_by":null|"alice","acked_ns":null|...,"cleared_ns":null|...,"clear_reason":null|"..."}
nlohmann::json AlertToJson(const Alert& a);
// InvalidArgument naming `what` and the field on a missing or mistyped field or an inconsistent state.
Result<Alert> AlertFromJson(const nlohmann::json& j, const std::string& what);

struct AlertFilter {
  std::string twin;                // glob over twin ids; empty: every twin
  std::vector<AlertState> states;  // empty: every state
  size_t limit = 0;                // newest first; 0: no limit
};

struct SeverityCounts {
  int info = 0, warning = 0, critical = 0;
};

class AlertBook {
 public:
  // Raises an alert from a kRaised transition (API misuse otherwise: std::invalid_argument). When an
  // alert with the same (rule, twin, signal) is active, it is updated instead (occurrences + 1,
  // last_raised_ns) and `*merged` is set. Returns the new or updated alert.
  Alert Raise(const AlertTransition& t, bool* merged = nullptr);
  // Records who acknowledged and when. NotFound for an unknown id; InvalidArgument for an empty
  // `who`. Acknowledging an alert that is already acknowledged is OK and changes nothing (the first
  // who/when are kept): it is idempotent so a retried POST is harmless.
  Result<Alert> Ack(uint64_t id, const std::string& who, TimeNs now_ns);
  // Clears the active alert of the key. NotFound when none is active.
  Result<Alert> Clear(const std::string& rule, const std::string& twin, const std::string& signal,
                      TimeNs now_ns, const std::string& reason);
  // Raise for kRaised, Clear for kCleared.
  Result<Alert> Apply(const AlertTransition& t, bool* merged = nullptr);

  Result<Alert> Get(uint64_t id) const;
  std::vector<Alert> List(const AlertFilter& filter = {}) const;
  // Active alerts of the twin by severity (for the health score).
  SeverityCounts ActiveCounts(const std::string& twin) const;
  size_t size() const { return alerts_.size(); }

  // Loads persisted alerts (any order). AlreadyExists on a duplicate id; FailedPrecondition when two
  // restored alerts are active for one key. The next id is one past the largest seen.
  Status Restore(const std::vector<Alert>& alerts);
  // Forgets closed alerts (state cleared) cleared before `cleared_before_ns`; returns how many.
  size_t PruneClosed(TimeNs cleared_before_ns);

 private:
  static std::string Key(const std::string& rule, const std::string& twin, const std::string& signal);
  std::map<uint64_t, Alert> alerts_;
  std::unordered_map<std::string, uint64_t> active_;  // key -> id
  uint64_t next_id_ = 1;
};

}  // namespace doppel::analytics
