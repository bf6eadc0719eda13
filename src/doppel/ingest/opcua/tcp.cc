#include "doppel/ingest/opcua/tcp.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace doppel::ingest::opcua {

namespace {

class TcpStream : public ByteStream {
 public:
  TcpStream(int fd, std::string peer) : fd_(fd), peer_(std::move(peer)) {}
  ~TcpStream() override { ::close(fd_); }

  Status Write(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, 5000) <= 0) return Unavailable(peer_ + ": send timed out");
        continue;
      }
      if (n <= 0) return Unavailable(fmt::format("{}: send failed: {}", peer_, std::strerror(errno)));
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Result<size_t> Read(char* buf, size_t n, int timeout_ms) override {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Unavailable(fmt::format("{}: poll failed: {}", peer_, std::strerror(errno)));
      if (r == 0)
        return Status(StatusCode::kDeadlineExceeded,
                      peer_ + ": no data within " + std::to_string(timeout_ms) + " ms");
      ssize_t got = ::recv(fd_, buf, n, 0);
      if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (got < 0) return Unavailable(fmt::format("{}: receive failed: {}", peer_, std::strerror(errno)));
      if (got == 0) return Unavailable(peer_ + ": connection closed by the server");
      return static_cast<size_t>(got);
    }
  }

 private:
  int fd_;
  std::string peer_;
};

}  // namespace

Result<std::unique_ptr<ByteStream>> TcpConnect(const std::string& host, int port, int timeout_ms) {
  std::string peer = fmt::format("{}:{}", host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0)
    return Unavailable(fmt::format("{}: cannot resolve: {}", peer, gai_strerror(rc)));
  std::string last = "no address";
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, timeout_ms);
      if (rc == 0) {
        ::close(fd);
        last = fmt::format("connect timed out after {} ms", timeout_ms);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc < 0) {
      last = std::strerror(errno);
      ::close(fd);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::freeaddrinfo(res);
    return std::unique_ptr<ByteStream>(std::make_unique<TcpStream>(fd, peer));
  }
  ::freeaddrinfo(res);
  return Unavailable(fmt::format("{}: cannot connect: {}", peer, last));
}

}  // namespace doppel::ingest::opcua
