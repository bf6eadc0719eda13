#include "doppel/ingest/modbus_map.h"

#include <gtest/gtest.h>

#include <cmath>

namespace doppel::ingest {
namespace {

std::vector<uint16_t> Regs(std::initializer_list<uint16_t> r) { return r; }

double Decode(std::vector<uint16_t> regs, ModbusType t, WordOrder o = WordOrder::kBigEndian, double scale = 1,
              double offset = 0) {
  auto v = DecodeRegisters(regs, RegisterFormat{t, o, scale, offset});
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return v.ok() ? *v : -999;
}

TEST(ModbusMapTest, DecodesKnownRegisterPatternsExactly) {
  EXPECT_EQ(Decode(Regs({0xFB2E}), ModbusType::kInt16), -1234);
  EXPECT_EQ(Decode(Regs({0xFB2E}), ModbusType::kUint16), 0xFB2E);
  EXPECT_EQ(Decode(Regs({0x8000}), ModbusType::kInt16), -32768);
  EXPECT_EQ(Decode(Regs({0x0002}), ModbusType::kBool), 1);
  // -123456789 = 0xF8A432EB
  EXPECT_EQ(Decode(Regs({0xF8A4, 0x32EB}), ModbusType::kInt32, WordOrder::kBigEndian), -123456789);
  EXPECT_EQ(Decode(Regs({0x32EB, 0xF8A4}), ModbusType::kInt32, WordOrder::kLittleEndian), -123456789);
  // 4000000000 = 0xEE6B2800
  EXPECT_EQ(Decode(Regs({0xEE6B, 0x2800}), ModbusType::kUint32), 4000000000.0);
  EXPECT_EQ(Decode(Regs({0x2800, 0xEE6B}), ModbusType::kUint32, WordOrder::kLittleEndian), 4000000000.0);
  // 12.375f = 0x41460000, -0.15625f = 0xBE200000
  EXPECT_EQ(Decode(Regs({0x4146, 0x0000}), ModbusType::kFloat32), 12.375);
  EXPECT_EQ(Decode(Regs({0x0000, 0xBE20}), ModbusType::kFloat32, WordOrder::kLittleEndian), -0.15625);
}

TEST(ModbusMapTest, ScaleAndOffsetApplyAfterDecoding) {
  EXPECT_DOUBLE_EQ(Decode(Regs({215}), ModbusType::kInt16, WordOrder::kBigEndian, 0.1), 21.5);
  EXPECT_DOUBLE_EQ(Decode(Regs({0xFFFF}), ModbusType::kInt16, WordOrder::kBigEndian, 0.5, 10), 9.5);
}

TEST(ModbusMapTest, EncodeThenDecodeRoundTripsForEveryTypeAndWordOrder) {
  struct Case {
    ModbusType type;
    std::vector<double> values;
  };
  const Case cases[] = {
      {ModbusType::kBool, {0, 1}},
      {ModbusType::kInt16, {-32768, -1, 0, 1, 32767}},
      {ModbusType::kUint16, {0, 1, 54321, 65535}},
      {ModbusType::kInt32, {-2147483648.0, -123456789, -1, 0, 70000, 2147483647.0}},
      {ModbusType::kUint32, {0, 65536, 4000000000.0, 4294967295.0}},
      {ModbusType::kFloat32, {0, -0.15625, 12.375, 1e30, -3.0e-20}},
  };
  for (const auto& c : cases) {
    for (WordOrder o : {WordOrder::kBigEndian, WordOrder::kLittleEndian}) {
      for (double v : c.values) {
        RegisterFormat f{c.type, o, 1, 0};
        auto regs = EncodeRegisters(v, f);
        ASSERT_TRUE(regs.ok()) << ModbusTypeName(c.type) << " " << v << ": " << regs.status().ToString();
        ASSERT_EQ(static_cast<int>(regs->size()), RegisterCount(c.type));
        auto back = DecodeRegisters(*regs, f);
        ASSERT_TRUE(back.ok());
        const double want = c.type == ModbusType::kFloat32 ? static_cast<double>(static_cast<float>(v)) : v;
        EXPECT_EQ(*back, want) << ModbusTypeName(c.type) << " " << WordOrderName(o);
      }
    }
  }
}

TEST(ModbusMapTest, WordOrdersAreEachOthersWordSwap) {
  RegisterFormat big{ModbusType::kInt32, WordOrder::kBigEndian, 1, 0};
  RegisterFormat little{ModbusType::kInt32, WordOrder::kLittleEndian, 1, 0};
  auto a = EncodeRegisters(-123456789, big);
  auto b = EncodeRegisters(-123456789, little);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, Regs({0xF8A4, 0x32EB}));
  EXPECT_EQ(*b, Regs({0x32EB, 0xF8A4}));
}

TEST(ModbusMapTest, EncodingScalesRoundsAndRejectsValuesOutsideTheType) {
  RegisterFormat f{ModbusType::kUint16, WordOrder::kBigEndian, 0.1, 0};
  auto r = EncodeRegisters(21.46, f);  // raw 214.6 -> 215
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Regs({215}));
  auto over = EncodeRegisters(7000, f);  // raw 70000 does not fit uint16
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("uint16 range [0, 65535]"), std::string::npos)
      << over.status().message();
  EXPECT_FALSE(EncodeRegisters(-1, RegisterFormat{ModbusType::kUint32, WordOrder::kBigEndian, 1, 0}).ok());
  EXPECT_FALSE(EncodeRegisters(std::nan(""), f).ok());
  EXPECT_FALSE(
      EncodeRegisters(1e300, RegisterFormat{ModbusType::kFloat32, WordOrder::kBigEndian, 1, 0}).ok());
}

