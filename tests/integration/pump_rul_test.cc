// Pump RUL from the wear trend against the plant's hidden truth (docs/analytics.md, "Pump RUL from
// the wear trend"). In process: the plant's StationModel (3 pumps, nominal curves, local level
// control, daily demand, seeded sensor noise) feeds an Engine through Submit, exactly the readings a
// device would send, once a second of source time; the engine's pump twins estimate wear (EKF) and
// turn its trend into rul_h / rul_p5_h / rul_p95_h. The truth is the time until the plant's own
// wear reaches the threshold: a copy of the plant simulated forward with the same demand and control
// until the first pump wear crosses (impeller 0.6 or bearing 0.5).
//
// The wear rates are the plant's law with a 10x rate constant (impeller ≈ 0.05 %/h at rated
// speed), so end of life is days rather than months of simulated time away and the test runs in
// well under a minute; nothing else differs from the plant.
//
// Measured (docs/analytics.md): the RUL is optimistic, by 55-110 % after 6 h, 16-35 % after 24 h
// and 6-14 % after 30-36 h: the plant's wear accelerates in closed loop (a worn impeller delivers
// less, local level control speeds it up, and the wear rate goes with speed cubed), which a linear
// fit of the past does not foresee; the band (fit uncertainty only) therefore misses the truth at
// most checks. Asserted: within 20 % from 30 h of trend on (measured 12–16 %: the engine's
// watermark timing varies run to run), and the RUL falls as time passes.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <random>

#include "doppel/engine/engine.h"
#include "doppel/plant/station_model.h"
#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

constexpr TimeNs kT0 = 1'700'000'000LL * kNsPerS;  // 22:13 UTC: the demand profile's time of day
constexpr double kImpellerThreshold = 0.6, kBearingThreshold = 0.5;

struct Check {
  double t_h;   // check time, hours since start
  double at_h;  // the RUL's own time (its last closed bin)
  double rul_h, p5_h, p95_h;
  double truth_h = 0;    // true time to threshold from at_h
  double true_wear = 0;  // the plant's impeller wear at t_h
};

// The first time (s) each pump's true wear crosses its threshold, simulating a copy of the plant
// forward with the same (constant) inputs: the demand and local control are functions of time and
// state only, so this is the plant's own future. `daily_rate` gets the first pump's mean impeller
// wear rate (per h) over each whole day of that future.
std::vector<double> TrueFailureTimes(plant::StationSimulator sim, const plant::StationInputs& u,
                                     std::vector<double>* daily_rate) {
  const size_t n = sim.state().pumps.size();
  std::vector<double> t(n, INFINITY);
  size_t left = n;
  double day_start_s = sim.time(), day_start_wear = sim.state().pumps[0].impeller_wear;
  while (left > 0 && sim.time() < 3600.0 * 2000) {
    if (sim.time() >= day_start_s + 86400) {
      daily_rate->push_back((sim.state().pumps[0].impeller_wear - day_start_wear) * 3600 /
                            (sim.time() - day_start_s));
      day_start_s = sim.time();
      day_start_wear = sim.state().pumps[0].impeller_wear;
    }
    for (size_t i = 0; i < n; ++i) {
      const plant::PumpState& p = sim.state().pumps[i];
      if (std::isinf(t[i]) &&
          (p.impeller_wear >= kImpellerThreshold || p.bearing_wear >= kBearingThreshold)) {
        t[i] = sim.time();
        --left;
      }
    }
    sim.AdvanceBy(10, u);
  }
  return t;
}

