#include "doppel/api/handlers.h"

#include <cmath>
#include <limits>
#include <string_view>

#include "doppel/api/handler_util.h"
#include "doppel/ingest/decode.h"

namespace doppel::api {

using engine::Service;
using nlohmann::json;

namespace {

struct Ctx {
  const HttpRequest& req;
  const ParsedTarget& target;
  const std::vector<std::string>& params;  // the {placeholders} of the route, in order
  const Principal& who;
  Service& service;
};

using HandlerFn = HttpResponse (*)(const Ctx&);

struct Route {
  std::vector<std::string_view> pattern;  // "{}" matches any one segment
  std::string_view method;
  Role role;
  HandlerFn fn;
  // May run for seconds (a simulation): the server runs it off its io threads (IsSlowRoute).
  bool slow = false;
};

Result<std::vector<engine::RelationshipRef>> ParseRelationships(const json& j) {
  if (!j.is_array()) return InvalidArgument("$.relationships: expected an array");
  std::vector<engine::RelationshipRef> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& r = j[i];
    std::string where = "$.relationships[" + std::to_string(i) + "]";
    if (!r.is_object()) return InvalidArgument(where + ": expected an object");
    auto name = r.find("name");
    auto target = r.find("target");
    if (name == r.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return InvalidArgument(where + ".name: expected a non-empty string");
    }
    if (target == r.end() || !target->is_string() || target->get_ref<const std::string&>().empty()) {
      return InvalidArgument(where + ".target: expected a non-empty string");
    }
    out.push_back({name->get<std::string>(), target->get<std::string>()});
  }
  return out;
}

// --- handlers --------------------------------------------------------------------------------

HttpResponse Health(const Ctx&) { return JsonResponse(200, {{"status", "ok"}}); }

// Who the token belongs to, so a UI can show only what the role may do.
HttpResponse Me(const Ctx& c) {
  return JsonResponse(200, {{"role", RoleName(c.who.role)}, {"name", c.who.name}});
}

HttpResponse Metrics(const Ctx& c) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = c.service.RenderMetrics();
  return r;
}

HttpResponse ListModels(const Ctx& c) {
  json models = c.service.ListModels();
  if (!models.is_array()) models = json::array();
  return JsonResponse(200, {{"models", std::move(models)}});
}

HttpResponse ListTwins(const Ctx& c) {
  engine::TwinFilter f;
  if (const std::string* m = QueryParam(c.target, "model")) f.model = *m;
  if (const std::string* r = QueryParam(c.target, "related")) f.related = *r;
  if (const std::string* r = QueryParam(c.target, "rel")) f.rel = *r;
  if (!f.rel.empty() && f.related.empty()) {
    return ErrorResponse(InvalidArgument("rel: needs related=<twin id>"));
  }
  json twins = json::array();
  for (const engine::TwinView& t : c.service.ListTwins(f)) twins.push_back(TwinToJson(t));
  return JsonResponse(200, {{"twins", std::move(twins)}});
}

HttpResponse CreateTwin(const Ctx& c) {
  Result<json> body = ParseJsonObject(c.req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  const json& j = *body;
  engine::TwinSpec spec;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "id") {
      if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        return ErrorResponse(InvalidArgument("$.id: expected a non-empty string"));
      }
      spec.id = it->get<std::string>();
    } else if (k == "model") {
      if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        return ErrorResponse(InvalidArgument("$.model: expected a non-empty string (a DTMI)"));
      }
      spec.model = it->get<std::string>();
    } else if (k == "desired") {
      if (!it->is_object()) return ErrorResponse(InvalidArgument("$.desired: expected an object"));
      spec.desired = *it;
    } else if (k == "relationships") {
      auto rels = ParseRelationships(*it);
      if (!rels.ok()) return ErrorResponse(rels.status());
      spec.relationships = std::move(*rels);
    } else {
      return ErrorResponse(InvalidArgument("$." + k + ": unknown field"));
    }
  }
  if (spec.id.empty()) return ErrorResponse(InvalidArgument("$.id: required"));
  if (spec.model.empty()) return ErrorResponse(InvalidArgument("$.model: required"));
  Result<engine::TwinView> t = c.service.CreateTwin(spec);
  if (!t.ok()) return ErrorResponse(t.status());
  return JsonResponse(201, TwinToJson(*t));
}

