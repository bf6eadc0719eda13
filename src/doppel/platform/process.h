// Process-level OS services for the app: shutdown signals and random secrets.
#pragma once

#include <string>

namespace doppel::platform {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it creates afterwards;
// call first thing in main, then WaitForShutdownSignal() receives them.
void BlockShutdownSignals();
// Blocks until SIGINT or SIGTERM; returns its name.
std::string WaitForShutdownSignal();
// `bytes` random bytes from the OS (getrandom), hex-encoded: tokens and ids.
std::string RandomHex(size_t bytes);

}  // namespace doppel::platform

#include <sys/types.h>

#include <vector>

namespace doppel::platform {

// A child process started with execvp; stdout and stderr go to `log_file` (inherited when
// empty). The destructor sends SIGTERM, then SIGKILL after 3 s, and reaps it. The child is
// killed when the thread that started it exits (PR_SET_PDEATHSIG), so start long-lived
// children from a thread that lives as long as they should.
class Subprocess {
 public:
  Subprocess(const std::vector<std::string>& argv, const std::string& log_file = "");
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  pid_t pid() const { return pid_; }
  bool running();
  void Kill(int signal);  // sends `signal` and reaps the process

 private:
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago, picked at random below the kernel's
// ephemeral range. Another process may still take it before the caller binds it: use
// WaitForChildListening to tell the child's listener apart from a stranger's.
int FreeLoopbackPort();
// True when process `pid` owns a socket listening on 127.0.0.1:port or 0.0.0.0:port
// (Linux: /proc/net/tcp and /proc/<pid>/fd).
bool ProcessListensOn(pid_t pid, int port);
// Waits until `child` itself listens on `port`; false when the child exits first (e.g. the
// port was taken) or after timeout_ms.
bool WaitForChildListening(Subprocess& child, int port, int timeout_ms);
// Waits until 127.0.0.1:port accepts a connection; false after timeout_ms.
bool WaitForLoopbackPort(int port, int timeout_ms);

}  // namespace doppel::platform
