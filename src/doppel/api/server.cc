// Sessions: the only code here that touches sockets. HTTP sessions read a request, hand a plain
// HttpRequest to ApiHandler and write the answer back (keep-alive); WebSocket sessions relay
// the engine's stream through a bounded per-session queue.
#include "doppel/api/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

// GCC 12 reports -Wmaybe-uninitialized false positives inside Beast's parser when inlining under
// -O2 with sanitizers; the code is Boost's, so silence it for these headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#pragma GCC diagnostic pop
#include <chrono>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <thread>

#include "doppel/api/api.h"
#include "doppel/api/handlers.h"
#include "doppel/api/stream.h"

namespace doppel::api {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using beast::error_code;

namespace {

constexpr size_t kMaxEventsPerFrame = 1000;
constexpr size_t kMaxClientMessageBytes = 64 * 1024;
constexpr size_t kMaxHeaderBytes = 16 * 1024;

HttpRequest ToHttpRequest(const http::request<http::string_body>& req) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  auto it = req.find(http::field::authorization);
  if (it != req.end()) r.authorization = std::string(it->value());
  r.body = req.body();
  return r;
}

http::response<http::string_body> ToBeast(HttpResponse r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "doppel");
  res.set(http::field::content_type, r.content_type);
  res.set("X-Content-Type-Options", "nosniff");
  if (r.content_type.rfind("application/json", 0) == 0) res.set(http::field::cache_control, "no-store");
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

// A Beast HTTP parser error that the peer caused by sending a malformed request, which it should
// be told about with a 400. Not: end_of_stream and partial_message (the peer closed the
// connection), body_limit (413), and the parser's internal need_more/need_buffer/end_of_chunk; timeouts and
// socket errors are of other categories.
bool IsMalformedRequest(const error_code& ec) {
  if (!ec || ec.category() != error_code(http::error::bad_method).category()) return false;
  return ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::body_limit && ec != http::error::need_more && ec != http::error::need_buffer &&
         ec != http::error::end_of_chunk;
}

std::string PathOnly(beast::string_view target) {
  // Never log the query: it may carry ?token=.
  auto q = target.find('?');
  return std::string(target.substr(0, q));
}

}  // namespace

// State shared between a WebSocket session (its strand) and the engine's stream callback (an
// engine thread). Everything under `mu`; the callback never blocks beyond that short lock.
struct StreamSink {
  explicit StreamSink(size_t capacity) : queue(capacity) {}
  std::mutex mu;
  bool closed = false;
  bool flush_posted = false;
  StreamFilter filter;
  StreamQueue queue;
  uint64_t dropped_unreported = 0;
  // The session's strand, for posting flushes. Held here, not in the callback: the engine may
  // destroy its copy of the callback on one of its threads after the io_context is gone, and a
  // strand executor must not outlive its io_context. Reset together with `closed`.
  std::optional<net::any_io_executor> executor;
};

class WsSession;

struct ApiServer::Impl {
  Impl(engine::Service* service, MetricsRegistry* metrics, ApiOptions options)
      : handler(service, metrics, std::move(options)) {
    if (metrics != nullptr) {
      stream_dropped = &metrics->GetCounter("doppel_stream_dropped_events_total",
                                            "Stream events dropped because a WebSocket client lagged");
      stream_clients = &metrics->GetGauge("doppel_stream_clients", "Connected WebSocket stream clients");
    }
  }

  void DoAccept();
  void AddSink(const std::shared_ptr<StreamSink>& s) {
    std::lock_guard lk(sinks_mu);
    if (sinks_closed) {
      // Stop() already ran its sweep: this late session must never post into the context.
      std::lock_guard ml(s->mu);
      s->closed = true;
      return;
    }
    for (auto it = sinks.begin(); it != sinks.end();) {
      if (it->expired())
        it = sinks.erase(it);
      else
        ++it;
    }
    sinks.push_back(s);
  }

  ApiHandler handler;
  Counter* stream_dropped = nullptr;
  Gauge* stream_clients = nullptr;
  std::unique_ptr<net::io_context> ioc;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<net::steady_timer> accept_retry;
  std::vector<std::thread> threads;
  std::unique_ptr<net::thread_pool> workers;  // the slow routes (IsSlowRoute)
  int port = 0;
  std::mutex stop_mu;
  bool stopped = false;
  std::mutex sinks_mu;
  bool sinks_closed = false;  // set by Stop(); under sinks_mu
  std::list<std::weak_ptr<StreamSink>> sinks;
};

