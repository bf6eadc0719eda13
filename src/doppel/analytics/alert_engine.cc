#include "doppel/analytics/alert_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace doppel::analytics {
namespace {

TimeNs SecondsToNs(double s) { return static_cast<TimeNs>(std::llround(s * 1e9)); }
double NsToSeconds(TimeNs ns) { return static_cast<double>(ns) / 1e9; }
bool IsGlob(const std::string& s) { return s.find_first_of("*?") != std::string::npos; }

// Least-squares slope (units per second) of the samples.
double Slope(const std::deque<std::pair<TimeNs, double>>& w) {
  const TimeNs t0 = w.front().first;
  const double n = static_cast<double>(w.size());
  double st = 0, sv = 0;
  for (const auto& [t, v] : w) {
    st += NsToSeconds(t - t0);
    sv += v;
  }
  const double mt = st / n, mv = sv / n;
  double stt = 0, stv = 0;
  for (const auto& [t, v] : w) {
    double dt = NsToSeconds(t - t0) - mt;
    stt += dt * dt;
    stv += dt * (v - mv);
  }
  return stt > 0 ? stv / stt : 0.0;
}

}  // namespace

Status AlertEvaluatorOptions::Validate() const {
  if (max_rate_samples < 2) return InvalidArgument("max_rate_samples: must be >= 2");
  return Status::Ok();
}

AlertEvaluator::AlertEvaluator(std::vector<AlertRule> rules, AlertEvaluatorOptions options)
    : rules_(std::move(rules)), options_(options) {}

Result<AlertEvaluator> AlertEvaluator::Create(std::vector<AlertRule> rules, AlertEvaluatorOptions options) {
  DOPPEL_RETURN_IF_ERROR(ValidateAlertRules(rules));
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  return AlertEvaluator(std::move(rules), options);
}

size_t AlertEvaluator::StateFor(size_t rule, const std::string& twin, const std::string& signal) {
  std::string key = rules_[rule].name + '\0' + twin + '\0' + signal;
  auto it = by_key_.find(key);
  if (it != by_key_.end()) return it->second;
  State s;
  s.rule = rule;
  s.twin = twin;
  s.signal = signal;
  size_t idx;
  if (!free_.empty()) {
    idx = free_.back();
    free_.pop_back();
    states_[idx] = std::move(s);
  } else {
    idx = states_.size();
    states_.push_back(std::move(s));
  }
  by_key_.emplace(std::move(key), idx);
  if (rules_[rule].kind == RuleKind::kStale) stale_.push_back(idx);
  return idx;
}

void AlertEvaluator::SeeTwin(const std::string& twin, TimeNs t_ns) {
  if (!twins_.insert(twin).second) return;
  for (size_t r = 0; r < rules_.size(); ++r) {
    const AlertRule& rule = rules_[r];
    if (rule.kind != RuleKind::kStale || IsGlob(rule.signal) || !GlobMatch(rule.twins, twin)) continue;
    State& s = states_[StateFor(r, twin, rule.signal)];
    if (s.last_ns == INT64_MIN) s.last_ns = t_ns;
  }
}

void AlertEvaluator::AddTwin(const std::string& twin, TimeNs now_ns) { SeeTwin(twin, now_ns); }

const std::vector<size_t>& AlertEvaluator::StatesFor(Channel ch, const std::string& twin,
                                                     const std::string& signal) {
  std::string key = static_cast<char>(ch) + twin + '\0' + signal;
  auto it = routes_.find(key);
  if (it != routes_.end()) return it->second;
  std::vector<size_t> idx;
  for (size_t r = 0; r < rules_.size(); ++r) {
    const AlertRule& rule = rules_[r];
    Channel want = rule.kind == RuleKind::kAnomaly    ? kScore
                   : rule.kind == RuleKind::kRulBelow ? kRul
                                                      : kValue;
    if (want != ch || !GlobMatch(rule.twins, twin)) continue;
    if (ch != kRul && !GlobMatch(rule.signal, signal)) continue;
    idx.push_back(StateFor(r, twin, signal));
  }
  return routes_.emplace(std::move(key), std::move(idx)).first->second;
}

