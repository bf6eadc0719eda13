// Enterprise context routes (docs/api.md "Enterprise context", docs/enterprise.md):
//   POST /api/v1/context/{workorders|specs}?format=csv|json&dry_run=true   (admin)
//        body: the CSV or JSON document, as `doppel import --file` reads it.
//        200 {kind, records, applied, inserted, updated, unchanged, change, errors: [],
//             effects}: an applied import acts on the running twins at once (Engine::ImportContext;
//             docs/enterprise.md "What the context changes in the running twin"): effects is
//             {replacements} for work orders (wear prior resets handed to the twins' estimators)
//             or {alert_rules, envelope_limits} for specs (now in force), {error} when not applied;
//        400 invalid_rows with every row error when any row is bad (nothing applied).
//   GET  /api/v1/twins/{id}/context   (viewer): {twin, spec, limits, workorders}.
#include "doppel/api/handlers.h"

namespace doppel::api {

HttpResponse HandleImportContext(const HttpRequest& req, const ParsedTarget& target, const std::string& kind,
                                 const Principal& who, engine::Service& service) {
  engine::ContextImportRequest r;
  r.kind = kind;
  if (auto it = target.query.find("format"); it != target.query.end()) r.format = it->second;
  if (auto it = target.query.find("dry_run"); it != target.query.end()) {
    if (it->second != "true" && it->second != "false") {
      return ErrorResponse(400, "invalid_argument", "dry_run: '" + it->second + "' is not true or false");
    }
    r.dry_run = it->second == "true";
  }
  r.name = "POST /api/v1/context/" + kind + " by " + who.name;
  auto out = service.ImportContext(r, req.body);
  if (!out.ok()) return ErrorResponse(out.status());
  const nlohmann::json& errors = (*out)["errors"];
  if (!errors.empty()) {
    nlohmann::json body = *out;
    body["error"] = {
        {"code", "invalid_rows"},
        {"message", std::to_string(errors.size()) + " bad row(s) in " +
                        std::to_string((*out)["records"].get<int64_t>()) +
                        " record(s); nothing applied; first: " + errors[0]["text"].get<std::string>()}};
    return JsonResponse(400, body);
  }
  return JsonResponse(200, *out);
}

HttpResponse HandleGetTwinContext(const std::string& twin, engine::Service& service) {
  auto out = service.GetTwinContext(twin);
  if (!out.ok()) return ErrorResponse(out.status());
  return JsonResponse(200, *out);
}

}  // namespace doppel::api
