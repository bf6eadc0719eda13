// Decoders on simdjson's DOM API: it validates the whole document (so trailing garbage is an
// error) and picks the fastest kernel for this CPU at run time.
#include "doppel/ingest/decode.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace doppel::ingest {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// One parser per thread: simdjson parsers reuse their buffers across documents.
simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

Status Bad(std::string_view where, std::string_view what) {
  return InvalidArgument(fmt::format("{}: {}", where, what));
}

// Where a batch element's member is, e.g. "$.readings[3].value": formatted only for an error
// message, so valid input costs no string building.
struct MemberOf {
  size_t index;
  std::string_view key;  // empty: the element itself
};
std::string Where(std::string_view s) { return std::string(s); }
std::string Where(const MemberOf& m) {
  return m.key.empty() ? fmt::format("$.readings[{}]", m.index)
                       : fmt::format("$.readings[{}].{}", m.index, m.key);
}

template <class W>
Status ReadTs(element v, const W& where, TimeNs* out) {
  int64_t ts;
  if (v.type() != element_type::INT64 && v.type() != element_type::UINT64) {
    return Bad(Where(where), "expected an integer timestamp in ns since the epoch");
  }
  if (v.get_int64().get(ts)) return Bad(Where(where), "timestamp out of range");
  if (ts < 0) return Bad(Where(where), "timestamp is negative");
  *out = ts;
  return Status::Ok();
}

template <class W>
Status ReadQuality(element v, const W& where, Quality* out) {
  std::string_view s;
  if (v.get_string().get(s)) return Bad(Where(where), "expected \"good\", \"uncertain\" or \"bad\"");
  if (!ParseQuality(std::string(s), out)) {
    return Bad(Where(where), fmt::format("unknown quality '{}' (expected good, uncertain or bad)", s));
  }
  return Status::Ok();
}

bool IsNumber(element v) {
  auto t = v.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

// simdjson's DOM parser says a number was bad but not where. For that error only (so valid input
// costs nothing), this scan finds the first number that is malformed or out of range (an integer
// outside int64/uint64, a float that overflows) and the member it is the value of, e.g.
// "$.readings[3].ts"; nullopt if it finds none (the caller keeps the plain message).
struct NumberProblem {
  std::string where;
  size_t offset;
  std::string_view token;
  const char* what;
};

bool WellFormedNumber(std::string_view t) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.' && (++i, !digits())) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// Null when `t` (well formed) is a number simdjson takes; else why not.
const char* NumberRangeProblem(std::string_view t) {
  const std::string s(t);
  errno = 0;
  if (t.find_first_of(".eE") == std::string_view::npos) {
    if (t[0] == '-') {
      (void)std::strtoll(s.c_str(), nullptr, 10);
    } else {
      (void)std::strtoull(s.c_str(), nullptr, 10);
    }
    return errno == ERANGE ? "integer out of range (int64/uint64)" : nullptr;
  }
  return std::isinf(std::strtod(s.c_str(), nullptr)) ? "number out of range (overflows a double)" : nullptr;
}

std::optional<NumberProblem> FindNumberProblem(std::string_view text) {
  struct Frame {
    bool array;
    size_t index = 0;
    std::string_view key;
    bool want_key = true;
  };
  std::vector<Frame> stack;
  auto path = [&] {
    std::string p = "$";
    for (const Frame& f : stack) {
      if (f.array) {
        p += fmt::format("[{}]", f.index);
      } else if (!f.want_key) {
        p += fmt::format(".{}", f.key);
      }
    }
    return p;
  };
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < text.size() && text[j] != '"') j += text[j] == '\\' ? 2 : 1;
      if (j >= text.size()) return std::nullopt;
      if (!stack.empty() && !stack.back().array && stack.back().want_key) {
        stack.back().key = text.substr(i + 1, j - i - 1);
      }
      i = j + 1;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t j = i;
      while (j < text.size() && std::strchr("0123456789+-.eE", text[j]) != nullptr) ++j;
      const std::string_view t = text.substr(i, j - i);
      const char* what = WellFormedNumber(t) ? NumberRangeProblem(t) : "malformed number";
      if (what != nullptr) return NumberProblem{path(), i, t, what};
      i = j;
    } else {
      if (c == '{' || c == '[') {
        if (stack.size() >= 1024) return std::nullopt;
        stack.push_back(Frame{c == '[', 0, {}, true});
      } else if ((c == '}' || c == ']') && !stack.empty()) {
        stack.pop_back();
      } else if (c == ',' && !stack.empty()) {
        Frame& f = stack.back();
        if (f.array) {
          ++f.index;
        } else {
          f.want_key = true;
        }
      } else if (c == ':' && !stack.empty() && !stack.back().array) {
        stack.back().want_key = false;
      }
      ++i;
    }
  }
  return std::nullopt;
}

