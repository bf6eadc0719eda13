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

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>

#include "doppel/platform/pubsub.h"
#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;
using std::chrono::seconds;

// mosquitto + serve (with a commands section) + plant, in one TempDir.
class BusStation {
 public:
  explicit BusStation(int timeout_ms) : http_port_(testing::FreePort()) {
    std::ofstream f(dir_.file("doppel.yaml"));
    f << "listen: 127.0.0.1:" << http_port_ << "\n"
      << "data_dir: " << dir_.file("data") << "\n"
      << "models: " << testing::SourceDir() << "/examples/models\n"
      << "mqtt:\n"
      << "  broker: " << mosquitto_.url() << "\n"
      << "  client_id: doppel-bus-" << http_port_ << "\n"
      << "  telemetry_topic: " << prefix() << "/{twin}/telemetry\n"
      << "  command_topic: " << prefix() << "/{twin}/commands\n"
      << "  ack_topic: " << prefix() << "/{twin}/commands/ack\n"
      << "  provision: { \"pump-*\": \"dtmi:doppel:demo:Pump;1\", \"tank-*\": \"dtmi:doppel:demo:Tank;1\" }\n"
      << "tokens:\n"
      << "  - { token: admin-secret, role: admin }\n"
      << "  - { token: operator-secret, role: operator }\n"
      << "  - { token: viewer-secret, role: viewer }\n"
      << "commands:\n"
      << "  timeout_ms: " << timeout_ms << "\n"
      << "  envelope:\n"
      << "    limits:\n"
      << "      - { twins: \"pump-*\", command: setSpeed, field: speed_rpm, min: 0, max: 2500,"
      << " on_violation: refuse }\n";
  }
  ~BusStation() {
    if (::testing::Test::HasFailure()) {
      std::cerr << "---- serve.log\n"
                << TailFile(dir_.file("serve.log")) << "---- plant.log\n"
                << TailFile(dir_.file("plant.log"));
    }
    if (plant_ && plant_->pid() > 0) ::kill(plant_->pid(), SIGCONT);
    if (witness_) witness_->Stop();
  }

  bool StartServe() {
    serve_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{testing::DoppelBinary(), "serve", "--config", dir_.file("doppel.yaml")},
        dir_.file("serve.log"));
    if (!testing::WaitForChildListening(*serve_, http_port_, 20000)) return false;
    return WaitFor([&] { return !serve_->running() || Get("/api/v1/health").status == 200; }, seconds(20),
                   std::chrono::milliseconds(50)) &&
           serve_->running();
  }
  void KillServe() { serve_->Kill(SIGKILL); }
  bool StartPlant() {
    plant_ = std::make_unique<testing::ChildProcess>(
        std::vector<std::string>{testing::DoppelBinary(), "plant", "--broker", mosquitto_.url(), "--pumps",
                                 "3", "--rate", "5", "--seed", "7", "--client-id",
                                 "doppel-bus-plant-" + std::to_string(http_port_), "--topic-prefix",
                                 prefix()},
        dir_.file("plant.log"));
    return WaitFor([&] { return Twin("pump-1").is_object() && Twin("tank-1").is_object(); }, seconds(30));
  }
  // Topics of this station only ("bus<port>/{twin}/..."): no other test's plant or serve can
  // publish or receive on them, even on a broker it reached by mistake.
  std::string prefix() const { return "bus" + std::to_string(http_port_); }
  void KillPlant() { plant_->Kill(SIGKILL); }
  // Publishes a device ack as the plant would, from the witness's connection.
  bool PublishAck(const std::string& twin, const json& ack) {
    return witness_->Publish(prefix() + "/" + twin + "/commands/ack", ack.dump(), 1).ok();
  }
  // Never kill(-1, ...): a reaped child's pid is -1, and that would signal every process of ours
  // (a SIGCONT from here once woke other tests' stopped plants).
  void SignalPlant(int sig) {
    if (plant_ && plant_->pid() > 0) ::kill(plant_->pid(), sig);
  }
  // Stops the plant (SIGTERM) and returns its "N commands accepted" count (-1 when not logged).
  int StopPlantAndCountAccepted() {
    SignalPlant(SIGCONT);
    plant_->Kill(SIGTERM);
    std::ifstream in(dir_.file("plant.log"));
    std::string line;
    int accepted = -1;
    std::regex re(R"((\d+) commands accepted)");
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, re)) accepted = std::stoi(m[1]);
    }
    return accepted;
  }

  // Subscribes a raw client to every command topic; Seen(id) counts deliveries of an id.
  bool StartWitness() {
    platform::MqttOptions mo;
    if (!platform::ParseBrokerUrl(mosquitto_.url(), &mo).ok()) return false;
    mo.client_id = "witness-" + std::to_string(http_port_);
    mo.clean_session = true;
    witness_ = platform::NewMqttBus(mo);
    Status s =
        witness_->Subscribe(prefix() + "/+/commands", 1, [this](std::string_view, std::string_view payload) {
          json j = json::parse(payload, nullptr, false);
          if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return;
          std::lock_guard lk(mu_);
          seen_[j["id"].get<std::string>()] += 1;
          if (j.contains("request")) requests_[j["id"].get<std::string>()] = j["request"];
        });
    return s.ok() && witness_->Start().ok();
  }
  int Seen(const std::string& id) {
    std::lock_guard lk(mu_);
    auto it = seen_.find(id);
    return it == seen_.end() ? 0 : it->second;
  }

  HttpResult Get(const std::string& target, const std::string& token = kAdmin) const {
    return Http(http_port_, "GET", target, token);
  }
  HttpResult Send(const std::string& method, const std::string& target, const json& body,
                  const std::string& token = kOperator) const {
    return Http(http_port_, method, target, token, body.dump());
  }
  json Twin(const std::string& id) const {
    HttpResult r = Get("/api/v1/twins/" + id);
    return r.status == 200 ? r.Json() : json();
  }
  json Command(const std::string& twin, const std::string& cid) const {
    HttpResult r = Get("/api/v1/twins/" + twin + "/commands/" + cid);
    return r.status == 200 ? r.Json() : json();
  }
  // Submits a command; the answer's JSON (the record, or the 409 body) and its HTTP status.
  std::pair<int, json> Submit(const std::string& twin, double rpm, const std::string& source = "operator") {
    HttpResult r = Send("POST", "/api/v1/twins/" + twin + "/commands",
                        {{"name", "setSpeed"}, {"request", {{"speed_rpm", rpm}}}, {"source", source}});
    return {r.status, r.status == 202 || r.status == 409 ? r.Json() : json{{"raw", r.Describe()}}};
  }
  json WaitForStatus(const std::string& twin, const std::string& cid, const std::string& status,
                     seconds timeout = seconds(30)) const {
    json last;
    WaitFor(
        [&] {
          last = Command(twin, cid);
          return last.is_object() && last.value("status", "") == status;
        },
        timeout);
    return last;
  }
  double Metric(const std::string& name) const {
    HttpResult r = Get("/metrics");
    size_t p = r.body.find("\n" + name + " ");
    return p == std::string::npos ? -1 : std::stod(r.body.substr(p + name.size() + 2));
  }

 private:
  testing::TempDir dir_;
  testing::Mosquitto mosquitto_;
  int http_port_;
  std::unique_ptr<testing::ChildProcess> serve_, plant_;
  std::unique_ptr<platform::MessageBus> witness_;
  std::mutex mu_;
  std::map<std::string, int> seen_;
  std::map<std::string, json> requests_;
};

