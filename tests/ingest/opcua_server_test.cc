// The OPC UA client and adapter against a real node-opcua server (tests/opcua/server.mjs) and
// against raw TCP peers that answer with garbage.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <thread>

#include "doppel/ingest/opcua/adapter.h"
#include "doppel/ingest/opcua/client.h"
#include "doppel/ingest/opcua/transport.h"
#include "ingest/opcua_peers.h"

namespace doppel::ingest::opcua {
namespace {

using testing::NodeOpcUaServer;
using testing::RawTcpServer;

#define REQUIRE_SERVER(s) ASSERT_TRUE((s).ok()) << (s).error()

struct Sink : ReadingSink, CommandAckSink {
  std::mutex mu;
  std::vector<Reading> readings;
  std::vector<CommandAck> acks;
  Status Submit(std::vector<Reading> batch) override {
    std::lock_guard lk(mu);
    readings.insert(readings.end(), batch.begin(), batch.end());
    return Status::Ok();
  }
  void OnCommandAck(const CommandAck& a) override {
    std::lock_guard lk(mu);
    acks.push_back(a);
  }
  size_t ReadingCount() {
    std::lock_guard lk(mu);
    return readings.size();
  }
  std::vector<Reading> Readings() {
    std::lock_guard lk(mu);
    return readings;
  }
  std::optional<CommandAck> AckFor(const std::string& id) {
    std::lock_guard lk(mu);
    for (const auto& a : acks)
      if (a.id == id) return a;
    return std::nullopt;
  }
};

// Polls `pred` for up to 30 s (a liveness bound, not a timing assertion).
template <typename F>
bool Eventually(F pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

// Flow's value encodes its source time: (ms since epoch mod 1e6) / 1000.
double FlowAt(TimeNs source_ns) {
  return std::fmod(static_cast<double>(source_ns / 1'000'000), 1e6) / 1000.0;
}

ClientOptions ClientFor(const std::string& endpoint) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.connect_timeout_ms = 3000;
  o.request_timeout_ms = 3000;
  return o;
}

OpcUaAdapterOptions AdapterFor(const std::string& endpoint) {
  OpcUaAdapterOptions o;
  o.client = ClientFor(endpoint);
  o.reconnect_min_ms = 50;
  o.reconnect_max_ms = 400;
  o.mappings = {{"ns=1;s=Pump1.Flow", "pump-1", "flow_m3h"}, {"ns=1;s=Pump1.Speed", "pump-1", "speed_rpm"}};
  o.writes = {{"pump-1", "set_speed", "", "ns=1;s=Pump1.Speed"},
              {"pump-1", "", "mode", "ns=1;s=Pump1.Mode"},
              {"pump-1", "lock", "", "ns=1;s=Pump1.Locked"},
              {"pump-1", "", "label", "ns=1;s=Pump1.Label"}};
  return o;
}

TEST(OpcUaClientTest, BrowseFindsThePumpVariables) {
  NodeOpcUaServer server;
  REQUIRE_SERVER(server);
  Client c(ClientFor(server.endpoint()));
  ASSERT_TRUE(c.Connect().ok());
  auto objects = c.Browse(NodeId::Numeric(0, 85));  // the Objects folder
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  bool pump = false;
  for (const auto& r : *objects)
    pump |= r.browse_name.name == "Pump1" && r.node_id.node == NodeId::String(1, "Pump1");
  EXPECT_TRUE(pump);
  auto refs = c.Browse(NodeId::String(1, "Pump1"));
  ASSERT_TRUE(refs.ok()) << refs.status().ToString();
  std::set<std::string> names;
  for (const auto& r : *refs)
    if (r.node_class == 2) names.insert(r.browse_name.name + "=" + r.node_id.node.ToString());
  EXPECT_TRUE(names.count("Flow=ns=1;s=Pump1.Flow"));
  EXPECT_TRUE(names.count("Speed=ns=1;s=Pump1.Speed"));
  EXPECT_TRUE(names.count("Locked=ns=1;s=Pump1.Locked"));
  EXPECT_TRUE(names.count("Label=ns=1;s=Pump1.Label"));
}

TEST(OpcUaClientTest, ReadReturnsValuesTypesAndPerNodeStatus) {
  NodeOpcUaServer server;
  REQUIRE_SERVER(server);
  Client c(ClientFor(server.endpoint()));
  ASSERT_TRUE(c.Connect().ok());
  auto r = c.Read({{NodeId::String(1, "Pump1.Speed")},
                   {NodeId::String(1, "Pump1.Label")},
                   {NodeId::String(1, "Pump1.Flow")},
                   {NodeId::String(1, "Pump1.Mode"), kAttrDataType},
                   {NodeId::String(1, "No.Such.Node")}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (size_t i = 0; i < 4; ++i)
    ASSERT_TRUE((*r)[i].value.has_value()) << i << " " << StatusCodeName((*r)[i].status);
  EXPECT_EQ((*r)[0].value->AsDouble(), 1450.0);
  EXPECT_EQ(std::get<std::string>((*r)[1].value->values[0]), "pump one");
  const DataValue& flow = (*r)[2];
  ASSERT_NE(flow.source_timestamp, 0);
  EXPECT_DOUBLE_EQ(*flow.value->AsDouble(), FlowAt(UaTicksToNs(flow.source_timestamp).value()));
  EXPECT_EQ(std::get<NodeId>((*r)[3].value->values[0]), NodeId::Numeric(0, 6));  // Int32
  EXPECT_EQ(StatusCodeName((*r)[4].status), "BadNodeIdUnknown");
}

TEST(OpcUaClientTest, UserNameLoginChecksThePassword) {
  NodeOpcUaServer server({"--user", "operator", "--password", "s3cret"});
  REQUIRE_SERVER(server);
  ClientOptions good = ClientFor(server.endpoint());
  good.user = "operator";
  good.password = "s3cret";
  Client c(good);
  Status st = c.Connect();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(c.Read({{NodeId::String(1, "Pump1.Speed")}}).ok());
  ClientOptions bad = good;
  bad.password = "wrong";
  Client b(bad);
  st = b.Connect();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ActivateSession"), std::string::npos) << st.ToString();
}

TEST(OpcUaAdapterTest, SubscriptionDeliversReadingsWithSourceTimestamps) {
  NodeOpcUaServer server;
  REQUIRE_SERVER(server);
  Sink sink;
  MetricsRegistry metrics;
  auto a = OpcUaAdapter::Create(AdapterFor(server.endpoint()), &sink, &sink, &metrics);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  auto flows = [&] {
    std::vector<Reading> out;
    for (const auto& r : sink.Readings())
      if (r.signal == "flow_m3h") out.push_back(r);
    return out;
  };
  ASSERT_TRUE(Eventually([&] { return flows().size() >= 8; })) << (*a)->Summary().last_error;
  (*a)->Stop();
  std::vector<Reading> f = flows();
  for (size_t i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f[i].twin, "pump-1");
    EXPECT_EQ(f[i].quality, Quality::kGood);
    // The value was computed by the server from the source timestamp it attached.
    EXPECT_DOUBLE_EQ(f[i].value, FlowAt(f[i].source_ts_ns)) << i;
    if (i > 0) {
      EXPECT_GT(f[i].source_ts_ns, f[i - 1].source_ts_ns) << i;
    }
  }
  bool speed = false;
  for (const auto& r : sink.Readings()) speed |= r.signal == "speed_rpm" && r.value == 1450.0;
  EXPECT_TRUE(speed);
  EXPECT_EQ(metrics.GetCounter("doppel_opcua_readings_total", "").Value(), sink.ReadingCount());
}

TEST(OpcUaAdapterTest, WritesAreAckedByTheServersStatusCode) {
  NodeOpcUaServer server;
  REQUIRE_SERVER(server);
  Sink sink;
  auto a = OpcUaAdapter::Create(AdapterFor(server.endpoint()), &sink, &sink, nullptr);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE(Eventually([&] { return (*a)->Summary().connected; }));
  ASSERT_TRUE((*a)->WriteCommand("pump-1", "c1", "set_speed", 1200.5).ok());
  ASSERT_TRUE((*a)->WriteCommand("pump-1", "c2", "mode", nlohmann::json{{"value", 3}}).ok());
  ASSERT_TRUE((*a)->WriteCommand("pump-1", "c3", "lock", 1).ok());
  ASSERT_TRUE((*a)->WriteCommand("pump-1", "c4", "mode", 2.5).ok());
  ASSERT_TRUE((*a)->WriteCommand("pump-1", "c5", "label", "renamed").ok());
  EXPECT_EQ((*a)->WriteCommand("pump-1", "c6", "no_such_command", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ((*a)->WriteCommand("pump-1", "c7", "mode", nlohmann::json::array({1})).code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(Eventually([&] { return sink.AckFor("c5").has_value(); }));
  EXPECT_TRUE(sink.AckFor("c1")->accepted);
  EXPECT_EQ(sink.AckFor("c1")->reason, "Good");
  EXPECT_TRUE(sink.AckFor("c2")->accepted);
  EXPECT_FALSE(sink.AckFor("c3")->accepted);
  EXPECT_EQ(sink.AckFor("c3")->reason, "BadNotWritable");
  EXPECT_FALSE(sink.AckFor("c4")->accepted);
  EXPECT_NE(sink.AckFor("c4")->reason.find("not an integer"), std::string::npos) << sink.AckFor("c4")->reason;
  EXPECT_TRUE(sink.AckFor("c5")->accepted);
  // The server holds the written values.
  Client c(ClientFor(server.endpoint()));
  ASSERT_TRUE(c.Connect().ok());
  auto r = c.Read({{NodeId::String(1, "Pump1.Speed")},
                   {NodeId::String(1, "Pump1.Mode")},
                   {NodeId::String(1, "Pump1.Label")}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].value->AsDouble(), 1200.5);
  EXPECT_EQ((*r)[1].value->type, BuiltinType::kInt32);
  EXPECT_EQ((*r)[1].value->AsDouble(), 3.0);
  EXPECT_EQ(std::get<std::string>((*r)[2].value->values[0]), "renamed");
  EXPECT_EQ((*a)->Summary().writes_accepted, 3u);
  EXPECT_EQ((*a)->Summary().writes_rejected, 2u);
}

TEST(OpcUaAdapterTest, ServerRestartMidStreamResumesData) {
  NodeOpcUaServer server;
  REQUIRE_SERVER(server);
  Sink sink;
  auto a = OpcUaAdapter::Create(AdapterFor(server.endpoint()), &sink, &sink, nullptr);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE(Eventually([&] { return sink.ReadingCount() >= 5; }));
  server.Kill();
  ASSERT_TRUE(Eventually([&] { return !(*a)->Summary().connected; }));
  // While the server is down, writes are refused with a reason, not lost silently.
  ASSERT_TRUE((*a)->WriteCommand("pump-1", "down", "set_speed", 1).ok());
  ASSERT_TRUE(Eventually([&] { return sink.AckFor("down").has_value(); }));
  EXPECT_FALSE(sink.AckFor("down")->accepted);
  TimeNs last_before = sink.Readings().back().source_ts_ns;
  size_t count_before = sink.ReadingCount();
  ASSERT_TRUE(server.Restart()) << server.error();
  ASSERT_TRUE(Eventually([&] { return sink.ReadingCount() >= count_before + 5; }))
      << (*a)->Summary().last_error;
  auto s = (*a)->Summary();
  EXPECT_GE(s.connects, 2u);
  EXPECT_GE(s.disconnects, 1u);
  std::vector<Reading> all = sink.Readings();
  EXPECT_GT(all.back().source_ts_ns, last_before);
  EXPECT_DOUBLE_EQ(all.back().value,
                   all.back().signal == "flow_m3h" ? FlowAt(all.back().source_ts_ns) : 1450.0);
}

// The secure channel's token is renewed at 75 % of its lifetime, so one channel, session and
// subscription carry the data past several lifetimes. node-opcua revises a lifetime to at least
// 2.5 s; it aborts the channel when a message carries a token id it did not issue, so a renewal
// that was not accepted, or a wrong token id afterwards, would show as a reconnect.
TEST(OpcUaAdapterTest, ChannelTokenIsRenewedWithoutReconnecting) {
  NodeOpcUaServer server;
  REQUIRE_SERVER(server);
  Sink sink;
  MetricsRegistry metrics;
  OpcUaAdapterOptions o = AdapterFor(server.endpoint());
  o.client.channel_lifetime_ms = 2500;
  auto a = OpcUaAdapter::Create(o, &sink, &sink, &metrics);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE(Eventually([&] { return (*a)->Summary().channel_renewals >= 3; }))
      << (*a)->Summary().last_error;
  // Data keeps flowing on the renewed token, and a write goes through on it.
  const size_t before = sink.ReadingCount();
  ASSERT_TRUE(Eventually([&] { return sink.ReadingCount() >= before + 5; })) << (*a)->Summary().last_error;
  ASSERT_TRUE((*a)->WriteCommand("pump-1", "w1", "set_speed", 1500).ok());
  ASSERT_TRUE(Eventually([&] { return sink.AckFor("w1").has_value(); }));
  EXPECT_TRUE(sink.AckFor("w1")->accepted) << sink.AckFor("w1")->reason;
  auto s = (*a)->Summary();  // before Stop, which counts as a disconnect
  (*a)->Stop();
  EXPECT_EQ(s.connects, 1u) << s.last_error;
  EXPECT_EQ(s.disconnects, 0u) << s.last_error;
  EXPECT_EQ(metrics.GetCounter("doppel_opcua_channel_renewals_total", "").Value(), s.channel_renewals);
  // No gap in the flow's source timestamps (the server changes it every 100 ms) across renewals.
  TimeNs prev = 0;
  for (const Reading& r : sink.Readings()) {
    if (r.signal != "flow_m3h") continue;
    if (prev != 0) {
      EXPECT_LT(r.source_ts_ns - prev, 1'000'000'000) << "a gap in the data";
    }
    prev = r.source_ts_ns;
  }
}

// An OPC UA ERR-free garbage answer to HEL: the client names the problem and the adapter
// keeps reconnecting without crashing.
TEST(OpcUaAdapterTest, GarbageFramesGiveAClearErrorAndAReconnect) {
  RawTcpServer junk({std::string("HTTP/1.1 400 Bad Request\r\n\r\n")});
  Client c(ClientFor(junk.endpoint()));
  Status st = c.Connect();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unknown message type 'HTT'"), std::string::npos) << st.ToString();

  Sink sink;
  auto a = OpcUaAdapter::Create(AdapterFor(junk.endpoint()), &sink, &sink, nullptr);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE(Eventually([&] { return (*a)->Summary().connect_failures >= 3; }));
  (*a)->Stop();
  EXPECT_GE(junk.connections(), 4);
  EXPECT_NE((*a)->Summary().last_error.find("unknown message type"), std::string::npos);
  EXPECT_EQ(sink.ReadingCount(), 0u);
}

std::string Frame(const char* type, const std::string& body) {
  Encoder e;
  e.Raw(type);
  e.UInt32(static_cast<uint32_t>(8 + body.size()));
  e.Raw(body);
  return e.Take();
}

TEST(OpcUaClientTest, MalformedFramesAfterHelloAreNamed) {
  Encoder ack;
  for (uint32_t v : {0u, 65536u, 65536u, 0u, 0u}) ack.UInt32(v);
  Encoder err;
  err.UInt32(0x80830000);
  err.String("no such endpoint");
  struct Case {
    std::vector<std::string> replies;
    std::string expect;
  } cases[] = {
      {{Frame("ACKF", ack.bytes()), Frame("OPNF", std::string(30, '\x07'))},
       "AsymmetricHeader.SecurityPolicyUri"},
      {{Frame("ACKF", ack.bytes()), "MSGF\xff\xff\xff\x7f"}, "MessageHeader.MessageSize"},
      {{Frame("ACKF", std::string(6, '\0'))}, "ACK message of 14 bytes is outside [28, 65536]"},
      {{Frame("ERRF", err.bytes())}, "BadTcpEndpointUrlInvalid: no such endpoint"},
      {{Frame("ACKC", ack.bytes())}, "must be a final chunk"},
  };
  for (const Case& k : cases) {
    RawTcpServer peer(k.replies);
    Client c(ClientFor(peer.endpoint()));
    Status st = c.Connect();
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(k.expect), std::string::npos) << st.ToString();
  }
}

}  // namespace
}  // namespace doppel::ingest::opcua
