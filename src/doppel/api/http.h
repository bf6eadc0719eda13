// Plain HTTP request/response values and helpers shared by the handlers and the sessions.
// Nothing here knows about sockets or Beast, so handlers are unit-testable as functions.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/api/server.h"
#include "doppel/core/status.h"

namespace doppel::api {

struct HttpRequest {
  std::string method;         // "GET", "POST", ...
  std::string target;         // raw request target: path and optional "?query"
  std::string authorization;  // the Authorization header value, or empty
  std::string body;
  bool from_loopback = false;  // the peer is on 127.0.0.0/8 or ::1 (set by the session)
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Allow, Retry-After)
};

// Who is asking: resolved from the bearer token.
struct Principal {
  std::string name;  // e.g. "api:operator"
  Role role = Role::kViewer;
};

// A request target split into percent-decoded path segments and query parameters.
struct ParsedTarget {
  std::string path;                          // raw (still encoded) path, e.g. "/api/v1/twins/pump%2D1"
  std::vector<std::string> segments;         // decoded, e.g. {"api","v1","twins","pump-1"}
  std::map<std::string, std::string> query;  // decoded; the last of repeated keys wins
};

// kInvalidArgument for a target that is not origin-form or has a bad %-escape.
Result<ParsedTarget> ParseTarget(std::string_view target);
// %XX decoding; `plus_is_space` for query components. False on a malformed escape.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out);

// The HTTP status for a non-OK Status (invalid_argument 400, not_found 404, ...).
int HttpStatusFor(StatusCode code);

// {"error":{"code":code,"message":message}} with `status`.
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message);
// ErrorResponse for a non-OK Status, mapped with HttpStatusFor.
HttpResponse ErrorResponse(const Status& status);
HttpResponse JsonResponse(int status, const nlohmann::json& body);
// 204, no body (a delete that succeeded).
HttpResponse NoContentResponse();

// Byte comparison whose time does not depend on where the strings differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Resolves a bearer token. `authorization` is the header value ("Bearer <token>");
// `query_token` a fallback taken from ?token= where the route allows it (WebSocket).
// kUnauthenticated when no token is given or it is unknown. Every entry is compared.
Result<Principal> Authenticate(std::string_view authorization, std::string_view query_token,
                               const std::vector<TokenEntry>& tokens);

}  // namespace doppel::api
