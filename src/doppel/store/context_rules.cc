// Row rules of work orders and design specs, SpecLimits, and context times.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <ctime>
#include <limits>

#include "doppel/store/context_store.h"
#include "doppel/store/context_time.h"

namespace doppel::store {
namespace {

constexpr size_t kMaxIdBytes = 128;
constexpr size_t kMaxKindTextBytes = 64;
constexpr size_t kMaxDescriptionBytes = 4096;
constexpr size_t kMaxSourceBytes = 256;
constexpr size_t kMaxNameBytes = 128;
constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr int64_t kMinEpochNsInteger = 100'000'000'000'000'000;  // 1e17 ns = 1973-03-03

// Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Appends "field: rule" for a text field breaking its length, encoding or character rules.
void CheckText(std::vector<std::string>* out, const char* field, std::string_view v, size_t max_bytes,
               bool multiline) {
  if (v.size() > max_bytes) {
    out->push_back(fmt::format("{}: {} bytes, at most {}", field, v.size(), max_bytes));
    return;
  }
  if (!IsUtf8(v)) {
    out->push_back(fmt::format("{}: not valid UTF-8", field));
    return;
  }
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    const bool allowed_ws = multiline && (c == '\n' || c == '\r' || c == '\t');
    if ((c < 0x20 && !allowed_ws) || c == 0x7F) {
      out->push_back(fmt::format("{}: control character 0x{:02x}", field, c));
      return;
    }
  }
}

void CheckId(std::vector<std::string>* out, const char* field, std::string_view v) {
  if (v.empty()) {
    out->push_back(fmt::format("{}: required", field));
    return;
  }
  CheckText(out, field, v, kMaxIdBytes, false);
}

void CheckTwin(std::vector<std::string>* out, std::string_view twin) {
  if (twin.empty()) {
    out->push_back("twin: required");
  } else if (!IsValidTwinId(twin)) {
    out->push_back(fmt::format("twin: '{}' is not a twin id ([A-Za-z0-9._:-], at most {} bytes)",
                               twin.substr(0, kMaxIdBytes), kMaxIdBytes));
  }
}

// `v` finite and within [lo, hi] (lo_open / hi_open make the bound exclusive).
void CheckRange(std::vector<std::string>* out, const char* field, double v, double lo, bool lo_open,
                double hi, bool hi_open) {
  if (!std::isfinite(v)) {
    out->push_back(fmt::format("{}: must be a finite number", field));
    return;
  }
  const bool low = lo_open ? !(v > lo) : !(v >= lo);
  const bool high = hi_open ? !(v < hi) : !(v <= hi);
  if (low || high) {
    out->push_back(fmt::format("{}: {} is outside {}{}, {}{}", field, v, lo_open ? "(" : "[", lo, hi,
                               hi_open ? ")" : "]"));
  }
}

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace

const char* WorkOrderKindName(WorkOrderKind k) {
  switch (k) {
    case WorkOrderKind::kInspection: return "inspection";
    case WorkOrderKind::kImpellerReplacement: return "impeller_replacement";
    case WorkOrderKind::kBearingReplacement: return "bearing_replacement";
    case WorkOrderKind::kSealReplacement: return "seal_replacement";
    case WorkOrderKind::kOther: return "other";
  }
  return "other";
}

const char* WorkOrderStatusName(WorkOrderStatus s) {
  switch (s) {
    case WorkOrderStatus::kPlanned: return "planned";
    case WorkOrderStatus::kInProgress: return "in_progress";
    case WorkOrderStatus::kCompleted: return "completed";
    case WorkOrderStatus::kCancelled: return "cancelled";
  }
  return "planned";
}

std::optional<WorkOrderKind> ParseWorkOrderKind(std::string_view name) {
  for (auto k :
       {WorkOrderKind::kInspection, WorkOrderKind::kImpellerReplacement, WorkOrderKind::kBearingReplacement,
        WorkOrderKind::kSealReplacement, WorkOrderKind::kOther}) {
    if (name == WorkOrderKindName(k)) return k;
  }
  return std::nullopt;
}

std::optional<WorkOrderStatus> ParseWorkOrderStatus(std::string_view name) {
  for (auto s : {WorkOrderStatus::kPlanned, WorkOrderStatus::kInProgress, WorkOrderStatus::kCompleted,
                 WorkOrderStatus::kCancelled}) {
    if (name == WorkOrderStatusName(s)) return s;
  }
  return std::nullopt;
}

bool IsValidTwinId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::vector<std::string> CheckWorkOrder(const WorkOrder& w) {
  std::vector<std::string> out;
  CheckId(&out, "id", w.id);
  CheckTwin(&out, w.twin);
  if (w.kind != WorkOrderKind::kOther && !w.kind_text.empty()) {
    out.push_back(fmt::format("kind_text: set but kind is '{}'", WorkOrderKindName(w.kind)));
  }
  CheckText(&out, "kind_text", w.kind_text, kMaxKindTextBytes, false);
  if (w.planned_start_ns < 0) out.push_back("planned_start_ns: before 1970-01-01T00:00:00Z");
  const bool completed = w.status == WorkOrderStatus::kCompleted;
  if (completed && !w.completed_ns) {
    out.push_back("completed_ns: required when status is 'completed'");
  } else if (!completed && w.completed_ns) {
    out.push_back(fmt::format("completed_ns: set but status is '{}'", WorkOrderStatusName(w.status)));
  } else if (w.completed_ns && *w.completed_ns < w.planned_start_ns) {
    out.push_back(fmt::format("completed_ns: {} must not be before planned_start_ns {}",
                              FormatContextTime(*w.completed_ns), FormatContextTime(w.planned_start_ns)));
  }
  CheckText(&out, "description", w.description, kMaxDescriptionBytes, true);
  CheckText(&out, "source", w.source, kMaxSourceBytes, false);
  return out;
}

std::vector<std::string> CheckDesignSpec(const DesignSpec& s) {
  std::vector<std::string> out;
  CheckTwin(&out, s.twin);
  CheckText(&out, "model", s.model, kMaxNameBytes, false);
  CheckText(&out, "manufacturer", s.manufacturer, kMaxNameBytes, false);
  CheckText(&out, "serial_number", s.serial_number, kMaxNameBytes, false);
  CheckRange(&out, "rated_flow_m3h", s.rated_flow_m3h, 0, true, kInf, true);
  CheckRange(&out, "rated_head_m", s.rated_head_m, 0, true, kInf, true);
  CheckRange(&out, "rated_power_kw", s.rated_power_kw, 0, true, kInf, true);
  CheckRange(&out, "max_speed_rpm", s.max_speed_rpm, 0, true, 30000, false);
  CheckRange(&out, "min_speed_rpm", s.min_speed_rpm, 0, false, kInf, true);
  if (std::isfinite(s.min_speed_rpm) && std::isfinite(s.max_speed_rpm) &&
      s.min_speed_rpm >= s.max_speed_rpm && s.max_speed_rpm > 0) {
    out.push_back(
        fmt::format("min_speed_rpm: {} must be below max_speed_rpm {}", s.min_speed_rpm, s.max_speed_rpm));
  }
  CheckRange(&out, "max_motor_temp_c", s.max_motor_temp_c, 0, true, 250, false);
  CheckRange(&out, "max_vibration_mm_s", s.max_vibration_mm_s, 0, true, 100, false);
  if (s.rated_speed_rpm) {
    CheckRange(&out, "rated_speed_rpm", *s.rated_speed_rpm, s.min_speed_rpm, false, s.max_speed_rpm, false);
  }
  if (s.min_flow_m3h) {
    CheckRange(&out, "min_flow_m3h", *s.min_flow_m3h, 0, false, s.rated_flow_m3h, true);
  }
  if (s.max_flow_m3h) {
    CheckRange(&out, "max_flow_m3h", *s.max_flow_m3h, s.rated_flow_m3h, false, kInf, true);
    if (s.min_flow_m3h && std::isfinite(*s.min_flow_m3h) && !(*s.max_flow_m3h > *s.min_flow_m3h)) {
      out.push_back(
          fmt::format("max_flow_m3h: {} must be above min_flow_m3h {}", *s.max_flow_m3h, *s.min_flow_m3h));
    }
  }
  if (s.max_discharge_pressure_bar) {
    CheckRange(&out, "max_discharge_pressure_bar", *s.max_discharge_pressure_bar, 0, true, kInf, true);
  }
  if (s.max_power_kw) CheckRange(&out, "max_power_kw", *s.max_power_kw, s.rated_power_kw, false, kInf, true);
  CheckText(&out, "source", s.source, kMaxSourceBytes, false);
  return out;
}

std::vector<SpecLimit> SpecLimits(const DesignSpec& s) {
  std::vector<SpecLimit> out;
  out.push_back({"speed_rpm", s.min_speed_rpm, s.max_speed_rpm, true, true, "min_speed_rpm,max_speed_rpm"});
  out.push_back({"motor_temp_c", std::nullopt, s.max_motor_temp_c, false, false, "max_motor_temp_c"});
  out.push_back({"vibration_mm_s", std::nullopt, s.max_vibration_mm_s, false, false, "max_vibration_mm_s"});
  if (s.min_flow_m3h || s.max_flow_m3h) {
    std::string from = s.min_flow_m3h && s.max_flow_m3h ? "min_flow_m3h,max_flow_m3h"
                       : s.min_flow_m3h                 ? "min_flow_m3h"
                                                        : "max_flow_m3h";
    out.push_back({"flow_m3h", s.min_flow_m3h, s.max_flow_m3h, false, true, from});
  }
  if (s.max_discharge_pressure_bar) {
    out.push_back({"discharge_pressure_bar", std::nullopt, s.max_discharge_pressure_bar, false, false,
                   "max_discharge_pressure_bar"});
  }
  if (s.max_power_kw) out.push_back({"power_kw", std::nullopt, s.max_power_kw, false, false, "max_power_kw"});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Times

Result<int64_t> ParseContextTime(std::string_view t) {
  if (t.empty()) return InvalidArgument("empty time");
  if (t.find_first_not_of("0123456789") == std::string_view::npos) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || end != t.data() + t.size() ||
        v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return InvalidArgument(fmt::format("'{}' is past the largest ns time (2262-04-11)", t.substr(0, 40)));
    }
    if (static_cast<int64_t>(v) < kMinEpochNsInteger) {
      return InvalidArgument(fmt::format(
          "{} is before 1973 as ns since the epoch: integer times are ns (seconds or ms given?)", v));
    }
    return static_cast<int64_t>(v);
  }
  const auto bad = [&](std::string_view why) {
    return InvalidArgument(
        fmt::format("'{}' is not an RFC 3339 time YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm) or "
                    "integer ns since the epoch: {}",
                    t.substr(0, 64), why));
  };
  size_t p = 0;
  auto digits = [&](size_t n, int* out) {
    if (p + n > t.size()) return false;
    int v = 0;
    for (size_t i = 0; i < n; ++i) {
      const char c = t[p + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    p += n;
    *out = v;
    return true;
  };
  auto lit = [&](std::string_view chars) {
    if (p < t.size() && chars.find(t[p]) != std::string_view::npos) {
      ++p;
      return true;
    }
    return false;
  };
  int y, mo, d, h, mi, s;
  if (!digits(4, &y) || !lit("-") || !digits(2, &mo) || !lit("-") || !digits(2, &d)) return bad("date");
  if (p == t.size()) return bad("a date without a time of day");
  if (!lit("Tt ") || !digits(2, &h) || !lit(":") || !digits(2, &mi) || !lit(":") || !digits(2, &s)) {
    return bad("time of day");
  }
  int64_t frac_ns = 0;
  if (lit(".")) {
    size_t n = 0;
    int64_t scale = 100'000'000;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      if (++n > 9) return bad("more than 9 fraction digits");
      frac_ns += (t[p] - '0') * scale;
      scale /= 10;
      ++p;
    }
    if (n == 0) return bad("empty fraction");
  }
  int off_s = 0;
  if (lit("Zz")) {
  } else if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    const int sign = t[p] == '-' ? -1 : 1;
    ++p;
    int oh, om;
    if (!digits(2, &oh) || !lit(":") || !digits(2, &om) || oh > 23 || om > 59) return bad("UTC offset");
    off_s = sign * (oh * 3600 + om * 60);
  } else {
    return bad(p == t.size() ? "no UTC offset (Z or +hh:mm)" : "UTC offset");
  }
  if (p != t.size()) return bad("trailing characters");
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12) return bad(fmt::format("month {}", mo));
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  const int dim = kDays[mo - 1] + (mo == 2 && leap ? 1 : 0);
  if (d < 1 || d > dim) return bad(fmt::format("day {} of month {}", d, mo));
  if (h > 23 || mi > 59 || s > 60) return bad("hour, minute or second out of range");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const int64_t secs = static_cast<int64_t>(timegm(&tm)) - off_s;
  if (secs < 0) return bad("before 1970-01-01T00:00:00Z");
  if (secs > (std::numeric_limits<int64_t>::max() - frac_ns) / kNsPerSec) return bad("after 2262-04-11");
  return secs * kNsPerSec + frac_ns;
}

std::string FormatContextTime(int64_t ns) {
  int64_t secs = ns / kNsPerSec, frac = ns % kNsPerSec;
  if (frac < 0) {
    frac += kNsPerSec;
    --secs;
  }
  const auto tt = static_cast<time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (frac != 0) {
    std::string f = fmt::format("{:09}", frac);
    while (f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out + "Z";
}

}  // namespace doppel::store
