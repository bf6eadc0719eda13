// The plant runner on an in-process bus: telemetry, commands, acks, determinism.
#include "doppel/plant/plant.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "doppel/platform/pubsub.h"

namespace doppel::plant {
namespace {

using json = nlohmann::json;

constexpr TimeNs kStart = 1'732'500'000'000'000'000;  // 2024-11-25T02:00:00Z

// Records everything published on the broker (on its own bus).
class Recorder {
 public:
  explicit Recorder(platform::InProcessBroker* broker, const std::string& filter = "#")
      : bus_(broker->Connect("rec")) {
    EXPECT_TRUE(bus_->Start().ok());
    EXPECT_TRUE(bus_->Subscribe(filter, 1,
                                [this](std::string_view t, std::string_view p) {
                                  std::lock_guard<std::mutex> lk(mu_);
                                  msgs_.emplace_back(std::string(t), std::string(p));
                                })
                    .ok());
  }
  std::vector<std::pair<std::string, std::string>> Messages() const {
    std::lock_guard<std::mutex> lk(mu_);
    return msgs_;
  }
  std::vector<json> On(const std::string& topic) const {
    std::vector<json> out;
    for (const auto& [t, p] : Messages()) {
      if (t == topic) out.push_back(json::parse(p));
    }
    return out;
  }
  platform::MessageBus* bus() { return bus_.get(); }

 private:
  std::unique_ptr<platform::MessageBus> bus_;
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> msgs_;
};

PlantOptions TestOptions() {
  PlantOptions o;
  o.start_time_ns = kStart;
  o.seed = 7;
  return o;
}

struct Fixture {
  explicit Fixture(PlantOptions o = TestOptions())
      : plant_bus(broker.Connect("plant")), rec(&broker), cmd_bus(broker.Connect("cmd")) {
    EXPECT_TRUE(plant_bus->Start().ok());
    EXPECT_TRUE(cmd_bus->Start().ok());
    plant = std::make_unique<Plant>(plant_bus.get(), o);
    EXPECT_TRUE(plant->SubscribeCommands().ok());
  }
  void Send(const std::string& twin, const std::string& payload) {
    EXPECT_TRUE(cmd_bus->Publish("plant/" + twin + "/commands", payload, 1).ok());
  }
  std::vector<json> Acks(const std::string& twin) { return rec.On("plant/" + twin + "/commands/ack"); }

  platform::InProcessBroker broker;
  std::unique_ptr<platform::MessageBus> plant_bus;
  Recorder rec;
  std::unique_ptr<platform::MessageBus> cmd_bus;
  std::unique_ptr<Plant> plant;
};

TEST(Plant, OptionsValidateRejectsBadValues) {
  EXPECT_TRUE(PlantOptions().Validate().ok());
  auto bad = [](auto mutate) {
    PlantOptions o;
    mutate(o);
    return o.Validate();
  };
  EXPECT_EQ(bad([](PlantOptions& o) { o.pumps = 0; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.pumps = 65; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.rate_hz = 0; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.rate_hz = std::nan(""); }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.time_scale = -1; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.topic_prefix = "a/+"; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.topic_prefix = "a/"; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.topic_prefix = ""; }).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](PlantOptions& o) { o.qos = 2; }).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad([](PlantOptions& o) { o.pumps = 0; }).message().find("pumps"), std::string::npos);
  PlantOptions o;
  o.pumps = 0;
  EXPECT_THROW(Plant(nullptr, o), std::invalid_argument);
}

TEST(Plant, TelemetryOfEveryDeviceIsPublished) {
  PlantOptions o = TestOptions();
  o.faults = false;  // no dropouts: every signal present
  o.pumps = 4;
  Fixture f(o);
  ASSERT_TRUE(f.plant->StepFor(10).ok());
  EXPECT_EQ(f.plant->TwinIds(), (std::vector<std::string>{"pump-1", "pump-2", "pump-3", "pump-4", "tank-1"}));
  for (const std::string& twin : f.plant->TwinIds()) {
    SCOPED_TRACE(twin);
    std::vector<json> msgs = f.rec.On("plant/" + twin + "/telemetry");
    ASSERT_EQ(msgs.size(), 10u);
    for (size_t i = 0; i < msgs.size(); ++i) {
      EXPECT_EQ(msgs[i]["ts"].get<int64_t>(), kStart + static_cast<int64_t>(i + 1) * kNsPerS);
    }
    const json& last = msgs.back();
    std::vector<std::string> keys =
        twin == "tank-1" ? std::vector<std::string>{"level_m", "demand_m3h"}
                         : std::vector<std::string>{"flow_m3h", "discharge_pressure_bar", "speed_rpm",
                                                    "power_kw", "motor_temp_c",           "vibration_mm_s"};
    EXPECT_EQ(last.size(), keys.size() + 1);
    for (const auto& k : keys) {
      ASSERT_TRUE(last.contains(k)) << k;
      EXPECT_TRUE(last[k].is_number()) << k;
    }
  }
  EXPECT_TRUE(f.rec.On("plant/pump-1/truth").empty());  // truth is off by default
  PlantStats s = f.plant->stats();
  EXPECT_EQ(s.ticks, 10u);
  EXPECT_EQ(s.messages_published, 50u);
  EXPECT_DOUBLE_EQ(s.sim_time_s, 10.0);
}

