// `doppel serve`, `doppel plant` and `doppel demo`.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "doppel/app/commands.h"
#include "doppel/app/runtime.h"
#include "doppel/plant/plant.h"
#include "doppel/platform/process.h"

namespace doppel::app {

int Fail(const Status& s) {
  std::cerr << "error: " << s.ToString() << "\n";
  return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

// `rel` (a directory of the source tree) from the working directory, else from the nearest
// ancestor of the binary that has it; empty when neither has.
std::string FindProjectDir(const std::string& rel) {
  namespace fs = std::filesystem;
  if (fs::is_directory(rel)) return rel;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
      if (fs::is_directory(p / rel)) return (p / rel).string();
    }
  }
  return "";
}

std::string DefaultModelsDir() {
  std::string d = FindProjectDir("examples/models");
  return d.empty() ? "examples/models" : d;
}

int RunServe(const std::string& config_path) {
  auto cfg = LoadServeConfig(config_path);
  if (!cfg.ok()) return Fail(cfg.status());
  std::unique_ptr<platform::MessageBus> bus;
  if (cfg->mqtt.enabled) {
    platform::MqttOptions mo;
    if (Status s = platform::ParseBrokerUrl(cfg->mqtt.broker, &mo); !s.ok()) {
      return Fail(InvalidArgument(config_path + ": mqtt.broker: " + s.message()));
    }
    mo.client_id = cfg->mqtt.client_id;
    mo.clean_session = false;  // the broker keeps our QoS 1 messages across restarts
    bus = platform::NewMqttBus(mo);
  }
  auto rt = StartRuntime(*cfg, std::move(bus));
  if (!rt.ok()) return Fail(rt.status());
  spdlog::info("doppel serving on http://{} (data in {})",
               cfg->listen.find(":0") == std::string::npos
                   ? cfg->listen
                   : "127.0.0.1:" + std::to_string((*rt)->api->port()),
               cfg->data_dir);
  std::string sig = platform::WaitForShutdownSignal();
  spdlog::info("{}: shutting down", sig);
  (*rt)->Stop();
  return 0;
}

int RunPlant(const PlantArgs& args) {
  platform::MqttOptions mo;
  if (Status s = platform::ParseBrokerUrl(args.broker, &mo); !s.ok()) return Fail(s);
  mo.client_id = args.client_id;
  mo.clean_session = false;
  plant::PlantOptions po;
  po.pumps = args.pumps;
  po.rate_hz = args.rate_hz;
  po.seed = args.seed;
  po.time_scale = args.time_scale;
  po.publish_truth = args.truth;
  po.topic_prefix = args.topic_prefix;
  po.start_time_ns = args.start_time_ns;
  if (!args.demand_surge.empty()) {
    if (Status s = plant::ParseDemandSurge(args.demand_surge, &po); !s.ok()) return Fail(s);
  }
  for (const auto& spec : args.replace_impeller) {
    if (Status s = plant::ParseImpellerReplacement(spec, &po); !s.ok()) return Fail(s);
  }
  for (const auto& spec : args.impeller_wear) {
    if (Status s = plant::ParseInitialImpellerWear(spec, &po); !s.ok()) return Fail(s);
  }
  if (Status s = po.Validate(); !s.ok()) return Fail(s);
  auto bus = platform::NewMqttBus(mo);
  plant::Plant plant(bus.get(), po);
  if (Status s = plant.SubscribeCommands(); !s.ok()) return Fail(s);
  if (Status s = bus->Start(); !s.ok()) spdlog::warn("{}", s.message());
  if (Status s = plant.Start(); !s.ok()) return Fail(s);
  spdlog::info("plant: {} pumps + tank-1 at {} Hz (seed {}) publishing to {}", args.pumps, args.rate_hz,
               args.seed, args.broker);
  std::string sig = platform::WaitForShutdownSignal();
  plant.Stop();
  auto st = plant.stats();
  spdlog::info("plant: {}: stopped after {} messages, {} commands accepted, {} rejected", sig,
               st.messages_published, st.commands_accepted, st.commands_rejected);
  bus->Stop();
  return 0;
}

