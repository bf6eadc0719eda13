// One suite run against every MessageBus implementation: in-process and MQTT (real mosquitto).
#include "doppel/platform/pubsub.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
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

// A listening socket on 127.0.0.1 at a port the kernel picks; *addr gets its address.
int ListenOnLoopback(int backlog, sockaddr_in* addr) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  *addr = sockaddr_in{};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(addr), sizeof *addr), 0);
  EXPECT_EQ(listen(fd, backlog), 0);
  socklen_t len = sizeof *addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(addr), &len), 0);
  return fd;
}

// A loopback port whose accept queue is full: the kernel drops further SYNs, so a connect() to it
// hangs in SYN retransmits (as with a host behind a firewall that drops packets).
class BlackholePort {
 public:
  BlackholePort() {
    sockaddr_in a;
    listener_ = ListenOnLoopback(0, &a);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 4; ++i) {  // fill the queue; those beyond it stay in SYN_SENT
      int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      (void)connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(c);
    }
    std::this_thread::sleep_for(100ms);
  }
  ~BlackholePort() {
    for (int c : fillers_) close(c);
    close(listener_);
  }
  int port() const { return port_; }

 private:
  int listener_ = -1, port_ = 0;
  std::vector<int> fillers_;
};

TEST(MqttBusTest, StopDoesNotWaitOutAConnectToAHostThatDropsPackets) {
  BlackholePort hole;
  MqttOptions o;
  o.port = hole.port();
  o.client_id = "blackholed";
  o.connect_timeout_ms = 300;
  auto bus = NewMqttBus(o);
  EXPECT_EQ(bus->Start().code(), StatusCode::kUnavailable);
  // The network thread is now in a connect the kernel would retry for minutes (SYN dropped).
  std::this_thread::sleep_for(1500ms);
  auto stopped = std::async(std::launch::async, [&] { bus->Stop(); });
  // Liveness bound, far above Stop's 0.1 s and far below the kernel's connect timeout (~2 min;
  // libmosquitto's own loop waited it out).
  EXPECT_EQ(stopped.wait_for(10s), std::future_status::ready);
  stopped.wait();
}

// A peer that takes the TCP connection but never answers CONNECT (a hung broker): the attempt is
// given up after connect_timeout_ms and made again after the back-off.
TEST(MqttBusTest, AConnectAttemptWithoutAnAnswerIsGivenUpAndMadeAgain) {
  sockaddr_in a;
  const int listener = ListenOnLoopback(8, &a);
  std::atomic<bool> done{false};
  std::atomic<int> accepted{0};
  std::vector<int> conns;
  std::thread silent([&] {
    while (!done) {
      pollfd p{listener, POLLIN, 0};
      if (poll(&p, 1, 20) == 1) {
        conns.push_back(accept(listener, nullptr, nullptr));  // read nothing, answer nothing
        ++accepted;
      }
    }
  });
  MqttOptions o;
  o.port = ntohs(a.sin_port);
  o.client_id = "unanswered";
  o.connect_timeout_ms = 300;
  auto bus = NewMqttBus(o);
  EXPECT_EQ(bus->Start().code(), StatusCode::kUnavailable);
  // 0.3 s unanswered, 1 s back-off, the second attempt.
  EXPECT_TRUE(WaitFor([&] { return accepted.load() >= 2; }, 10s)) << accepted.load() << " connections";
  EXPECT_FALSE(bus->connected());
  bus->Stop();
  done = true;
  silent.join();
  for (int c : conns) close(c);
  close(listener);
}

