// Helpers shared by the tests: temporary directories, free loopback ports, child processes.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "doppel/platform/process.h"

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

// The process helpers live in platform (platform/process.h); tests use them directly.
using ChildProcess = platform::Subprocess;

// Waits until `child` itself listens on 127.0.0.1:port (not another test's process that took
// the port); false when the child exits first or after timeout_ms.
using platform::WaitForChildListening;

// A real mosquitto broker on a free loopback port, for the life of the object.
class Mosquitto {
 public:
  Mosquitto();
  // On a given port (a broker restarted where its clients expect it); throws when it cannot
  // listen there.
  explicit Mosquitto(int port);
  int port() const { return port_; }
  std::string url() const;

 private:
  bool Launch(int port, int attempt);  // true when our process listens on `port`
  TempDir dir_;
  int port_;
  std::unique_ptr<platform::Subprocess> proc_;
};

std::string SourceDir();     // the repository root
std::string DoppelBinary();  // build/doppel

}  // namespace doppel::testing
