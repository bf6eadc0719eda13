// Chunk codec: golden bytes written from docs/formats/chunk.md by hand, bit-exact round trips
// for every kind of double, and a decoder that rejects damage without crashing.
#include "doppel/store/chunk_codec.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "doppel/store/chunk_format.h"
#include "doppel/store/chunk_rice.h"
#include "doppel/store/coding.h"

namespace doppel::store {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

void ExpectBitExact(const std::vector<Sample>& a, const std::vector<Sample>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].ts_ns, b[i].ts_ns) << i;
    EXPECT_EQ(std::bit_cast<uint64_t>(a[i].value), std::bit_cast<uint64_t>(b[i].value)) << i;
    EXPECT_EQ(a[i].quality, b[i].quality) << i;
  }
}

std::vector<Sample> RoundTrip(const std::vector<Sample>& in) {
  std::string bytes;
  EncodeChunk(in, &bytes);
  std::vector<Sample> out;
  Status st = DecodeChunk(bytes, &out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(ChunkCodecTest, SmallDecimalChunkMatchesTheDocumentedBytes) {
  // ts 10, 20, 30 ns; values 1.5, 2.5, 3.5 -> decimal scale 1, ints 15 25 35, order 2.
  const std::string golden =
      Bytes({0x01, 0x03,                    // version, count
             0x14, 0x0A, 0x01, 0x01, 0x80,  // ts0=zz(10), unit 10, delta 1, dods: one zero block
             0x02, 0x01, 0x02, 0x1E, 0x14,  // decimal, scale 1, order 2, zz(15), zz(10)
             0x01, 0xC0,                    // bits: residual block zero, ulp block zero
             0x00});                        // qualities all good
  std::vector<Sample> in = {{10, 1.5}, {20, 2.5}, {30, 3.5}};
  std::string bytes;
  EncodeChunk(in, &bytes);
  EXPECT_EQ(bytes, golden);
  std::vector<Sample> out;
  ASSERT_TRUE(DecodeChunk(golden, &out).ok());
  EXPECT_EQ(out, in);
}

TEST(ChunkCodecTest, EveryKindOfDoubleRoundTripsBitExactly) {
  const double nan_payload = std::bit_cast<double>(0x7FF8000000012345ull);
  std::vector<double> specials = {0.0,
                                  -0.0,
                                  1.0,
                                  -1.0,
                                  std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity(),
                                  nan_payload,
                                  std::numeric_limits<double>::denorm_min(),
                                  std::numeric_limits<double>::max(),
                                  std::numeric_limits<double>::lowest(),
                                  1e300,
                                  -1e-300,
                                  0.1,
                                  1.7619999999999998};
  std::mt19937_64 rng(7);
  std::vector<Sample> in;
  TimeNs t = -1'000'000;
  for (int i = 0; i < 3000; ++i) {
    t += 1 + static_cast<TimeNs>(rng() % 5000);
    double v = (i % 5 == 0) ? specials[rng() % specials.size()] : std::bit_cast<double>(rng());
    in.push_back({t, v, static_cast<Quality>(rng() % 3)});
  }
  ExpectBitExact(RoundTrip(in), in);
}

TEST(ChunkCodecTest, DecimalDataWithFloatArtifactsRoundTripsAndUsesDecimalMode) {
  // Values as printed by tools that format binary doubles: 1.762 and its neighbour 1 ulp down.
  std::vector<Sample> in;
  for (int i = 0; i < 500; ++i) {
    double v = (1700 + (i * 37) % 200) / 1000.0;
    if (i % 7 == 0) v = std::nextafter(v, 0.0);
    if (i % 11 == 0) v = -0.0;
    in.push_back({i * 300 * kNsPerS, v});
  }
  std::string bytes;
  EncodeChunk(in, &bytes);
  EXPECT_EQ(chunkcodec_internal::ValueModeOf(bytes), chunkfmt::kValuesDecimal);
  EXPECT_LT(bytes.size(), in.size() * 2);  // about 13 bits of value per sample
  ExpectBitExact(RoundTrip(in), in);
}

TEST(ChunkCodecTest, DecimalSeriesOfEveryShapeRoundTripBitExactly) {
  // Decimal data whose Rice codes need every path of the bit writer: all-zero blocks, small
  // and very large Rice parameters (codes longer than 64 bits), escapes after huge jumps,
  // irregular timestamps, and lengths around the 128-value block size.
  std::mt19937_64 rng(3);
  for (int shape = 0; shape < 40; ++shape) {
    const size_t n = 1 + rng() % 700;
    const int scale = static_cast<int>(rng() % 6);
    const double step = std::pow(10.0, static_cast<double>(rng() % 14));  // 1 .. 1e13 units
    std::vector<Sample> in;
    TimeNs t = static_cast<TimeNs>(rng() % 1000) * kNsPerS;
    int64_t units = static_cast<int64_t>(rng() % 100000);
    for (size_t i = 0; i < n; ++i) {
      t += (shape % 3 == 0) ? 100 * kNsPerMs
                            : 1 + static_cast<TimeNs>(rng() % (shape % 3 == 1 ? 10 : 5000000));
      if (shape % 4 != 0 || i % 200 > 150) {  // some runs of equal values: zero residual blocks
        units += static_cast<int64_t>((static_cast<double>(rng() % 2001) - 1000.0) * step / 1000.0);
      }
      if (rng() % 97 == 0) units += static_cast<int64_t>(1) << (30 + rng() % 20);  // escape
      in.push_back({t, static_cast<double>(units) / std::pow(10.0, scale)});
    }
    ExpectBitExact(RoundTrip(in), in);
  }
}

TEST(ChunkCodecTest, ConstantValuesAtARegularIntervalCostAFewBytes) {
  std::vector<Sample> in;
  for (int i = 0; i < 1024; ++i) in.push_back({1'700'000'000 * kNsPerS + i * kNsPerS, 42.0});
  std::string bytes;
  EncodeChunk(in, &bytes);
  EXPECT_EQ(chunkcodec_internal::ValueModeOf(bytes), chunkfmt::kValuesConstant);
  EXPECT_LT(bytes.size(), 40u);
  ExpectBitExact(RoundTrip(in), in);
}

TEST(ChunkCodecTest, SingleSampleAndExtremeTimestampsRoundTrip) {
  ExpectBitExact(RoundTrip({{std::numeric_limits<TimeNs>::min(), 1.0}}),
                 {{std::numeric_limits<TimeNs>::min(), 1.0}});
  std::vector<Sample> in = {
      {std::numeric_limits<TimeNs>::min(), 1.0}, {0, 2.0}, {std::numeric_limits<TimeNs>::max(), 3.0}};
  ExpectBitExact(RoundTrip(in), in);
}

TEST(ChunkCodecTest, SummaryIgnoresNaNAndKeepsTheEarliestExtremes) {
  std::vector<Sample> in = {{1, std::nan("")}, {2, 5.0}, {3, 1.0}, {4, 5.0}, {5, 1.0}, {6, std::nan("")}};
  ChunkSummary m = SummarizeSamples(in);
  EXPECT_EQ(m.count, 6u);
  EXPECT_EQ(m.value_count, 4u);
  EXPECT_EQ(m.min.ts_ns, 3);
  EXPECT_EQ(m.max.ts_ns, 2);
  EXPECT_EQ(m.sum, 12.0);
  EXPECT_EQ(m.first.ts_ns, 1);
  EXPECT_EQ(m.last.ts_ns, 6);
}

TEST(ChunkCodecTest, DecoderRejectsEveryTruncationAndFlippedByteWithoutCrashing) {
  std::vector<Sample> in;
  for (int i = 0; i < 300; ++i)
    in.push_back({i * 1000 + (i % 3), std::sin(i * 0.1), static_cast<Quality>(i / 100)});
  std::string bytes;
  EncodeChunk(in, &bytes);
  std::vector<Sample> out;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeChunk(std::string_view(bytes).substr(0, n), &out).ok()) << n;
    EXPECT_TRUE(out.empty());
  }
  EXPECT_FALSE(DecodeChunk(bytes + "x", &out).ok());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x5A);
    out.clear();
    (void)DecodeChunk(bad, &out);  // may decode to other values (the segment CRC catches that)
  }
}

