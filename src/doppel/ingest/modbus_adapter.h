// ModbusAdapter: polls a Modbus TCP server (libmodbus) and turns registers into Readings;
// writes commands and writable properties back to registers (docs/modbus.md).
//
// A poll thread connects to host:port, reads every configured point each poll_interval_ms
// (contiguous addresses of one table are grouped into one request, at most 125 registers or
// 2000 bits) and submits one batch per twin to the ReadingSink, stamped with the poll time.
//
// Outages: when the server does not answer (refused, reset, timeout), the adapter submits,
// once per outage, a Quality::kBad reading for every affected point (value: its last good
// value, 0 before the first) so the gap is visible in the data, counts the failure in
// doppel_modbus_poll_failures_total, and reconnects with exponential backoff
// (reconnect_initial_ms doubling up to reconnect_max_ms). Good readings resume with the first
// successful poll; each successful reconnect counts in doppel_modbus_reconnects_total. A Modbus
// exception answer (e.g. illegal address) marks only that block's points bad and keeps the
// connection.
//
// Writes: WriteCommand matches (twin, name) against `writes`, takes the value from the request
// (a number or bool, or the `field` member of an object, or an object's only member), encodes
// it (modbus_map.h) and queues it for the poll thread, which writes it (function code 5 for a
// coil, 6 for one register, 16 for two) and reports a CommandAck: accepted, or rejected with
// the libmodbus error.
//
// Thread safety: WriteCommand and stats() may be called from any thread. Sinks are called on
// the poll thread.
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
#include "doppel/ingest/modbus_map.h"

namespace doppel::ingest {

// One polled value: the register(s) or bit at `address` become twin/signal.
struct ModbusPointOptions {
  std::string twin;
  std::string signal;
  ModbusTable table = ModbusTable::kHolding;
  int address = 0;        // 0-based protocol address (register 40001 is holding address 0)
  RegisterFormat format;  // coil/discrete points must use ModbusType::kBool
};

// One writable target: a command or writable property `name` of `twin`.
struct ModbusWriteOptions {
  std::string twin;
  std::string name;   // command name (e.g. "setSpeed") or writable property name
  std::string field;  // request member holding the value; empty: see the header comment
  ModbusTable table = ModbusTable::kHolding;  // holding or coil
  int address = 0;
  RegisterFormat format;
};

struct ModbusAdapterOptions {
  std::string host = "127.0.0.1";
  int port = 502;                  // 1..65535
  int unit_id = 1;                 // Modbus slave/unit id, 0..255
  int poll_interval_ms = 1000;     // >= 1
  int timeout_ms = 1000;           // connect and response timeout, >= 1
  int reconnect_initial_ms = 100;  // first backoff after a failure, >= 1
  int reconnect_max_ms = 5000;     // backoff cap, >= reconnect_initial_ms
  int max_gap = 0;                 // unread addresses allowed inside one grouped read, >= 0
  std::vector<ModbusPointOptions> points;
  std::vector<ModbusWriteOptions> writes;
  // Timestamp of a poll (ns since the epoch); default: the system clock.
  std::function<TimeNs()> now_ns;

  // Checks every rule; the error names the option, e.g. "points[2] (pump-1/flow_m3h): ...".
  Status Validate() const;
};

// Counters since Start (also exported as doppel_modbus_* metrics labelled server="host:port").
struct ModbusAdapterStats {
  uint64_t polls = 0;           // poll cycles completed with every block read
  uint64_t poll_failures = 0;   // blocks that failed (connection errors and Modbus exceptions)
  uint64_t reconnects = 0;      // successful connects after the first
  uint64_t readings = 0;        // readings submitted (good and bad)
  uint64_t bad_readings = 0;    // Quality::kBad readings submitted for outages and exceptions
  uint64_t writes = 0;          // writes acknowledged by the server
  uint64_t write_failures = 0;  // writes rejected (server error or unreachable)
  bool connected = false;
};

class ModbusAdapter {
 public:
  // Validates the options (InvalidArgument naming the bad entry). `readings` and `acks` (may be
  // null if there are no writes) and `metrics` must outlive the adapter.
  static Result<std::unique_ptr<ModbusAdapter>> Create(ModbusAdapterOptions options, ReadingSink* readings,
                                                       CommandAckSink* acks, MetricsRegistry* metrics);
  virtual ~ModbusAdapter() = default;

  // Starts the poll thread (returns at once; an unreachable server is an outage, not an error).
  virtual Status Start() = 0;
  // Stops and joins the poll thread; pending writes are acked as rejected. Idempotent.
  virtual void Stop() = 0;
  // Queues a write; the ack follows on the poll thread. NotFound when no write matches
  // (twin, name); InvalidArgument when the request carries no usable value or it does not fit.
  virtual Status WriteCommand(const std::string& twin, const std::string& id, const std::string& name,
                              const nlohmann::json& request) = 0;
  virtual ModbusAdapterStats stats() const = 0;
};

}  // namespace doppel::ingest
