// GET /api/v1/control/plan: the live MPC loop's last plan (docs/api.md, docs/control.md
// "The live loop"). Always 200 for a viewer, so a dashboard can poll it without error noise:
// the plan with "running": true; {"running": true, "ts": null, "message"} before the loop's
// first plan; {"running": false, "ts": null, "message"} when no loop runs. Other errors map as usual.
#include "doppel/api/handlers.h"

namespace doppel::api {

HttpResponse HandleGetControlPlan(engine::Service& service) {
  auto plan = service.GetControlPlan();
  if (plan.ok()) {
    nlohmann::json j = *plan;
    j["running"] = true;
    return JsonResponse(200, j);
  }
  const StatusCode code = plan.status().code();
  if (code == StatusCode::kFailedPrecondition || code == StatusCode::kNotFound) {
    return JsonResponse(
        200,
        {{"running", code == StatusCode::kNotFound}, {"ts", nullptr}, {"message", plan.status().message()}});
  }
  return ErrorResponse(plan.status());
}

}  // namespace doppel::api
