// Runtime (app-private): a running doppel — engine, API server and a transport (MQTT or the
// in-process bus) wired together. Shared by `serve`, `demo` and the benches.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "doppel/api/server.h"
#include "doppel/core/config.h"
#include "doppel/core/metrics.h"
#include "doppel/engine/control_loop.h"
#include "doppel/engine/engine.h"
#include "doppel/engine/rul_monitor.h"
#include "doppel/ingest/adapter.h"
#include "doppel/ingest/modbus_adapter.h"
#include "doppel/ingest/opcua/adapter.h"
#include "doppel/platform/pubsub.h"

namespace doppel::app {

struct Runtime {
  MetricsRegistry metrics;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<platform::MessageBus> bus;  // may be null (no transport)
  std::unique_ptr<ingest::TopicAdapter> adapter;
  std::unique_ptr<ingest::opcua::OpcUaAdapter> opcua;          // may be null (no `opcua:` section)
  std::vector<std::unique_ptr<ingest::ModbusAdapter>> modbus;  // one per `modbus:` server
  std::unique_ptr<api::ApiServer> api;
  std::unique_ptr<engine::ControlLoop> control;   // [mpcloop] may be null (no `control.mpc` section)
  std::unique_ptr<engine::RulMonitorRunner> rul;  // may be null (no `analytics.rul` section)

  ~Runtime();
  void Stop();
};

// Opens the engine from `config`, connects `bus` (when given) through a TopicAdapter, and
// starts the API unless `with_api` is false. The bus is started here.
Result<std::unique_ptr<Runtime>> StartRuntime(const ServeConfig& config,
                                              std::unique_ptr<platform::MessageBus> bus,
                                              bool with_api = true);

// Current wall-clock time, ns since the epoch.
TimeNs WallNowNs();

}  // namespace doppel::app