TEST(Plant, StepForHonoursRateAndTimeScale) {
  PlantOptions o = TestOptions();
  o.rate_hz = 2;
  o.time_scale = 60;  // one tick = 30 simulated seconds
  Fixture f(o);
  ASSERT_TRUE(f.plant->StepFor(45).ok());  // one tick, 15 s carried over
  ASSERT_TRUE(f.plant->StepFor(15).ok());  // second tick
  std::vector<json> msgs = f.rec.On("plant/tank-1/telemetry");
  ASSERT_EQ(msgs.size(), 2u);
  EXPECT_EQ(msgs[1]["ts"].get<int64_t>(), kStart + 60 * kNsPerS);
  EXPECT_DOUBLE_EQ(f.plant->Truth().sim_time_s, 60.0);
}

TEST(Plant, SameSeedGivesIdenticalTelemetry) {
  auto run = [](uint64_t seed) {
    PlantOptions o = TestOptions();
    o.seed = seed;
    o.time_scale = 600;  // cover hours so faults and wear show up
    o.integration_step_s = 0.5;
    Fixture f(o);
    EXPECT_TRUE(f.plant->StepFor(86400).ok());
    return f.rec.Messages();
  };
  auto a = run(5), b = run(5), c = run(6);
  ASSERT_EQ(a.size(), 144u * 4);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(Plant, DroppedOutSensorsAreOmitted) {
  // Find a seed with a dropout and check the signal is absent exactly while it is active.
  for (uint64_t seed = 1; seed < 50; ++seed) {
    FaultSchedule fs = FaultSchedule::FromSeed(seed, 3);
    for (const Fault& fault : fs.faults()) {
      if (fault.kind != FaultKind::kSensorDropout) continue;
      PlantOptions o = TestOptions();
      o.seed = seed;
      o.time_scale = 60;
      o.integration_step_s = 0.5;
      Fixture f(o);
      EXPECT_TRUE(f.plant->StepFor(86400).ok());
      std::string twin = "pump-" + std::to_string(fault.pump + 1);
      int missing = 0, present = 0;
      for (const json& m : f.rec.On("plant/" + twin + "/telemetry")) {
        double t = static_cast<double>(m["ts"].get<int64_t>() - kStart) / 1e9;
        bool has = m.contains(PumpSignalName(fault.signal));
        if (fault.ActiveAt(t)) {
          EXPECT_FALSE(has) << t;
          ++missing;
        } else {
          EXPECT_TRUE(has) << t;
          ++present;
        }
      }
      EXPECT_GT(missing, 0);
      EXPECT_GT(present, 0);
      return;
    }
  }
  FAIL() << "no seed with a dropout";
}

TEST(Plant, SetSpeedCommandIsAckedAndApplied) {
  Fixture f;
  f.Send("pump-2", R"({"id": "c-1", "name": "setSpeed", "request": {"speed_rpm": 1600}})");
  std::vector<json> acks = f.Acks("pump-2");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0], json::parse(R"({"id": "c-1", "status": "accepted"})"));
  ASSERT_TRUE(f.plant->StepFor(120).ok());
  PlantTruth t = f.plant->Truth();
  EXPECT_NEAR(t.pumps[1].outputs.speed_rpm, 1600, 1.0);
  EXPECT_TRUE(t.pumps[1].remote);
  EXPECT_FALSE(t.pumps[0].remote);
  EXPECT_GT(std::abs(t.pumps[0].outputs.speed_rpm - 1600), 50);  // still under local control
  // The measured speed follows too.
  EXPECT_NEAR(f.rec.On("plant/pump-2/telemetry").back()["speed_rpm"].get<double>(), 1600, 20);
  EXPECT_EQ(f.plant->stats().commands_accepted, 1u);

  // setMode auto hands the pump back to local level control.
  f.Send("pump-2", R"({"id": "c-2", "name": "setMode", "request": {"mode": "auto"}})");
  EXPECT_EQ(f.Acks("pump-2").back()["status"], "accepted");
  ASSERT_TRUE(f.plant->StepFor(120).ok());
  EXPECT_FALSE(f.plant->Truth().pumps[1].remote);
  EXPECT_LT(f.plant->Truth().pumps[1].outputs.speed_rpm, 1500);
}

