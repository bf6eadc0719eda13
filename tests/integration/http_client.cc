#include "integration/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <optional>

namespace doppel::integration {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

nlohmann::json HttpResult::Json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

nlohmann::json HttpResult::Items(const std::string& key) const {
  nlohmann::json j = Json();
  if (!j.is_object() || !j.contains(key)) return nlohmann::json::array();
  return j[key];
}

std::string HttpResult::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::string HttpResult::Describe() const {
  std::string b = body.size() > 400 ? body.substr(0, 400) + "..." : body;
  return request_line + " -> " + std::to_string(status) + " " + b;
}

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Runs `ioc` until `done` or the deadline; on the deadline closes `sock` (aborting the pending
// operation) and drains the handlers. True when the operation completed in time.
bool RunUntil(net::io_context& ioc, bool& done, std::chrono::steady_clock::time_point deadline,
              tcp::socket& sock) {
  ioc.restart();
  while (!done) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (ioc.run_one_for(deadline - now) == 0 && ioc.stopped()) break;
  }
  if (done) return true;
  beast::error_code ignored;
  sock.close(ignored);
  ioc.restart();
  ioc.run();
  return false;
}

}  // namespace

HttpResult Http(int port, const std::string& method, const std::string& target, const std::string& token,
                const std::string& body, std::chrono::milliseconds timeout) {
  HttpResult out;
  out.request_line = method + " " + target;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  net::io_context ioc;
  tcp::socket sock(ioc);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));

  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  req.set(http::field::user_agent, "doppel-integration-test");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.keep_alive(false);
  req.prepare_payload();

  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  parser.header_limit(1024 * 1024);
  bool done = false;
  beast::error_code err;

  sock.async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      err = ec;
      done = true;
      return;
    }
    http::async_write(sock, req, [&](beast::error_code ec2, size_t) {
      if (ec2) {
        err = ec2;
        done = true;
        return;
      }
      http::async_read(sock, buf, parser, [&](beast::error_code ec3, size_t) {
        err = ec3;
        done = true;
      });
    });
  });
  if (!RunUntil(ioc, done, deadline, sock)) {
    out.body = "timeout after " + std::to_string(timeout.count()) + " ms";
    return out;
  }
  if (err) {
    out.body = "transport error: " + err.message();
    return out;
  }
  auto& res = parser.get();
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& f : res) out.headers[Lower(std::string(f.name_string()))] = std::string(f.value());
  beast::error_code ignored;
  sock.shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

// --- WebSocket ---------------------------------------------------------------------------------

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  beast::flat_buffer buf;
  bool read_pending = false;
  bool read_done = false;
  beast::error_code read_ec;
  bool open = false;
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}

WsClient::~WsClient() { Close(); }

bool WsClient::Connect(int port, const std::string& target, const std::string& bearer) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port));
  if (!bearer.empty()) {
    impl_->ws.set_option(websocket::stream_base::decorator(
        [bearer](websocket::request_type& req) { req.set(http::field::authorization, "Bearer " + bearer); }));
  }
  websocket::response_type res;
  bool done = false;
  beast::error_code err;
  auto& sock = beast::get_lowest_layer(impl_->ws);
  sock.async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      err = ec;
      done = true;
      return;
    }
    impl_->ws.async_handshake(res, "127.0.0.1:" + std::to_string(port), target, [&](beast::error_code ec2) {
      err = ec2;
      done = true;
    });
  });
  if (!RunUntil(impl_->ioc, done, deadline, sock)) {
    error_ = "websocket connect/handshake timed out";
    return false;
  }
  handshake_status_ = static_cast<int>(res.result_int());
  if (err) {
    error_ =
        "websocket handshake failed: " + err.message() + " (HTTP " + std::to_string(handshake_status_) + ")";
    return false;
  }
  impl_->open = true;
  return true;
}

bool WsClient::Send(const std::string& text) {
  if (!impl_->open) return false;
  beast::error_code ec;
  impl_->ws.text(true);
  impl_->ws.write(net::buffer(text), ec);  // small frames on loopback: never blocks for long
  if (ec) error_ = "websocket write: " + ec.message();
  return !ec;
}

bool WsClient::Read(std::string* out, std::chrono::milliseconds timeout) {
  if (!impl_->open) return false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!impl_->read_pending) {
    impl_->read_pending = true;
    impl_->read_done = false;
    impl_->ws.async_read(impl_->buf, [this](beast::error_code ec, size_t) {
      impl_->read_ec = ec;
      impl_->read_done = true;
    });
  }
  // A read that is still pending at the deadline stays pending for the next call.
  impl_->ioc.restart();
  while (!impl_->read_done) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    impl_->ioc.run_one_for(deadline - now);
  }
  if (!impl_->read_done) {
    error_ = "websocket read: timeout";
    return false;
  }
  impl_->read_pending = false;
  if (impl_->read_ec) {
    error_ = "websocket read: " + impl_->read_ec.message();
    impl_->open = false;
    return false;
  }
  *out = beast::buffers_to_string(impl_->buf.data());
  impl_->buf.consume(impl_->buf.size());
  return true;
}

void WsClient::Close() {
  if (!impl_) return;
  beast::error_code ec;
  auto& sock = beast::get_lowest_layer(impl_->ws);
  if (sock.is_open()) {
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }
  impl_->open = false;
  impl_->ioc.restart();
  impl_->ioc.run_for(std::chrono::milliseconds(200));  // lets a pending read finish with an error
}

}  // namespace doppel::integration
