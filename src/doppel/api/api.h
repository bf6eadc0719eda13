// ApiHandler: the whole request pipeline short of the sockets — body limit, health, bearer
// auth, routing (handlers.h), static files, and the HTTP metrics. The sessions in server.cc
// hand it a plain HttpRequest and write back the HttpResponse.
#pragma once

#include <map>
#include <string>

#include "doppel/api/http.h"
#include "doppel/api/server.h"
#include "doppel/core/metrics.h"
#include "doppel/engine/service.h"

namespace doppel::api {

class ApiHandler {
 public:
  // `metrics` may be null (nothing counted). Both pointers must outlive the handler.
  ApiHandler(engine::Service* service, MetricsRegistry* metrics, ApiOptions options);

  // Answers one request and counts it in doppel_http_requests_total{code} and
  // doppel_http_request_seconds.
  HttpResponse Handle(const HttpRequest& request) const;

  // For a WebSocket upgrade of /api/v1/stream: the token may also come as ?token= (browsers
  // cannot set headers on a WebSocket). kUnauthenticated, or kPermissionDenied (never, today:
  // viewer is the lowest role).
  Result<Principal> AuthenticateStream(const HttpRequest& request) const;
  static bool IsStreamTarget(std::string_view target);

  // Counts a response produced outside Handle (e.g. 413 from the parser's body limit).
  void Count(int status, double seconds) const;

  const ApiOptions& options() const { return options_; }
  engine::Service& service() const { return *service_; }
  MetricsRegistry* metrics() const { return metrics_; }

 private:
  HttpResponse Dispatch(const HttpRequest& request) const;

  engine::Service* service_;
  MetricsRegistry* metrics_;
  ApiOptions options_;
  std::map<int, Counter*> by_code_;  // pre-registered at construction; read-only after
  Histogram* latency_ = nullptr;
};

}  // namespace doppel::api
