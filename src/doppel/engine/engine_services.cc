// Engine's service methods over its parts (the lifecycle and ingest are in engine.cc).
#include <spdlog/spdlog.h>

#include "doppel/engine/engine_impl.h"

namespace doppel::engine {

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