TEST(Plant, OutOfRangeSpeedIsRejectedWithAReason) {
  Fixture f;
  f.Send("pump-1", R"({"id": "c-9", "name": "setSpeed", "request": {"speed_rpm": 99999}})");
  f.Send("pump-1", R"({"id": "c-10", "name": "setSpeed", "request": {"speed_rpm": -1}})");
  std::vector<json> acks = f.Acks("pump-1");
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(
      acks[0],
      json::parse(R"({"id": "c-9", "status": "rejected", "reason": "speed_rpm 99999 outside 0..3000"})"));
  EXPECT_EQ(acks[1]["reason"], "speed_rpm -1 outside 0..3000");
  EXPECT_FALSE(f.plant->Truth().pumps[0].remote);
  EXPECT_EQ(f.plant->stats().commands_rejected, 2u);
}

TEST(Plant, RedeliveredCommandIdIsAppliedOnce) {
  Fixture f;
  const std::string c1 = R"({"id": "c-1", "name": "setSpeed", "request": {"speed_rpm": 1200}})";
  f.Send("pump-1", c1);
  f.Send("pump-1", R"({"id": "c-2", "name": "setSpeed", "request": {"speed_rpm": 1700}})");
  f.Send("pump-1", c1);  // QoS 1 redelivery of c-1: must not undo c-2
  std::vector<json> acks = f.Acks("pump-1");
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[2], acks[0]);  // acked again, identically
  ASSERT_TRUE(f.plant->StepFor(120).ok());
  EXPECT_NEAR(f.plant->Truth().pumps[0].outputs.setpoint_rpm, 1700, 1e-9);
  PlantStats s = f.plant->stats();
  EXPECT_EQ(s.commands_accepted, 2u);
  EXPECT_EQ(s.commands_duplicate, 1u);
  // The same id on another twin is a different command.
  f.Send("pump-2", c1);
  EXPECT_EQ(f.plant->stats().commands_accepted, 3u);
}

TEST(Plant, DedupWindowIsBounded) {
  PlantOptions o = TestOptions();
  o.dedup_window = 2;
  Fixture f(o);
  auto cmd = [](const std::string& id, int rpm) {
    return R"({"id": ")" + id + R"(", "name": "setSpeed", "request": {"speed_rpm": )" + std::to_string(rpm) +
           "}}";
  };
  f.Send("pump-1", cmd("a", 1000));
  f.Send("pump-1", cmd("b", 1100));
  f.Send("pump-1", cmd("c", 1200));
  f.Send("pump-1", cmd("a", 1000));  // "a" fell out of the window: applied again
  EXPECT_EQ(f.plant->stats().commands_accepted, 4u);
  f.Send("pump-1", cmd("c", 1200));  // still remembered
  EXPECT_EQ(f.plant->stats().commands_duplicate, 1u);
}

