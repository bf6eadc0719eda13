// Routes of alerts, health and annotations (docs/api.md, docs/alerts.md). Registered in Routes()
// of handlers.cc.
#include <limits>
#include <string>

#include "doppel/api/handler_util.h"
#include "doppel/api/handlers.h"

namespace doppel::api {

using nlohmann::json;

HttpResponse HandleListAlerts(const ParsedTarget& target, engine::Service& service) {
  analytics::AlertFilter f;
  if (const std::string* v = QueryParam(target, "twin")) f.twin = *v;
  if (const std::string* v = QueryParam(target, "state")) {
    analytics::AlertState st;
    if (*v == "active") {
      f.states = {analytics::AlertState::kRaised, analytics::AlertState::kAcknowledged};
    } else if (analytics::ParseAlertState(*v, &st)) {
      f.states = {st};
    } else {
      return ErrorResponse(InvalidArgument(
          "state: '" + *v + "' is not one of active, raised, acknowledged, cleared, cleared_unacknowledged"));
    }
  }
  if (Status s = IntQueryParam(target, "limit", &f.limit); !s.ok()) return ErrorResponse(s);
  auto alerts = service.ListAlerts(f);
  if (!alerts.ok()) return ErrorResponse(alerts.status());
  json arr = json::array();
  for (const analytics::Alert& a : *alerts) arr.push_back(analytics::AlertToJson(a));
  return JsonResponse(200, {{"alerts", std::move(arr)}});
}

HttpResponse HandleAckAlert(const HttpRequest& req, const std::string& alert, const Principal& who,
                            engine::Service& service) {
  auto id = ParseIntParam<uint64_t>("alert id", alert);
  if (!id.ok()) return ErrorResponse(NotFound("alert '" + alert + "' not found"));
  if (!req.body.empty()) {  // optional {"note": "..."}; anything else is refused
    Result<json> body = ParseJsonObject(req.body);
    if (!body.ok()) return ErrorResponse(body.status());
    for (auto it = body->begin(); it != body->end(); ++it) {
      if (it.key() != "note") return ErrorResponse(InvalidArgument("$." + it.key() + ": unknown field"));
    }
  }
  auto a = service.AcknowledgeAlert(*id, who.name);
  if (!a.ok()) return ErrorResponse(a.status());
  return JsonResponse(200, analytics::AlertToJson(*a));
}

HttpResponse HandleGetHealth(const std::string& twin, engine::Service& service) {
  auto h = service.GetHealth(twin);
  if (!h.ok()) return ErrorResponse(h.status());
  json reasons = json::array();
  for (const auto& [what, penalty] : h->reasons) reasons.push_back({{"what", what}, {"penalty", penalty}});
  json kpis = json::object();
  for (const auto& [k, v] : h->kpis) kpis[k] = v;
  return JsonResponse(200, {{"twin", h->twin},
                            {"score", h->score},
                            {"band", h->band},
                            {"reasons", std::move(reasons)},
                            {"kpis", std::move(kpis)}});
}

HttpResponse HandleListAnnotations(const ParsedTarget& target, const std::string& twin,
                                   engine::Service& service) {
  TimeNs from = 0, to = std::numeric_limits<TimeNs>::max();
  if (Status s = IntQueryParam(target, "from", &from); !s.ok()) return ErrorResponse(s);
  if (Status s = IntQueryParam(target, "to", &to); !s.ok()) return ErrorResponse(s);
  auto list = service.ListAnnotations(twin, from, to);
  if (!list.ok()) return ErrorResponse(list.status());
  json arr = json::array();
  for (const engine::Annotation& a : *list) arr.push_back(engine::AnnotationToJson(a));
  return JsonResponse(200, {{"annotations", std::move(arr)}});
}

HttpResponse HandleCreateAnnotation(const HttpRequest& req, const std::string& twin, const Principal& who,
                                    engine::Service& service) {
  Result<json> body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  engine::Annotation a;
  a.twin = twin;
  a.author = who.name;
  bool has_from = false, has_to = false;
  for (auto it = body->begin(); it != body->end(); ++it) {
    const std::string& k = it.key();
    if (k == "text" || k == "signal") {
      if (it->is_null() && k == "signal") continue;
      if (!it->is_string()) return ErrorResponse(InvalidArgument("$." + k + ": expected a string"));
      (k == "text" ? a.text : a.signal) = it->get<std::string>();
    } else if (k == "from_ns" || k == "to_ns") {
      Result<int64_t> ns = JsonInt64(*it, "$." + k, " (ns)");
      if (!ns.ok()) return ErrorResponse(ns.status());
      (k == "from_ns" ? a.from_ns : a.to_ns) = *ns;
      (k == "from_ns" ? has_from : has_to) = true;
    } else if (k == "anchor") {
      if (it->is_null()) continue;
      if (!it->is_object()) return ErrorResponse(InvalidArgument("$.anchor: expected {x, y, z}"));
      engine::Point3 p;
      for (const char* axis : {"x", "y", "z"}) {
        auto v = it->find(axis);
        if (v == it->end() || !v->is_number()) {
          return ErrorResponse(InvalidArgument(std::string("$.anchor.") + axis + ": expected a number"));
        }
        (axis[0] == 'x' ? p.x : axis[0] == 'y' ? p.y : p.z) = v->get<double>();
      }
      a.anchor = p;
    } else {
      return ErrorResponse(InvalidArgument("$." + k + ": unknown field"));
    }
  }
  if (a.text.empty()) return ErrorResponse(InvalidArgument("$.text: required"));
  if (!has_from && !has_to) a.from_ns = a.to_ns = NowNs();
  if (has_from && !has_to) a.to_ns = a.from_ns;
  if (has_to && !has_from) a.from_ns = a.to_ns;
  auto made = service.CreateAnnotation(std::move(a));
  if (!made.ok()) return ErrorResponse(made.status());
  HttpResponse r = JsonResponse(201, engine::AnnotationToJson(*made));
  r.headers.emplace_back("Location", "/api/v1/twins/" + twin + "/annotations/" + made->id);
  return r;
}

HttpResponse HandleDeleteAnnotation(const std::string& twin, const std::string& id, const Principal& who,
                                    engine::Service& service) {
  Status s = service.DeleteAnnotation(twin, id, who.name, who.role == Role::kAdmin);
  if (!s.ok()) return ErrorResponse(s);
  return NoContentResponse();
}

}  // namespace doppel::api