HttpResponse GetTwin(const Ctx& c) {
  Result<engine::TwinView> t = c.service.GetTwin(c.params[0]);
  if (!t.ok()) return ErrorResponse(t.status());
  return JsonResponse(200, TwinToJson(*t));
}

HttpResponse Telemetry(const Ctx& c) {
  const std::string* signal = QueryParam(c.target, "signal");
  if (signal == nullptr || signal->empty()) return ErrorResponse(InvalidArgument("signal: required"));
  TimeNs from = 0;
  TimeNs to = NowNs();  // unless given
  size_t points = kDefaultTelemetryPoints;
  if (Status s = IntQueryParam(c.target, "from", &from); !s.ok()) return ErrorResponse(s);
  if (Status s = IntQueryParam(c.target, "to", &to); !s.ok()) return ErrorResponse(s);
  if (const std::string* v = QueryParam(c.target, "points")) {
    auto r = ParseIntParam<uint64_t>("points", *v);
    if (!r.ok()) return ErrorResponse(r.status());
    if (*r < 1 || *r > kMaxTelemetryPoints) {
      return ErrorResponse(
          InvalidArgument("points: " + *v + " is outside 1.." + std::to_string(kMaxTelemetryPoints)));
    }
    points = static_cast<size_t>(*r);
  }
  if (from > to) {
    return ErrorResponse(
        InvalidArgument("from: " + std::to_string(from) + " is after to " + std::to_string(to)));
  }
  auto pts = c.service.QueryTelemetry(c.params[0], *signal, from, to, points);
  if (!pts.ok()) return ErrorResponse(pts.status());
  json arr = json::array();
  for (const engine::Point& p : *pts) arr.push_back(json::array({p.ts_ns, p.value}));
  return JsonResponse(
      200,
      {{"twin", c.params[0]}, {"signal", *signal}, {"from", from}, {"to", to}, {"points", std::move(arr)}});
}

HttpResponse SubmitCommand(const Ctx& c) {
  Result<json> body = ParseJsonObject(c.req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  const json& j = *body;
  std::string name;
  json request = json::object();
  engine::CommandSource source = engine::CommandSource::kOperator;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "name") {
      if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
        return ErrorResponse(InvalidArgument("$.name: expected a non-empty string"));
      }
      name = it->get<std::string>();
    } else if (it.key() == "request") {
      request = *it;
    } else if (it.key() == "source") {
      if (!it->is_string() || !engine::ParseCommandSource(it->get<std::string>(), &source)) {
        return ErrorResponse(InvalidArgument("$.source: expected \"operator\", \"api\" or \"mpc\""));
      }
    } else {
      return ErrorResponse(InvalidArgument("$." + it.key() + ": unknown field"));
    }
  }
  if (name.empty()) return ErrorResponse(InvalidArgument("$.name: required"));
  auto rec = c.service.SubmitCommandAs(c.params[0], name, request, c.who.name, source);
  if (!rec.ok()) return ErrorResponse(rec.status());
  const std::string location = "/api/v1/twins/" + c.params[0] + "/commands/" + rec->id;
  if (rec->status == engine::CommandStatus::kRefused) {  // final: never sent
    HttpResponse r =
        JsonResponse(409, {{"error", {{"code", "refused"}, {"message", "safety envelope: " + rec->reason}}},
                           {"command", CommandToJson(*rec)}});
    r.headers.emplace_back("Location", location);
    return r;
  }
  HttpResponse r = JsonResponse(202, CommandToJson(*rec));
  r.headers.emplace_back("Location", location);
  return r;
}

// Commands answer kFailedPrecondition for a decision that does not fit the command's state.
HttpResponse CommandError(const Status& s) {
  if (s.code() == StatusCode::kFailedPrecondition)
    return ErrorResponse(409, "failed_precondition", s.message());
  return ErrorResponse(s);
}

// Optional body {"reason": "..."}.
Result<std::string> DecisionReason(const Ctx& c) {
  std::string reason;
  if (c.req.body.empty()) return reason;
  Result<json> body = ParseJsonObject(c.req.body);
  if (!body.ok()) return body.status();
  for (auto it = body->begin(); it != body->end(); ++it) {
    if (it.key() != "reason") return InvalidArgument("$." + it.key() + ": unknown field");
    if (!it->is_string()) return InvalidArgument("$.reason: expected a string");
    reason = it->get<std::string>();
  }
  return reason;
}

