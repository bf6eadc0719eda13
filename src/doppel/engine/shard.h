// Shard (engine-private): one worker thread, the single writer of the twins hashed to it.
//
// Loop: take everything queued (group commit) -> append it to the store's lane for this shard
// -> feed each twin's reorder buffer -> release what the watermark allows into the twin's
// latest values -> publish snapshots and stream events. It wakes at least every 50 ms so a
// quiet twin's buffered readings are released by processing time.
// The live analytics it runs on released readings (anomaly scores, the fused score, alert rules,
// wear RUL) are in shard_analytics.cc.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "doppel/analytics/alert_engine.h"
#include "doppel/analytics/detector.h"
#include "doppel/analytics/multivariate.h"    // multivariate: the fused twin score
#include "doppel/analytics/wear_prognosis.h"  // wear RUL
#include "doppel/core/keys.h"
#include "doppel/core/metrics.h"
#include "doppel/engine/alert_center.h"
#include "doppel/engine/behavior.h"
#include "doppel/engine/estimate_store.h"
#include "doppel/engine/service.h"
#include "doppel/ingest/reorder.h"
#include "doppel/store/series_store.h"

namespace doppel::engine {

// Signalled when a submitted batch is stored (or failed); shared by the batches of one call.
struct Completion {
  explicit Completion(int parts) : remaining(parts) {}
  void Done(const Status& s, uint64_t late_count);
  Status Wait();
  std::mutex mu;
  std::condition_variable cv;
  int remaining;
  Status status;
  uint64_t late = 0;
};

using LatestValues = std::map<std::string, SignalValue>;

struct ShardDeps {
  store::SeriesStore* store;
  MetricsRegistry* metrics;
  TimeNs allowed_lateness_ns;
  size_t queue_capacity;  // readings
  std::function<TimeNs()> now_ns;
  std::function<void(const std::vector<StreamEvent>&)> publish;  // to stream subscribers
  // Estimation: the DTDL model id of a twin ("" if unknown), the station's tank level by source
  // time shared by every shard (station_level.h; null: the default level), and the settings.
  std::function<std::string(const std::string&)> model_of;
  StationLevel* station_level = nullptr;
  EstimationOptions estimation;
  // Stream subscribers right now (null: always build stream events).
  const std::atomic<size_t>* stream_subscribers = nullptr;
  // Live analytics (docs/alerts.md): alert rules evaluated on this shard's twins, transitions
  // handed to `alerts`; per-signal anomaly detectors whose scores feed the anomaly rules, the
  // twin's latest values ("anomaly.<signal>") and, at most once a second, the store.
  AlertCenter* alerts = nullptr;                  // null: no alert evaluation
  std::vector<analytics::AlertRule> alert_rules;  // validated by the engine
  bool anomaly_detection = false;
  // Saved estimates by twin (estimate_store.h): a twin's estimator starts from its saved
  // parameters. Null: none.
  std::shared_ptr<const std::map<std::string, SavedEstimate>> saved_estimates{};
  // wear RUL: pump twins' remaining useful life from their estimated wear trend (rul_h, rul_p5_h,
  // rul_p95_h; docs/analytics.md "Pump RUL from the wear trend"). On by default.
  analytics::WearRulOptions wear_rul{};
  // A store append that fails with an I/O error or a full disk is retried (10 ms doubling to
  // 1 s) while the shard takes nothing new, so producers block on the full queue: accepted
  // readings are not dropped. Callers waiting on the group (Engine::Ingest, HTTP ingest) get
  // the error once it has failed this long; its readings stay queued and are still retried (a
  // caller that resends them is harmless: a (series, timestamp) written again replaces itself).
  int64_t store_error_wait_ns = 30'000'000'000;
};

class Shard {
 public:
  Shard(int index, ShardDeps deps);
  ~Shard();  // Stop()

  void Start();
  // Processes what is queued, flushes the reorder buffers, joins. A group whose store append
  // is failing gets one last attempt and is then given up (logged at error: those readings were
  // acknowledged and are lost), as is every later group that fails: Stop does not wait for the
  // store to recover.
  void Stop();
  // The process is shutting down (called before the producers are stopped, which may be blocked
  // in Push behind a failing store append): a failing group gets one last attempt and is given
  // up as at Stop, so the queue drains and blocked producers return; the shard keeps running
  // until Stop. Thread-safe.
  void BeginShutdown();
  // A store append of this shard is failing and being retried (Engine::Ingest refuses new
  // batches for it meanwhile). Thread-safe.
  bool store_failing() const { return store_failing_.load(std::memory_order_relaxed); }

