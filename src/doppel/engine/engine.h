// Engine: the running twin platform — twins sharded over worker threads, each shard the
// single writer of its twins; readings flow ingest -> bounded shard queue -> store (WAL) ->
// reorder buffer -> twin state -> stream subscribers. Readers get immutable snapshots.
//
// Threads: one per shard, plus a housekeeping thread (command timeouts and re-sends). Submit
// and Ingest are called from I/O threads (bus delivery, HTTP) and block while a shard's queue
// is full: backpressure reaches the transport, nothing accepted is dropped; the wait shows in
// doppel_ingest_blocked_seconds_total and the queue depth gauges.
//
// Durability: a batch is accepted once its shard has appended it to the store's log; Ingest
// (HTTP) returns after that. Twins and commands are persisted in SQLite (data_dir/meta.db).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "doppel/analytics/wear_prognosis.h"
#include "doppel/core/config.h"
#include "doppel/core/metrics.h"
#include "doppel/engine/estimation_options.h"
#include "doppel/engine/service.h"
#include "doppel/engine/sim_envs.h"
#include "doppel/engine/whatif_jobs.h"
#include "doppel/ingest/adapter.h"
#include "doppel/store/series_store.h"

namespace doppel::platform {
class Env;
}

namespace doppel::engine {

struct EngineOptions {
  std::string data_dir;           // required: series/ (the log) and meta.db live here
  std::string models_dir;         // required: DTDL interfaces (*.json)
  int shards = 0;                 // 0: one per hardware thread (at least 1)
  size_t queue_capacity = 65536;  // readings per shard queue before Submit blocks
  TimeNs allowed_lateness_ns = 500 * kNsPerMs;
  // Readings whose source time is more than this ahead of now_ns() are refused (kInvalidArgument
  // naming the reading and its time; doppel_readings_future_refused_total): one far-future
  // reading would otherwise hold back every later one of its twin as late (the reorder buffer
  // releases in source-time order). Generous, so accelerated plants (--time-scale) and replays
  // of simulated days are not refused; 0: no limit.
  TimeNs max_future_skew_ns = 30 * 24 * 3600 * kNsPerS;
  TimeNs command_timeout_ns = 10 * kNsPerS;
  // The command bus (docs/commands.md): control modes and the safety envelope, checked against
  // the models at Open. Default: every twin auto, no envelope.
  CommandsConfig commands;
  // Called once per command that timed out (housekeeping thread; must not block). The alert
  // hook; unset: only the log line and doppel_commands_timed_out_total.
  std::function<void(const CommandRecord&)> on_command_timeout;
  // Auto-provisioning: the first rule whose glob matches an unknown twin id creates it.
  std::vector<std::pair<std::string, std::string>> provision;  // glob -> DTMI
  store::FsyncPolicy fsync = store::FsyncPolicy::kInterval;
  int fsync_interval_ms = 200;
  // Storage retention and rollups by series pattern (docs/storage.md); empty: keep raw data
  // forever. Enforced by the housekeeping thread every retention_interval_ns.
  std::vector<store::RetentionRule> retention;
  TimeNs retention_interval_ns = 60 * kNsPerS;
  // How often the housekeeping thread looks in <data_dir>/context.db for records another process
  // wrote (`doppel import` next to a running serve) and applies them (docs/enterprise.md); an
  // import through the API is applied at once either way. 0: never.
  int context_poll_ms = 5000;
  // The change sequence of the design specs already in alert_rules and commands (from
  // ApplyDesignSpecs); -1: whatever context.db holds at Open counts as applied.
  int64_t context_spec_cursor = -1;
  // Wall clock for arrival, command and audit times (ns since the epoch). Default: system clock.
  std::function<TimeNs()> now_ns;
  // Behavior models bound to twins by DTDL model id (docs/estimation.md).
  EstimationOptions estimation;
  // Live analytics (docs/alerts.md): alert rules evaluated on every released reading, and a
  // streaming anomaly detector per twin signal (scores as "anomaly.<signal>" series).
  std::vector<analytics::AlertRule> alert_rules;
  bool anomaly_detection = false;
  // Pump RUL from the estimated wear trend ("rul_h" with its p5/p95 band; docs/analytics.md).
  analytics::WearRulOptions wear_rul;
  // [simenv] Simulation sandboxes (POST /api/v1/sim/envs): how many, idle expiry, request bounds.
  SimEnvLimits sim_envs;
  // What-if jobs (POST /api/v1/twins/{id}/whatif/jobs): workers, queue and retention.
  WhatIfJobsOptions whatif_jobs;

  // Names the first broken rule.
  Status Validate() const;
};

// Sends a command to its device; returns non-OK when the transport could not take it (the
// engine retries until the command times out).
using CommandSender = std::function<Status(const CommandRecord&)>;

class Engine final : public Service, public ingest::ReadingSink, public ingest::CommandAckSink {
 public:
  // Loads the models, opens the store (replaying its log) and the metadata, restores twins
  // and commands. `metrics` and `env` must outlive the engine.
  static Result<std::unique_ptr<Engine>> Open(const EngineOptions& options, MetricsRegistry* metrics,
                                              platform::Env* env);
  ~Engine() override;  // Stop()

