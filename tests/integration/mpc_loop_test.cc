// The live MPC loop end to end (docs/control.md "The live loop"): mosquitto + `doppel serve`
// with a `control.mpc` section + `doppel plant` faster than real time, with raw MQTT clients as
// witnesses of the plant's hidden truth (plant/tank-1/truth) and of what reaches the plant
// (plant/+/commands).
//   - auto mode: through a demand surge the true tank level stays inside the band, and the
//     MPC's commands are acked by the plant;
//   - approve mode: no MPC command reaches the plant until an operator approves one (checked
//     causally with an operator marker command, as in command_bus_test.cc).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <mutex>
#include <set>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

struct MpcStationOptions {
  std::string mode = "auto";  // commands.modes for pump-*
  double period_s = 60;       // control period, source seconds
  double time_scale = 100;    // plant: simulated seconds per wall second
  double rate_hz = 5;         // plant: messages per device per wall second
  std::string surge;          // plant --demand-surge
  // Time of day (UTC, s) of the plant's simulated t = 0: where on the daily demand profile the run
  // falls (the next such instant from now, so source time never runs behind the wall clock).
  // Fixed, so every run sees the same demand: started at the wall clock, a run late in the UTC
  // evening met so little demand that the MPC's first speeds held for the whole run (3 commands).
  // 18:00: the evening peak, where the surge matters. < 0: now, whatever time of day that is.
  double start_time_of_day_s = 18 * 3600;
};

// The next wall-clock instant (ns since the epoch) at `tod_s` seconds past midnight UTC.
int64_t NextTimeOfDayNs(double tod_s) {
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const int64_t midnight = now_s - now_s % 86400;
  int64_t t = midnight + static_cast<int64_t>(tod_s);
  if (t < now_s) t += 86400;
  return t * 1'000'000'000LL;
}

StationOptions MpcOptions(const MpcStationOptions& o) {
  StationOptions s;
  s.seed = 11;
  s.rate_hz = o.rate_hz;
  s.extra_config = "commands:\n  timeout_ms: 10000\n  modes: { \"pump-*\": " + o.mode +
                   " }\n"
                   "control:\n  mpc:\n    enabled: true\n    period_s: " +
                   std::to_string(o.period_s) +
                   "\n    horizon_s: 21600\n    pumps: [pump-1, pump-2, pump-3]\n    tank: tank-1\n"
                   "    level_min_m: 1.0\n    level_max_m: 4.5\n    max_speed_rpm: 1800\n";
  s.plant_args = {"--time-scale", std::to_string(o.time_scale), "--truth"};
  if (!o.surge.empty()) s.plant_args.insert(s.plant_args.end(), {"--demand-surge", o.surge});
  if (o.start_time_of_day_s >= 0) {
    s.plant_args.insert(s.plant_args.end(),
                        {"--start-time", std::to_string(NextTimeOfDayNs(o.start_time_of_day_s))});
  }
  return s;
}

// A station with the live MPC loop, and raw subscribers: the plant's truth of the tank, and
// every command that reaches the plant.
class MpcStation : public Station {
 public:
  explicit MpcStation(const MpcStationOptions& o) : Station(MpcOptions(o)), witness_(*this) {}