  // Queues a batch; blocks while the queue is over capacity (backpressure). `done` may be null.
  void Push(std::vector<Reading> batch, std::shared_ptr<Completion> done);
  // Returns once everything pushed before it is stored and released to twin state (while a
  // store append is being retried, that is once the store recovers or Stop gives it up).
  // Returns at once when the shard is not running or is stopping.
  void Drain();

  // The twin's latest values (immutable snapshot); null when it has none yet.
  std::shared_ptr<const LatestValues> Latest(const std::string& twin) const;
  // A commanded speed setpoint for the twin's estimator input (applied from its next step).
  void SetSetpoint(const std::string& twin, double rpm);
  // The twin's current estimate (immutable snapshot); null when unbound or none yet.
  std::shared_ptr<const EstimateSnapshot> Estimate(const std::string& twin) const;
  // Every twin's latest estimate on this shard (to save them; estimate_store.h).
  std::vector<std::shared_ptr<const EstimateSnapshot>> Estimates() const;
  // maintenance: a completed part replacement for the twin's estimator (maintenance.h); handed
  // over on the shard thread like setpoints.
  void AddMaintenance(const MaintenanceEvent& e);
  // maintenance: replaces the alert rules (validated by the caller) from the shard's next loop.
  // The evaluator is rebuilt (hold timers and rate windows restart); `active` (this shard's
  // active alerts) are re-armed, and those whose rule is gone are cleared.
  void ReplaceAlertRules(std::vector<analytics::AlertRule> rules, std::vector<analytics::Alert> active);

 private:
  struct Item {
    std::vector<Reading> batch;
    std::shared_ptr<Completion> done;
    int64_t enqueued_steady_ns = 0;
    bool flush = false;  // a Drain barrier: flush every reorder buffer
  };
  struct TwinState {
    explicit TwinState(TimeNs lateness) : reorder(lateness) {}
    ingest::ReorderBuffer reorder;
    LatestValues latest;
    bool level_source = false;                 // a tank twin: its level_m feeds the pumps
    std::unique_ptr<TwinEstimator> estimator;  // bound twins only
    // wear RUL: one prognosis per estimated wear entry (augmented index); null until the first
    // estimate, empty when the twin's estimator has no wear.
    std::unique_ptr<std::vector<std::pair<int, analytics::WearPrognosis>>> wear_rul;
    int64_t est_updates = 0, est_failures = 0;  // counted into the metrics so far
    struct Detector {
      analytics::EnsembleDetector detector;
      TimeNs stored_ns = INT64_MIN;  // last score written to the store
      double max_since_stored = 0;
      int mv_channel = -1;  // multivariate: PCA channel (-1: not yet assigned, -2: not in the model)
      std::string series;   // "anomaly.<signal>", built once
    };
    std::unordered_map<std::string, Detector> detectors;  // by signal (anomaly detection on)
    // multivariate: the twin-level fused score "anomaly" = max(anomaly.<signal> of the row,
    // anomaly.pca, anomaly.nis) (docs/analytics.md "Multivariate detectors and the fused score").
    // A row is the readings of one source time (as the estimator groups them); PCA channels are
    // the signals seen in the twin's first kMultivarDiscoveryRows rows.
    struct Multivar {
      std::vector<std::string> names;  // PCA channels
      std::vector<double> row;         // values since the last PCA row (NaN: none)
      TimeNs row_ts = INT64_MIN;       // source time of the open row
      TimeNs scored_ts = INT64_MIN;    // last row given to the PCA (at most one per second)
      size_t rows = 0;                 // rows closed
      bool open = false;               // a row has readings not yet closed
      double univariate = 0;           // max anomaly.<signal> of the open row
      std::optional<analytics::PcaDetector> pca;
      analytics::NisDetector nis;
      int64_t nis_updates = 0;  // estimator updates already scored
      double pca_score = 0, nis_score = 0;
      TimeNs stored_ns = INT64_MIN;                    // last point written to the store
      double max_fused = 0, max_pca = 0, max_nis = 0;  // since then
    };
    std::unique_ptr<Multivar> multivar;  // anomaly detection on: created with the first reading
    bool dirty = false;                  // `latest` changed since its last snapshot
    int64_t snapshot_steady_ns = 0;      // when the last snapshot was published
    // The twin's signals, resolved once: its entry in `latest` (map nodes are stable) and its
    // estimator channel. Devices send their signals in a fixed order, so the slot after the
    // last one used is tried first: one string compare per released reading.
    struct Slot {
      const std::string* name;
      SignalValue* latest;
      int channel;  // estimator measurement channel, -1 if none
    };
    std::vector<Slot> slots;
    size_t next_slot = 0;
    Slot& SlotFor(const std::string& signal);
  };

