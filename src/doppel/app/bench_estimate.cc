// `doppel bench estimate`: what does estimation cost, and how fast are what-ifs?
//
// In one run, on the same plant-generated telemetry (3 pumps + tank, 10 Hz):
//   1. filters:  EKF and UKF updates per second of CPU time on the pump twin (the engine's
//                binding: 2 states + impeller wear, bearing wear, flow bias; 6 sensors; 0.1 s
//                steps), one core.
//   2. pipeline: CPU cost per reading of decode (simdjson) + Engine::Submit + store append +
//                reorder + twin state + estimator, one shard, divided by the CPU cost of only
//                decoding the same payloads with the same decoder. Also without estimation,
//                so the estimator's share is visible.
//   floor:       what no pipeline design can leave out, each measured alone on the same
//                messages: the decode, the durable store append (WAL record, chunk sealing, in
//                groups of up to 2048 readings as the shard commits them) and the EKF steps the
//                pipeline took (at the filter bench's rate). Its ratio to the parse is the
//                lowest pipeline_cost_ratio_vs_parse these three components allow.
//   3. what-if:  the 3-pump station (physics::MakeStationDiagram) simulated with RK4 at 3 s
//                steps: simulated seconds per wall second; and the pump twin's API what-if
//                (600 s, 1 s grid, 50 samples) wall time.
// Prints a table, then one JSON line.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <random>

#include "doppel/app/commands.h"
#include "doppel/app/plant_corpus.h"
#include "doppel/engine/behavior.h"
#include "doppel/engine/engine.h"
#include "doppel/ingest/decode.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"
#include "doppel/plant/plant.h"
#include "doppel/platform/env.h"
#include "doppel/platform/process.h"
#include "doppel/platform/pubsub.h"
#include "doppel/store/series_store.h"

namespace doppel::app {
namespace {

using Clock = std::chrono::steady_clock;
using physics::SignalKind;

// CPU seconds of the process (every thread: the shard, the store's syncer) or of the calling
// thread ("per core" rates that neighbours on a shared machine do not halve).
double CpuSeconds(clockid_t clock = CLOCK_PROCESS_CPUTIME_ID) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double WallSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

size_t ArgOr(const std::vector<std::string>& args, const std::string& key, size_t def) {
  for (const auto& a : args) {
    if (a.rfind("--" + key + "=", 0) == 0) return std::stoul(a.substr(key.size() + 3));
  }
  return def;
}
double ArgOrD(const std::vector<std::string>& args, const std::string& key, double def) {
  for (const auto& a : args) {
    if (a.rfind("--" + key + "=", 0) == 0) return std::stod(a.substr(key.size() + 3));
  }
  return def;
}

// Filter updates per second of the thread's CPU time on the pump twin with the engine's binding
// (one core).
double FilterRate(bool ukf, size_t updates) {
  const engine::BehaviorModel* bm = engine::BehaviorModel::Find("dtmi:doppel:demo:Pump;1");
  const physics::System& sys = bm->system();
  physics::Context c = sys.CreateDefaultContext();
  (void)sys.SetValue(&c, SignalKind::kParameter, "pump.impeller_wear", 0.2);
  c.state << 1300, 50;
  physics::Simulator sim(sys, c, std::move(physics::MakeRk4Integrator({.step_s = 0.1})).value());
  const auto& outs = bm->measured_outputs();
  std::mt19937_64 rng(1);
  std::normal_distribution<double> nd;
  std::vector<estimate::Measurement> ms;
  for (size_t i = 1; i <= updates; ++i) {
    (void)sim.AdvanceTo(0.1 * static_cast<double>(i));
    Eigen::VectorXd y = sim.Outputs(), v(6), sd(6);
    for (int k = 0; k < 6; ++k) {
      sd[k] = bm->SensorStd(k, y[outs[static_cast<size_t>(k)]]);
      v[k] = y[outs[static_cast<size_t>(k)]] + sd[k] * nd(rng);
    }
    ms.emplace_back(0.1 * static_cast<double>(i), v, std::vector<bool>(6, true), sd);
  }
  auto o = bm->InitialOptions(ms[0].values, ms[0].present, 0.0);
  auto est = ukf ? estimate::MakeUnscentedKalmanFilter(bm->filter_model(), o, {.alpha = 0.5})
                 : estimate::MakeExtendedKalmanFilter(bm->filter_model(), o);
  if (!est.ok()) return 0;
  (void)(*est)->SetInputs(bm->Inputs(2.5, physics::kNaN));
  const double c0 = CpuSeconds(CLOCK_THREAD_CPUTIME_ID);
  for (const auto& m : ms) (void)(*est)->Update(m);
  return static_cast<double>(ms.size()) / (CpuSeconds(CLOCK_THREAD_CPUTIME_ID) - c0);
}

struct PipelineCost {
  double cpu_s = 0, wall_s = 0;
  uint64_t est_updates = 0;
};

Result<PipelineCost> RunPipeline(const std::vector<PlantMessage>& msgs, const std::string& dir,
                                 bool estimation, double min_interval_s) {
  MetricsRegistry metrics;
  engine::EngineOptions eo;
  eo.data_dir = dir;
  eo.models_dir = DefaultModelsDir();
  eo.shards = 1;
  eo.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}, {"tank-*", "dtmi:doppel:demo:Tank;1"}};
  eo.fsync = store::FsyncPolicy::kInterval;
  eo.estimation.enabled = estimation;
  eo.estimation.min_update_interval_s = min_interval_s;
  auto e = engine::Engine::Open(eo, &metrics, platform::DefaultEnv());
  if (!e.ok()) return e.status();
  DOPPEL_RETURN_IF_ERROR((*e)->Start());
  PipelineCost c;
  const double cpu0 = CpuSeconds();
  auto t0 = Clock::now();
  for (const auto& m : msgs) {
    auto r = ingest::DecodeTelemetry(m.twin, m.payload, 0);
    if (!r.ok()) return r.status();
    DOPPEL_RETURN_IF_ERROR((*e)->Submit(std::move(*r)));
  }
  (*e)->Drain();
  c.cpu_s = CpuSeconds() - cpu0;
  c.wall_s = WallSince(t0);
  c.est_updates = metrics.GetCounter("doppel_estimator_updates_total", "").Value();
  (*e)->Stop();
  return c;
}