HttpResponse ApproveCommand(const Ctx& c) {
  auto reason = DecisionReason(c);
  if (!reason.ok()) return ErrorResponse(reason.status());
  auto rec = c.service.ApproveCommand(c.params[0], c.params[1], c.who.name, *reason);
  if (!rec.ok()) return CommandError(rec.status());
  return JsonResponse(200, CommandToJson(*rec));
}

HttpResponse RejectCommand(const Ctx& c) {
  auto reason = DecisionReason(c);
  if (!reason.ok()) return ErrorResponse(reason.status());
  auto rec = c.service.RejectCommand(c.params[0], c.params[1], c.who.name, *reason);
  if (!rec.ok()) return CommandError(rec.status());
  return JsonResponse(200, CommandToJson(*rec));
}

json ControlModeToJson(const engine::ControlModeView& m) {
  json j = {{"twin", m.twin}, {"mode", engine::ControlModeName(m.mode)}, {"overridden", m.overridden}};
  if (m.overridden) {
    j["set_by"] = m.set_by;
    j["set_ns"] = m.set_ns;
  }
  return j;
}

HttpResponse GetControlMode(const Ctx& c) {
  auto m = c.service.GetControlMode(c.params[0]);
  if (!m.ok()) return CommandError(m.status());
  return JsonResponse(200, ControlModeToJson(*m));
}

