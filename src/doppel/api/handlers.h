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

// True for the routes that may run for seconds (the synchronous what-if, simulation sandbox
// create/reset/step): ApiServer runs them on its worker threads, so they never hold an io
// thread (which serves every other request, ingest included). False for anything else,
// unknown or malformed targets included.
bool IsSlowRoute(const std::string& method, std::string_view target);

// JSON shapes of the API (documented in docs/api.md).
const char* CommandStatusString(engine::CommandStatus status);  // "proposed", "approved", "sent", ...
nlohmann::json TwinToJson(const engine::TwinView& twin);
nlohmann::json CommandToJson(const engine::CommandRecord& command);
nlohmann::json EstimateToJson(const engine::TwinEstimate& estimate);  // GET .../state
nlohmann::json WhatIfToJson(const engine::WhatIfResult& result);      // POST .../whatif
nlohmann::json WhatIfJobToJson(const engine::WhatIfJobView& job);     // .../whatif/jobs

// The deepest nesting of arrays and objects a client document may have (the top-level object
// is level 1). Deeper documents are refused before they are parsed: copying or dumping a json
// value recurses once per level, so a deep document would otherwise overflow the stack.
constexpr size_t kMaxJsonDepth = 64;

// kInvalidArgument "<subject>: nesting deeper than 64 levels at byte N" (N: the 0-based offset
// of the bracket that opens level 65) when `text` nests arrays/objects deeper than `max_depth`;
// brackets inside strings do not count. A linear scan that allocates nothing; it does not
// validate the JSON otherwise.
Status CheckJsonDepth(std::string_view text, std::string_view subject = "body",
                      size_t max_depth = kMaxJsonDepth);

// Text that must be a JSON object (a request body, a stream message): kInvalidArgument naming
// `subject` and the problem ("body: empty; expected a JSON object", "body: malformed JSON: ...",
// "body: nesting deeper than 64 levels at byte N"; see CheckJsonDepth).
Result<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view subject = "body");

// Estimation routes (estimation_handlers.cc; docs/api.md), called by HandleApiRequest after the
// role check: GET .../state and the synchronous POST .../whatif.
HttpResponse HandleGetState(const std::string& twin, engine::Service& service);
HttpResponse HandleWhatIf(const HttpRequest& req, const std::string& twin, engine::Service& service);
// The body of POST .../whatif and .../whatif/jobs (docs/api.md): kInvalidArgument naming the
// field ("$.horizon_s: expected a number").
Result<engine::WhatIfRequest> ParseWhatIfRequest(const std::string& body);

// What-if job routes (whatif_handlers.cc; docs/api.md "What-if jobs"), called by
// HandleApiRequest after the role check.
HttpResponse HandleStartWhatIfJob(const HttpRequest& req, const std::string& twin, const Principal& who,
                                  engine::Service& service);
HttpResponse HandleListWhatIfJobs(engine::Service& service);
HttpResponse HandleGetWhatIfJob(const std::string& id, engine::Service& service);
HttpResponse HandleCancelWhatIfJob(const std::string& id, const Principal& who, engine::Service& service);

// Alerts, health and annotations (alert_handlers.cc; docs/api.md), called by HandleApiRequest
// after the role check. Deleting an annotation is for its author or an admin.
HttpResponse HandleListAlerts(const ParsedTarget& target, engine::Service& service);
HttpResponse HandleAckAlert(const HttpRequest& req, const std::string& alert, const Principal& who,
                            engine::Service& service);
HttpResponse HandleGetHealth(const std::string& twin, engine::Service& service);
HttpResponse HandleListAnnotations(const ParsedTarget& target, const std::string& twin,
                                   engine::Service& service);
HttpResponse HandleCreateAnnotation(const HttpRequest& req, const std::string& twin, const Principal& who,
                                    engine::Service& service);
HttpResponse HandleDeleteAnnotation(const std::string& twin, const std::string& id, const Principal& who,
                                    engine::Service& service);
// [simenv] Simulation sandbox routes (sim_handlers.cc; docs/api.md "Simulation sandboxes"),
// called by HandleApiRequest after the role check.
HttpResponse HandleCreateSimEnv(const HttpRequest& req, const Principal& who, engine::Service& service);
HttpResponse HandleListSimEnvs(engine::Service& service);
HttpResponse HandleResetSimEnv(const HttpRequest& req, const std::string& id, engine::Service& service);
HttpResponse HandleStepSimEnv(const HttpRequest& req, const std::string& id, engine::Service& service);
HttpResponse HandleDeleteSimEnv(const std::string& id, engine::Service& service);

// [mpcloop] GET /api/v1/control/plan (control_handlers.cc): the live MPC loop's last plan.
HttpResponse HandleGetControlPlan(engine::Service& service);

// [context] Enterprise context routes (context_handlers.cc; docs/api.md "Enterprise context").
HttpResponse HandleImportContext(const HttpRequest& req, const ParsedTarget& target, const std::string& kind,
                                 const Principal& who, engine::Service& service);
HttpResponse HandleGetTwinContext(const std::string& twin, engine::Service& service);

// Limits of GET .../telemetry.
constexpr size_t kDefaultTelemetryPoints = 1000;
constexpr size_t kMaxTelemetryPoints = 100000;

}  // namespace doppel::api
