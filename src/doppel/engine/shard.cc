#include "doppel/engine/shard.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

namespace doppel::engine {

namespace {
int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
constexpr auto kTick = std::chrono::milliseconds(50);
constexpr int64_t kSnapshotIntervalNs = 20'000'000;
constexpr size_t kMaxGroupReadings = 2048;  // readings per group commit (one WAL record)
constexpr size_t kMinGroupReadings = 256;   // below this, wait up to kGroupWindow for more
constexpr auto kGroupWindow = std::chrono::microseconds(200);
// A failed store append is retried after kRetryFirst, doubling to kRetryMax; a failure streak
// is logged when it starts and then every kRetryLogEveryNs.
constexpr auto kRetryFirst = std::chrono::milliseconds(10);
constexpr auto kRetryMax = std::chrono::milliseconds(1000);
constexpr int64_t kRetryLogEveryNs = 10'000'000'000;

// Failures that may pass (disk full, I/O errors); anything else (a refused reading) would fail
// again on every attempt.
bool Retryable(const Status& s) {
  return s.code() == StatusCode::kIOError || s.code() == StatusCode::kResourceExhausted ||
         s.code() == StatusCode::kUnavailable;
}

}  // namespace

void Completion::Done(const Status& s, uint64_t late_count) {
  std::lock_guard lk(mu);
  if (!s.ok() && status.ok()) status = s;
  late += late_count;
  if (--remaining == 0) cv.notify_all();
}

Status Completion::Wait() {
  std::unique_lock lk(mu);
  cv.wait(lk, [&] { return remaining == 0; });
  return status;
}

Shard::Shard(int index, ShardDeps deps)
    : index_(index),
      deps_(std::move(deps)),
      ingested_(deps_.metrics->GetCounter("doppel_readings_ingested_total",
                                          "Readings accepted: written to the store's log")),
      late_(
          deps_.metrics->GetCounter("doppel_readings_late_total",
                                    "Readings behind their twin's watermark: stored, not applied in order")),
      store_errors_(deps_.metrics->GetCounter("doppel_store_errors_total", "Store appends that failed")),
      append_retries_(deps_.metrics->GetCounter(
          "doppel_store_append_retries_total",
          "Store appends retried after a failure (the group is kept; producers wait on the full queue)")),
      blocked_ns_(deps_.metrics->GetCounter("doppel_ingest_blocked_nanoseconds_total",
                                            "Time producers waited on full shard queues (backpressure)")),
      depth_(deps_.metrics->GetGauge("doppel_queue_depth", "Readings queued per shard",
                                     "shard=\"" + std::to_string(index) + "\"")),
      queue_latency_(deps_.metrics->GetHistogram("doppel_stage_latency_seconds",
                                                 "Latency of each pipeline stage", "stage=\"queue\"")),
      store_latency_(deps_.metrics->GetHistogram("doppel_stage_latency_seconds",
                                                 "Latency of each pipeline stage", "stage=\"store\"")),
      apply_latency_(deps_.metrics->GetHistogram("doppel_stage_latency_seconds",
                                                 "Latency of each pipeline stage", "stage=\"apply\"")),
      est_updates_(deps_.metrics->GetCounter("doppel_estimator_updates_total",
                                             "Estimator steps applied to bound twins")),
      est_failures_(deps_.metrics->GetCounter(
          "doppel_estimator_failures_total",
          "Estimator steps that failed (divergence; the twin's estimator restarts)")) {
  if (deps_.alerts != nullptr && !deps_.alert_rules.empty()) {
    auto ev = analytics::AlertEvaluator::Create(deps_.alert_rules);
    if (ev.ok()) {
      evaluator_.emplace(std::move(*ev));
    } else {  // the engine validated the rules; this is a programming error
      spdlog::error("shard {}: alert rules refused: {}", index, ev.status().ToString());
    }
  }
}

void Shard::RestoreAlert(const analytics::Alert& a) {
  if (!evaluator_) return;
  Status s = evaluator_->RestoreActive(a.rule, a.twin, a.signal, a.raised_ns);
  if (!s.ok() && s.code() == StatusCode::kNotFound)
    ClearOrphanAlert(a, "rule removed from the configuration");
}

void Shard::ClearOrphanAlert(const analytics::Alert& a, const char* reason) {
  if (deps_.alerts == nullptr) return;
  analytics::AlertTransition t;  // its rule is gone: nothing else will ever clear it
  t.kind = analytics::AlertTransition::Kind::kCleared;
  t.rule = a.rule;
  t.twin = a.twin;
  t.signal = a.signal;
  t.severity = a.severity;
  t.t_ns = deps_.now_ns();
  t.reason = reason;
  deps_.alerts->Apply({t});
}

Shard::~Shard() { Stop(); }

void Shard::Start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Shard::Stop() {
  {
    std::lock_guard lk(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  not_empty_.notify_all();
  thread_.join();
}

void Shard::Push(std::vector<Reading> batch, std::shared_ptr<Completion> done) {
  const size_t n = batch.size();
  std::unique_lock lk(mu_);
  if (queued_readings_ > 0 && queued_readings_ + n > deps_.queue_capacity) {
    int64_t t0 = SteadyNs();
    not_full_.wait(lk, [&] {
      return queued_readings_ == 0 || queued_readings_ + n <= deps_.queue_capacity || stopping_;
    });
    blocked_ns_.Inc(static_cast<uint64_t>(SteadyNs() - t0));
  }
  queued_readings_ += n;
  depth_.Set(static_cast<double>(queued_readings_));
  queue_.push_back(Item{std::move(batch), std::move(done), SteadyNs(), false});
  lk.unlock();
  not_empty_.notify_one();
}

void Shard::Drain() {
  auto done = std::make_shared<Completion>(1);
  {
    std::lock_guard lk(mu_);
    if (!thread_.joinable() || stopping_) return;  // nothing would ever process the barrier
    queue_.push_back(Item{{}, done, SteadyNs(), true});
  }
  not_empty_.notify_one();
  (void)done->Wait();
}

std::shared_ptr<const LatestValues> Shard::Latest(const std::string& twin) const {
  std::lock_guard lk(snap_mu_);
  auto it = snapshots_.find(twin);
  return it == snapshots_.end() ? nullptr : it->second;
}

void Shard::Run() {
  std::vector<Item> items;
  for (;;) {
    bool stop;
    {
      std::unique_lock lk(mu_);
      not_empty_.wait_for(lk, kTick, [&] { return !queue_.empty() || stopping_; });
      if (!stopping_ && !queue_.empty() && queued_readings_ < kMinGroupReadings) {
        // Group commit window: when little is queued and nobody waits for it (no Ingest caller,
        // no Drain), let more arrive first. Readings are held in the reorder buffers far longer
        // than this anyway, and a wake-up per message costs more than the message.
        bool waited_on = false;
        for (const Item& it : queue_) waited_on |= it.done != nullptr || it.flush;
        if (!waited_on) {
          lk.unlock();
          std::this_thread::sleep_for(kGroupWindow);
          lk.lock();
        }
      }
      // Group commit of what queued up meanwhile, bounded so one group's readings stay in
      // cache from the log record to the twin state (a backlog is taken in several groups).
      size_t taken = 0;
      while (!queue_.empty() && (taken == 0 || taken + queue_.front().batch.size() <= kMaxGroupReadings)) {
        taken += queue_.front().batch.size();
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_readings_ -= std::min(queued_readings_, taken);
      depth_.Set(static_cast<double>(queued_readings_));
      stop = stopping_ && queue_.empty();
    }
    not_full_.notify_all();
    ApplyRuleChange();  // maintenance: live design-spec rules, before readings submitted after them
    Process(items);
    items.clear();
    if (stop) {
      ReleaseAndApply(/*flush_all=*/true);
      if (!est_series_.empty()) {  // held from a pass the store refused, and no pass since
        Status st = deps_.store->Append(index_, est_series_);
        if (!st.ok()) {
          spdlog::error("shard {}: at stop, {} estimate points held for a refusing store are lost: {}",
                        index_, est_series_.size(), st.ToString());
        }
        est_series_.clear();
      }
      PublishSnapshots(/*force=*/true);
      return;
    }
    PublishSnapshots(/*force=*/false);
    if (evaluator_ && SteadyNs() >= next_alert_tick_steady_ns_) {  // stale-sensor rules, once a second
      next_alert_tick_steady_ns_ = SteadyNs() + 1'000'000'000;
      evaluator_->Tick(deps_.now_ns(), &transitions_);
      if (!transitions_.empty()) {
        deps_.alerts->Apply(transitions_);
        transitions_.clear();
      }
    }
  }
}

void Shard::SetSetpoint(const std::string& twin, double rpm) {
  std::lock_guard lk(mu_);
  setpoints_.emplace_back(twin, rpm);
}

std::shared_ptr<const EstimateSnapshot> Shard::Estimate(const std::string& twin) const {
  std::lock_guard lk(snap_mu_);
  auto it = estimates_.find(twin);
  return it == estimates_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const EstimateSnapshot>> Shard::Estimates() const {
  std::lock_guard lk(snap_mu_);
  std::vector<std::shared_ptr<const EstimateSnapshot>> out;
  out.reserve(estimates_.size());
  for (const auto& [twin, snap] : estimates_) out.push_back(snap);
  return out;
}

Shard::TwinState& Shard::State(const std::string& twin) {
  auto it = twins_.find(twin);
  if (it == twins_.end()) {
    it = twins_.emplace(twin, TwinState(deps_.allowed_lateness_ns)).first;
    if (deps_.model_of) {
      const std::string model = deps_.model_of(twin);
      it->second.level_source = BehaviorModel::IsLevelSource(model, "level_m");
      if (deps_.estimation.enabled) {
        if (const BehaviorModel* b = BehaviorModel::Find(model)) {
          it->second.estimator = std::make_unique<TwinEstimator>(b, twin, deps_.estimation);
          if (deps_.saved_estimates) {
            auto saved = deps_.saved_estimates->find(twin);
            if (saved != deps_.saved_estimates->end()) it->second.estimator->Restore(saved->second);
          }
        }
      }
    }
  }
  return it->second;
}

Shard::TwinState::Slot& Shard::TwinState::SlotFor(const std::string& signal) {
  if (next_slot == slots.size()) next_slot = 0;  // the twin's next message starts over
  if (next_slot < slots.size() && SameKey(*slots[next_slot].name, signal)) return slots[next_slot++];
  for (size_t i = 0; i < slots.size(); ++i) {
    if (*slots[i].name == signal) {
      next_slot = i + 1;
      return slots[i];
    }
  }
  auto it = latest.try_emplace(signal).first;
  slots.push_back(Slot{&it->first, &it->second, estimator ? estimator->Channel(signal) : -1});
  next_slot = slots.size();
  return slots.back();
}

void Shard::Process(std::vector<Item>& items) {
  const int64_t start = SteadyNs();
  bool flush = false;
  // Group commit: one log record for everything that queued up meanwhile (the items' batches
  // are written as parts of one record, not copied together).
  std::vector<const std::vector<Reading>*>& parts = parts_;
  parts.clear();
  size_t total = 0;
  for (const Item& it : items) {
    flush |= it.flush;
    if (it.flush) continue;
    queue_latency_.Observe(static_cast<double>(start - it.enqueued_steady_ns) * 1e-9);
    if (it.batch.empty()) continue;
    parts.push_back(&it.batch);
    total += it.batch.size();
  }

  Status st;
  if (total > 0) {
    st = AppendGroup(items, total);
    int64_t stored = SteadyNs();
    store_latency_.Observe(static_cast<double>(stored - start) * 1e-9);
    if (st.ok()) ingested_.Inc(total);
  }

  // Late counts are attributed per item, so HTTP callers learn theirs.
  const TimeNs now = deps_.now_ns();
  TwinState* ts = nullptr;  // messages are one twin's: look it up once per run of readings
  const std::string* ts_twin = nullptr;
  for (Item& it : items) {
    uint64_t late = 0;
    if (st.ok() && !it.flush) {
      for (Reading& r : it.batch) {
        if (ts == nullptr || !SameKey(*ts_twin, r.twin)) {
          auto found = twins_.find(r.twin);
          if (found == twins_.end()) {
            State(r.twin);  // creates it
            found = twins_.find(r.twin);
          }
          ts = &found->second;
          ts_twin = &found->first;
        }
        if (ts->reorder.size() == 0) buffered_.push_back(r.twin);
        // The tank's level is recorded as it arrives, before the reorder buffer releases it: a
        // pump step released in this pass then finds the level of its own source time even when
        // the tank's newer messages have not arrived yet (station_level.h).
        if (ts->level_source && deps_.station_level != nullptr && r.quality != Quality::kBad &&
            std::isfinite(r.value) && r.signal == "level_m") {
          deps_.station_level->Record(r.source_ts_ns, r.value);
        }
        if (!ts->reorder.Add(std::move(r), now)) ++late;
      }
    }
    if (late > 0) late_.Inc(late);  // before Done: a caller woken by it sees the count
    if (it.done && !it.flush) it.done->Done(st, late);
  }
  int64_t t_apply = SteadyNs();
  ReleaseAndApply(flush);
  if (flush) PublishSnapshots(/*force=*/true);
  if (total > 0) apply_latency_.Observe(static_cast<double>(SteadyNs() - t_apply) * 1e-9);
  for (Item& it : items) {
    if (it.flush && it.done) it.done->Done(Status::Ok(), 0);
  }
}

void Shard::BeginShutdown() {
  {
    std::lock_guard lk(mu_);
    shutting_down_ = true;
  }
  not_empty_.notify_all();  // wakes a retry backoff
}

Status Shard::AppendGroup(std::vector<Item>& items, size_t total) {
  Status st = deps_.store->AppendParts(index_, parts_);
  if (st.ok()) return st;
  store_failing_ = true;
  struct Clear {
    std::atomic<bool>* flag;
    ~Clear() { *flag = false; }
  } clear_failing{&store_failing_};
  const int64_t first_failure = SteadyNs();
  int64_t next_log = first_failure;
  uint64_t attempts = 1;
  auto backoff = std::chrono::duration_cast<std::chrono::milliseconds>(kRetryFirst);
  // Callers that have waited store_error_wait_ns (on this group or on a batch queued behind it)
  // learn of the outage; the readings stay and are retried.
  auto tell_waiters = [&](auto& which, int64_t now, const Status& told) {
    for (Item& it : which) {
      if (it.done && !it.flush && now - it.enqueued_steady_ns >= deps_.store_error_wait_ns) {
        it.done->Done(told, 0);
        it.done = nullptr;
      }
    }
  };
  for (bool stopping = false;;) {
    store_errors_.Inc();
    if (!Retryable(st)) {
      spdlog::error("shard {}: store refused an append of {} readings: {}", index_, total, st.ToString());
      return st;
    }
    if (stopping) break;  // that was the last attempt
    const int64_t now = SteadyNs();
    const double elapsed_s = static_cast<double>(now - first_failure) * 1e-9;
    if (now >= next_log) {
      next_log = now + kRetryLogEveryNs;
      spdlog::warn(
          "shard {}: store append of {} readings failing ({} attempts in {:.0f} s): {}; keeping them "
          "and retrying (ingest waits meanwhile)",
          index_, total, attempts, elapsed_s, st.ToString());
    }
    const Status told(st.code(), fmt::format("{} (store appends failing for {:.0f} s; the readings are kept "
                                             "and retried)",
                                             st.message(), elapsed_s));
    tell_waiters(items, now, told);
    {
      std::unique_lock lk(mu_);
      tell_waiters(queue_, now, told);
      not_empty_.wait_for(lk, backoff, [&] { return stopping_ || shutting_down_; });
      stopping = stopping_ || shutting_down_;
    }
    if (stopping && gave_up_) break;  // an earlier group was given up: Stop does not wait again
    backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kRetryMax));
    append_retries_.Inc();
    ++attempts;
    st = deps_.store->AppendParts(index_, parts_);
    if (st.ok()) {
      spdlog::info("shard {}: store append of {} readings succeeded after {} attempts in {:.1f} s", index_,
                   total, attempts, static_cast<double>(SteadyNs() - first_failure) * 1e-9);
      return st;
    }
  }
  gave_up_ = true;
  spdlog::error(
      "shard {}: stopping: giving up {} readings after {} failed store appends in {:.1f} s ({}); they "
      "were acknowledged to their producers and are lost",
      index_, total, attempts, static_cast<double>(SteadyNs() - first_failure) * 1e-9, st.ToString());
  return st;
}

void Shard::ReleaseAndApply(bool flush_all) {
  if (buffered_.empty()) return;
  const TimeNs now = deps_.now_ns();
  std::vector<StreamEvent> events;
  const bool stream = deps_.publish && (deps_.stream_subscribers == nullptr ||
                                        deps_.stream_subscribers->load(std::memory_order_relaxed) > 0);
  std::vector<std::pair<std::string, std::shared_ptr<const EstimateSnapshot>>> estimated;
  std::vector<std::string> still;
  // Estimate points a failing store refused last pass stay (Retryable below), up to a bound.
  std::vector<std::pair<std::string, double>> setpoints;
  {
    std::lock_guard lk(mu_);
    setpoints.swap(setpoints_);
  }
  for (const auto& [twin, rpm] : setpoints) {
    auto it = twins_.find(twin);
    if (it != twins_.end() && it->second.estimator) it->second.estimator->SetSetpoint(rpm);
  }
  std::vector<MaintenanceEvent> maintenance;  // maintenance: part replacements to estimators
  {
    std::lock_guard lk(mu_);
    maintenance.swap(maintenance_);
  }
  for (const MaintenanceEvent& e : maintenance) {
    TwinState& ts = State(e.twin);
    if (ts.estimator) ts.estimator->AddMaintenance(e);
  }
  StationLevel* const level = deps_.station_level;
  std::sort(buffered_.begin(), buffered_.end());
  buffered_.erase(std::unique(buffered_.begin(), buffered_.end()), buffered_.end());
  for (const std::string& twin : buffered_) {
    TwinState& ts = twins_.at(twin);
    bool any = false, est_changed = false;
    // Released readings are applied where the reorder buffer holds them (no copy).
    auto apply = [&](const Reading& r) {
      any = true;
      TwinState::Slot& slot = ts.SlotFor(r.signal);
      SignalValue& v = *slot.latest;
      if (r.source_ts_ns >= v.ts_ns) v = SignalValue{r.source_ts_ns, r.value, r.quality};
      if (stream) events.push_back(StreamEvent{r.twin, r.signal, r.source_ts_ns, r.value, {}, {}});
      if (slot.channel >= 0) est_changed |= ts.estimator->Add(slot.channel, r, level, &est_series_);
      if (evaluator_ || deps_.anomaly_detection) Analyze(ts, r);
    };
    if (flush_all) {
      ts.reorder.FlushEach(apply);
    } else {
      ts.reorder.ReleaseEach(now, apply);
    }
    if (ts.reorder.size() > 0) still.push_back(twin);
    if (!any) continue;
    if (ts.estimator) {
      est_changed |= ts.estimator->Flush(level, &est_series_);
      est_updates_.Inc(static_cast<uint64_t>(ts.estimator->updates() - ts.est_updates));
      est_failures_.Inc(static_cast<uint64_t>(ts.estimator->failures() - ts.est_failures));
      ts.est_updates = ts.estimator->updates();
      ts.est_failures = ts.estimator->failures();
      if (est_changed) estimated.emplace_back(twin, ts.estimator->snapshot());
      // wear RUL: the pump's RUL from its wear trend
      if (est_changed && deps_.wear_rul.enabled) UpdateWearRul(ts, twin, stream ? &events : nullptr);
    }
    if (ts.multivar) MultivarClose(ts, twin);  // multivariate: the batch's last row
    if (!ts.dirty) {
      ts.dirty = true;
      dirty_.push_back(twin);
    }
  }
  buffered_ = std::move(still);
  if (!estimated.empty()) {
    std::lock_guard lk(snap_mu_);
    for (auto& [twin, snap] : estimated) {
      if (snap) estimates_[twin] = std::move(snap);
    }
  }
  if (!est_series_.empty()) {
    // Estimates are history too ("est.*" series, charted against the measurements). Written
    // straight to this shard's lane: they are derived, so they bypass DTDL validation. They are
    // not streamed (stream subscribers see the twin's telemetry only).
    Status st = deps_.store->Append(index_, est_series_);
    if (st.ok()) {
      est_series_.clear();
    } else {
      store_errors_.Inc();
      // A store that refused them without writing anything (a sync being repaired, a full
      // disk) gets them again with the next pass; beyond kMaxHeldEstimatePoints, or after any
      // other error (an I/O error may come after the record was written), they are dropped
      // (logged).
      const bool refused =
          st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kResourceExhausted;
      const bool keep = refused && est_series_.size() <= kMaxHeldEstimatePoints;
      spdlog::error("shard {}: storing {} estimate points failed{}: {}", index_, est_series_.size(),
                    keep ? " (kept for the next pass)" : "; dropped", st.ToString());
      if (!keep) est_series_.clear();
    }
  }
  if (!events.empty() && deps_.publish) deps_.publish(events);
  if (!transitions_.empty()) {
    deps_.alerts->Apply(transitions_);
    transitions_.clear();
  }
}

void Shard::PublishSnapshots(bool force) {
  if (dirty_.empty()) return;
  const int64_t now = SteadyNs();
  std::vector<std::pair<const std::string*, std::shared_ptr<const LatestValues>>> ready;
  size_t kept = 0;
  for (size_t i = 0; i < dirty_.size(); ++i) {
    auto it = twins_.find(dirty_[i]);
    if (it == twins_.end()) continue;
    TwinState& ts = it->second;
    if (!force && now - ts.snapshot_steady_ns < kSnapshotIntervalNs) {
      if (kept != i) dirty_[kept] = std::move(dirty_[i]);
      ++kept;
      continue;
    }
    ts.dirty = false;
    ts.snapshot_steady_ns = now;
    ready.emplace_back(&it->first, std::make_shared<const LatestValues>(ts.latest));
  }
  dirty_.resize(kept);
  if (ready.empty()) return;
  std::lock_guard lk(snap_mu_);
  for (auto& [twin, snap] : ready) snapshots_[*twin] = std::move(snap);
}

// --- maintenance: live context (docs/enterprise.md) -------------------------------------------

void Shard::AddMaintenance(const MaintenanceEvent& e) {
  std::lock_guard lk(mu_);
  maintenance_.push_back(e);
}

void Shard::ReplaceAlertRules(std::vector<analytics::AlertRule> rules, std::vector<analytics::Alert> active) {
  {
    std::lock_guard lk(mu_);
    rule_change_ = RuleChange{std::move(rules), std::move(active)};
  }
  not_empty_.notify_one();
}

void Shard::ApplyRuleChange() {
  std::optional<RuleChange> change;
  {
    std::lock_guard lk(mu_);
    change.swap(rule_change_);
  }
  if (!change || deps_.alerts == nullptr) return;
  evaluator_.reset();
  if (!change->rules.empty()) {
    auto ev = analytics::AlertEvaluator::Create(change->rules);
    if (!ev.ok()) {  // the engine validated the rules; keep none rather than stale ones
      spdlog::error("shard {}: alert rules refused: {}", index_, ev.status().ToString());
    } else {
      evaluator_.emplace(std::move(*ev));
      const TimeNs now = deps_.now_ns();
      for (const auto& [twin, ts] : twins_) evaluator_->AddTwin(twin, now);
    }
  }
  deps_.alert_rules = std::move(change->rules);
  for (const analytics::Alert& a : change->active) {
    if (evaluator_) {
      RestoreAlert(a);  // re-armed, or cleared when its rule is gone
    } else {
      ClearOrphanAlert(a, "rule removed");  // no rules left
    }
  }
}

}  // namespace doppel::engine
