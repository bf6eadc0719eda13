// Service: what the API (and any other front end) may ask of the running engine.
//
// The HTTP/WebSocket layer is a set of plain functions over this interface; the engine
// implements it, and api tests use a fake. All methods are thread-safe and never block on a
// shard for long: reads come from immutable snapshots and the store's concurrent readers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/analytics/alert_engine.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/engine/annotations.h"
#include "doppel/engine/context_service.h"

namespace doppel::engine {

struct SignalValue {
  TimeNs ts_ns = 0;
  double value = 0;
  Quality quality = Quality::kGood;
};

struct RelationshipRef {
  std::string name;    // DTDL relationship name, e.g. "contains"
  std::string target;  // target twin id
};

// A twin as readers see it: identity, properties and the latest value of every signal.
struct TwinView {
  std::string id;
  std::string model;                                   // DTMI, e.g. "dtmi:doppel:demo:Pump;1"
  nlohmann::json desired = nlohmann::json::object();   // properties the platform wants
  nlohmann::json reported = nlohmann::json::object();  // properties the device reported
  std::vector<RelationshipRef> relationships;
  std::map<std::string, SignalValue> latest;  // by signal name
  std::optional<double> health;               // 0..100 (twins with an estimate or alerts)
  int alerts_active = 0;
};

// Both fields empty: every twin. `model`: exact DTMI. `related`: twins that `related` points at
// through relationship `rel` (any relationship when rel is empty).
struct TwinFilter {
  std::string model;
  std::string related;
  std::string rel;
};

struct TwinSpec {
  std::string id;
  std::string model;
  nlohmann::json desired = nlohmann::json::object();
  std::vector<RelationshipRef> relationships;
};

struct Point {
  TimeNs ts_ns = 0;
  double value = 0;
};

// The command bus (docs/commands.md):
//   proposed -> approved -> sent -> acked | rejected | timed_out
//   proposed | approved (not yet sent) -> superseded (a newer command of the same name for the
//                                         same twin) | rejected (by an operator)
//   proposed -> refused (the safety envelope; also at approval)
enum class CommandStatus {
  kProposed,    // waiting for approval (approve mode) or an advice only (advisory mode)
  kApproved,    // cleared to go; the transport has not taken it yet (or a send failed)
  kSent,        // handed to the transport; waiting for the device's ack
  kAcked,       // the device applied it
  kRejected,    // the device refused it, or an operator rejected the proposal
  kRefused,     // the safety envelope refused it; never sent
  kTimedOut,    // no ack within the timeout after approval (raises an alert)
  kSuperseded,  // replaced by a newer command before it was sent
};
const char* CommandStatusName(CommandStatus s);  // "proposed", "approved", ...
// Also accepts "pending" (schema 1 rows: approved, not yet acked) as kApproved.
bool ParseCommandStatus(const std::string& s, CommandStatus* out);
bool IsFinal(CommandStatus s);  // acked, rejected, refused, timed_out, superseded

// Who issued a command. Operators act directly; api and mpc commands need an operator's
// approval in approve mode and stay proposals in advisory mode.
enum class CommandSource { kOperator, kApi, kMpc };
const char* CommandSourceName(CommandSource s);  // "operator", "api", "mpc"
bool ParseCommandSource(const std::string& s, CommandSource* out);

// Per-twin control mode.
enum class ControlMode {
  kAdvisory,  // api/mpc commands stay proposals (superseded by newer ones); operators act directly
  kApprove,   // api/mpc commands wait for an operator's approval
  kAuto,      // every command goes out once it passes the safety envelope
};
const char* ControlModeName(ControlMode m);  // "advisory", "approve", "auto"
bool ParseControlMode(const std::string& s, ControlMode* out);

// One audit entry: a transition, who made it, when and why.
struct CommandEvent {
  CommandStatus status = CommandStatus::kProposed;
  TimeNs at_ns = 0;
  std::string by;      // principal or component ("api:operator", "mpc", "envelope", "transport",
                       // "device:pump-1", "timeout")
  std::string reason;  // why (empty when there is nothing to say)
};

struct CommandRecord {
  std::string id;  // unique, e.g. "c-000017-5f3a"; the device dedups by it
  std::string twin;
  std::string name;        // DTDL command name, e.g. "setSpeed"
  nlohmann::json request;  // as sent (after clamping by the envelope)
  CommandStatus status = CommandStatus::kProposed;
  CommandSource source = CommandSource::kOperator;
  std::string reason;  // the latest non-empty why
  std::string issued_by;
  TimeNs created_ns = 0;
  TimeNs updated_ns = 0;
  std::vector<CommandEvent> history;  // the audit log, oldest first
};

struct ControlModeView {
  std::string twin;
  ControlMode mode = ControlMode::kAuto;
  bool overridden = false;  // set through the API (persisted) rather than from the config
  std::string set_by;       // who set the override ("" for the config default)
  TimeNs set_ns = 0;
};

struct IngestSummary {
  uint64_t accepted = 0;
  uint64_t late = 0;  // accepted and stored, but behind the twin's watermark
};

// One live update pushed to stream subscribers.
// A live update. `kind` empty: a telemetry reading (twin, signal, ts_ns, value). Otherwise an
// event of that kind ("alert", "annotation") for `twin`, its JSON document in `payload`.
struct StreamEvent {
  std::string twin;
  std::string signal;
  TimeNs ts_ns = 0;
  double value = 0;
  std::string kind = {};
  std::string payload = {};
};

// --- Health (docs/alerts.md) ---------------------------------------------------------------

struct HealthView {
  std::string twin;
  double score = 100;                                   // 0..100
  std::string band;                                     // good | fair | poor
  std::vector<std::pair<std::string, double>> reasons;  // what, penalty (largest first)
  std::map<std::string, double> kpis;                   // e.g. hydraulic_efficiency
};

// --- Estimation (docs/estimation.md) -------------------------------------------------------

// One estimated quantity: mean, standard deviation, unit.
struct EstimatedValue {
  std::string name;  // "speed_rpm", "impeller_wear", ...
  double value = 0;
  double std = 0;
  std::string unit;
};

// A twin's live online fit (the serve config's `online_fit:`; engine/online_fit.h).
struct OnlineFitView {
  std::vector<EstimatedValue> parameters;  // short names, fitted value, std, unit
  double forgetting = 1;
  int64_t samples = 0;  // samples that stepped the fit
  int64_t skipped = 0;  // samples the fit refused (non-finite model output, P not positive definite)
  TimeNs ts_ns = 0;     // source time of the last sample that stepped it
};

// A bound twin's current estimate (GET /api/v1/twins/{id}/state).
struct TwinEstimate {
  std::string twin;
  std::string model;
  std::string estimator;  // "ekf"
  TimeNs ts_ns = 0;       // source time of the last estimator step
  std::vector<EstimatedValue> states;
  std::vector<EstimatedValue> parameters;
  // The model inputs held for the last step (NaN setpoint = local control).
  std::vector<std::pair<std::string, double>> inputs;
  // Innovation statistics (NIS = normalized innovation squared; ≈ 1 per dof when consistent).
  int64_t updates = 0;
  double last_nis = 0;
  int last_dof = 0;
  double mean_nis_per_dof = 0;
  double ewma_nis_per_dof = 0;
  std::vector<std::pair<std::string, double>> ewma_channel_nis;  // per sensor
  std::vector<std::pair<std::string, int64_t>> outliers;         // per sensor: readings left out
  int64_t predict_only = 0;
  int64_t rejected = 0;
  int64_t divergences = 0;
  std::optional<OnlineFitView> fit;  // when an `online_fit:` entry matches the twin
  // The twin's fixed model parameters that differ from its behavior model's nominal values (a
  // `calibration:` entry; short names), in model order. Empty for a nominal twin.
  std::vector<std::pair<std::string, double>> calibrated;
};

// Values held for a what-if: inputs by model or DTDL name ("speed_rpm" = the setpoint),
// parameters by name ("impeller_wear" or "pump.impeller_wear").
struct WhatIfOverrides {
  std::map<std::string, double> inputs;
  std::map<std::string, double> params;
};

struct WhatIfScenario {
  std::string name;
  WhatIfOverrides overrides;  // applied on top of the request's overrides
};

// Limits of a what-if (checked by the engine; a violation is kInvalidArgument naming the field).
constexpr double kWhatIfMaxHorizonS = 7 * 86400.0;
constexpr int kWhatIfMaxSamples = 1000;
constexpr double kWhatIfMinStepS = 0.01;
constexpr double kWhatIfMaxWork = 2e7;        // samples × scenarios × RK4 steps
constexpr int kWhatIfMaxPoints = 1000;        // time-grid points returned (thinned beyond)
constexpr double kWhatIfDefaultBudgetS = 10;  // wall-clock budget

struct WhatIfRequest {
  double horizon_s = 0;  // > 0, ≤ 7 days
  double step_s = 1;     // output grid and RK4 step (substeps ≤ 1 s), ≥ 0.01
  int samples = 50;      // 1..1000 draws from the estimate's covariance
  uint64_t seed = 1;
  WhatIfOverrides overrides;
  std::vector<WhatIfScenario> scenarios;    // empty: one scenario "base"
  double budget_s = kWhatIfDefaultBudgetS;  // wall time; exceeded -> kDeadlineExceeded
};

struct WhatIfBands {
  std::vector<double> p5, p50, p95;
};

struct WhatIfResult {
  std::string twin;
  TimeNs from_ts_ns = 0;  // the estimate's time (t = 0 of the grid)
  std::vector<double> t;  // s after from_ts_ns
  struct Scenario {
    std::string name;
    std::vector<std::pair<std::string, WhatIfBands>> outputs;  // by output (DTDL telemetry) name
  };
  // The request's scenarios in order; without any, one scenario "base" (the request's overrides).
  std::vector<Scenario> scenarios;
  bool named_scenarios = false;  // the request listed scenarios (even one called "base")
  int samples = 0;
  double wall_s = 0;
};

// What-if jobs: a what-if run in the background, with progress, that can be cancelled
// (whatif_jobs.h; docs/api.md "What-if jobs").
enum class WhatIfJobState { kQueued, kRunning, kDone, kFailed, kCancelled };
const char* WhatIfJobStateName(WhatIfJobState state);  // "queued", "running", "done", ...

struct WhatIfJobView {
  std::string id;  // "w-000001-5f3a09c2"
  std::string twin;
  std::string owner;  // the principal that started it
  WhatIfJobState state = WhatIfJobState::kQueued;
  double progress = 0;            // fraction of the RK4 steps done, 0..1
  bool cancel_requested = false;  // a cancel was asked for (a running job stops within 8 samples)
  TimeNs created_ns = 0, started_ns = 0, finished_ns = 0;  // 0 until then
  Status error;                                            // kFailed: why (kDeadlineExceeded over the budget)
  std::optional<WhatIfResult> result;                      // kDone (not filled by ListWhatIfJobs)
  bool finished() const { return state >= WhatIfJobState::kDone; }
};

class Service {
 public:
  virtual ~Service() = default;