TEST(Plant, MalformedCommandPayloadsDontCrash) {
  Fixture f;
  // No readable id: logged and ignored, no ack.
  for (const char* p :
       {"", "{", "null", "[]", "42", "\"x\"", R"({"id": 5, "name": "setSpeed"})", R"({"id": ""})",
        "{\"id\": \"\xff\xfe\"}", R"({"name": "setSpeed", "request": {"speed_rpm": 1000}})"}) {
    f.Send("pump-1", p);
  }
  EXPECT_TRUE(f.Acks("pump-1").empty());
  EXPECT_EQ(f.plant->stats().commands_ignored, 10u);

  // An id but a bad command: rejected with a reason naming the problem.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"id": "m-1"})", "name: expected a string"},
      {R"({"id": "m-2", "name": 3})", "name: expected a string"},
      {R"({"id": "m-3", "name": "setSpeed"})", "request.speed_rpm: expected a number"},
      {R"({"id": "m-4", "name": "setSpeed", "request": {"speed_rpm": "fast"}})",
       "request.speed_rpm: expected a number"},
      {R"({"id": "m-5", "name": "setSpeed", "request": [1]})", "request: expected an object"},
      {R"({"id": "m-6", "name": "setSpeed", "request": {"speed_rpm": 1e300}})",
       "speed_rpm 1e+300 outside 0..3000"},
      {R"({"id": "m-7", "name": "selfDestruct", "request": {}})",
       "unknown command 'selfDestruct' for pump-1"},
      {R"({"id": "m-8", "name": "setMode", "request": {"mode": "turbo"}})", ""},
  };
  for (const auto& [payload, reason] : cases) f.Send("pump-1", payload);
  std::vector<json> acks = f.Acks("pump-1");
  ASSERT_EQ(acks.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].first);
    EXPECT_EQ(acks[i]["status"], "rejected");
    ASSERT_TRUE(acks[i]["reason"].is_string());
    EXPECT_FALSE(acks[i]["reason"].get<std::string>().empty());
    if (!cases[i].second.empty()) {
      EXPECT_EQ(acks[i]["reason"], cases[i].second);
    }
  }

  // Unknown twins and commands a twin does not take.
  f.Send("pump-9", R"({"id": "u-1", "name": "setSpeed", "request": {"speed_rpm": 1000}})");
  EXPECT_EQ(f.Acks("pump-9").at(0)["reason"], "unknown twin 'pump-9'");
  f.Send("tank-1", R"({"id": "u-2", "name": "setSpeed", "request": {"speed_rpm": 1000}})");
  EXPECT_EQ(f.Acks("tank-1").at(0)["reason"], "tank-1 does not accept setSpeed");

  // Direct calls with odd topics.
  f.plant->HandleCommandMessage("plant//commands", "{}");
  f.plant->HandleCommandMessage("other/pump-1/commands", R"({"id": "x"})");
  f.plant->HandleCommandMessage("plant/a/b/commands", R"({"id": "x"})");
  EXPECT_EQ(f.plant->stats().commands_ignored, 13u);

  // Still alive and publishing; nothing was applied.
  ASSERT_TRUE(f.plant->StepFor(5).ok());
  EXPECT_EQ(f.rec.On("plant/pump-1/telemetry").size(), 5u);
  EXPECT_FALSE(f.plant->Truth().pumps[0].remote);
  EXPECT_EQ(f.plant->stats().commands_accepted, 0u);
}

TEST(Plant, TruthIsPublishedOnlyWhenEnabled) {
  PlantOptions o = TestOptions();
  o.publish_truth = true;
  Fixture f(o);
  ASSERT_TRUE(f.plant->StepFor(3).ok());
  std::vector<json> truth = f.rec.On("plant/pump-1/truth");
  ASSERT_EQ(truth.size(), 3u);
  for (const char* k : {"impeller_wear", "bearing_wear", "flow_m3h", "head_m", "efficiency", "cavitation"}) {
    EXPECT_TRUE(truth.back().contains(k)) << k;
  }
  EXPECT_DOUBLE_EQ(truth.back()["impeller_wear"].get<double>(), f.plant->Truth().pumps[0].impeller_wear);
  EXPECT_EQ(f.rec.On("plant/tank-1/truth").size(), 3u);
}

