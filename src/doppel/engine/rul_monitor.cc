#include "doppel/engine/rul_monitor.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <limits>

#include "doppel/core/glob.h"

namespace doppel::engine {

namespace {

constexpr size_t kKeepFirst = 30;   // the model's baseline features use the first 30 cycles
constexpr size_t kMaxPartial = 64;  // incomplete cycles held per twin

int ColumnIndex(const std::string& signal) {
  for (size_t i = 0; i < kTurbofanColumns.size(); ++i)
    if (kTurbofanColumns[i] == signal) return static_cast<int>(i);
  if (signal == kTurbofanCycleSignal) return static_cast<int>(kTurbofanColumns.size());
  return -1;
}

}  // namespace

RulMonitor::RulMonitor(analytics::RulModel model, std::optional<RulBand> band, RulMonitorOptions options,
                       ModelOf model_of)
    : model_(std::move(model)),
      band_(std::move(band)),
      options_(std::move(options)),
      model_of_(std::move(model_of)) {}

Result<std::unique_ptr<RulMonitor>> RulMonitor::Create(const RulMonitorOptions& options, ModelOf model_of) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  auto model = analytics::RulModel::Load(options.model_path);
  if (!model.ok()) return model.status();
  std::optional<RulBand> band;
  if (!options.band_path.empty()) {
    auto b = RulBand::Load(options.band_path);
    if (!b.ok()) return b.status();
    band = std::move(*b);
  }
  return std::make_unique<RulMonitor>(std::move(*model), std::move(band), options, std::move(model_of));
}

bool RulMonitor::Monitored(const std::string& twin) {
  auto it = monitored_.find(twin);
  if (it != monitored_.end()) return it->second;
  bool m = GlobMatch(options_.twins, twin) && model_of_ && model_of_(twin) == options_.model_id;
  monitored_.emplace(twin, m);
  return m;
}

size_t RulMonitor::history_size(const std::string& twin) const {
  auto it = engines_.find(twin);
  return it == engines_.end() ? 0 : it->second.history.size();
}

void RulMonitor::Process(const std::vector<Reading>& in, std::vector<Reading>* out) {
  constexpr int kNeed = static_cast<int>(kTurbofanColumns.size()) + 1;
  for (const Reading& r : in) {
    int col = ColumnIndex(r.signal);
    if (col < 0 || !std::isfinite(r.value) || !Monitored(r.twin)) continue;
    EngineState& st = engines_[r.twin];
    auto [it, fresh] = st.partial.try_emplace(r.source_ts_ns);
    Partial& p = it->second;
    if (fresh) {
      p.columns.fill(std::numeric_limits<double>::quiet_NaN());
      p.cycle = std::numeric_limits<double>::quiet_NaN();
    }
    double& slot = col == kNeed - 1 ? p.cycle : p.columns[static_cast<size_t>(col)];
    if (std::isnan(slot)) ++p.have;
    slot = r.value;
    if (p.have == kNeed) {
      const TimeNs ts = it->first;
      const Partial done = p;
      // Older partial cycles will never complete in order: drop them with this one.
      auto end = std::next(it);
      for (auto d = st.partial.begin(); d != end; ++d)
        if (d != it) ++summary_.incomplete_dropped;
      st.partial.erase(st.partial.begin(), end);
      Complete(r.twin, st, ts, done, out);
    } else if (st.partial.size() > kMaxPartial) {
      st.partial.erase(st.partial.begin());
      ++summary_.incomplete_dropped;
    }
  }
}

