// Importing enterprise context (work orders, design specs) from CSV or JSON (docs/enterprise.md).
//
// CSV: a header row naming the fields (any order, each at most once; unknown names are an
// error), then one record per row; RFC 4180 quoting ("" inside quotes is one quote, quoted fields
// may span lines), LF or CRLF, an optional UTF-8 BOM; unquoted fields are trimmed of spaces and
// an empty field is an absent value.
// JSON: an array of objects, or {"workorders": [...]} / {"specs": [...]}; null is absent.
// Times: RFC 3339 or integer ns since the epoch (context_time.h). Work-order kind and status are
// case-insensitive, with spaces or hyphens for underscores ("Impeller replacement"); an unknown
// kind is kept as kind "other" with the text in kind_text.
//
// Validation reports EVERY bad row, each with its line (the line a CSV record or JSON object
// starts on): "workorders.csv line 7: completed_ns: 2024-03-01T08:00:00Z must not be before
// planned_start_ns 2024-03-02T08:00:00Z". A file with any error applies nothing. The parsers
// never crash or hang on any input (fuzz/context_import_fuzz.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/store/context_store.h"

namespace doppel::store {

enum class ContextKind { kWorkOrders, kSpecs };
enum class ImportFormat { kAuto, kCsv, kJson };

// "workorders" | "specs".
Result<ContextKind> ParseContextKind(std::string_view name);
const char* ContextKindName(ContextKind k);

struct ImportOptions {
  // kAuto: by the name's extension (.csv / .json), else JSON when the first non-blank byte is
  // '[' or '{', else CSV.
  ImportFormat format = ImportFormat::kAuto;
  std::string name = "input";    // how messages name the input, e.g. the file name
  size_t max_bytes = 16u << 20;  // larger inputs are rejected whole. >= 1
  size_t max_rows = 100000;      // >= 1
  size_t max_errors = 1000;      // errors past this are counted, not listed. >= 1
  // Fills `source` of rows that have none (e.g. "workorders.csv"); empty leaves it empty.
  std::string default_source;
  // When set, a row whose twin it rejects is an error ("twin: unknown twin 'pump-9'").
  std::function<bool(const std::string&)> twin_exists;

  Status Validate() const;
};

struct RowError {
  std::string name;   // ImportOptions::name
  int64_t line = 0;   // 1-based; 0: the input as a whole
  int64_t item = -1;  // JSON: index in the array; -1 for CSV or the input as a whole
  std::string field;  // empty when the error is not about one field
  std::string message;
  // "workorders.csv line 7: completed_ns: ..." / "specs.json line 12 (item 3): ..." / "x.csv: ..."
  std::string ToString() const;
};

template <typename Row>
struct ParsedRows {
  std::vector<Row> rows;         // the valid rows, in input order
  std::vector<int64_t> lines;    // line of each row in `rows`
  std::vector<RowError> errors;  // at most max_errors (+1 "... more" entry)
  int64_t records = 0;           // records seen, valid or not
  bool ok() const { return errors.empty(); }
};

ParsedRows<WorkOrder> ParseWorkOrders(std::string_view text, const ImportOptions& options);
ParsedRows<DesignSpec> ParseSpecs(std::string_view text, const ImportOptions& options);

// Reads a file for import; InvalidArgument when larger than max_bytes (before reading it).
Result<std::string> ReadImportFile(const std::string& path, size_t max_bytes);

struct ImportOutcome {
  int64_t records = 0;           // records in the input
  std::vector<RowError> errors;  // non-empty: nothing was applied
  bool applied = false;          // false on errors and on dry runs
  UpsertSummary summary;         // when applied
};

// Parses and validates `text` as `kind`, then, when there is no error and !dry_run, applies every
// row to `store` in one transaction. Row errors are in the outcome; the Status is an error only
// for bad options or when the store fails (then nothing was applied either).
Result<ImportOutcome> ImportContext(ContextStore* store, ContextKind kind, std::string_view text,
                                    const ImportOptions& options, bool dry_run);

}  // namespace doppel::store
