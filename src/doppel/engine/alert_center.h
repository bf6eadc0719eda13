// AlertCenter: the engine's alert book (analytics::AlertBook) made durable and shared.
//
// Shards evaluate the alert rules on their own twins (analytics::AlertEvaluator, one per
// shard, single-threaded) and hand the transitions here. The center merges them into the
// book (deduplication, lifecycle raised -> acknowledged -> cleared), writes every changed alert
// to SQLite (<data_dir>/alerts.db, one JSON row per alert id) before publishing it, and calls
// `publish` with the alert's JSON for the WebSocket stream. On open, it restores the book.
//
// Thread safety: every method may be called from any thread (one mutex).
// Failure: a write that fails is logged and counted (doppel_alert_store_errors_total); the
// alert stays in memory and is rewritten with its next change.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "doppel/analytics/alert_engine.h"
#include "doppel/core/metrics.h"
#include "doppel/core/status.h"

namespace doppel::store {
class SqliteDb;
}  // namespace doppel::store

namespace doppel::engine {

class AlertCenter {
 public:
  using Publish = std::function<void(const analytics::Alert&)>;
  // Opens (creating) `path`; restores the alerts in it.
  static Result<std::unique_ptr<AlertCenter>> Open(const std::string& path, MetricsRegistry* metrics,
                                                   Publish publish);
  ~AlertCenter();

  // Merges transitions from an evaluator (raised or cleared), persists and publishes each change.
  void Apply(const std::vector<analytics::AlertTransition>& transitions);
  // kNotFound for an unknown id; acknowledging twice keeps the first who/when.
  Result<analytics::Alert> Acknowledge(uint64_t id, const std::string& who, TimeNs now_ns);
  std::vector<analytics::Alert> List(const analytics::AlertFilter& filter) const;
  analytics::SeverityCounts ActiveCounts(const std::string& twin) const;
  // Active alerts at open, for re-arming the evaluators: (rule, twin, signal, raised_ns).
  std::vector<analytics::Alert> Active() const;

 private:
  AlertCenter(std::unique_ptr<store::SqliteDb> db, MetricsRegistry* metrics, Publish publish);
  void Persist(const analytics::Alert& a);  // caller holds mu_

  mutable std::mutex mu_;
  std::unique_ptr<store::SqliteDb> db_;
  analytics::AlertBook book_;
  Publish publish_;
  Counter& raised_;
  Counter& store_errors_;
};

}  // namespace doppel::engine
