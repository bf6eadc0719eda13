// TopicAdapter: the bridge between a MessageBus (MQTT or in-process) and the engine.
//
// Telemetry on `telemetry_topic` (e.g. plant/{twin}/telemetry) is decoded (decode.h) and
// handed to a ReadingSink; malformed payloads are counted in doppel_readings_malformed_total
// and logged with the reason (at most one line a second), and never stop the adapter.
// Command acks on `ack_topic` go to a CommandAckSink; commands are published on
// `command_topic`. Wire formats: docs/formats/telemetry.md.
//
// Thread safety: handlers run on the bus's delivery thread; SendCommand may be called from any
// thread.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "doppel/core/metrics.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/platform/pubsub.h"

namespace doppel::ingest {

class ReadingSink {
 public:
  virtual ~ReadingSink() = default;
  // Takes a decoded batch of one message. May block while queues are full (backpressure onto
  // the transport). A non-OK status means the batch was refused (e.g. unknown twin).
  virtual Status Submit(std::vector<Reading> batch) = 0;
};

struct CommandAck {
  std::string twin;
  std::string id;
  bool accepted = false;
  std::string reason;
};

class CommandAckSink {
 public:
  virtual ~CommandAckSink() = default;
  virtual void OnCommandAck(const CommandAck& ack) = 0;
};

struct TopicAdapterOptions {
  std::string telemetry_topic = "plant/{twin}/telemetry";
  std::string command_topic = "plant/{twin}/commands";
  std::string ack_topic = "plant/{twin}/commands/ack";
  int qos = 1;
  // Arrival time for payloads without "ts" (ns since the epoch).
  std::function<TimeNs()> now_ns;
};

class TopicAdapter {
 public:
  // Validates the topic templates; registers its metrics in `metrics`. Everything passed in
  // must outlive the adapter.
  static Result<std::unique_ptr<TopicAdapter>> Create(platform::MessageBus* bus, TopicAdapterOptions options,
                                                      ReadingSink* readings, CommandAckSink* acks,
                                                      MetricsRegistry* metrics);
  virtual ~TopicAdapter() = default;
  // Subscribes to telemetry and ack topics (call before the bus's Start).
  virtual Status Subscribe() = 0;
  // Publishes {"id","name","request"} on the twin's command topic.
  virtual Status SendCommand(const std::string& twin, const std::string& id, const std::string& name,
                             const nlohmann::json& request) = 0;
};

}  // namespace doppel::ingest
