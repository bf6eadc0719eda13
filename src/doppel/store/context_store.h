// ContextStore: enterprise context of twins — maintenance work orders and design specifications —
// in their own SQLite database (e.g. <data_dir>/context.db; WAL journal, synchronous=FULL).
//
// Rows are plain data: the store does not depend on the engine or on analytics. The engine reads
// them to act on a twin (docs/enterprise.md): a completed impeller replacement resets the wear
// estimate's prior, a spec's limits (SpecLimits) become alert thresholds and the command envelope.
//
// Writes are batches: UpsertWorkOrders / UpsertSpecs validate every row first and then apply the
// whole batch in ONE transaction — all rows or none. A row identical to the stored one is left
// untouched (its change sequence does not move), so re-importing a file is a no-op; every batch
// that changes anything gets the next change sequence number, which the engine polls with
// WorkOrderChangesSince / SpecChangesSince (robust to back-dated records, unlike a time cursor).
//
// Times are int64 ns since the Unix epoch (UTC).
// Thread safety: every method may be called from any thread (serialised by a mutex).
// Errors: kInvalidArgument for a row breaking a rule (message "[i] field: rule", nothing applied);
// kNotFound; kUnavailable when another connection holds the write lock past busy_timeout_ms;
// kCorruption for a file that is not a (sound) SQLite database; kIOError / kPermissionDenied /
// kResourceExhausted with SQLite's message, prefixed with the database path.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::store {

// ---------------------------------------------------------------------------------------------
// Work orders

enum class WorkOrderKind { kInspection, kImpellerReplacement, kBearingReplacement, kSealReplacement, kOther };
enum class WorkOrderStatus { kPlanned, kInProgress, kCompleted, kCancelled };

// "inspection", "impeller_replacement", ... , "other".
const char* WorkOrderKindName(WorkOrderKind k);
// "planned", "in_progress", "completed", "cancelled".
const char* WorkOrderStatusName(WorkOrderStatus s);
// Known names only (exact, lower case); nullopt otherwise.
std::optional<WorkOrderKind> ParseWorkOrderKind(std::string_view name);
std::optional<WorkOrderStatus> ParseWorkOrderStatus(std::string_view name);

struct WorkOrder {
  std::string id;    // the CMMS work-order number; unique across twins. 1..128 bytes
  std::string twin;  // twin id, [A-Za-z0-9._:-], 1..128 bytes
  WorkOrderKind kind = WorkOrderKind::kOther;
  // The source's own kind text when kind is kOther ("coupling alignment"); empty otherwise.
  std::string kind_text;
  WorkOrderStatus status = WorkOrderStatus::kPlanned;
  int64_t planned_start_ns = 0;
  // Set exactly when status is kCompleted, and not before planned_start_ns.
  std::optional<int64_t> completed_ns;
  std::string description;  // free text, <= 4096 bytes (newlines and tabs allowed)
  std::string source;       // where the record came from ("sap-pm", "workorders.csv"), <= 256 bytes

  friend bool operator==(const WorkOrder&, const WorkOrder&) = default;
};

// ---------------------------------------------------------------------------------------------
// Design specifications (one per twin; a pump and its motor, in the units of the pump model's
// telemetry: docs/enterprise.md). rated_*: the duty point; min_*/max_*: the limits.

struct DesignSpec {
  std::string twin;                       // twin id, as in WorkOrder::twin
  std::string model;                      // manufacturer's model designation (not the DTMI), optional
  std::string manufacturer;               // optional
  std::string serial_number;              // optional
  double rated_flow_m3h = 0;              // > 0
  double rated_head_m = 0;                // > 0
  double rated_power_kw = 0;              // > 0
  double min_speed_rpm = 0;               // >= 0, < max_speed_rpm
  double max_speed_rpm = 0;               // > 0, <= 20000
  double max_motor_temp_c = 0;            // (0, 250] — motor insulation class limit
  double max_vibration_mm_s = 0;          // (0, 100] — ISO 10816 zone limit (RMS velocity)
  std::optional<double> rated_speed_rpm;  // within [min_speed_rpm, max_speed_rpm]
  std::optional<double> min_flow_m3h;     // minimum continuous stable flow, >= 0
  std::optional<double> max_flow_m3h;     // > min_flow_m3h and >= rated_flow_m3h
  std::optional<double> max_discharge_pressure_bar;  // casing limit, > 0
  std::optional<double> max_power_kw;                // motor limit, >= rated_power_kw
  std::string source;                                // <= 256 bytes

