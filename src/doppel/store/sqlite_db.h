// SqliteDb: the part every SQLite-backed store shares (store-private; the metadata store and the
// context store). It opens a database file, brings its schema to a version inside one
// transaction, prepares a fixed set of statements once, and turns SQLite result codes into
// Status values that name the file and the operation.
//
// Error mapping (CodeFor): BUSY/LOCKED -> kUnavailable, CORRUPT/NOTADB -> kCorruption, FULL ->
// kResourceExhausted, PERM/READONLY/AUTH/CANTOPEN -> kPermissionDenied, CONSTRAINT/MISMATCH/
// TOOBIG -> kInvalidArgument, anything else -> kIOError. A schema newer than the build is
// kFailedPrecondition.
//
// Not thread-safe: the owning store serializes calls with its own mutex (the connection is
// opened with SQLITE_OPEN_NOMUTEX).
#pragma once

#include <sqlite3.h>

#include <functional>
#include <string>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::store {

StatusCode CodeFor(int sqlite_rc);

// Column helpers: text (the empty string for NULL).
std::string ColumnText(sqlite3_stmt* s, int col);
// Binds text (copied).
void BindText(sqlite3_stmt* s, int i, const std::string& v);

struct SqliteSchema {
  int version = 1;            // written to PRAGMA user_version; a newer file is refused
  const char* sql = nullptr;  // CREATE ... IF NOT EXISTS statements: safe to run on any older version
  // Run first when the file is at an older, non-zero version (e.g. ALTER TABLE); may be null.
  std::function<Status(int from_version)> migrate;
  bool foreign_keys = false;  // PRAGMA foreign_keys = ON
  // PRAGMA synchronous = FULL (every commit is durable) or NORMAL (in WAL mode: a power loss may
  // lose the last commits, never corrupts; no fsync per commit).
  bool synchronous_full = true;
  int busy_timeout_ms = 5000;
};

class SqliteDb {
 public:
  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens (creating) `path` in WAL mode with schema.synchronous_full, applies `schema` in one
  // IMMEDIATE transaction and prepares `statements` (persistent; Get(i) returns the i-th).
  Status Open(const std::string& path, const SqliteSchema& schema,
              const std::vector<std::string>& statements);

  const std::string& path() const { return path_; }
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int Changes() const { return sqlite3_changes(db_); }
  // "<path>: <what>: <sqlite message>" with CodeFor(rc).
  Status Error(int rc, const std::string& what) const;
  // Runs SQL without results (several statements allowed).
  Status Exec(const char* sql, const std::string& what);
  // The i-th prepared statement, reset and with its bindings cleared.
  sqlite3_stmt* Get(int i);
  // Steps a statement that returns no rows, then resets it.
  Status RunWrite(sqlite3_stmt* s, const std::string& what);
  // Steps a query to the end, read(s) per row; resets it.
  template <typename Row, typename ReadFn>
  Result<std::vector<Row>> RunList(sqlite3_stmt* s, ReadFn read, const std::string& what) {
    std::vector<Row> out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read(s));
    Status st = rc == SQLITE_DONE ? Status::Ok() : Error(rc, what);  // before the reset clears the message
    sqlite3_reset(s);
    if (!st.ok()) return st;
    return out;
  }
  // Runs f inside BEGIN IMMEDIATE ... COMMIT; rolls back when f or the commit fails.
  Status Transaction(const std::string& what, const std::function<Status()>& f);

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
};

}  // namespace doppel::store