TEST(ChunkCodecTest, BitWriterStoresExactlyTheBitsWrittenMostSignificantFirst) {
  // Against a bit-by-bit reference, through both the plain writer and runs, for every width.
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    coding::BitWriter w;
    std::vector<bool> ref;
    for (int op = 0; op < 300; ++op) {
      const int n = static_cast<int>(rng() % 65);
      const uint64_t v = rng() >> (rng() % 64);
      for (int b = n - 1; b >= 0; --b) ref.push_back((v >> b) & 1);
      if (rng() % 2) {
        w.Write(v, n);
      } else if (n > 0) {
        coding::BitWriter::Run r = w.Begin(static_cast<size_t>(n));
        r.Put(n == 64 ? v : v & ((1ull << n) - 1), n);
        w.End(r);
      }
    }
    std::string expect((ref.size() + 7) / 8, '\0');
    for (size_t i = 0; i < ref.size(); ++i) {
      if (ref[i]) expect[i / 8] = static_cast<char>(expect[i / 8] | (0x80 >> (i % 8)));
    }
    ASSERT_EQ(w.bits(), ref.size());
    ASSERT_EQ(w.Finish(), expect) << trial;
    std::string prefixed;
    w.FinishLengthPrefixed(&prefixed);
    coding::Cursor c(prefixed);
    std::string_view body;
    ASSERT_TRUE(c.LengthPrefixed(&body));
    EXPECT_EQ(body, expect);
    EXPECT_EQ(c.remaining(), 0u);
  }
}

TEST(ChunkCodecTest, RiceSizeIsExactBoundedBelowAndDecodesBack) {
  // Blocks of every shape: zeros, small geometric-like values, mixes with escapes, values near
  // 2^64 (the exact double-summed mean), lengths around the block size.
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = rng() % 600;
    const int scale = static_cast<int>(rng() % 64);
    std::vector<uint64_t> v(n);
    for (uint64_t& x : v) {
      x = rng() % 4 == 0 ? 0 : (rng() >> (63 - scale % 64)) >> (rng() % 8);
      if (rng() % 50 == 0) x = rng();  // escapes
    }
    std::vector<rice::BlockStats> stats(rice::RiceBlocks(n));
    std::vector<uint8_t> ks(rice::RiceBlocks(n));
    rice::ComputeBlockStats(v.data(), n, stats.data());
    const uint64_t bits = rice::RiceBits(v.data(), n, stats.data(), ks.data());
    EXPECT_LE(rice::RiceBitsLowerBound(v.data(), n, stats.data()), bits) << trial;
    coding::BitWriter w;
    rice::PutRice(v.data(), n, ks.data(), stats.data(), bits, &w);
    ASSERT_EQ(w.bits(), bits) << trial;
    const std::string bytes = w.Finish();
    coding::BitReader r(bytes);
    std::vector<uint64_t> back;
    ASSERT_TRUE(rice::GetRice(&r, n, &back)) << trial;
    EXPECT_EQ(back, v) << trial;
  }
}

}  // namespace
}  // namespace doppel::store
