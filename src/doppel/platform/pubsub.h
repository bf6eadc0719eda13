// MessageBus: publish/subscribe transport used by the ingest adapters and the simulated plant.
//
// Two implementations share this interface and one test suite:
//  - MQTT (libmosquitto, MQTT 3.1.1) for real brokers: QoS 0/1, persistent sessions when
//    clean_session is false, automatic reconnect with re-subscription.
//  - In-process: a Broker object that connects several buses inside one process (the
//    `doppel demo` transport; no network). Delivery is synchronous on the publisher's thread.
//
// Thread safety: Publish and Subscribe may be called from any thread, including from inside a
// handler. Handlers run on the bus's delivery thread (MQTT: its network thread; in-process:
// the publisher's thread) and must not block for long; a handler that blocks applies
// backpressure to the transport, which is intended (bounded queues downstream).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "doppel/core/status.h"

namespace doppel::platform {

using MessageHandler = std::function<void(std::string_view topic, std::string_view payload)>;

class MessageBus {
 public:
  virtual ~MessageBus() = default;
  // Connects (MQTT: starts the network thread; returns once connected or after timeout).
  virtual Status Start() = 0;
  // Disconnects and joins the delivery thread; no handler runs after Stop returns.
  virtual void Stop() = 0;
  // `filter` is an MQTT topic filter (`+` one level, `#` the rest). Subscriptions made before
  // Start are sent on connect, and re-sent on every reconnect.
  virtual Status Subscribe(const std::string& filter, int qos, MessageHandler handler) = 0;
  virtual Status Publish(const std::string& topic, std::string_view payload, int qos) = 0;
  virtual bool connected() const = 0;
};

// True when `topic` matches the MQTT topic filter `filter`.
bool TopicMatches(std::string_view filter, std::string_view topic);

struct MqttOptions {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id;       // required for a persistent session
  bool clean_session = false;  // false: the broker keeps QoS 1 messages while we are away
  int keepalive_s = 30;
  // QoS 1 messages published and not yet acknowledged. libmosquitto walks the whole in-flight
  // list on every PUBACK, so a publisher's cost per message grows with this window: at 65 535 a
  // fast publisher fell from ~60 000 to ~3 000 messages/s on loopback.
  int max_inflight = 1000;
  int connect_timeout_ms = 5000;
};

// Parses "mqtt://HOST:PORT" (port defaults to 1883) into host and port of `opts`.
Status ParseBrokerUrl(const std::string& url, MqttOptions* opts);

std::unique_ptr<MessageBus> NewMqttBus(const MqttOptions& opts);

// An in-process broker; every bus it creates sees every other bus's publications.
// The broker must outlive its buses.
class InProcessBroker {
 public:
  InProcessBroker();
  ~InProcessBroker();
  std::unique_ptr<MessageBus> Connect(const std::string& client_id);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace doppel::platform
