// Engine::Impl: the engine's parts and the helpers its methods share. Private to the engine
// module (engine.cc: lifecycle and ingest; engine_services.cc: the service methods over
// sandboxes, alerts, control plans, enterprise context, health, annotations and approvals).
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include "doppel/analytics/health.h"
#include "doppel/engine/alert_center.h"
#include "doppel/engine/annotations.h"
#include "doppel/engine/behavior.h"
#include "doppel/engine/commands.h"
#include "doppel/engine/context_effects.h"
#include "doppel/engine/engine.h"
#include "doppel/engine/online_fit.h"
#include "doppel/engine/shard.h"
#include "doppel/engine/twin_registry.h"
#include "doppel/model/dtdl.h"
#include "doppel/platform/env.h"
#include "doppel/store/context_time.h"
#include "doppel/store/metadata.h"

namespace doppel::engine {

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
  Counter* future_refused = nullptr;         // readings in batches refused for a far-future source time
  std::unique_ptr<SimEnvRegistry> sim_envs;  // [simenv] made in Engine's constructor (forks via Service)
  // [mpcloop] the live MPC loop's plan source (GetControlPlan).
  mutable std::mutex plan_mu;
  std::function<Result<nlohmann::json>()> plan_source;
  StationLevel station_level;  // the tank level by source time, for the pumps' estimators
  // What-if jobs, made in Engine's constructor. Last member: destroyed (its workers cancelled
  // and joined) before anything a running what-if may use.
  std::unique_ptr<WhatIfJobs> whatif_jobs;
  // Synchronous what-ifs running now (Engine::WhatIf, on API worker threads): BeginShutdown
  // cancels them and refuses new ones, so the API's workers can be joined without waiting out
  // a simulation's time budget.
  std::mutex sync_whatif_mu;
  std::set<WhatIfControl*> sync_whatifs;  // under sync_whatif_mu
  bool shutting_down = false;             // under sync_whatif_mu

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
  // Also refuses source times more than opts.max_future_skew_ns ahead of the clock (read once per
  // batch, only when a limit is set).
  Status Validate(const std::vector<Reading>& batch) {
    const TwinInfo* twin = nullptr;  // registry entries live as long as the registry
    size_t hint = 0;                 // index into twin->iface->all_contents
    TimeNs max_ts = std::numeric_limits<TimeNs>::min();
    for (size_t i = 0; i < batch.size(); ++i) {
      const Reading& r = batch[i];
      max_ts = std::max(max_ts, r.source_ts_ns);
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
    if (opts.max_future_skew_ns > 0) DOPPEL_RETURN_IF_ERROR(CheckFutureSkew(batch, max_ts));
    return Status::Ok();
  }

  // kInvalidArgument naming the first reading of `batch` whose source time is more than
  // max_future_skew_ns ahead of the clock; `max_ts` is the batch's latest source time.
  Status CheckFutureSkew(const std::vector<Reading>& batch, TimeNs max_ts) {
    const TimeNs now = opts.now_ns();
    const TimeNs skew = opts.max_future_skew_ns;
    // now + skew saturated: a clock near the end of int64 must not wrap the limit.
    const TimeNs limit =
        now > std::numeric_limits<TimeNs>::max() - skew ? std::numeric_limits<TimeNs>::max() : now + skew;
    if (max_ts <= limit) return Status::Ok();
    for (size_t i = 0; i < batch.size(); ++i) {
      const Reading& r = batch[i];
      if (r.source_ts_ns <= limit) continue;
      future_refused->Inc(batch.size());
      return InvalidArgument(fmt::format(
          "reading {} (twin '{}', signal '{}'): ts {} is more than {} ahead of the server clock ({}); "
          "check the device's clock (limit: engine.max_future_skew_s)",
          i, r.twin, r.signal, store::FormatContextTime(r.source_ts_ns), FormatSkew(skew),
          store::FormatContextTime(now)));
    }
    return Status::Ok();
  }

  // "30 days", "2 h", "90 s", "250 ms": the largest unit that divides the skew.
  static std::string FormatSkew(TimeNs ns) {
    constexpr TimeNs kDay = 86400 * kNsPerS, kHour = 3600 * kNsPerS;
    if (ns % kDay == 0) return fmt::format("{} day{}", ns / kDay, ns == kDay ? "" : "s");
    if (ns % kHour == 0) return fmt::format("{} h", ns / kHour);
    if (ns % kNsPerS == 0) return fmt::format("{} s", ns / kNsPerS);
    if (ns % kNsPerMs == 0) return fmt::format("{} ms", ns / kNsPerMs);
    return fmt::format("{} ns", ns);
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

  // Records another process wrote to context.db, applied (housekeeping thread).
  void PollContext(std::string* last_error) {
    auto r = context->SyncChanges();
    if (!r.ok()) {
      if (r.status().ToString() != *last_error)
        spdlog::warn("context: records in context.db not applied yet: {}", r.status().ToString());
      *last_error = r.status().ToString();
      return;
    }
    last_error->clear();
    if (r->replacements > 0 || r->specs) {
      spdlog::info("context: applied what another process wrote to context.db: {} replacement(s){}",
                   r->replacements, r->specs ? ", the changed design specs" : "");
    }
  }

  void HousekeepingLoop() {
    std::unique_lock lk(hk_mu);
    TimeNs next_retention = 0;
    auto next_save = std::chrono::steady_clock::now() + kEstimateSaveInterval;
    auto next_context = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.context_poll_ms);
    std::string context_error;  // the last poll's error, logged once until it changes
    while (running) {
      hk_cv.wait_for(lk, std::chrono::milliseconds(200));
      if (!running) break;
      lk.unlock();
      if (std::chrono::steady_clock::now() >= next_save) {
        next_save = std::chrono::steady_clock::now() + kEstimateSaveInterval;
        SaveEstimates();
      }
      if (opts.context_poll_ms > 0 && std::chrono::steady_clock::now() >= next_context) {
        next_context = std::chrono::steady_clock::now() + std::chrono::milliseconds(opts.context_poll_ms);
        PollContext(&context_error);
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

}  // namespace doppel::engine
