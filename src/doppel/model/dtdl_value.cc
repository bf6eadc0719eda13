// Validation of JSON values (command requests, property values) against DTDL schemas.
#include <cmath>
#include <limits>

#include "doppel/model/dtdl.h"
#include "doppel/model/dtdl_internal.h"

namespace doppel::model {

namespace {

using json = nlohmann::json;

Status Bad(const std::string& path, const std::string& reason) {
  return InvalidArgument(path + ": " + reason);
}

std::string Member(const std::string& path, const std::string& key) {
  if (internal::IsValidName(key, 512)) return path + "." + key;
  return path + "[" + json(key).dump(-1, ' ', false, json::error_handler_t::replace) + "]";
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n digits at s[*i] into *v.
bool Digits(std::string_view s, size_t* i, size_t n, int* v) {
  if (*i + n > s.size()) return false;
  *v = 0;
  for (size_t k = 0; k < n; ++k) {
    char c = s[*i + k];
    if (!IsDigit(c)) return false;
    *v = *v * 10 + (c - '0');
  }
  *i += n;
  return true;
}

bool Expect(std::string_view s, size_t* i, char c) {
  if (*i >= s.size() || s[*i] != c) return false;
  ++*i;
  return true;
}

// full-date: YYYY-MM-DD
bool ParseDate(std::string_view s, size_t* i) {
  int y, m, d;
  return Digits(s, i, 4, &y) && Expect(s, i, '-') && Digits(s, i, 2, &m) && Expect(s, i, '-') &&
         Digits(s, i, 2, &d) && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

// partial-time [time-offset]: hh:mm:ss[.fff][Z|+hh:mm|-hh:mm]; offset required when `need_offset`.
bool ParseTime(std::string_view s, size_t* i, bool need_offset) {
  int h, m, sec;
  if (!(Digits(s, i, 2, &h) && Expect(s, i, ':') && Digits(s, i, 2, &m) && Expect(s, i, ':') &&
        Digits(s, i, 2, &sec) && h <= 23 && m <= 59 && sec <= 60)) {
    return false;
  }
  if (*i < s.size() && s[*i] == '.') {
    ++*i;
    size_t start = *i;
    while (*i < s.size() && IsDigit(s[*i])) ++*i;
    if (*i == start) return false;
  }
  if (*i == s.size()) return !need_offset;
  if (s[*i] == 'Z' || s[*i] == 'z') {
    ++*i;
    return true;
  }
  if (s[*i] != '+' && s[*i] != '-') return false;
  ++*i;
  int oh, om;
  return Digits(s, i, 2, &oh) && Expect(s, i, ':') && Digits(s, i, 2, &om) && oh <= 23 && om <= 59;
}

bool IsDate(std::string_view s) {
  size_t i = 0;
  return ParseDate(s, &i) && i == s.size();
}
bool IsTime(std::string_view s) {
  size_t i = 0;
  return ParseTime(s, &i, false) && i == s.size();
}
bool IsDateTime(std::string_view s) {
  size_t i = 0;
  if (!ParseDate(s, &i) || i >= s.size() || (s[i] != 'T' && s[i] != 't')) return false;
  ++i;
  return ParseTime(s, &i, true) && i == s.size();
}

// ISO 8601 duration: P[nY][nM][nW][nD][T[nH][nM][n[.n]S]], at least one component.
bool IsDuration(std::string_view s) {
  if (s.size() < 2 || s[0] != 'P') return false;
  bool in_time = false, any = false;
  std::string_view date_units = "YMWD", time_units = "HMS";
  size_t i = 1;
  while (i < s.size()) {
    if (s[i] == 'T') {
      if (in_time || i + 1 == s.size()) return false;
      in_time = true;
      ++i;
      continue;
    }
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) ++i;
    bool fraction = false;
    if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
      fraction = true;
      ++i;
      size_t f = i;
      while (i < s.size() && IsDigit(s[i])) ++i;
      if (i == f) return false;
    }
    if (i == start || i >= s.size()) return false;
    std::string_view units = in_time ? time_units : date_units;
    size_t u = units.find(s[i]);
    if (u == std::string_view::npos) return false;
    if (fraction && !(in_time && s[i] == 'S')) return false;
    units = units.substr(u + 1);  // units must come in order
    (in_time ? time_units : date_units) = units;
    any = true;
    ++i;
  }
  return any;
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    bool hex = IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) return false;
  }
  return true;
}