  // Every loaded DTDL interface as its JSON document (as parsed, with defaults made explicit).
  virtual nlohmann::json ListModels() const = 0;

  virtual std::vector<TwinView> ListTwins(const TwinFilter& filter) const = 0;
  virtual Result<TwinView> GetTwin(const std::string& id) const = 0;
  // kAlreadyExists for a duplicate id; kInvalidArgument for an unknown model or bad property.
  virtual Result<TwinView> CreateTwin(const TwinSpec& spec) = 0;

  // History of one signal in [from_ns, to_ns], downsampled to at most `max_points` points
  // (shape-preserving: min and max of each bucket are kept). kNotFound for an unknown twin.
  virtual Result<std::vector<Point>> QueryTelemetry(const std::string& twin, const std::string& signal,
                                                    TimeNs from_ns, TimeNs to_ns,
                                                    size_t max_points) const = 0;

  // Validates `request` against the twin model's command schema (kInvalidArgument naming the
  // field, kNotFound for an unknown twin) and puts it on the command bus (docs/commands.md):
  // the safety envelope may clamp or refuse it; the twin's control mode and the source decide
  // whether it waits for an operator (proposed) or goes out (approved -> sent). Returns the
  // record whatever the outcome (status kRefused with the reason when the envelope refused it).
  virtual Result<CommandRecord> SubmitCommandAs(const std::string& twin, const std::string& name,
                                                const nlohmann::json& request, const std::string& principal,
                                                CommandSource source) = 0;
  // An operator's command.
  Result<CommandRecord> SubmitCommand(const std::string& twin, const std::string& name,
                                      const nlohmann::json& request, const std::string& principal) {
    return SubmitCommandAs(twin, name, request, principal, CommandSource::kOperator);
  }
  virtual Result<std::vector<CommandRecord>> ListCommands(const std::string& twin) const = 0;
  virtual Result<CommandRecord> GetCommand(const std::string& twin, const std::string& id) const = 0;
  // An operator's decision on a proposal. Approve re-checks the envelope against the latest values
  // (the result may be kRefused) and sends. kNotFound; kFailedPrecondition when the command is
  // not proposed (Reject: not proposed or approved-unsent) or, for Approve, the twin is in
  // advisory mode.
  // Defaults (for test fakes) answer kFailedPrecondition.
  virtual Result<CommandRecord> ApproveCommand(const std::string& twin, const std::string& id,
                                               const std::string& principal, const std::string& reason);
  virtual Result<CommandRecord> RejectCommand(const std::string& twin, const std::string& id,
                                              const std::string& principal, const std::string& reason);
  // The twin's control mode (config default unless set here; SetControlMode persists). kNotFound.
  virtual Result<ControlModeView> GetControlMode(const std::string& twin) const;
  virtual Result<ControlModeView> SetControlMode(const std::string& twin, ControlMode mode,
                                                 const std::string& principal);

