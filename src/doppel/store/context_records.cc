// CSV and JSON inputs of the context importer as records of named cells (context_records.h).
#include "doppel/store/context_records.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

namespace doppel::store::internal {
namespace {

constexpr int kMaxJsonDepth = 8;

RowError Err(const ImportOptions& o, int64_t line, std::string field, std::string message,
             int64_t item = -1) {
  return RowError{o.name, line, item, std::move(field), std::move(message)};
}

bool Known(const std::vector<std::string>& known, const std::string& name) {
  return std::find(known.begin(), known.end(), name) != known.end();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct CsvRow {
  int64_t line = 0;
  std::vector<std::string> fields;
};

// RFC 4180 records. Stops at the first structural error (unterminated quote, text after a
// closing quote), which it appends to `errors`; blank lines are skipped.
std::vector<CsvRow> SplitCsv(std::string_view t, const ImportOptions& o, std::vector<RowError>* errors) {
  std::vector<CsvRow> rows;
  size_t i = 0;
  int64_t line = 1;
  if (t.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
  const size_t n = t.size();
  while (i < n) {
    if (t[i] == '\n' || (t[i] == '\r' && i + 1 < n && t[i + 1] == '\n')) {  // blank line
      i += t[i] == '\r' ? 2 : 1;
      ++line;
      continue;
    }
    if (rows.size() > o.max_rows) {  // the header plus max_rows records
      errors->push_back(Err(o, line, "", fmt::format("more than {} records (max_rows)", o.max_rows)));
      return rows;
    }
    CsvRow row{line, {}};
    for (;;) {
      std::string field;
      size_t j = i;
      while (j < n && (t[j] == ' ' || t[j] == '\t')) ++j;
      if (j < n && t[j] == '"') {
        i = j + 1;
        const int64_t open_line = line;
        for (;;) {
          if (i >= n) {
            errors->push_back(Err(o, open_line, "", "unterminated quoted field"));
            return rows;
          }
          if (t[i] == '"') {
            if (i + 1 < n && t[i + 1] == '"') {
              field += '"';
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          if (t[i] == '\n') ++line;
          field += t[i++];
        }
        while (i < n && (t[i] == ' ' || t[i] == '\t')) ++i;
        if (i < n && t[i] != ',' && t[i] != '\n' && !(t[i] == '\r' && i + 1 < n && t[i + 1] == '\n')) {
          errors->push_back(
              Err(o, line, "", "text after a closing quote (quote the whole field, \"\" for a quote)"));
          return rows;
        }
      } else {
        size_t e = i;
        while (e < n && t[e] != ',' && t[e] != '\n') ++e;
        std::string_view raw = t.substr(i, e - i);
        if (!raw.empty() && raw.back() == '\r' && (e == n || t[e] == '\n')) raw.remove_suffix(1);
        field = std::string(Trim(raw));
        i = e;
      }
      row.fields.push_back(std::move(field));
      if (i < n && t[i] == ',') {
        ++i;
        continue;
      }
      if (i < n && t[i] == '\r') ++i;
      if (i < n && t[i] == '\n') {
        ++i;
        ++line;
      }
      break;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

// A character iterator that counts the newlines consumed, so the JSON parse callback knows the
// line an object starts on.
class LineCountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  LineCountingIterator(const char* p, int64_t* newlines) : p_(p), newlines_(newlines) {}
  reference operator*() const { return *p_; }
  LineCountingIterator& operator++() {
    if (*p_ == '\n') ++*newlines_;
    ++p_;
    return *this;
  }
  LineCountingIterator operator++(int) {
    auto old = *this;
    ++*this;
    return old;
  }
  friend bool operator==(const LineCountingIterator& a, const LineCountingIterator& b) {
    return a.p_ == b.p_;
  }
  friend bool operator!=(const LineCountingIterator& a, const LineCountingIterator& b) {
    return a.p_ != b.p_;
  }

 private:
  const char* p_;
  int64_t* newlines_;
};

Cell ToCell(const nlohmann::json& v) {
  Cell c;
  if (v.is_string()) {
    c.text = v.get<std::string>();
  } else if (v.is_number_integer()) {
    c.type = Cell::kInteger;
    c.text = v.dump();
    c.number = v.get<double>();
  } else if (v.is_number()) {
    c.type = Cell::kNumber;
    c.text = v.dump();
    c.number = v.get<double>();
  } else if (v.is_boolean()) {
    c.type = Cell::kBool;
    c.text = v.get<bool>() ? "true" : "false";
  } else {
    c.type = Cell::kComposite;
    c.text = v.is_array() ? "array" : "object";
  }
  return c;
}

}  // namespace

RecordSet ReadCsvRecords(std::string_view text, const ImportOptions& o,
                         const std::vector<std::string>& known) {
  RecordSet out;
  std::vector<CsvRow> rows = SplitCsv(text, o, &out.errors);
  if (rows.empty()) {
    if (out.errors.empty()) out.errors.push_back(Err(o, 0, "", "no header row"));
    return out;
  }
  const CsvRow& header = rows.front();
  std::set<std::string> seen;
  for (size_t c = 0; c < header.fields.size(); ++c) {
    const std::string& name = header.fields[c];
    if (name.empty()) {
      out.errors.push_back(Err(o, header.line, "", fmt::format("column {} has no name", c + 1)));
    } else if (!Known(known, name)) {
      out.errors.push_back(Err(o, header.line, "", fmt::format("unknown column '{}'", name.substr(0, 64))));
    } else if (!seen.insert(name).second) {
      out.errors.push_back(Err(o, header.line, "", fmt::format("column '{}' appears twice", name)));
    }
  }
  out.columns = header.fields;
  for (size_t r = 1; r < rows.size(); ++r) {
    const CsvRow& row = rows[r];
    if (row.fields.size() != header.fields.size()) {
      out.errors.push_back(
          Err(o, row.line, "",
              fmt::format("{} fields, the header has {}", row.fields.size(), header.fields.size())));
      continue;
    }
    Record rec;
    rec.line = row.line;
    for (size_t c = 0; c < row.fields.size(); ++c) {
      if (row.fields[c].empty() || !Known(known, header.fields[c])) continue;
      rec.cells.emplace(header.fields[c], Cell{Cell::kString, row.fields[c], 0});
    }
    out.records.push_back(std::move(rec));
  }
  return out;
}

RecordSet ReadJsonRecords(std::string_view text, const ImportOptions& o,
                          const std::vector<std::string>& known, const std::string& wrapper) {
  RecordSet out;
  int64_t newlines = 0;
  std::vector<int64_t> lines_at[3];  // object start lines at depth 1 and 2
  bool too_deep = false;
  nlohmann::json doc;
  try {
    auto cb = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json&) {
      if (ev == nlohmann::json::parse_event_t::object_start ||
          ev == nlohmann::json::parse_event_t::array_start) {
        if (depth > kMaxJsonDepth) {
          too_deep = true;
          return false;
        }
        if (ev == nlohmann::json::parse_event_t::object_start && (depth == 1 || depth == 2)) {
          lines_at[depth].push_back(newlines + 1);
        }
      }
      return true;
    };
    doc = nlohmann::json::parse(LineCountingIterator(text.data(), &newlines),
                                LineCountingIterator(text.data() + text.size(), &newlines), cb);
  } catch (const nlohmann::json::parse_error& e) {
    const size_t at = std::min(text.size(), static_cast<size_t>(e.byte > 0 ? e.byte - 1 : 0));
    const int64_t line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    std::string what = e.what();
    if (auto p = what.find("syntax error"); p != std::string::npos) what = what.substr(p);
    out.errors.push_back(Err(o, line, "", "invalid JSON: " + what));
    return out;
  } catch (const nlohmann::json::exception& e) {  // e.g. out_of_range: a number too large for a double
    std::string what = e.what();
    if (auto p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    out.errors.push_back(Err(o, 0, "", "invalid JSON: " + what.substr(0, 200)));
    return out;
  }
  if (too_deep) {
    out.errors.push_back(Err(o, 0, "", fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth)));
    return out;
  }
  const nlohmann::json* array = nullptr;
  const std::vector<int64_t>* lines = nullptr;
  const std::string shape = fmt::format("expected an array of objects or {{\"{}\": [...]}}", wrapper);
  if (doc.is_array()) {
    array = &doc;
    lines = &lines_at[1];
  } else if (doc.is_object()) {
    for (const auto& [key, value] : doc.items()) {
      if (key != wrapper) {
        out.errors.push_back(Err(o, 1, "", fmt::format("{}, found key '{}'", shape, key.substr(0, 64))));
      }
    }
    auto it = doc.find(wrapper);
    if (it == doc.end() || !it->is_array()) {
      if (out.errors.empty()) out.errors.push_back(Err(o, 1, "", shape));
      return out;
    }
    array = &*it;
    lines = &lines_at[2];
  } else {
    out.errors.push_back(Err(o, 1, "", shape));
    return out;
  }
  if (array->size() > o.max_rows) {
    out.errors.push_back(
        Err(o, 0, "", fmt::format("{} records, more than {} (max_rows)", array->size(), o.max_rows)));
    return out;
  }
  size_t next_line = 0;
  for (size_t k = 0; k < array->size(); ++k) {
    const auto& v = (*array)[k];
    const auto item = static_cast<int64_t>(k);
    if (!v.is_object()) {
      out.errors.push_back(Err(o, 0, "", fmt::format("expected an object, found {}", v.type_name()), item));
      continue;
    }
    Record rec;
    rec.item = item;
    rec.line = next_line < lines->size() ? (*lines)[next_line] : 0;
    ++next_line;
    for (const auto& [key, value] : v.items()) {
      if (!Known(known, key)) {
        out.errors.push_back(Err(o, rec.line, key.substr(0, 64), "unknown field", item));
        continue;
      }
      if (value.is_null()) continue;
      rec.cells.emplace(key, ToCell(value));
    }
    out.records.push_back(std::move(rec));
  }
  return out;
}

}  // namespace doppel::store::internal
