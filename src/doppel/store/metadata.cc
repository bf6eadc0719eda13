#include "doppel/store/metadata.h"

#include <mutex>

#include "doppel/store/sqlite_db.h"

namespace doppel::store {
namespace {

constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS twins (
  id TEXT PRIMARY KEY NOT NULL,
  model TEXT NOT NULL,
  desired_json TEXT NOT NULL,
  reported_json TEXT NOT NULL,
  relationships_json TEXT NOT NULL,
  created_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
  id TEXT PRIMARY KEY NOT NULL,
  twin TEXT NOT NULL,
  name TEXT NOT NULL,
  request_json TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT NOT NULL,
  issued_by TEXT NOT NULL,
  source TEXT NOT NULL DEFAULT 'operator',
  history_json TEXT NOT NULL,
  created_ns INTEGER NOT NULL,
  updated_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_by_twin ON commands (twin, created_ns, id);
CREATE INDEX IF NOT EXISTS commands_by_status ON commands (status, created_ns, id);
CREATE TABLE IF NOT EXISTS control_modes (
  twin TEXT PRIMARY KEY NOT NULL,
  mode TEXT NOT NULL,
  set_by TEXT NOT NULL,
  set_ns INTEGER NOT NULL
);
)sql";

// Schema 1 -> 2: commands gain `source` (rows written before were operator commands); the
// control_modes table comes from kSchema (IF NOT EXISTS).
constexpr const char* kMigrate1To2 =
    "ALTER TABLE commands ADD COLUMN source TEXT NOT NULL DEFAULT 'operator';";

constexpr const char* kTwinColumns = "id, model, desired_json, reported_json, relationships_json, created_ns";
constexpr const char* kCommandColumns =
    "id, twin, name, request_json, status, reason, issued_by, history_json, created_ns, updated_ns, source";

// Statement ids, in the order of kStatements.
enum Stmt {
  kPutTwin,
  kGetTwin,
  kDeleteTwin,
  kListTwins,
  kPutCommand,
  kGetCommand,
  kCommandsByTwin,
  kCommandsByStatus,
  kAllCommands,
  kPutControlMode,
  kListControlModes,
  kNumStmts,
};

std::string StatementSql(int i) {
  const std::string tc = kTwinColumns, cc = kCommandColumns;
  switch (i) {
    case kPutTwin:
      return "INSERT INTO twins (" + tc +
             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(id) DO UPDATE SET model = excluded.model, "
             "desired_json = excluded.desired_json, reported_json = excluded.reported_json, "
             "relationships_json = excluded.relationships_json, created_ns = excluded.created_ns";
    case kGetTwin: return "SELECT " + tc + " FROM twins WHERE id = ?1";
    case kDeleteTwin: return "DELETE FROM twins WHERE id = ?1";
    case kListTwins: return "SELECT " + tc + " FROM twins ORDER BY id";
    case kPutCommand:
      return "INSERT INTO commands (" + cc +
             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(id) DO UPDATE SET "
             "twin = excluded.twin, name = excluded.name, request_json = excluded.request_json, "
             "status = excluded.status, reason = excluded.reason, issued_by = excluded.issued_by, "
             "history_json = excluded.history_json, created_ns = excluded.created_ns, "
             "updated_ns = excluded.updated_ns, source = excluded.source";
    case kGetCommand: return "SELECT " + cc + " FROM commands WHERE id = ?1";
    case kCommandsByTwin: return "SELECT " + cc + " FROM commands WHERE twin = ?1 ORDER BY created_ns, id";
    case kCommandsByStatus:
      return "SELECT " + cc + " FROM commands WHERE status = ?1 ORDER BY created_ns, id";
    case kAllCommands: return "SELECT " + cc + " FROM commands ORDER BY created_ns, id";
    case kPutControlMode:
      return "INSERT INTO control_modes (twin, mode, set_by, set_ns) VALUES (?1, ?2, ?3, ?4) "
             "ON CONFLICT(twin) DO UPDATE SET mode = excluded.mode, set_by = excluded.set_by, "
             "set_ns = excluded.set_ns";
    case kListControlModes: return "SELECT twin, mode, set_by, set_ns FROM control_modes ORDER BY twin";
    default: return "";
  }
}

TwinRow ReadTwin(sqlite3_stmt* s) {
  TwinRow r;
  r.id = ColumnText(s, 0);
  r.model = ColumnText(s, 1);
  r.desired_json = ColumnText(s, 2);
  r.reported_json = ColumnText(s, 3);
  r.relationships_json = ColumnText(s, 4);
  r.created_ns = sqlite3_column_int64(s, 5);
  return r;
}

CommandRow ReadCommand(sqlite3_stmt* s) {
  CommandRow r;
  r.id = ColumnText(s, 0);
  r.twin = ColumnText(s, 1);
  r.name = ColumnText(s, 2);
  r.request_json = ColumnText(s, 3);
  r.status = ColumnText(s, 4);
  r.reason = ColumnText(s, 5);
  r.issued_by = ColumnText(s, 6);
  r.history_json = ColumnText(s, 7);
  r.created_ns = sqlite3_column_int64(s, 8);
  r.updated_ns = sqlite3_column_int64(s, 9);
  r.source = ColumnText(s, 10);
  return r;
}

ControlModeRow ReadControlMode(sqlite3_stmt* s) {
  ControlModeRow r;
  r.twin = ColumnText(s, 0);
  r.mode = ColumnText(s, 1);
  r.set_by = ColumnText(s, 2);
  r.set_ns = sqlite3_column_int64(s, 3);
  return r;
}

}  // namespace

// The statements are kStatements' (StatementSql); callers hold mu.
struct MetadataStore::Impl : SqliteDb {
  std::mutex mu;
  static void Bind(sqlite3_stmt* s, int i, const std::string& v) { BindText(s, i, v); }
};

MetadataStore::MetadataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetadataStore::~MetadataStore() = default;

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  SqliteSchema schema;
  schema.version = kSchemaVersion;
  schema.sql = kSchema;
  schema.migrate = [&](int from) {
    return from == 1 ? impl->Exec(kMigrate1To2, "migrate schema 1 -> 2") : Status::Ok();
  };
  schema.foreign_keys = true;
  std::vector<std::string> statements;
  for (int i = 0; i < kNumStmts; ++i) statements.push_back(StatementSql(i));
  DOPPEL_RETURN_IF_ERROR(impl->Open(path, schema, statements));
  return std::unique_ptr<MetadataStore>(new MetadataStore(std::move(impl)));
}

