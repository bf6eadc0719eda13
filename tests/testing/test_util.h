// Helpers shared by the tests: temporary directories, free loopback ports, child processes.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace doppel::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort();

// Waits until 127.0.0.1:port accepts a connection; false after timeout_ms.
bool WaitForPort(int port, int timeout_ms);

// A child process started with execvp; stdout and stderr go to `log_file` (or are inherited
// when empty). The destructor sends SIGTERM, then SIGKILL after 3 s, and reaps it.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_file = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  void Kill(int signal);  // sends `signal` and reaps the process
 private:
  pid_t pid_ = -1;
};

// A real mosquitto broker on a free loopback port, for the life of the object.
class Mosquitto {
 public:
  Mosquitto();
  int port() const { return port_; }
  std::string url() const;

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<ChildProcess> proc_;
};

std::string SourceDir();   // the repository root
std::string DoppelBinary();  // build/doppel

}  // namespace doppel::testing
