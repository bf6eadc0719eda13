#include "doppel/store/context_import.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "doppel/store/context_records.h"
#include "doppel/store/context_time.h"

namespace doppel::store {
namespace {

using internal::Cell;
using internal::Record;

const std::vector<std::string> kWorkOrderFields = {
    "id", "twin", "kind", "kind_text", "status", "planned_start_ns", "completed_ns", "description", "source"};
const std::vector<std::string> kSpecFields = {"twin",
                                              "model",
                                              "manufacturer",
                                              "serial_number",
                                              "rated_flow_m3h",
                                              "rated_head_m",
                                              "rated_power_kw",
                                              "min_speed_rpm",
                                              "max_speed_rpm",
                                              "max_motor_temp_c",
                                              "max_vibration_mm_s",
                                              "rated_speed_rpm",
                                              "min_flow_m3h",
                                              "max_flow_m3h",
                                              "max_discharge_pressure_bar",
                                              "max_power_kw",
                                              "source"};

// Fields whose rules do not depend on other fields.
const std::set<std::string> kIndependentFields = {"id",     "twin",  "kind_text",    "description",
                                                  "source", "model", "manufacturer", "serial_number"};

// Decodes the cells of one record, collecting field errors.
class Decoder {
 public:
  Decoder(const Record& r, const std::set<std::string>& missing_columns, std::vector<RowError>* errors,
          const ImportOptions& o)
      : r_(r), missing_(missing_columns), errors_(errors), o_(o) {}

  void Error(const std::string& field, std::string message) {
    errors_->push_back(RowError{o_.name, r_.line, r_.item, field, std::move(message)});
    failed_.insert(field);
    ok_ = false;
  }
  bool ok() const { return ok_; }
  bool Failed(const std::string& field) const { return failed_.count(field) > 0; }

  const Cell* Get(const std::string& field, bool required) {
    auto it = r_.cells.find(field);
    if (it != r_.cells.end()) return &it->second;
    if (required && !missing_.count(field)) Error(field, "required");
    if (required) ok_ = false;
    return nullptr;
  }

  std::string Text(const std::string& field, bool required) {
    const Cell* c = Get(field, required);
    if (!c) return "";
    if (c->type == Cell::kString || c->type == Cell::kInteger) return c->text;
    Error(field, fmt::format("must be a string, found {}", c->text.substr(0, 40)));
    return "";
  }

  // Lower case, spaces and hyphens as underscores.
  std::string Name(const std::string& field, bool required) {
    std::string s = Text(field, required);
    for (char& ch : s) {
      if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      if (ch == ' ' || ch == '-') ch = '_';
    }
    return s;
  }

  std::optional<double> Number(const std::string& field, bool required) {
    const Cell* c = Get(field, required);
    if (!c) return std::nullopt;
    if (c->type == Cell::kInteger || c->type == Cell::kNumber) return c->number;
    if (c->type == Cell::kString) {
      double v = 0;
      const char* b = c->text.data();
      const char* e = b + c->text.size();
      if (b != e && *b == '+') ++b;
      auto [end, ec] = std::from_chars(b, e, v);
      if (ec == std::errc() && end == e && std::isfinite(v)) return v;
    }
    Error(field, fmt::format("'{}' is not a number", c->text.substr(0, 40)));
    return std::nullopt;
  }

  std::optional<int64_t> Time(const std::string& field, bool required) {
    const Cell* c = Get(field, required);
    if (!c) return std::nullopt;
    if (c->type == Cell::kString || c->type == Cell::kInteger) {
      auto t = ParseContextTime(c->text);
      if (t.ok()) return *t;
      Error(field, t.status().message());
      return std::nullopt;
    }
    Error(field, fmt::format("{} is not an RFC 3339 string or integer ns", c->text.substr(0, 40)));
    return std::nullopt;
  }