// CPU seconds of appending the messages to a fresh one-lane store (fsync interval, as the
// pipeline runs), grouped as the shard groups them (up to 2048 readings per record). Each group
// is decoded just before its append, as the shard gets readings still warm from the decoder;
// only the appends are timed.
Result<double> StoreOnlyCpu(const std::vector<PlantMessage>& msgs, const std::string& dir) {
  store::SeriesStoreOptions so;
  so.dir = dir;
  so.lanes = 1;
  so.fsync = store::FsyncPolicy::kInterval;
  auto st = store::SeriesStore::Open(platform::DefaultEnv(), so);
  if (!st.ok()) return st.status();
  std::vector<std::vector<Reading>> group;
  size_t in_group = 0;
  double cpu = 0;
  auto append = [&]() -> Status {
    std::vector<const std::vector<Reading>*> parts;
    for (const auto& g : group) parts.push_back(&g);
    const double c0 = CpuSeconds();
    Status s = (*st)->AppendParts(0, parts);
    cpu += CpuSeconds() - c0;
    group.clear();
    in_group = 0;
    return s;
  };
  for (const auto& m : msgs) {
    auto r = ingest::DecodeTelemetry(m.twin, m.payload, 0);
    if (!r.ok()) return r.status();
    if (in_group + r->size() > 2048 && !group.empty()) DOPPEL_RETURN_IF_ERROR(append());
    in_group += r->size();
    group.push_back(std::move(*r));
  }
  if (!group.empty()) DOPPEL_RETURN_IF_ERROR(append());
  st->reset();  // the final sync is not part of the appends (nor of the pipeline's window)
  return cpu;
}

}  // namespace