HttpResponse PutControlMode(const Ctx& c) {
  Result<json> body = ParseJsonObject(c.req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  engine::ControlMode mode{};
  bool has_mode = false;
  for (auto it = body->begin(); it != body->end(); ++it) {
    if (it.key() != "mode") return ErrorResponse(InvalidArgument("$." + it.key() + ": unknown field"));
    if (!it->is_string() || !engine::ParseControlMode(it->get<std::string>(), &mode)) {
      return ErrorResponse(InvalidArgument("$.mode: expected \"advisory\", \"approve\" or \"auto\""));
    }
    has_mode = true;
  }
  if (!has_mode) return ErrorResponse(InvalidArgument("$.mode: required"));
  auto m = c.service.SetControlMode(c.params[0], mode, c.who.name);
  if (!m.ok()) return CommandError(m.status());
  return JsonResponse(200, ControlModeToJson(*m));
}

HttpResponse ListCommands(const Ctx& c) {
  auto recs = c.service.ListCommands(c.params[0]);
  if (!recs.ok()) return ErrorResponse(recs.status());
  json arr = json::array();
  for (const engine::CommandRecord& r : *recs) arr.push_back(CommandToJson(r));
  return JsonResponse(200, {{"commands", std::move(arr)}});
}

HttpResponse GetCommand(const Ctx& c) {
  auto rec = c.service.GetCommand(c.params[0], c.params[1]);
  if (!rec.ok()) return ErrorResponse(rec.status());
  return JsonResponse(200, CommandToJson(*rec));
}

HttpResponse Ingest(const Ctx& c) {
  auto readings = ingest::DecodeIngestBatch(c.req.body);
  if (!readings.ok()) return ErrorResponse(readings.status());
  auto summary = c.service.Ingest(std::move(*readings));
  if (!summary.ok()) return ErrorResponse(summary.status());
  return JsonResponse(200, {{"accepted", summary->accepted}, {"late", summary->late}});
}

HttpResponse StreamWithoutUpgrade(const Ctx&) {
  HttpResponse r = ErrorResponse(426, "upgrade_required", "/api/v1/stream is a WebSocket endpoint");
  r.headers.emplace_back("Upgrade", "websocket");
  return r;
}

// --- estimation: the handlers live in estimation_handlers.cc --------------------------------

HttpResponse GetState(const Ctx& c) { return HandleGetState(c.params[0], c.service); }
HttpResponse WhatIf(const Ctx& c) { return HandleWhatIf(c.req, c.params[0], c.service); }

// --- Alerts, health, annotations: the handlers live in alert_handlers.cc ----------------------

HttpResponse ListAlerts(const Ctx& c) { return HandleListAlerts(c.target, c.service); }
HttpResponse AckAlert(const Ctx& c) { return HandleAckAlert(c.req, c.params[0], c.who, c.service); }
HttpResponse GetHealth(const Ctx& c) { return HandleGetHealth(c.params[0], c.service); }
HttpResponse ListAnnotations(const Ctx& c) { return HandleListAnnotations(c.target, c.params[0], c.service); }
HttpResponse CreateAnnotation(const Ctx& c) {
  return HandleCreateAnnotation(c.req, c.params[0], c.who, c.service);
}
HttpResponse DeleteAnnotation(const Ctx& c) {
  return HandleDeleteAnnotation(c.params[0], c.params[1], c.who, c.service);
}

// [mpcloop] The live MPC loop's plan (control_handlers.cc).
HttpResponse ControlPlan(const Ctx& c) { return HandleGetControlPlan(c.service); }
HttpResponse ImportContext(const Ctx& c) {  // [context]
  return HandleImportContext(c.req, c.target, c.params[0], c.who, c.service);
}
HttpResponse TwinContext(const Ctx& c) { return HandleGetTwinContext(c.params[0], c.service); }  // [context]

// What-if jobs: the handlers live in whatif_handlers.cc.
HttpResponse WhatIfJobStart(const Ctx& c) {
  return HandleStartWhatIfJob(c.req, c.params[0], c.who, c.service);
}
HttpResponse WhatIfJobList(const Ctx& c) { return HandleListWhatIfJobs(c.service); }
HttpResponse WhatIfJobGet(const Ctx& c) { return HandleGetWhatIfJob(c.params[0], c.service); }
HttpResponse WhatIfJobCancel(const Ctx& c) { return HandleCancelWhatIfJob(c.params[0], c.who, c.service); }

// [simenv] Simulation sandboxes: the handlers live in sim_handlers.cc.
HttpResponse SimList(const Ctx& c) { return HandleListSimEnvs(c.service); }
HttpResponse SimCreate(const Ctx& c) { return HandleCreateSimEnv(c.req, c.who, c.service); }
HttpResponse SimReset(const Ctx& c) { return HandleResetSimEnv(c.req, c.params[0], c.service); }
HttpResponse SimStep(const Ctx& c) { return HandleStepSimEnv(c.req, c.params[0], c.service); }
HttpResponse SimDelete(const Ctx& c) { return HandleDeleteSimEnv(c.params[0], c.service); }
// [end simenv]

const std::vector<Route>& Routes() {
  static const std::vector<Route> kRoutes = {
      {{"api", "v1", "health"}, "GET", Role::kViewer, Health},
      {{"metrics"}, "GET", Role::kViewer, Metrics},
      {{"api", "v1", "me"}, "GET", Role::kViewer, Me},
      {{"api", "v1", "models"}, "GET", Role::kViewer, ListModels},
      {{"api", "v1", "twins"}, "GET", Role::kViewer, ListTwins},
      {{"api", "v1", "twins"}, "POST", Role::kAdmin, CreateTwin},
      {{"api", "v1", "twins", "{}"}, "GET", Role::kViewer, GetTwin},
      {{"api", "v1", "twins", "{}", "telemetry"}, "GET", Role::kViewer, Telemetry},
      {{"api", "v1", "twins", "{}", "state"}, "GET", Role::kViewer, GetState},
      {{"api", "v1", "twins", "{}", "whatif"}, "POST", Role::kOperator, WhatIf, /*slow=*/true},
      {{"api", "v1", "twins", "{}", "whatif", "jobs"}, "POST", Role::kOperator, WhatIfJobStart},
      {{"api", "v1", "whatif", "jobs"}, "GET", Role::kOperator, WhatIfJobList},
      {{"api", "v1", "whatif", "jobs", "{}"}, "GET", Role::kOperator, WhatIfJobGet},
      {{"api", "v1", "whatif", "jobs", "{}"}, "DELETE", Role::kOperator, WhatIfJobCancel},
      {{"api", "v1", "twins", "{}", "commands"}, "GET", Role::kViewer, ListCommands},
      {{"api", "v1", "twins", "{}", "commands"}, "POST", Role::kOperator, SubmitCommand},
      {{"api", "v1", "twins", "{}", "commands", "{}"}, "GET", Role::kViewer, GetCommand},
      {{"api", "v1", "twins", "{}", "commands", "{}", "approve"}, "POST", Role::kOperator, ApproveCommand},
      {{"api", "v1", "twins", "{}", "commands", "{}", "reject"}, "POST", Role::kOperator, RejectCommand},
      {{"api", "v1", "twins", "{}", "control-mode"}, "GET", Role::kViewer, GetControlMode},
      {{"api", "v1", "twins", "{}", "control-mode"}, "PUT", Role::kOperator, PutControlMode},
      {{"api", "v1", "ingest"}, "POST", Role::kOperator, Ingest},
      {{"api", "v1", "stream"}, "GET", Role::kViewer, StreamWithoutUpgrade},
      {{"api", "v1", "alerts"}, "GET", Role::kViewer, ListAlerts},
      {{"api", "v1", "alerts", "{}", "ack"}, "POST", Role::kOperator, AckAlert},
      {{"api", "v1", "twins", "{}", "health"}, "GET", Role::kViewer, GetHealth},
      {{"api", "v1", "twins", "{}", "annotations"}, "GET", Role::kViewer, ListAnnotations},
      {{"api", "v1", "twins", "{}", "annotations"}, "POST", Role::kViewer, CreateAnnotation},
      {{"api", "v1", "twins", "{}", "annotations", "{}"}, "DELETE", Role::kViewer, DeleteAnnotation},
      {{"api", "v1", "control", "plan"}, "GET", Role::kViewer, ControlPlan},         // [mpcloop]
      {{"api", "v1", "context", "{}"}, "POST", Role::kAdmin, ImportContext},         // [context]
      {{"api", "v1", "twins", "{}", "context"}, "GET", Role::kViewer, TwinContext},  // [context]
      // [simenv] simulation sandboxes (sim_handlers.cc)
      {{"api", "v1", "sim", "envs"}, "GET", Role::kViewer, SimList},
      {{"api", "v1", "sim", "envs"}, "POST", Role::kOperator, SimCreate, /*slow=*/true},
      {{"api", "v1", "sim", "envs", "{}", "reset"}, "POST", Role::kOperator, SimReset, /*slow=*/true},
      {{"api", "v1", "sim", "envs", "{}", "step"}, "POST", Role::kOperator, SimStep, /*slow=*/true},
      {{"api", "v1", "sim", "envs", "{}"}, "DELETE", Role::kOperator, SimDelete},
  };
  return kRoutes;
}

bool Match(const Route& r, const std::vector<std::string>& segs, std::vector<std::string>* params) {
  if (r.pattern.size() != segs.size()) return false;
  params->clear();
  for (size_t i = 0; i < segs.size(); ++i) {
    if (r.pattern[i] == "{}")
      params->push_back(segs[i]);
    else if (r.pattern[i] != segs[i])
      return false;
  }
  return true;
}

struct Lookup {
  const Route* route = nullptr;
  std::vector<std::string> params;
  std::string allow;  // methods of the path, when the method did not match
};

Lookup Find(const std::string& method, const ParsedTarget& target) {
  Lookup l;
  std::vector<std::string> params;
  for (const Route& r : Routes()) {
    if (!Match(r, target.segments, &params)) continue;
    if (r.method == method) {
      l.route = &r;
      l.params = params;
      return l;
    }
    if (!l.allow.empty()) l.allow += ", ";
    l.allow += r.method;
  }
  return l;
}

}  // namespace

