// OPC UA binary encoding: round trips of the built-in types, node id text forms, and the
// decoder's refusal of truncated, oversized and deeply nested input.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>

#include "doppel/ingest/opcua/binary.h"
#include "doppel/ingest/opcua/config.h"
#include "doppel/ingest/opcua/messages.h"
#include "doppel/ingest/opcua/transport.h"

namespace doppel::ingest::opcua {
namespace {

TEST(OpcUaBinaryTest, FixedSizeTypesAreLittleEndian) {
  Encoder e;
  e.UInt32(0x01020304);
  e.Int16(-2);
  e.Double(1.5);
  EXPECT_EQ(e.bytes().substr(0, 6), std::string("\x04\x03\x02\x01\xfe\xff", 6));
  Decoder d(e.bytes());
  uint32_t u = 0;
  int16_t s = 0;
  double x = 0;
  ASSERT_TRUE(d.UInt32("u", &u).ok());
  ASSERT_TRUE(d.Int16("s", &s).ok());
  ASSERT_TRUE(d.Double("x", &x).ok());
  EXPECT_EQ(u, 0x01020304u);
  EXPECT_EQ(s, -2);
  EXPECT_EQ(x, 1.5);
  EXPECT_EQ(d.remaining(), 0u);
}

TEST(OpcUaBinaryTest, NodeIdTextFormsRoundTrip) {
  for (const char* text :
       {"i=85", "ns=1;s=Pump1.Flow", "ns=3;i=70000", "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a",
        "ns=1;b=AAEC/w==", "ns=65535;s=a;b"}) {
    auto id = NodeId::Parse(text);
    ASSERT_TRUE(id.ok()) << text << ": " << id.status().ToString();
    EXPECT_EQ(id->ToString(), text);
    Encoder e;
    e.NodeId(*id);
    Decoder d(e.bytes());
    NodeId back;
    ASSERT_TRUE(d.NodeId("n", &back).ok());
    EXPECT_EQ(back, *id) << text;
  }
  for (const char* bad :
       {"", "x=1", "ns=1;", "ns=70000;i=1", "i=4294967296", "ns=1;g=zz", "ns=a;i=1", "s="}) {
    auto id = NodeId::Parse(bad);
    EXPECT_FALSE(id.ok()) << bad;
    if (!id.ok()) {
      EXPECT_NE(id.status().message().find("node id"), std::string::npos);
    }
  }
}

TEST(OpcUaBinaryTest, NumericNodeIdsUseTheShortestEncoding) {
  auto size_of = [](NodeId id) {
    Encoder e;
    e.NodeId(id);
    return e.size();
  };
  EXPECT_EQ(size_of(NodeId::Numeric(0, 85)), 2u);
  EXPECT_EQ(size_of(NodeId::Numeric(1, 1000)), 4u);
  EXPECT_EQ(size_of(NodeId::Numeric(300, 1)), 7u);
}

TEST(OpcUaBinaryTest, VariantsAndDataValuesRoundTrip) {
  std::vector<Variant> variants = {
      Variant{},
      Variant::Of(BuiltinType::kBoolean, true),
      Variant::Of(BuiltinType::kSByte, int64_t{-5}),
      Variant::Of(BuiltinType::kUInt16, uint64_t{65535}),
      Variant::Of(BuiltinType::kInt64, int64_t{-1} << 40),
      Variant::Of(BuiltinType::kFloat, 0.25),
      Variant::Of(BuiltinType::kDouble, -3.125),
      Variant::Of(BuiltinType::kString, std::string("héllo")),
      Variant::Of(BuiltinType::kDateTime, int64_t{133000000000000000}),
      Variant::Of(BuiltinType::kGuid, std::string(16, '\x5a')),
      Variant::Of(BuiltinType::kNodeId, NodeId::String(2, "x")),
      Variant::Of(BuiltinType::kExpandedNodeId, ExpandedNodeId{NodeId::Numeric(0, 7), "urn:x", 3}),
      Variant::Of(BuiltinType::kQualifiedName, QualifiedName{1, "Flow"}),
      Variant::Of(BuiltinType::kLocalizedText, LocalizedText{"en", "Flow"}),
      Variant::Of(BuiltinType::kExtensionObject, ExtensionObject{NodeId::Numeric(0, 811), 1, "abc"}),
      Variant{BuiltinType::kInt32, true, {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}}, {2, 2}},
      Variant{BuiltinType::kString, true, {std::string("a"), std::string()}, {}},
  };
  // A nested Variant is kept as its encoding.
  Encoder inner;
  inner.Variant(Variant::Of(BuiltinType::kDouble, 2.0));
  variants.push_back(Variant::Of(BuiltinType::kVariant, inner.bytes()));
  for (size_t i = 0; i < variants.size(); ++i) {
    DataValue dv{
        variants[i], 0x40920000, NsToUaTicks(1'700'000'000'123'456'700), 7, NsToUaTicks(5'000'000'000), 0};
    Encoder e;
    e.DataValue(dv);
    Decoder d(e.bytes());
    DataValue back;
    Status st = d.DataValue("dv", &back);
    ASSERT_TRUE(st.ok()) << i << ": " << st.ToString();
    EXPECT_EQ(back, dv) << i;
    EXPECT_EQ(d.remaining(), 0u) << i;
  }
  EXPECT_EQ(UaTicksToNs(NsToUaTicks(1'700'000'000'123'456'700)), 1'700'000'000'123'456'700);
  EXPECT_EQ(UaTicksToNs(kUnixEpochUaTicks), 0);
}

// A DateTime that does not fit ns since the epoch is "no timestamp" (the adapter falls back to
// the server's time, then its own clock), never a signed overflow: 0 and below and INT64_MAX (the
// spec's "no time" / max), anything before 1970 and anything after 2262-04-11.
TEST(OpcUaBinaryTest, DateTimeOutsideTheNsRangeIsNoTimestamp) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kLast = kUnixEpochUaTicks + kMax / 100;  // the last tick that fits TimeNs
  for (int64_t ticks :
       {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min(), kMax, kMax - 1, kUnixEpochUaTicks - 1,
        int64_t{1}, kLast + 1, int64_t{2650467743990000000} /* 9999-12-31T23:59:59Z */}) {
    EXPECT_EQ(UaTicksToNs(ticks), std::nullopt) << ticks;
  }
  EXPECT_EQ(UaTicksToNs(kUnixEpochUaTicks), std::optional<TimeNs>(0));
  EXPECT_EQ(UaTicksToNs(kLast), std::optional<TimeNs>(kMax / 100 * 100));
  EXPECT_EQ(UaTicksToNs(NsToUaTicks(kMax)), std::optional<TimeNs>(kMax / 100 * 100));
}

TEST(OpcUaBinaryTest, EveryTruncationIsAnErrorNamingFieldAndOffset) {
  Encoder e;
  e.DataValue({Variant{BuiltinType::kDouble, true, {1.0, 2.0}, {}}, 0, NsToUaTicks(1), 0, NsToUaTicks(2), 0});
  const std::string full = e.bytes();
  for (size_t n = 0; n < full.size(); ++n) {
    Decoder d(std::string_view(full).substr(0, n));
    DataValue dv;
    Status st = d.DataValue("Results.Value", &dv);
    ASSERT_FALSE(st.ok()) << n;
    // "truncated (need 8 bytes, 3 left)", or an array length that cannot fit in what is left.
    EXPECT_EQ(st.message().rfind("Results.Value: ", 0), 0u) << st.message();
    EXPECT_TRUE(st.message().find("truncated") != std::string::npos ||
                st.message().find("cannot fit") != std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("at offset"), std::string::npos) << st.message();
  }
}

TEST(OpcUaBinaryTest, CapsRejectHugeLengthsAndDeepNesting) {
  Encoder huge;
  huge.Int32(kMaxStringBytes + 1);
  std::string s;
  Status st = Decoder(huge.bytes()).String("Name", &s);
  EXPECT_NE(st.message().find("exceeds the cap"), std::string::npos) << st.message();

  Encoder arr;
  arr.Int32(1000);  // 1000 UInt32s promised, 4 bytes present
  arr.UInt32(1);
  size_t n = 0;
  st = Decoder(arr.bytes()).ArrayLength("Results", &n, 4);
  EXPECT_NE(st.message().find("cannot fit"), std::string::npos) << st.message();

  Encoder neg;
  neg.Int32(-7);
  st = Decoder(neg.bytes()).ArrayLength("Results", &n);
  EXPECT_NE(st.message().find("negative array length -7"), std::string::npos);

  // Variant inside Variant inside ... 100 deep.
  std::string nested;
  for (int i = 0; i < 100; ++i) nested.push_back(static_cast<char>(BuiltinType::kVariant));
  nested.push_back(0);
  Variant v;
  st = Decoder(nested).Variant("Value", &v);
  EXPECT_NE(st.message().find("nested deeper than"), std::string::npos) << st.message();
}

TEST(OpcUaBinaryTest, StatusCodeNamesAndSeverity) {
  EXPECT_EQ(StatusCodeName(0), "Good");
  EXPECT_EQ(StatusCodeName(0x803B0000), "BadNotWritable");
  EXPECT_EQ(StatusCodeName(0x80740400), "BadTypeMismatch");  // info bits ignored
  EXPECT_EQ(StatusCodeName(0x8FFF0000), "0x8FFF0000");
  EXPECT_TRUE(IsGood(0x00A50000));
  EXPECT_FALSE(IsGood(0x40920000));
  EXPECT_FALSE(IsBad(0x40920000));
  EXPECT_TRUE(IsBad(0x80340000));
}

TEST(OpcUaMessagesTest, ResponsesRefuseFaultsTrailingBytesAndWrongTypes) {
  auto response = [](uint32_t type, uint32_t service_result, const std::string& rest) {
    Encoder e;
    e.NodeId(NodeId::Numeric(0, type));
    e.DateTime(0);
    e.UInt32(1);
    e.StatusCode(service_result);
    e.Byte(0);      // diagnostics
    e.NullArray();  // string table
    e.ExtensionObject({});
    e.Raw(rest);
    return e.Take();
  };
  Encoder ok_body;
  ok_body.ArrayLength(1);
  ok_body.StatusCode(0x803B0000);
  ok_body.NullArray();
  WriteResponse w;
  ASSERT_TRUE(DecodeResponse(response(kWriteResponse, 0, ok_body.bytes()), &w).ok());
  ASSERT_EQ(w.results.size(), 1u);
  EXPECT_EQ(w.results[0], 0x803B0000u);

  Status st = DecodeResponse(response(kServiceFault, 0x80250000, ""), &w);
  EXPECT_EQ(st.message(), "WriteResponse: ServiceFault BadSessionIdInvalid");
  st = DecodeResponse(response(kWriteResponse, 0, ok_body.bytes() + "x"), &w);
  EXPECT_NE(st.message().find("1 trailing bytes"), std::string::npos) << st.message();
  st = DecodeResponse(response(kReadResponse, 0, ok_body.bytes()), &w);
  EXPECT_NE(st.message().find("unexpected response type i=634"), std::string::npos) << st.message();
}

TEST(OpcUaMessagesTest, PublishResponseCarriesDataChangesWithTimestamps) {
  Encoder dc;
  dc.ArrayLength(2);
  dc.UInt32(0);
  dc.DataValue({Variant::Of(BuiltinType::kDouble, 4.5), 0, NsToUaTicks(10'000'000'000), 0, 0, 0});
  dc.UInt32(1);
  dc.DataValue(
      {Variant::Of(BuiltinType::kInt32, int64_t{7}), 0x80000000, 0, 0, NsToUaTicks(20'000'000'000), 0});
  dc.NullArray();
  Encoder e;
  e.NodeId(NodeId::Numeric(0, kPublishResponse));
  e.DateTime(0);
  e.UInt32(1);
  e.StatusCode(0);
  e.Byte(0);
  e.NullArray();
  e.ExtensionObject({});
  e.UInt32(9);       // subscription
  e.ArrayLength(1);  // available sequence numbers
  e.UInt32(3);
  e.Boolean(false);
  e.UInt32(3);  // sequence number
  e.DateTime(NsToUaTicks(30'000'000'000));
  e.ArrayLength(1);
  e.ExtensionObject({NodeId::Numeric(0, kDataChangeNotification), 1, dc.bytes()});
  e.NullArray();
  e.NullArray();
  PublishResponse p;
  Status st = DecodeResponse(e.bytes(), &p);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(p.subscription_id, 9u);
  EXPECT_EQ(p.sequence_number, 3u);
  ASSERT_EQ(p.data_changes.size(), 2u);
  EXPECT_EQ(p.data_changes[0].value.value->AsDouble(), 4.5);
  EXPECT_EQ(UaTicksToNs(p.data_changes[0].value.source_timestamp), 10'000'000'000);
  EXPECT_EQ(UaTicksToNs(p.data_changes[1].value.server_timestamp), 20'000'000'000);
  EXPECT_TRUE(IsBad(p.data_changes[1].value.status));
  // Every prefix is refused, none crashes.
  for (size_t n = 0; n < e.size(); ++n) EXPECT_FALSE(DecodeResponse(e.bytes().substr(0, n), &p).ok()) << n;
}

TEST(OpcUaMessagesTest, HelloFramesItsSize) {
  std::string hel = EncodeHello("opc.tcp://127.0.0.1:4840", {});
  auto h = ParseFrameHeader(hel.substr(0, 8), 1 << 20);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->type, "HEL");
  EXPECT_EQ(h->size, hel.size());
  EXPECT_FALSE(ParseFrameHeader("XYZF\x20\0\0\0", 1 << 20).ok());
  auto url = ParseEndpointUrl("opc.tcp://[::1]:4841/path");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->port, 4841);
  EXPECT_EQ(ParseEndpointUrl("opc.tcp://h")->port, 4840);
  EXPECT_FALSE(ParseEndpointUrl("http://h:1").ok());
  EXPECT_FALSE(ParseEndpointUrl("opc.tcp://h:99999").ok());
}

TEST(OpcUaConfigTest, YamlAndJsonGiveTheSameOptions) {
  const char* yaml = R"(
endpoint: opc.tcp://127.0.0.1:4840
user: operator
password: s3cret
publishing_interval_ms: 250
mappings:
  - {node_id: "ns=1;s=Pump1.Flow", twin: pump-1, signal: flow_m3h}
writes:
  - {twin: pump-1, command: set_speed, node_id: "ns=1;s=Pump1.Speed"}
  - {twin: pump-1, property: mode, node_id: "ns=1;s=Pump1.Mode"}
)";
  const char* json = R"({"endpoint": "opc.tcp://127.0.0.1:4840", "user": "operator", "password": "s3cret",
    "publishing_interval_ms": 250, "channel_lifetime_ms": 600000,
    "mappings": [{"node_id": "ns=1;s=Pump1.Flow", "twin": "pump-1", "signal": "flow_m3h"}],
    "writes": [{"twin": "pump-1", "command": "set_speed", "node_id": "ns=1;s=Pump1.Speed"},
               {"twin": "pump-1", "property": "mode", "node_id": "ns=1;s=Pump1.Mode"}]})";
  for (const char* text : {yaml, json}) {
    auto o = ParseOpcUaConfigText(text, "cfg");
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->client.endpoint, "opc.tcp://127.0.0.1:4840");
    EXPECT_EQ(o->client.user, "operator");
    EXPECT_EQ(o->publishing_interval_ms, 250);
    EXPECT_EQ(o->client.channel_lifetime_ms, text == yaml ? 3'600'000u : 600'000u);  // default 1 h
    ASSERT_EQ(o->mappings.size(), 1u);
    EXPECT_EQ(o->mappings[0].signal, "flow_m3h");
    ASSERT_EQ(o->writes.size(), 2u);
    EXPECT_EQ(o->writes[1].property, "mode");
  }
}

TEST(OpcUaConfigTest, ErrorsNameTheField) {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"mappings: []", "cfg: opcua.endpoint: required"},
      {"endpoint: http://x:1\nmappings: [{node_id: i=1, twin: t, signal: s}]", "endpoint 'http://x:1'"},
      {"endpoint: opc.tcp://h:1\nmappings: [{node_id: 'ns=1;q=2', twin: t, signal: s}]",
       "opcua: mappings[0].node_id: node id"},
      {"endpoint: opc.tcp://h:1\nmappings: [{node_id: i=1, twin: t, sgnal: s}]",
       "opcua.mappings[0].sgnal: unknown key"},
      {"endpoint: opc.tcp://h:1\nwrites: [{twin: t, command: c, property: p, node_id: i=1}]",
       "writes[0]: set exactly one"},
      {"endpoint: opc.tcp://h:1\npublishing_interval_ms: fast\nmappings: [{node_id: i=1, twin: t, signal: "
       "s}]",
       "opcua.publishing_interval_ms: expected a number"},
      {"endpoint: opc.tcp://h:1", "mappings and writes are both empty"},
      {"endpoint: opc.tcp://h:1\nchannel_lifetime_ms: 500\nmappings: [{node_id: i=1, twin: t, signal: s}]",
       "opcua.channel_lifetime_ms: must be in 1000..4294967295"},
      {"endpoint: opc.tcp://h:1\nchannel_lifetime_ms: -1\nmappings: [{node_id: i=1, twin: t, signal: s}]",
       "opcua.channel_lifetime_ms: must be in"},
      {"endpoint: [", "cfg: line"},
  };
  for (const Case& c : cases) {
    auto o = ParseOpcUaConfigText(c.text, "cfg");
    ASSERT_FALSE(o.ok()) << c.text;
    EXPECT_NE(o.status().message().find(c.expect), std::string::npos) << o.status().message();
  }
}

}  // namespace
}  // namespace doppel::ingest::opcua
