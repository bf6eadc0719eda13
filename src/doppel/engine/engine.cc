#include "doppel/engine/engine.h"

#include <spdlog/spdlog.h>

#include <cmath>

#include "doppel/engine/engine_impl.h"

namespace doppel::engine {

Status EngineOptions::Validate() const {
  if (data_dir.empty()) return InvalidArgument("data_dir: must not be empty");
  if (models_dir.empty()) return InvalidArgument("models_dir: must not be empty");
  if (shards < 0 || shards > 256) return InvalidArgument("shards: must be in 0..256 (0: one per core)");
  if (queue_capacity < 16) return InvalidArgument("queue_capacity: must be at least 16 readings");
  if (allowed_lateness_ns < 0) return InvalidArgument("allowed_lateness_ns: must not be negative");
  if (max_future_skew_ns < 0)
    return InvalidArgument("max_future_skew_ns: must not be negative (0: no limit)");
  if (command_timeout_ns < 100 * kNsPerMs)
    return InvalidArgument("command_timeout_ns: must be at least 100 ms");
  if (!(estimation.min_update_interval_s >= 0))
    return InvalidArgument("estimation.min_update_interval_s: must not be negative");
  if (!(estimation.series_interval_s >= 0))
    return InvalidArgument("estimation.series_interval_s: must not be negative");
  if (!(estimation.max_predict_gap_s > 0) || !std::isfinite(estimation.max_predict_gap_s))
    return InvalidArgument("estimation.max_predict_gap_s: must be positive and finite");
  if (!(estimation.outlier_sigma >= 0) || !std::isfinite(estimation.outlier_sigma))
    return InvalidArgument("estimation.outlier_sigma: must be >= 0 and finite (0: off)");
  if (estimation.outlier_patience < 1) return InvalidArgument("estimation.outlier_patience: must be >= 1");
  if (!(estimation.outlier_max_sigma >= 0) || !std::isfinite(estimation.outlier_max_sigma) ||
      (estimation.outlier_max_sigma > 0 && estimation.outlier_max_sigma < estimation.outlier_sigma)) {
    return InvalidArgument("estimation.outlier_max_sigma: must be 0 (no limit) or >= outlier_sigma");
  }
  DOPPEL_RETURN_IF_ERROR(sim_envs.Validate());  // [simenv]
  DOPPEL_RETURN_IF_ERROR(whatif_jobs.Validate());
  return Status::Ok();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  // [simenv] The sandboxes fork twins through this Service.
  impl_->sim_envs = std::make_unique<SimEnvRegistry>(this, impl_->opts.sim_envs, impl_->opts.now_ns,
                                                     impl_->opts.estimation.calibrations);
  impl_->whatif_jobs = std::make_unique<WhatIfJobs>(impl_->opts.whatif_jobs, impl_->opts.now_ns);
}

Engine::~Engine() { Stop(); }

Result<std::unique_ptr<Engine>> Engine::Open(const EngineOptions& options, MetricsRegistry* metrics,
                                             platform::Env* env) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  impl->opts = options;
  impl->metrics = metrics;
  if (!impl->opts.now_ns) {
    impl->opts.now_ns = [] {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
  int shards = options.shards > 0 ? options.shards : std::max(1u, std::thread::hardware_concurrency());

  auto models = model::LoadModelsFromDirectory(options.models_dir);
  if (!models.ok()) return models.status();
  spdlog::info("models: {} interfaces loaded from {}", models->size(), options.models_dir);

  DOPPEL_RETURN_IF_ERROR(env->CreateDir(options.data_dir));
  auto meta = store::MetadataStore::Open(options.data_dir + "/meta.db");
  if (!meta.ok()) return meta.status();
  impl->meta = std::move(meta).value();

  store::SeriesStoreOptions so;
  so.dir = options.data_dir + "/series";
  so.lanes = shards;
  so.fsync = options.fsync;
  so.fsync_interval_ms = options.fsync_interval_ms;
  so.retention = options.retention;
  so.metrics = metrics;
  auto st = store::SeriesStore::Open(env, so);
  if (!st.ok()) return st.status();
  impl->store = std::move(st).value();
  const auto& rec = impl->store->recovery();
  spdlog::info("store: replayed {} readings in {} records from {} segments{}", rec.readings, rec.records,
               rec.segments,
               rec.truncated_bytes ? fmt::format(" (cut a torn tail of {} bytes)", rec.truncated_bytes) : "");

  impl->twins =
      std::make_unique<TwinRegistry>(std::move(models).value(), impl->meta.get(), options.provision);
  DOPPEL_RETURN_IF_ERROR(impl->twins->Restore());
  auto bus_opts =
      CommandBusOptionsFromConfig(options.commands, options.command_timeout_ns, &impl->twins->models());
  if (!bus_opts.ok()) return bus_opts.status();
  impl->commands = std::make_unique<CommandManager>(impl->meta.get(), metrics, std::move(bus_opts).value());
  DOPPEL_RETURN_IF_ERROR(impl->commands->Restore());
  impl->commands->SetFleetSource([raw = impl.get()] { return raw->LatestFleet(); });

  Impl* raw = impl.get();
  if (Status v = analytics::ValidateAlertRules(options.alert_rules); !v.ok()) return v;
  auto alerts = AlertCenter::Open(options.data_dir + "/alerts.db", metrics, [raw](const analytics::Alert& a) {
    raw->Publish({StreamEvent{a.twin, a.signal, a.raised_ns, 0, "alert", analytics::AlertToJson(a).dump()}});
  });
  if (!alerts.ok()) return alerts.status();
  impl->alerts = std::move(alerts).value();
  auto notes = AnnotationStore::Open(options.data_dir + "/annotations.db");
  if (!notes.ok()) return notes.status();
  impl->annotations = std::move(notes).value();
  // Estimates saved before the last stop: each twin's estimator starts from its own.
  std::shared_ptr<const std::map<std::string, SavedEstimate>> saved_estimates;
  if (options.estimation.enabled) {
    const std::string path = options.data_dir + "/" + kEstimatesFile;
    auto est = EstimateStore::Open(path);
    if (!est.ok() && est.status().code() == StatusCode::kCorruption) {
      // A checkpoint of derived state: set the damaged file aside and start the twins from priors.
      const std::string aside = path + ".corrupt-" + std::to_string(options.now_ns() / kNsPerS);
      spdlog::error("estimates: {}; moved to {}, twins start from their priors", est.status().ToString(),
                    aside);
      DOPPEL_RETURN_IF_ERROR(env->RenameFile(path, aside));
      est = EstimateStore::Open(path);
    }
    if (!est.ok()) return est.status();
    impl->estimates = std::move(est).value();
    std::vector<std::string> skipped;
    auto saved = impl->estimates->LoadAll(&skipped);
    if (!saved.ok()) return saved.status();
    for (const std::string& why : skipped) spdlog::warn("estimates: saved estimate not used: {}", why);
    auto by_twin = std::make_shared<std::map<std::string, SavedEstimate>>();
    for (SavedEstimate& e : *saved) by_twin->emplace(e.twin, std::move(e));
    if (!by_twin->empty())
      spdlog::info("estimates: {} twins' saved estimates to start from", by_twin->size());
    saved_estimates = std::move(by_twin);
  }
  // A device that never acked: an alert (warning) per twin and command name, plus the caller's hook.
  impl->commands->SetOnTimeout([raw, hook = options.on_command_timeout](const CommandRecord& c) {
    analytics::AlertTransition t;
    t.kind = analytics::AlertTransition::Kind::kRaised;
    t.rule = "command_timeout";
    t.twin = c.twin;
    t.signal = c.name;
    t.severity = analytics::Severity::kWarning;
    t.t_ns = raw->opts.now_ns();
    t.reason = "command " + c.id + " (" + c.name + ") was not acknowledged by the device in time";
    t.trigger_count = 1;
    raw->alerts->Apply({t});
    if (hook) hook(c);
  });
  for (int i = 0; i < shards; ++i) {
    ShardDeps d{impl->store.get(),
                metrics,
                options.allowed_lateness_ns,
                options.queue_capacity,
                impl->opts.now_ns,
                [raw](const std::vector<StreamEvent>& e) { raw->Publish(e); },
                [raw](const std::string& twin) -> std::string {
                  auto t = raw->twins->Find(twin);
                  return t ? t->iface->id : std::string();
                },
                &raw->station_level,
                options.estimation,
                &raw->subscriber_count,
                impl->alerts.get(),
                options.alert_rules,
                options.anomaly_detection};
    d.wear_rul = options.wear_rul;
    d.saved_estimates = saved_estimates;
    impl->shards.push_back(std::make_unique<Shard>(i, std::move(d)));
  }
  for (const analytics::Alert& a : impl->alerts->Active()) impl->ShardFor(a.twin).RestoreAlert(a);
  {  // maintenance: the enterprise context acts on the running twins (docs/enterprise.md)
    LiveSpecTargets t;
    for (auto& s : impl->shards) t.shards.push_back(s.get());
    t.shard_of = [n = impl->shards.size()](const std::string& twin) {
      return std::hash<std::string>{}(twin) % n;
    };
    t.commands = impl->commands.get();
    t.alerts = impl->alerts.get();
    t.models = &impl->twins->models();
    t.replacements_applied = &metrics->GetCounter(
        "doppel_context_replacements_applied_total",
        "Completed part replacements from work orders handed to twins' estimators (each start hands over "
        "the completed ones again; an estimator ignores one it already has)");
    t.spec_syncs =
        &metrics->GetCounter("doppel_context_spec_syncs_total",
                             "Times the design specs' alert rules and envelope limits were (re)applied live");
    impl->context = std::make_unique<ContextLink>(options.data_dir, std::move(t), options.alert_rules,
                                                  options.context_spec_cursor);
  }
  metrics->GetGauge("doppel_shards", "Engine shards (worker threads)").Set(shards);
  impl->refused_unknown = &metrics->GetCounter(
      "doppel_ingest_refused_batches_total",
      "Ingest batches refused (unknown twin, undeclared signal or far-future source time)");
  impl->future_refused = &metrics->GetCounter(
      "doppel_readings_future_refused_total",
      "Readings refused because their batch had a source time more than max_future_skew ahead of the clock");
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

void Engine::SetCommandSender(CommandSender sender) { impl_->commands->SetSender(std::move(sender)); }

Status Engine::Start() {
  {
    std::lock_guard lk(impl_->hk_mu);
    if (impl_->running) return Status::Ok();
    impl_->running = true;
  }
  for (auto& s : impl_->shards) s->Start();
  // maintenance: completed part replacements already in context.db
  if (auto n = impl_->context->SyncWorkOrders(); !n.ok()) {
    spdlog::error("context: work orders not applied: {}", n.status().ToString());
  }
  impl_->housekeeping = std::thread([this] { impl_->HousekeepingLoop(); });
  return Status::Ok();
}

void Engine::Stop() {
  {
    std::lock_guard lk(impl_->hk_mu);
    if (!impl_->running) return;
    impl_->running = false;
  }
  impl_->hk_cv.notify_all();
  impl_->housekeeping.join();
  for (auto& s : impl_->shards) s->Stop();
  impl_->SaveEstimates();
  (void)impl_->store->SyncAll();
}

Status Engine::Submit(std::vector<Reading> batch) {
  if (batch.empty()) return Status::Ok();
  if (Status s = impl_->Validate(batch); !s.ok()) {
    impl_->refused_unknown->Inc();
    return s;
  }
  // A message is one twin's; split only when a batch spans shards.
  Shard& first = impl_->ShardFor(batch.front().twin);
  bool one_shard = true;
  for (size_t i = 1; i < batch.size() && impl_->shards.size() > 1; ++i) {
    const Reading& r = batch[i];
    if (r.twin != batch.front().twin && &impl_->ShardFor(r.twin) != &first) {
      one_shard = false;
      break;
    }
  }
  if (one_shard) {
    first.Push(std::move(batch), nullptr);
    return Status::Ok();
  }
  std::map<Shard*, std::vector<Reading>> parts;
  for (auto& r : batch) parts[&impl_->ShardFor(r.twin)].push_back(std::move(r));
  for (auto& [shard, part] : parts) shard->Push(std::move(part), nullptr);
  return Status::Ok();
}

Result<IngestSummary> Engine::Ingest(std::vector<Reading> readings) {
  if (readings.empty()) return IngestSummary{};
  if (Status s = impl_->Validate(readings); !s.ok()) {
    impl_->refused_unknown->Inc();
    return s;
  }
  const uint64_t n = readings.size();
  std::map<Shard*, std::vector<Reading>> parts;
  for (auto& r : readings) parts[&impl_->ShardFor(r.twin)].push_back(std::move(r));
  // A caller that waits for the outcome is told at once while a target shard's store appends
  // are failing (they are retried, and the queue behind them waits), instead of holding its
  // thread (an API io thread) until the store recovers. Nothing of the batch was queued.
  for (const auto& [shard, part] : parts) {
    if (shard->store_failing()) {
      return Unavailable(
          "the store is failing to write (appends are being retried); the readings were not accepted, retry "
          "later");
    }
  }
  auto done = std::make_shared<Completion>(static_cast<int>(parts.size()));
  for (auto& [shard, part] : parts) shard->Push(std::move(part), done);
  DOPPEL_RETURN_IF_ERROR(done->Wait());
  return IngestSummary{n, done->late};
}

void Engine::OnCommandAck(const ingest::CommandAck& ack) {
  impl_->commands->OnAck(ack.twin, ack.id, ack.accepted, ack.reason, impl_->opts.now_ns());
  // An accepted setSpeed is the pump's setpoint from now on: the estimator's input.
  if (!ack.accepted || !impl_->opts.estimation.enabled) return;
  auto rec = impl_->commands->Get(ack.twin, ack.id);
  if (!rec.ok() || rec->name != "setSpeed" || !rec->request.is_object()) return;
  auto it = rec->request.find("speed_rpm");
  if (it != rec->request.end() && it->is_number())
    impl_->ShardFor(ack.twin).SetSetpoint(ack.twin, it->get<double>());
}

void Engine::BeginShutdown() {
  for (auto& s : impl_->shards) s->BeginShutdown();
  std::lock_guard lk(impl_->sync_whatif_mu);
  impl_->shutting_down = true;
  for (WhatIfControl* c : impl_->sync_whatifs) c->cancel.store(true);
}

void Engine::Drain() {
  for (auto& s : impl_->shards) s->Drain();
}

nlohmann::json Engine::ListModels() const { return model::ToJson(impl_->twins->models()); }

std::vector<TwinView> Engine::ListTwins(const TwinFilter& filter) const {
  std::vector<TwinView> out;
  if (!filter.related.empty()) {
    auto src = impl_->twins->Find(filter.related);
    if (!src) return out;
    for (const auto& r : src->relationships) {
      if (!filter.rel.empty() && r.name != filter.rel) continue;
      auto t = impl_->twins->Find(r.target);
      if (t && (filter.model.empty() || t->iface->id == filter.model)) out.push_back(impl_->View(*t));
    }
    return out;
  }
  for (const auto& t : impl_->twins->List()) {
    if (!filter.model.empty() && t->iface->id != filter.model) continue;
    out.push_back(impl_->View(*t));
  }
  return out;
}

Result<TwinView> Engine::GetTwin(const std::string& id) const {
  auto t = impl_->twins->Find(id);
  if (!t) return NotFound("twin '" + id + "' not found");
  return impl_->View(*t);
}

Result<TwinView> Engine::CreateTwin(const TwinSpec& spec) {
  auto t = impl_->twins->Create(spec, impl_->opts.now_ns());
  if (!t.ok()) return t.status();
  return impl_->View(**t);
}

Result<std::vector<Point>> Engine::QueryTelemetry(const std::string& twin, const std::string& signal,
                                                  TimeNs from_ns, TimeNs to_ns, size_t max_points) const {
  auto t = impl_->twins->Find(twin);
  if (!t) return NotFound("twin '" + twin + "' not found");
  const bool estimate_series = signal.rfind("est.", 0) == 0 && impl_->opts.estimation.enabled &&
                               BehaviorModel::Find(t->iface->id) != nullptr;
  // A live online fit's parameters (docs/estimation.md "Live online fit").
  const bool fit_series = signal.rfind("fit.", 0) == 0 && impl_->opts.estimation.enabled &&
                          BehaviorModel::Find(t->iface->id) != nullptr &&
                          FindOnlineFit(impl_->opts.estimation.online_fits, twin) != nullptr;
  // Anomaly scores of a declared signal: "anomaly.<signal>" (docs/alerts.md).
  const bool anomaly_series =
      signal.rfind("anomaly.", 0) == 0 && t->iface->FindTelemetry(signal.substr(8)) != nullptr;
  // The twin's fused anomaly score and its multivariate components (docs/analytics.md).
  const bool twin_anomaly_series = signal == "anomaly" || signal == "anomaly.pca" || signal == "anomaly.nis";
  if (!estimate_series && !fit_series && !anomaly_series && !twin_anomaly_series &&
      t->iface->FindTelemetry(signal) == nullptr) {
    return NotFound("twin '" + twin + "' (" + t->iface->id + ") has no telemetry '" + signal + "'");
  }
  auto samples = impl_->store->Query(twin, signal, from_ns, to_ns, max_points);
  if (!samples.ok()) return samples.status();
  std::vector<Point> out;
  out.reserve(samples->size());
  for (const auto& s : *samples) out.push_back(Point{s.ts_ns, s.value});
  return out;
}

Result<CommandRecord> Engine::SubmitCommandAs(const std::string& twin, const std::string& name,
                                              const nlohmann::json& request, const std::string& principal,
                                              CommandSource source) {
  auto t = impl_->twins->Find(twin);
  if (!t) return NotFound("twin '" + twin + "' not found");
  if (t->iface->FindCommand(name) == nullptr) {
    return InvalidArgument("name: model " + t->iface->id + " has no command '" + name + "'");
  }
  DOPPEL_RETURN_IF_ERROR(model::ValidateCommandRequest(*t->iface, name, request));
  return impl_->commands->Create(twin, name, request, principal, source, impl_->opts.now_ns());
}

Result<std::vector<CommandRecord>> Engine::ListCommands(const std::string& twin) const {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return impl_->commands->ListByTwin(twin);
}

Result<CommandRecord> Engine::GetCommand(const std::string& twin, const std::string& id) const {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return impl_->commands->Get(twin, id);
}

Result<TwinEstimate> Engine::GetEstimate(const std::string& twin) const {
  auto snap = impl_->EstimateOf(twin);
  if (!snap.ok()) return snap.status();
  return ToTwinEstimate(**snap);
}

Result<WhatIfResult> Engine::WhatIf(const std::string& twin, const WhatIfRequest& req) const {
  DOPPEL_RETURN_IF_ERROR(ValidateWhatIf(req));  // bad requests are 400 before 404
  auto snap = impl_->EstimateOf(twin);
  if (!snap.ok()) return snap.status();
  WhatIfControl control;
  {
    std::lock_guard lk(impl_->sync_whatif_mu);
    if (impl_->shutting_down) return Unavailable("the engine is shutting down; what-if refused");
    impl_->sync_whatifs.insert(&control);
  }
  Result<WhatIfResult> r = RunWhatIf(**snap, req, &control);
  std::lock_guard lk(impl_->sync_whatif_mu);
  impl_->sync_whatifs.erase(&control);
  return r;
}

Result<WhatIfJobView> Engine::StartWhatIfJob(const std::string& twin, const WhatIfRequest& req,
                                             const std::string& principal) {
  DOPPEL_RETURN_IF_ERROR(ValidateWhatIf(req));  // bad requests are 400 before 404
  auto snap = impl_->EstimateOf(twin);
  if (!snap.ok()) return snap.status();
  // Override names need the twin's model: checked here, so a bad one is a 400, not a failed job.
  DOPPEL_RETURN_IF_ERROR(ValidateWhatIfFor(*(*snap)->model, req));
  return impl_->whatif_jobs->Start(std::move(snap).value(), req, principal);
}

Result<WhatIfJobView> Engine::GetWhatIfJob(const std::string& id) const {
  return impl_->whatif_jobs->Get(id);
}

Result<std::vector<WhatIfJobView>> Engine::ListWhatIfJobs() const { return impl_->whatif_jobs->List(); }

Result<std::optional<WhatIfJobView>> Engine::CancelWhatIfJob(const std::string& id,
                                                             const std::string& principal, bool is_admin) {
  return impl_->whatif_jobs->Cancel(id, principal, is_admin);
}

std::string Engine::RenderMetrics() const { return impl_->metrics->RenderPrometheus(); }

uint64_t Engine::SubscribeStream(StreamCallback cb) {
  std::lock_guard lk(impl_->sub_mu);
  auto next = std::make_shared<std::map<uint64_t, StreamCallback>>(*impl_->subscribers);
  uint64_t id = impl_->next_sub++;
  (*next)[id] = std::move(cb);
  impl_->subscriber_count.store(next->size(), std::memory_order_relaxed);
  impl_->subscribers = std::move(next);
  return id;
}

void Engine::UnsubscribeStream(uint64_t subscription) {
  std::lock_guard lk(impl_->sub_mu);
  auto next = std::make_shared<std::map<uint64_t, StreamCallback>>(*impl_->subscribers);
  next->erase(subscription);
  impl_->subscriber_count.store(next->size(), std::memory_order_relaxed);
  impl_->subscribers = std::move(next);
}

const store::SeriesStore& Engine::store() const { return *impl_->store; }

}  // namespace doppel::engine