 private:
  const Record& r_;
  const std::set<std::string>& missing_;
  std::vector<RowError>* errors_;
  const ImportOptions& o_;
  std::set<std::string> failed_;
  bool ok_ = true;
};

WorkOrder DecodeWorkOrder(Decoder& d) {
  WorkOrder w;
  w.id = d.Text("id", true);
  w.twin = d.Text("twin", true);
  const std::string kind = d.Name("kind", true);
  w.kind_text = d.Text("kind_text", false);
  if (!kind.empty()) {
    if (auto k = ParseWorkOrderKind(kind)) {
      w.kind = *k;
    } else {
      w.kind = WorkOrderKind::kOther;
      if (!w.kind_text.empty()) {
        d.Error("kind",
                fmt::format("'{}' is not a known kind, and kind_text is set too", kind.substr(0, 40)));
      }
      w.kind_text = d.Text("kind", true);
    }
  }
  const std::string status = d.Name("status", true);
  if (!status.empty()) {
    if (auto s = ParseWorkOrderStatus(status)) {
      w.status = *s;
    } else {
      d.Error("status",
              fmt::format("'{}' is not planned, in_progress, completed or cancelled", status.substr(0, 40)));
    }
  }
  w.planned_start_ns = d.Time("planned_start_ns", true).value_or(0);
  w.completed_ns = d.Time("completed_ns", false);
  w.description = d.Text("description", false);
  w.source = d.Text("source", false);
  return w;
}

DesignSpec DecodeSpec(Decoder& d) {
  DesignSpec s;
  s.twin = d.Text("twin", true);
  s.model = d.Text("model", false);
  s.manufacturer = d.Text("manufacturer", false);
  s.serial_number = d.Text("serial_number", false);
  s.rated_flow_m3h = d.Number("rated_flow_m3h", true).value_or(0);
  s.rated_head_m = d.Number("rated_head_m", true).value_or(0);
  s.rated_power_kw = d.Number("rated_power_kw", true).value_or(0);
  s.min_speed_rpm = d.Number("min_speed_rpm", true).value_or(0);
  s.max_speed_rpm = d.Number("max_speed_rpm", true).value_or(0);
  s.max_motor_temp_c = d.Number("max_motor_temp_c", true).value_or(0);
  s.max_vibration_mm_s = d.Number("max_vibration_mm_s", true).value_or(0);
  s.rated_speed_rpm = d.Number("rated_speed_rpm", false);
  s.min_flow_m3h = d.Number("min_flow_m3h", false);
  s.max_flow_m3h = d.Number("max_flow_m3h", false);
  s.max_discharge_pressure_bar = d.Number("max_discharge_pressure_bar", false);
  s.max_power_kw = d.Number("max_power_kw", false);
  s.source = d.Text("source", false);
  return s;
}

bool LooksLikeJson(std::string_view t) {
  if (t.substr(0, 3) == "\xEF\xBB\xBF") t.remove_prefix(3);
  for (char c : t) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '[' || c == '{';
  }
  return false;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    char c = s[s.size() - suffix.size() + i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != suffix[i]) return false;
  }
  return true;
}

const std::string& KeyOf(const WorkOrder& w) { return w.id; }
const std::string& KeyOf(const DesignSpec& s) { return s.twin; }
const char* KeyField(const WorkOrder&) { return "id"; }
const char* KeyField(const DesignSpec&) { return "twin"; }

// Shared driver: records -> decoded rows -> rules, twins, duplicate keys; errors capped.
template <typename Row, typename DecodeFn, typename CheckFn>
ParsedRows<Row> Parse(std::string_view text, const ImportOptions& o, const std::vector<std::string>& fields,
                      const std::string& wrapper, const std::vector<std::string>& required, DecodeFn decode,
                      CheckFn check) {
  ParsedRows<Row> out;
  std::vector<RowError> errors;
  if (Status st = o.Validate(); !st.ok()) {
    errors.push_back(RowError{o.name, 0, -1, "", st.message()});
  } else if (text.size() > o.max_bytes) {
    errors.push_back(RowError{o.name, 0, -1, "",
                              fmt::format("{} bytes, more than {} (max_bytes)", text.size(), o.max_bytes)});
  } else {
    const bool json = o.format == ImportFormat::kJson ||
                      (o.format == ImportFormat::kAuto &&
                       (EndsWith(o.name, ".json") || (!EndsWith(o.name, ".csv") && LooksLikeJson(text))));
    internal::RecordSet set = json ? internal::ReadJsonRecords(text, o, fields, wrapper)
                                   : internal::ReadCsvRecords(text, o, fields);
    errors = std::move(set.errors);
    std::set<std::string> missing;
    if (!json) {
      for (const auto& f : required) {
        if (std::find(set.columns.begin(), set.columns.end(), f) == set.columns.end()) {
          missing.insert(f);
          errors.push_back(RowError{o.name, 1, -1, "", fmt::format("missing required column '{}'", f)});
        }
      }
    }
    out.records = static_cast<int64_t>(set.records.size());
    if (set.records.empty() && errors.empty()) errors.push_back(RowError{o.name, 0, -1, "", "no records"});
    std::map<std::string, int64_t> first_line;
    for (const Record& r : set.records) {
      Decoder d(r, missing, &errors, o);
      Row row = decode(d);
      if (row.source.empty()) row.source = o.default_source;
      // A row whose fields all decoded gets every rule; otherwise only the rules of its text fields,
      // which do not depend on the others (a failed number must not cause follow-up errors).
      const bool decoded = d.ok();
      for (const std::string& e : check(row)) {
        const size_t colon = e.find(": ");
        const std::string field = colon == std::string::npos ? "" : e.substr(0, colon);
        if (d.Failed(field) || missing.count(field) || (!decoded && !kIndependentFields.count(field)))
          continue;
        d.Error(field, colon == std::string::npos ? e : e.substr(colon + 2));
      }
      if (o.twin_exists && IsValidTwinId(row.twin) && !o.twin_exists(row.twin)) {
        d.Error("twin", fmt::format("unknown twin '{}'", row.twin));
      }
      if (!KeyOf(row).empty()) {
        auto [it, fresh] = first_line.emplace(KeyOf(row), r.line);
        if (!fresh) {
          d.Error(KeyField(row),
                  fmt::format("'{}' appears again (first on line {})", KeyOf(row), it->second));
        }
      }
      if (!d.ok()) continue;
      out.rows.push_back(std::move(row));
      out.lines.push_back(r.line);
    }
  }
  std::stable_sort(errors.begin(), errors.end(),
                   [](const RowError& a, const RowError& b) { return a.line < b.line; });
  if (errors.size() > o.max_errors && o.max_errors > 0) {
    const size_t more = errors.size() - o.max_errors;
    errors.resize(o.max_errors);
    errors.push_back(RowError{o.name, 0, -1, "", fmt::format("... and {} more errors", more)});
  }
  out.errors = std::move(errors);
  if (!out.errors.empty()) {
    out.rows.clear();
    out.lines.clear();
  }
  return out;
}

}  // namespace

