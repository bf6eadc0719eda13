// An in-memory engine::Service for the api tests.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/engine/service.h"
#include "doppel/engine/whatif_jobs.h"
#include "engine/pump_snapshot.h"

namespace doppel::api::testing {

class FakeService : public engine::Service {
 public:
  FakeService() {
    engine::TwinView p1;
    p1.id = "pump-1";
    p1.model = "dtmi:doppel:demo:Pump;1";
    p1.desired = {{"speed_rpm", 1450}};
    p1.latest["flow_m3h"] = {1000, 101.5, Quality::kGood};
    twins_[p1.id] = p1;
    engine::TwinView p2 = p1;
    p2.id = "pump-2";
    p2.latest.clear();
    twins_[p2.id] = p2;
    engine::TwinView site;
    site.id = "site-1";
    site.model = "dtmi:doppel:demo:Site;1";
    site.relationships = {{"contains", "pump-1"}, {"contains", "pump-2"}};
    twins_[site.id] = site;
  }

  nlohmann::json ListModels() const override {
    return nlohmann::json::array({{{"@id", "dtmi:doppel:demo:Pump;1"}, {"@type", "Interface"}}});
  }

  std::vector<engine::TwinView> ListTwins(const engine::TwinFilter& f) const override {
    std::lock_guard lk(mu_);
    last_filter = f;
    std::vector<engine::TwinView> out;
    for (const auto& [id, t] : twins_) {
      if (!f.model.empty() && t.model != f.model) continue;
      if (!f.related.empty()) {
        auto it = twins_.find(f.related);
        if (it == twins_.end()) continue;
        bool hit = false;
        for (const auto& r : it->second.relationships) {
          if (r.target == id && (f.rel.empty() || r.name == f.rel)) hit = true;
        }
        if (!hit) continue;
      }
      out.push_back(t);
    }
    return out;
  }

  Result<engine::TwinView> GetTwin(const std::string& id) const override {
    std::lock_guard lk(mu_);
    auto it = twins_.find(id);
    if (it == twins_.end()) return NotFound("twin '" + id + "' not found");
    return it->second;
  }

  Result<engine::TwinView> CreateTwin(const engine::TwinSpec& spec) override {
    std::lock_guard lk(mu_);
    if (twins_.count(spec.id)) return AlreadyExists("twin '" + spec.id + "' already exists");
    if (spec.model.rfind("dtmi:", 0) != 0)
      return InvalidArgument("model: unknown model '" + spec.model + "'");
    engine::TwinView t;
    t.id = spec.id;
    t.model = spec.model;
    t.desired = spec.desired;
    t.relationships = spec.relationships;
    twins_[t.id] = t;
    return t;
  }

  Result<std::vector<engine::Point>> QueryTelemetry(const std::string& twin, const std::string& signal,
                                                    TimeNs from_ns, TimeNs to_ns,
                                                    size_t max_points) const override {
    std::lock_guard lk(mu_);
    if (!twins_.count(twin)) return NotFound("twin '" + twin + "' not found");
    last_query = {twin, signal, from_ns, to_ns, max_points};
    return std::vector<engine::Point>{{from_ns, 1.5}, {to_ns, 2.5}};
  }

  Result<engine::CommandRecord> SubmitCommandAs(const std::string& twin, const std::string& name,
                                                const nlohmann::json& request, const std::string& principal,
                                                engine::CommandSource source) override {
    std::lock_guard lk(mu_);
    if (!twins_.count(twin)) return NotFound("twin '" + twin + "' not found");
    if (name != "setSpeed") return InvalidArgument("name: unknown command '" + name + "'");
    engine::CommandRecord c;
    c.id = "c-" + std::to_string(commands_.size() + 1);
    c.twin = twin;
    c.name = name;
    c.request = request;
    c.issued_by = principal;
    c.source = source;
    c.created_ns = c.updated_ns = 42;
    c.history.push_back({engine::CommandStatus::kProposed, 42, principal, ""});
    // Like the engine: a request above 3000 is refused; operator commands go out; others wait.
    if (request.is_object() && request.value("speed_rpm", 0.0) > 3000) {
      c.status = engine::CommandStatus::kRefused;
      c.reason = "speed_rpm above max 3000";
    } else if (source == engine::CommandSource::kOperator) {
      c.status = engine::CommandStatus::kSent;
    }
    c.history.push_back({c.status, 42, "fake", c.reason});
    commands_.push_back(c);
    return c;
  }