void AlertEvaluator::Dispatch(Channel ch, const std::string& twin, const std::string& signal, TimeNs t_ns,
                              double x, std::vector<AlertTransition>* out) {
  ++summary_.observations;
  SeeTwin(twin, t_ns);
  if (!std::isfinite(x)) {
    ++summary_.ignored_nonfinite;
    return;
  }
  for (size_t i : StatesFor(ch, twin, signal)) Evaluate(states_[i], t_ns, x, out);
}

void AlertEvaluator::Observe(const std::string& twin, const std::string& signal, TimeNs t_ns, double value,
                             std::vector<AlertTransition>* out) {
  Dispatch(kValue, twin, signal, t_ns, value, out);
}

void AlertEvaluator::ObserveAnomaly(const std::string& twin, const std::string& signal, TimeNs t_ns,
                                    double score, std::vector<AlertTransition>* out) {
  Dispatch(kScore, twin, signal, t_ns, score, out);
}

void AlertEvaluator::ObserveRul(const std::string& twin, TimeNs t_ns, double rul_h,
                                std::vector<AlertTransition>* out) {
  Dispatch(kRul, twin, "", t_ns, rul_h, out);
}

AlertTransition AlertEvaluator::Make(const State& s, AlertTransition::Kind kind, TimeNs t_ns, double x,
                                     double limit) const {
  const AlertRule& r = rules_[s.rule];
  AlertTransition tr;
  tr.kind = kind;
  tr.rule = r.name;
  tr.twin = s.twin;
  tr.signal = s.signal;
  tr.severity = r.severity;
  tr.t_ns = t_ns;
  tr.value = x;
  tr.limit = limit;
  tr.trigger_count = s.trigger_count;
  return tr;
}

void AlertEvaluator::Step(State& s, TimeNs t_ns, bool trigger, bool clear, double x, double limit,
                          double clear_limit, std::vector<AlertTransition>* out) {
  const AlertRule& r = rules_[s.rule];
  if (!s.active) {
    if (!trigger) {
      s.pending = false;
      return;
    }
    if (!s.pending) {
      s.pending = true;
      s.pending_since_ns = t_ns;
    }
    TimeNs held = t_ns - s.pending_since_ns;
    if (held < SecondsToNs(r.min_duration_s)) return;
    s.active = true;
    s.pending = false;
    s.trigger_count = 1;
    AlertTransition tr = Make(s, AlertTransition::Kind::kRaised, t_ns, x, limit);
    switch (r.kind) {
      case RuleKind::kThreshold:
        tr.reason = fmt::format("{} {:.6g} {} {:.6g}", s.signal, x,
                                r.direction == Direction::kAbove ? "above" : "below", limit);
        break;
      case RuleKind::kRateOfChange:
        tr.reason = fmt::format("{} changing at {:.6g}/s, limit {:.6g}/s over {:.6g} s", s.signal, x, limit,
                                r.window_s);
        break;
      case RuleKind::kAnomaly:
        tr.reason = fmt::format("{} anomaly score {:.3f} >= {:.6g}", s.signal, x, limit);
        break;
      case RuleKind::kRulBelow:
        tr.reason = fmt::format("remaining useful life {:.6g} h below {:.6g} h", x, limit);
        break;
      case RuleKind::kStale: break;
    }
    if (r.min_duration_s > 0) tr.reason += fmt::format(" for {:.6g} s", NsToSeconds(held));
    ++summary_.raised;
    out->push_back(std::move(tr));
    return;
  }
  if (trigger) ++s.trigger_count;
  if (!clear) return;
  s.active = false;
  AlertTransition tr = Make(s, AlertTransition::Kind::kCleared, t_ns, x, clear_limit);
  switch (r.kind) {
    case RuleKind::kThreshold:
      tr.reason = fmt::format("{} {:.6g} back {} clear level {:.6g}", s.signal, x,
                              r.direction == Direction::kAbove ? "at or below" : "at or above", clear_limit);
      break;
    case RuleKind::kRateOfChange:
      tr.reason = fmt::format("{} changing at {:.6g}/s, within {:.6g}/s", s.signal, x, clear_limit);
      break;
    case RuleKind::kAnomaly:
      tr.reason = fmt::format("{} anomaly score {:.3f} below {:.6g}", s.signal, x, clear_limit);
      break;
    case RuleKind::kRulBelow:
      tr.reason = fmt::format("remaining useful life {:.6g} h at or above {:.6g} h", x, clear_limit);
      break;
    case RuleKind::kStale: break;
  }
  ++summary_.cleared;
  out->push_back(std::move(tr));
}

