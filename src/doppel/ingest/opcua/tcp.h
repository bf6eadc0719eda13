// A byte stream to an OPC UA server, and a blocking TCP client for it with timeouts.
//
// The OPC UA transport (transport.h) is written against ByteStream so tests can hand it any
// peer. TcpConnect is the one place of the OPC UA client that touches the OS (sockets); it is a
// candidate for src/doppel/platform.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "doppel/core/status.h"

namespace doppel::ingest::opcua {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Writes all of `data` or fails (kUnavailable when the peer is gone).
  virtual Status Write(std::string_view data) = 0;
  // Reads 1..n bytes into `buf`, waiting at most timeout_ms. kDeadlineExceeded on timeout,
  // kUnavailable when the peer closed the connection or it broke.
  virtual Result<size_t> Read(char* buf, size_t n, int timeout_ms) = 0;
};

// Connects to host:port (numeric IPv4/IPv6 or a name), waiting at most timeout_ms.
Result<std::unique_ptr<ByteStream>> TcpConnect(const std::string& host, int port, int timeout_ms);

}  // namespace doppel::ingest::opcua
