#include "doppel/app/runtime.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <set>

#include "doppel/analytics/alert_rules.h"
#include "doppel/analytics/wear_prognosis.h"
#include "doppel/engine/calibration.h"
#include "doppel/engine/context_effects.h"
#include "doppel/engine/fmu_behavior.h"
#include "doppel/engine/online_fit.h"
#include "doppel/ingest/modbus_config.h"
#include "doppel/ingest/opcua/config.h"
#include "doppel/platform/env.h"

namespace doppel::app {

TimeNs WallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Runtime::~Runtime() { Stop(); }

void Runtime::Stop() {
  // First: producers blocked behind a failing store append (queue full) must be able to return
  // before they are stopped and joined.
  if (engine) engine->BeginShutdown();
  if (api) api->Stop();
  if (opcua) opcua->Stop();
  for (auto& m : modbus) m->Stop();
  if (control) {  // [mpcloop] before the engine: it submits commands and reads twins
    control->Stop();
    if (engine) engine->SetControlPlanSource(nullptr);
  }
  if (bus) bus->Stop();  // no more readings or acks after this
  if (rul) rul->Stop();  // before the engine: it submits RUL readings
  if (engine) engine->Stop();
}

namespace {

store::FsyncPolicy ParseFsync(const std::string& s) {
  if (s == "never") return store::FsyncPolicy::kNever;
  if (s == "batch") return store::FsyncPolicy::kEveryBatch;
  return store::FsyncPolicy::kInterval;
}

}  // namespace

Result<std::unique_ptr<Runtime>> StartRuntime(const ServeConfig& config,
                                              std::unique_ptr<platform::MessageBus> bus, bool with_api) {
  auto rt = std::make_unique<Runtime>();
  engine::EngineOptions eo;
  eo.data_dir = config.data_dir;
  eo.models_dir = config.models;
  eo.shards = config.shards;
  eo.queue_capacity = static_cast<size_t>(config.queue_capacity);
  eo.allowed_lateness_ns = static_cast<TimeNs>(config.allowed_lateness_ms) * kNsPerMs;
  eo.max_future_skew_ns = static_cast<TimeNs>(config.max_future_skew_s) * kNsPerS;
  eo.command_timeout_ns = static_cast<TimeNs>(config.command_timeout_ms) * kNsPerMs;
  eo.context_poll_ms = config.context_poll_ms;
  eo.whatif_jobs.workers = config.whatif_jobs.workers;
  eo.whatif_jobs.max_queued = static_cast<size_t>(config.whatif_jobs.max_queued);
  eo.whatif_jobs.max_finished = static_cast<size_t>(config.whatif_jobs.max_finished);
  eo.whatif_jobs.keep_s = config.whatif_jobs.keep_s;
  eo.commands = config.commands;
  eo.provision = config.mqtt.provision;
  eo.fsync = ParseFsync(config.fsync);
  eo.fsync_interval_ms = config.fsync_interval_ms;
  for (const auto& rc : config.retention) {
    store::RetentionRule rule;
    rule.pattern = rc.pattern;
    rule.raw_retention_ns = rc.raw_ns;
    for (const auto& [step, keep] : rc.rollups) rule.rollups.push_back(store::RollupRule{step, keep});
    eo.retention.push_back(std::move(rule));
  }
  if (!config.alert_rules_yaml.empty()) {
    auto rules = analytics::ParseAlertRulesYamlText(config.alert_rules_yaml, "alerts.rules");
    if (!rules.ok()) return rules.status();
    eo.alert_rules = std::move(rules).value();
  }
  eo.anomaly_detection = config.anomaly_detection;
  // Imported design specs (doppel import --kind specs): their limits become alert rules and the
  // command envelope (docs/enterprise.md).
  auto specs =
      engine::ApplyDesignSpecs(config.data_dir, &eo.alert_rules, &eo.commands, &eo.context_spec_cursor);
  if (!specs.ok()) return Status(specs.status().code(), "context.db: " + specs.status().message());
  if (*specs > 0) spdlog::info("design specs of {} twins applied as alert rules and command limits", *specs);
  if (!config.wear_rul_yaml.empty()) {  // pump RUL from the wear trend (docs/analytics.md)
    auto w = analytics::ParseWearRulConfigYaml(config.wear_rul_yaml, "analytics.wear_rul");
    if (!w.ok()) return w.status();
    eo.wear_rul = *w;
  }
  // FMUs as twins' behavior models (docs/fmu.md), registered before the engine binds twins.
  if (!config.behavior_yaml.empty()) {
    auto n = engine::RegisterFmuBehaviors(config.behavior_yaml, config.models);
    if (!n.ok()) return n.status();
  }
  // Per-twin calibrated parameters (docs/estimation.md "Calibration") and live online fits
  // ("Live online fit"), checked against the behavior models registered by now.
  if (!config.calibration_yaml.empty() || !config.online_fit_yaml.empty()) {
    auto bound = engine::BoundBehaviorModels(config.models);
    if (!bound.ok()) return bound.status();
    auto cal = engine::ParseCalibrationYaml(config.calibration_yaml);
    if (!cal.ok()) return cal.status();
    DOPPEL_RETURN_IF_ERROR(engine::CheckCalibrations(*cal, *bound));
    eo.estimation.calibrations = std::move(cal).value();
    auto fits = engine::ParseOnlineFitYaml(config.online_fit_yaml);
    if (!fits.ok()) return fits.status();
    DOPPEL_RETURN_IF_ERROR(engine::CheckOnlineFits(*fits, *bound));
    eo.estimation.online_fits = std::move(fits).value();
  }
  auto engine = engine::Engine::Open(eo, &rt->metrics, platform::DefaultEnv());
  if (!engine.ok()) return engine.status();
  rt->engine = std::move(engine).value();
  DOPPEL_RETURN_IF_ERROR(rt->engine->Start());
  if (!config.rul_yaml.empty()) {  // live RUL of turbofan twins (docs/analytics.md)
    auto ro = engine::ParseRulMonitorConfigYaml(config.rul_yaml, "analytics.rul");
    if (!ro.ok()) return ro.status();
    auto runner = engine::RulMonitorRunner::Start(*ro, rt->engine.get(), rt->engine.get());
    if (!runner.ok()) return Status(runner.status().code(), "analytics.rul: " + runner.status().message());
    rt->rul = std::move(runner).value();
  }

  if (bus) {
    ingest::TopicAdapterOptions ao;
    ao.telemetry_topic = config.mqtt.telemetry_topic;
    ao.command_topic = config.mqtt.command_topic;
    ao.ack_topic = config.mqtt.ack_topic;
    ao.qos = config.mqtt.qos;
    auto adapter =
        ingest::TopicAdapter::Create(bus.get(), ao, rt->engine.get(), rt->engine.get(), &rt->metrics);
    if (!adapter.ok()) return InvalidArgument("mqtt." + adapter.status().message());
    rt->adapter = std::move(adapter).value();
    DOPPEL_RETURN_IF_ERROR(rt->adapter->Subscribe());
    rt->bus = std::move(bus);
    Status s = rt->bus->Start();
    if (!s.ok()) {
      if (s.code() != StatusCode::kUnavailable) return s;
      spdlog::warn("{}", s.message());  // keeps retrying in the background
    }
  }

  if (!config.opcua_yaml.empty()) {
    auto oo = ingest::opcua::ParseOpcUaConfigText(config.opcua_yaml, "config");
    if (!oo.ok()) return oo.status();
    auto ua = ingest::opcua::OpcUaAdapter::Create(std::move(oo).value(), rt->engine.get(), rt->engine.get(),
                                                  &rt->metrics);
    if (!ua.ok()) return ua.status();
    rt->opcua = std::move(ua).value();
    DOPPEL_RETURN_IF_ERROR(rt->opcua->Start());  // connects in the background, with backoff
  }
  if (!config.modbus_yaml.empty()) {
    auto servers = ingest::ParseModbusConfigText(config.modbus_yaml, "config");
    if (!servers.ok()) return servers.status();
    for (auto& o : *servers) {
      auto m = ingest::ModbusAdapter::Create(std::move(o), rt->engine.get(), rt->engine.get(), &rt->metrics);
      if (!m.ok()) return m.status();
      DOPPEL_RETURN_IF_ERROR((*m)->Start());  // polls in the background; an absent server is an outage
      rt->modbus.push_back(std::move(m).value());
    }
  }
  // One command path (docs/commands.md): a command goes to the OPC UA server or the Modbus
  // server that maps it, else over MQTT.
  ingest::TopicAdapter* mqtt = rt->adapter.get();
  ingest::opcua::OpcUaAdapter* ua = rt->opcua.get();
  std::vector<ingest::ModbusAdapter*> mb;
  for (auto& m : rt->modbus) mb.push_back(m.get());
  if (mqtt != nullptr || ua != nullptr || !mb.empty()) {
    rt->engine->SetCommandSender([mqtt, ua, mb](const engine::CommandRecord& c) -> Status {
      for (ingest::ModbusAdapter* m : mb) {
        Status s = m->WriteCommand(c.twin, c.id, c.name, c.request);
        if (s.code() != StatusCode::kNotFound) return s;
      }
      if (ua != nullptr) {
        // A one-field request ({"speed_rpm": 1200}) writes that field's value to the node.
        nlohmann::json v = c.request;
        if (v.is_object() && v.size() == 1 && !v.contains("value")) v = v.begin().value();
        Status s = ua->WriteCommand(c.twin, c.id, c.name, v);
        if (s.code() != StatusCode::kNotFound) return s;
      }
      if (mqtt != nullptr) return mqtt->SendCommand(c.twin, c.id, c.name, c.request);
      return NotFound("no transport carries command '" + c.name + "' for twin '" + c.twin + "'");
    });
  }

  if (!config.control_yaml.empty()) {  // [mpcloop] the live MPC loop (docs/control.md)
    auto co = engine::ParseControlLoopConfigYaml(config.control_yaml);
    if (!co.ok()) return co.status();
    if (co->has_value()) {
      auto loop = engine::ControlLoop::Create(std::move(**co), *rt->engine);
      if (!loop.ok()) {  // also the checks against the station (e.g. the band vs the tank height)
        std::string m = loop.status().message();
        return InvalidArgument("config: control.mpc." + (m.rfind("mpc.", 0) == 0 ? m.substr(4) : m));
      }
      rt->control = std::move(loop).value();
      engine::ControlLoop* raw = rt->control.get();
      rt->engine->SetControlPlanSource([raw] { return raw->LastPlan(); });
      DOPPEL_RETURN_IF_ERROR(rt->control->Start());
      const auto& lo = rt->control->options();
      spdlog::info(
          "control: MPC loop on {} pumps and {} every {} s of source time (horizon {} h, band {}..{} m)",
          lo.pumps.size(), lo.tank, lo.mpc.period_s, lo.mpc.horizon_s / 3600, lo.mpc.level_min_m,
          lo.mpc.level_max_m);
    }
  }
  if (with_api) {
    api::ApiOptions opts;
    opts.listen = config.listen;
    opts.static_dir = config.static_dir;
    opts.io_threads = 2;
    for (const auto& t : config.tokens) {
      api::TokenEntry e;
      e.token = t.token;
      if (!api::ParseRole(t.role, &e.role)) return InvalidArgument("tokens: bad role '" + t.role + "'");
      opts.tokens.push_back(e);
    }
    auto server = api::ApiServer::Start(rt->engine.get(), &rt->metrics, opts);
    if (!server.ok()) return server.status();
    rt->api = std::move(server).value();
  }
  return rt;
}

}  // namespace doppel::app
