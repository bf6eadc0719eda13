// Socket-level tests: ApiServer on port 0 and a small synchronous Beast client.
#include <gtest/gtest.h>

// GCC 12 reports -Wmaybe-uninitialized false positives inside Beast's parser when inlining under
// -O2 with sanitizers; the code is Boost's, so silence it for these headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "api/fake_service.h"
#include "doppel/api/server.h"

namespace doppel::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiOptions o;
    o.listen = "127.0.0.1:0";
    o.io_threads = 2;
    o.max_body_bytes = 4096;
    o.tokens = {{"view-tok", Role::kViewer, ""}, {"op-tok", Role::kOperator, ""}};
    o.stream_queue_events = 10;
    auto s = ApiServer::Start(&service_, &metrics_, o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  beast::tcp_stream Connect() {
    beast::tcp_stream stream(ioc_);
    stream.connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(server_->port())));
    stream.expires_after(std::chrono::seconds(10));
    return stream;
  }

  static http::response<http::string_body> RoundTrip(beast::tcp_stream& s, http::verb verb,
                                                     const std::string& target, const std::string& token,
                                                     const std::string& body = "") {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    http::write(s, req);
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return res;
  }

  websocket::stream<beast::tcp_stream> OpenStream(const std::string& target) {
    websocket::stream<beast::tcp_stream> ws(Connect());
    ws.handshake("localhost", target);
    return ws;
  }

  static json ReadJson(websocket::stream<beast::tcp_stream>& ws) {
    beast::flat_buffer buf;
    ws.read(buf);
    return json::parse(beast::buffers_to_string(buf.data()));
  }

  static void SendText(websocket::stream<beast::tcp_stream>& ws, const std::string& s) {
    ws.text(true);
    ws.write(net::buffer(s));
  }

  bool WaitForSubscribers(size_t n) {
    for (int i = 0; i < 200; ++i) {
      if (service_.subscribers() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  testing::FakeService service_;
  MetricsRegistry metrics_;
  std::unique_ptr<ApiServer> server_;
  net::io_context ioc_;
};

TEST_F(ServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  beast::tcp_stream s = Connect();
  auto r1 = RoundTrip(s, http::verb::get, "/api/v1/health", "");
  EXPECT_EQ(r1.result_int(), 200);
  EXPECT_TRUE(r1.keep_alive());
  EXPECT_EQ(json::parse(r1.body())["status"], "ok");
  auto r2 = RoundTrip(s, http::verb::get, "/api/v1/twins/pump-1", "view-tok");
  EXPECT_EQ(r2.result_int(), 200);
  EXPECT_EQ(json::parse(r2.body())["id"], "pump-1");
  EXPECT_EQ(r2[http::field::content_type], "application/json");
  auto r3 = RoundTrip(s, http::verb::get, "/api/v1/twins", "");
  EXPECT_EQ(r3.result_int(), 401);
  EXPECT_EQ(json::parse(r3.body())["error"]["code"], "unauthenticated");
}

TEST_F(ServerTest, BodyTooLargeIs413) {
  beast::tcp_stream s = Connect();
  auto r = RoundTrip(s, http::verb::post, "/api/v1/ingest", "op-tok", std::string(10000, 'x'));
  EXPECT_EQ(r.result_int(), 413);
  EXPECT_EQ(json::parse(r.body())["error"]["code"], "payload_too_large");
}

TEST_F(ServerTest, MetricsCountRequests) {
  beast::tcp_stream s = Connect();
  RoundTrip(s, http::verb::get, "/api/v1/health", "");
  auto r = RoundTrip(s, http::verb::get, "/metrics", "view-tok");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r[http::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics_.RenderPrometheus().find("doppel_http_requests_total{code=\"200\"} 2"),
            std::string::npos);
}

TEST_F(ServerTest, LivePageAtRoot) {
  beast::tcp_stream s = Connect();
  auto r = RoundTrip(s, http::verb::get, "/", "");
  EXPECT_EQ(r.result_int(), 200);
  EXPECT_EQ(r[http::field::content_type], "text/html; charset=utf-8");
}

TEST_F(ServerTest, WebSocketNeedsToken) {
  {
    websocket::stream<beast::tcp_stream> ws(Connect());
    beast::error_code ec;
    ws.handshake("localhost", "/api/v1/stream?token=wrong", ec);
    EXPECT_EQ(ec, websocket::error::upgrade_declined);
  }
  // The declined upgrade is a plain 401 with the JSON error body.
  beast::tcp_stream s = Connect();
  http::request<http::empty_body> req{http::verb::get, "/api/v1/stream", 11};
  req.set(http::field::host, "localhost");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "upgrade");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  req.set(http::field::sec_websocket_version, "13");
  http::write(s, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  EXPECT_EQ(res.result_int(), 401);
  EXPECT_EQ(json::parse(res.body())["error"]["code"], "unauthenticated");
  EXPECT_EQ(service_.subscribers(), 0u);
}

TEST_F(ServerTest, WebSocketPushesOnlySubscribedTwins) {
  auto ws = OpenStream("/api/v1/stream?token=view-tok");
  ASSERT_TRUE(WaitForSubscribers(1));
  SendText(ws, R"({"subscribe":{"twins":["pump-1"],"signals":["flow_m3h"]}})");
  json ack = ReadJson(ws);
  EXPECT_EQ(ack["type"], "subscribed");

  service_.Push({{"pump-2", "flow_m3h", 1, 9.0}, {"pump-1", "speed_rpm", 1, 8.0}});  // not subscribed
  service_.Push({{"pump-2", "flow_m3h", 2, 9.0}, {"pump-1", "flow_m3h", 2, 101.5}});
  json frame = ReadJson(ws);
  EXPECT_EQ(frame["type"], "telemetry");
  ASSERT_EQ(frame["events"].size(), 1u) << frame.dump();
  EXPECT_EQ(frame["events"][0],
            json({{"twin", "pump-1"}, {"signal", "flow_m3h"}, {"ts", 2}, {"value", 101.5}}));

  ws.close(websocket::close_code::normal);
  EXPECT_TRUE(WaitForSubscribers(0));  // the session unsubscribed
}

TEST_F(ServerTest, WebSocketAuthorizationHeader) {
  websocket::stream<beast::tcp_stream> ws(Connect());
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(http::field::authorization, "Bearer op-tok"); }));
  ws.handshake("localhost", "/api/v1/stream");
  SendText(ws, R"({"subscribe":{"twins":["*"]}})");
  EXPECT_EQ(ReadJson(ws)["twins"], "*");
  service_.Push({{"pump-7", "x", 1, 1.0}});
  EXPECT_EQ(ReadJson(ws)["events"][0]["twin"], "pump-7");
}