void AlertEvaluator::Evaluate(State& s, TimeNs t_ns, double x, std::vector<AlertTransition>* out) {
  const AlertRule& r = rules_[s.rule];
  if (t_ns < s.last_ns) {
    ++summary_.ignored_out_of_order;
    return;
  }
  const TimeNs prev_ns = s.last_ns;
  s.last_ns = t_ns;
  switch (r.kind) {
    case RuleKind::kThreshold: {
      double clear_limit = r.EffectiveClearValue();
      bool above = r.direction == Direction::kAbove;
      bool trigger = above ? x > r.value : x < r.value;
      bool clear = above ? x <= clear_limit : x >= clear_limit;
      Step(s, t_ns, trigger, clear, x, r.value, clear_limit, out);
      break;
    }
    case RuleKind::kRateOfChange: {
      const TimeNs window_ns = SecondsToNs(r.window_s);
      s.window.emplace_back(t_ns, x);
      while (s.window.front().first < t_ns - window_ns || s.window.size() > options_.max_rate_samples)
        s.window.pop_front();
      if (s.window.size() < 2 || t_ns - s.window.front().first < window_ns / 2) return;
      double slope = Slope(s.window);
      double bad = r.rate_direction == RateDirection::kRising    ? slope
                   : r.rate_direction == RateDirection::kFalling ? -slope
                                                                 : std::abs(slope);
      Step(s, t_ns, bad > r.max_rate_per_s, bad <= r.EffectiveClearRate(), slope, r.max_rate_per_s,
           r.EffectiveClearRate(), out);
      break;
    }
    case RuleKind::kAnomaly:
      Step(s, t_ns, x >= r.min_score, x < r.EffectiveClearScore(), x, r.min_score, r.EffectiveClearScore(),
           out);
      break;
    case RuleKind::kRulBelow:
      Step(s, t_ns, x < r.horizon_h, x >= r.EffectiveClearHorizon(), x, r.horizon_h,
           r.EffectiveClearHorizon(), out);
      break;
    case RuleKind::kStale: {
      if (!s.active) return;
      s.active = false;
      double gap_s = NsToSeconds(t_ns - prev_ns);
      AlertTransition tr = Make(s, AlertTransition::Kind::kCleared, t_ns, gap_s, r.max_age_s);
      tr.reason = fmt::format("{} reported again after {:.6g} s without samples", s.signal, gap_s);
      ++summary_.cleared;
      out->push_back(std::move(tr));
      break;
    }
  }
}

void AlertEvaluator::Tick(TimeNs now_ns, std::vector<AlertTransition>* out) {
  for (size_t i : stale_) {
    State& s = states_[i];
    const AlertRule& r = rules_[s.rule];
    if (s.last_ns == INT64_MIN) continue;  // not yet seen (cannot happen: states start at a sighting)
    if (s.active) {
      ++s.trigger_count;
      continue;
    }
    TimeNs age_ns = now_ns - s.last_ns;
    if (age_ns <= SecondsToNs(r.max_age_s)) continue;
    s.active = true;
    s.trigger_count = 1;
    double age_s = NsToSeconds(age_ns);
    AlertTransition tr = Make(s, AlertTransition::Kind::kRaised, now_ns, age_s, r.max_age_s);
    tr.reason = fmt::format("{} no sample for {:.6g} s (max {:.6g} s)", s.signal, age_s, r.max_age_s);
    ++summary_.raised;
    out->push_back(std::move(tr));
  }
}