  Result<engine::CommandRecord> ApproveCommand(const std::string& twin, const std::string& id,
                                               const std::string& principal,
                                               const std::string& reason) override {
    return Decide(twin, id, principal, reason, engine::CommandStatus::kSent);
  }
  Result<engine::CommandRecord> RejectCommand(const std::string& twin, const std::string& id,
                                              const std::string& principal,
                                              const std::string& reason) override {
    return Decide(twin, id, principal, reason, engine::CommandStatus::kRejected);
  }
  Result<engine::ControlModeView> GetControlMode(const std::string& twin) const override {
    std::lock_guard lk(mu_);
    if (!twins_.count(twin)) return NotFound("twin '" + twin + "' not found");
    auto it = modes_.find(twin);
    if (it != modes_.end()) return it->second;
    return engine::ControlModeView{twin, engine::ControlMode::kAuto, false, "", 0};
  }
  Result<engine::ControlModeView> SetControlMode(const std::string& twin, engine::ControlMode mode,
                                                 const std::string& principal) override {
    std::lock_guard lk(mu_);
    if (!twins_.count(twin)) return NotFound("twin '" + twin + "' not found");
    return modes_[twin] = engine::ControlModeView{twin, mode, true, principal, 43};
  }

  Result<std::vector<engine::CommandRecord>> ListCommands(const std::string& twin) const override {
    std::lock_guard lk(mu_);
    if (!twins_.count(twin)) return NotFound("twin '" + twin + "' not found");
    std::vector<engine::CommandRecord> out;
    for (const auto& c : commands_) {
      if (c.twin == twin) out.push_back(c);
    }
    return out;
  }

  Result<engine::CommandRecord> GetCommand(const std::string& twin, const std::string& id) const override {
    std::lock_guard lk(mu_);
    for (const auto& c : commands_) {
      if (c.twin == twin && c.id == id) return c;
    }
    return NotFound("command '" + id + "' of twin '" + twin + "' not found");
  }

  Result<engine::IngestSummary> Ingest(std::vector<Reading> readings) override {
    std::lock_guard lk(mu_);
    if (!ingest_status.ok()) return ingest_status;
    engine::IngestSummary s;
    for (const auto& r : readings) {
      ingested.push_back(r);
      ++s.accepted;
      if (r.source_ts_ns < 1000) ++s.late;
    }
    return s;
  }

  // Estimation: pump-1 has an estimate; pump-2 has none yet; others are unbound.
  Result<engine::TwinEstimate> GetEstimate(const std::string& twin) const override {
    std::lock_guard lk(mu_);
    if (twins_.find(twin) == twins_.end()) return NotFound("twin '" + twin + "' not found");
    if (twin != "pump-1") return NotFound("twin '" + twin + "' has no estimate yet");
    engine::TwinEstimate e;
    e.twin = twin;
    e.model = "dtmi:doppel:demo:Pump;1";
    e.estimator = "ekf";
    e.ts_ns = 5000;
    e.states = {{"speed_rpm", 1300, 2, "rpm"}};
    e.parameters = {{"impeller_wear", 0.1, 0.02, "1"}, {"bearing_wear", 0.2, 0.03, "1"}};
    e.updates = 7;
    e.mean_nis_per_dof = 1.1;
    e.ewma_channel_nis = {{"flow_m3h", 0.9}};
    e.fit = engine::OnlineFitView{{{"shutoff_head_m", 46.8, 0.01, "m"}}, 0.999, 12, 1, 4000};
    e.calibrated = {{"curve_k", 6.9e-4}};
    return e;
  }
  Result<engine::WhatIfResult> WhatIf(const std::string& twin,
                                      const engine::WhatIfRequest& req) const override {
    if (whatif_hook) whatif_hook();  // outside the lock: a test may block here
    std::lock_guard lk(mu_);
    last_whatif = req;
    if (twins_.find(twin) == twins_.end()) return NotFound("twin '" + twin + "' not found");
    if (req.horizon_s > 1e6) return Status(StatusCode::kDeadlineExceeded, "what-if exceeded its time budget");
    engine::WhatIfResult r;
    r.twin = twin;
    r.named_scenarios = !req.scenarios.empty();
    r.samples = req.samples;
    r.t = {0, req.step_s};
    std::vector<std::string> names =
        req.scenarios.empty() ? std::vector<std::string>{"base"} : std::vector<std::string>{};
    for (const auto& sc : req.scenarios) names.push_back(sc.name);
    for (const auto& n : names) r.scenarios.push_back({n, {{"flow_m3h", {{1, 2}, {2, 3}, {3, 4}}}}});
    return r;
  }