bool IsBase64(std::string_view s) {
  if (s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '=') {
      ++pad;
      continue;
    }
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '+' || c == '/';
    if (!ok || pad) return false;
  }
  return pad <= 2;
}

Status CheckInteger(const json& v, const std::string& path, Primitive p) {
  if (!v.is_number_integer()) return Bad(path, "expected an integer");
  int64_t lo = 0;
  uint64_t hi = 0;
  switch (p) {
    case Primitive::kByte: lo = INT8_MIN, hi = INT8_MAX; break;
    case Primitive::kShort: lo = INT16_MIN, hi = INT16_MAX; break;
    case Primitive::kInteger: lo = INT32_MIN, hi = INT32_MAX; break;
    case Primitive::kLong: lo = INT64_MIN, hi = INT64_MAX; break;
    case Primitive::kUnsignedByte: hi = UINT8_MAX; break;
    case Primitive::kUnsignedShort: hi = UINT16_MAX; break;
    case Primitive::kUnsignedInteger: hi = UINT32_MAX; break;
    default: hi = UINT64_MAX; break;
  }
  bool ok;
  if (v.is_number_unsigned()) {
    ok = v.get<uint64_t>() <= hi;
  } else {
    int64_t x = v.get<int64_t>();
    ok = x >= lo && (x < 0 || static_cast<uint64_t>(x) <= hi);
  }
  if (!ok) return Bad(path, std::string("out of range for ") + PrimitiveName(p));
  return Status::Ok();
}

const char* GeoType(Primitive p) {
  switch (p) {
    case Primitive::kPoint: return "Point";
    case Primitive::kMultiPoint: return "MultiPoint";
    case Primitive::kLineString: return "LineString";
    case Primitive::kMultiLineString: return "MultiLineString";
    case Primitive::kPolygon: return "Polygon";
    default: return "MultiPolygon";
  }
}

Status CheckString(const json& v, const std::string& path, bool (*ok)(std::string_view), const char* what) {
  if (!v.is_string()) return Bad(path, std::string("expected a string (") + what + ")");
  if (!ok(v.get_ref<const std::string&>())) return Bad(path, std::string("expected ") + what);
  return Status::Ok();
}

Status ValidatePrimitive(Primitive p, const json& v, const std::string& path) {
  switch (p) {
    case Primitive::kBoolean: return v.is_boolean() ? Status::Ok() : Bad(path, "expected true or false");
    case Primitive::kByte:
    case Primitive::kShort:
    case Primitive::kInteger:
    case Primitive::kLong:
    case Primitive::kUnsignedByte:
    case Primitive::kUnsignedShort:
    case Primitive::kUnsignedInteger:
    case Primitive::kUnsignedLong: return CheckInteger(v, path, p);
    case Primitive::kDouble:
    case Primitive::kDecimal: return v.is_number() ? Status::Ok() : Bad(path, "expected a number");
    case Primitive::kFloat:
      if (!v.is_number()) return Bad(path, "expected a number");
      if (std::fabs(v.get<double>()) > std::numeric_limits<float>::max())
        return Bad(path, "out of range for float");
      return Status::Ok();
    case Primitive::kString: return v.is_string() ? Status::Ok() : Bad(path, "expected a string");
    case Primitive::kBytes: return CheckString(v, path, IsBase64, "base64 bytes");
    case Primitive::kDate: return CheckString(v, path, IsDate, "a date YYYY-MM-DD");
    case Primitive::kTime: return CheckString(v, path, IsTime, "a time hh:mm:ss");
    case Primitive::kDateTime: return CheckString(v, path, IsDateTime, "an RFC 3339 date-time");
    case Primitive::kDuration: return CheckString(v, path, IsDuration, "an ISO 8601 duration");
    case Primitive::kUuid: return CheckString(v, path, IsUuid, "a UUID");
    default: {
      const char* type = GeoType(p);
      auto t = v.is_object() ? v.find("type") : v.end();
      auto c = v.is_object() ? v.find("coordinates") : v.end();
      if (!v.is_object() || t == v.end() || *t != type || c == v.end() || !c->is_array()) {
        return Bad(path, std::string("expected a GeoJSON ") + type);
      }
      return Status::Ok();
    }
  }
}

}  // namespace

