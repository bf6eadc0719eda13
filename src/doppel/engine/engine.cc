#include "doppel/engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include "doppel/analytics/health.h"
#include "doppel/engine/alert_center.h"
#include "doppel/engine/annotations.h"
#include "doppel/engine/behavior.h"
#include "doppel/engine/commands.h"
#include "doppel/engine/context_effects.h"
#include "doppel/engine/online_fit.h"
#include "doppel/engine/shard.h"
#include "doppel/engine/twin_registry.h"
#include "doppel/model/dtdl.h"
#include "doppel/platform/env.h"
#include "doppel/store/metadata.h"

namespace doppel::engine {

Status EngineOptions::Validate() const {
  if (data_dir.empty()) return InvalidArgument("data_dir: must not be empty");
  if (models_dir.empty()) return InvalidArgument("models_dir: must not be empty");
  if (shards < 0 || shards > 256) return InvalidArgument("shards: must be in 0..256 (0: one per core)");
  if (queue_capacity < 16) return InvalidArgument("queue_capacity: must be at least 16 readings");
  if (allowed_lateness_ns < 0) return InvalidArgument("allowed_lateness_ns: must not be negative");
  if (command_timeout_ns < 100 * kNsPerMs)
    return InvalidArgument("command_timeout_ns: must be at least 100 ms");
  if (!(estimation.min_update_interval_s >= 0))
    return InvalidArgument("estimation.min_update_interval_s: must not be negative");
  if (!(estimation.series_interval_s >= 0))
    return InvalidArgument("estimation.series_interval_s: must not be negative");
  DOPPEL_RETURN_IF_ERROR(sim_envs.Validate());  // [simenv]
  return Status::Ok();
}

// How often the housekeeping thread saves the twins' estimates (and once more at Stop).
constexpr std::chrono::seconds kEstimateSaveInterval{60};

struct Engine::Impl {
  EngineOptions opts;
  MetricsRegistry* metrics;
  std::unique_ptr<store::SeriesStore> store;
  std::unique_ptr<store::MetadataStore> meta;
  std::unique_ptr<TwinRegistry> twins;
  std::unique_ptr<CommandManager> commands;
  std::unique_ptr<AlertCenter> alerts;
  std::unique_ptr<AnnotationStore> annotations;
  std::unique_ptr<EstimateStore> estimates;  // null when estimation is off
  std::vector<std::unique_ptr<Shard>> shards;
  std::unique_ptr<ContextLink> context;  // maintenance: live enterprise context

  // Stream subscribers: copy-on-write so shards publish without holding the lock.
  std::mutex sub_mu;
  std::shared_ptr<const std::map<uint64_t, StreamCallback>> subscribers =
      std::make_shared<std::map<uint64_t, StreamCallback>>();
  uint64_t next_sub = 1;
  std::atomic<size_t> subscriber_count{0};  // shards skip building events when zero

  std::thread housekeeping;
  std::mutex hk_mu;
  std::condition_variable hk_cv;
  bool running = false;

  Counter* refused_unknown = nullptr;
  std::unique_ptr<SimEnvRegistry> sim_envs;  // [simenv] made in Engine's constructor (forks via Service)
  // [mpcloop] the live MPC loop's plan source (GetControlPlan).
  mutable std::mutex plan_mu;
  std::function<Result<nlohmann::json>()> plan_source;
  std::atomic<double> station_level{std::numeric_limits<double>::quiet_NaN()};

  // The bound behavior and current estimate of a twin, or the reason there is none.
  Result<std::shared_ptr<const EstimateSnapshot>> EstimateOf(const std::string& id) const {
    auto t = twins->Find(id);
    if (!t) return NotFound("twin '" + id + "' not found");
    if (!opts.estimation.enabled) return NotFound("estimation is disabled");
    if (BehaviorModel::Find(t->iface->id) == nullptr) {
      return NotFound("twin '" + id + "' (" + t->iface->id + ") has no behavior model bound; no estimate");
    }
    auto snap = ShardFor(id).Estimate(id);
    if (!snap) return NotFound("twin '" + id + "' has no estimate yet (no telemetry received)");
    return snap;
  }

  // One shard (no hashing needed) or the twin's hash modulo the shard count.
  Shard& ShardFor(const std::string& twin) {
    return shards.size() == 1 ? *shards[0] : *shards[std::hash<std::string>{}(twin) % shards.size()];
  }
  const Shard& ShardFor(const std::string& twin) const {
    return shards.size() == 1 ? *shards[0] : *shards[std::hash<std::string>{}(twin) % shards.size()];
  }

