#include "doppel/engine/context_service.h"

#include <filesystem>

#include "doppel/store/context_import.h"
#include "doppel/store/context_store.h"

namespace doppel::engine {

namespace {

using nlohmann::json;

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(); }

json SpecToJson(const store::DesignSpec& s) {
  return {{"twin", s.twin},
          {"model", s.model},
          {"manufacturer", s.manufacturer},
          {"serial_number", s.serial_number},
          {"rated_flow_m3h", s.rated_flow_m3h},
          {"rated_head_m", s.rated_head_m},
          {"rated_power_kw", s.rated_power_kw},
          {"rated_speed_rpm", Optional(s.rated_speed_rpm)},
          {"min_speed_rpm", s.min_speed_rpm},
          {"max_speed_rpm", s.max_speed_rpm},
          {"max_motor_temp_c", s.max_motor_temp_c},
          {"max_vibration_mm_s", s.max_vibration_mm_s},
          {"min_flow_m3h", Optional(s.min_flow_m3h)},
          {"max_flow_m3h", Optional(s.max_flow_m3h)},
          {"max_discharge_pressure_bar", Optional(s.max_discharge_pressure_bar)},
          {"max_power_kw", Optional(s.max_power_kw)},
          {"source", s.source}};
}

json WorkOrderToJson(const store::WorkOrder& w) {
  return {{"id", w.id},
          {"twin", w.twin},
          {"kind", store::WorkOrderKindName(w.kind)},
          {"kind_text", w.kind_text},
          {"status", store::WorkOrderStatusName(w.status)},
          {"planned_start_ns", w.planned_start_ns},
          {"completed_ns", w.completed_ns ? json(*w.completed_ns) : json()},
          {"description", w.description},
          {"source", w.source}};
}

std::string DbPath(const std::string& data_dir) { return data_dir + "/context.db"; }

}  // namespace

Result<json> ImportContextDocument(const std::string& data_dir, const ContextImportRequest& req,
                                   std::string_view body) {
  auto kind = store::ParseContextKind(req.kind);
  if (!kind.ok()) return InvalidArgument("kind: '" + req.kind + "' is not workorders or specs");
  store::ImportOptions o;
  o.name = req.name;
  o.default_source = req.name;
  o.twin_exists = req.twin_exists;
  if (req.format == "csv") {
    o.format = store::ImportFormat::kCsv;
  } else if (req.format == "json") {
    o.format = store::ImportFormat::kJson;
  } else if (!req.format.empty()) {
    return InvalidArgument("format: '" + req.format + "' is not csv or json");
  }
  if (body.size() > o.max_bytes) {
    return InvalidArgument("body: " + std::to_string(body.size()) + " bytes is over the import limit of " +
                           std::to_string(o.max_bytes));
  }
  std::unique_ptr<store::ContextStore> db;
  if (!req.dry_run) {
    std::error_code ec;
    std::filesystem::create_directories(data_dir, ec);
    auto opened = store::ContextStore::Open(DbPath(data_dir));
    if (!opened.ok()) return opened.status();
    db = std::move(opened).value();
  }
  auto out = store::ImportContext(db.get(), *kind, body, o, req.dry_run);
  if (!out.ok()) return out.status();
  json errors = json::array();
  for (const store::RowError& e : out->errors) {
    errors.push_back({{"line", e.line},
                      {"item", e.item >= 0 ? json(e.item) : json()},
                      {"field", e.field},
                      {"message", e.message},
                      {"text", e.ToString()}});
  }
  return json{{"kind", store::ContextKindName(*kind)},
              {"records", out->records},
              {"applied", out->applied},
              {"dry_run", req.dry_run},
              {"inserted", out->summary.inserted},
              {"updated", out->summary.updated},
              {"unchanged", out->summary.unchanged},
              {"change", out->summary.seq},
              {"errors", std::move(errors)}};
}

Result<json> TwinContextJson(const std::string& data_dir, const std::string& twin) {
  json j{{"twin", twin}, {"spec", nullptr}, {"limits", json::array()}, {"workorders", json::array()}};
  std::error_code ec;
  if (!std::filesystem::exists(DbPath(data_dir), ec)) return j;
  auto db = store::ContextStore::Open(DbPath(data_dir));
  if (!db.ok()) return db.status();
  auto spec = (*db)->GetSpec(twin);
  if (spec.ok()) {
    j["spec"] = SpecToJson(*spec);
    for (const store::SpecLimit& l : store::SpecLimits(*spec)) {
      j["limits"].push_back({{"signal", l.signal},
                             {"min", Optional(l.min)},
                             {"max", Optional(l.max)},
                             {"command_envelope", l.command_envelope},
                             {"zero_ok", l.zero_ok},
                             {"from", l.from}});
    }
  } else if (spec.status().code() != StatusCode::kNotFound) {
    return spec.status();
  }
  auto orders = (*db)->ListWorkOrders(twin);
  if (!orders.ok()) return orders.status();
  for (const store::WorkOrder& w : *orders) j["workorders"].push_back(WorkOrderToJson(w));
  return j;
}

}  // namespace doppel::engine