void AlertEvaluator::RemoveTwin(const std::string& twin, TimeNs now_ns, std::vector<AlertTransition>* out) {
  if (!twins_.erase(twin)) return;
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    State& s = states_[it->second];
    if (s.twin != twin) {
      ++it;
      continue;
    }
    if (s.active) {
      AlertTransition tr = Make(s, AlertTransition::Kind::kCleared, now_ns, 0, 0);
      tr.reason = "twin removed";
      ++summary_.cleared;
      out->push_back(std::move(tr));
    }
    size_t idx = it->second;
    stale_.erase(std::remove(stale_.begin(), stale_.end(), idx), stale_.end());
    states_[idx] = State{};
    free_.push_back(idx);
    it = by_key_.erase(it);
  }
  for (auto it = routes_.begin(); it != routes_.end();) {
    // Route keys are channel + twin + '\0' + signal.
    bool mine = it->first.compare(1, twin.size(), twin) == 0 && it->first.size() > twin.size() + 1 &&
                it->first[twin.size() + 1] == '\0';
    it = mine ? routes_.erase(it) : std::next(it);
  }
}

Status AlertEvaluator::RestoreActive(const std::string& rule, const std::string& twin,
                                     const std::string& signal, TimeNs raised_ns) {
  auto r = std::find_if(rules_.begin(), rules_.end(), [&](const AlertRule& x) { return x.name == rule; });
  if (r == rules_.end()) return NotFound(fmt::format("alert rule '{}' is no longer configured", rule));
  SeeTwin(twin, raised_ns);
  State& s = states_[StateFor(static_cast<size_t>(r - rules_.begin()), twin, signal)];
  s.active = true;
  s.pending = false;
  s.trigger_count = 1;
  if (r->kind == RuleKind::kStale) s.last_ns = std::max(s.last_ns, raised_ns);
  for (char ch : {'v', 'a', 'r'}) routes_.erase(std::string(1, ch) + twin + '\0' + signal);
  return Status::Ok();
}

AlertEvaluatorSummary AlertEvaluator::summary() const {
  AlertEvaluatorSummary out = summary_;
  out.states = by_key_.size();
  out.active = 0;
  for (const auto& [key, idx] : by_key_) out.active += states_[idx].active ? 1 : 0;
  return out;
}

// ---- AlertBook -------------------------------------------------------------------------------

const char* AlertStateName(AlertState s) {
  switch (s) {
    case AlertState::kRaised: return "raised";
    case AlertState::kAcknowledged: return "acknowledged";
    case AlertState::kClearedUnacknowledged: return "cleared_unacknowledged";
    case AlertState::kCleared: return "cleared";
  }
  return "?";
}

bool ParseAlertState(std::string_view s, AlertState* out) {
  for (AlertState a : {AlertState::kRaised, AlertState::kAcknowledged, AlertState::kClearedUnacknowledged,
                       AlertState::kCleared}) {
    if (s == AlertStateName(a)) {
      *out = a;
      return true;
    }
  }
  return false;
}

std::string AlertBook::Key(const std::string& rule, const std::string& twin, const std::string& signal) {
  return rule + '\0' + twin + '\0' + signal;
}

Alert AlertBook::Raise(const AlertTransition& t, bool* merged) {
  if (t.kind != AlertTransition::Kind::kRaised)
    throw std::invalid_argument("AlertBook::Raise: transition is not a raise");
  std::string key = Key(t.rule, t.twin, t.signal);
  auto it = active_.find(key);
  if (merged) *merged = it != active_.end();
  if (it != active_.end()) {
    Alert& a = alerts_.at(it->second);
    ++a.occurrences;
    a.last_raised_ns = std::max(a.last_raised_ns, t.t_ns);
    return a;
  }
  Alert a;
  a.id = next_id_++;
  a.rule = t.rule;
  a.twin = t.twin;
  a.signal = t.signal;
  a.severity = t.severity;
  a.state = AlertState::kRaised;
  a.reason = t.reason;
  a.value = t.value;
  a.limit = t.limit;
  a.raised_ns = a.last_raised_ns = t.t_ns;
  active_.emplace(std::move(key), a.id);
  return alerts_.emplace(a.id, a).first->second;
}

Result<Alert> AlertBook::Ack(uint64_t id, const std::string& who, TimeNs now_ns) {
  if (who.empty()) return InvalidArgument(fmt::format("ack of alert {}: who is empty", id));
  auto it = alerts_.find(id);
  if (it == alerts_.end()) return NotFound(fmt::format("alert {} not found", id));
  Alert& a = it->second;
  if (a.acknowledged) return a;  // idempotent: the first acknowledgement stands
  a.acknowledged = true;
  a.acked_by = who;
  a.acked_ns = now_ns;
  a.state = a.state == AlertState::kRaised ? AlertState::kAcknowledged : AlertState::kCleared;
  return a;
}

