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
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

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

enum class CommandStatus { kPending, kSent, kAcked, kRejected, kTimedOut };
const char* CommandStatusName(CommandStatus s);

struct CommandEvent {
  CommandStatus status;
  TimeNs at_ns = 0;
  std::string by;      // principal or component ("api:admin", "plant", "timeout")
  std::string reason;  // empty unless rejected / timed out
};

struct CommandRecord {
  std::string id;  // unique, e.g. "c-000017-5f3a"
  std::string twin;
  std::string name;  // DTDL command name, e.g. "setSpeed"
  nlohmann::json request;
  CommandStatus status = CommandStatus::kPending;
  std::string reason;
  std::string issued_by;
  TimeNs created_ns = 0;
  TimeNs updated_ns = 0;
  std::vector<CommandEvent> history;  // pending -> sent -> acked | rejected | timed_out
};

struct IngestSummary {
  uint64_t accepted = 0;
  uint64_t late = 0;  // accepted and stored, but behind the twin's watermark
};

// One live update pushed to stream subscribers.
struct StreamEvent {
  std::string twin;
  std::string signal;
  TimeNs ts_ns = 0;
  double value = 0;
};

// --- Estimation (docs/estimation.md) -------------------------------------------------------

// One estimated quantity: mean, standard deviation, unit.
struct EstimatedValue {
  std::string name;  // "speed_rpm", "impeller_wear", ...
  double value = 0;
  double std = 0;
  std::string unit;
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
  int64_t predict_only = 0;
  int64_t rejected = 0;
  int64_t divergences = 0;
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
  std::vector<Scenario> scenarios;
  int samples = 0;
  double wall_s = 0;
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
  // field), records the command as pending and hands it to the transport.
  virtual Result<CommandRecord> SubmitCommand(const std::string& twin, const std::string& name,
                                              const nlohmann::json& request,
                                              const std::string& principal) = 0;
  virtual Result<std::vector<CommandRecord>> ListCommands(const std::string& twin) const = 0;
  virtual Result<CommandRecord> GetCommand(const std::string& twin, const std::string& id) const = 0;

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

  // Prometheus text exposition of every metric.
  virtual std::string RenderMetrics() const = 0;

  // Live updates. The callback runs on an engine thread and must not block (copy and post).
  using StreamCallback = std::function<void(const std::vector<StreamEvent>&)>;
  virtual uint64_t SubscribeStream(StreamCallback cb) = 0;
  virtual void UnsubscribeStream(uint64_t subscription) = 0;
};

}  // namespace doppel::engine