// The demo's alert rules (docs/alerts.md): the station's operating limits, sensitive enough that
// the seeded faults show up within the first simulated hours.
constexpr const char* kDemoAlertRules = R"(
- {name: tank_level_low, kind: threshold, twins: "tank-*", signal: level_m, direction: below, value: 1.0, clear_value: 1.3, min_duration_s: 10, severity: critical}
- {name: tank_level_high, kind: threshold, twins: "tank-*", signal: level_m, direction: above, value: 4.6, clear_value: 4.4, min_duration_s: 10, severity: warning}
- {name: vibration_high, kind: threshold, twins: "pump-*", signal: vibration_mm_s, direction: above, value: 7.1, clear_value: 6.0, min_duration_s: 5, severity: warning}
- {name: vibration_trip, kind: threshold, twins: "pump-*", signal: vibration_mm_s, direction: above, value: 11.0, clear_value: 9.0, severity: critical}
- {name: low_flow, kind: threshold, twins: "pump-*", signal: flow_m3h, direction: below, value: 20, clear_value: 25, min_duration_s: 5, severity: critical}
- {name: motor_hot, kind: threshold, twins: "pump-*", signal: motor_temp_c, direction: above, value: 95, clear_value: 90, severity: warning}
- {name: anomalous_signal, kind: anomaly, twins: "pump-*", signal: "*", min_score: 0.9, clear_score: 0.5, min_duration_s: 3, severity: info}
- {name: flow_sensor_silent, kind: stale, twins: "pump-*", signal: flow_m3h, max_age_s: 30, severity: warning}
)";

int RunDemo(const DemoArgs& args) {
  ServeConfig cfg;
  cfg.listen = "127.0.0.1:" + std::to_string(args.port);
  cfg.data_dir = args.data_dir;
  cfg.models = DefaultModelsDir();
  cfg.static_dir = args.static_dir.empty() ? FindProjectDir("web/dist") : args.static_dir;
  cfg.mqtt.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}, {"tank-*", "dtmi:doppel:demo:Tank;1"}};
  cfg.alert_rules_yaml = kDemoAlertRules;
  // An accelerated plant's source time runs ahead of the wall clock by design (at --time-scale
  // 600, 30 days ahead after 72 minutes): no future limit then.
  if (args.time_scale > 1) cfg.max_future_skew_s = 0;
  // The live MPC plans the station in advisory mode: its speeds are proposals an operator may
  // approve (the pumps keep their local level control otherwise); the plan is on the dashboard.
  std::string pumps;
  for (int i = 1; i <= args.pumps; ++i) pumps += (i > 1 ? ", " : "") + fmt::format("pump-{}", i);
  cfg.control_yaml = fmt::format("mpc: {{enabled: true, pumps: [{}], tank: tank-1, period_s: 60}}\n", pumps);
  cfg.commands.modes = {{"pump-*", "advisory"}};
  std::string admin = platform::RandomHex(16);
  cfg.tokens = {{admin, "admin"}};
  if (!args.viewer_token.empty()) cfg.tokens.push_back({args.viewer_token, "viewer"});
  if (!args.operator_token.empty()) cfg.tokens.push_back({args.operator_token, "operator"});

  platform::InProcessBroker broker;
  auto rt = StartRuntime(cfg, broker.Connect("doppel"));
  if (!rt.ok()) return Fail(rt.status());
  Runtime& r = **rt;

  // The station graph: pumps and tank, and the station that contains them.
  plant::PlantOptions po;
  po.pumps = args.pumps;
  po.rate_hz = args.rate_hz;
  po.time_scale = args.time_scale;
  po.seed = args.seed;
  if (Status s = po.Validate(); !s.ok()) return Fail(s);
  auto plant_bus = broker.Connect("plant");
  plant::Plant plant(plant_bus.get(), po);
  engine::TwinSpec station{"station-1", "dtmi:doppel:demo:PumpStation;1", nlohmann::json::object(), {}};
  for (const auto& id : plant.TwinIds()) {
    engine::TwinSpec t{id,
                       id.rfind("pump-", 0) == 0 ? "dtmi:doppel:demo:Pump;1" : "dtmi:doppel:demo:Tank;1",
                       nlohmann::json::object(),
                       {}};
    auto c = r.engine->CreateTwin(t);
    if (!c.ok() && c.status().code() != StatusCode::kAlreadyExists) return Fail(c.status());
    station.relationships.push_back({"contains", id});
  }
  if (auto c = r.engine->CreateTwin(station); !c.ok() && c.status().code() != StatusCode::kAlreadyExists) {
    return Fail(c.status());
  }
  if (Status s = plant.SubscribeCommands(); !s.ok()) return Fail(s);
  if (Status s = plant_bus->Start(); !s.ok()) return Fail(s);
  if (Status s = plant.Start(); !s.ok()) return Fail(s);

  int port = r.api->port();
  std::cout << "\n  Doppel demo is running: " << args.pumps << " pumps and a tank, live.\n"
            << "  Open  http://127.0.0.1:" << port << "/#token=" << admin << "\n"
            << "  API   curl -H 'Authorization: Bearer " << admin << "' http://127.0.0.1:" << port
            << "/api/v1/twins\n"
            << "  Data  " << args.data_dir << "    (Ctrl-C to stop)\n\n"
            << std::flush;
  std::string sig = platform::WaitForShutdownSignal();
  spdlog::info("{}: shutting down", sig);
  plant.Stop();
  plant_bus->Stop();
  r.Stop();
  return 0;
}

}  // namespace doppel::app
