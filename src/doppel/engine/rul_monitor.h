// Live remaining useful life for turbofan twins (docs/analytics.md, "Live RUL").
//
// RulMonitor is a plain single-threaded object: Process() takes released readings of any twins,
// assembles each monitored twin's flight cycles (one cycle = the 24 C-MAPSS columns plus `cycle`
// at one source time), keeps the engine's history, runs the trained RUL model (`doppel rul train`
// output) on every completed cycle and returns the readings to write back: rul_cycles, the band
// rul_p5_cycles / rul_p95_cycles (when a band is loaded) and rul_h (when hours_per_cycle > 0),
// all at the cycle's source time. The prediction for a cycle equals `doppel rul predict` on the
// unit's records up to that cycle (RulModel::PredictLast on the same prefix).
//
// The band comes from CalibrateRulBand: grouped K-fold cross-validation over the *training* units
// (a held-out unit's every cycle >= min_cycles predicted as if its record ended there) gives
// residuals true RUL - predicted RUL (true RUL uncapped: near the cap the upper edge is wide because
// the model cannot see beyond it); per bin of predicted RUL their 5th and 95th percentiles are
// stored. p5 = max(0, rul + q05(bin)), p95 = rul + q95(bin), widened to contain rul.
//
// RulMonitorRunner is the threaded shell the runtime starts: it subscribes to the engine's stream
// of released readings (the callback only copies into a queue), runs Process on its own thread and
// submits the results through the engine's ReadingSink, so they are stored, charted, shown in the
// twin's latest values and seen by alert rules (threshold rules on rul_cycles).
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "doppel/analytics/rul.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/engine/service.h"
#include "doppel/ingest/adapter.h"

namespace doppel::engine {

inline constexpr const char* kTurbofanModelId = "dtmi:doppel:demo:Turbofan;1";
// The Turbofan model's input signals in C-MAPSS column order: 3 operating settings, 21 sensors.
inline constexpr std::array<std::string_view, 24> kTurbofanColumns = {
    "altitude_kft", "mach",     "tra_deg", "t2_degr",  "t24_degr",   "t30_degr",  "t50_degr",    "p2_psia",
    "p15_psia",     "p30_psia", "nf_rpm",  "nc_rpm",   "epr",        "ps30_psia", "phi_pps_psi", "nrf_rpm",
    "nrc_rpm",      "bpr",      "far_b",   "ht_bleed", "nf_dmd_rpm", "pcnfr_dmd", "w31_lbm_s",   "w32_lbm_s"};
inline constexpr const char* kTurbofanCycleSignal = "cycle";

// Residual quantiles of a RUL model by bin of predicted RUL (cycles).
struct RulBand {
  double bin_width = 10;  // cycles; bin i covers predicted RUL in [i w, (i + 1) w), the last bin the rest
  std::vector<double> q_lo, q_hi;  // per bin: 5th / 95th percentile of (true RUL - predicted RUL)
  std::vector<size_t> counts;      // residuals per bin
  size_t points = 0;
  int folds = 0;