TEST(ModbusMapTest, WrongRegisterCountsAndBadFormatsAreErrors) {
  auto v = DecodeRegisters(Regs({1}), RegisterFormat{ModbusType::kFloat32, WordOrder::kBigEndian, 1, 0});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("float32 needs 2 register(s), got 1"), std::string::npos);
  EXPECT_FALSE(
      DecodeRegisters(Regs({1}), RegisterFormat{ModbusType::kUint16, WordOrder::kBigEndian, 0, 0}).ok());
}

TEST(ModbusMapTest, ParsersAcceptDocumentedNamesAndListThemOnError) {
  EXPECT_EQ(*ParseWordOrder("CDAB"), WordOrder::kLittleEndian);
  EXPECT_EQ(*ParseWordOrder("big"), WordOrder::kBigEndian);
  EXPECT_EQ(*ParseModbusTable("discrete"), ModbusTable::kDiscrete);
  EXPECT_EQ(*ParseModbusType("float32"), ModbusType::kFloat32);
  auto bad = ParseModbusType("float");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("expected bool, int16"), std::string::npos);
}

TEST(ModbusMapTest, PlanReadsGroupsContiguousAddressesPerTable) {
  std::vector<AddressSpan> spans = {
      {ModbusTable::kHolding, 2, 2},   // 0
      {ModbusTable::kHolding, 0, 1},   // 1
      {ModbusTable::kInput, 0, 1},     // 2
      {ModbusTable::kHolding, 1, 1},   // 3
      {ModbusTable::kHolding, 10, 2},  // 4: gap of 6 -> own block
      {ModbusTable::kCoil, 0, 1},      // 5
      {ModbusTable::kCoil, 1, 1},      // 6
  };
  auto blocks = PlanReads(spans);
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[0].table, ModbusTable::kHolding);
  EXPECT_EQ(blocks[0].start, 0);
  EXPECT_EQ(blocks[0].count, 4);
  EXPECT_EQ(blocks[0].points, (std::vector<size_t>{1, 3, 0}));
  EXPECT_EQ(blocks[1].start, 10);
  EXPECT_EQ(blocks[1].count, 2);
  EXPECT_EQ(blocks[2].table, ModbusTable::kInput);
  EXPECT_EQ(blocks[3].table, ModbusTable::kCoil);
  EXPECT_EQ(blocks[3].count, 2);
  // With a gap allowance of 6 the two holding blocks merge.
  EXPECT_EQ(PlanReads(spans, 125, 2000, 6).size(), 3u);
  // The per-request limit splits long runs.
  std::vector<AddressSpan> many;
  for (int a = 0; a < 130; ++a) many.push_back({ModbusTable::kHolding, a, 1});
  auto split = PlanReads(many, 125);
  ASSERT_EQ(split.size(), 2u);
  EXPECT_EQ(split[0].count, 125);
  EXPECT_EQ(split[1].start, 125);
  EXPECT_EQ(split[1].count, 5);
}

}  // namespace
}  // namespace doppel::ingest