Status CheckJsonDepth(std::string_view text, std::string_view subject, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // skip the escaped character (a quote or a backslash)
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        return InvalidArgument(std::string(subject) + ": nesting deeper than " + std::to_string(max_depth) +
                               " levels at byte " + std::to_string(i));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return Status::Ok();
}

Result<json> ParseJsonObject(std::string_view text, std::string_view subject) {
  const std::string prefix = std::string(subject) + ": ";
  if (text.empty()) return InvalidArgument(prefix + "empty; expected a JSON object");
  // Before parsing: a deep document must never be materialized (copies of it recurse per level).
  DOPPEL_RETURN_IF_ERROR(CheckJsonDepth(text, subject));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers like 1e400
    std::string what = e.what();
    size_t p = what.find("] ");
    if (p != std::string::npos) what = what.substr(p + 2);
    return InvalidArgument(prefix + "malformed JSON: " + what);
  }
  if (!j.is_object()) return InvalidArgument(prefix + "expected a JSON object, got " + j.type_name());
  return j;
}

Result<Role> RequiredRole(const std::string& method, const ParsedTarget& target) {
  Lookup l = Find(method, target);
  if (l.route != nullptr) return l.route->role;
  if (!l.allow.empty()) return InvalidArgument("method not allowed; allowed: " + l.allow);
  return NotFound("no route");
}