  // What-if jobs: the engine's real job registry over a pump snapshot (pump twins only).
  Result<engine::WhatIfJobView> StartWhatIfJob(const std::string& twin, const engine::WhatIfRequest& req,
                                               const std::string& principal) override {
    DOPPEL_RETURN_IF_ERROR(engine::ValidateWhatIf(req));
    {
      std::lock_guard lk(mu_);
      if (twins_.find(twin) == twins_.end()) return NotFound("twin '" + twin + "' not found");
    }
    return jobs.Start(doppel::testing::PumpSnapshot(twin), req, principal);
  }
  Result<engine::WhatIfJobView> GetWhatIfJob(const std::string& id) const override { return jobs.Get(id); }
  Result<std::vector<engine::WhatIfJobView>> ListWhatIfJobs() const override { return jobs.List(); }
  Result<std::optional<engine::WhatIfJobView>> CancelWhatIfJob(const std::string& id,
                                                               const std::string& principal,
                                                               bool is_admin) override {
    return jobs.Cancel(id, principal, is_admin);
  }

  std::string RenderMetrics() const override { return "# TYPE doppel_fake counter\ndoppel_fake 1\n"; }

  uint64_t SubscribeStream(StreamCallback cb) override {
    std::lock_guard lk(mu_);
    uint64_t id = ++next_sub_;
    subs_[id] = std::move(cb);
    return id;
  }
  void UnsubscribeStream(uint64_t subscription) override {
    std::lock_guard lk(mu_);
    subs_.erase(subscription);
  }

  // Test helpers.
  void Push(const std::vector<engine::StreamEvent>& events) {
    std::map<uint64_t, StreamCallback> subs;
    {
      std::lock_guard lk(mu_);
      subs = subs_;
    }
    for (auto& [id, cb] : subs) cb(events);
  }
  // Copies of the callbacks, as an engine thread holds them while it publishes.
  std::map<uint64_t, StreamCallback> SubscriberCopies() const {
    std::lock_guard lk(mu_);
    return subs_;
  }
  size_t subscribers() const {
    std::lock_guard lk(mu_);
    return subs_.size();
  }

  struct Query {
    std::string twin, signal;
    TimeNs from = 0, to = 0;
    size_t points = 0;
  };
  mutable engine::TwinFilter last_filter;
  mutable Query last_query;
  mutable engine::WhatIfRequest last_whatif;
  std::function<void()> whatif_hook;  // called first by WhatIf (set before requests arrive)
  engine::WhatIfJobs jobs{{.workers = 1, .max_queued = 2}, [] { return TimeNs{1'000}; }};
  std::vector<Reading> ingested;
  Status ingest_status;

 private:
  Result<engine::CommandRecord> Decide(const std::string& twin, const std::string& id,
                                       const std::string& principal, const std::string& reason,
                                       engine::CommandStatus to) {
    std::lock_guard lk(mu_);
    for (auto& c : commands_) {
      if (c.twin != twin || c.id != id) continue;
      if (c.status != engine::CommandStatus::kProposed)
        return FailedPrecondition("command '" + id + "' is not proposed");
      c.status = to;
      c.history.push_back({to, 44, principal, reason});
      return c;
    }
    return NotFound("command '" + id + "' of twin '" + twin + "' not found");
  }

  mutable std::mutex mu_;
  std::map<std::string, engine::TwinView> twins_;
  std::vector<engine::CommandRecord> commands_;
  std::map<std::string, engine::ControlModeView> modes_;
  std::map<uint64_t, StreamCallback> subs_;
  uint64_t next_sub_ = 0;
};

}  // namespace doppel::api::testing