std::string AuditStatuses(const json& cmd) {
  std::string s;
  for (const auto& e : cmd.value("audit", json::array()))
    s += (s.empty() ? "" : ",") + e.value("status", "?");
  return s;
}

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
  ASSERT_EQ(st.WaitForStatus("pump-2", marker["id"], "acked").value("status", ""), "acked");
  EXPECT_EQ(st.Seen(marker["id"]), 1);
  EXPECT_EQ(st.Seen(pid), 0) << "a proposal reached the plant before approval";
  EXPECT_EQ(st.Command("pump-1", pid).value("status", ""), "proposed");

  HttpResult a =
      st.Send("POST", "/api/v1/twins/pump-1/commands/" + pid + "/approve", {{"reason", "checked"}});
  ASSERT_EQ(a.status, 200) << a.Describe();
  json fin = st.WaitForStatus("pump-1", pid, "acked");
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
  ASSERT_EQ(st.WaitForStatus("pump-1", marker["id"], "acked").value("status", ""), "acked");
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
  st.KillPlant();                // and is gone (reaped): nothing acks on this station's topics
  auto [code, c] = st.Submit("pump-1", 1200);
  ASSERT_EQ(code, 202) << c.dump();
  const std::string cid = c["id"];
  json fin = st.WaitForStatus("pump-1", cid, "timed_out");
  ASSERT_EQ(fin.value("status", ""), "timed_out") << fin.dump();
  EXPECT_EQ(AuditStatuses(fin), "proposed,approved,sent,timed_out") << fin.dump();
  EXPECT_EQ(fin["audit"][3].value("who", ""), "timeout");
  EXPECT_EQ(st.Metric("doppel_commands_timed_out_total"), 1);
  int64_t approved_at = fin["audit"][1]["at_ns"], timed_out_at = fin["audit"][3]["at_ns"];
  EXPECT_GE(timed_out_at - approved_at, 2000LL * 1'000'000) << fin.dump();
  EXPECT_EQ(st.Seen(cid), 1) << "a timed-out command is not re-sent";

  // The device's ack arrives after the timeout: the record says it did apply the command.
  ASSERT_TRUE(st.PublishAck("pump-1", json{{"id", cid}, {"status", "accepted"}}));
  fin = st.WaitForStatus("pump-1", cid, "acked");
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
  st.KillServe();  // kill -9 between send and ack
  ASSERT_TRUE(st.StartServe());
  // The restarted engine re-sends the unacked command once, with the same id.
  ASSERT_TRUE(WaitFor([&] { return st.Seen(cid) == 2; }, seconds(10))) << st.Seen(cid);
  st.SignalPlant(SIGCONT);  // the plant now sees the id twice
  json fin = st.WaitForStatus("pump-1", cid, "acked");
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