Result<Alert> AlertBook::Clear(const std::string& rule, const std::string& twin, const std::string& signal,
                               TimeNs now_ns, const std::string& reason) {
  auto it = active_.find(Key(rule, twin, signal));
  if (it == active_.end())
    return NotFound(fmt::format("no active alert for rule '{}' twin '{}' signal '{}'", rule, twin, signal));
  Alert& a = alerts_.at(it->second);
  active_.erase(it);
  a.state = a.acknowledged ? AlertState::kCleared : AlertState::kClearedUnacknowledged;
  a.cleared_ns = now_ns;
  a.clear_reason = reason;
  return a;
}

Result<Alert> AlertBook::Apply(const AlertTransition& t, bool* merged) {
  if (t.kind == AlertTransition::Kind::kRaised) return Raise(t, merged);
  if (merged) *merged = false;
  return Clear(t.rule, t.twin, t.signal, t.t_ns, t.reason);
}

Result<Alert> AlertBook::Get(uint64_t id) const {
  auto it = alerts_.find(id);
  if (it == alerts_.end()) return NotFound(fmt::format("alert {} not found", id));
  return it->second;
}

std::vector<Alert> AlertBook::List(const AlertFilter& f) const {
  std::vector<Alert> out;
  for (auto it = alerts_.rbegin(); it != alerts_.rend(); ++it) {
    const Alert& a = it->second;
    if (!f.twin.empty() && !GlobMatch(f.twin, a.twin)) continue;
    if (!f.states.empty() && std::find(f.states.begin(), f.states.end(), a.state) == f.states.end()) continue;
    out.push_back(a);
    if (f.limit && out.size() >= f.limit) break;
  }
  return out;
}

SeverityCounts AlertBook::ActiveCounts(const std::string& twin) const {
  SeverityCounts c;
  for (const auto& [key, id] : active_) {
    const Alert& a = alerts_.at(id);
    if (a.twin != twin) continue;
    switch (a.severity) {
      case Severity::kInfo: ++c.info; break;
      case Severity::kWarning: ++c.warning; break;
      case Severity::kCritical: ++c.critical; break;
    }
  }
  return c;
}

Status AlertBook::Restore(const std::vector<Alert>& alerts) {
  for (const Alert& a : alerts) {
    if (alerts_.count(a.id)) return AlreadyExists(fmt::format("alert {}: duplicate id", a.id));
    if (a.active()) {
      auto [it, fresh] = active_.emplace(Key(a.rule, a.twin, a.signal), a.id);
      if (!fresh)
        return FailedPrecondition(
            fmt::format("alerts {} and {} are both active for rule '{}' twin '{}' signal '{}'", it->second,
                        a.id, a.rule, a.twin, a.signal));
    }
    alerts_.emplace(a.id, a);
    next_id_ = std::max(next_id_, a.id + 1);
  }
  return Status::Ok();
}