  void Run();
  void Process(std::vector<Item>& items);
  // Appends parts_ (`total` readings of `items`) to the store, retrying an I/O error or full
  // disk until it succeeds or the shard stops (ShardDeps::store_error_wait_ns). Waiters of
  // `items` failed meanwhile have their `done` reset.
  Status AppendGroup(std::vector<Item>& items, size_t total);
  void ReleaseAndApply(bool flush_all);
  TwinState& State(const std::string& twin);
  // Publishes the latest-values snapshot of every dirty twin whose last one is older than
  // kSnapshotInterval (all of them with `force`): readers see values at most that stale, and a
  // busy twin is not copied on every group commit.
  void PublishSnapshots(bool force);
  // Anomaly score and alert rules for one released reading (shard thread).
  void Analyze(TwinState& ts, const Reading& r);
  // multivariate: a reading's value and score into the twin's open row; closing a row scores it.
  void MultivarAdd(TwinState& ts, TwinState::Detector& d, const Reading& r, double score);
  void MultivarClose(TwinState& ts, const std::string& twin);
  // wear RUL: feeds the twin's latest estimate to its prognoses; when a point closes, writes the
  // RUL readings (latest values, store, `events`, alert rules).
  void UpdateWearRul(TwinState& ts, const std::string& twin, std::vector<StreamEvent>* events);
  void ApplyRuleChange();  // maintenance: a queued ReplaceAlertRules (shard thread)
  // Clears an active alert whose rule no longer exists (it would otherwise stay raised).
  void ClearOrphanAlert(const analytics::Alert& a, const char* reason);

 public:
  // Re-arms the evaluator with an alert that was active before a restart (before Start()).
  void RestoreAlert(const analytics::Alert& a);

 private:
  const int index_;
  ShardDeps deps_;

  // Queue (guarded by mu_).
  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Item> queue_;
  size_t queued_readings_ = 0;
  bool stopping_ = false;
  std::vector<std::pair<std::string, double>> setpoints_;  // to hand to estimators
  std::vector<MaintenanceEvent> maintenance_;              // maintenance: to hand to estimators
  struct RuleChange {
    std::vector<analytics::AlertRule> rules;
    std::vector<analytics::Alert> active;
  };
  std::optional<RuleChange> rule_change_;  // maintenance: applied by the shard thread
  std::thread thread_;

  // Owned by the shard thread.
  std::unordered_map<std::string, TwinState> twins_;
  std::vector<std::string> buffered_;                    // twins whose reorder buffer may hold readings
  std::vector<std::string> dirty_;                       // twins with TwinState::dirty set
  std::vector<const std::vector<Reading>*> parts_;       // scratch: one group commit's batches
  std::optional<analytics::AlertEvaluator> evaluator_;   // alert rules (shard thread)
  std::vector<analytics::AlertTransition> transitions_;  // scratch
  int64_t next_alert_tick_steady_ns_ = 0;
  bool gave_up_ = false;  // stopping: a failing group was given up, later ones are not retried
  std::atomic<bool> shutting_down_{false}, store_failing_{false};

  // Snapshots (guarded by snap_mu_).
  mutable std::mutex snap_mu_;
  std::unordered_map<std::string, std::shared_ptr<const LatestValues>> snapshots_;
  std::unordered_map<std::string, std::shared_ptr<const EstimateSnapshot>> estimates_;
  // Shard thread: estimate points to append; kept over passes while the store refuses them
  // (kUnavailable, kResourceExhausted: nothing written), up to this many.
  std::vector<Reading> est_series_;
  static constexpr size_t kMaxHeldEstimatePoints = 1 << 20;

  // Metrics.
  Counter& ingested_;
  Counter& late_;
  Counter& store_errors_;
  Counter& append_retries_;
  Counter& blocked_ns_;
  Gauge& depth_;
  Histogram& queue_latency_;
  Histogram& store_latency_;
  Histogram& apply_latency_;
  Counter& est_updates_;
  Counter& est_failures_;
};

}  // namespace doppel::engine
