#include "doppel/api/api.h"

#include <chrono>

#include "doppel/api/handlers.h"
#include "doppel/api/static_files.h"

namespace doppel::api {

namespace {
constexpr const char* kRequestsName = "doppel_http_requests_total";
constexpr const char* kRequestsHelp = "HTTP requests answered, by status code";
}  // namespace

ApiHandler::ApiHandler(engine::Service* service, MetricsRegistry* metrics, ApiOptions options)
    : service_(service), metrics_(metrics), options_(std::move(options)) {
  if (metrics_ != nullptr) {
    for (int code : {101, 200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 426, 500, 503}) {
      by_code_[code] =
          &metrics_->GetCounter(kRequestsName, kRequestsHelp, "code=\"" + std::to_string(code) + "\"");
    }
    latency_ =
        &metrics_->GetHistogram("doppel_http_request_seconds", "HTTP request handling time in seconds");
  }
}

void ApiHandler::Count(int status, double seconds) const {
  if (metrics_ == nullptr) return;
  auto it = by_code_.find(status);
  if (it != by_code_.end()) {
    it->second->Inc();
  } else {
    metrics_->GetCounter(kRequestsName, kRequestsHelp, "code=\"" + std::to_string(status) + "\"").Inc();
  }
  if (seconds >= 0) latency_->Observe(seconds);
}

bool ApiHandler::IsStreamTarget(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return path == "/api/v1/stream" || path == "/api/v1/stream/";
}

Result<Principal> ApiHandler::AuthenticateStream(const HttpRequest& request) const {
  Result<ParsedTarget> t = ParseTarget(request.target);
  if (!t.ok()) return Status(StatusCode::kUnauthenticated, "bad request target");
  auto it = t->query.find("token");
  std::string_view query_token = it == t->query.end() ? std::string_view() : std::string_view(it->second);
  return Authenticate(request.authorization, query_token, options_.tokens);
}

HttpResponse ApiHandler::Handle(const HttpRequest& request) const {
  auto start = std::chrono::steady_clock::now();
  HttpResponse r = Dispatch(request);
  Count(r.status, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return r;
}

HttpResponse ApiHandler::Dispatch(const HttpRequest& request) const {
  if (request.body.size() > options_.max_body_bytes) {
    return ErrorResponse(413, "payload_too_large",
                         "request body of " + std::to_string(request.body.size()) +
                             " bytes exceeds the limit of " + std::to_string(options_.max_body_bytes));
  }
  Result<ParsedTarget> target = ParseTarget(request.target);
  if (!target.ok()) return ErrorResponse(target.status());
  const ParsedTarget& t = *target;
  const auto& s = t.segments;

  bool is_api = (!s.empty() && s[0] == "api") || (s.size() == 1 && s[0] == "metrics");
  if (is_api) {
    if (s.size() == 3 && s[1] == "v1" && s[2] == "health") {
      // The one route without auth (load balancers, liveness probes).
      if (request.method != "GET") {
        HttpResponse r =
            ErrorResponse(405, "method_not_allowed",
                          "method " + request.method + " not allowed on " + t.path + "; allowed: GET");
        r.headers.emplace_back("Allow", "GET");
        return r;
      }
      return JsonResponse(200, {{"status", "ok"}});
    }
    if (s.size() == 1 && s[0] == "metrics" && request.from_loopback && options_.metrics_open_on_loopback &&
        request.authorization.empty()) {
      // Scrapes from this host need no token (see ApiOptions::metrics_open_on_loopback).
      return HandleApiRequest(request, t, Principal{"metrics:loopback", Role::kViewer}, *service_);
    }
    Result<Principal> who = Authenticate(request.authorization, "", options_.tokens);
    if (!who.ok()) return ErrorResponse(who.status());
    return HandleApiRequest(request, t, *who, *service_);
  }

  if (request.method != "GET") {
    HttpResponse r =
        ErrorResponse(405, "method_not_allowed",
                      "method " + request.method + " not allowed on " + t.path + "; allowed: GET");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (!options_.static_dir.empty()) return ServeStatic(options_.static_dir, t);
  if (s.empty() || (s.size() == 1 && s[0] == "index.html")) {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(LivePageHtml());
    return r;
  }
  return ErrorResponse(404, "not_found", "no route for GET " + t.path);
}

}  // namespace doppel::api
