#include "doppel/ingest/modbus_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <set>

namespace doppel::ingest {

namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}
  Status Error(const std::string& path, const std::string& what) const {
    return InvalidArgument(fmt::format("{}: {}: {}", source_, path, what));
  }
  Status Keys(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) const {
    if (!n.IsMap()) return Error(path, "expected a mapping");
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>();
      if (!allowed.count(k)) return Error(path + "." + k, "unknown key");
    }
    return Status::Ok();
  }
  Status Str(const YAML::Node& n, const std::string& path, const char* key, std::string* out) const {
    if (YAML::Node v = n[key]) {
      if (!v.IsScalar()) return Error(path + "." + key, "expected a string");
      *out = v.as<std::string>();
    }
    return Status::Ok();
  }
  Status Int(const YAML::Node& n, const std::string& path, const char* key, int* out) const {
    if (YAML::Node v = n[key]) {
      if (!v.IsScalar() || !YAML::convert<int>::decode(v, *out))
        return Error(path + "." + key, "expected an integer");
    }
    return Status::Ok();
  }
  Status Num(const YAML::Node& n, const std::string& path, const char* key, double* out) const {
    if (YAML::Node v = n[key]) {
      if (!v.IsScalar() || !YAML::convert<double>::decode(v, *out))
        return Error(path + "." + key, "expected a number");
    }
    return Status::Ok();
  }
  // table/type/word_order/scale/offset/address of a point or write.
  Status Register(const YAML::Node& n, const std::string& path, ModbusTable* table, int* address,
                  RegisterFormat* f) const {
    std::string s;
    if (!n["table"]) return Error(path + ".table", "required");
    DOPPEL_RETURN_IF_ERROR(Str(n, path, "table", &s));
    auto t = ParseModbusTable(s);
    if (!t.ok()) return Error(path + ".table", t.status().message());
    *table = *t;
    if (!n["address"]) return Error(path + ".address", "required");
    DOPPEL_RETURN_IF_ERROR(Int(n, path, "address", address));
    if (YAML::Node v = n["type"]) {
      DOPPEL_RETURN_IF_ERROR(Str(n, path, "type", &s));
      auto ty = ParseModbusType(s);
      if (!ty.ok()) return Error(path + ".type", ty.status().message());
      f->type = *ty;
    }
    if (YAML::Node v = n["word_order"]) {
      DOPPEL_RETURN_IF_ERROR(Str(n, path, "word_order", &s));
      auto w = ParseWordOrder(s);
      if (!w.ok()) return Error(path + ".word_order", w.status().message());
      f->word_order = *w;
    }
    DOPPEL_RETURN_IF_ERROR(Num(n, path, "scale", &f->scale));
    return Num(n, path, "offset", &f->offset);
  }

 private:
  std::string source_;
};

}  // namespace

Result<std::vector<ModbusAdapterOptions>> ParseModbusConfigText(const std::string& text,
                                                                const std::string& source) {
  const Reader r(source);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return r.Error("modbus", std::string("not YAML: ") + e.what());
  }
  if (!root.IsSequence()) return r.Error("modbus", "expected a list of servers");
  std::vector<ModbusAdapterOptions> out;
  try {
    for (size_t i = 0; i < root.size(); ++i) {
      const YAML::Node s = root[i];
      const std::string path = fmt::format("modbus[{}]", i);
      DOPPEL_RETURN_IF_ERROR(
          r.Keys(s, path,
                 {"host", "port", "unit_id", "poll_interval_ms", "timeout_ms", "reconnect_initial_ms",
                  "reconnect_max_ms", "max_gap", "points", "writes"}));
      ModbusAdapterOptions o;
      DOPPEL_RETURN_IF_ERROR(r.Str(s, path, "host", &o.host));
      DOPPEL_RETURN_IF_ERROR(r.Int(s, path, "port", &o.port));
      DOPPEL_RETURN_IF_ERROR(r.Int(s, path, "unit_id", &o.unit_id));
      DOPPEL_RETURN_IF_ERROR(r.Int(s, path, "poll_interval_ms", &o.poll_interval_ms));
      DOPPEL_RETURN_IF_ERROR(r.Int(s, path, "timeout_ms", &o.timeout_ms));
      DOPPEL_RETURN_IF_ERROR(r.Int(s, path, "reconnect_initial_ms", &o.reconnect_initial_ms));
      DOPPEL_RETURN_IF_ERROR(r.Int(s, path, "reconnect_max_ms", &o.reconnect_max_ms));
      DOPPEL_RETURN_IF_ERROR(r.Int(s, path, "max_gap", &o.max_gap));
      if (YAML::Node pts = s["points"]) {
        if (!pts.IsSequence()) return r.Error(path + ".points", "expected a list");
        for (size_t j = 0; j < pts.size(); ++j) {
          const std::string pp = fmt::format("{}.points[{}]", path, j);
          DOPPEL_RETURN_IF_ERROR(r.Keys(
              pts[j], pp, {"twin", "signal", "table", "address", "type", "word_order", "scale", "offset"}));
          ModbusPointOptions p;
          DOPPEL_RETURN_IF_ERROR(r.Str(pts[j], pp, "twin", &p.twin));
          DOPPEL_RETURN_IF_ERROR(r.Str(pts[j], pp, "signal", &p.signal));
          DOPPEL_RETURN_IF_ERROR(r.Register(pts[j], pp, &p.table, &p.address, &p.format));
          o.points.push_back(std::move(p));
        }
      }
      if (YAML::Node ws = s["writes"]) {
        if (!ws.IsSequence()) return r.Error(path + ".writes", "expected a list");
        for (size_t j = 0; j < ws.size(); ++j) {
          const std::string wp = fmt::format("{}.writes[{}]", path, j);
          DOPPEL_RETURN_IF_ERROR(r.Keys(ws[j], wp,
                                        {"twin", "command", "property", "field", "table", "address", "type",
                                         "word_order", "scale", "offset"}));
          ModbusWriteOptions w;
          DOPPEL_RETURN_IF_ERROR(r.Str(ws[j], wp, "twin", &w.twin));
          if (ws[j]["command"].IsDefined() == ws[j]["property"].IsDefined()) {
            return r.Error(wp, "set exactly one of command and property");
          }
          DOPPEL_RETURN_IF_ERROR(r.Str(ws[j], wp, ws[j]["command"] ? "command" : "property", &w.name));
          DOPPEL_RETURN_IF_ERROR(r.Str(ws[j], wp, "field", &w.field));
          DOPPEL_RETURN_IF_ERROR(r.Register(ws[j], wp, &w.table, &w.address, &w.format));
          o.writes.push_back(std::move(w));
        }
      }
      if (Status v = o.Validate(); !v.ok()) return r.Error(path, v.message());
      out.push_back(std::move(o));
    }
  } catch (const YAML::Exception& e) {
    return r.Error("modbus", e.what());
  }
  return out;
}

}  // namespace doppel::ingest
