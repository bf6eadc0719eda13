// The command bus end to end (docs/commands.md): mosquitto + `doppel serve` + `doppel plant`,
// with a raw MQTT client on the command topic as the witness of what reaches the plant.
//   - approve mode: nothing reaches the plant until an operator approves;
//   - an out-of-envelope command never reaches the plant;
//   - a plant that stops acking: the command times out (and a late ack still closes it);
//   - kill -9 of serve between send and ack, restart: the plant applies the command once.
// "Never reached" is checked causally, not by waiting: a marker command published after the
// one under test must arrive, and the one under test must not have arrived before it.
#include <gtest/gtest.h>
#include <signal.h>

#include <regex>
#include <sstream>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// A station with a commands section (timeout, an envelope limit) on private topics, and a
// witness counting the commands that reach the plant.
StationOptions BusOptions(int timeout_ms) {
  StationOptions o;
  o.private_topics = true;
  o.extra_config = "commands:\n  timeout_ms: " + std::to_string(timeout_ms) +
                   "\n  envelope:\n    limits:\n"
                   "      - { twins: \"pump-*\", command: setSpeed, field: speed_rpm, min: 0, max: 2500,"
                   " on_violation: refuse }\n";
  return o;
}

class BusStation : public Station {
 public:
  explicit BusStation(int timeout_ms) : Station(BusOptions(timeout_ms)), witness_(*this) {}

  bool StartWitness() { return witness_.CountCommands() && witness_.Start(); }
  // Starts the plant and waits until it has provisioned the twins.
  bool StartPlant() {
    return Station::StartPlant() &&
           WaitFor([&] { return Twin("pump-1").is_object() && Twin("tank-1").is_object(); }, seconds(30));
  }
  int Seen(const std::string& id) const { return witness_.Seen(id); }
  // Publishes a device ack as the plant would, from the witness's connection.
  bool PublishAck(const std::string& twin, const json& ack) {
    return witness_.Publish(topic_prefix() + "/" + twin + "/commands/ack", ack.dump());
  }
  // Stops the plant (SIGTERM) and returns its "N commands accepted" count (-1 when not logged).
  int StopPlantAndCountAccepted() {
    SignalPlant(SIGCONT);
    StopPlant();
    std::istringstream in(PlantLog());
    std::string line;
    int accepted = -1;
    std::regex re(R"((\d+) commands accepted)");
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, re)) accepted = std::stoi(m[1]);
    }
    return accepted;
  }
  // Submits a command; the answer's JSON (the record, or the 409 body) and its HTTP status.
  std::pair<int, json> Submit(const std::string& twin, double rpm, const std::string& source = "operator") {
    HttpResult r = Send("POST", "/api/v1/twins/" + twin + "/commands",
                        {{"name", "setSpeed"}, {"request", {{"speed_rpm", rpm}}}, {"source", source}});
    return {r.status, r.status == 202 || r.status == 409 ? r.Json() : json{{"raw", r.Describe()}}};
  }

 private:
  Witness witness_;
};

TEST(IntegrationCommandBus, InApproveModeNothingReachesThePlantUntilApproved) {
  BusStation st(10000);
  ASSERT_TRUE(st.StartServe());
  ASSERT_TRUE(st.StartWitness());
  ASSERT_TRUE(st.StartPlant());
  HttpResult m = st.Send("PUT", "/api/v1/twins/pump-1/control-mode", {{"mode", "approve"}});
  ASSERT_EQ(m.status, 200) << m.Describe();
  EXPECT_EQ(st.Get("/api/v1/twins/pump-1/control-mode", kViewer).Json().value("mode", ""), "approve");

  auto [code, proposal] = st.Submit("pump-1", 1300, "mpc");
  ASSERT_EQ(code, 202) << proposal.dump();
  ASSERT_EQ(proposal.value("status", ""), "proposed") << proposal.dump();
  const std::string pid = proposal["id"];
  // A marker published after the proposal reaches the plant and is acked; the proposal did not.
  auto [mcode, marker] = st.Submit("pump-2", 1400);
  ASSERT_EQ(mcode, 202) << marker.dump();
  ASSERT_EQ(st.WaitForCommandStatus("pump-2", marker["id"], "acked").value("status", ""), "acked");
  EXPECT_EQ(st.Seen(marker["id"]), 1);
  EXPECT_EQ(st.Seen(pid), 0) << "a proposal reached the plant before approval";
  EXPECT_EQ(st.Command("pump-1", pid).value("status", ""), "proposed");

  HttpResult a =
      st.Send("POST", "/api/v1/twins/pump-1/commands/" + pid + "/approve", {{"reason", "checked"}});
  ASSERT_EQ(a.status, 200) << a.Describe();
  json fin = st.WaitForCommandStatus("pump-1", pid, "acked");
  ASSERT_EQ(fin.value("status", ""), "acked") << fin.dump();
  EXPECT_EQ(AuditStatuses(fin), "proposed,approved,sent,acked") << fin.dump();
  EXPECT_EQ(fin["audit"][1].value("who", ""), "api:operator");
  EXPECT_EQ(fin["audit"][1].value("why", ""), "checked");
  EXPECT_EQ(st.Seen(pid), 1);
}