  // Accepts a batch of readings (HTTP ingest). Returns once they are durable in the store
  // (written to the log), so a 200 answer means accepted. Unknown twins are auto-provisioned
  // when a provisioning rule matches, else kInvalidArgument naming the twin.
  virtual Result<IngestSummary> Ingest(std::vector<Reading> readings) = 0;

  // The twin's estimated states and parameters (bound twins only). kNotFound for an unknown
  // twin, a twin whose model has no behavior model, or one without an estimate yet.
  virtual Result<TwinEstimate> GetEstimate(const std::string& twin) const = 0;
  // Simulates forward from the twin's current estimate (runs on the calling thread, bounded by
  // req.budget_s). kInvalidArgument naming the field, kNotFound as GetEstimate,
  // kDeadlineExceeded when the budget runs out.
  virtual Result<WhatIfResult> WhatIf(const std::string& twin, const WhatIfRequest& req) const = 0;
  // The same what-if as a background job (the estimate is taken now): kInvalidArgument and
  // kNotFound as WhatIf, kResourceExhausted when too many jobs are queued. -> the queued job.
  virtual Result<WhatIfJobView> StartWhatIfJob(const std::string& twin, const WhatIfRequest& req,
                                               const std::string& principal) {
    return FailedPrecondition("what-if jobs are not available on this server");
  }
  // kNotFound for an unknown or forgotten id (finished jobs are kept for a while, whatif_jobs.h).
  virtual Result<WhatIfJobView> GetWhatIfJob(const std::string& id) const {
    return FailedPrecondition("what-if jobs are not available on this server");
  }
  // Every known job, newest first, without results.
  virtual Result<std::vector<WhatIfJobView>> ListWhatIfJobs() const {
    return FailedPrecondition("what-if jobs are not available on this server");
  }
  // Cancels a queued or running job (-> its view, cancel_requested set) or forgets a finished
  // one (-> nullopt). Only its owner or an admin may: else kPermissionDenied. kNotFound.
  virtual Result<std::optional<WhatIfJobView>> CancelWhatIfJob(const std::string& id,
                                                               const std::string& principal, bool is_admin) {
    return FailedPrecondition("what-if jobs are not available on this server");
  }

