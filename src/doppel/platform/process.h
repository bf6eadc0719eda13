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