Result<ContextKind> ParseContextKind(std::string_view name) {
  if (name == "workorders") return ContextKind::kWorkOrders;
  if (name == "specs") return ContextKind::kSpecs;
  return InvalidArgument(fmt::format("--kind: '{}' is not workorders or specs", name.substr(0, 40)));
}

const char* ContextKindName(ContextKind k) { return k == ContextKind::kWorkOrders ? "workorders" : "specs"; }

Status ImportOptions::Validate() const {
  if (max_bytes < 1) return InvalidArgument("max_bytes: must be >= 1");
  if (max_rows < 1) return InvalidArgument("max_rows: must be >= 1");
  if (max_errors < 1) return InvalidArgument("max_errors: must be >= 1");
  if (default_source.size() > 256) return InvalidArgument("default_source: more than 256 bytes");
  return Status::Ok();
}

std::string RowError::ToString() const {
  std::string out = name;
  if (line > 0) out += fmt::format(" line {}", line);
  if (item >= 0) out += fmt::format(" (item {})", item);
  out += ": ";
  if (!field.empty()) out += field + ": ";
  return out + message;
}

ParsedRows<WorkOrder> ParseWorkOrders(std::string_view text, const ImportOptions& options) {
  return Parse<WorkOrder>(text, options, kWorkOrderFields, "workorders",
                          {"id", "twin", "kind", "status", "planned_start_ns"}, DecodeWorkOrder,
                          CheckWorkOrder);
}

ParsedRows<DesignSpec> ParseSpecs(std::string_view text, const ImportOptions& options) {
  return Parse<DesignSpec>(text, options, kSpecFields, "specs",
                           {"twin", "rated_flow_m3h", "rated_head_m", "rated_power_kw", "min_speed_rpm",
                            "max_speed_rpm", "max_motor_temp_c", "max_vibration_mm_s"},
                           DecodeSpec, CheckDesignSpec);
}

Result<std::string> ReadImportFile(const std::string& path, size_t max_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return IOError(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return InvalidArgument(
        fmt::format("{}: {} bytes, more than {} (max_bytes)", path, st.st_size, max_bytes));
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return IOError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return IOError(path + ": read failed");
  std::string text = ss.str();
  if (text.size() > max_bytes)
    return InvalidArgument(fmt::format("{}: more than {} bytes (max_bytes)", path, max_bytes));
  return text;
}

Result<ImportOutcome> ImportContext(ContextStore* store, ContextKind kind, std::string_view text,
                                    const ImportOptions& options, bool dry_run) {
  if (store == nullptr && !dry_run)
    throw std::invalid_argument("ImportContext: null store and not a dry run");
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  ImportOutcome out;
  auto finish = [&](auto parsed, auto upsert) -> Result<ImportOutcome> {
    out.records = parsed.records;
    out.errors = std::move(parsed.errors);
    if (!out.errors.empty() || dry_run) return out;
    auto sum = upsert(parsed.rows);
    if (!sum.ok()) return sum.status();
    out.applied = true;
    out.summary = *sum;
    return out;
  };
  if (kind == ContextKind::kWorkOrders) {
    return finish(ParseWorkOrders(text, options),
                  [&](const auto& rows) { return store->UpsertWorkOrders(rows); });
  }
  return finish(ParseSpecs(text, options), [&](const auto& rows) { return store->UpsertSpecs(rows); });
}

}  // namespace doppel::store