class WsSession : public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, ApiServer::Impl* srv, Principal who)
      : ws_(std::move(socket)),
        srv_(srv),
        who_(std::move(who)),
        sink_(std::make_shared<StreamSink>(srv->handler.options().stream_queue_events)) {}

  ~WsSession() { Close(); }

  void Run(http::request<http::string_body> req) {
    // Ping a quiet peer at half the idle timeout; close it when it stops answering. (Browsers
    // answer pings but never send any, so a listen-only page would otherwise time out.)
    auto timeout = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "doppel"); }));
    ws_.read_message_max(kMaxClientMessageBytes);
    ws_.async_accept(req, beast::bind_front_handler(&WsSession::OnAccept, shared_from_this()));
  }

 private:
  void OnAccept(error_code ec) {
    if (ec) return;
    srv_->handler.Count(101, -1);
    srv_->AddSink(sink_);
    if (srv_->stream_clients != nullptr) srv_->stream_clients->Add(1);
    counted_ = true;
    std::weak_ptr<WsSession> weak = weak_from_this();
    std::shared_ptr<StreamSink> sink = sink_;
    Counter* dropped_counter = srv_->stream_dropped;
    {
      std::lock_guard lk(sink->mu);
      if (!sink->closed) sink->executor = ws_.get_executor();
    }
    subscription_ = srv_->handler.service().SubscribeStream(
        [weak, sink, dropped_counter](const std::vector<engine::StreamEvent>& events) {
          // Engine thread: filter, enqueue (dropping the oldest when full), maybe post a flush.
          std::lock_guard lk(sink->mu);
          if (sink->closed || !sink->executor) return;
          size_t dropped = 0;
          bool any = false;
          for (const auto& e : events) {
            if (!sink->filter.Matches(e)) continue;
            dropped += sink->queue.Push(e);
            any = true;
          }
          if (dropped > 0) {
            sink->dropped_unreported += dropped;
            if (dropped_counter != nullptr) dropped_counter->Inc(dropped);
          }
          if (any && !sink->flush_posted) {
            sink->flush_posted = true;
            net::post(*sink->executor, [weak] {
              if (auto s = weak.lock()) s->OnFlush();
            });
          }
        });
    subscribed_ = true;
    DoRead();
  }

  void DoRead() { ws_.async_read(rbuf_, beast::bind_front_handler(&WsSession::OnRead, shared_from_this())); }

  void OnRead(error_code ec, size_t) {
    if (ec) {
      Close();
      return;
    }
    std::string reply;
    if (!ws_.got_text()) {
      reply = EncodeErrorFrame("binary messages are not supported; send JSON text");
    } else {
      std::string msg = beast::buffers_to_string(rbuf_.data());
      Result<nlohmann::json> ack = [&] {
        std::lock_guard lk(sink_->mu);
        return sink_->filter.Apply(msg);
      }();
      reply = ack.ok() ? ack->dump() : EncodeErrorFrame(ack.status().message());
    }
    rbuf_.consume(rbuf_.size());
    replies_.Push(std::move(reply));  // bounded: a client that sends but never reads loses old replies
    MaybeWrite();
    DoRead();
  }

  void OnFlush() {
    {
      std::lock_guard lk(sink_->mu);
      sink_->flush_posted = false;
    }
    MaybeWrite();
  }

  void MaybeWrite() {
    if (writing_ || closed_) return;
    if (!replies_.empty()) {
      out_ = replies_.Pop();
    } else if (!event_frames_.empty()) {
      out_ = std::move(event_frames_.front());
      event_frames_.pop_front();
    } else {
      std::vector<engine::StreamEvent> events;
      uint64_t dropped = 0;
      {
        std::lock_guard lk(sink_->mu);
        if (sink_->queue.empty()) return;
        events = sink_->queue.Take(kMaxEventsPerFrame);
        dropped = sink_->dropped_unreported;
        sink_->dropped_unreported = 0;
      }
      // Alerts and annotations go as frames of their own, in order, after the telemetry.
      std::vector<engine::StreamEvent> telemetry;
      telemetry.reserve(events.size());
      for (auto& e : events) {
        if (e.kind.empty()) {
          telemetry.push_back(std::move(e));
        } else {
          event_frames_.push_back(EncodeEventFrame(e));
        }
      }
      if (!telemetry.empty() || dropped > 0) {
        out_ = EncodeTelemetryFrame(telemetry, dropped);
      } else {
        out_ = std::move(event_frames_.front());
        event_frames_.pop_front();
      }
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(out_), beast::bind_front_handler(&WsSession::OnWrite, shared_from_this()));
  }

  void OnWrite(error_code ec, size_t) {
    writing_ = false;
    if (ec) {
      Close();
      return;
    }
    MaybeWrite();
  }

  // Idempotent: stops the engine callback from queueing and unsubscribes.
  void Close() {
    if (closed_) return;
    closed_ = true;
    {
      std::lock_guard lk(sink_->mu);
      sink_->closed = true;
      sink_->executor.reset();
    }
    if (subscribed_) {
      subscribed_ = false;
      srv_->handler.service().UnsubscribeStream(subscription_);
    }
    if (counted_ && srv_->stream_clients != nullptr) srv_->stream_clients->Add(-1);
    counted_ = false;
  }

  websocket::stream<beast::tcp_stream> ws_;
  ApiServer::Impl* srv_;
  Principal who_;
  std::shared_ptr<StreamSink> sink_;
  beast::flat_buffer rbuf_;
  FrameQueue replies_{kMaxQueuedReplies, kMaxQueuedReplyBytes};  // acks and errors, written first
  std::deque<std::string> event_frames_;  // alerts and annotations of the last Take, before more
  std::string out_;                       // the frame being written
  bool writing_ = false;
  bool closed_ = false;
  bool subscribed_ = false;
  bool counted_ = false;
  uint64_t subscription_ = 0;
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(tcp::socket&& socket, ApiServer::Impl* srv) : stream_(std::move(socket)), srv_(srv) {}

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&HttpSession::DoRead, shared_from_this()));
  }

 private:
  void DoRead() {
    parser_.emplace();
    parser_->body_limit(srv_->handler.options().max_body_bytes);
    parser_->header_limit(kMaxHeaderBytes);
    stream_.expires_after(std::chrono::seconds(srv_->handler.options().idle_timeout_s));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnRead(error_code ec, size_t) {
    if (ec == http::error::end_of_stream) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (ec == http::error::body_limit) {
      auto start = std::chrono::steady_clock::now();
      HttpResponse r = ErrorResponse(413, "payload_too_large",
                                     "request body exceeds the limit of " +
                                         std::to_string(srv_->handler.options().max_body_bytes) + " bytes");
      srv_->handler.Count(413,
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      Send(ToBeast(std::move(r), 11, false));
      return;
    }
    if (IsMalformedRequest(ec)) {
      // The parser refused the request (bad Content-Length, bad chunk, bad header, ...): say so
      // and close, the stream position is unknown.
      srv_->handler.Count(400, -1);
      Send(ToBeast(ErrorResponse(400, "invalid_argument", "malformed HTTP request: " + ec.message()), 11,
                   false));
      return;
    }
    if (ec) return;  // timeout, reset, the peer gone mid-request: nobody to answer

    http::request<http::string_body>& req = parser_->get();
    if (websocket::is_upgrade(req) &&
        ApiHandler::IsStreamTarget(std::string_view(req.target().data(), req.target().size()))) {
      HttpRequest hr = ToHttpRequest(req);
      Result<Principal> who = srv_->handler.AuthenticateStream(hr);
      if (!who.ok()) {
        srv_->handler.Count(401, -1);
        Send(ToBeast(ErrorResponse(who.status()), req.version(), false));
        return;
      }
      stream_.expires_never();
      std::make_shared<WsSession>(stream_.release_socket(), srv_, std::move(*who))->Run(parser_->release());
      return;
    }

    HttpRequest hr = ToHttpRequest(req);
    beast::error_code ep_ec;
    auto peer = stream_.socket().remote_endpoint(ep_ec);
    hr.from_loopback = !ep_ec && peer.address().is_loopback();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    if (IsSlowRoute(hr.method, hr.target)) {
      // Off the io thread; the answer is sent from this session's strand. The session (and so
      // its socket) lives until then: the closures hold it.
      net::post(*srv_->workers, [self = shared_from_this(), hr = std::move(hr), version, keep_alive] {
        HttpResponse r = self->Run(hr);
        net::post(self->stream_.get_executor(), [self, r = std::move(r), version, keep_alive]() mutable {
          self->Send(ToBeast(std::move(r), version, keep_alive));
        });
      });
      return;
    }
    Send(ToBeast(Run(hr), version, keep_alive));
  }

  HttpResponse Run(const HttpRequest& hr) {
    HttpResponse r;
    try {
      r = srv_->handler.Handle(hr);
    } catch (const std::exception& e) {
      r = ErrorResponse(500, "internal", "internal error");
      srv_->handler.Count(500, -1);
      spdlog::error("api: {} {}: {}", hr.method, PathOnly(hr.target), e.what());
    }
    if (r.status >= 500) spdlog::warn("api: {} {} -> {}", hr.method, PathOnly(hr.target), r.status);
    return r;
  }

  void Send(http::response<http::string_body> res) {
    res_ = std::move(res);
    bool close = !res_.keep_alive();
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this(), close));
  }

  void OnWrite(bool close, error_code ec, size_t) {
    if (ec) return;
    if (close) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    DoRead();
  }

  beast::tcp_stream stream_;
  ApiServer::Impl* srv_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