  // --- Alerts, health and annotations (docs/alerts.md, docs/api.md). Defaults answer
  // kFailedPrecondition ("not available") so test fakes need not implement them.
  virtual Result<std::vector<analytics::Alert>> ListAlerts(const analytics::AlertFilter& filter) const {
    return FailedPrecondition("alerts are not available on this server");
  }
  // kNotFound for an unknown id.
  virtual Result<analytics::Alert> AcknowledgeAlert(uint64_t id, const std::string& principal) {
    return FailedPrecondition("alerts are not available on this server");
  }
  // kNotFound for an unknown twin.
  virtual Result<HealthView> GetHealth(const std::string& twin) const {
    return FailedPrecondition("health is not available on this server");
  }
  virtual Result<std::vector<Annotation>> ListAnnotations(const std::string& twin, TimeNs from_ns,
                                                          TimeNs to_ns) const {
    return FailedPrecondition("annotations are not available on this server");
  }
  // kInvalidArgument naming the field; kNotFound for an unknown twin. Author set by the caller.
  virtual Result<Annotation> CreateAnnotation(Annotation a) {
    return FailedPrecondition("annotations are not available on this server");
  }
  // Only the author or an admin may delete (kPermissionDenied otherwise).
  virtual Status DeleteAnnotation(const std::string& twin, const std::string& id,
                                  const std::string& principal, bool is_admin) {
    return FailedPrecondition("annotations are not available on this server");
  }

