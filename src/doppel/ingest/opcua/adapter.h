// OpcUaAdapter: OPC UA server variables -> twin signals, twin commands -> OPC UA writes.
//
// A background thread connects (client.h), creates one subscription with a monitored item per
// mapping, and turns every DataChange notification into a doppel::Reading for the mapped twin
// and signal, submitted to a ReadingSink (one batch per PublishResponse). The reading's
// source_ts_ns is the DataValue's source timestamp, else its server timestamp, else now;
// quality follows the StatusCode's severity (Good / Uncertain / Bad). A value that is not a
// number or Boolean (a string, an array) is counted and dropped.
//
// On any failure (server gone, garbage on the wire, session lost, silence) the thread logs
// the reason, waits with exponential backoff (reconnect_min_ms doubling to reconnect_max_ms)
// and reconnects, re-creating the subscription; it never throws or crashes on peer input.
//
// WriteCommand maps (twin, command or property name) to a node and queues the write; the
// thread reads the node's DataType once per session, converts the JSON value to it, writes,
// and reports a CommandAck: accepted iff the write's StatusCode is Good, reason = the status
// name ("Good", "BadNotWritable", ...), or the local error when the write could not be made.
//
// Metrics (when a registry is given): doppel_opcua_connects_total,
// doppel_opcua_connect_failures_total, doppel_opcua_readings_total,
// doppel_opcua_values_dropped_total, doppel_opcua_writes_total{result="accepted|rejected"},
// doppel_opcua_connected (gauge).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "doppel/core/metrics.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/ingest/adapter.h"
#include "doppel/ingest/opcua/client.h"

namespace doppel::ingest::opcua {

struct SignalMapping {
  std::string node_id;  // "ns=1;s=Pump1.Flow"
  std::string twin;
  std::string signal;
};

// Exactly one of command / property is set.
struct WriteMapping {
  std::string twin;
  std::string command;
  std::string property;
  std::string node_id;
};

struct OpcUaAdapterOptions {
  ClientOptions client;                 // endpoint, timeouts, user/password
  double publishing_interval_ms = 100;  // subscription publishing interval
  double sampling_interval_ms = -1;     // monitored items; -1: the publishing interval
  uint32_t queue_size = 10;             // per monitored item
  int reconnect_min_ms = 200;
  int reconnect_max_ms = 5000;
  std::vector<SignalMapping> mappings;
  std::vector<WriteMapping> writes;
  std::function<TimeNs()> now_ns;  // default: the system clock

  // Names the first broken rule, e.g. "mappings[2].node_id: node id 'ns=1;x=3': ...".
  Status Validate() const;
};

struct OpcUaAdapterSummary {
  bool connected = false;
  uint64_t connects = 0;          // successful connect + subscribe
  uint64_t connect_failures = 0;  // attempts that failed
  uint64_t disconnects = 0;       // established connections that broke
  uint64_t readings = 0;          // delivered to the sink
  uint64_t values_dropped = 0;    // not numeric, or refused by the sink
  uint64_t writes_accepted = 0;
  uint64_t writes_rejected = 0;
  uint64_t channel_renewals = 0;  // secure channel tokens renewed (as of the last PublishResponse)
  std::string last_error;         // the most recent failure, empty when none yet
};

class OpcUaAdapter {
 public:
  // Validates the options; `readings` and `acks` (and `metrics` when not null) must outlive
  // the adapter. Does not connect yet.
  static Result<std::unique_ptr<OpcUaAdapter>> Create(OpcUaAdapterOptions options, ReadingSink* readings,
                                                      CommandAckSink* acks, MetricsRegistry* metrics);
  virtual ~OpcUaAdapter() = default;
  // Starts the connection thread (once).
  virtual Status Start() = 0;
  // Stops the thread and closes the session; idempotent, also done by the destructor.
  virtual void Stop() = 0;
  // Queues a write for (twin, name) — a command or property of `writes`. kNotFound when no
  // mapping matches; `value` must be a number, a Boolean, a string or {"value": <that>}.
  // The outcome arrives later as a CommandAck with id `command_id`.
  virtual Status WriteCommand(const std::string& twin, const std::string& command_id, const std::string& name,
                              const nlohmann::json& value) = 0;
  virtual OpcUaAdapterSummary Summary() const = 0;
};

// Converts a JSON scalar to a Variant of the given DataType node id (namespace 0: 1 Boolean
// .. 11 Double, 12 String); kInvalidArgument when it does not fit (e.g. 300 into a Byte).
Result<Variant> JsonToVariant(const nlohmann::json& value, const NodeId& data_type);

}  // namespace doppel::ingest::opcua
