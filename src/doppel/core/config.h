// ServeConfig: the YAML configuration of `doppel serve` (docs/config.md lists every key).
//
// Unknown keys are errors (a typo must not silently fall back to a default); every error
// names the file, the key path and the reason, e.g. "doppel.yaml: mqtt.broker: expected a
// string".
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "doppel/core/status.h"

namespace doppel {

struct TokenConfig {
  std::string token;
  std::string role;  // viewer | operator | admin
};

struct MqttConfig {
  bool enabled = false;  // true when an `mqtt:` section is present
  std::string broker;    // mqtt://HOST:PORT
  std::string client_id = "doppel";
  std::string telemetry_topic = "plant/{twin}/telemetry";
  std::string command_topic = "plant/{twin}/commands";
  std::string ack_topic = "plant/{twin}/commands/ack";
  int qos = 1;
  // Auto-provisioning rules in file order: twin-id glob -> DTMI.
  std::vector<std::pair<std::string, std::string>> provision;
};

// Storage retention for series whose "twin/signal" matches `pattern` (glob); first match wins.
struct RetentionConfig {
  std::string pattern;
  int64_t raw_ns = 0;                                // keep raw samples this long (0: forever)
  std::vector<std::pair<int64_t, int64_t>> rollups;  // (step_ns, keep_ns; 0: forever), finest first
};

// Parses "90s", "15m", "12h", "7d" or "0" into nanoseconds; false when malformed.
bool ParseDurationNs(const std::string& s, int64_t* out);

// commands.envelope.limits[]: bounds on one numeric request field (docs/commands.md).
struct CommandLimitConfig {
  std::string twins = "*";  // twin-id glob
  std::string command;      // DTDL command name, e.g. "setSpeed"
  std::string field;        // numeric request field, e.g. "speed_rpm"
  bool has_min = false, has_max = false, has_rate = false;
  double min = 0, max = 0;
  double max_rate_per_s = 0;  // |new - last sent value| <= max_rate_per_s * seconds since that send
  bool clamp = false;         // on_violation: clamp (true) | refuse (false, the default)
  bool zero_ok = false;       // exactly 0 (stop) passes the min check (a drive's minimum speed)
  std::string source;         // where the limit came from, named in refusals ("" = the config)
};

// commands.envelope.interlocks[] of kind keep_one_running: refuse a command that stops the last
// running member of a group while a level is below its low limit (or unknown).
struct InterlockConfig {
  std::string name = "keep_one_running";
  std::string twins = "pump-*";  // the group (twin-id glob)
  std::string command = "setSpeed";
  std::string field = "speed_rpm";
  double stop_below = 1;  // a command whose field is below this stops the twin
  std::string running_signal = "speed_rpm";
  double running_above = 1;  // a member runs while its running_signal is above this
  std::string level_twin = "tank-1";
  std::string level_signal = "level_m";
  double low_level = 0;  // the interlock holds while the level is below this
  int max_age_s = 60;    // older telemetry counts as unknown (an unknown level holds the interlock)
};

// commands: the command bus (docs/commands.md). timeout_ms lives in command_timeout_ms.
struct CommandsConfig {
  std::string default_mode = "auto";                       // advisory | approve | auto
  std::vector<std::pair<std::string, std::string>> modes;  // twin-id glob -> mode, first match wins
  std::vector<CommandLimitConfig> limits;
  std::vector<InterlockConfig> interlocks;
};

// Background what-ifs (`engine.whatif_jobs`; docs/api.md "What-if jobs"); the engine's
// WhatIfJobsOptions.
struct WhatIfJobsConfig {
  int workers = 1;        // what-ifs that run at once (threads), 1..16
  int max_queued = 16;    // jobs waiting for a worker, 1..10000; more get 503
  int max_finished = 64;  // finished jobs kept for GET, 1..256 (a result is up to 2.3 MB)
  int keep_s = 600;       // how long a finished job is kept, 1..604800 s
};

struct ServeConfig {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./doppel-data";
  std::string models = "examples/models";
  std::string static_dir;  // the dashboard build; empty: the built-in live page
  MqttConfig mqtt;
  std::vector<TokenConfig> tokens;
  // engine
  int shards = 0;                 // 0: one per core
  int queue_capacity = 65536;     // readings per shard queue
  int allowed_lateness_ms = 500;  // reorder window per twin
  // Readings more than this ahead of the server clock are refused; 0: no limit.
  int max_future_skew_s = 30 * 86400;
  int command_timeout_ms = 10000;  // sent -> timed_out without an ack
  int context_poll_ms = 5000;      // context.db checked for other writers' records; 0: never
  WhatIfJobsConfig whatif_jobs;
  CommandsConfig commands;  // modes and the safety envelope
  // storage
  std::string fsync = "interval";  // never | batch | interval
  int fsync_interval_ms = 200;
  std::vector<RetentionConfig> retention;  // empty: keep raw data forever
  // analytics (docs/alerts.md): the `alerts.rules` list kept as YAML text (parsed and checked
  // by the analytics module at startup), and the per-signal anomaly detectors.
  std::string alert_rules_yaml;
  bool anomaly_detection = true;
  // The `analytics.rul` section (live RUL of turbofan twins, docs/analytics.md) as YAML text,
  // parsed by the engine's RUL monitor at startup; empty: no RUL monitor.
  std::string rul_yaml;
  // The `analytics.wear_rul` section (pump RUL from the wear trend, docs/analytics.md) as YAML
  // text, parsed at startup; empty: the defaults (on for every twin whose estimator has wear).
  std::string wear_rul_yaml;
  // protocol adapters (docs/opcua.md): the `opcua:` section as YAML text, parsed by the ingest
  // module at startup; empty: no OPC UA server.
  std::string opcua_yaml;
  // The `modbus:` list as YAML text (docs/modbus.md); empty: no Modbus servers.
  std::string modbus_yaml;
  // [mpcloop] The `control:` section as YAML text (docs/config.md "control"), parsed by
  // app/runtime.cc at startup; empty: no live MPC loop.
  std::string control_yaml;
  // The `behavior:` list as YAML text (FMUs as twins' behavior models, docs/config.md
  // "behavior"), parsed and checked by engine/fmu_behavior.h at startup; empty: none.
  std::string behavior_yaml;
  // The `calibration:` list as YAML text (per-twin parameter values, docs/estimation.md
  // "Calibration"), parsed by engine/behavior_config.h and checked against the behavior models at
  // startup; empty: every twin runs its model's nominal parameters.
  std::string calibration_yaml;
  // The `online_fit:` list as YAML text (live recursive least-squares fits, docs/estimation.md
  // "Live online fit"), parsed by engine/behavior_config.h and checked against the behavior models
  // at startup; empty: none.
  std::string online_fit_yaml;

  // Checks cross-field rules; names the broken one.
  Status Validate() const;
};

// Parses YAML text; `source` names it in errors.
Result<ServeConfig> ParseServeConfig(const std::string& yaml_text, const std::string& source);
Result<ServeConfig> LoadServeConfig(const std::string& path);

}  // namespace doppel
