// Real peers for the OPC UA client tests: the node-opcua server of tests/opcua and a raw TCP
// server that answers with bytes chosen by the test (garbage frames).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "testing/test_util.h"

namespace doppel::testing {

// node tests/opcua/server.mjs on a free loopback port. ok() is false (and error() says why,
// including how to install node-opcua) when it could not be started.
class NodeOpcUaServer {
 public:
  explicit NodeOpcUaServer(std::vector<std::string> extra_args = {});
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string endpoint() const { return "opc.tcp://127.0.0.1:" + std::to_string(port_); }
  void Kill();     // SIGKILL, no goodbye on the wire
  bool Restart();  // a new process on the same port (same PKI directory)

 private:
  bool Launch();
  TempDir dir_;
  int port_;
  int launches_ = 0;
  std::vector<std::string> extra_;
  std::unique_ptr<ChildProcess> proc_;
  std::string error_;
};

// Accepts connections on a free loopback port; for each, reads one chunk from the client and
// answers with replies[0], then the next read with replies[1], ...; then closes.
class RawTcpServer {
 public:
  explicit RawTcpServer(std::vector<std::string> replies);
  ~RawTcpServer();
  int port() const { return port_; }
  std::string endpoint() const { return "opc.tcp://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  void Serve();
  std::vector<std::string> replies_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

}  // namespace doppel::testing