Status ValidateValue(const Schema& schema, const json& value, const std::string& path) {
  const Schema& s = schema.Resolved();
  switch (s.kind) {
    case SchemaKind::kReference: return Bad(path, "schema " + s.ref + " is not resolved");
    case SchemaKind::kPrimitive: return ValidatePrimitive(s.primitive, value, path);
    case SchemaKind::kEnum: {
      if (s.value_schema == Primitive::kInteger ? !value.is_number_integer() : !value.is_string()) {
        return Bad(path, s.value_schema == Primitive::kInteger ? "expected an integer" : "expected a string");
      }
      std::string allowed;
      for (const auto& ev : s.enum_values) {
        if (ev.value == value) return Status::Ok();
        allowed +=
            (allowed.empty() ? "" : ", ") + ev.value.dump(-1, ' ', false, json::error_handler_t::replace);
      }
      return Bad(path, "not one of the enum values (" + allowed + ")");
    }
    case SchemaKind::kObject: {
      if (!value.is_object()) return Bad(path, "expected an object");
      for (const auto& f : s.fields) {
        auto it = value.find(f.name);
        if (it == value.end()) return Bad(Member(path, f.name), "missing required field");
        DOPPEL_RETURN_IF_ERROR(ValidateValue(*f.schema, *it, Member(path, f.name)));
      }
      for (const auto& item : value.items()) {
        bool known = false;
        for (const auto& f : s.fields) known = known || f.name == item.key();
        if (!known) return Bad(Member(path, item.key()), "unknown field");
      }
      return Status::Ok();
    }
    case SchemaKind::kArray: {
      if (!value.is_array()) return Bad(path, "expected an array");
      for (size_t i = 0; i < value.size(); ++i) {
        DOPPEL_RETURN_IF_ERROR(ValidateValue(*s.element, value[i], path + "[" + std::to_string(i) + "]"));
      }
      return Status::Ok();
    }
    case SchemaKind::kMap: {
      if (!value.is_object()) return Bad(path, "expected an object (a map)");
      for (const auto& item : value.items()) {
        DOPPEL_RETURN_IF_ERROR(ValidateValue(*s.map_value.schema, item.value(), Member(path, item.key())));
      }
      return Status::Ok();
    }
  }
  return Bad(path, "unsupported schema");
}

Status ValidateCommandRequest(const Interface& iface, const std::string& command_name, const json& request) {
  const Content* cmd = iface.FindCommand(command_name);
  if (!cmd) return NotFound("unknown command '" + command_name + "' on " + iface.id);
  if (!cmd->request) {
    if (request.is_null() || (request.is_object() && request.empty())) return Status::Ok();
    return Bad("$.request", "command '" + command_name + "' takes no request");
  }
  if (request.is_null() && cmd->request->nullable) return Status::Ok();
  return ValidateValue(*cmd->request->schema, request, "$.request");
}

Status ValidateDesiredProperties(const Interface& iface, const json& desired) {
  if (!desired.is_object()) return Bad("$.desired", "expected an object");
  for (const auto& item : desired.items()) {
    const std::string path = Member("$.desired", item.key());
    const Content* p = iface.FindProperty(item.key());
    if (!p) return Bad(path, "unknown property of " + iface.id);
    if (!p->writable) return Bad(path, "property is not writable");
    DOPPEL_RETURN_IF_ERROR(ValidateValue(*p->schema, item.value(), path));
  }
  return Status::Ok();
}

}  // namespace doppel::model
