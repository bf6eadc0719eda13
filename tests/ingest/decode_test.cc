#include "doppel/ingest/decode.h"

#include <gtest/gtest.h>

namespace doppel::ingest {
namespace {

TEST(DecodeTelemetryTest, EveryNumericMemberBecomesAReadingAtTheMessageTimestamp) {
  auto r =
      DecodeTelemetry("pump-1", R"({"ts": 1700000000000000001, "flow_m3h": 101.5, "speed_rpm": 1450})", 7);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].twin, "pump-1");
  EXPECT_EQ((*r)[0].signal, "flow_m3h");
  EXPECT_DOUBLE_EQ((*r)[0].value, 101.5);
  EXPECT_EQ((*r)[0].source_ts_ns, 1700000000000000001);
  EXPECT_EQ((*r)[1].signal, "speed_rpm");
  EXPECT_EQ((*r)[1].source_ts_ns, 1700000000000000001);
}

TEST(DecodeTelemetryTest, TimestampAfterValuesStillApplies) {
  auto r = DecodeTelemetry("t", R"({"a": 1, "ts": 42, "quality": "uncertain"})", 7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].source_ts_ns, 42);
  EXPECT_EQ((*r)[0].quality, Quality::kUncertain);
}

TEST(DecodeTelemetryTest, MissingTimestampUsesArrivalTime) {
  auto r = DecodeTelemetry("t", R"({"a": -2.5e3})", 99);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].source_ts_ns, 99);
  EXPECT_DOUBLE_EQ((*r)[0].value, -2500);
}

TEST(DecodeTelemetryTest, NullMembersAreDroppedOutSensors) {
  auto r = DecodeTelemetry("t", R"({"ts": 1, "a": null, "b": 2})", 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].signal, "b");
}

TEST(DecodeTelemetryTest, ErrorsNameTheMemberAndReason) {
  struct Case {
    const char* payload;
    const char* expect;
  } cases[] = {
      {R"({"flow_m3h": nope)", "$"},
      {R"([1,2])", "expected a JSON object"},
      {R"({"flow_m3h": "high"})", "$.flow_m3h: expected a number"},
      {R"({"ts": "yesterday", "a": 1})", "$.ts"},
      {R"({"ts": 1.5, "a": 1})", "$.ts"},
      {R"({"ts": -5, "a": 1})", "negative"},
      {R"({"quality": "great", "a": 1})", "unknown quality 'great'"},
      {R"({"a": 1} {"b": 2})", "not valid JSON"},
      {"", "$"},
      // simdjson reports a bad number without a location: the member and the offset are named.
      {R"({"a": 1e400})", "$.a: not valid JSON: number out of range (overflows a double): 1e400 at offset 6"},
      {R"({"ts": 18446744073709551616, "a": 1})",
       "$.ts: not valid JSON: integer out of range (int64/uint64): 18446744073709551616 at offset 7"},
      {R"({"a": 1, "b": -9223372036854775809})", "$.b: not valid JSON: integer out of range"},
      {R"({"a": 1, "b": 01})", "$.b: not valid JSON: malformed number: 01 at offset 14"},
  };
  for (const auto& c : cases) {
    auto r = DecodeTelemetry("t", c.payload, 0);
    ASSERT_FALSE(r.ok()) << c.payload;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.expect), std::string::npos)
        << c.payload << " -> " << r.status().message();
  }
}

TEST(DecodeIngestBatchTest, DecodesEveryReading) {
  auto r = DecodeIngestBatch(R"({"readings": [
      {"twin": "pump-1", "signal": "flow_m3h", "ts": 10, "value": 1.5},
      {"twin": "tank-1", "signal": "level_m", "ts": 11, "value": 2, "quality": "bad"}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].twin, "tank-1");
  EXPECT_EQ((*r)[1].quality, Quality::kBad);
  EXPECT_EQ((*r)[1].source_ts_ns, 11);
}

TEST(DecodeIngestBatchTest, ABadElementRejectsTheBatchAndIsNamed) {
  auto r = DecodeIngestBatch(R"({"readings": [
      {"twin": "pump-1", "signal": "flow_m3h", "ts": 10, "value": 1.5},
      {"twin": "pump-1", "signal": "flow_m3h", "ts": 10, "value": "x"}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$.readings[1].value"), std::string::npos) << r.status().message();
  r = DecodeIngestBatch(R"({"readings": [{"twin": "p", "signal": "s", "value": 1}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing \"ts\""), std::string::npos);
  r = DecodeIngestBatch(R"({"rows": []})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$.rows"), std::string::npos);
  EXPECT_FALSE(DecodeIngestBatch("{}").ok());
  // A bad number is named by its path (a string holding quotes before it does not confuse it).
  r = DecodeIngestBatch(R"({"readings": [{"twin": "p", "signal": "s", "ts": 1, "value": 1},
      {"twin": "p", "signal": "s\",\"x", "ts": 1, "value": 1e999}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("$.readings[1].value: not valid JSON: number out of range"),
            std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace doppel::ingest
