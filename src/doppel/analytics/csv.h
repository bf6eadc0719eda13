// CSV tables and timestamps for the analytics commands and benches.
//
// The parser accepts RFC 4180-style CSV: comma separated, optional double quotes around a field
// ("" inside quotes is one quote), LF or CRLF line ends, a header row. Malformed input (an
// unterminated quote, a row with the wrong number of fields) is an InvalidArgument naming the
// line, never a crash: the parser is fuzzed (fuzz/csv_fuzz.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;  // each row has header.size() fields

  // Index of the column named `name`, or -1.
  int ColumnIndex(std::string_view name) const;
};

Result<CsvTable> ParseCsv(std::string_view text);
Result<std::string> ReadTextFile(const std::string& path);
Result<CsvTable> ReadCsvFile(const std::string& path);

// "2014-04-01 00:00:00", "2014-04-01T00:00:00Z", with optional fractional seconds, as UTC; or
// a plain number (seconds since the epoch). Returns nanoseconds since the epoch.
Result<TimeNs> ParseTimestamp(std::string_view text);
// Formats as "YYYY-MM-DD HH:MM:SS" (NAB's layout), UTC.
std::string FormatTimestamp(TimeNs t);
// A finite double, or InvalidArgument.
Result<double> ParseNumber(std::string_view text);

// A time series: strictly what a detector sees.
struct Series {
  std::vector<TimeNs> times;
  std::vector<double> values;
};

// Reads `time_column` and `value_column` of a CSV file into a Series (rows in file order).
Result<Series> ReadSeries(const CsvTable& table, std::string_view time_column, std::string_view value_column,
                          const std::string& what);

}  // namespace doppel::analytics
