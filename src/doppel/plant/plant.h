// Plant: the simulated pumping station as a device fleet on a MessageBus.
//
// Every sample period the plant advances the physics (StationModel, fixed-step RK4) and
// publishes one JSON telemetry message per device on `{prefix}/{twin}/telemetry` (QoS 1):
// pump-1..pump-N and tank-1. It accepts commands on `{prefix}/+/commands` and acks them on
// `{prefix}/{twin}/commands/ack`. Formats: docs/formats/telemetry.md; physics: docs/plant.md.
//
// Time: the physics only sees simulated seconds since start. The runner thread (Start/Stop) is
// the only part that looks at a clock: it paces ticks with std::chrono::steady_clock, one tick
// every 1/rate_hz wall seconds, each advancing time_scale/rate_hz simulated seconds. StepFor
// runs the same ticks without any waiting, for tests and benches. Message timestamps are
// start_time_ns + simulated time, so a fixed start_time_ns and seed give byte-identical output.
//
// Thread safety: all public methods may be called from any thread. Plant never holds its lock
// while publishing, so bus handlers may publish commands back into it synchronously.
//
// Typical use (what `doppel plant --broker mqtt://H:P --pumps N --rate HZ --seed S` does):
//   PlantOptions o; o.pumps = N; o.rate_hz = HZ; o.seed = S;
//   if (Status st = o.Validate(); !st.ok()) ...
//   auto bus = platform::NewMqttBus(mqtt_opts);  bus->Start();
//   Plant plant(bus.get(), o);  plant.Start();  ... wait for signal ...  plant.Stop();
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/plant/station_model.h"
#include "doppel/platform/pubsub.h"

namespace doppel::plant {

struct PlantOptions {
  int pumps = 3;       // 1..64
  double rate_hz = 1;  // telemetry messages per device per wall second, (0, 1000]
  uint64_t seed = 1;
  double time_scale = 1;                    // simulated seconds per wall second, (0, 100000]
  std::string topic_prefix = "plant";       // one or more topic levels, no wildcards
  bool publish_truth = false;               // also publish hidden truth on {prefix}/{twin}/truth
  bool faults = true;                       // inject the seed's fault schedule
  double fault_horizon_s = kSecondsPerDay;  // fault start times fall in [0, horizon) sim seconds
  double integration_step_s = 0.1;          // RK4 step, (0, 10]
  // Source time of simulated t = 0, ns since the epoch. 0: the wall clock when the Plant is
  // constructed. Also sets the time of day for the demand profile (UTC).
  TimeNs start_time_ns = 0;
  int qos = 1;
  size_t dedup_window = 1024;  // command ids remembered per plant for redelivery detection
  // Demand surge: the town's demand × demand_surge_factor (> 0) during [demand_surge_start_s,
  // demand_surge_start_s + demand_surge_duration_s) simulated seconds. Duration 0: no surge.
  double demand_surge_start_s = 0;
  double demand_surge_duration_s = 0;
  double demand_surge_factor = 1;
  // Hidden-truth maintenance (tests and demos; docs/enterprise.md). Twins are "pump-1".."pump-N".
  // Initial impeller wear of a pump in [0, 1] instead of the seed's draw
  // (`doppel plant --impeller-wear TWIN:WEAR`).
  std::vector<std::pair<std::string, double>> initial_impeller_wear;
  // A new impeller: the pump's true impeller wear becomes 0 at the first tick at or after at_s
  // simulated seconds, at_s >= 0 (`doppel plant --replace-impeller TWIN:AT_S`).
  struct ImpellerReplacement {
    std::string twin;
    double at_s = 0;
  };
  std::vector<ImpellerReplacement> impeller_replacements;

  Status Validate() const;
};

struct PlantStats {
  uint64_t ticks = 0;
  uint64_t messages_published = 0;
  uint64_t publish_errors = 0;
  uint64_t commands_accepted = 0;
  uint64_t commands_rejected = 0;
  uint64_t commands_duplicate = 0;  // redeliveries of an id already handled (re-acked only)
  uint64_t commands_ignored = 0;    // no readable id: logged, not acked
  double sim_time_s = 0;
};

// Hidden truth for estimation tests: noise-free values, wear and active faults.
struct PumpTruth {
  std::string twin;  // "pump-1"
  PumpOutputs outputs;
  double impeller_wear = 0;
  double bearing_wear = 0;
  bool remote = false;  // following a commanded setpoint (else local level control)
  std::array<double, kNumPumpSignals> sensor_bias{};  // current drift bias per signal
  std::array<bool, kNumPumpSignals> sensor_dropped{};
};
struct PlantTruth {
  double sim_time_s = 0;
  TimeNs ts_ns = 0;
  std::vector<PumpTruth> pumps;
  TankOutputs tank;
  std::vector<Fault> faults;  // the whole schedule (past, active and future)
};

class Plant {
 public:
  // `bus` may be null (nothing is published; StepFor and Truth still work). It must outlive
  // the Plant, and be started by the caller. Options must be valid (Validate()); invalid
  // options are API misuse and throw std::invalid_argument.
  Plant(platform::MessageBus* bus, PlantOptions options);
  ~Plant();  // Stop()s
  Plant(const Plant&) = delete;
  Plant& operator=(const Plant&) = delete;

  // Subscribes to commands (first call only) and starts the real-time thread.
  // FailedPrecondition if already running; the subscription's error if it fails.
  Status Start();
  // Stops and joins the thread; idempotent. Commands are still handled while stopped (the
  // bus has no unsubscribe); they take effect on the next tick.
  void Stop();
  bool running() const;

  // Subscribes to commands without starting the thread (StepFor-driven use).
  Status SubscribeCommands();
  // Runs ticks covering `sim_seconds` of simulated time, as fast as possible (a remainder
  // shorter than one sample period carries over). FailedPrecondition while running.
  Status StepFor(double sim_seconds);
  // One tick: advance one sample period, publish. FailedPrecondition while running.
  Status Tick();

  // Handles one message from `{prefix}/{twin}/commands`. Public for fuzzing and direct use.
  void HandleCommandMessage(std::string_view topic, std::string_view payload);

  PlantStats stats() const;
  PlantTruth Truth() const;
  const StationModel& model() const;
  const PlantOptions& options() const;
  double sample_period_s() const;  // simulated seconds per tick

  // "pump-1".."pump-N" then "tank-1".
  std::vector<std::string> TwinIds() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// Parses "START_S:DURATION_S:FACTOR" (simulated seconds; `doppel plant --demand-surge`) into
// the demand_surge_* options. InvalidArgument naming the part that is wrong.
Status ParseDemandSurge(std::string_view spec, PlantOptions* options);
// Parse "TWIN:AT_S" / "TWIN:WEAR" and append to impeller_replacements / initial_impeller_wear
// (the CLI's --replace-impeller / --impeller-wear). InvalidArgument naming the part that is wrong;
// the twin is checked against options->pumps.
Status ParseImpellerReplacement(std::string_view spec, PlantOptions* options);
Status ParseInitialImpellerWear(std::string_view spec, PlantOptions* options);

// Telemetry JSON of one device (docs/formats/telemetry.md). Missing values are omitted.
std::string FormatPumpTelemetry(TimeNs ts_ns, const PumpReadings& r);
std::string FormatTankTelemetry(TimeNs ts_ns, double level_m, double demand_m3h);

}  // namespace doppel::plant