// A persistent session's backlog arrives after the CONNACK and before the SUBACK; a slow
// (backpressured) handler may take far longer than connect_timeout_ms over it. The connection
// must not be given up meanwhile: each give-up would redeliver what was not yet acknowledged.
TEST(MqttBusTest, ABacklogSlowerThanTheConnectTimeoutIsNotCutShort) {
  testing::Mosquitto broker;
  MqttOptions o;
  o.port = broker.port();
  o.client_id = "slow-backlog";
  o.clean_session = false;
  {
    auto first = NewMqttBus(o);  // registers the persistent session, then goes away
    ASSERT_TRUE(first->Subscribe("t/#", 1, [](std::string_view, std::string_view) {}).ok());
    ASSERT_TRUE(first->Start().ok());
  }
  MqttOptions po;
  po.port = broker.port();
  po.client_id = "backlog-pub";
  auto pub = NewMqttBus(po);
  ASSERT_TRUE(pub->Start().ok());
  constexpr int kBacklog = 100;
  for (int i = 0; i < kBacklog; ++i) ASSERT_TRUE(pub->Publish("t/x", std::to_string(i), 1).ok());
  std::this_thread::sleep_for(200ms);  // the broker has queued them for the absent session

  o.connect_timeout_ms = 200;  // the backlog takes ~1 s at 10 ms per message
  auto sub = NewMqttBus(o);
  std::mutex mu;
  std::vector<int> seen;
  ASSERT_TRUE(sub->Subscribe("t/#", 1,
                             [&](std::string_view, std::string_view payload) {
                               std::this_thread::sleep_for(10ms);
                               std::lock_guard lk(mu);
                               seen.push_back(std::stoi(std::string(payload)));
                             })
                  .ok());
  (void)sub->Start();  // may time out waiting for the SUBACK behind the backlog: that is fine
  EXPECT_TRUE(WaitFor(
      [&] {
        std::lock_guard lk(mu);
        return seen.size() >= kBacklog;
      },
      30s));
  EXPECT_TRUE(WaitFor([&] { return sub->connected(); }));
  sub->Stop();
  std::lock_guard lk(mu);
  ASSERT_EQ(seen.size(), size_t{kBacklog}) << "redelivered after a give-up";
  for (int i = 0; i < kBacklog; ++i) EXPECT_EQ(seen[i], i);
}

// Stop, then Start again: the same bus connects and delivers as before.
TEST(MqttBusTest, StartsAgainAfterStop) {
  testing::Mosquitto broker;
  MqttOptions o;
  o.port = broker.port();
  o.client_id = "restarted";
  auto sub = NewMqttBus(o);
  std::atomic<int> got{0};
  ASSERT_TRUE(sub->Subscribe("t/#", 1, [&](std::string_view, std::string_view) { got++; }).ok());
  ASSERT_TRUE(sub->Start().ok());
  sub->Stop();
  EXPECT_FALSE(sub->connected());
  ASSERT_TRUE(sub->Start().ok());
  o.client_id = "restarted-pub";
  auto pub = NewMqttBus(o);
  ASSERT_TRUE(pub->Start().ok());
  ASSERT_TRUE(pub->Publish("t/x", "m", 1).ok());
  EXPECT_TRUE(WaitFor([&] { return got.load() == 1; }));
  sub->Stop();
}

TEST(MqttBusTest, BadFiltersAndKeepalivesAreRefusedNamingThem) {
  MqttOptions o;
  o.port = testing::FreePort();
  auto bus = NewMqttBus(o);
  Status s = bus->Subscribe("t/#/x", 1, [](std::string_view, std::string_view) {});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'t/#/x'"), std::string::npos) << s.ToString();
  o.keepalive_s = 0;  // libmosquitto's loop would spin
  Status k = NewMqttBus(o)->Start();
  EXPECT_EQ(k.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(k.message().find("keepalive_s"), std::string::npos) << k.ToString();
}

// The broker goes away and comes back on the same port: the bus reconnects by itself (after its
// back-off), subscribes again, and delivers what is published after that.
TEST(MqttBusTest, ReconnectsAndResubscribesWhenTheBrokerComesBack) {
  auto broker = std::make_unique<testing::Mosquitto>();
  const int port = broker->port();
  MqttOptions o;
  o.port = port;
  o.client_id = "comes-back-sub";
  auto sub = NewMqttBus(o);
  std::atomic<int> got{0};
  ASSERT_TRUE(sub->Subscribe("t/#", 1, [&](std::string_view, std::string_view) { got++; }).ok());
  ASSERT_TRUE(sub->Start().ok());
  broker.reset();  // mosquitto ends (persistence off: the session is gone with it)
  ASSERT_TRUE(WaitFor([&] { return !sub->connected(); }));
  broker = std::make_unique<testing::Mosquitto>(port);
  ASSERT_TRUE(WaitFor([&] { return sub->connected(); }, 20s)) << "no reconnect within 20 s";
  o.client_id = "comes-back-pub";
  auto pub = NewMqttBus(o);
  ASSERT_TRUE(pub->Start().ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pub->Publish("t/x", "m", 1).ok());
  EXPECT_TRUE(WaitFor([&] { return got.load() == 5; }));
  sub->Stop();
}

}  // namespace
}  // namespace doppel::platform
