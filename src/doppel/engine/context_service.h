// The enterprise context over the API (docs/enterprise.md, docs/api.md "Enterprise context"):
// import work orders and design specs from a request body exactly as `doppel import` does from a
// file (every bad row reported, nothing partial applied), and a twin's context (its spec, the
// limits derived from it and its work orders) as JSON for the twin view.
//
// Plain functions over `<data_dir>/context.db` (opened per call: SQLite opens in well under a
// millisecond, and `doppel import` may write the same file from another process). Thread-safe.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "doppel/core/status.h"

namespace doppel::engine {

struct ContextImportRequest {
  std::string kind;              // "workorders" | "specs" (kInvalidArgument naming `kind` otherwise)
  std::string format;            // "csv" | "json" | "" (auto: JSON when the body starts with '[' or '{')
  std::string name = "request";  // how row errors name the input
  bool dry_run = false;
  std::function<bool(const std::string&)> twin_exists;  // unset: any twin id is accepted
};

// {"kind", "records", "applied", "dry_run", "inserted", "updated", "unchanged", "change",
//  "errors": [{"line", "item", "field", "message", "text"}]}. Row errors are in the JSON (applied
// false); the Status is an error for a bad request (kind, format, size) or a store failure.
Result<nlohmann::json> ImportContextDocument(const std::string& data_dir, const ContextImportRequest& req,
                                             std::string_view body);

// {"twin", "spec": {...} | null, "limits": [{signal, min, max, command_envelope, zero_ok, from}],
//  "workorders": [{id, kind, kind_text, status, planned_start_ns, completed_ns, description,
//  source}] by planned start}. A twin without records gets empty members, not an error.
Result<nlohmann::json> TwinContextJson(const std::string& data_dir, const std::string& twin);

}  // namespace doppel::engine