  void SetCommandSender(CommandSender sender);
  Status Start();  // starts the shard and housekeeping threads
  void Stop();     // drains the queues, flushes reorder buffers, joins the threads
  // The process is about to stop its producers and then the engine: a store append that is
  // failing is given up after one more attempt instead of retried, so producers blocked behind
  // it (queue full) return and can be stopped (Shard::BeginShutdown). Call before stopping
  // the adapters and the API; a no-op while the store works. Also cancels running synchronous
  // what-ifs (kCancelled) and refuses new ones (kUnavailable).
  void BeginShutdown();

  // ingest::ReadingSink: validates twins (auto-provisioning) and signals, then queues.
  Status Submit(std::vector<Reading> batch) override;
  // ingest::CommandAckSink
  void OnCommandAck(const ingest::CommandAck& ack) override;

  // Waits until everything submitted so far has been stored and released to twin state.
  void Drain();

  // Service
  nlohmann::json ListModels() const override;
  std::vector<TwinView> ListTwins(const TwinFilter& filter) const override;
  Result<TwinView> GetTwin(const std::string& id) const override;
  Result<TwinView> CreateTwin(const TwinSpec& spec) override;
  Result<std::vector<Point>> QueryTelemetry(const std::string& twin, const std::string& signal,
                                            TimeNs from_ns, TimeNs to_ns, size_t max_points) const override;
  Result<CommandRecord> SubmitCommandAs(const std::string& twin, const std::string& name,
                                        const nlohmann::json& request, const std::string& principal,
                                        CommandSource source) override;
  Result<CommandRecord> ApproveCommand(const std::string& twin, const std::string& id,
                                       const std::string& principal, const std::string& reason) override;
  Result<CommandRecord> RejectCommand(const std::string& twin, const std::string& id,
                                      const std::string& principal, const std::string& reason) override;
  Result<ControlModeView> GetControlMode(const std::string& twin) const override;
  Result<ControlModeView> SetControlMode(const std::string& twin, ControlMode mode,
                                         const std::string& principal) override;
  Result<std::vector<CommandRecord>> ListCommands(const std::string& twin) const override;
  Result<CommandRecord> GetCommand(const std::string& twin, const std::string& id) const override;
  Result<IngestSummary> Ingest(std::vector<Reading> readings) override;
  Result<TwinEstimate> GetEstimate(const std::string& twin) const override;
  Result<std::vector<analytics::Alert>> ListAlerts(const analytics::AlertFilter& filter) const override;
  Result<analytics::Alert> AcknowledgeAlert(uint64_t id, const std::string& principal) override;
  Result<HealthView> GetHealth(const std::string& twin) const override;
  Result<std::vector<Annotation>> ListAnnotations(const std::string& twin, TimeNs from_ns,
                                                  TimeNs to_ns) const override;
  Result<Annotation> CreateAnnotation(Annotation a) override;
  Status DeleteAnnotation(const std::string& twin, const std::string& id, const std::string& principal,
                          bool is_admin) override;
  Result<WhatIfResult> WhatIf(const std::string& twin, const WhatIfRequest& req) const override;
  Result<WhatIfJobView> StartWhatIfJob(const std::string& twin, const WhatIfRequest& req,
                                       const std::string& principal) override;
  Result<WhatIfJobView> GetWhatIfJob(const std::string& id) const override;
  Result<std::vector<WhatIfJobView>> ListWhatIfJobs() const override;
  Result<std::optional<WhatIfJobView>> CancelWhatIfJob(const std::string& id, const std::string& principal,
                                                       bool is_admin) override;
  std::string RenderMetrics() const override;
  // --- Live MPC loop [mpcloop]: the loop registers its plan here; null source: none runs.
  Status PostAlert(const analytics::AlertTransition& transition) override;
  Result<nlohmann::json> GetControlPlan() const override;
  void SetControlPlanSource(std::function<Result<nlohmann::json>()> source);
  // --- end [mpcloop]
  // --- Simulation sandboxes [simenv] (sim_envs.h)
  Result<nlohmann::json> CreateSimEnv(const nlohmann::json& request, const std::string& principal) override;
  Result<nlohmann::json> ResetSimEnv(const std::string& id, std::optional<uint64_t> seed) override;
  Result<nlohmann::json> StepSimEnv(const std::string& id, const nlohmann::json& action) override;
  Status DeleteSimEnv(const std::string& id) override;
  Result<nlohmann::json> ListSimEnvs() const override;
  // The sandbox registry (in-process users and tests).
  SimEnvRegistry& sim_envs();
  // --- end [simenv]
  // --- Enterprise context [context] (context_service.h)
  Result<nlohmann::json> ImportContext(const ContextImportRequest& request, std::string_view body) override;
  Result<nlohmann::json> GetTwinContext(const std::string& twin) const override;
  // --- end [context]
  uint64_t SubscribeStream(StreamCallback cb) override;
  void UnsubscribeStream(uint64_t subscription) override;

  const store::SeriesStore& store() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::engine