  friend bool operator==(const DesignSpec&, const DesignSpec&) = default;
};

// One limit of a spec as plain data, for the engine to turn into alert rules and the command
// envelope without this module knowing either. `signal` is a telemetry name of the pump model
// (speed_rpm, motor_temp_c, vibration_mm_s, flow_m3h, discharge_pressure_bar, power_kw).
struct SpecLimit {
  std::string signal;
  std::optional<double> min;  // at least one of min, max is set
  std::optional<double> max;
  // True when the quantity is commanded (a setpoint): the limit also bounds commands setting it
  // (the pump's setSpeed.speed_rpm).
  bool command_envelope = false;
  // True when exactly 0 (the machine stopped) is allowed besides [min, max]: speed below the
  // drive's minimum is harmful, a stopped pump is not.
  bool zero_ok = false;
  std::string from;  // the spec fields it came from, e.g. "min_speed_rpm,max_speed_rpm"

  friend bool operator==(const SpecLimit&, const SpecLimit&) = default;
};

// The limits a valid spec states, in a fixed order: speed_rpm (always; command_envelope, zero_ok),
// motor_temp_c, vibration_mm_s (always), then flow_m3h (zero_ok), discharge_pressure_bar,
// power_kw when the spec has the optional fields behind them. Ratings (rated_*) are not limits and are not
// included.
std::vector<SpecLimit> SpecLimits(const DesignSpec& spec);

// Row rules, shared by the store and the importers. Each violation is one "field: rule" string,
// in field order; empty when the row is valid.
std::vector<std::string> CheckWorkOrder(const WorkOrder& w);
std::vector<std::string> CheckDesignSpec(const DesignSpec& s);
// Twin ids: 1..128 bytes of [A-Za-z0-9._:-].
bool IsValidTwinId(std::string_view id);

// ---------------------------------------------------------------------------------------------

struct ContextStoreOptions {
  // How long a write waits for another connection's lock before kUnavailable. >= 0. Default 5 s.
  int busy_timeout_ms = 5000;
  Status Validate() const;
};

// What one batch did. seq: the change sequence the batch's changed rows carry (0 when nothing
// changed).
struct UpsertSummary {
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t unchanged = 0;
  int64_t seq = 0;
};

template <typename Row>
struct Changes {
  std::vector<Row> rows;  // changed rows with seq > the cursor, by (seq, key)
  int64_t last_seq = 0;   // pass back as the next cursor (>= the cursor given)
};

class ContextStore {
 public:
  // Opens or creates the database at `path` (":memory:" for a private in-memory one). Checks the
  // schema: kFailedPrecondition for a database from a newer build, kCorruption for a file that is
  // not a SQLite database.
  static Result<std::unique_ptr<ContextStore>> Open(const std::string& path,
                                                    const ContextStoreOptions& options = {});
  ~ContextStore();
  ContextStore(const ContextStore&) = delete;
  ContextStore& operator=(const ContextStore&) = delete;

  // All or nothing. Rows are keyed by WorkOrder::id / DesignSpec::twin; a key may appear once
  // per batch (kInvalidArgument otherwise).
  Result<UpsertSummary> UpsertWorkOrders(const std::vector<WorkOrder>& rows);
  Result<UpsertSummary> UpsertSpecs(const std::vector<DesignSpec>& rows);

  // Work orders of one twin, by (planned_start_ns, id).
  Result<std::vector<WorkOrder>> ListWorkOrders(const std::string& twin);
  // Completed work orders (all twins, or one when `twin` is not empty) with completed_ns > t_ns,
  // by (completed_ns, id).
  Result<std::vector<WorkOrder>> CompletedWorkOrdersSince(int64_t t_ns, const std::string& twin = "");
  Result<WorkOrder> GetWorkOrder(const std::string& id);  // kNotFound when absent

  Result<DesignSpec> GetSpec(const std::string& twin);  // kNotFound when absent
  Result<std::vector<DesignSpec>> ListSpecs();          // by twin

  // Rows changed by batches after `seq` (0: everything).
  Result<Changes<WorkOrder>> WorkOrderChangesSince(int64_t seq);
  Result<Changes<DesignSpec>> SpecChangesSince(int64_t seq);

 private:
  struct Impl;
  explicit ContextStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::store
