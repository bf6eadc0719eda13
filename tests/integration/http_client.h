// A tiny synchronous HTTP/WebSocket client for the integration tests (Boost.Beast).
//
// Every call opens its own loopback connection, has a deadline, and never throws: transport
// failures come back as status 0 with the error text in `body`, so a test can assert on them.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace doppel::integration {

struct HttpResult {
  int status = 0;                              // 0: no HTTP answer (connection error, timeout)
  std::string body;                            // the body, or the transport error
  std::map<std::string, std::string> headers;  // lower-case names

  // The body as JSON; a discarded (is_discarded()) value when it is not JSON.
  nlohmann::json Json() const;
  // Json()[key] by value (safe in a range-for; an empty array when absent).
  nlohmann::json Items(const std::string& key) const;
  std::string Header(const std::string& lower_name) const;
  // "GET /x -> 401 {...}" for failure messages (body cut at 400 characters).
  std::string Describe() const;
  std::string request_line;
};

// method: GET, POST, ...; target: "/api/v1/twins?x=y"; token: bearer token, none when empty.
HttpResult Http(int port, const std::string& method, const std::string& target, const std::string& token = "",
                const std::string& body = "", std::chrono::milliseconds timeout = std::chrono::seconds(10));

inline HttpResult Get(int port, const std::string& target, const std::string& token = "") {
  return Http(port, "GET", target, token);
}
inline HttpResult Post(int port, const std::string& target, const std::string& token,
                       const nlohmann::json& body) {
  return Http(port, "POST", target, token, body.dump());
}

// Synchronous WebSocket client: connect (token as ?token= or as a bearer header), send text,
// read text messages with a deadline.
class WsClient {
 public:
  WsClient();
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects and upgrades; false with error() set when the handshake fails (e.g. a 401).
  bool Connect(int port, const std::string& target, const std::string& bearer = "");
  bool Send(const std::string& text);
  // Reads one message; false on timeout or error (error() says which).
  bool Read(std::string* out, std::chrono::milliseconds timeout);
  void Close();
  const std::string& error() const { return error_; }
  int handshake_status() const { return handshake_status_; }  // the HTTP status of a refused upgrade

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string error_;
  int handshake_status_ = 0;
};

}  // namespace doppel::integration
