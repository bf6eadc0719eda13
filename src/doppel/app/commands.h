// The doppel subcommands (app-private). Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::app {

int RunServe(const std::string& config_path);

struct PlantArgs {
  std::string broker = "mqtt://127.0.0.1:1883";
  int pumps = 3;
  double rate_hz = 1;
  uint64_t seed = 1;
  double time_scale = 1;
  bool truth = false;
  std::string client_id = "doppel-plant";
  std::string demand_surge;            // "START_S:DURATION_S:FACTOR" (plant::ParseDemandSurge); empty: none
  std::string topic_prefix = "plant";  // topics {prefix}/{twin}/telemetry|commands|commands/ack
  std::vector<std::string> replace_impeller;  // "TWIN:AT_S" each (plant::ParseImpellerReplacement)
  std::vector<std::string> impeller_wear;     // "TWIN:WEAR" each (plant::ParseInitialImpellerWear)
  // Source time of simulated t = 0, ns since the epoch (also the demand profile's time of day);
  // 0: the wall clock at start.
  int64_t start_time_ns = 0;
};
int RunPlant(const PlantArgs& args);

// Argument scanning for the hand-parsed subcommands (rul, detect, bench, replay): when args[*i]
// is "--key value" (advancing *i) or "--key=value", stores the value and returns true.
bool TakeOption(const std::vector<std::string>& args, size_t* i, const std::string& key, std::string* out);

struct DemoArgs {
  int port = 8080;
  std::string data_dir = "doppel-demo-data";
  int pumps = 3;
  double rate_hz = 2;
  double time_scale = 1;
  uint64_t seed = 1;
  std::string static_dir;    // the dashboard; empty: web/dist when built, else the live page
  std::string viewer_token;  // optional extra tokens (tests, shared screens)
  std::string operator_token;
};
int RunDemo(const DemoArgs& args);

struct BenchArgs {
  std::string name;
  std::vector<std::string> rest;  // bench-specific options
};
int RunBench(const BenchArgs& args);

// `doppel store stats|check|export ...` (docs/storage.md).
int RunStoreCommand(const std::vector<std::string>& args);

// `doppel detect --csv FILE ...` and `doppel rul train|predict ...` (docs/analytics.md).
int RunDetect(const std::vector<std::string>& args);
int RunRul(const std::vector<std::string>& args);

// `doppel fit --data DIR --twin ID --from T0 --to T1` (docs/estimation.md).
int RunFit(const std::vector<std::string>& args);

// `doppel import --kind workorders|specs --file F --data DIR [--dry-run]` (docs/enterprise.md).
int RunImport(const std::vector<std::string>& args);

// Finds examples/models from the working directory or next to the binary.
std::string DefaultModelsDir();
// Prints "error: <status>" to stderr and returns 1 (2 for invalid arguments).
int Fail(const Status& s);

}  // namespace doppel::app
