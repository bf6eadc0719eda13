// Internal to the context importer: CSV and JSON inputs as generic records of named cells, with
// the line each record starts on. Not a public API (context_import.h is).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/store/context_import.h"

namespace doppel::store::internal {

struct Cell {
  enum Type { kString, kInteger, kNumber, kBool, kComposite } type = kString;
  std::string text;   // kString: the text; kInteger / kNumber: the number as written
  double number = 0;  // kInteger / kNumber
};

struct Record {
  int64_t line = 0;                   // 0 when unknown
  int64_t item = -1;                  // JSON array index
  std::map<std::string, Cell> cells;  // absent values (empty CSV field, JSON null) are not here
};

struct RecordSet {
  std::vector<Record> records;
  std::vector<std::string> columns;  // CSV: the header; JSON: empty
  std::vector<RowError> errors;      // structural errors (bad header, unknown keys, bad JSON...)
};

// `known`: the field names of the kind; `wrapper`: "workorders" or "specs" (JSON).
RecordSet ReadCsvRecords(std::string_view text, const ImportOptions& o,
                         const std::vector<std::string>& known);
RecordSet ReadJsonRecords(std::string_view text, const ImportOptions& o,
                          const std::vector<std::string>& known, const std::string& wrapper);

}  // namespace doppel::store::internal
