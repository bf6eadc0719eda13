// doppel — the command-line entry point: serve, demo, plant, bench.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "doppel/app/commands.h"
#include "doppel/platform/process.h"

namespace doppel::app {
// replay_cmd.cc, rul_band_cmd.cc (docs/analytics.md, "Live RUL").
int RunReplay(const std::vector<std::string>& args);
int RunRulBand(const std::vector<std::string>& args);
}  // namespace doppel::app

int main(int argc, char** argv) {
  doppel::platform::BlockShutdownSignals();
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (const char* lvl = std::getenv("DOPPEL_LOG")) spdlog::set_level(spdlog::level::from_str(lvl));

  CLI::App app{"doppel — a digital-twin platform: DTDL twins, MQTT/HTTP ingest, storage, live API"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "doppel 0.1.0");

  std::string config;
  auto* serve = app.add_subcommand("serve", "Run the platform from a YAML config (docs/config.md)");
  serve->add_option("--config", config, "Config file")->required()->check(CLI::ExistingFile);

  doppel::app::PlantArgs pa;
  auto* plant = app.add_subcommand("plant", "Run the simulated pumping station against an MQTT broker");
  plant->add_option("--broker", pa.broker, "Broker URL, mqtt://HOST:PORT")->capture_default_str();
  plant->add_option("--pumps", pa.pumps, "Number of pumps")->check(CLI::Range(1, 64))->capture_default_str();
  plant->add_option("--rate", pa.rate_hz, "Messages per device per second")
      ->check(CLI::Range(0.001, 1000.0))
      ->capture_default_str();
  plant->add_option("--seed", pa.seed, "Seed of noise, wear and faults")->capture_default_str();
  plant->add_option("--time-scale", pa.time_scale, "Simulated seconds per wall second")
      ->check(CLI::Range(0.001, 100000.0))
      ->capture_default_str();
  plant->add_flag("--truth", pa.truth, "Also publish the hidden truth on plant/{twin}/truth");
  plant->add_option("--client-id", pa.client_id, "MQTT client id")->capture_default_str();
  plant
      ->add_option("--topic-prefix", pa.topic_prefix, "Topic prefix: {prefix}/{twin}/telemetry, .../commands")
      ->capture_default_str();
  plant->add_option("--demand-surge", pa.demand_surge,
                    "Demand surge START_S:DURATION_S:FACTOR (simulated seconds; demand x FACTOR)");
  plant->add_option(
      "--replace-impeller", pa.replace_impeller,
      "Replace a pump's impeller TWIN:AT_S (true wear 0 from that simulated second; repeatable)");
  plant->add_option("--impeller-wear", pa.impeller_wear, "Initial impeller wear TWIN:WEAR (repeatable)");
  plant
      ->add_option(
          "--start-time", pa.start_time_ns,
          "Source time of simulated t = 0, ns since the epoch; sets the demand profile's time of day "
          "(default: now)")
      ->check(CLI::NonNegativeNumber);

  doppel::app::DemoArgs da;
  auto* demo = app.add_subcommand("demo", "Plant + engine + API in one process, no broker needed");
  demo->add_option("--port", da.port, "HTTP port")->check(CLI::Range(0, 65535))->capture_default_str();
  demo->add_option("--data", da.data_dir, "Data directory")->capture_default_str();
  demo->add_option("--pumps", da.pumps, "Number of pumps")->check(CLI::Range(1, 64))->capture_default_str();
  demo->add_option("--rate", da.rate_hz, "Messages per device per second")->capture_default_str();
  demo->add_option("--time-scale", da.time_scale, "Simulated seconds per wall second")->capture_default_str();
  demo->add_option("--seed", da.seed, "Plant seed")->capture_default_str();
  demo->add_option("--static", da.static_dir,
                   "Serve the dashboard from this directory (default: web/dist if built)");
  demo->add_option("--viewer-token", da.viewer_token, "Also accept this token with the viewer role");
  demo->add_option("--operator-token", da.operator_token, "Also accept this token with the operator role");

  doppel::app::BenchArgs ba;
  auto* bench = app.add_subcommand(
      "bench", "Benchmarks (each ends with one JSON line): ingest, store, estimate, nab, cmapss");
  // Everything after `bench` is passed through in order: NAME then its own options, in either
  // `--key value` or `--key=value` form.
  bench->prefix_command();
  bench->set_help_flag();

  auto* store = app.add_subcommand("store", "Inspect a series store: stats, check, export (docs/storage.md)");
  store->prefix_command();
  store->set_help_flag();  // RunStoreCommand prints its own usage for --help

  auto* detect = app.add_subcommand("detect", "Streaming anomaly scores for a CSV (docs/analytics.md)");
  detect->prefix_command();
  detect->set_help_flag();
  auto* rul = app.add_subcommand("rul", "Remaining useful life: train | predict (docs/analytics.md)");
  rul->prefix_command();
  rul->set_help_flag();

  auto* fit =
      app.add_subcommand("fit", "Fit a pump twin's parameters to its stored history (docs/estimation.md)");
  fit->prefix_command();
  fit->set_help_flag();
  auto* import_cmd = app.add_subcommand(
      "import", "Import work orders or design specs from CSV/JSON into DIR/context.db (docs/enterprise.md)");
  import_cmd->prefix_command();
  import_cmd->set_help_flag();  // RunImport prints its own usage for --help

  // replay: C-MAPSS engines as live twins (docs/analytics.md, "Live RUL").
  auto* replay = app.add_subcommand("replay", "Stream a data set through MQTT as live twins: cmapss");
  replay->prefix_command();
  replay->set_help_flag();  // RunReplay prints its own usage for --help

  CLI11_PARSE(app, argc, argv);

  if (*replay) return doppel::app::RunReplay(replay->remaining());
  if (*rul && !rul->remaining().empty() && rul->remaining()[0] == "band")
    return doppel::app::RunRulBand(rul->remaining());

  if (*serve) return doppel::app::RunServe(config);
  if (*plant) return doppel::app::RunPlant(pa);
  if (*demo) return doppel::app::RunDemo(da);
  if (*store) return doppel::app::RunStoreCommand(store->remaining());
  if (*detect) return doppel::app::RunDetect(detect->remaining());
  if (*rul) return doppel::app::RunRul(rul->remaining());
  if (*fit) return doppel::app::RunFit(fit->remaining());
  if (*import_cmd) return doppel::app::RunImport(import_cmd->remaining());
  if (*bench) {
    std::vector<std::string> rest = bench->remaining();
    if (rest.empty() || rest[0].rfind("-", 0) == 0) {
      std::cerr << "usage: doppel bench NAME [options]   (NAME: ingest, store, estimate, nab, cmapss)\n";
      return 2;
    }
    ba.name = rest[0];
    ba.rest.assign(rest.begin() + 1, rest.end());
    return doppel::app::RunBench(ba);
  }
  return 0;
}