Result<element> Parse(std::string_view text) {
  element doc;
  if (auto e = ThreadParser().parse(text.data(), text.size()).get(doc); e) {
    if (e == simdjson::NUMBER_ERROR) {
      if (auto p = FindNumberProblem(text)) {
        const std::string_view shown = p->token.substr(0, 40);
        return Bad(p->where, fmt::format("not valid JSON: {}: {}{} at offset {}", p->what, shown,
                                         shown.size() < p->token.size() ? "..." : "", p->offset));
      }
    }
    return Bad("$", fmt::format("not valid JSON: {}", simdjson::error_message(e)));
  }
  return doc;
}

}  // namespace

Result<std::vector<Reading>> DecodeTelemetry(std::string_view twin, std::string_view payload,
                                             TimeNs arrival_ns) {
  auto doc = Parse(payload);
  if (!doc.ok()) return doc.status();
  simdjson::dom::object obj;
  if (doc->get_object().get(obj)) return Bad("$", "expected a JSON object");

  std::vector<Reading> out;
  out.reserve(obj.size());
  TimeNs ts = arrival_ns;
  Quality quality = Quality::kGood;
  for (auto [key, v] : obj) {
    if (key == "ts") {
      DOPPEL_RETURN_IF_ERROR(ReadTs(v, std::string_view("$.ts"), &ts));
    } else if (key == "quality") {
      DOPPEL_RETURN_IF_ERROR(ReadQuality(v, std::string_view("$.quality"), &quality));
    } else if (v.is_null()) {
      continue;  // a sensor that dropped out
    } else if (!IsNumber(v)) {
      return Bad(fmt::format("$.{}", key), "expected a number or null");
    } else if (key.empty()) {
      return Bad("$", "empty signal name");
    } else {
      out.push_back(Reading{std::string(twin), std::string(key), 0, double(v), Quality::kGood});
    }
  }
  for (auto& r : out) {
    r.source_ts_ns = ts;
    r.quality = quality;
  }
  return out;
}

Result<std::vector<Reading>> DecodeIngestBatch(std::string_view body) {
  auto doc = Parse(body);
  if (!doc.ok()) return doc.status();
  simdjson::dom::object obj;
  if (doc->get_object().get(obj)) return Bad("$", "expected a JSON object with a \"readings\" array");
  std::vector<Reading> out;
  bool seen = false;
  for (auto [key, value] : obj) {
    if (key != "readings") return Bad(fmt::format("$.{}", key), "unknown member (expected \"readings\")");
    seen = true;
    simdjson::dom::array arr;
    if (value.get_array().get(arr)) return Bad("$.readings", "expected an array");
    out.reserve(arr.size());
    size_t i = 0;
    for (element elem : arr) {
      const size_t index = i++;
      const MemberOf at{index, {}};
      simdjson::dom::object ro;
      if (elem.get_object().get(ro)) return Bad(Where(at), "expected an object");
      Reading r;
      bool has_twin = false, has_signal = false, has_ts = false, has_value = false;
      for (auto [k, v] : ro) {
        const MemberOf where{index, k};
        if (k == "twin" || k == "signal") {
          std::string_view s;
          if (v.get_string().get(s) || s.empty()) return Bad(Where(where), "expected a non-empty string");
          (k == "twin" ? r.twin : r.signal) = std::string(s);
          (k == "twin" ? has_twin : has_signal) = true;
        } else if (k == "ts") {
          DOPPEL_RETURN_IF_ERROR(ReadTs(v, where, &r.source_ts_ns));
          has_ts = true;
        } else if (k == "value") {
          if (!IsNumber(v)) return Bad(Where(where), "expected a number");
          r.value = double(v);
          has_value = true;
        } else if (k == "quality") {
          DOPPEL_RETURN_IF_ERROR(ReadQuality(v, where, &r.quality));
        } else {
          return Bad(Where(where), "unknown member (expected twin, signal, ts, value, quality)");
        }
      }
      if (!has_twin) return Bad(Where(at), "missing \"twin\"");
      if (!has_signal) return Bad(Where(at), "missing \"signal\"");
      if (!has_ts) return Bad(Where(at), "missing \"ts\"");
      if (!has_value) return Bad(Where(at), "missing \"value\"");
      out.push_back(std::move(r));
    }
  }
  if (!seen) return Bad("$", "missing \"readings\"");
  return out;
}

}  // namespace doppel::ingest