TEST_F(ServerTest, BadWebSocketMessageGetsErrorFrameAndConnectionStaysUp) {
  auto ws = OpenStream("/api/v1/stream?token=view-tok");
  SendText(ws, "this is not json");
  json err = ReadJson(ws);
  EXPECT_EQ(err["type"], "error");
  EXPECT_NE(err["message"].get<std::string>().find("malformed JSON"), std::string::npos);
  SendText(ws, R"({"subscribe":{"twins":"pump-1"}})");
  err = ReadJson(ws);
  EXPECT_EQ(err["type"], "error");
  EXPECT_NE(err["message"].get<std::string>().find("subscribe.twins"), std::string::npos);

  // Still up: a valid subscribe works and events flow.
  SendText(ws, R"({"subscribe":{"twins":["pump-1"]}})");
  EXPECT_EQ(ReadJson(ws)["type"], "subscribed");
  service_.Push({{"pump-1", "flow_m3h", 3, 1.0}});
  EXPECT_EQ(ReadJson(ws)["events"][0]["ts"], 3);
}

TEST_F(ServerTest, LaggingClientLosesOldestEventsAndTheyAreCounted) {
  auto ws = OpenStream("/api/v1/stream?token=view-tok");
  SendText(ws, R"({"subscribe":{}})");
  EXPECT_EQ(ReadJson(ws)["type"], "subscribed");
  std::vector<engine::StreamEvent> burst;
  for (int i = 0; i < 100; ++i) burst.push_back({"pump-1", "flow_m3h", i, 1.0 * i, {}, {}});
  service_.Push(burst);  // one engine batch, more than the queue of 10 holds
  json frame = ReadJson(ws);
  ASSERT_EQ(frame["events"].size(), 10u);
  EXPECT_EQ(frame["events"][0]["ts"], 90);  // the newest survive
  EXPECT_EQ(frame["dropped"], 90);
  EXPECT_NE(metrics_.RenderPrometheus().find("doppel_stream_dropped_events_total 90"), std::string::npos);
}

