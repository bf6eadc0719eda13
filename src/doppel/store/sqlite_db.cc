// SqliteDb (sqlite_db.h).
#include "doppel/store/sqlite_db.h"

#include <fmt/format.h>

namespace doppel::store {

StatusCode CodeFor(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return StatusCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return StatusCode::kCorruption;
    case SQLITE_FULL: return StatusCode::kResourceExhausted;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
    case SQLITE_CANTOPEN: return StatusCode::kPermissionDenied;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG: return StatusCode::kInvalidArgument;
    default: return StatusCode::kIOError;
  }
}

std::string ColumnText(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, col))) : std::string();
}

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

SqliteDb::~SqliteDb() {
  for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
  if (db_) sqlite3_close_v2(db_);
}

Status SqliteDb::Error(int rc, const std::string& what) const {
  const char* msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  return {CodeFor(rc), path_ + ": " + what + ": " + msg};
}

Status SqliteDb::Exec(const char* sql, const std::string& what) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return {CodeFor(rc), path_ + ": " + what + ": " + msg};
  }
  return Status::Ok();
}

sqlite3_stmt* SqliteDb::Get(int i) {
  sqlite3_stmt* s = stmts_[static_cast<size_t>(i)];
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

Status SqliteDb::RunWrite(sqlite3_stmt* s, const std::string& what) {
  const int rc = sqlite3_step(s);
  Status st = rc == SQLITE_DONE ? Status::Ok() : Error(rc, what);
  sqlite3_reset(s);
  return st;
}

Status SqliteDb::Transaction(const std::string& what, const std::function<Status()>& f) {
  DOPPEL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE", "begin " + what));
  Status st = f();
  if (st.ok()) st = Exec("COMMIT", "commit " + what);
  if (!st.ok()) Exec("ROLLBACK", "rollback").ok();
  return st;
}

Status SqliteDb::Open(const std::string& path, const SqliteSchema& schema,
                      const std::vector<std::string>& statements) {
  path_ = path;
  int rc = sqlite3_open_v2(path.c_str(), &db_,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return Error(rc, "open");
  sqlite3_busy_timeout(db_, schema.busy_timeout_ms);
  sqlite3_extended_result_codes(db_, 1);
  // WAL lets other processes (backups, the sqlite3 CLI) read while we write. In-memory databases
  // keep their "memory" journal.
  DOPPEL_RETURN_IF_ERROR(Exec("PRAGMA journal_mode = WAL", "set journal_mode"));
  DOPPEL_RETURN_IF_ERROR(
      Exec(schema.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
           "set synchronous"));
  if (schema.foreign_keys) DOPPEL_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys = ON", "set foreign_keys"));
  int version = 0;
  {
    sqlite3_stmt* s = nullptr;
    rc = sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &s, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "read user_version");
    if (sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
  }
  if (version > schema.version) {
    return FailedPrecondition(fmt::format("{}: schema version {} is newer than this build supports ({})",
                                          path, version, schema.version));
  }
  DOPPEL_RETURN_IF_ERROR(Transaction("schema transaction", [&]() -> Status {
    if (version > 0 && version < schema.version && schema.migrate)
      DOPPEL_RETURN_IF_ERROR(schema.migrate(version));
    DOPPEL_RETURN_IF_ERROR(Exec(schema.sql, "create schema"));
    return Exec(fmt::format("PRAGMA user_version = {}", schema.version).c_str(), "set user_version");
  }));
  for (const std::string& sql : statements) {
    sqlite3_stmt* s = nullptr;
    rc = sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) return Error(rc, "prepare \"" + sql + "\"");
    stmts_.push_back(s);
  }
  return Status::Ok();
}

}  // namespace doppel::store
