// Routes of the what-if jobs (docs/api.md "What-if jobs"). Registered in Routes() of
// handlers.cc; the request is the synchronous what-if's (ParseWhatIfRequest), the job
// bookkeeping is the engine's (engine/whatif_jobs.h).
#include <string>

#include "doppel/api/handlers.h"

namespace doppel::api {

using nlohmann::json;

namespace {

json TimeOrNull(TimeNs t) { return t == 0 ? json(nullptr) : json(t); }

}  // namespace

json WhatIfJobToJson(const engine::WhatIfJobView& job) {
  json j = {{"id", job.id},
            {"twin", job.twin},
            {"owner", job.owner},
            {"state", engine::WhatIfJobStateName(job.state)},
            {"progress", job.progress},
            {"cancel_requested", job.cancel_requested},
            {"created", TimeOrNull(job.created_ns)},
            {"started", TimeOrNull(job.started_ns)},
            {"finished", TimeOrNull(job.finished_ns)},
            {"location", "/api/v1/whatif/jobs/" + job.id}};
  if (!job.error.ok()) {
    j["error"] = {{"code", StatusCodeName(job.error.code())}, {"message", job.error.message()}};
  }
  if (job.result) j["result"] = WhatIfToJson(*job.result);
  return j;
}

HttpResponse HandleStartWhatIfJob(const HttpRequest& req, const std::string& twin, const Principal& who,
                                  engine::Service& service) {
  auto parsed = ParseWhatIfRequest(req.body);
  if (!parsed.ok()) return ErrorResponse(parsed.status());
  auto job = service.StartWhatIfJob(twin, *parsed, who.name);
  if (!job.ok()) return ErrorResponse(job.status());
  HttpResponse r = JsonResponse(202, WhatIfJobToJson(*job));
  r.headers.emplace_back("Location", "/api/v1/whatif/jobs/" + job->id);
  return r;
}

HttpResponse HandleListWhatIfJobs(engine::Service& service) {
  auto jobs = service.ListWhatIfJobs();
  if (!jobs.ok()) return ErrorResponse(jobs.status());
  json arr = json::array();
  for (const auto& j : *jobs) arr.push_back(WhatIfJobToJson(j));
  return JsonResponse(200, json{{"jobs", std::move(arr)}});
}

HttpResponse HandleGetWhatIfJob(const std::string& id, engine::Service& service) {
  auto job = service.GetWhatIfJob(id);
  if (!job.ok()) return ErrorResponse(job.status());
  return JsonResponse(200, WhatIfJobToJson(*job));
}

HttpResponse HandleCancelWhatIfJob(const std::string& id, const Principal& who, engine::Service& service) {
  auto job = service.CancelWhatIfJob(id, who.name, who.role == Role::kAdmin);
  if (!job.ok()) return ErrorResponse(job.status());
  if (!job->has_value()) return NoContentResponse();  // it had finished: forgotten
  return JsonResponse(202, WhatIfJobToJson(**job));
}

}  // namespace doppel::api
