// MessageBus over MQTT 3.1.1 with libmosquitto.
//
// One network thread of ours runs libmosquitto's mosquitto_loop and the handlers. Reconnects
// are automatic with exponential back-off (1 s .. 30 s); every subscription is re-sent on each
// CONNACK, and with clean_session=false the broker replays QoS 1 messages queued while we were
// away. The loop is ours rather than mosquitto_loop_start's because that one reconnects with a
// blocking connect(2): to a host that drops packets it could not be stopped until the kernel gave
// up (about two minutes), so Stop hung that long. Ours connects without blocking
// (mosquitto_connect_async, mosquitto_reconnect_async), waits in mosquitto_loop's select for at
// most kLoopTimeoutMs at a time, and gives a connect attempt connect_timeout_ms to get its
// CONNACK. (Name resolution still blocks: libmosquitto calls getaddrinfo inside those calls, so
// with a host name and a resolver that does not answer, Start, reconnects and Stop wait for the
// resolver's timeouts; numeric addresses never do.)
#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "doppel/platform/pubsub.h"

namespace doppel::platform {
namespace {

struct Subscription {
  std::string filter;
  int qos;
  MessageHandler handler;
};

using SteadyClock = std::chrono::steady_clock;

// How long one mosquitto_loop call waits for the socket: the longest Stop waits for a network
// thread that is not running a handler.
constexpr int kLoopTimeoutMs = 100;
// After Stop, a connected loop runs at most this long to send the DISCONNECT (a broker that is
// not told takes the connection as lost).
constexpr auto kDisconnectGrace = std::chrono::milliseconds(500);
constexpr int kReconnectMinS = 1, kReconnectMaxS = 30;

// A libmosquitto result as text (MOSQ_ERR_ERRNO: the errno it left).
const char* ErrorText(int rc) { return rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc); }

void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

class MqttBus final : public MessageBus {
 public:
  explicit MqttBus(MqttOptions opts) : opts_(std::move(opts)) {
    InitLibraryOnce();
    mosq_ = mosquitto_new(opts_.client_id.empty() ? nullptr : opts_.client_id.c_str(),
                          opts_.client_id.empty() ? true : opts_.clean_session, this);
    if (mosq_ == nullptr) return;
    mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_max_inflight_messages_set(mosq_, static_cast<unsigned>(opts_.max_inflight));
    // Small telemetry messages: without TCP_NODELAY, Nagle + delayed ACKs cap a QoS 1 stream
    // at a few thousand messages a second on loopback.
    mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_threaded_set(mosq_, true);  // publish and subscribe come from other threads
    mosquitto_connect_callback_set(mosq_, &MqttBus::OnConnect);
    mosquitto_disconnect_callback_set(mosq_, &MqttBus::OnDisconnect);
    mosquitto_message_callback_set(mosq_, &MqttBus::OnMessage);
    mosquitto_subscribe_callback_set(mosq_, &MqttBus::OnSubscribe);
  }
  ~MqttBus() override {
    Stop();
    if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  }