void ApiServer::Impl::DoAccept() {
  acceptor->async_accept(net::make_strand(*ioc), [this](error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
    if (ec) {
      // E.g. out of file descriptors: back off instead of spinning.
      spdlog::warn("api: accept failed: {}", ec.message());
      accept_retry->expires_after(std::chrono::milliseconds(100));
      accept_retry->async_wait([this](error_code tec) {
        if (!tec) DoAccept();
      });
      return;
    }
    std::make_shared<HttpSession>(std::move(socket), this)->Run();
    DoAccept();
  });
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() { Stop(); }

int ApiServer::port() const { return impl_->port; }

Result<std::unique_ptr<ApiServer>> ApiServer::Start(engine::Service* service, MetricsRegistry* metrics,
                                                    ApiOptions options) {
  if (service == nullptr) return InvalidArgument("ApiServer::Start: service is null");
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  std::string host;
  int port = 0;
  DOPPEL_RETURN_IF_ERROR(ParseListen(options.listen, &host, &port));
  if (host.empty()) host = "0.0.0.0";
  int threads = options.io_threads;
  if (options.tokens.empty()) spdlog::warn("api: no tokens configured; only /api/v1/health will answer");

  auto impl = std::make_unique<Impl>(service, metrics, std::move(options));
  impl->ioc = std::make_unique<net::io_context>(threads);
  impl->workers =
      std::make_unique<net::thread_pool>(static_cast<size_t>(impl->handler.options().worker_threads));
  impl->accept_retry = std::make_unique<net::steady_timer>(*impl->ioc);

  error_code ec;
  tcp::resolver resolver(*impl->ioc);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return Status(StatusCode::kUnavailable, "listen " + host + ": cannot resolve: " + ec.message());
  }
  tcp::endpoint ep = results.begin()->endpoint();
  impl->acceptor = std::make_unique<tcp::acceptor>(*impl->ioc);
  auto fail = [&](const char* what) {
    return Status(StatusCode::kUnavailable,
                  fmt::format("listen {}:{}: {}: {}", host, port, what, ec.message()));
  };
  if (impl->acceptor->open(ep.protocol(), ec)) return fail("open");
  if (impl->acceptor->set_option(net::socket_base::reuse_address(true), ec)) return fail("set_option");
  if (impl->acceptor->bind(ep, ec)) return fail("bind");
  if (impl->acceptor->listen(net::socket_base::max_listen_connections, ec)) return fail("listen");
  impl->port = impl->acceptor->local_endpoint(ec).port();

  impl->DoAccept();
  for (int i = 0; i < threads; ++i) {
    impl->threads.emplace_back([ioc = impl->ioc.get()] {
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("api: io thread: {}", e.what());
        }
      }
    });
  }
  spdlog::info("api: listening on {}:{}", host, impl->port);
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

void ApiServer::Stop() {
  std::lock_guard lk(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  // 1. No stream callback may post into the io_context from now on.
  {
    std::lock_guard sl(impl_->sinks_mu);
    for (auto& w : impl_->sinks) {
      if (auto s = w.lock()) {
        std::lock_guard ml(s->mu);
        s->closed = true;
        s->executor.reset();
      }
    }
    impl_->sinks.clear();
    impl_->sinks_closed = true;
  }
  // 2. Stop accepting and running handlers; join the io threads.
  impl_->ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Slow requests not started are dropped; running ones finish (their answers are never sent;
  // Engine::BeginShutdown, called first by the runtime, cancels a running what-if).
  impl_->workers->stop();
  impl_->workers->join();
  impl_->workers.reset();  // drops the sessions its queue held, before their io_context goes
  // 3. Destroy the sessions (their destructors unsubscribe from the engine) with the context.
  impl_->accept_retry.reset();
  impl_->acceptor.reset();
  impl_->ioc.reset();
}

}  // namespace doppel::api
