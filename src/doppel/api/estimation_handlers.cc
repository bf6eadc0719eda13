// Estimation routes (docs/api.md): GET .../state and the synchronous POST .../whatif, with the
// what-if body parser shared by the what-if jobs (whatif_handlers.cc). Registered in Routes()
// of handlers.cc.
#include <cmath>
#include <map>
#include <string>

#include "doppel/api/handler_util.h"
#include "doppel/api/handlers.h"

namespace doppel::api {

using nlohmann::json;

namespace {

json EstimatedValuesToJson(const std::vector<engine::EstimatedValue>& vs) {
  json o = json::object();
  for (const auto& v : vs) o[v.name] = {{"value", v.value}, {"std", v.std}, {"unit", v.unit}};
  return o;
}

json InputsToJson(const std::vector<std::pair<std::string, double>>& in) {
  json o = json::object();
  for (const auto& [name, v] : in)
    o[name] = std::isfinite(v) ? json(v) : json(nullptr);  // null: local control
  return o;
}

Result<double> NumberField(const json& j, const std::string& where) {
  if (!j.is_number()) return InvalidArgument(where + ": expected a number");
  double v = j.get<double>();
  if (!std::isfinite(v)) return InvalidArgument(where + ": expected a finite number");
  return v;
}

Status ParseOverrides(const json& j, const std::string& where, engine::WhatIfOverrides* out) {
  if (!j.is_object()) return InvalidArgument(where + ": expected an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::map<std::string, double>* dst = nullptr;
    if (it.key() == "inputs") {
      dst = &out->inputs;
    } else if (it.key() == "params" || it.key() == "parameters") {
      dst = &out->params;
    } else {
      return InvalidArgument(where + "." + it.key() + ": unknown field (expected inputs or params)");
    }
    const std::string w = where + "." + it.key();
    if (!it->is_object()) return InvalidArgument(w + ": expected an object of numbers");
    for (auto v = it->begin(); v != it->end(); ++v) {
      auto num = NumberField(*v, w + "." + v.key());
      if (!num.ok()) return num.status();
      (*dst)[v.key()] = *num;
    }
  }
  return Status::Ok();
}

Result<engine::WhatIfRequest> ParseWhatIf(const json& j) {
  engine::WhatIfRequest req;
  bool has_horizon = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const std::string where = "$." + k;
    if (k == "horizon_s" || k == "step_s" || k == "budget_s") {
      auto v = NumberField(*it, where);
      if (!v.ok()) return v.status();
      (k == "horizon_s" ? req.horizon_s : k == "step_s" ? req.step_s : req.budget_s) = *v;
      has_horizon |= k == "horizon_s";
    } else if (k == "samples") {
      Result<int64_t> samples = JsonInt64(*it, where);
      if (!samples.ok()) return samples.status();
      const int64_t n = *samples;
      if (n < 1 || n > engine::kWhatIfMaxSamples) {
        return InvalidArgument(where + ": " + std::to_string(n) + " is outside 1.." +
                               std::to_string(engine::kWhatIfMaxSamples));
      }
      req.samples = static_cast<int>(n);
    } else if (k == "seed") {
      if (!it->is_number_unsigned()) return InvalidArgument(where + ": expected a non-negative integer");
      req.seed = it->get<uint64_t>();
    } else if (k == "overrides") {
      DOPPEL_RETURN_IF_ERROR(ParseOverrides(*it, where, &req.overrides));
    } else if (k == "scenarios") {
      if (!it->is_array()) return InvalidArgument(where + ": expected an array");
      for (size_t i = 0; i < it->size(); ++i) {
        const json& sj = (*it)[i];
        const std::string w = where + "[" + std::to_string(i) + "]";
        if (!sj.is_object()) return InvalidArgument(w + ": expected an object");
        engine::WhatIfScenario sc;
        for (auto f = sj.begin(); f != sj.end(); ++f) {
          if (f.key() == "name") {
            if (!f->is_string()) return InvalidArgument(w + ".name: expected a string");
            sc.name = f->get<std::string>();
          } else if (f.key() == "overrides") {
            DOPPEL_RETURN_IF_ERROR(ParseOverrides(*f, w + ".overrides", &sc.overrides));
          } else {
            return InvalidArgument(w + "." + f.key() + ": unknown field");
          }
        }
        req.scenarios.push_back(std::move(sc));
      }
    } else {
      return InvalidArgument(where + ": unknown field");
    }
  }
  if (!has_horizon) return InvalidArgument("$.horizon_s: required");
  return req;
}

}  // namespace