  Status Start() override {
    if (mosq_ == nullptr) return Internal("mosquitto_new failed (out of memory or bad client id)");
    if (started_) return Status::Ok();
    // libmosquitto refuses a keep-alive of 1..4 s (connect returns MOSQ_ERR_INVAL every time),
    // and with 0 its loop's select gets a zero timeout (a busy loop).
    if (opts_.keepalive_s < 5)
      return InvalidArgument("mqtt keepalive_s must be at least 5, got " + std::to_string(opts_.keepalive_s));
    started_ = true;
    stopping_ = false;
    const int rc = mosquitto_connect_async(mosq_, opts_.host.c_str(), opts_.port, opts_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      spdlog::warn("mqtt {}:{}: connect: {}; retrying in the background", opts_.host, opts_.port,
                   ErrorText(rc));
    }
    loop_ = std::thread([this] { NetworkLoop(); });
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, std::chrono::milliseconds(opts_.connect_timeout_ms),
                      [&] { return connected_.load(); })) {
      return Unavailable("mqtt broker " + opts_.host + ":" + std::to_string(opts_.port) +
                         " not reachable within " + std::to_string(opts_.connect_timeout_ms) +
                         " ms (still retrying)");
    }
    return Status::Ok();
  }

  // Disconnects, then lets the network thread finish on its own: a handler it is running (an
  // engine blocked in Shard::Push under backpressure) completes instead of being cancelled with a
  // message already acknowledged to the broker. It returns: the shards are still running, and
  // Runtime::Stop has called Engine::BeginShutdown first, so even a failing store append is given
  // up rather than retried. Otherwise the thread ends within kLoopTimeoutMs (a back-off wait is
  // woken; a connect under way, even to a host that drops packets, is abandoned), or, when
  // connected, once the DISCONNECT is sent (at most kDisconnectGrace).
  void Stop() override {
    if (!started_) return;
    started_ = false;
    {
      // Under stop_mu_ with the loop's reconnect: the DISCONNECT goes to the socket the loop
      // has, or the loop sees stopping_ before it makes one.
      std::lock_guard lk(stop_mu_);
      stopping_ = true;
      mosquitto_disconnect(mosq_);
    }
    stop_cv_.notify_all();
    if (loop_.joinable()) loop_.join();
    connected_ = false;
  }

  Status Subscribe(const std::string& filter, int qos, MessageHandler handler) override {
    if (filter.empty() || mosquitto_sub_topic_check(filter.c_str()) != MOSQ_ERR_SUCCESS)
      return InvalidArgument("mqtt subscribe: '" + filter + "' is not a valid topic filter");
    bool send = false;
    {
      // Under mu_ with OnConnect's snapshot: a filter added before it is sent by OnConnect,
      // one added after it here, never neither nor both.
      std::lock_guard lk(mu_);
      auto next = std::make_shared<std::vector<Subscription>>(*subs_);
      next->push_back({filter, qos, std::move(handler)});
      subs_ = std::move(next);
      send = session_up_;
      if (send) pending_subacks_++;
    }
    if (send) {
      int rc = mosquitto_subscribe(mosq_, nullptr, filter.c_str(), qos);
      if (rc != MOSQ_ERR_SUCCESS) {
        pending_subacks_--;
        return Unavailable(std::string("mqtt subscribe: ") + mosquitto_strerror(rc));
      }
    }
    return Status::Ok();
  }

  Status Publish(const std::string& topic, std::string_view payload, int qos) override {
    int rc = mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                               payload.data(), qos, false);
    if (rc == MOSQ_ERR_SUCCESS) return Status::Ok();
    if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST) {
      return Unavailable("mqtt publish to '" + topic + "': not connected");
    }
    if (rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_INVAL) {
      return InvalidArgument("mqtt publish to '" + topic + "': " + mosquitto_strerror(rc));
    }
    return Unavailable("mqtt publish to '" + topic + "': " + mosquitto_strerror(rc));
  }

  bool connected() const override { return connected_; }

 private:
  static void OnConnect(struct mosquitto* m, void* self_ptr, int rc) {
    auto* self = static_cast<MqttBus*>(self_ptr);
    if (rc != 0) {
      spdlog::warn("mqtt {}:{}: connection refused: {}", self->opts_.host, self->opts_.port,
                   mosquitto_connack_string(rc));
      return;
    }
    std::shared_ptr<const std::vector<Subscription>> subs;
    {
      std::lock_guard lk(self->mu_);
      subs = self->subs_;
      self->session_up_ = true;
      // Connected counts from the last SUBACK, so Start() returning means "subscribed".
      self->pending_subacks_ = static_cast<int>(subs->size());
    }
    for (const auto& s : *subs) {
      const int src = mosquitto_subscribe(m, nullptr, s.filter.c_str(), s.qos);
      if (src != MOSQ_ERR_SUCCESS) {  // no SUBACK will come for it
        spdlog::warn("mqtt {}:{}: subscribe '{}': {}", self->opts_.host, self->opts_.port, s.filter,
                     mosquitto_strerror(src));
        if (--self->pending_subacks_ == 0) self->MarkConnected();
      }
    }
    if (subs->empty()) self->MarkConnected();
    spdlog::info("mqtt {}:{}: connected as '{}'", self->opts_.host, self->opts_.port, self->opts_.client_id);
  }

  static void OnSubscribe(struct mosquitto*, void* self_ptr, int, int, const int*) {
    auto* self = static_cast<MqttBus*>(self_ptr);
    if (--self->pending_subacks_ == 0) self->MarkConnected();
  }

  void MarkConnected() {
    {
      std::lock_guard lk(mu_);
      connected_ = true;
    }
    cv_.notify_all();
  }

  static void OnDisconnect(struct mosquitto*, void* self_ptr, int rc) {
    auto* self = static_cast<MqttBus*>(self_ptr);
    {
      std::lock_guard lk(self->mu_);
      self->session_up_ = false;
    }
    const bool was_connected = self->connected_.exchange(false);
    // Also called for attempts that never got through (refused): only a loss is news.
    if (rc != 0 && self->started_ && was_connected) {
      spdlog::warn("mqtt {}:{}: connection lost; reconnecting", self->opts_.host, self->opts_.port);
    }
  }

  static void OnMessage(struct mosquitto*, void* self_ptr, const struct mosquitto_message* msg) {
    auto* self = static_cast<MqttBus*>(self_ptr);
    std::shared_ptr<const std::vector<Subscription>> subs;
    {
      std::lock_guard lk(self->mu_);
      subs = self->subs_;
    }
    std::string_view topic(msg->topic);
    std::string_view payload(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
    for (const auto& s : *subs) {
      if (TopicMatches(s.filter, topic)) s.handler(topic, payload);
    }
  }

  // The network thread: mosquitto_loop (reads, writes, keep-alive, handlers) until Stop. A
  // connection lost or refused, or a connect attempt without a CONNACK within
  // connect_timeout_ms, waits out the back-off (Stop wakes it) and connects again without
  // blocking. Once the broker has answered, nothing is timed: a persistent session's backlog
  // arrives before the SUBACKs and may take long to hand to a slow (backpressured) handler.
  void NetworkLoop() {
    int backoff_s = kReconnectMinS;
    SteadyClock::time_point attempt_start = SteadyClock::now(), stop_deadline{};
    for (;;) {
      const int rc = mosquitto_loop(mosq_, kLoopTimeoutMs, 1);
      const auto now = SteadyClock::now();
      const bool up = session_up_;
      if (stopping_) {
        if (stop_deadline == SteadyClock::time_point{}) stop_deadline = now + kDisconnectGrace;
        // The library closes the socket once the DISCONNECT is out.
        if (!up || rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq_) < 0 || now >= stop_deadline) return;
        continue;
      }
      if (rc == MOSQ_ERR_SUCCESS) {
        if (up) {
          backoff_s = kReconnectMinS;
          continue;
        }
        // Waiting for the TCP connect or the CONNACK.
        if (now - attempt_start < std::chrono::milliseconds(opts_.connect_timeout_ms)) continue;
        spdlog::warn("mqtt {}:{}: no CONNACK within {} ms; trying again in {} s", opts_.host, opts_.port,
                     opts_.connect_timeout_ms, backoff_s);
        mosquitto_disconnect(mosq_);  // the reconnect below closes the pending socket
      } else if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST && rc != MOSQ_ERR_CONN_REFUSED) {
        spdlog::warn("mqtt {}:{}: {}; retrying in {} s", opts_.host, opts_.port, ErrorText(rc), backoff_s);
      }
      std::unique_lock lk(stop_mu_);
      if (stop_cv_.wait_for(lk, std::chrono::seconds(backoff_s), [&] { return stopping_.load(); })) return;
      // Still under stop_mu_: Stop cannot slip in between the check and the new socket (its
      // mosquitto_disconnect would find no socket, and this one would stay open).
      backoff_s = std::min(backoff_s * 2, kReconnectMaxS);
      attempt_start = SteadyClock::now();
      const int rc2 = mosquitto_reconnect_async(mosq_);
      if (rc2 != MOSQ_ERR_SUCCESS) {
        spdlog::debug("mqtt {}:{}: reconnect: {}", opts_.host, opts_.port, ErrorText(rc2));
      }
    }
  }

  MqttOptions opts_;
  struct mosquitto* mosq_ = nullptr;
  std::thread loop_;
  // Lock order: stop_mu_ before libmosquitto's own locks (the loop's reconnect, Stop's
  // disconnect); mu_ is taken inside libmosquitto's (by the callbacks), so nothing calls into
  // libmosquitto while holding mu_.
  std::mutex stop_mu_;
  std::atomic<bool> stopping_{false};  // set under stop_mu_ (stop_cv_'s predicate)
  std::condition_variable stop_cv_;
  // CONNACK received, not lost since. Written under mu_ (ordered with Subscribe's check there);
  // the network loop reads it without the lock.
  std::atomic<bool> session_up_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int> pending_subacks_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<std::vector<Subscription>> subs_ = std::make_shared<std::vector<Subscription>>();
};

}  // namespace

std::unique_ptr<MessageBus> NewMqttBus(const MqttOptions& opts) { return std::make_unique<MqttBus>(opts); }

}  // namespace doppel::platform
