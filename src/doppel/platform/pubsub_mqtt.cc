// MessageBus over MQTT 3.1.1 with libmosquitto's threaded client.
//
// The network thread (mosquitto_loop_start) runs handlers. Reconnects are automatic with
// exponential back-off (1 s .. 30 s); every subscription is re-sent on each CONNACK, and with
// clean_session=false the broker replays QoS 1 messages queued while we were away.
#include <mosquitto.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "doppel/platform/pubsub.h"

namespace doppel::platform {
namespace {

struct Subscription {
  std::string filter;
  int qos;
  MessageHandler handler;
};

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
    mosquitto_reconnect_delay_set(mosq_, 1, 30, true);
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
    int rc = mosquitto_loop_start(mosq_);
    if (rc != MOSQ_ERR_SUCCESS)
      return Internal(std::string("mosquitto_loop_start: ") + mosquitto_strerror(rc));
    started_ = true;
    rc = mosquitto_connect_async(mosq_, opts_.host.c_str(), opts_.port, opts_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      spdlog::warn("mqtt {}:{}: connect: {}; retrying in the background", opts_.host, opts_.port,
                   rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc));
    }
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
  // up rather than retried. The loop sees the disconnect and ends instead of reconnecting, and
  // loop_stop wakes its reconnect back-off sleep, so an unreachable (refusing) broker does not
  // delay this. Only a TCP connect already under way to a host that drops packets is waited out
  // (the kernel's connect timeout).
  void Stop() override {
    if (!started_) return;
    started_ = false;
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false);
    connected_ = false;
  }

  Status Subscribe(const std::string& filter, int qos, MessageHandler handler) override {
    {
      std::lock_guard lk(mu_);
      auto next = std::make_shared<std::vector<Subscription>>(*subs_);
      next->push_back({filter, qos, std::move(handler)});
      subs_ = std::move(next);
    }
    if (connected_) {
      pending_subacks_++;
      int rc = mosquitto_subscribe(mosq_, nullptr, filter.c_str(), qos);
      if (rc != MOSQ_ERR_SUCCESS)
        return Unavailable(std::string("mqtt subscribe: ") + mosquitto_strerror(rc));
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
    }
    // Connected counts from the last SUBACK, so Start() returning means "subscribed".
    self->pending_subacks_ = static_cast<int>(subs->size());
    for (const auto& s : *subs) mosquitto_subscribe(m, nullptr, s.filter.c_str(), s.qos);
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
    self->connected_ = false;
    if (rc != 0 && self->started_) {
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

  MqttOptions opts_;
  struct mosquitto* mosq_ = nullptr;
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