Status MetadataStore::PutTwin(const TwinRow& row) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kPutTwin);
  Impl::Bind(s, 1, row.id);
  Impl::Bind(s, 2, row.model);
  Impl::Bind(s, 3, row.desired_json);
  Impl::Bind(s, 4, row.reported_json);
  Impl::Bind(s, 5, row.relationships_json);
  sqlite3_bind_int64(s, 6, row.created_ns);
  return impl_->RunWrite(s, "put twin '" + row.id + "'");
}

Result<TwinRow> MetadataStore::GetTwin(const std::string& id) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kGetTwin);
  Impl::Bind(s, 1, id);
  auto rows = impl_->RunList<TwinRow>(s, ReadTwin, "get twin '" + id + "'");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFound("twin '" + id + "' not found");
  return std::move(rows->front());
}

Status MetadataStore::DeleteTwin(const std::string& id) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kDeleteTwin);
  Impl::Bind(s, 1, id);
  DOPPEL_RETURN_IF_ERROR(impl_->RunWrite(s, "delete twin '" + id + "'"));
  if (impl_->Changes() == 0) return NotFound("twin '" + id + "' not found");
  return Status::Ok();
}

Result<std::vector<TwinRow>> MetadataStore::ListTwins() {
  std::lock_guard lk(impl_->mu);
  return impl_->RunList<TwinRow>(impl_->Get(kListTwins), ReadTwin, "list twins");
}

Status MetadataStore::PutCommand(const CommandRow& row) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kPutCommand);
  Impl::Bind(s, 1, row.id);
  Impl::Bind(s, 2, row.twin);
  Impl::Bind(s, 3, row.name);
  Impl::Bind(s, 4, row.request_json);
  Impl::Bind(s, 5, row.status);
  Impl::Bind(s, 6, row.reason);
  Impl::Bind(s, 7, row.issued_by);
  Impl::Bind(s, 8, row.history_json);
  sqlite3_bind_int64(s, 9, row.created_ns);
  sqlite3_bind_int64(s, 10, row.updated_ns);
  Impl::Bind(s, 11, row.source);
  return impl_->RunWrite(s, "put command '" + row.id + "'");
}

Result<CommandRow> MetadataStore::GetCommand(const std::string& id) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kGetCommand);
  Impl::Bind(s, 1, id);
  auto rows = impl_->RunList<CommandRow>(s, ReadCommand, "get command '" + id + "'");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFound("command '" + id + "' not found");
  return std::move(rows->front());
}

Result<std::vector<CommandRow>> MetadataStore::ListCommandsByTwin(const std::string& twin) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kCommandsByTwin);
  Impl::Bind(s, 1, twin);
  return impl_->RunList<CommandRow>(s, ReadCommand, "list commands of twin '" + twin + "'");
}

Result<std::vector<CommandRow>> MetadataStore::ListCommandsByStatus(const std::string& status) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kCommandsByStatus);
  Impl::Bind(s, 1, status);
  return impl_->RunList<CommandRow>(s, ReadCommand, "list commands with status '" + status + "'");
}

Result<std::vector<CommandRow>> MetadataStore::ListCommands() {
  std::lock_guard lk(impl_->mu);
  return impl_->RunList<CommandRow>(impl_->Get(kAllCommands), ReadCommand, "list commands");
}

Status MetadataStore::PutControlMode(const ControlModeRow& row) {
  std::lock_guard lk(impl_->mu);
  sqlite3_stmt* s = impl_->Get(kPutControlMode);
  Impl::Bind(s, 1, row.twin);
  Impl::Bind(s, 2, row.mode);
  Impl::Bind(s, 3, row.set_by);
  sqlite3_bind_int64(s, 4, row.set_ns);
  return impl_->RunWrite(s, "put control mode of '" + row.twin + "'");
}

Result<std::vector<ControlModeRow>> MetadataStore::ListControlModes() {
  std::lock_guard lk(impl_->mu);
  return impl_->RunList<ControlModeRow>(impl_->Get(kListControlModes), ReadControlMode, "list control modes");
}

}  // namespace doppel::store
