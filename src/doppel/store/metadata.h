// MetadataStore: twins, commands and control modes in SQLite (WAL journal mode, synchronous=FULL).
// Schema 2 (commands.source, control_modes); a schema 1 database is migrated on open.
//
// Rows are plain data so the store does not depend on the engine; JSON columns hold whatever
// text the caller serialised (the store does not parse them). Times are int64 ns since epoch.
//
// Thread safety: every method may be called from any thread; calls are serialised by a mutex
// (the workload is small: twin and command changes, not telemetry).
// Durability: a Put that returned OK survives a crash and a power loss (fsync per commit).
// Errors: kNotFound for a missing id; kIOError / kCorruption / kUnavailable (database busy)
// carrying SQLite's message, prefixed with the database path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::store {

struct TwinRow {
  std::string id;
  std::string model;  // DTMI
  std::string desired_json = "{}";
  std::string reported_json = "{}";
  std::string relationships_json = "[]";
  int64_t created_ns = 0;

  friend bool operator==(const TwinRow&, const TwinRow&) = default;
};

struct CommandRow {
  std::string id;
  std::string twin;
  std::string name;
  std::string request_json = "{}";
  std::string status;  // "proposed", "approved", "sent", "acked", ... (schema 1 also "pending")
  std::string reason;
  std::string issued_by;
  std::string source = "operator";  // operator | api | mpc (schema 2; schema 1 rows read "operator")
  std::string history_json = "[]";  // the audit log: [{"status","who","at_ns","why"}, ...]
  int64_t created_ns = 0;
  int64_t updated_ns = 0;

  friend bool operator==(const CommandRow&, const CommandRow&) = default;
};

struct ControlModeRow {
  std::string twin;
  std::string mode;  // advisory | approve | auto
  std::string set_by;
  int64_t set_ns = 0;

  friend bool operator==(const ControlModeRow&, const ControlModeRow&) = default;
};

class MetadataStore {
 public:
  // Opens or creates the database at `path` (":memory:" for a private in-memory database) and
  // creates, checks or migrates the schema (1 -> 2 in one transaction). kFailedPrecondition for
  // a database written by a newer schema.
  static Result<std::unique_ptr<MetadataStore>> Open(const std::string& path);
  ~MetadataStore();
  MetadataStore(const MetadataStore&) = delete;
  MetadataStore& operator=(const MetadataStore&) = delete;

  // Twins. Put inserts or replaces the row with the same id.
  Status PutTwin(const TwinRow& row);
  Result<TwinRow> GetTwin(const std::string& id);
  Status DeleteTwin(const std::string& id);  // kNotFound when absent
  Result<std::vector<TwinRow>> ListTwins();  // sorted by id

  // Commands. Put inserts or replaces the row with the same id.
  Status PutCommand(const CommandRow& row);
  Result<CommandRow> GetCommand(const std::string& id);
  // Sorted by (created_ns, id).
  Result<std::vector<CommandRow>> ListCommandsByTwin(const std::string& twin);
  Result<std::vector<CommandRow>> ListCommandsByStatus(const std::string& status);
  Result<std::vector<CommandRow>> ListCommands();  // every command, sorted by (created_ns, id)

  // Per-twin control-mode overrides (set through the API). Put inserts or replaces.
  Status PutControlMode(const ControlModeRow& row);
  Result<std::vector<ControlModeRow>> ListControlModes();  // sorted by twin

 private:
  struct Impl;
  explicit MetadataStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::store
