#include "doppel/analytics/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

namespace doppel::analytics {

int CsvTable::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

Result<CsvTable> ParseCsv(std::string_view text) {
  CsvTable table;
  std::vector<std::string> row;
  std::string field;
  size_t line = 1;
  size_t i = 0;
  const size_t n = text.size();
  bool row_has_content = false;
  auto end_row = [&]() -> Status {
    row.push_back(std::move(field));
    field.clear();
    if (table.header.empty() && table.rows.empty() && !row_has_content && row.size() == 1) {
      row.clear();  // leading blank line
      return Status::Ok();
    }
    if (!row_has_content && row.size() == 1 && row[0].empty()) {
      row.clear();  // blank line
      return Status::Ok();
    }
    if (table.header.empty()) {
      table.header = std::move(row);
    } else if (row.size() != table.header.size()) {
      return InvalidArgument("line " + std::to_string(line) + ": " + std::to_string(row.size()) +
                             " fields, header has " + std::to_string(table.header.size()));
    } else {
      table.rows.push_back(std::move(row));
    }
    row.clear();
    row_has_content = false;
    return Status::Ok();
  };
  while (i < n) {
    char c = text[i];
    if (c == '"' && field.empty()) {
      // Quoted field.
      size_t start_line = line;
      ++i;
      bool closed = false;
      while (i < n) {
        char q = text[i];
        if (q == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          closed = true;
          break;
        }
        if (q == '\n') ++line;
        field.push_back(q);
        ++i;
      }
      if (!closed)
        return InvalidArgument("line " + std::to_string(start_line) + ": unterminated quoted field");
      row_has_content = true;
      if (i < n && text[i] != ',' && text[i] != '\n' && text[i] != '\r')
        return InvalidArgument("line " + std::to_string(line) + ": characters after a closing quote");
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      row_has_content = true;
      ++i;
    } else if (c == '\r' || c == '\n') {
      DOPPEL_RETURN_IF_ERROR(end_row());
      if (c == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
      ++i;
      ++line;
    } else {
      field.push_back(c);
      row_has_content = true;
      ++i;
    }
  }
  if (row_has_content || !field.empty()) DOPPEL_RETURN_IF_ERROR(end_row());
  if (table.header.empty()) return InvalidArgument("empty CSV: no header row");
  return table;
}

Result<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return IOError(path + ": read failed");
  return ss.str();
}

Result<CsvTable> ReadCsvFile(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  auto t = ParseCsv(*text);
  if (!t.ok()) return InvalidArgument(path + ": " + t.status().message());
  return t;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool ReadInt(std::string_view s, size_t pos, size_t len, int* out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (size_t k = pos; k < pos + len; ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
    v = v * 10 + (s[k] - '0');
  }
  *out = v;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<double> ParseNumber(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return InvalidArgument("empty number");
  std::string buf(s);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || !std::isfinite(v))
    return InvalidArgument("not a finite number: '" + buf + "'");
  return v;
}

Result<TimeNs> ParseTimestamp(std::string_view text) {
  std::string_view s = Trim(text);
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (s.size() >= 10 && s[4] == '-' && s[7] == '-') {
    if (!ReadInt(s, 0, 4, &y) || !ReadInt(s, 5, 2, &mo) || !ReadInt(s, 8, 2, &d))
      return InvalidArgument("bad date in timestamp '" + std::string(s) + "'");
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
      return InvalidArgument("date out of range: '" + std::string(s) + "'");
    size_t p = 10;
    int64_t frac_ns = 0;
    if (p < s.size()) {
      if (s[p] != ' ' && s[p] != 'T') return InvalidArgument("bad timestamp '" + std::string(s) + "'");
      ++p;
      if (!ReadInt(s, p, 2, &h) || p + 2 >= s.size() || s[p + 2] != ':' || !ReadInt(s, p + 3, 2, &mi))
        return InvalidArgument("bad time in timestamp '" + std::string(s) + "'");
      p += 5;
      if (p < s.size() && s[p] == ':') {
        if (!ReadInt(s, p + 1, 2, &sec)) return InvalidArgument("bad seconds in '" + std::string(s) + "'");
        p += 3;
      }
      if (p < s.size() && s[p] == '.') {
        ++p;
        int64_t scale = 100'000'000;
        while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
          frac_ns += (s[p] - '0') * scale;
          scale /= 10;
          ++p;
        }
      }
      if (p < s.size() && s[p] == 'Z') ++p;
      if (p != s.size()) return InvalidArgument("trailing characters in timestamp '" + std::string(s) + "'");
      if (h > 23 || mi > 59 || sec > 60)
        return InvalidArgument("time out of range: '" + std::string(s) + "'");
    }
    int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
    const int64_t secs = days * 86400 + int64_t{h} * 3600 + int64_t{mi} * 60 + sec;
    // Nanoseconds since the epoch in 64 bits: 1677-09-21 .. 2262-04-11.
    constexpr int64_t kMaxSecs = std::numeric_limits<TimeNs>::max() / kNsPerS - 1;
    if (secs > kMaxSecs || secs < -kMaxSecs)
      return InvalidArgument("timestamp out of range (years 1678 to 2261): '" + std::string(s) + "'");
    return secs * kNsPerS + frac_ns;
  }
  auto v = ParseNumber(s);
  if (!v.ok()) return InvalidArgument("bad timestamp '" + std::string(s) + "'");
  if (std::fabs(*v) > 9.0e9) return InvalidArgument("timestamp out of range: '" + std::string(s) + "'");
  return static_cast<TimeNs>(std::llround(*v * 1e9));
}

std::string FormatTimestamp(TimeNs t) {
  int64_t secs = t >= 0 ? t / kNsPerS : -((-t + kNsPerS - 1) / kNsPerS);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  // civil_from_days
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02u %02d:%02d:%02d", static_cast<long long>(y), m, d,
                static_cast<int>(rem / 3600), static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60));
  return buf;
}

Result<Series> ReadSeries(const CsvTable& table, std::string_view time_column, std::string_view value_column,
                          const std::string& what) {
  int tc = table.ColumnIndex(time_column);
  int vc = table.ColumnIndex(value_column);
  if (tc < 0) return InvalidArgument(what + ": no column '" + std::string(time_column) + "'");
  if (vc < 0) return InvalidArgument(what + ": no column '" + std::string(value_column) + "'");
  Series s;
  s.times.reserve(table.rows.size());
  s.values.reserve(table.rows.size());
  for (size_t r = 0; r < table.rows.size(); ++r) {
    auto t = ParseTimestamp(table.rows[r][tc]);
    if (!t.ok())
      return InvalidArgument(what + ": row " + std::to_string(r + 2) + ": " + t.status().message());
    auto v = ParseNumber(table.rows[r][vc]);
    if (!v.ok())
      return InvalidArgument(what + ": row " + std::to_string(r + 2) + ": " + v.status().message());
    s.times.push_back(*t);
    s.values.push_back(*v);
  }
  return s;
}

}  // namespace doppel::analytics