bool IsSlowRoute(const std::string& method, std::string_view target) {
  Result<ParsedTarget> t = ParseTarget(target);
  if (!t.ok()) return false;
  Lookup l = Find(method, *t);
  return l.route != nullptr && l.route->slow;
}

HttpResponse HandleApiRequest(const HttpRequest& request, const Principal& principal, Service& service) {
  Result<ParsedTarget> target = ParseTarget(request.target);
  if (!target.ok()) return ErrorResponse(target.status());
  return HandleApiRequest(request, *target, principal, service);
}

HttpResponse HandleApiRequest(const HttpRequest& request, const ParsedTarget& target,
                              const Principal& principal, Service& service) {
  Lookup l = Find(request.method, target);
  if (l.route == nullptr) {
    if (!l.allow.empty()) {
      HttpResponse r = ErrorResponse(
          405, "method_not_allowed",
          "method " + request.method + " not allowed on " + target.path + "; allowed: " + l.allow);
      r.headers.emplace_back("Allow", l.allow);
      return r;
    }
    return ErrorResponse(404, "not_found", "no route for " + request.method + " " + target.path);
  }
  if (principal.role < l.route->role) {
    return ErrorResponse(403, "permission_denied",
                         std::string("role '") + RoleName(principal.role) + "' may not " + request.method +
                             " " + target.path + "; needs '" + RoleName(l.route->role) + "'");
  }
  Ctx ctx{request, target, l.params, principal, service};
  try {
    return l.route->fn(ctx);
  } catch (const std::exception& e) {
    // Expected failures come back as Status; anything thrown is a bug. Answer 500, keep serving.
    return ErrorResponse(500, "internal", std::string("internal error: ") + e.what());
  }
}

const char* CommandStatusString(engine::CommandStatus status) { return engine::CommandStatusName(status); }

json TwinToJson(const engine::TwinView& t) {
  json rels = json::array();
  for (const auto& r : t.relationships) rels.push_back({{"name", r.name}, {"target", r.target}});
  json telemetry = json::object();
  for (const auto& [name, v] : t.latest) {
    telemetry[name] = {{"ts", v.ts_ns}, {"value", v.value}, {"quality", QualityName(v.quality)}};
  }
  return {{"id", t.id},
          {"model", t.model},
          {"desired", t.desired.is_null() ? json::object() : t.desired},
          {"reported", t.reported.is_null() ? json::object() : t.reported},
          {"relationships", std::move(rels)},
          {"telemetry", std::move(telemetry)},
          {"health", t.health ? json(*t.health) : json(nullptr)},
          {"alerts_active", t.alerts_active}};
}

json CommandToJson(const engine::CommandRecord& c) {
  json audit = json::array();
  json history = json::array();  // the audit in the 0.x field names, kept for older clients
  for (const auto& e : c.history) {
    audit.push_back(
        {{"status", CommandStatusString(e.status)}, {"who", e.by}, {"at_ns", e.at_ns}, {"why", e.reason}});
    history.push_back(
        {{"status", CommandStatusString(e.status)}, {"at", e.at_ns}, {"by", e.by}, {"reason", e.reason}});
  }
  return {{"id", c.id},
          {"twin", c.twin},
          {"name", c.name},
          {"request", c.request},
          {"status", CommandStatusString(c.status)},
          {"source", engine::CommandSourceName(c.source)},
          {"reason", c.reason},
          {"issued_by", c.issued_by},
          {"created", c.created_ns},
          {"updated", c.updated_ns},
          {"audit", std::move(audit)},
          {"history", std::move(history)}};
}

}  // namespace doppel::api
