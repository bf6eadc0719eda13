#include "doppel/store/metadata.h"

#include <sqlite3.h>

#include <mutex>

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

StatusCode CodeFor(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return StatusCode::kCorruption;
    case SQLITE_FULL: return StatusCode::kResourceExhausted;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH: return StatusCode::kPermissionDenied;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG: return StatusCode::kInvalidArgument;
    default: return StatusCode::kIOError;
  }
}

std::string Text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, col))) : std::string();
}

TwinRow ReadTwin(sqlite3_stmt* s) {
  TwinRow r;
  r.id = Text(s, 0);
  r.model = Text(s, 1);
  r.desired_json = Text(s, 2);
  r.reported_json = Text(s, 3);
  r.relationships_json = Text(s, 4);
  r.created_ns = sqlite3_column_int64(s, 5);
  return r;
}

CommandRow ReadCommand(sqlite3_stmt* s) {
  CommandRow r;
  r.id = Text(s, 0);
  r.twin = Text(s, 1);
  r.name = Text(s, 2);
  r.request_json = Text(s, 3);
  r.status = Text(s, 4);
  r.reason = Text(s, 5);
  r.issued_by = Text(s, 6);
  r.history_json = Text(s, 7);
  r.created_ns = sqlite3_column_int64(s, 8);
  r.updated_ns = sqlite3_column_int64(s, 9);
  r.source = Text(s, 10);
  return r;
}

ControlModeRow ReadControlMode(sqlite3_stmt* s) {
  ControlModeRow r;
  r.twin = Text(s, 0);
  r.mode = Text(s, 1);
  r.set_by = Text(s, 2);
  r.set_ns = sqlite3_column_int64(s, 3);
  return r;
}

}  // namespace

struct MetadataStore::Impl {
  std::string path;
  sqlite3* db = nullptr;
  sqlite3_stmt* stmts[kNumStmts] = {};
  std::mutex mu;

  ~Impl() {
    for (sqlite3_stmt* s : stmts) sqlite3_finalize(s);
    if (db) sqlite3_close_v2(db);
  }

  Status Error(int rc, const std::string& what) const {
    const char* msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return {CodeFor(rc), path + ": " + what + ": " + msg};
  }

  Status Exec(const char* sql, const std::string& what) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      return {CodeFor(rc), path + ": " + what + ": " + msg};
    }
    return Status::Ok();
  }

  // Returns the prepared statement, reset and with bindings cleared. Caller holds mu.
  sqlite3_stmt* Get(Stmt id) {
    sqlite3_stmt* s = stmts[id];
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
  }

  static void Bind(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }

  Status RunWrite(sqlite3_stmt* s, const std::string& what) {
    int rc = sqlite3_step(s);
    Status st = rc == SQLITE_DONE ? Status::Ok() : Error(rc, what);
    sqlite3_reset(s);
    return st;
  }

  template <typename Row, typename ReadFn>
  Result<std::vector<Row>> RunList(sqlite3_stmt* s, ReadFn read, const std::string& what) {
    std::vector<Row> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read(s));
    if (rc != SQLITE_DONE) {
      Status st = Error(rc, what);
      sqlite3_reset(s);
      return st;
    }
    sqlite3_reset(s);
    return out;
  }

  Status Init() {
    int rc = sqlite3_open_v2(path.c_str(), &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "open");
    sqlite3_busy_timeout(db, 5000);
    sqlite3_extended_result_codes(db, 1);
    // WAL lets other processes (backups, sqlite3 CLI) read while we write. In-memory databases
    // keep their "memory" journal.
    DOPPEL_RETURN_IF_ERROR(Exec("PRAGMA journal_mode = WAL", "set journal_mode"));
    DOPPEL_RETURN_IF_ERROR(Exec("PRAGMA synchronous = FULL", "set synchronous"));
    DOPPEL_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys = ON", "set foreign_keys"));

    int version = 0;
    {
      sqlite3_stmt* s = nullptr;
      rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
      if (rc != SQLITE_OK) return Error(rc, "read user_version");
      if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
      sqlite3_finalize(s);
    }
    if (version > kSchemaVersion) {
      return FailedPrecondition(path + ": schema version " + std::to_string(version) +
                                " is newer than this build supports (" + std::to_string(kSchemaVersion) +
                                ")");
    }
    DOPPEL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin schema transaction"));
    Status st = version == 1 ? Exec(kMigrate1To2, "migrate schema 1 -> 2") : Status::Ok();
    if (st.ok()) st = Exec(kSchema, "create schema");
    if (st.ok()) {
      st = Exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str(), "set user_version");
    }
    if (!st.ok()) {
      Exec("ROLLBACK", "rollback").ok();
      return st;
    }
    DOPPEL_RETURN_IF_ERROR(Exec("COMMIT", "commit schema"));

    for (int i = 0; i < kNumStmts; ++i) {
      std::string sql = StatementSql(i);
      rc = sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &stmts[i], nullptr);
      if (rc != SQLITE_OK) return Error(rc, "prepare \"" + sql + "\"");
    }
    return Status::Ok();
  }
};

MetadataStore::MetadataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetadataStore::~MetadataStore() = default;

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  DOPPEL_RETURN_IF_ERROR(impl->Init());
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
  if (sqlite3_changes(impl_->db) == 0) return NotFound("twin '" + id + "' not found");
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