// The brief's crash: a 120 KB body nesting 60000 arrays overflowed an io thread's stack while the
// handler copied "request". Now a 400 naming the limit, and the server keeps answering.
TEST_F(ServerTest, DeeplyNestedBodyGets400AndTheServerKeepsAnswering) {
  server_->Stop();
  ApiOptions o;
  o.listen = "127.0.0.1:0";
  o.tokens = {{"op-tok", Role::kOperator, ""}};
  o.max_body_bytes = 1024 * 1024;
  auto started = ApiServer::Start(&service_, &metrics_, o);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  server_ = std::move(*started);

  const std::string body =
      R"({"name":"x","request":)" + std::string(60000, '[') + std::string(60000, ']') + "}";
  beast::tcp_stream s = Connect();
  auto r = RoundTrip(s, http::verb::post, "/api/v1/twins/pump-1/commands", "op-tok", body);
  EXPECT_EQ(r.result_int(), 400);
  EXPECT_EQ(json::parse(r.body())["error"]["message"], "body: nesting deeper than 64 levels at byte 85");
  // Same connection, and a new one: still serving.
  EXPECT_EQ(RoundTrip(s, http::verb::get, "/api/v1/health", "").result_int(), 200);
  beast::tcp_stream s2 = Connect();
  EXPECT_EQ(RoundTrip(s2, http::verb::get, "/api/v1/health", "").result_int(), 200);
}

// Requests the HTTP parser refuses used to be dropped without an answer.
TEST_F(ServerTest, MalformedHttpRequestGets400AndTheConnectionIsClosed) {
  for (const std::string raw : {
           "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
           "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
           "chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
       }) {
    beast::tcp_stream s = Connect();
    net::write(s, net::buffer(raw));
    beast::flat_buffer buf;
    http::response<http::string_body> res;
    beast::error_code ec;
    http::read(s, buf, res, ec);
    ASSERT_FALSE(ec) << ec.message() << " for " << raw;
    EXPECT_EQ(res.result_int(), 400) << raw;
    EXPECT_FALSE(res.keep_alive());
    json j = json::parse(res.body());
    EXPECT_EQ(j["error"]["code"], "invalid_argument");
    EXPECT_NE(j["error"]["message"].get<std::string>().find("malformed HTTP request: "), std::string::npos)
        << j.dump();
    // Then closed.
    http::read(s, buf, res, ec);
    EXPECT_TRUE(ec) << raw;
  }
  EXPECT_NE(metrics_.RenderPrometheus().find("doppel_http_requests_total{code=\"400\"} 2"),
            std::string::npos);
}

TEST_F(ServerTest, WebSocketSubscribeBeyond1024NamesGetsErrorFrameAndTheConnectionStaysUp) {
  auto ws = OpenStream("/api/v1/stream?token=view-tok");
  json names = json::array();
  for (int i = 0; i < 1025; ++i) names.push_back("pump-" + std::to_string(i));
  SendText(ws, json({{"subscribe", {{"twins", names}}}}).dump());
  json err = ReadJson(ws);
  EXPECT_EQ(err["type"], "error");
  EXPECT_NE(err["message"].get<std::string>().find("subscribe.twins: more than 1024 names"),
            std::string::npos);
  SendText(ws, R"({"subscribe":{"twins":["pump-1"]}})");
  json ack = ReadJson(ws);
  EXPECT_EQ(ack["type"], "subscribed");
  EXPECT_EQ(ack["twins"], json({"pump-1"}));
}

TEST_F(ServerTest, StopClosesStreamSubscriptions) {
  auto ws = OpenStream("/api/v1/stream?token=view-tok");
  ASSERT_TRUE(WaitForSubscribers(1));
  server_->Stop();
  EXPECT_EQ(service_.subscribers(), 0u);
  service_.Push({{"pump-1", "flow_m3h", 3, 1.0}});  // must not crash after Stop
}