size_t AlertBook::PruneClosed(TimeNs cleared_before_ns) {
  size_t n = 0;
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    if (it->second.state == AlertState::kCleared && it->second.cleared_ns < cleared_before_ns) {
      it = alerts_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

nlohmann::json AlertToJson(const Alert& a) {
  nlohmann::json j = {{"id", a.id},
                      {"rule", a.rule},
                      {"twin", a.twin},
                      {"signal", a.signal},
                      {"severity", SeverityName(a.severity)},
                      {"state", AlertStateName(a.state)},
                      {"reason", a.reason},
                      {"value", a.value},
                      {"limit", a.limit},
                      {"raised_ns", a.raised_ns},
                      {"last_raised_ns", a.last_raised_ns},
                      {"occurrences", a.occurrences}};
  j["acked_by"] = a.acknowledged ? nlohmann::json(a.acked_by) : nlohmann::json(nullptr);
  j["acked_ns"] = a.acknowledged ? nlohmann::json(a.acked_ns) : nlohmann::json(nullptr);
  bool cleared = !a.active();
  j["cleared_ns"] = cleared ? nlohmann::json(a.cleared_ns) : nlohmann::json(nullptr);
  j["clear_reason"] = cleared ? nlohmann::json(a.clear_reason) : nlohmann::json(nullptr);
  return j;
}

Result<Alert> AlertFromJson(const nlohmann::json& j, const std::string& what) {
  auto err = [&](const char* field, const std::string& m) {
    return InvalidArgument(fmt::format("{}: {}: {}", what, field, m));
  };
  if (!j.is_object()) return InvalidArgument(fmt::format("{}: expected an object", what));
  Alert a;
  auto str = [&](const char* f, std::string* out, bool nullable) -> Status {
    if (!j.contains(f)) return err(f, "missing");
    if (nullable && j[f].is_null()) return Status::Ok();
    if (!j[f].is_string()) return err(f, "expected a string");
    *out = j[f].get<std::string>();
    return Status::Ok();
  };
  auto i64 = [&](const char* f, int64_t* out, bool nullable, bool* present) -> Status {
    if (!j.contains(f)) return err(f, "missing");
    if (present) *present = !j[f].is_null();
    if (nullable && j[f].is_null()) return Status::Ok();
    if (!j[f].is_number_integer()) return err(f, "expected an integer");
    *out = j[f].get<int64_t>();
    return Status::Ok();
  };
  auto num = [&](const char* f, double* out) -> Status {
    if (!j.contains(f)) return err(f, "missing");
    if (!j[f].is_number()) return err(f, "expected a number");
    *out = j[f].get<double>();
    return Status::Ok();
  };
  if (!j.contains("id") || !j["id"].is_number_unsigned() || j["id"].get<uint64_t>() == 0)
    return err("id", "expected a positive integer");
  a.id = j["id"].get<uint64_t>();
  DOPPEL_RETURN_IF_ERROR(str("rule", &a.rule, false));
  DOPPEL_RETURN_IF_ERROR(str("twin", &a.twin, false));
  DOPPEL_RETURN_IF_ERROR(str("signal", &a.signal, false));
  std::string sev, state;
  DOPPEL_RETURN_IF_ERROR(str("severity", &sev, false));
  if (!ParseSeverity(sev, &a.severity)) return err("severity", fmt::format("unknown severity '{}'", sev));
  DOPPEL_RETURN_IF_ERROR(str("state", &state, false));
  if (!ParseAlertState(state, &a.state)) return err("state", fmt::format("unknown state '{}'", state));
  DOPPEL_RETURN_IF_ERROR(str("reason", &a.reason, false));
  DOPPEL_RETURN_IF_ERROR(num("value", &a.value));
  DOPPEL_RETURN_IF_ERROR(num("limit", &a.limit));
  DOPPEL_RETURN_IF_ERROR(i64("raised_ns", &a.raised_ns, false, nullptr));
  DOPPEL_RETURN_IF_ERROR(i64("last_raised_ns", &a.last_raised_ns, false, nullptr));
  if (!j.contains("occurrences") || !j["occurrences"].is_number_unsigned() ||
      j["occurrences"].get<uint64_t>() == 0)
    return err("occurrences", "expected a positive integer");
  a.occurrences = j["occurrences"].get<uint64_t>();
  bool acked = false, cleared = false;
  DOPPEL_RETURN_IF_ERROR(str("acked_by", &a.acked_by, true));
  DOPPEL_RETURN_IF_ERROR(i64("acked_ns", &a.acked_ns, true, &acked));
  DOPPEL_RETURN_IF_ERROR(i64("cleared_ns", &a.cleared_ns, true, &cleared));
  DOPPEL_RETURN_IF_ERROR(str("clear_reason", &a.clear_reason, true));
  a.acknowledged = acked;
  if (acked == a.acked_by.empty()) return err("acked_by", "must be set exactly when acked_ns is");
  bool want_acked = a.state == AlertState::kAcknowledged || a.state == AlertState::kCleared;
  if (acked != want_acked)
    return err("state", fmt::format("'{}' with acked_ns {}", state, acked ? "set" : "null"));
  if (cleared == a.active())
    return err("state", fmt::format("'{}' with cleared_ns {}", state, cleared ? "set" : "null"));
  return a;
}

}  // namespace doppel::analytics