  // p5 = max(0, rul + q_lo), p95 = rul + q_hi for rul's bin, then widened so p5 <= rul <= p95.
  void Apply(double rul, double* p5, double* p95) const;
  std::string ToJson() const;
  static Result<RulBand> FromJson(const std::string& text, const std::string& what);
  static Result<RulBand> Load(const std::string& path);
  Status Save(const std::string& path) const;
};

struct RulBandOptions {
  int folds = 5;          // grouped K-fold over the training units
  int min_cycles = 31;    // held-out cycles predicted from this cycle on (the shortest FD001 test record)
  double bin_width = 10;  // cycles of predicted RUL per bin
  size_t min_bin_points = 30;        // a bin with fewer residuals borrows its lower neighbour's quantiles
  analytics::RulTrainOptions train;  // each fold's model
  // Rule broken, or OK: folds in [2, 20], min_cycles >= 1, bin_width > 0, min_bin_points >= 1, train valid.
  Status Validate() const;
};

// Trains `folds` models on the other folds' units and collects residuals on the held-out units.
Result<RulBand> CalibrateRulBand(const std::vector<analytics::EngineCycle>& train,
                                 const RulBandOptions& options);

// The `analytics.rul` section of the serve config (docs/analytics.md):
//   analytics: {rul: {model: FILE, band: FILE, twins: "engine-*", hours_per_cycle: 0}}
struct RulMonitorOptions {
  std::string model_path;                   // required: `doppel rul train --out` output
  std::string band_path;                    // optional: CalibrateRulBand output; empty: no band signals
  std::string twins = "engine-*";           // twin-id glob
  std::string model_id = kTurbofanModelId;  // only twins of this DTDL model are monitored
  double hours_per_cycle = 0;               // > 0: also write rul_h = rul_cycles * hours_per_cycle
  size_t max_history = 2000;                // cycles kept per twin (the first 30 are always kept)
  // Rule broken, or OK: model_path set, twins non-empty, hours_per_cycle >= 0 and finite,
  // max_history >= 31.
  Status Validate() const;
};
// Parses the section as YAML text; errors name `where` and the key ("analytics.rul.model: required").
Result<RulMonitorOptions> ParseRulMonitorConfigYaml(const std::string& yaml_text, const std::string& where);

struct RulMonitorSummary {
  uint64_t cycles = 0;              // complete cycles assembled
  uint64_t predictions = 0;         // RUL values written
  uint64_t restarts = 0;            // histories reset because a cycle number did not increase
  uint64_t incomplete_dropped = 0;  // partial cycles dropped (older than a completed one, or too many)
  uint64_t errors = 0;              // prediction failures (logged)
};

class RulMonitor {
 public:
  // model_of(twin) returns the twin's DTMI ("" when unknown); asked once per twin and cached.
  using ModelOf = std::function<std::string(const std::string& twin)>;

  RulMonitor(analytics::RulModel model, std::optional<RulBand> band, RulMonitorOptions options,
             ModelOf model_of);
  // Loads the model (and band) named in `options`; errors name the file.
  static Result<std::unique_ptr<RulMonitor>> Create(const RulMonitorOptions& options, ModelOf model_of);

  // Feeds released readings (any order across twins; one twin's in source-time order); appends
  // the readings to write to `out`. Readings of other twins or signals are ignored.
  void Process(const std::vector<Reading>& in, std::vector<Reading>* out);

  const RulMonitorSummary& summary() const { return summary_; }
  // Cycles held for `twin` (0 when unknown).
  size_t history_size(const std::string& twin) const;

 private:
  struct Partial {
    std::array<double, 24> columns;
    double cycle;
    int have = 0;
  };
  struct EngineState {
    std::vector<analytics::EngineCycle> history;
    std::map<TimeNs, Partial> partial;  // by source time
  };
  bool Monitored(const std::string& twin);
  void Complete(const std::string& twin, EngineState& st, TimeNs ts, const Partial& p,
                std::vector<Reading>* out);

  analytics::RulModel model_;
  std::optional<RulBand> band_;
  RulMonitorOptions options_;
  ModelOf model_of_;
  std::map<std::string, bool> monitored_;
  std::map<std::string, EngineState> engines_;
  RulMonitorSummary summary_;
};

// Runs a RulMonitor on its own thread over `service`'s stream; writes through `sink`. Both must
// outlive the runner; Stop() (or the destructor) before the engine stops.
class RulMonitorRunner {
 public:
  static Result<std::unique_ptr<RulMonitorRunner>> Start(const RulMonitorOptions& options, Service* service,
                                                         ingest::ReadingSink* sink);
  ~RulMonitorRunner();  // Stop()
  void Stop();
  // Released readings queued at most; beyond it the stream's events are dropped (and counted).
  static constexpr size_t kMaxQueued = 1 << 20;
  uint64_t dropped() const;

 private:
  RulMonitorRunner(std::unique_ptr<RulMonitor> monitor, Service* service, ingest::ReadingSink* sink);
  void Run();

  // Shared with the stream callback, which may still run on a shard thread after Unsubscribe.
  struct Inbox {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Reading> queue;
    uint64_t dropped = 0;
    bool stopping = false;
  };
  std::unique_ptr<RulMonitor> monitor_;
  Service* service_;
  ingest::ReadingSink* sink_;
  uint64_t subscription_ = 0;
  std::shared_ptr<Inbox> inbox_ = std::make_shared<Inbox>();
  std::thread thread_;
};

}  // namespace doppel::engine