Result<engine::WhatIfRequest> ParseWhatIfRequest(const std::string& body) {
  Result<json> j = ParseJsonObject(body);
  if (!j.ok()) return j.status();
  return ParseWhatIf(*j);
}

HttpResponse HandleGetState(const std::string& twin, engine::Service& service) {
  auto e = service.GetEstimate(twin);
  if (!e.ok()) return ErrorResponse(e.status());
  return JsonResponse(200, EstimateToJson(*e));
}

HttpResponse HandleWhatIf(const HttpRequest& request, const std::string& twin, engine::Service& service) {
  auto req = ParseWhatIfRequest(request.body);
  if (!req.ok()) return ErrorResponse(req.status());
  auto res = service.WhatIf(twin, *req);
  if (!res.ok()) {
    if (res.status().code() == StatusCode::kDeadlineExceeded) {
      HttpResponse r = ErrorResponse(503, "deadline_exceeded", res.status().message());
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    return ErrorResponse(res.status());
  }
  return JsonResponse(200, WhatIfToJson(*res));
}

json EstimateToJson(const engine::TwinEstimate& e) {
  json channels = json::object();
  for (const auto& [name, v] : e.ewma_channel_nis) channels[name] = v;
  json outliers = json::object();
  for (const auto& [name, n] : e.outliers) outliers[name] = n;
  json j = {{"twin", e.twin},
            {"model", e.model},
            {"ts", e.ts_ns},
            {"estimator", e.estimator},
            {"states", EstimatedValuesToJson(e.states)},
            {"parameters", EstimatedValuesToJson(e.parameters)},
            {"inputs", InputsToJson(e.inputs)},
            {"nis",
             {{"updates", e.updates},
              {"last", e.last_nis},
              {"last_dof", e.last_dof},
              {"mean_per_dof", e.mean_nis_per_dof},
              {"ewma_per_dof", e.ewma_nis_per_dof},
              {"ewma_per_channel", std::move(channels)},
              {"outliers", std::move(outliers)},
              {"predict_only", e.predict_only},
              {"rejected", e.rejected},
              {"divergences", e.divergences}}}};
  json calibrated = json::object();
  for (const auto& [name, v] : e.calibrated) calibrated[name] = v;
  j["calibrated"] = std::move(calibrated);
  if (e.fit) {
    j["fit"] = {{"parameters", EstimatedValuesToJson(e.fit->parameters)},
                {"forgetting", e.fit->forgetting},
                {"samples", e.fit->samples},
                {"skipped", e.fit->skipped},
                {"ts", e.fit->ts_ns}};
  }
  return j;
}

json WhatIfToJson(const engine::WhatIfResult& r) {
  auto outputs = [](const engine::WhatIfResult::Scenario& s) {
    json o = json::object();
    for (const auto& [name, b] : s.outputs) o[name] = {{"p5", b.p5}, {"p50", b.p50}, {"p95", b.p95}};
    return o;
  };
  json j = {
      {"twin", r.twin}, {"from", r.from_ts_ns}, {"samples", r.samples}, {"wall_s", r.wall_s}, {"t", r.t}};
  if (!r.named_scenarios && r.scenarios.size() == 1) {
    j["outputs"] = outputs(r.scenarios[0]);
  } else {
    json arr = json::array();
    for (const auto& s : r.scenarios) arr.push_back({{"name", s.name}, {"outputs", outputs(s)}});
    j["scenarios"] = std::move(arr);
  }
  return j;
}

}  // namespace doppel::api
