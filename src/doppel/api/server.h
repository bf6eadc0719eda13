// ApiServer: the HTTP/1.1 + WebSocket front end (Boost.Beast over Asio).
//
// Thin I/O: the sessions in server.cc only move bytes. Every request is turned into a plain
// HttpRequest and answered by ApiHandler (api.h), which is a set of pure functions over
// engine::Service and is unit-tested without sockets. See docs/api.md for the routes.
//
// Thread safety: Start/Stop/port may be called from any thread; Stop is idempotent and is
// called by the destructor. The Service and MetricsRegistry must outlive the server.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "doppel/core/metrics.h"
#include "doppel/core/status.h"

namespace doppel::engine {
class Service;
}

namespace doppel::api {

// Ordered: a role may do everything the roles below it may.
enum class Role { kViewer = 0, kOperator = 1, kAdmin = 2 };
const char* RoleName(Role role);  // "viewer" | "operator" | "admin"
// Parses "viewer" / "operator" / "admin"; returns false for anything else.
bool ParseRole(const std::string& s, Role* out);

struct TokenEntry {
  std::string token;  // the bearer secret; compared in constant time, never logged
  Role role = Role::kViewer;
  // Who the token stands for in audit fields (e.g. a command's "issued_by"). Empty: "api:<role>".
  std::string name;
};

struct ApiOptions {
  // "host:port", "[v6]:port" or ":port" (all interfaces). Port 0 picks a free port.
  std::string listen = "127.0.0.1:8080";
  std::vector<TokenEntry> tokens;
  int io_threads = 1;
  // Threads for the slow routes (IsSlowRoute: synchronous what-if, simulation sandboxes), so a
  // long simulation never holds an io thread; more such requests than threads wait their turn.
  int worker_threads = 2;
  // Serve GET / and static files from here; empty: a small built-in live page at GET /.
  std::string static_dir;
  size_t max_body_bytes = 8 * 1024 * 1024;
  // A WebSocket client that lags behind by more than this many events loses the oldest ones.
  size_t stream_queue_events = 10000;
  // GET /metrics without a token from loopback peers (a Prometheus agent on the same host);
  // from anywhere else it needs a viewer token like every other route. false: always a token.
  bool metrics_open_on_loopback = true;
  // Idle HTTP keep-alive connections are closed after this long.
  int idle_timeout_s = 60;

  // kInvalidArgument naming the field: bad listen address, io_threads or worker_threads outside
  // 1..64, empty or
  // duplicate tokens, max_body_bytes or stream_queue_events of 0, static_dir not a directory.
  Status Validate() const;
};

// Splits ApiOptions::listen into host and port (an empty host means all interfaces).
Status ParseListen(const std::string& listen, std::string* host, int* port);

class ApiServer {
 public:
  // Validates the options, binds and starts `options.io_threads` io threads. kInvalidArgument
  // for bad options, kUnavailable when the address cannot be bound.
  static Result<std::unique_ptr<ApiServer>> Start(engine::Service* service, MetricsRegistry* metrics,
                                                  ApiOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // The bound port (the chosen one when listen asked for port 0).
  int port() const;
  // Stops accepting, closes every connection and stream subscription, joins the io threads.
  void Stop();

  struct Impl;

 private:
  explicit ApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace doppel::api