  // --- Live MPC loop (docs/control.md) [mpcloop] -------------------------------------------
  // Raises or clears an alert from outside the rule evaluators (the control loop's solver
  // fallback): merged by (rule, twin, signal) like any alert, persisted and streamed.
  virtual Status PostAlert(const analytics::AlertTransition& transition) {
    return FailedPrecondition("alerts are not available on this server");
  }
  // The live MPC loop's last plan (GET /api/v1/control/plan). kFailedPrecondition when no loop
  // runs; kNotFound before its first plan.
  virtual Result<nlohmann::json> GetControlPlan() const {
    return FailedPrecondition("no MPC control loop runs on this server (config control.mpc)");
  }
  // --- end [mpcloop] ----------------------------------------------------------------------

  // --- Simulation sandboxes [simenv] (docs/control.md "Sandboxes over the API", shapes in
  // docs/api.md). A sandbox is the station's truth model forked from a twin's current estimate.
  // Defaults answer kFailedPrecondition so test fakes need not implement them.
  // kInvalidArgument naming the field ("$.period_s: ..."), kNotFound for an unknown twin,
  // kResourceExhausted when the limit of live sandboxes is reached. -> {id, seed, options, fork,
  // observation}.
  virtual Result<nlohmann::json> CreateSimEnv(const nlohmann::json& request, const std::string& principal) {
    return FailedPrecondition("sim envs are not available on this server");
  }
  // Restarts the episode (the sandbox's seed when absent). kNotFound. -> {id, seed, observation}.
  virtual Result<nlohmann::json> ResetSimEnv(const std::string& id, std::optional<uint64_t> seed) {
    return FailedPrecondition("sim envs are not available on this server");
  }
  // One period with `action` = {"speeds_rpm": [rpm | null, ...]} held. kInvalidArgument naming
  // the field, kNotFound, kFailedPrecondition after done. -> {observation, reward, done, ...}.
  virtual Result<nlohmann::json> StepSimEnv(const std::string& id, const nlohmann::json& action) {
    return FailedPrecondition("sim envs are not available on this server");
  }
  virtual Status DeleteSimEnv(const std::string& id) {  // kNotFound
    return FailedPrecondition("sim envs are not available on this server");
  }
  virtual Result<nlohmann::json> ListSimEnvs() const {  // {"envs": [...]}
    return FailedPrecondition("sim envs are not available on this server");
  }
  // --- end [simenv] -------------------------------------------------------------------------

  // --- Enterprise context [context] (docs/enterprise.md; context_service.h for the shapes) ---
  // Imports work orders or specs from a request body like `doppel import`: row errors are in
  // the answer (nothing applied); kInvalidArgument for a bad kind, format or size.
  virtual Result<nlohmann::json> ImportContext(const ContextImportRequest& request, std::string_view body) {
    return FailedPrecondition("enterprise context is not available on this server");
  }
  // The twin's spec, its limits and its work orders. kNotFound for an unknown twin.
  virtual Result<nlohmann::json> GetTwinContext(const std::string& twin) const {
    return FailedPrecondition("enterprise context is not available on this server");
  }
  // --- end [context] ------------------------------------------------------------------------

  // Prometheus text exposition of every metric.
  virtual std::string RenderMetrics() const = 0;

  // Live updates. The callback runs on an engine thread and must not block (copy and post).
  using StreamCallback = std::function<void(const std::vector<StreamEvent>&)>;
  virtual uint64_t SubscribeStream(StreamCallback cb) = 0;
  virtual void UnsubscribeStream(uint64_t subscription) = 0;
};

}  // namespace doppel::engine
