// Request handlers: plain functions over engine::Service. No sockets, no Beast, no globals,
// so every route is unit-testable with a fake Service (tests/api/handlers_test.cc).
#pragma once

#include <nlohmann/json.hpp>

#include "doppel/api/http.h"
#include "doppel/engine/service.h"

namespace doppel::api {

// Routes an already authenticated request for /api/v1/... or /metrics: unknown path 404,
// known path with another method 405 (with Allow), role below the route's 403, else the
// handler's answer. Engine errors are mapped with HttpStatusFor.
HttpResponse HandleApiRequest(const HttpRequest& request, const Principal& principal,
                              engine::Service& service);
HttpResponse HandleApiRequest(const HttpRequest& request, const ParsedTarget& target,
                              const Principal& principal, engine::Service& service);

// The least role a (method, path) needs, or kNotFound / kInvalidArgument ("405") if there is
// no such route. Exposed for tests and docs.
Result<Role> RequiredRole(const std::string& method, const ParsedTarget& target);

// JSON shapes of the API (documented in docs/api.md).
const char* CommandStatusString(engine::CommandStatus status);  // "proposed", "approved", "sent", ...
nlohmann::json TwinToJson(const engine::TwinView& twin);
nlohmann::json CommandToJson(const engine::CommandRecord& command);
nlohmann::json EstimateToJson(const engine::TwinEstimate& estimate);  // GET .../state
nlohmann::json WhatIfToJson(const engine::WhatIfResult& result);      // POST .../whatif

// Limits of GET .../telemetry.
constexpr size_t kDefaultTelemetryPoints = 1000;
constexpr size_t kMaxTelemetryPoints = 100000;

}  // namespace doppel::api
