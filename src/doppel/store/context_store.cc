#include "doppel/store/context_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "doppel/store/sqlite_db.h"

namespace doppel::store {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS work_orders (
  id TEXT PRIMARY KEY NOT NULL,
  twin TEXT NOT NULL,
  kind TEXT NOT NULL,
  kind_text TEXT NOT NULL,
  status TEXT NOT NULL,
  planned_start_ns INTEGER NOT NULL,
  completed_ns INTEGER,
  description TEXT NOT NULL,
  source TEXT NOT NULL,
  seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS work_orders_by_twin ON work_orders (twin, planned_start_ns, id);
CREATE INDEX IF NOT EXISTS work_orders_by_completion ON work_orders (completed_ns, id)
  WHERE completed_ns IS NOT NULL;
CREATE INDEX IF NOT EXISTS work_orders_by_seq ON work_orders (seq, id);
CREATE TABLE IF NOT EXISTS specs (
  twin TEXT PRIMARY KEY NOT NULL,
  model TEXT NOT NULL,
  manufacturer TEXT NOT NULL,
  serial_number TEXT NOT NULL,
  rated_flow_m3h REAL NOT NULL,
  rated_head_m REAL NOT NULL,
  rated_power_kw REAL NOT NULL,
  min_speed_rpm REAL NOT NULL,
  max_speed_rpm REAL NOT NULL,
  max_motor_temp_c REAL NOT NULL,
  max_vibration_mm_s REAL NOT NULL,
  rated_speed_rpm REAL,
  min_flow_m3h REAL,
  max_flow_m3h REAL,
  max_discharge_pressure_bar REAL,
  max_power_kw REAL,
  source TEXT NOT NULL,
  seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS specs_by_seq ON specs (seq, twin);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('seq', 0);
)sql";

constexpr const char* kWoColumns =
    "id, twin, kind, kind_text, status, planned_start_ns, completed_ns, description, source";
constexpr const char* kSpecColumns =
    "twin, model, manufacturer, serial_number, rated_flow_m3h, rated_head_m, rated_power_kw, min_speed_rpm, "
    "max_speed_rpm, max_motor_temp_c, max_vibration_mm_s, rated_speed_rpm, min_flow_m3h, max_flow_m3h, "
    "max_discharge_pressure_bar, max_power_kw, source";

enum Stmt {
  kGetWo,
  kPutWo,
  kWoByTwin,
  kWoCompletedSince,
  kWoCompletedSinceTwin,
  kWoSince,
  kGetSpec,
  kPutSpec,
  kListSpecs,
  kSpecSince,
  kGetSeq,
  kSetSeq,
  kNumStmts,
};

std::string StatementSql(int i) {
  const std::string w = kWoColumns, s = kSpecColumns;
  switch (i) {
    case kGetWo: return "SELECT " + w + " FROM work_orders WHERE id = ?1";
    case kPutWo:
      return "INSERT OR REPLACE INTO work_orders (" + w +
             ", seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
    case kWoByTwin: return "SELECT " + w + " FROM work_orders WHERE twin = ?1 ORDER BY planned_start_ns, id";
    case kWoCompletedSince:
      return "SELECT " + w +
             " FROM work_orders WHERE status = 'completed' AND completed_ns > ?1 "
             "ORDER BY completed_ns, id";
    case kWoCompletedSinceTwin:
      return "SELECT " + w +
             " FROM work_orders WHERE status = 'completed' AND completed_ns > ?1 AND twin = ?2 "
             "ORDER BY completed_ns, id";
    case kWoSince: return "SELECT " + w + ", seq FROM work_orders WHERE seq > ?1 ORDER BY seq, id";
    case kGetSpec: return "SELECT " + s + " FROM specs WHERE twin = ?1";
    case kPutSpec:
      return "INSERT OR REPLACE INTO specs (" + s +
             ", seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
             "?18)";
    case kListSpecs: return "SELECT " + s + " FROM specs ORDER BY twin";
    case kSpecSince: return "SELECT " + s + ", seq FROM specs WHERE seq > ?1 ORDER BY seq, twin";
    case kGetSeq: return "SELECT value FROM counters WHERE name = 'seq'";
    case kSetSeq: return "UPDATE counters SET value = ?1 WHERE name = 'seq'";
    default: return "";
  }
}

std::optional<int64_t> OptInt(sqlite3_stmt* s, int col) {
  if (sqlite3_column_type(s, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, col);
}

std::optional<double> OptReal(sqlite3_stmt* s, int col) {
  if (sqlite3_column_type(s, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(s, col);
}

WorkOrder ReadWo(sqlite3_stmt* s) {
  WorkOrder w;
  w.id = ColumnText(s, 0);
  w.twin = ColumnText(s, 1);
  w.kind = ParseWorkOrderKind(ColumnText(s, 2)).value_or(WorkOrderKind::kOther);
  w.kind_text = ColumnText(s, 3);
  w.status = ParseWorkOrderStatus(ColumnText(s, 4)).value_or(WorkOrderStatus::kPlanned);
  w.planned_start_ns = sqlite3_column_int64(s, 5);
  w.completed_ns = OptInt(s, 6);
  w.description = ColumnText(s, 7);
  w.source = ColumnText(s, 8);
  return w;
}

DesignSpec ReadSpec(sqlite3_stmt* s) {
  DesignSpec d;
  d.twin = ColumnText(s, 0);
  d.model = ColumnText(s, 1);
  d.manufacturer = ColumnText(s, 2);
  d.serial_number = ColumnText(s, 3);
  d.rated_flow_m3h = sqlite3_column_double(s, 4);
  d.rated_head_m = sqlite3_column_double(s, 5);
  d.rated_power_kw = sqlite3_column_double(s, 6);
  d.min_speed_rpm = sqlite3_column_double(s, 7);
  d.max_speed_rpm = sqlite3_column_double(s, 8);
  d.max_motor_temp_c = sqlite3_column_double(s, 9);
  d.max_vibration_mm_s = sqlite3_column_double(s, 10);
  d.rated_speed_rpm = OptReal(s, 11);
  d.min_flow_m3h = OptReal(s, 12);
  d.max_flow_m3h = OptReal(s, 13);
  d.max_discharge_pressure_bar = OptReal(s, 14);
  d.max_power_kw = OptReal(s, 15);
  d.source = ColumnText(s, 16);
  return d;
}

void Bind(sqlite3_stmt* s, int i, const std::string& v) { BindText(s, i, v); }
void Bind(sqlite3_stmt* s, int i, const std::optional<int64_t>& v) {
  v ? sqlite3_bind_int64(s, i, *v) : sqlite3_bind_null(s, i);
}
void Bind(sqlite3_stmt* s, int i, const std::optional<double>& v) {
  v ? sqlite3_bind_double(s, i, *v) : sqlite3_bind_null(s, i);
}

void BindWo(sqlite3_stmt* s, const WorkOrder& w, int64_t seq) {
  Bind(s, 1, w.id);
  Bind(s, 2, w.twin);
  Bind(s, 3, std::string(WorkOrderKindName(w.kind)));
  Bind(s, 4, w.kind_text);
  Bind(s, 5, std::string(WorkOrderStatusName(w.status)));
  sqlite3_bind_int64(s, 6, w.planned_start_ns);
  Bind(s, 7, w.completed_ns);
  Bind(s, 8, w.description);
  Bind(s, 9, w.source);
  sqlite3_bind_int64(s, 10, seq);
}

void BindSpec(sqlite3_stmt* s, const DesignSpec& d, int64_t seq) {
  Bind(s, 1, d.twin);
  Bind(s, 2, d.model);
  Bind(s, 3, d.manufacturer);
  Bind(s, 4, d.serial_number);
  sqlite3_bind_double(s, 5, d.rated_flow_m3h);
  sqlite3_bind_double(s, 6, d.rated_head_m);
  sqlite3_bind_double(s, 7, d.rated_power_kw);
  sqlite3_bind_double(s, 8, d.min_speed_rpm);
  sqlite3_bind_double(s, 9, d.max_speed_rpm);
  sqlite3_bind_double(s, 10, d.max_motor_temp_c);
  sqlite3_bind_double(s, 11, d.max_vibration_mm_s);
  Bind(s, 12, d.rated_speed_rpm);
  Bind(s, 13, d.min_flow_m3h);
  Bind(s, 14, d.max_flow_m3h);
  Bind(s, 15, d.max_discharge_pressure_bar);
  Bind(s, 16, d.max_power_kw);
  Bind(s, 17, d.source);
  sqlite3_bind_int64(s, 18, seq);
}

const std::string& KeyOf(const WorkOrder& w) { return w.id; }
const std::string& KeyOf(const DesignSpec& d) { return d.twin; }

// Rules and unique keys of a whole batch; kInvalidArgument listing every broken rule.
template <typename Row, typename CheckFn>
Status CheckBatch(const std::vector<Row>& rows, CheckFn check, const char* what) {
  std::vector<std::string> errors;
  std::set<std::string> keys;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (const auto& e : check(rows[i]))
      errors.push_back(fmt::format("{} [{}] '{}': {}", what, i, KeyOf(rows[i]), e));
    if (!keys.insert(KeyOf(rows[i])).second) {
      errors.push_back(fmt::format("{} [{}] '{}': appears twice in the batch", what, i, KeyOf(rows[i])));
    }
  }
  if (errors.empty()) return Status::Ok();
  std::string msg = fmt::format("{} broken rule(s), nothing applied: ", errors.size());
  for (size_t i = 0; i < errors.size() && i < 20; ++i) msg += (i ? "; " : "") + errors[i];
  if (errors.size() > 20) msg += "; ...";
  return InvalidArgument(msg);
}

}  // namespace

Status ContextStoreOptions::Validate() const {
  if (busy_timeout_ms < 0)
    return InvalidArgument(fmt::format("busy_timeout_ms: {} must be >= 0", busy_timeout_ms));
  return Status::Ok();
}

// The statements are StatementSql's; callers hold mu.
struct ContextStore::Impl : SqliteDb {
  std::mutex mu;

  // RunList that also raises *max_seq to the largest value of column seq_col.
  template <typename Row, typename ReadFn>
  Result<std::vector<Row>> RunList(sqlite3_stmt* s, ReadFn read, const std::string& what,
                                   int64_t* max_seq = nullptr, int seq_col = 0) {
    return SqliteDb::RunList<Row>(
        s,
        [&](sqlite3_stmt* row) {
          if (max_seq)
            *max_seq = std::max(*max_seq, static_cast<int64_t>(sqlite3_column_int64(row, seq_col)));
          return read(row);
        },
        what);
  }

  Result<int64_t> Seq() {
    auto v = RunList<int64_t>(
        Get(kGetSeq), [](sqlite3_stmt* s) { return sqlite3_column_int64(s, 0); }, "read seq");
    if (!v.ok()) return v.status();
    if (v->empty()) return Corruption(path() + ": counters table has no 'seq' row");
    return v->front();
  }

  // Applies a validated batch in one IMMEDIATE transaction; rolls back on any failure.
  template <typename Row, typename ReadFn, typename BindFn>
  Result<UpsertSummary> Upsert(const std::vector<Row>& rows, Stmt get, Stmt put, ReadFn read, BindFn bind,
                               const char* what) {
    UpsertSummary sum;
    DOPPEL_RETURN_IF_ERROR(Transaction(std::string(what) + " batch", [&]() -> Status {
      auto seq = Seq();
      if (!seq.ok()) return seq.status();
      const int64_t next = *seq + 1;
      for (const Row& r : rows) {
        sqlite3_stmt* g = Get(get);
        Bind(g, 1, KeyOf(r));
        auto old = RunList<Row>(g, read, fmt::format("read {} '{}'", what, KeyOf(r)));
        if (!old.ok()) return old.status();
        if (!old->empty() && old->front() == r) {
          ++sum.unchanged;
          continue;
        }
        ++(old->empty() ? sum.inserted : sum.updated);
        sqlite3_stmt* p = Get(put);
        bind(p, r, next);
        DOPPEL_RETURN_IF_ERROR(RunWrite(p, fmt::format("write {} '{}'", what, KeyOf(r))));
      }
      if (sum.inserted + sum.updated > 0) {
        sqlite3_stmt* p = Get(kSetSeq);
        sqlite3_bind_int64(p, 1, next);
        DOPPEL_RETURN_IF_ERROR(RunWrite(p, "write seq"));
        sum.seq = next;
      }
      return Status::Ok();
    }));
    return sum;
  }
};

ContextStore::ContextStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ContextStore::~ContextStore() = default;

Result<std::unique_ptr<ContextStore>> ContextStore::Open(const std::string& path,
                                                         const ContextStoreOptions& options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  auto impl = std::make_unique<Impl>();
  SqliteSchema schema;
  schema.version = kSchemaVersion;
  schema.sql = kSchema;
  schema.busy_timeout_ms = options.busy_timeout_ms;
  std::vector<std::string> statements;
  for (int i = 0; i < kNumStmts; ++i) statements.push_back(StatementSql(i));
  DOPPEL_RETURN_IF_ERROR(impl->Open(path, schema, statements));
  return std::unique_ptr<ContextStore>(new ContextStore(std::move(impl)));
}

Result<UpsertSummary> ContextStore::UpsertWorkOrders(const std::vector<WorkOrder>& rows) {
  DOPPEL_RETURN_IF_ERROR(CheckBatch(rows, CheckWorkOrder, "work order"));
  std::lock_guard lk(impl_->mu);
  return impl_->Upsert(rows, kGetWo, kPutWo, ReadWo, BindWo, "work order");
}

Result<UpsertSummary> ContextStore::UpsertSpecs(const std::vector<DesignSpec>& rows) {
  DOPPEL_RETURN_IF_ERROR(CheckBatch(rows, CheckDesignSpec, "spec"));
  std::lock_guard lk(impl_->mu);
  return impl_->Upsert(rows, kGetSpec, kPutSpec, ReadSpec, BindSpec, "spec");
}

Result<std::vector<WorkOrder>> ContextStore::ListWorkOrders(const std::string& twin) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kWoByTwin);
  Bind(s, 1, twin);
  return impl_->RunList<WorkOrder>(s, ReadWo, "list work orders of '" + twin + "'");
}

Result<std::vector<WorkOrder>> ContextStore::CompletedWorkOrdersSince(int64_t t_ns, const std::string& twin) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(twin.empty() ? kWoCompletedSince : kWoCompletedSinceTwin);
  sqlite3_bind_int64(s, 1, t_ns);
  if (!twin.empty()) Bind(s, 2, twin);
  return impl_->RunList<WorkOrder>(s, ReadWo, "list completed work orders");
}