TEST(Plant, RealTimeRunnerPublishesAtTheConfiguredRateUntilStopped) {
  PlantOptions o = TestOptions();
  o.rate_hz = 50;
  Fixture f(o);
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(f.plant->Start().ok());
  EXPECT_TRUE(f.plant->running());
  EXPECT_EQ(f.plant->Start().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(f.plant->StepFor(1).code(), StatusCode::kFailedPrecondition);
  // Commands are handled while running.
  f.Send("pump-1", R"({"id": "rt-1", "name": "setSpeed", "request": {"speed_rpm": 1500}})");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  f.plant->Stop();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_FALSE(f.plant->running());
  uint64_t ticks = f.plant->stats().ticks;
  // One tick per 20 ms of wall time: never ahead of the clock, and not far behind it.
  EXPECT_LE(static_cast<double>(ticks), elapsed * 50 + 1);
  EXPECT_GE(ticks, 5u);
  EXPECT_EQ(f.rec.On("plant/pump-3/telemetry").size(), ticks);
  EXPECT_DOUBLE_EQ(f.plant->Truth().sim_time_s, static_cast<double>(ticks) / 50);
  EXPECT_EQ(f.Acks("pump-1").at(0)["status"], "accepted");
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(f.plant->stats().ticks, ticks);  // nothing after Stop
  f.plant->Stop();                           // idempotent
  // Restartable.
  ASSERT_TRUE(f.plant->Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  f.plant->Stop();
  EXPECT_GT(f.plant->stats().ticks, ticks);
}

TEST(Plant, HandlerOutlivingThePlantIsHarmless) {
  platform::InProcessBroker broker;
  auto plant_bus = broker.Connect("plant");
  auto cmd_bus = broker.Connect("cmd");
  ASSERT_TRUE(plant_bus->Start().ok());
  ASSERT_TRUE(cmd_bus->Start().ok());
  {
    Plant p(plant_bus.get(), TestOptions());
    ASSERT_TRUE(p.Start().ok());
  }  // destroyed; its subscription stays on the bus
  EXPECT_TRUE(cmd_bus->Publish("plant/pump-1/commands", R"({"id": "late", "name": "setSpeed"})", 1).ok());
}

TEST(Plant, CommandsFromInsideATelemetryHandlerDoNotDeadlock) {
  Fixture f;
  bool sent = false;
  ASSERT_TRUE(f.cmd_bus
                  ->Subscribe("plant/pump-1/telemetry", 1,
                              [&](std::string_view, std::string_view) {
                                if (sent) return;
                                sent = true;
                                f.Send(
                                    "pump-1",
                                    R"({"id": "h-1", "name": "setSpeed", "request": {"speed_rpm": 1400}})");
                              })
                  .ok());
  ASSERT_TRUE(f.plant->StepFor(2).ok());
  EXPECT_EQ(f.Acks("pump-1").size(), 1u);
}

TEST(Plant, WorksWithoutABus) {
  Plant p(nullptr, TestOptions());
  ASSERT_TRUE(p.SubscribeCommands().ok());
  ASSERT_TRUE(p.StepFor(60).ok());
  p.HandleCommandMessage("plant/pump-1/commands",
                         R"({"id": "n-1", "name": "setSpeed", "request": {"speed_rpm": 1000}})");
  EXPECT_EQ(p.stats().commands_accepted, 1u);
  EXPECT_EQ(p.stats().messages_published, 0u);
  EXPECT_EQ(p.Truth().pumps.size(), 3u);
}

TEST(Plant, TelemetryFormatting) {
  PumpReadings r;
  r.values[0] = 101.23456;
  r.values[2] = 1450;
  EXPECT_EQ(FormatPumpTelemetry(5, r), R"({"ts":5,"flow_m3h":101.235,"speed_rpm":1450.000})");
  r.values[3] = std::numeric_limits<double>::quiet_NaN();  // never emitted as invalid JSON
  EXPECT_TRUE(json::accept(FormatPumpTelemetry(5, r)));
  EXPECT_EQ(FormatTankTelemetry(-1, 2.5, 300), R"({"ts":-1,"level_m":2.500,"demand_m3h":300.000})");
}

}  // namespace
}  // namespace doppel::plant

namespace doppel::plant {
namespace {

TEST(Plant, RandomCommandBytesNeverCrash) {
  Plant p(nullptr, TestOptions());
  std::mt19937_64 rng(123);
  const std::string seeds[] = {R"({"id": "c-1", "name": "setSpeed", "request": {"speed_rpm": 1200}})",
                               R"({"id": "c-2", "name": "setMode", "request": {"mode": "manual"}})"};
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[i % 2];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (s.size() + 1);
      switch (rng() % 3) {
        case 0: s.insert(pos, 1, static_cast<char>(rng())); break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1);
          break;
        default:
          if (pos < s.size()) s[pos] = static_cast<char>(rng());
          break;
      }
    }
    p.HandleCommandMessage(i % 7 == 0 ? "plant/pump-2/commands" : "plant/pump-1/commands", s);
  }
  PlantStats st = p.stats();
  EXPECT_EQ(st.commands_accepted + st.commands_rejected + st.commands_duplicate + st.commands_ignored,
            20000u);
  ASSERT_TRUE(p.StepFor(10).ok());
  for (const PumpTruth& t : p.Truth().pumps) {
    EXPECT_GE(t.outputs.setpoint_rpm, 0);
    EXPECT_LE(t.outputs.setpoint_rpm, 3000);
  }
}

}  // namespace
}  // namespace doppel::plant