TEST(IntegrationCommandBus, OutOfEnvelopeCommandNeverReachesThePlant) {
  BusStation st(10000);
  ASSERT_TRUE(st.StartServe());
  ASSERT_TRUE(st.StartWitness());
  ASSERT_TRUE(st.StartPlant());
  auto [code, refused] = st.Submit("pump-1", 2800);  // max 2500, on_violation: refuse
  ASSERT_EQ(code, 409) << refused.dump();
  EXPECT_EQ(refused["error"].value("code", ""), "refused") << refused.dump();
  EXPECT_NE(refused["error"].value("message", "").find("above max 2500"), std::string::npos)
      << refused.dump();
  const std::string rid = refused["command"]["id"];
  EXPECT_EQ(st.Command("pump-1", rid).value("status", ""), "refused");
  EXPECT_EQ(AuditStatuses(st.Command("pump-1", rid)), "proposed,refused");

  auto [mcode, marker] = st.Submit("pump-1", 1500);
  ASSERT_EQ(mcode, 202) << marker.dump();
  ASSERT_EQ(st.WaitForCommandStatus("pump-1", marker["id"], "acked").value("status", ""), "acked");
  EXPECT_EQ(st.Seen(rid), 0) << "the refused command reached the plant";
  EXPECT_EQ(st.Metric("doppel_commands_refused_total"), 1);
  // Only the marker was applied.
  EXPECT_EQ(st.StopPlantAndCountAccepted(), 1);
}

TEST(IntegrationCommandBus, SilentPlantTimesOutAndALateAckStillClosesTheCommand) {
  BusStation st(2000);
  ASSERT_TRUE(st.StartServe());
  ASSERT_TRUE(st.StartWitness());
  ASSERT_TRUE(st.StartPlant());  // provisions the twins
  st.StopPlant();                // and is gone (reaped): nothing acks on this station's topics
  auto [code, c] = st.Submit("pump-1", 1200);
  ASSERT_EQ(code, 202) << c.dump();
  const std::string cid = c["id"];
  json fin = st.WaitForCommandStatus("pump-1", cid, "timed_out");
  ASSERT_EQ(fin.value("status", ""), "timed_out") << fin.dump();
  EXPECT_EQ(AuditStatuses(fin), "proposed,approved,sent,timed_out") << fin.dump();
  EXPECT_EQ(fin["audit"][3].value("who", ""), "timeout");
  EXPECT_EQ(st.Metric("doppel_commands_timed_out_total"), 1);
  int64_t approved_at = fin["audit"][1]["at_ns"], timed_out_at = fin["audit"][3]["at_ns"];
  EXPECT_GE(timed_out_at - approved_at, 2000LL * 1'000'000) << fin.dump();
  EXPECT_EQ(st.Seen(cid), 1) << "a timed-out command is not re-sent";

  // The device's ack arrives after the timeout: the record says it did apply the command.
  ASSERT_TRUE(st.PublishAck("pump-1", json{{"id", cid}, {"status", "accepted"}}));
  fin = st.WaitForCommandStatus("pump-1", cid, "acked");
  ASSERT_EQ(fin.value("status", ""), "acked") << fin.dump();
  EXPECT_NE(fin.value("reason", "").find("late"), std::string::npos) << fin.dump();
}

TEST(IntegrationCommandBus, KillNineBetweenSendAndAckAndRestartApplyTheCommandOnce) {
  BusStation st(30000);
  ASSERT_TRUE(st.StartServe());
  ASSERT_TRUE(st.StartWitness());
  ASSERT_TRUE(st.StartPlant());
  st.SignalPlant(SIGSTOP);  // hold the ack back
  auto [code, c] = st.Submit("pump-1", 1250);
  ASSERT_EQ(code, 202) << c.dump();
  const std::string cid = c["id"];
  ASSERT_TRUE(WaitFor([&] { return st.Seen(cid) == 1; }, seconds(10)))
      << "the command never reached the broker";
  st.KillServe(SIGKILL);  // kill -9 between send and ack
  ASSERT_TRUE(st.StartServe());
  // The restarted engine re-sends the unacked command once, with the same id.
  ASSERT_TRUE(WaitFor([&] { return st.Seen(cid) == 2; }, seconds(10))) << st.Seen(cid);
  st.SignalPlant(SIGCONT);  // the plant now sees the id twice
  json fin = st.WaitForCommandStatus("pump-1", cid, "acked");
  ASSERT_EQ(fin.value("status", ""), "acked") << fin.dump();
  EXPECT_EQ(AuditStatuses(fin), "proposed,approved,sent,sent,acked") << fin.dump();
  EXPECT_NE(fin["audit"][3].value("why", "").find("restart"), std::string::npos) << fin.dump();
  EXPECT_EQ(st.Metric("doppel_commands_resent_after_restart_total"), 1);
  EXPECT_EQ(st.Seen(cid), 2);
  // Applied once at the plant: one accepted command, the redelivery only re-acked.
  EXPECT_EQ(st.StopPlantAndCountAccepted(), 1);
}

}  // namespace
}  // namespace doppel::integration