Result<WorkOrder> ContextStore::GetWorkOrder(const std::string& id) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kGetWo);
  Bind(s, 1, id);
  auto rows = impl_->RunList<WorkOrder>(s, ReadWo, "get work order '" + id + "'");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFound("work order '" + id + "' not found");
  return std::move(rows->front());
}

Result<DesignSpec> ContextStore::GetSpec(const std::string& twin) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kGetSpec);
  Bind(s, 1, twin);
  auto rows = impl_->RunList<DesignSpec>(s, ReadSpec, "get spec of '" + twin + "'");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFound("no design spec for twin '" + twin + "'");
  return std::move(rows->front());
}

Result<std::vector<DesignSpec>> ContextStore::ListSpecs() {
  std::lock_guard lk(impl_->mu);
  return impl_->RunList<DesignSpec>(impl_->Get(kListSpecs), ReadSpec, "list specs");
}

Result<Changes<WorkOrder>> ContextStore::WorkOrderChangesSince(int64_t seq) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kWoSince);
  sqlite3_bind_int64(s, 1, seq);
  Changes<WorkOrder> c;
  c.last_seq = seq;
  auto rows = impl_->RunList<WorkOrder>(s, ReadWo, "list changed work orders", &c.last_seq, 9);
  if (!rows.ok()) return rows.status();
  c.rows = std::move(*rows);
  return c;
}

Result<Changes<DesignSpec>> ContextStore::SpecChangesSince(int64_t seq) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kSpecSince);
  sqlite3_bind_int64(s, 1, seq);
  Changes<DesignSpec> c;
  c.last_seq = seq;
  auto rows = impl_->RunList<DesignSpec>(s, ReadSpec, "list changed specs", &c.last_seq, 17);
  if (!rows.ok()) return rows.status();
  c.rows = std::move(*rows);
  return c;
}

}  // namespace doppel::store