  void Publish(const std::vector<StreamEvent>& events) {
    std::shared_ptr<const std::map<uint64_t, StreamCallback>> subs;
    {
      std::lock_guard lk(sub_mu);
      subs = subscribers;
    }
    for (const auto& [id, cb] : *subs) cb(events);
  }

  // Checks every reading against its twin (provisioning unknown ones) and its model's
  // telemetry. Batches are usually one twin's message, so the lookup is cached; devices send
  // their signals in the model's order, so the content after the last one found is tried first
  // (content names are unique in an interface, so the hint finds what FindTelemetry would).
  Status Validate(const std::vector<Reading>& batch) {
    const TwinInfo* twin = nullptr;  // registry entries live as long as the registry
    size_t hint = 0;                 // index into twin->iface->all_contents
    for (size_t i = 0; i < batch.size(); ++i) {
      const Reading& r = batch[i];
      if (twin == nullptr || !SameKey(twin->id, r.twin)) {
        twin = twins->FindPinned(r.twin);  // the clock is read only to provision a new twin
        if (twin == nullptr) {
          auto t = twins->FindOrProvision(r.twin, opts.now_ns());
          if (!t.ok()) return t.status();
          twin = t->get();
        }
        hint = 0;
      }
      const std::vector<model::Content>& contents = twin->iface->all_contents;
      if (hint < contents.size() && contents[hint].kind == model::ContentKind::kTelemetry &&
          SameKey(contents[hint].name, r.signal)) {
        ++hint;
        continue;
      }
      const model::Content* c = twin->iface->FindTelemetry(r.signal);
      if (c == nullptr) {
        return InvalidArgument(fmt::format("reading {}: twin '{}' ({}) has no telemetry '{}'", i, r.twin,
                                           twin->iface->id, r.signal));
      }
      hint = static_cast<size_t>(c - contents.data()) + 1;
    }
    return Status::Ok();
  }

  TwinView View(const TwinInfo& t) const {
    TwinView v;
    v.id = t.id;
    v.model = t.iface->id;
    v.desired = t.desired;
    v.reported = t.reported;
    v.relationships = t.relationships;
    if (auto latest = ShardFor(t.id).Latest(t.id)) v.latest = *latest;
    const analytics::SeverityCounts c = alerts->ActiveCounts(t.id);
    v.alerts_active = c.info + c.warning + c.critical;
    if (auto h = Health(t.id, v.latest); h.ok()) v.health = h->score;
    return v;
  }

  // Health from the twin's estimate (wear), anomaly scores (latest "anomaly.*") and active
  // alerts; pump KPIs from its latest measurements.
  Result<HealthView> Health(const std::string& twin, const std::map<std::string, SignalValue>& latest) const {
    analytics::HealthInputs in;
    in.alerts = alerts->ActiveCounts(twin);
    if (auto snap = EstimateOf(twin); snap.ok()) {
      TwinEstimate e = ToTwinEstimate(**snap);
      for (const EstimatedValue& p : e.parameters) {
        if (p.name.find("wear") != std::string::npos && p.value >= in.wear) {
          in.wear = std::clamp(p.value, 0.0, 1.0);
          in.wear_std = std::max(0.0, p.std);
        }
      }
    }
    for (const auto& [name, v] : latest) {
      if (name.rfind("anomaly.", 0) == 0) in.anomaly = std::max(in.anomaly, std::clamp(v.value, 0.0, 1.0));
    }
    // The twin's RUL (turbofans: the RUL monitor; pumps: the wear-trend prognosis).
    if (auto it = latest.find("rul_h");
        it != latest.end() && it->second.quality != Quality::kBad && std::isfinite(it->second.value)) {
      in.rul_h = it->second.value;
    }
    auto score = analytics::ComputeHealth(in);
    if (!score.ok()) return score.status();
    HealthView h;
    h.twin = twin;
    h.score = score->score;
    h.band = score->band;
    for (const auto& r : score->reasons) h.reasons.emplace_back(r.text, r.points);
    auto value = [&](const char* name) -> std::optional<double> {
      auto it = latest.find(name);
      if (it == latest.end() || it->second.quality == Quality::kBad) return std::nullopt;
      return it->second.value;
    };
    auto flow = value("flow_m3h"), power = value("power_kw"), pressure = value("discharge_pressure_bar");
    if (flow && power) {
      if (auto e = analytics::SpecificEnergyKwhPerM3(*power, *flow); e.ok())
        h.kpis["specific_energy_kwh_m3"] = *e;
      if (pressure) {
        double head = analytics::HeadFromPressureRiseM(*pressure);
        if (auto w = analytics::WireToWaterEfficiency(*flow, head, *power); w.ok())
          h.kpis["wire_to_water_efficiency"] = *w;
      }
    }
    if (in.rul_h) h.kpis["rul_h"] = *in.rul_h;
    return h;
  }