TEST(IntegrationPumpRulAgainstPlantTruth, RulIsWithinTwentyPercentOfTheTrueTimeToThresholdAfter30Hours) {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::atomic<TimeNs> now{kT0};
  EngineOptions o;
  o.data_dir = dir.file("data");
  o.models_dir = testing::SourceDir() + "/examples/models";
  // Two shards, so the tank and some pumps run on different ones: the pumps' estimators take the
  // tank level at their own steps' source time (engine::StationLevel). When they took the level
  // as released so far, this replay (far faster than real time) gave them a level from wherever
  // the tank's shard had got to, and the worst error moved between 14 % and 20.5 % from run to
  // run; now 14.2-15.2 % over six runs (on one shard 14.5 ± 0.1 %).
  o.shards = 2;
  o.allowed_lateness_ns = 100 * kNsPerMs;
  o.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}, {"tank-*", "dtmi:doppel:demo:Tank;1"}};
  o.fsync = store::FsyncPolicy::kNever;
  o.now_ns = [&now] { return now.load(); };
  auto opened = Engine::Open(o, &metrics, platform::DefaultEnv());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Engine> engine = std::move(opened).value();
  ASSERT_TRUE(engine->Start().ok());

  const int pumps = 3;
  plant::StationParams params = plant::StationParams::Nominal(pumps);
  params.time_of_day_at_start_s = static_cast<double>((kT0 / kNsPerS) % 86400);
  const double initial_impeller[] = {0.05, 0.15, 0.25};
  for (int i = 0; i < pumps; ++i) {
    plant::PumpParams& p = params.pumps[static_cast<size_t>(i)];
    p.impeller_wear_rate_per_s *= 10;
    p.bearing_wear_rate_per_s *= 10;
    p.initial_impeller_wear = initial_impeller[i];
    p.initial_bearing_wear = 0.05;
  }
  const plant::StationModel model(std::move(params), plant::FaultSchedule());
  plant::StationSimulator sim(&model, model.DefaultState(), 0.1);
  const plant::StationInputs u = model.DefaultInputs();
  std::mt19937_64 noise(plant::DeriveSeed(7, 3));

  const double hours = 36;
  const double checks_h[] = {6, 12, 18, 24, 30, 36};
  std::vector<std::vector<Check>> got(pumps);
  size_t next_check = 0;
  for (int s = 1; s <= static_cast<int>(hours * 3600); ++s) {
    sim.AdvanceTo(s, u);
    const plant::StationReadings r = plant::Measure(model, s, sim.state(), u, noise);
    const TimeNs ts = kT0 + static_cast<TimeNs>(s) * kNsPerS;
    std::vector<Reading> batch;
    for (int i = 0; i < pumps; ++i) {
      const std::string twin = "pump-" + std::to_string(i + 1);
      for (int k = 0; k < plant::kNumPumpSignals; ++k) {
        const auto& v = r.pumps[static_cast<size_t>(i)].values[static_cast<size_t>(k)];
        if (v)
          batch.push_back(Reading{twin, plant::PumpSignalName(static_cast<plant::PumpSignal>(k)), ts, *v,
                                  Quality::kGood});
      }
    }
    batch.push_back(Reading{"tank-1", "level_m", ts, r.level_m, Quality::kGood});
    batch.push_back(Reading{"tank-1", "demand_m3h", ts, r.demand_m3h, Quality::kGood});
    now.store(ts);
    ASSERT_TRUE(engine->Submit(std::move(batch)).ok());
    if (next_check < std::size(checks_h) && s == static_cast<int>(checks_h[next_check] * 3600)) {
      ++next_check;
      engine->Drain();
      for (int i = 0; i < pumps; ++i) {
        auto view = engine->GetTwin("pump-" + std::to_string(i + 1));
        ASSERT_TRUE(view.ok());
        const auto& latest = view->latest;
        ASSERT_TRUE(latest.count("rul_h") && latest.count("rul_p5_h") && latest.count("rul_p95_h"))
            << "pump " << i + 1 << " has no RUL after " << s / 3600.0 << " h";
        const SignalValue& rul = latest.at("rul_h");
        got[static_cast<size_t>(i)].push_back(Check{
            s / 3600.0, static_cast<double>(rul.ts_ns - kT0) / 3.6e12, rul.value, latest.at("rul_p5_h").value,
            latest.at("rul_p95_h").value, 0, sim.state().pumps[static_cast<size_t>(i)].impeller_wear});
      }
    }
  }
  engine->Drain();
  // The RUL is history too.
  auto stored =
      engine->QueryTelemetry("pump-1", "rul_h", kT0, kT0 + static_cast<TimeNs>(hours * 3.6e12) + 1, 100000);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_GT(stored->size(), 50u);

  std::vector<double> daily_rate;
  const std::vector<double> fail_s = TrueFailureTimes(sim, u, &daily_rate);
  int inside = 0, total = 0;
  double worst_rel = 0;
  for (int i = 0; i < pumps; ++i) {
    for (Check& c : got[static_cast<size_t>(i)]) {
      c.truth_h = fail_s[static_cast<size_t>(i)] / 3600 - c.at_h;
      std::printf("pump-%d at %4.1f h: rul %7.2f h [%7.2f, %7.2f], truth %7.2f h, error %+5.1f %%\n", i + 1,
                  c.t_h, c.rul_h, c.p5_h, c.p95_h, c.truth_h, 100 * (c.rul_h - c.truth_h) / c.truth_h);
      ++total;
      inside += c.p5_h <= c.truth_h && c.truth_h <= c.p95_h;
      if (c.t_h >= 30) worst_rel = std::max(worst_rel, std::abs(c.rul_h - c.truth_h) / c.truth_h);
    }
  }
  std::printf("band holds the truth at %d of %d checks; worst error from 30 h on: %.1f %%\n", inside, total,
              100 * worst_rel);
  // What a straight line through the past cannot know (docs/analytics.md): the plant's true mean
  // impeller wear rate over the first 6 h (the night: low demand, low speed) and over the first
  // 24 h (one demand cycle), and per day after the run (the station speeds up as its pumps wear).
  for (int i = 0; i < pumps; ++i) {
    const auto& c = got[static_cast<size_t>(i)];
    const double w0 = initial_impeller[i];
    std::printf("pump-%d true impeller wear rate: first 6 h %.5f /h, first 24 h %.5f /h\n", i + 1,
                (c[0].true_wear - w0) / c[0].t_h, (c[3].true_wear - w0) / c[3].t_h);
  }
  std::printf("pump-1 true impeller wear rate per day from 36 h:");
  for (double r : daily_rate) std::printf(" %.5f", r);
  std::printf(" /h\n");
  EXPECT_LE(worst_rel, 0.20);
  for (int i = 0; i < pumps; ++i) {
    const auto& c = got[static_cast<size_t>(i)];
    EXPECT_LT(c.back().rul_h, c.front().rul_h) << "pump " << i + 1;
    for (const Check& k : c)
      EXPECT_TRUE(k.p5_h <= k.rul_h && k.rul_h <= k.p95_h) << "pump " << i + 1 << " at " << k.t_h;
  }
}

}  // namespace
}  // namespace doppel::engine
