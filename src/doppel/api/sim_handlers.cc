// Routes of the simulation sandboxes (/api/v1/sim/envs; docs/api.md "Simulation sandboxes").
// Registered in Routes() of handlers.cc; the request checks beyond the body's shape are the
// engine's (engine/sim_envs.h), so every front end gets the same errors.
#include <string>

#include "doppel/api/handlers.h"

namespace doppel::api {

using nlohmann::json;

namespace {

// An optional JSON object body (empty: {}); the error names the problem.
Result<json> OptionalJsonObject(const std::string& body) {
  if (body.empty()) return json::object();
  return ParseJsonObject(body);
}

HttpResponse Answer(int status, const Result<json>& r) {
  if (!r.ok()) return ErrorResponse(r.status());
  return JsonResponse(status, *r);
}

}  // namespace

HttpResponse HandleCreateSimEnv(const HttpRequest& req, const Principal& who, engine::Service& service) {
  auto body = OptionalJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  auto made = service.CreateSimEnv(*body, who.name);
  if (!made.ok()) return ErrorResponse(made.status());
  HttpResponse r = JsonResponse(201, *made);
  r.headers.emplace_back("Location", "/api/v1/sim/envs/" + made->value("id", std::string()));
  return r;
}

HttpResponse HandleListSimEnvs(engine::Service& service) { return Answer(200, service.ListSimEnvs()); }

HttpResponse HandleResetSimEnv(const HttpRequest& req, const std::string& id, engine::Service& service) {
  auto body = OptionalJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  std::optional<uint64_t> seed;
  for (auto it = body->begin(); it != body->end(); ++it) {
    if (it.key() != "seed") return ErrorResponse(InvalidArgument("$." + it.key() + ": unknown field"));
    if (it->is_null()) continue;
    if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0))
      return ErrorResponse(InvalidArgument("$.seed: must be a non-negative integer"));
    seed = it->get<uint64_t>();
  }
  return Answer(200, service.ResetSimEnv(id, seed));
}

HttpResponse HandleStepSimEnv(const HttpRequest& req, const std::string& id, engine::Service& service) {
  auto body = OptionalJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  const json* action = nullptr;
  for (auto it = body->begin(); it != body->end(); ++it) {
    if (it.key() != "action") return ErrorResponse(InvalidArgument("$." + it.key() + ": unknown field"));
    action = &*it;
  }
  if (action == nullptr) return ErrorResponse(InvalidArgument("$.action: required"));
  return Answer(200, service.StepSimEnv(id, *action));
}

HttpResponse HandleDeleteSimEnv(const std::string& id, engine::Service& service) {
  if (Status s = service.DeleteSimEnv(id); !s.ok()) return ErrorResponse(s);
  return NoContentResponse();
}

}  // namespace doppel::api
