#include "ingest/opcua_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace doppel::testing {

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

NodeOpcUaServer::NodeOpcUaServer(std::vector<std::string> extra_args)
    : port_(FreePort()), extra_(std::move(extra_args)) {
  std::string modules = SourceDir() + "/tests/opcua/node_modules/node-opcua";
  if (!std::filesystem::exists(modules)) {
    error_ = "node-opcua is not installed: run `npm ci --prefix " + SourceDir() +
             "/tests/opcua` (node >= 18 needed)";
    return;
  }
  Launch();
}

bool NodeOpcUaServer::Launch() {
  std::string log = dir_.file("server" + std::to_string(++launches_) + ".log");
  std::vector<std::string> argv = {"node",   SourceDir() + "/tests/opcua/server.mjs",
                                   "--port", std::to_string(port_),
                                   "--pki",  dir_.file("pki")};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  proc_ = std::make_unique<ChildProcess>(argv, log);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string out = ReadAll(log);
    if (out.find("ready") != std::string::npos) return true;
    if (!proc_->running()) {
      error_ = "tests/opcua/server.mjs exited: " + out;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "tests/opcua/server.mjs did not print 'ready' within 60 s: " + ReadAll(log);
  return false;
}

void NodeOpcUaServer::Kill() {
  if (proc_) proc_->Kill(SIGKILL);
}

bool NodeOpcUaServer::Restart() {
  Kill();
  proc_.reset();
  return Launch();
}

RawTcpServer::RawTcpServer(std::vector<std::string> replies) : replies_(std::move(replies)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("RawTcpServer: bind/listen failed");
  socklen_t len = sizeof(a);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

RawTcpServer::~RawTcpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void RawTcpServer::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    char buf[65536];
    for (const std::string& reply : replies_) {
      pollfd q{fd, POLLIN, 0};
      if (::poll(&q, 1, 2000) <= 0) break;
      if (::recv(fd, buf, sizeof(buf), 0) <= 0) break;
      if (::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::close(fd);
  }
}

}  // namespace doppel::testing