  // The latest value of every signal of every twin (the safety envelope's interlock inputs).
  engine::FleetValues LatestFleet() const {
    engine::FleetValues out;
    for (const auto& t : twins->List()) {
      if (auto latest = ShardFor(t->id).Latest(t->id)) out[t->id] = *latest;
    }
    return out;
  }

  // Every shard's latest estimates into estimates.db (estimate_store.h).
  void SaveEstimates() {
    if (!estimates) return;
    std::vector<SavedEstimate> out;
    for (const auto& s : shards) {
      for (const auto& snap : s->Estimates()) {
        if (!snap || snap->model == nullptr) continue;
        if (!snap->mean.allFinite() || !snap->covariance.allFinite()) {  // one twin must not block the rest
          spdlog::warn("estimates: the estimate of '{}' is not finite; not saved", snap->twin);
          continue;
        }
        out.push_back(SavedEstimate{snap->twin, snap->model->model_id(), snap->ts_ns,
                                    snap->model->display_names(), snap->mean, snap->covariance});
      }
    }
    if (out.empty()) return;
    if (Status st = estimates->Save(out); !st.ok()) spdlog::error("estimates: not saved: {}", st.ToString());
  }

  void HousekeepingLoop() {
    std::unique_lock lk(hk_mu);
    TimeNs next_retention = 0;
    auto next_save = std::chrono::steady_clock::now() + kEstimateSaveInterval;
    while (running) {
      hk_cv.wait_for(lk, std::chrono::milliseconds(200));
      if (!running) break;
      lk.unlock();
      if (std::chrono::steady_clock::now() >= next_save) {
        next_save = std::chrono::steady_clock::now() + kEstimateSaveInterval;
        SaveEstimates();
      }
      const TimeNs now = opts.now_ns();
      commands->Tick(now);
      if (!opts.retention.empty() && now >= next_retention) {
        next_retention = now + opts.retention_interval_ns;
        if (Status s = store->EnforceRetention(now); !s.ok()) spdlog::error("retention: {}", s.ToString());
      }
      lk.lock();
    }
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  // [simenv] The sandboxes fork twins through this Service.
  impl_->sim_envs = std::make_unique<SimEnvRegistry>(this, impl_->opts.sim_envs, impl_->opts.now_ns);
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
    impl->context = std::make_unique<ContextLink>(options.data_dir, std::move(t), options.alert_rules);
  }
  metrics->GetGauge("doppel_shards", "Engine shards (worker threads)").Set(shards);
  impl->refused_unknown = &metrics->GetCounter("doppel_ingest_refused_batches_total",
                                               "Ingest batches refused (unknown twin or undeclared signal)");
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
  return RunWhatIf(**snap, req);
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

// --- Simulation sandboxes [simenv] (sim_envs.h) ---------------------------------------------

Result<nlohmann::json> Engine::CreateSimEnv(const nlohmann::json& request, const std::string& principal) {
  return impl_->sim_envs->Create(request, principal);
}
Result<nlohmann::json> Engine::ResetSimEnv(const std::string& id, std::optional<uint64_t> seed) {
  return impl_->sim_envs->Reset(id, seed);
}
Result<nlohmann::json> Engine::StepSimEnv(const std::string& id, const nlohmann::json& action) {
  return impl_->sim_envs->Step(id, action);
}
Status Engine::DeleteSimEnv(const std::string& id) { return impl_->sim_envs->Delete(id); }
Result<nlohmann::json> Engine::ListSimEnvs() const { return impl_->sim_envs->List(); }
SimEnvRegistry& Engine::sim_envs() { return *impl_->sim_envs; }
// --- end [simenv] ----------------------------------------------------------------------------

// --- Alerts, health, annotations -------------------------------------------------------------

Result<std::vector<analytics::Alert>> Engine::ListAlerts(const analytics::AlertFilter& filter) const {
  return impl_->alerts->List(filter);
}

Result<analytics::Alert> Engine::AcknowledgeAlert(uint64_t id, const std::string& principal) {
  return impl_->alerts->Acknowledge(id, principal, impl_->opts.now_ns());
}

// --- Live MPC loop [mpcloop] -----------------------------------------------------------------

Status Engine::PostAlert(const analytics::AlertTransition& transition) {
  if (transition.rule.empty() || transition.twin.empty()) {
    return InvalidArgument("alert: rule and twin must not be empty");
  }
  impl_->alerts->Apply({transition});
  return Status::Ok();
}

void Engine::SetControlPlanSource(std::function<Result<nlohmann::json>()> source) {
  std::lock_guard lk(impl_->plan_mu);
  impl_->plan_source = std::move(source);
}

Result<nlohmann::json> Engine::GetControlPlan() const {
  std::function<Result<nlohmann::json>()> source;
  {
    std::lock_guard lk(impl_->plan_mu);
    source = impl_->plan_source;
  }
  if (!source) return Service::GetControlPlan();
  return source();
}
// --- end [mpcloop] ---------------------------------------------------------------------------

// --- Enterprise context [context] ----------------------------------------------------------------
Result<nlohmann::json> Engine::ImportContext(const ContextImportRequest& request, std::string_view body) {
  ContextImportRequest r = request;
  if (!r.twin_exists)
    r.twin_exists = [this](const std::string& id) { return impl_->twins->Find(id) != nullptr; };
  auto out = ImportContextDocument(impl_->opts.data_dir, r, body);
  // maintenance: an applied import acts on the running twins at once.
  if (!out.ok() || !(*out)["applied"].get<bool>() || r.dry_run) return out;
  // The records are stored either way; a failure to apply them live is reported with them.
  nlohmann::json fx;
  Status st;
  if ((*out)["kind"] == "workorders") {
    auto n = impl_->context->SyncWorkOrders();
    if (n.ok()) fx = {{"replacements", *n}};
    st = n.status();
  } else {
    auto e = impl_->context->SyncSpecs();
    if (e.ok()) fx = {{"alert_rules", e->alert_rules.size()}, {"envelope_limits", e->envelope_limits.size()}};
    st = e.status();
  }
  if (!st.ok()) {
    spdlog::error("context: import stored but not applied to the running twins: {}", st.ToString());
    fx = {{"error", st.ToString()}};
  }
  (*out)["effects"] = std::move(fx);
  return out;
}

Result<nlohmann::json> Engine::GetTwinContext(const std::string& twin) const {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return TwinContextJson(impl_->opts.data_dir, twin);
}
// --- end [context] -------------------------------------------------------------------------------

Result<HealthView> Engine::GetHealth(const std::string& twin) const {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  std::map<std::string, SignalValue> latest;
  if (auto l = impl_->ShardFor(twin).Latest(twin)) latest = *l;
  return impl_->Health(twin, latest);
}

Result<std::vector<Annotation>> Engine::ListAnnotations(const std::string& twin, TimeNs from_ns,
                                                        TimeNs to_ns) const {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return impl_->annotations->List(twin, from_ns, to_ns);
}

Result<Annotation> Engine::CreateAnnotation(Annotation a) {
  if (!impl_->twins->Find(a.twin)) return NotFound("twin '" + a.twin + "' not found");
  auto made = impl_->annotations->Create(std::move(a), impl_->opts.now_ns());
  if (made.ok()) {
    impl_->Publish({StreamEvent{made->twin, made->signal, made->created_ns, 0, "annotation",
                                AnnotationToJson(*made).dump()}});
  }
  return made;
}

Status Engine::DeleteAnnotation(const std::string& twin, const std::string& id, const std::string& principal,
                                bool is_admin) {
  auto a = impl_->annotations->Get(twin, id);
  if (!a.ok()) return a.status();
  if (!is_admin && a->author != principal) {
    return Status(StatusCode::kPermissionDenied,
                  "annotation " + id + " is " + a->author + "'s: only its author or an admin may delete it");
  }
  DOPPEL_RETURN_IF_ERROR(impl_->annotations->Delete(twin, id));
  nlohmann::json j = AnnotationToJson(*a);
  j["deleted"] = true;
  impl_->Publish({StreamEvent{twin, a->signal, a->created_ns, 0, "annotation", j.dump()}});
  return Status::Ok();
}

// --- Command bus (docs/commands.md) ---------------------------------------------------------

Result<CommandRecord> Engine::ApproveCommand(const std::string& twin, const std::string& id,
                                             const std::string& principal, const std::string& reason) {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return impl_->commands->Approve(twin, id, principal, reason, impl_->opts.now_ns());
}

Result<CommandRecord> Engine::RejectCommand(const std::string& twin, const std::string& id,
                                            const std::string& principal, const std::string& reason) {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return impl_->commands->Reject(twin, id, principal, reason, impl_->opts.now_ns());
}

Result<ControlModeView> Engine::GetControlMode(const std::string& twin) const {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return impl_->commands->ModeOf(twin);
}

Result<ControlModeView> Engine::SetControlMode(const std::string& twin, ControlMode mode,
                                               const std::string& principal) {
  if (!impl_->twins->Find(twin)) return NotFound("twin '" + twin + "' not found");
  return impl_->commands->SetMode(twin, mode, principal, impl_->opts.now_ns());
}

}  // namespace doppel::engine