int RunEstimateBench(const std::vector<std::string>& args) {
  const size_t messages = ArgOr(args, "messages", 40000);
  const int pumps = static_cast<int>(ArgOr(args, "pumps", 3));
  const size_t filter_updates = ArgOr(args, "updates", 20000);
  // The engine's default: estimator steps at most every min_interval_s of source time per twin.
  const double min_interval = ArgOrD(args, "min-interval", engine::EstimationOptions{}.min_update_interval_s);
  // --pipeline-only=1: skip filters and what-if (for profiling the ingest path).
  const bool pipeline_only = ArgOr(args, "pipeline-only", 0) != 0;
  spdlog::set_level(spdlog::level::warn);
  namespace fs = std::filesystem;
  fs::path work = fs::temp_directory_path() / ("doppel-bench-estimate-" + platform::RandomHex(4));
  fs::create_directories(work);

  std::cerr << "filters: " << filter_updates << " updates each on the pump twin...\n";
  const double ekf = pipeline_only ? 0 : FilterRate(false, filter_updates);
  const double ukf = pipeline_only ? 0 : FilterRate(true, filter_updates / 4);

  std::cerr << "generating " << messages << " station telemetry messages from the plant (" << pumps
            << " pumps + tank, 10 Hz)...\n";
  std::vector<PlantMessage> msgs = CapturePlantTelemetry(pumps, messages, /*seed=*/3, /*pumps_only=*/false);
  uint64_t readings = 0;
  std::cerr << "parse only, then pipeline: decode + submit + store + reorder + state (+ estimator), one "
               "shard...\n";
  // Each pass runs all three (parse only with the same decoder, the pipeline without and with
  // estimation) back to back, and each keeps its cheapest pass (CPU time): the machine's state
  // (frequency, neighbours) changes between passes, so all three sample the same spread of it.
  double parse_cpu = 1e30, store_cpu = 1e30;
  Result<PipelineCost> base = PipelineCost{1e30, 0, 0}, full = PipelineCost{1e30, 0, 0};
  for (int pass = 0; pass < 3; ++pass) {
    readings = 0;
    const double c0 = CpuSeconds();
    for (const auto& m : msgs) {
      auto r = ingest::DecodeTelemetry(m.twin, m.payload, 0);
      if (!r.ok()) return Fail(r.status());
      readings += r->size();
    }
    parse_cpu = std::min(parse_cpu, CpuSeconds() - c0);
    auto b = RunPipeline(msgs, (work / fmt::format("base{}", pass)).string(), false, min_interval);
    if (!b.ok()) return Fail(b.status());
    auto f = RunPipeline(msgs, (work / fmt::format("est{}", pass)).string(), true, min_interval);
    if (!f.ok()) return Fail(f.status());
    auto so = StoreOnlyCpu(msgs, (work / fmt::format("store{}", pass)).string());
    if (!so.ok()) return Fail(so.status());
    store_cpu = std::min(store_cpu, *so);
    if (b->cpu_s < base->cpu_s) base = b;
    if (f->cpu_s < full->cpu_s) full = f;
  }

  std::cerr << "what-if: 3-pump station, RK4 3 s steps, one simulated day...\n";
  auto station = physics::MakeStationDiagram(3);
  if (!station.ok()) return Fail(station.status());
  physics::Simulator sim(**station, (*station)->CreateDefaultContext(),
                         std::move(physics::MakeRk4Integrator({.step_s = 3.0})).value());
  const double day = 86400;
  int reps = 0;
  auto w0 = Clock::now();
  do {
    if (Status s = sim.AdvanceBy(day); !s.ok()) return Fail(s);
    ++reps;
  } while (!pipeline_only && WallSince(w0) < 0.5);
  const double whatif_rate = reps * day / WallSince(w0);
  // The pump twin's API what-if from a converged estimate.
  engine::EstimateSnapshot snap;
  {
    const engine::BehaviorModel* bm = engine::BehaviorModel::Find("dtmi:doppel:demo:Pump;1");
    auto o = bm->InitialOptions(Eigen::VectorXd::Constant(6, 1300), std::vector<bool>(6, false), 0);
    snap.model = bm;
    snap.twin = "pump-1";
    snap.mean = o.initial_mean;
    snap.covariance = Eigen::MatrixXd(o.initial_std.cwiseAbs2().asDiagonal()) * 0.01;
    snap.inputs = bm->Inputs(2.5, physics::kNaN);
    snap.context = bm->system().CreateDefaultContext();
    snap.context.inputs = snap.inputs;
  }
  engine::WhatIfRequest wr;
  wr.horizon_s = 600;
  wr.step_s = 1;
  wr.samples = 50;
  wr.overrides.inputs["speed_rpm"] = 1400;
  auto wres = engine::RunWhatIf(snap, wr);
  const double api_whatif_s = wres.ok() ? wres->wall_s : -1;

  std::error_code ec;
  fs::remove_all(work, ec);

  const double n = static_cast<double>(readings);
  const double parse_ns = parse_cpu / n * 1e9;
  const double base_ns = base->cpu_s / n * 1e9;
  const double full_ns = full->cpu_s / n * 1e9;
  const double ratio = full_ns / parse_ns;
  const double store_ns = store_cpu / n * 1e9;
  // The EKF steps the pipeline took, at the filter bench's rate (CPU time of one run). Without the filter
  // bench (--pipeline-only) there is no floor.
  const double ekf_ns = static_cast<double>(full->est_updates) / ekf / n * 1e9;
  const bool have_floor = ekf > 0;
  const double floor_ratio = (parse_ns + store_ns + ekf_ns) / parse_ns;
  const std::string floor_json = have_floor ? fmt::format("{:.4f}", floor_ratio) : "null";
  std::cout
      << fmt::format("{:<52} {:>14}\n", "measure", "value")
      << fmt::format("{:<52} {:>14.0f}\n", "EKF updates/s (pump twin, 5 states, 6 sensors)", ekf)
      << fmt::format("{:<52} {:>14.0f}\n", "UKF updates/s (pump twin, alpha 0.5)", ukf)
      << fmt::format("{:<52} {:>14}\n", "messages / readings", fmt::format("{} / {}", msgs.size(), readings))
      << fmt::format("{:<52} {:>14.0f}\n", "parse only: CPU ns per reading", parse_ns)
      << fmt::format("{:<52} {:>14.0f}\n", "pipeline without estimation: CPU ns per reading", base_ns)
      << fmt::format("{:<52} {:>14.0f}\n", "pipeline with estimation: CPU ns per reading", full_ns)
      << fmt::format("{:<52} {:>14.0f}\n", "floor: store append alone, CPU ns per reading", store_ns)
      << fmt::format("{:<52} {:>14}\n", "floor: the pipeline's EKF steps, ns per reading",
                     have_floor ? fmt::format("{:.0f}", ekf_ns) : "-")
      << fmt::format("{:<52} {:>14}\n", "floor: (parse + store + EKF) / parse",
                     have_floor ? fmt::format("{:.3f}", floor_ratio) : "-")
      << fmt::format("{:<52} {:>14}\n", "estimator steps (min interval s)",
                     fmt::format("{} ({})", full->est_updates, min_interval))
      << fmt::format("{:<52} {:>14.0f}\n", "what-if: station RK4 3 s, sim s per wall s", whatif_rate)
      << fmt::format("{:<52} {:>14.3f}\n", "what-if API: pump 600 s x 50 samples, wall s", api_whatif_s)
      << fmt::format("pipeline_cost_ratio_vs_parse = {:.3f} (target <= 2; without estimation {:.3f})\n",
                     ratio, base_ns / parse_ns)
      << fmt::format(
             "{{\"bench\":\"estimate\",\"messages\":{},\"readings\":{},\"ekf_updates_per_s\":{:.0f},"
             "\"ukf_updates_per_s\":{:.0f},\"parse_ns_per_reading\":{:.1f},\"pipeline_ns_per_reading\":{:.1f}"
             ","
             "\"pipeline_no_estimation_ns_per_reading\":{:.1f},\"estimator_steps\":{},"
             "\"estimator_min_interval_s\":{},\"pipeline_cost_ratio_vs_parse\":{:.4f},"
             "\"pipeline_cost_ratio_vs_parse_without_estimation\":{:.4f},\"whatif_sim_s_per_wall_s\":{:.0f},"
             "\"whatif_api_pump_600s_50_samples_wall_s\":{:.4f},\"store_append_ns_per_reading\":{:.1f},"
             "\"ekf_ns_per_reading\":{:.1f},\"floor_ratio_vs_parse\":{}}}\n",
             msgs.size(), readings, ekf, ukf, parse_ns, full_ns, base_ns, full->est_updates, min_interval,
             ratio, base_ns / parse_ns, whatif_rate, api_whatif_s, store_ns, have_floor ? ekf_ns : 0.0,
             floor_json);
  return 0;
}

}  // namespace doppel::app
