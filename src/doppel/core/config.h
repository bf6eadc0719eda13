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

struct ServeConfig {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./doppel-data";
  std::string models = "examples/models";
  std::string static_dir;  // the dashboard build; empty: the built-in live page
  MqttConfig mqtt;
  std::vector<TokenConfig> tokens;
  // engine
  int shards = 0;                  // 0: one per core
  int queue_capacity = 65536;      // readings per shard queue
  int allowed_lateness_ms = 500;   // reorder window per twin
  int command_timeout_ms = 10000;  // sent -> timed_out without an ack
  // storage
  std::string fsync = "interval";  // never | batch | interval
  int fsync_interval_ms = 200;
  std::vector<RetentionConfig> retention;  // empty: keep raw data forever

  // Checks cross-field rules; names the broken one.
  Status Validate() const;
};

// Parses YAML text; `source` names it in errors.
Result<ServeConfig> ParseServeConfig(const std::string& yaml_text, const std::string& source);
Result<ServeConfig> LoadServeConfig(const std::string& path);

}  // namespace doppel
