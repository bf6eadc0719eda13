#include <charconv>
#include <filesystem>
#include <set>

#include "doppel/api/server.h"

namespace doppel::api {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
  }
  return "unknown";
}

bool ParseRole(const std::string& s, Role* out) {
  if (s == "viewer")
    *out = Role::kViewer;
  else if (s == "operator")
    *out = Role::kOperator;
  else if (s == "admin")
    *out = Role::kAdmin;
  else
    return false;
  return true;
}

Status ParseListen(const std::string& listen, std::string* host, int* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgument("listen: '" + listen + "' is not host:port");
  }
  std::string h = listen.substr(0, colon);
  std::string p = listen.substr(colon + 1);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']')
    h = h.substr(1, h.size() - 2);
  else if (h.find(':') != std::string::npos) {
    return InvalidArgument("listen: IPv6 address must be in brackets, e.g. [::1]:8080");
  }
  int value = -1;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || value < 0 || value > 65535) {
    return InvalidArgument("listen: port '" + p + "' is not a number in 0..65535");
  }
  *host = h;
  *port = value;
  return Status::Ok();
}

Status ApiOptions::Validate() const {
  std::string host;
  int port = 0;
  DOPPEL_RETURN_IF_ERROR(ParseListen(listen, &host, &port));
  if (io_threads < 1 || io_threads > 64) {
    return InvalidArgument("io_threads: " + std::to_string(io_threads) + " is outside 1..64");
  }
  if (worker_threads < 1 || worker_threads > 64) {
    return InvalidArgument("worker_threads: " + std::to_string(worker_threads) + " is outside 1..64");
  }
  if (max_body_bytes == 0) return InvalidArgument("max_body_bytes: must be positive");
  if (stream_queue_events == 0) return InvalidArgument("stream_queue_events: must be positive");
  if (idle_timeout_s < 1) return InvalidArgument("idle_timeout_s: must be positive");
  std::set<std::string> seen;
  for (size_t i = 0; i < tokens.size(); ++i) {
    // Never echo the token itself.
    if (tokens[i].token.empty()) return InvalidArgument("tokens[" + std::to_string(i) + "]: empty token");
    if (!seen.insert(tokens[i].token).second) {
      return InvalidArgument("tokens[" + std::to_string(i) + "]: duplicate token");
    }
  }
  if (!static_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(static_dir, ec)) {
      return InvalidArgument("static_dir: '" + static_dir + "' is not a directory");
    }
  }
  return Status::Ok();
}

}  // namespace doppel::api