  // Starts the plant and waits until it has provisioned the twins.
  bool StartPlant() {
    return Station::StartPlant() &&
           WaitFor([&] { return Twin("pump-3").is_object() && Twin("tank-1").is_object(); }, seconds(30));
  }
  bool StartWitness() {
    return witness_.CountCommands() &&
           witness_.Subscribe(topic_prefix() + "/tank-1/truth", 0,
                              [this](std::string_view payload) {
                                json j = json::parse(payload, nullptr, false);
                                if (!j.is_object() || !j.contains("level_m")) return;
                                std::lock_guard lk(mu_);
                                truth_.push_back({j.value("level_m", 0.0), j.value("demand_m3h", 0.0)});
                              }) &&
           witness_.Start();
  }
  int Seen(const std::string& id) const { return witness_.Seen(id); }
  struct TankTruth {
    double level_m, demand_m3h;
  };
  std::vector<TankTruth> Truth() {
    std::lock_guard lk(mu_);
    return truth_;
  }
  // The twin's commands from the MPC (newest first).
  std::vector<json> MpcCommands(const std::string& twin) const {
    std::vector<json> out;
    for (const json& c : Get("/api/v1/twins/" + twin + "/commands").Items("commands")) {
      if (c.value("source", "") == "mpc") out.push_back(c);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<TankTruth> truth_;
  Witness witness_;  // last: stopped before the truth it feeds is destroyed
};

TEST(IntegrationMpcLoop, InAutoModeTheTrueLevelStaysInTheBandThroughADemandSurge) {
  // 100x real time: the surge (demand x 1.4 for 30 simulated minutes, from minute 10) lasts 18 s.
  // x 1.4 keeps even the morning peak (390 m3/h x 1.4) within the three pumps' capacity at
  // max_speed_rpm (~3 x 220 m3/h); the run starts at 18:00 UTC of simulated time (see
  // MpcStationOptions).
  MpcStationOptions o;
  o.surge = "600:1800:1.4";
  MpcStation st(o);
  ASSERT_TRUE(st.StartServe());
  ASSERT_TRUE(st.StartWitness());
  ASSERT_TRUE(st.StartPlant());
  // 50 simulated minutes: before, through and after the surge.
  ASSERT_TRUE(WaitFor([&] { return st.Truth().size() >= 150; }, seconds(50)))
      << st.Truth().size() << " truth samples";
  const std::vector<MpcStation::TankTruth> truth = st.Truth();
  // The surge starts between two samples 20 simulated seconds apart: the largest jump of the
  // true demand between neighbours is the surge factor (the daily profile moves < 1 % in 20 s).
  double lo = 1e9, hi = -1e9, jump = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    lo = std::min(lo, truth[i].level_m);
    hi = std::max(hi, truth[i].level_m);
    if (i > 0 && truth[i - 1].demand_m3h > 0)
      jump = std::max(jump, truth[i].demand_m3h / truth[i - 1].demand_m3h);
  }
  std::cerr << "true level " << lo << ".." << hi << " m over " << truth.size() << " samples; demand jump x"
            << jump << "\n";
  EXPECT_NEAR(jump, 1.4, 0.03) << "the surge did not happen";
  EXPECT_GE(lo, 1.0) << "the true level left the band (low)";
  EXPECT_LE(hi, 4.5) << "the true level left the band (high)";

  // The MPC's commands went through the bus and the plant acked them.
  int acked = 0;
  for (const char* p : {"pump-1", "pump-2", "pump-3"}) {
    for (const json& c : st.MpcCommands(p)) {
      if (c.value("status", "") == "acked") {
        ++acked;
        EXPECT_EQ(AuditStatuses(c), "proposed,approved,sent,acked") << c.dump();
        EXPECT_EQ(c.value("issued_by", ""), "mpc");
      }
    }
  }
  EXPECT_GE(acked, 6) << "MPC commands acked by the plant";

  // The dashboard's plan: per pump trajectories, planned with the EKF's wear estimates.
  HttpResult plan = st.Get("/api/v1/control/plan", kViewer);
  ASSERT_EQ(plan.status, 200) << plan.Describe();
  json p = plan.Json();
  ASSERT_EQ(p["pumps"].size(), 3u) << p.dump().substr(0, 400);
  EXPECT_EQ(p["pumps"][0]["speed_rpm"].size(), p["step_s"].size());
  EXPECT_EQ(p["planned_level_m"].size(), p["step_s"].size());
  for (const json& pump : p["pumps"]) EXPECT_EQ(pump.value("wear_source", ""), "estimate") << pump.dump();
  std::cerr << "mpc: " << p.value("steps", 0) << " steps, " << acked << " commands acked, last solve "
            << p.value("solver_status", "?") << " in " << p.value("iterations", 0) << " iterations, "
            << 1e3 * p.value("solve_wall_s", 0.0) << " ms; wear used";
  for (const json& pump : p["pumps"]) std::cerr << " " << pump.value("impeller_wear", -1.0);
  std::cerr << "\n";
  EXPECT_GE(p.value("steps", 0), 20) << "control steps in 50 simulated minutes (period 60 s)";
  EXPECT_EQ(p.value("fallbacks", -1), 0);
}

TEST(IntegrationMpcLoop, InApproveModeNothingFromTheMpcReachesThePlantUntilApproved) {
  MpcStationOptions o;
  o.mode = "approve";
  o.time_scale = 20;
  o.period_s = 600;  // a new proposal every 30 s of wall time: time to approve one
  MpcStation st(o);
  ASSERT_TRUE(st.StartServe());
  ASSERT_TRUE(st.StartWitness());
  ASSERT_TRUE(st.StartPlant());

  std::vector<json> proposals;
  ASSERT_TRUE(WaitFor(
      [&] {
        proposals = st.MpcCommands("pump-1");
        return !proposals.empty();
      },
      seconds(30)))
      << "no MPC proposal for pump-1";
  for (const json& c : proposals) EXPECT_EQ(c.value("status", ""), "proposed") << c.dump();

  // An operator's marker published after the proposal reaches the plant and is acked; the
  // proposal did not.
  HttpResult m = st.Send("POST", "/api/v1/twins/pump-2/commands",
                         {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1400}}}});
  ASSERT_EQ(m.status, 202) << m.Describe();
  const std::string marker = m.Json()["id"];
  ASSERT_EQ(st.WaitForCommandStatus("pump-2", marker, "acked").value("status", ""), "acked");
  EXPECT_EQ(st.Seen(marker), 1);
  for (const char* p : {"pump-1", "pump-2", "pump-3"}) {
    for (const json& c : st.MpcCommands(p)) {
      EXPECT_EQ(st.Seen(c["id"]), 0) << "an MPC proposal reached the plant before approval: " << c.dump();
      EXPECT_NE(c.value("status", ""), "sent");
      EXPECT_NE(c.value("status", ""), "acked");
    }
  }

  // Approving the live proposal sends it; the plant acks it once. (A newer proposal may
  // supersede it between listing and approving: then approve the newer one.)
  json approved;
  for (int attempt = 0; attempt < 3 && approved.is_null(); ++attempt) {
    std::vector<json> live = st.MpcCommands("pump-1");
    auto it = std::find_if(live.begin(), live.end(),
                           [](const json& c) { return c.value("status", "") == "proposed"; });
    ASSERT_NE(it, live.end()) << "no live MPC proposal for pump-1";
    HttpResult a =
        st.Send("POST", "/api/v1/twins/pump-1/commands/" + (*it)["id"].get<std::string>() + "/approve",
                {{"reason", "plan checked"}});
    if (a.status == 200) approved = a.Json();
  }
  ASSERT_TRUE(approved.is_object()) << "could not approve an MPC proposal";
  const std::string pid = approved["id"];
  json fin = st.WaitForCommandStatus("pump-1", pid, "acked");
  ASSERT_EQ(fin.value("status", ""), "acked") << fin.dump();
  EXPECT_EQ(AuditStatuses(fin), "proposed,approved,sent,acked") << fin.dump();
  EXPECT_EQ(fin.value("source", ""), "mpc");
  EXPECT_EQ(st.Seen(pid), 1);
}

}  // namespace
}  // namespace doppel::integration
