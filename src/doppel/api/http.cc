#include "doppel/api/http.h"

#include <cstdint>

namespace doppel::api {

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

Result<ParsedTarget> ParseTarget(std::string_view target) {
  if (target.empty() || target[0] != '/') {
    return InvalidArgument("request target must start with '/'");
  }
  ParsedTarget t;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  size_t hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  t.path = std::string(path);

  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view raw = path.substr(pos, end - pos);
    if (!raw.empty()) {
      std::string seg;
      if (!PercentDecode(raw, false, &seg)) return InvalidArgument("malformed %-escape in path");
      t.segments.push_back(std::move(seg));
    }
    pos = end + 1;
  }

  pos = 0;
  while (pos < query.size()) {
    size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    std::string_view kv = query.substr(pos, end - pos);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      std::string key, value;
      if (!PercentDecode(kv.substr(0, eq), true, &key) ||
          (eq != std::string_view::npos && !PercentDecode(kv.substr(eq + 1), true, &value))) {
        return InvalidArgument("malformed %-escape in query string");
      }
      t.query[key] = std::move(value);
    }
    pos = end + 1;
  }
  return t;
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kResourceExhausted: return 503;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kCancelled: return 409;
    default: return 500;
  }
}

HttpResponse JsonResponse(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  // Replace invalid UTF-8 (e.g. from an id echoed back) instead of throwing.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse NoContentResponse() {
  HttpResponse r;
  r.status = 204;
  return r;
}

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  nlohmann::json j = {{"error", {{"code", std::string(code)}, {"message", std::string(message)}}}};
  HttpResponse r = JsonResponse(status, j);
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

HttpResponse ErrorResponse(const Status& status) {
  int http = HttpStatusFor(status.code());
  HttpResponse r = ErrorResponse(http, StatusCodeName(status.code()), status.message());
  if (status.code() == StatusCode::kResourceExhausted || status.code() == StatusCode::kUnavailable) {
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Walk the longer length so the time depends only on the lengths, never on content.
  size_t n = a.size() > b.size() ? a.size() : b.size();
  volatile uint8_t diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    uint8_t x = i < a.size() ? static_cast<uint8_t>(a[i]) : 0;
    uint8_t y = i < b.size() ? static_cast<uint8_t>(b[i]) : 0;
    diff = diff | static_cast<uint8_t>(x ^ y);
  }
  return diff == 0;
}

Result<Principal> Authenticate(std::string_view authorization, std::string_view query_token,
                               const std::vector<TokenEntry>& tokens) {
  std::string_view token;
  if (!authorization.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.size() <= kBearer.size()) {
      return Status(StatusCode::kUnauthenticated, "Authorization header must be 'Bearer <token>'");
    }
    for (size_t i = 0; i < kBearer.size(); ++i) {
      char c = authorization[i];
      char k = kBearer[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (k >= 'A' && k <= 'Z') k = static_cast<char>(k - 'A' + 'a');
      if (c != k)
        return Status(StatusCode::kUnauthenticated, "Authorization header must be 'Bearer <token>'");
    }
    token = authorization.substr(kBearer.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
  } else {
    token = query_token;
  }
  if (token.empty()) return Status(StatusCode::kUnauthenticated, "missing bearer token");

  const TokenEntry* found = nullptr;
  for (const TokenEntry& e : tokens) {
    // No early exit: every entry is compared so timing does not reveal which one matched.
    bool eq = ConstantTimeEquals(token, e.token);
    if (eq && found == nullptr) found = &e;
  }
  if (found == nullptr) return Status(StatusCode::kUnauthenticated, "unknown bearer token");
  Principal p;
  p.role = found->role;
  p.name = found->name.empty() ? std::string("api:") + RoleName(found->role) : found->name;
  return p;
}

}  // namespace doppel::api
