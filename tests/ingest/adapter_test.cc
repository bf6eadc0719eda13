#include "doppel/ingest/adapter.h"

#include <gtest/gtest.h>

#include <mutex>

namespace doppel::ingest {
namespace {

struct Sink : ReadingSink, CommandAckSink {
  std::mutex mu;
  std::vector<Reading> readings;
  std::vector<CommandAck> acks;
  Status refuse = Status::Ok();
  Status Submit(std::vector<Reading> batch) override {
    std::lock_guard lk(mu);
    if (!refuse.ok()) return refuse;
    readings.insert(readings.end(), batch.begin(), batch.end());
    return Status::Ok();
  }
  void OnCommandAck(const CommandAck& a) override {
    std::lock_guard lk(mu);
    acks.push_back(a);
  }
};

struct Fixture {
  platform::InProcessBroker broker;
  std::unique_ptr<platform::MessageBus> doppel = broker.Connect("doppel");
  std::unique_ptr<platform::MessageBus> device = broker.Connect("device");
  MetricsRegistry metrics;
  Sink sink;
  std::unique_ptr<TopicAdapter> adapter;
  Fixture() {
    TopicAdapterOptions o;
    o.now_ns = [] { return TimeNs{777}; };
    auto a = TopicAdapter::Create(doppel.get(), o, &sink, &sink, &metrics);
    EXPECT_TRUE(a.ok());
    adapter = std::move(a).value();
    EXPECT_TRUE(adapter->Subscribe().ok());
    EXPECT_TRUE(doppel->Start().ok());
    EXPECT_TRUE(device->Start().ok());
  }
  uint64_t Count(const char* name) { return metrics.GetCounter(name, "").Value(); }
};

TEST(TopicAdapterTest, TelemetryBecomesReadingsOfTheTopicsTwin) {
  Fixture f;
  ASSERT_TRUE(
      f.device->Publish("plant/pump-3/telemetry", R"({"ts": 5, "flow_m3h": 1.5, "speed_rpm": 1450})", 1)
          .ok());
  ASSERT_EQ(f.sink.readings.size(), 2u);
  EXPECT_EQ(f.sink.readings[0].twin, "pump-3");
  EXPECT_EQ(f.sink.readings[0].source_ts_ns, 5);
  EXPECT_EQ(f.Count("doppel_ingest_messages_total"), 1u);
}

TEST(TopicAdapterTest, MalformedPayloadsAreCountedAndTheAdapterKeepsGoing) {
  Fixture f;
  const char* bad[] = {"{\"flow_m3h\": nope",    "",        "[]", "{\"a\": \"x\"}",
                       "{\"ts\": -1, \"a\": 1}", "\xff\xfe"};
  for (const char* p : bad) ASSERT_TRUE(f.device->Publish("plant/pump-1/telemetry", p, 1).ok());
  ASSERT_TRUE(f.device->Publish("plant/pump-1/telemetry", R"({"a": 1})", 1).ok());
  EXPECT_EQ(f.Count("doppel_readings_malformed_total"), std::size(bad));
  ASSERT_EQ(f.sink.readings.size(), 1u);
  EXPECT_EQ(f.sink.readings[0].source_ts_ns, 777);  // no "ts": arrival time
}

TEST(TopicAdapterTest, RefusedBatchesAreCountedPerReading) {
  Fixture f;
  f.sink.refuse = NotFound("twin 'x' is unknown");
  ASSERT_TRUE(f.device->Publish("plant/x/telemetry", R"({"a": 1, "b": 2})", 1).ok());
  EXPECT_EQ(f.Count("doppel_readings_refused_total"), 2u);
}

TEST(TopicAdapterTest, CommandsArePublishedAndAcksReachTheSink) {
  Fixture f;
  std::string seen_topic, seen_payload;
  ASSERT_TRUE(f.device
                  ->Subscribe("plant/+/commands", 1,
                              [&](std::string_view t, std::string_view p) {
                                seen_topic = t;
                                seen_payload = p;
                                (void)f.device->Publish(
                                    "plant/pump-2/commands/ack",
                                    R"({"id": "c-1", "status": "rejected", "reason": "too fast"})", 1);
                              })
                  .ok());
  ASSERT_TRUE(f.adapter->SendCommand("pump-2", "c-1", "setSpeed", {{"speed_rpm", 99999}}).ok());
  EXPECT_EQ(seen_topic, "plant/pump-2/commands");
  auto j = nlohmann::json::parse(seen_payload);
  EXPECT_EQ(j["id"], "c-1");
  EXPECT_EQ(j["request"]["speed_rpm"], 99999);
  ASSERT_EQ(f.sink.acks.size(), 1u);
  EXPECT_EQ(f.sink.acks[0].twin, "pump-2");
  EXPECT_FALSE(f.sink.acks[0].accepted);
  EXPECT_EQ(f.sink.acks[0].reason, "too fast");
  ASSERT_TRUE(f.device->Publish("plant/pump-2/commands/ack", "garbage", 1).ok());
  EXPECT_EQ(f.Count("doppel_command_acks_malformed_total"), 1u);
}

TEST(TopicAdapterTest, BadTopicTemplatesAreRejectedNamingTheOption) {
  platform::InProcessBroker broker;
  auto bus = broker.Connect("x");
  MetricsRegistry m;
  Sink s;
  TopicAdapterOptions o;
  o.ack_topic = "plant/ack";
  auto a = TopicAdapter::Create(bus.get(), o, &s, &s, &m);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("ack_topic"), std::string::npos);
}

}  // namespace
}  // namespace doppel::ingest
