// One suite run against every MessageBus implementation: in-process and MQTT (real mosquitto).
#include "doppel/platform/pubsub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "testing/test_util.h"

namespace doppel::platform {
namespace {

using namespace std::chrono_literals;

TEST(TopicMatchesTest, WildcardsFollowMqttRules) {
  EXPECT_TRUE(TopicMatches("plant/+/telemetry", "plant/pump-1/telemetry"));
  EXPECT_FALSE(TopicMatches("plant/+/telemetry", "plant/pump-1/commands"));
  EXPECT_FALSE(TopicMatches("plant/+/telemetry", "plant/a/b/telemetry"));
  EXPECT_TRUE(TopicMatches("plant/#", "plant/pump-1/commands/ack"));
  EXPECT_TRUE(TopicMatches("plant/#", "plant"));
  EXPECT_TRUE(TopicMatches("#", "anything/at/all"));
  EXPECT_TRUE(TopicMatches("a/b", "a/b"));
  EXPECT_FALSE(TopicMatches("a/b", "a/b/c"));
  EXPECT_FALSE(TopicMatches("a/b/c", "a/b"));
  EXPECT_TRUE(TopicMatches("+/+", "a/"));
  EXPECT_FALSE(TopicMatches("+", "a/b"));
}

TEST(ParseBrokerUrlTest, AcceptsHostAndPortAndNamesBadParts) {
  MqttOptions o;
  ASSERT_TRUE(ParseBrokerUrl("mqtt://127.0.0.1:18830", &o).ok());
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 18830);
  ASSERT_TRUE(ParseBrokerUrl("mqtt://localhost", &o).ok());
  EXPECT_EQ(o.port, 1883);
  Status s = ParseBrokerUrl("mqtt://h:99999", &o);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bad port"), std::string::npos);
  EXPECT_FALSE(ParseBrokerUrl("http://h:1", &o).ok());
  EXPECT_FALSE(ParseBrokerUrl("mqtt://", &o).ok());
}

// A pair of connected buses of one implementation.
struct BusPair {
  std::unique_ptr<testing::Mosquitto> broker;
  std::unique_ptr<InProcessBroker> local;
  std::unique_ptr<MessageBus> a, b;
};

BusPair MakePair(const std::string& kind) {
  BusPair p;
  if (kind == "inprocess") {
    p.local = std::make_unique<InProcessBroker>();
    p.a = p.local->Connect("a");
    p.b = p.local->Connect("b");
  } else {
    p.broker = std::make_unique<testing::Mosquitto>();
    MqttOptions o;
    o.port = p.broker->port();
    o.client_id = "test-a";
    p.a = NewMqttBus(o);
    o.client_id = "test-b";
    p.b = NewMqttBus(o);
  }
  return p;
}

class BusTest : public ::testing::TestWithParam<std::string> {};

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

TEST_P(BusTest, SubscriberReceivesEveryQos1MessageInOrder) {
  BusPair p = MakePair(GetParam());
  std::mutex mu;
  std::vector<std::string> got;
  ASSERT_TRUE(p.b->Subscribe("plant/+/telemetry", 1,
                             [&](std::string_view t, std::string_view m) {
                               std::lock_guard lk(mu);
                               got.emplace_back(m);
                             })
                  .ok());
  ASSERT_TRUE(p.b->Start().ok());
  ASSERT_TRUE(p.a->Start().ok());
  for (int i = 0; i < 500; ++i)
    ASSERT_TRUE(p.a->Publish("plant/pump-1/telemetry", std::to_string(i), 1).ok());
  ASSERT_TRUE(p.a->Publish("plant/pump-1/other", "x", 1).ok());
  ASSERT_TRUE(WaitFor([&] {
    std::lock_guard lk(mu);
    return got.size() >= 500;
  }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lk(mu);
  ASSERT_EQ(got.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(got[i], std::to_string(i));
}

TEST_P(BusTest, HandlerMayPublishFromInsideACallback) {
  BusPair p = MakePair(GetParam());
  std::atomic<int> acks{0};
  ASSERT_TRUE(
      p.b->Subscribe("cmd", 1, [&](std::string_view, std::string_view m) { (void)p.b->Publish("ack", m, 1); })
          .ok());
  ASSERT_TRUE(p.a->Subscribe("ack", 1, [&](std::string_view, std::string_view) { acks++; }).ok());
  ASSERT_TRUE(p.b->Start().ok());
  ASSERT_TRUE(p.a->Start().ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(p.a->Publish("cmd", "c", 1).ok());
  EXPECT_TRUE(WaitFor([&] { return acks.load() == 10; }));
}

INSTANTIATE_TEST_SUITE_P(Implementations, BusTest, ::testing::Values("inprocess", "mqtt"));

TEST(MqttBusTest, PersistentSessionReceivesWhatWasPublishedWhileAway) {
  testing::Mosquitto broker;
  MqttOptions o;
  o.port = broker.port();
  o.client_id = "durable-sub";
  std::atomic<int> got{0};
  {
    auto sub = NewMqttBus(o);
    ASSERT_TRUE(sub->Subscribe("t/#", 1, [&](std::string_view, std::string_view) { got++; }).ok());
    ASSERT_TRUE(sub->Start().ok());
    sub->Stop();
  }
  MqttOptions po = o;
  po.client_id = "pub";
  auto pub = NewMqttBus(po);
  ASSERT_TRUE(pub->Start().ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(pub->Publish("t/x", "m", 1).ok());
  std::this_thread::sleep_for(200ms);
  auto sub = NewMqttBus(o);
  ASSERT_TRUE(sub->Subscribe("t/#", 1, [&](std::string_view, std::string_view) { got++; }).ok());
  ASSERT_TRUE(sub->Start().ok());
  EXPECT_TRUE(WaitFor([&] { return got.load() == 50; }));
}

TEST(MqttBusTest, StartAgainstAbsentBrokerReportsUnavailable) {
  MqttOptions o;
  o.port = testing::FreePort();
  o.client_id = "nobody";
  o.connect_timeout_ms = 300;
  auto bus = NewMqttBus(o);
  Status s = bus->Start();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(bus->connected());
  // Stop lets the network thread end by itself (it is not cancelled): still prompt while it
  // waits out its reconnect back-off (1 s, then 2 s, ...).
  std::this_thread::sleep_for(1500ms);
  auto t0 = std::chrono::steady_clock::now();
  bus->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);
}

// A handler running when Stop is called (the engine blocked in Shard::Push under backpressure,
// with the message already acknowledged to the broker) finishes: Stop waits for it instead of
// cancelling the network thread in the middle of it.
TEST(MqttBusTest, StopLetsARunningHandlerFinish) {
  testing::Mosquitto broker;
  MqttOptions o;
  o.port = broker.port();
  o.client_id = "slow-sub";
  auto sub = NewMqttBus(o);
  std::atomic<bool> entered{false}, finished{false};
  ASSERT_TRUE(sub->Subscribe("t/#", 1,
                             [&](std::string_view, std::string_view) {
                               entered = true;
                               std::this_thread::sleep_for(300ms);
                               finished = true;
                             })
                  .ok());
  ASSERT_TRUE(sub->Start().ok());
  o.client_id = "pub";
  auto pub = NewMqttBus(o);
  ASSERT_TRUE(pub->Start().ok());
  ASSERT_TRUE(pub->Publish("t/x", "m", 1).ok());
  ASSERT_TRUE(WaitFor([&] { return entered.load(); }));
  sub->Stop();
  EXPECT_TRUE(finished.load());
}

}  // namespace
}  // namespace doppel::platform
