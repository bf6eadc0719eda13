// Scenario 4: kill -9 of serve and a restart keep the stored history and the command records,
// and resume the persistent MQTT session: what the plant published during the outage arrives.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

TEST(IntegrationRestart, KillNineKeepsHistoryCommandsAndResumesTheMqttSession) {
  StationOptions o;
  o.pumps = 2;
  o.rate_hz = 5;
  Station st(o);
  ASSERT_TRUE(st.StartServe()) << st.LogTails();
  ASSERT_TRUE(st.StartPlant()) << st.LogTails();
  ASSERT_TRUE(st.WaitForAllTelemetry()) << st.LogTails();
  ASSERT_TRUE(WaitFor([&] { return st.History("pump-1", "flow_m3h", 0, WallNowNs()).size() >= 10; },
                      std::chrono::seconds(20)));

  // A command with a final state before the crash.
  HttpResult r = st.Post("/api/v1/twins/pump-2/commands",
                         {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1200}}}}, kOperator);
  ASSERT_EQ(r.status, 202) << r.Describe();
  std::string cid = r.Json()["id"];
  json before_cmd = st.WaitForCommandFinal("pump-2", cid);
  ASSERT_EQ(before_cmd.value("status", ""), "acked") << before_cmd.dump();
  r = st.Post("/api/v1/twins/pump-2/commands", {{"name", "setSpeed"}, {"request", {{"speed_rpm", 99999}}}},
              kOperator);
  ASSERT_EQ(r.status, 202) << r.Describe();
  std::string cid_rej = r.Json()["id"];
  json before_rej = st.WaitForCommandFinal("pump-2", cid_rej);
  ASSERT_EQ(before_rej.value("status", ""), "rejected") << before_rej.dump();

  // Let the storage's fsync interval (200 ms) pass, then crash.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t t_before = WallNowNs();
  Points before = st.History("pump-1", "flow_m3h", 0, t_before);
  ASSERT_FALSE(before.empty());
  const int64_t last_before_kill = before.back().first;
  st.KillServe(SIGKILL);
  const int64_t kill_at = WallNowNs();

  // The plant keeps publishing while serve is down (QoS 1 into serve's persistent session).
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_TRUE(st.StartServe()) << st.LogTails();
  const int64_t restart_at = WallNowNs();

  // History before the crash is all still there.
  Points after_same_range = st.History("pump-1", "flow_m3h", 0, t_before);
  EXPECT_GE(after_same_range.size(), before.size()) << "history shrank across kill -9";

  // Readings from the outage arrive: samples with source time inside (kill, restart) and
  // then live ones after the restart.
  Points across;
  ASSERT_TRUE(WaitFor(
      [&] {
        across = st.History("pump-1", "flow_m3h", 0, WallNowNs() + 10'000'000'000LL);
        return !across.empty() && across.back().first > restart_at + 1'000'000'000LL;
      },
      std::chrono::seconds(30)))
      << "no live telemetry after the restart\n"
      << st.LogTails();
  size_t during = 0;
  for (auto& p : across) during += p.first > kill_at + 200'000'000 && p.first < restart_at;
  EXPECT_GT(during, 0u) << "nothing published during the outage arrived";

  // No gap longer than a few sample periods around the outage (5 Hz: 200 ms; allow 1.5 s).
  int64_t max_gap = 0, gap_at = 0;
  for (size_t i = 1; i < across.size(); ++i) {
    if (across[i].first < last_before_kill - 2'000'000'000LL) continue;
    int64_t g = across[i].first - across[i - 1].first;
    if (g > max_gap) max_gap = g, gap_at = across[i - 1].first;
  }
  EXPECT_LE(max_gap, 1'500'000'000LL)
      << "a gap of " << max_gap / 1e6 << " ms in the history starting at ts " << gap_at << " (kill at "
      << kill_at << ", restart at " << restart_at << "): readings of the outage were lost";

  // Command records keep their final state and history.
  json after_cmd = st.Get("/api/v1/twins/pump-2/commands/" + cid).Json();
  EXPECT_EQ(after_cmd.value("status", ""), "acked") << after_cmd.dump();
  EXPECT_EQ(after_cmd["history"], before_cmd["history"]) << after_cmd.dump();
  json after_rej = st.Get("/api/v1/twins/pump-2/commands/" + cid_rej).Json();
  EXPECT_EQ(after_rej.value("status", ""), "rejected") << after_rej.dump();
  EXPECT_EQ(after_rej.value("reason", ""), before_rej.value("reason", "")) << after_rej.dump();

  // Twins are still known, and commands still work after the restart.
  r = st.Post("/api/v1/twins/pump-1/commands", {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1100}}}},
              kOperator);
  ASSERT_EQ(r.status, 202) << r.Describe();
  EXPECT_NE(r.Json().value("id", ""), cid) << "command id reused after restart";
  json fin = st.WaitForCommandFinal("pump-1", r.Json()["id"]);
  EXPECT_EQ(fin.value("status", ""), "acked") << fin.dump();
}

// A command still in flight (sent, no ack yet) when serve dies does not stay "sent" forever:
// after the restart it ends in a final state.
TEST(IntegrationRestart, CommandInFlightAtCrashReachesAFinalStateAfterRestart) {
  StationOptions o;
  // No plant: nobody acks, the command stays "sent" until its timeout.
  o.command_timeout_ms = 2000;
  Station st(o);
  ASSERT_TRUE(st.StartServe()) << st.LogTails();
  HttpResult r = st.Post("/api/v1/twins", {{"id", "pump-1"}, {"model", "dtmi:doppel:demo:Pump;1"}});
  ASSERT_EQ(r.status, 201) << r.Describe();
  r = st.Post("/api/v1/twins/pump-1/commands", {{"name", "setSpeed"}, {"request", {{"speed_rpm", 900}}}},
              kOperator);
  ASSERT_EQ(r.status, 202) << r.Describe();
  std::string cid = r.Json()["id"];
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  st.KillServe(SIGKILL);
  ASSERT_TRUE(st.StartServe()) << st.LogTails();
  json fin = st.WaitForCommandFinal("pump-1", cid, std::chrono::seconds(20));
  EXPECT_EQ(fin.value("status", ""), "timed_out") << fin.dump();
}

}  // namespace
}  // namespace doppel::integration