// An engine thread may still hold a copy of a session's stream callback (it publishes from a
// snapshot of the subscribers) when the server has stopped and its io_context is gone; calling
// and then destroying that copy must touch nothing of the server (ASan catches a strand
// executor kept in the callback).
TEST_F(ServerTest, AStreamCallbackHeldByTheEngineIsHarmlessAfterTheServerIsGone) {
  auto ws = OpenStream("/api/v1/stream?token=view-tok");
  SendText(ws, R"({"subscribe":["pump-1"]})");
  (void)ReadJson(ws);
  ASSERT_TRUE(WaitForSubscribers(1));
  auto held = service_.SubscriberCopies();
  server_->Stop();
  server_.reset();
  engine::StreamEvent e;
  e.twin = "pump-1";
  e.signal = "flow_m3h";
  for (auto& [id, cb] : held) cb({e});  // the sink is closed: nothing is queued or posted
  held.clear();                         // destroyed after the io_context
}

// A slow route (the synchronous what-if) runs on a worker thread: with one io thread, other
// requests are answered while it runs, and its own answer arrives when it is done.
TEST(ServerSlowRouteTest, ASynchronousWhatIfDoesNotHoldTheOnlyIoThread) {
  testing::FakeService service;
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  service.whatif_hook = [&] {
    std::unique_lock lk(mu);
    entered = true;
    cv.notify_all();
    cv.wait_for(lk, std::chrono::seconds(60), [&] { return release; });
  };
  const auto let_go = [&] {
    {
      std::lock_guard lk(mu);
      release = true;
    }
    cv.notify_all();
  };
  struct Finally {
    std::function<void()> f;
    ~Finally() { f(); }
  } finally{let_go};
  ApiOptions o;
  o.listen = "127.0.0.1:0";
  o.io_threads = 1;
  o.tokens = {{"op-tok", Role::kOperator, ""}};
  auto server = ApiServer::Start(&service, nullptr, o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  net::io_context ioc;
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>((*server)->port()));
  auto request = [&](beast::tcp_stream& s, http::verb verb, const std::string& target,
                     const std::string& body) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "localhost");
    req.set(http::field::authorization, "Bearer op-tok");
    req.body() = body;
    req.prepare_payload();
    http::write(s, req);
  };
  beast::tcp_stream slow(ioc);
  slow.connect(ep);
  slow.expires_after(std::chrono::seconds(30));
  request(slow, http::verb::post, "/api/v1/twins/pump-1/whatif",
          R"({"horizon_s":10,"step_s":1,"samples":5})");
  {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(30), [&] { return entered; }));
  }
  // The what-if is running (blocked in the service): the one io thread still serves others.
  beast::tcp_stream other(ioc);
  other.connect(ep);
  request(other, http::verb::get, "/api/v1/twins", "");
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  auto answered = std::async(std::launch::async, [&] { http::read(other, buf, res); });
  // Behind a what-if holding the only io thread, the answer would come only after let_go().
  ASSERT_EQ(answered.wait_for(std::chrono::seconds(20)), std::future_status::ready)
      << "no answer while the what-if ran";
  answered.get();
  EXPECT_EQ(res.result_int(), 200) << res.body();
  let_go();
  beast::flat_buffer buf2;
  http::response<http::string_body> wres;
  http::read(slow, buf2, wres);
  EXPECT_EQ(wres.result_int(), 200) << wres.body();
  EXPECT_NE(wres.body().find("p95"), std::string::npos) << wres.body();
  (*server)->Stop();
}

TEST(ServerStartTest, RejectsBadOptionsAndBusyPorts) {
  testing::FakeService svc;
  ApiOptions o;
  o.listen = "127.0.0.1:0";
  o.io_threads = 0;
  auto bad = ApiServer::Start(&svc, nullptr, o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);

  o.io_threads = 1;
  o.worker_threads = 0;
  bad = ApiServer::Start(&svc, nullptr, o);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("worker_threads"), std::string::npos) << bad.status().ToString();
  o.worker_threads = 2;
  auto first = ApiServer::Start(&svc, nullptr, o);
  ASSERT_TRUE(first.ok());
  o.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = ApiServer::Start(&svc, nullptr, o);
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace doppel::api