void RulMonitor::Complete(const std::string& twin, EngineState& st, TimeNs ts, const Partial& p,
                          std::vector<Reading>* out) {
  ++summary_.cycles;
  const int cycle = static_cast<int>(std::lround(p.cycle));
  // A cycle number that does not increase starts a new life (the engine was replaced, or a
  // replay started over).
  if (!st.history.empty() && cycle <= st.history.back().cycle) {
    st.history.clear();
    ++summary_.restarts;
  }
  analytics::EngineCycle c;
  c.unit = 1;
  c.cycle = cycle;
  c.columns.assign(p.columns.begin(), p.columns.end());
  st.history.push_back(std::move(c));
  if (st.history.size() > options_.max_history)
    st.history.erase(st.history.begin() + static_cast<long>(kKeepFirst));
  auto pred = model_.PredictLast(st.history);
  if (!pred.ok() || pred->size() != 1) {
    if (summary_.errors++ < 10)
      spdlog::warn("rul monitor: {} cycle {}: {}", twin, cycle,
                   pred.ok() ? std::string("no prediction") : pred.status().ToString());
    return;
  }
  const double rul = (*pred)[0];
  ++summary_.predictions;
  out->push_back(Reading{twin, "rul_cycles", ts, rul, Quality::kGood});
  if (band_) {
    double p5 = rul, p95 = rul;
    band_->Apply(rul, &p5, &p95);
    out->push_back(Reading{twin, "rul_p5_cycles", ts, p5, Quality::kGood});
    out->push_back(Reading{twin, "rul_p95_cycles", ts, p95, Quality::kGood});
  }
  if (options_.hours_per_cycle > 0)
    out->push_back(Reading{twin, "rul_h", ts, rul * options_.hours_per_cycle, Quality::kGood});
}

// --- Runner -------------------------------------------------------------------------------

RulMonitorRunner::RulMonitorRunner(std::unique_ptr<RulMonitor> monitor, Service* service,
                                   ingest::ReadingSink* sink)
    : monitor_(std::move(monitor)), service_(service), sink_(sink) {}

Result<std::unique_ptr<RulMonitorRunner>> RulMonitorRunner::Start(const RulMonitorOptions& options,
                                                                  Service* service,
                                                                  ingest::ReadingSink* sink) {
  auto monitor = RulMonitor::Create(options, [service](const std::string& twin) -> std::string {
    auto t = service->GetTwin(twin);
    return t.ok() ? t->model : std::string();
  });
  if (!monitor.ok()) return monitor.status();
  std::unique_ptr<RulMonitorRunner> r(new RulMonitorRunner(std::move(*monitor), service, sink));
  std::shared_ptr<Inbox> inbox = r->inbox_;
  r->subscription_ = service->SubscribeStream([inbox](const std::vector<StreamEvent>& events) {
    std::lock_guard lk(inbox->mu);
    for (const StreamEvent& e : events) {
      if (!e.kind.empty()) continue;
      if (inbox->queue.size() >= kMaxQueued) {
        ++inbox->dropped;
        continue;
      }
      inbox->queue.push_back(Reading{e.twin, e.signal, e.ts_ns, e.value, Quality::kGood});
    }
    inbox->cv.notify_one();
  });
  RulMonitorRunner* raw = r.get();
  r->thread_ = std::thread([raw] { raw->Run(); });
  spdlog::info("rul monitor: model {} on twins {} ({})", options.model_path, options.twins,
               options.band_path.empty() ? "no band" : "band " + options.band_path);
  return r;
}

RulMonitorRunner::~RulMonitorRunner() { Stop(); }

void RulMonitorRunner::Stop() {
  if (subscription_ != 0) {
    service_->UnsubscribeStream(subscription_);
    subscription_ = 0;
  }
  {
    std::lock_guard lk(inbox_->mu);
    inbox_->stopping = true;
  }
  inbox_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t RulMonitorRunner::dropped() const {
  std::lock_guard lk(inbox_->mu);
  return inbox_->dropped;
}

void RulMonitorRunner::Run() {
  std::vector<Reading> batch, out;
  for (;;) {
    {
      std::unique_lock lk(inbox_->mu);
      inbox_->cv.wait(lk, [this] { return inbox_->stopping || !inbox_->queue.empty(); });
      if (inbox_->stopping) return;
      batch.swap(inbox_->queue);
    }
    out.clear();
    monitor_->Process(batch, &out);
    batch.clear();
    if (out.empty()) continue;
    Status s = sink_->Submit(std::move(out));
    out = {};
    if (!s.ok()) spdlog::warn("rul monitor: writing RUL readings: {}", s.ToString());
  }
}

}  // namespace doppel::engine
