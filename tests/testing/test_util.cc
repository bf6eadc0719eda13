#include "testing/test_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "doppel/platform/process.h"

namespace doppel::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/doppel-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

int FreePort() { return platform::FreeLoopbackPort(); }

bool WaitForPort(int port, int timeout_ms) { return platform::WaitForLoopbackPort(port, timeout_ms); }

Mosquitto::Mosquitto() : port_(0) {
  // A free port can be taken by a concurrent test between FreePort() and mosquitto's bind;
  // then mosquitto exits and the port answers for *another* broker. So only a listener owned
  // by our own mosquitto process counts; otherwise try another port.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (Launch(FreePort(), attempt)) return;
    if (proc_->running()) throw std::runtime_error("mosquitto did not listen within 10 s");
  }
  throw std::runtime_error("mosquitto could not bind a free loopback port in 5 attempts");
}

Mosquitto::Mosquitto(int port) : port_(0) {
  if (!Launch(port, 0)) throw std::runtime_error("mosquitto did not listen on port " + std::to_string(port));
}

bool Mosquitto::Launch(int port, int attempt) {
  port_ = port;
  std::string conf = dir_.file("mosquitto-" + std::to_string(attempt) + ".conf");
  std::ofstream(conf) << "listener " << port_ << " 127.0.0.1\nallow_anonymous true\npersistence false\n"
                      << "max_queued_messages 1000000\nmax_inflight_messages 1000\n";
  proc_ = std::make_unique<platform::Subprocess>(std::vector<std::string>{"mosquitto", "-c", conf},
                                                 dir_.file("log-" + std::to_string(attempt)));
  return WaitForChildListening(*proc_, port_, 10000);
}

std::string Mosquitto::url() const { return "mqtt://127.0.0.1:" + std::to_string(port_); }

std::string SourceDir() { return DOPPEL_SOURCE_DIR; }
std::string DoppelBinary() { return DOPPEL_BINARY; }

}  // namespace doppel::testing
