// Chunk encoder golden bytes: the exact output of EncodeChunk for representative inputs, pinned
// (as FNV-1a 64 hashes and sizes) from the encoder of commit 33a3529. The chunk format leaves
// the encoder choices (Rice parameter, value mode) free, but sealed chunks are compared and
// deduplicated by bytes and the measured sizes in docs/formats/chunk.md rest on these choices,
// so an optimization of the encoder must reproduce them exactly. Inputs are built from integer
// arithmetic and correctly rounded IEEE division only (no libm), so they are the same on every
// platform.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "doppel/store/chunk_codec.h"
#include "doppel/store/chunk_format.h"

namespace doppel::store {
namespace {

// splitmix64: a fixed, portable pseudo-random sequence.
struct Rng {
  uint64_t s;
  uint64_t operator()() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int64_t Uniform(int64_t lo, int64_t hi) {  // [lo, hi]
    return lo + static_cast<int64_t>((*this)() % static_cast<uint64_t>(hi - lo + 1));
  }
};

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
  return h;
}

std::string Hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(d[static_cast<uint8_t>(c) >> 4]);
    out.push_back(d[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

constexpr TimeNs kT0 = 1'700'000'000 * kNsPerS;
constexpr TimeNs k100Ms = 100 * kNsPerMs;

// A plant sensor at 10 Hz printed with `decimals` digits: a random walk in printed units
// around `level`, with the occasional late-by-a-millisecond timestamp.
std::vector<Sample> PlantSeries(uint64_t seed, size_t n, int decimals, int64_t level, int64_t step) {
  Rng rng{seed};
  int64_t pow10 = 1;
  for (int i = 0; i < decimals; ++i) pow10 *= 10;
  std::vector<Sample> s;
  int64_t units = level;
  for (size_t i = 0; i < n; ++i) {
    units += rng.Uniform(-step, step);
    TimeNs t = kT0 + static_cast<TimeNs>(i) * k100Ms + (rng() % 50 == 0 ? kNsPerMs : 0);
    s.push_back({t, static_cast<double>(units) / static_cast<double>(pow10)});
  }
  return s;
}

struct Case {
  const char* name;
  std::function<std::vector<Sample>()> make;
  uint64_t hash;
  size_t size;
  int value_mode;  // chunkfmt::ValueMode the encoder picks (what the case exercises)
};

std::vector<Case> Cases() {
  return {
      {"plant_10hz_2_decimals", [] { return PlantSeries(1, 1024, 2, 350, 3); }, 0xc37167882021ed0e, 599,
       chunkfmt::kValuesDecimal},
      {"plant_10hz_3_decimals", [] { return PlantSeries(2, 1024, 3, 61'250, 40); }, 0xd66857df9038ada8, 1015,
       chunkfmt::kValuesDecimal},
      {"plant_10hz_1_decimal_slow", [] { return PlantSeries(3, 1024, 1, 4'500, 1); }, 0x329a76b65a8a28f5, 425,
       chunkfmt::kValuesDecimal},
      {"plant_short_head", [] { return PlantSeries(4, 37, 2, -1'234, 5); }, 0x72a94677f1201a95, 44,
       chunkfmt::kValuesDecimal},
      {"float_artifacts_ulp_residuals",
       [] {
         // k * 0.001 is not k / 1000.0 for many k (1.7619999999999998): ulp residuals.
         Rng rng{5};
         std::vector<Sample> s;
         int64_t k = 1'700;
         for (size_t i = 0; i < 1024; ++i) {
           k += rng.Uniform(-4, 4);
           s.push_back({kT0 + static_cast<TimeNs>(i) * k100Ms, static_cast<double>(k) * 0.001});
         }
         return s;
       },
       0xde151f4a0285dfc7, 706, chunkfmt::kValuesDecimal},
      {"smooth_quadratic_order2",
       [] {
         std::vector<Sample> s;
         for (int64_t i = 0; i < 1024; ++i) {
           s.push_back({kT0 + i * k100Ms, static_cast<double>(5'000 + 3 * i + (i * i) / 7) / 1000.0});
         }
         return s;
       },
       0xa4cb1393c8422d53, 237, chunkfmt::kValuesDecimal},
      {"noise_around_level_order0",
       [] {
         Rng rng{6};
         std::vector<Sample> s;
         for (int64_t i = 0; i < 1024; ++i) {
           s.push_back({kT0 + i * k100Ms, static_cast<double>(2'000 + rng.Uniform(-9, 9)) / 100.0});
         }
         return s;
       },
       0x7fbaddbde63d460c, 678, chunkfmt::kValuesDecimal},
      {"constant",
       [] {
         std::vector<Sample> s;
         for (int64_t i = 0; i < 1024; ++i) s.push_back({kT0 + i * kNsPerS, 42.5});
         return s;
       },
       0x7fe0d8d9308cf813, 30, chunkfmt::kValuesConstant},
      {"integer_counter",
       [] {
         Rng rng{7};
         std::vector<Sample> s;
         int64_t c = 1'000'000;
         for (int64_t i = 0; i < 1024; ++i) {
           c += rng.Uniform(0, 20);
           s.push_back({kT0 + i * kNsPerS, static_cast<double>(c)});
         }
         return s;
       },
       0x29c83c0cb123dfd9, 719, chunkfmt::kValuesDecimal},
      {"irregular_timestamps_ns_jitter",
       [] {
         Rng rng{8};
         std::vector<Sample> s;
         TimeNs t = kT0;
         for (int64_t i = 0; i < 1000; ++i) {
           // Two draws in a fixed order (in one expression their order is unspecified, and
           // GCC's optimized and debug builds took them in different orders).
           const uint64_t gap_draw = rng();
           const bool long_gap = rng() % 10 == 0;
           t += 1 + static_cast<TimeNs>(gap_draw % (long_gap ? 5'000'000'000ull : 150'000'000ull));
           s.push_back({t, static_cast<double>(rng.Uniform(-50'000, 50'000)) / 1000.0});
         }
         return s;
       },
       0xfc811ad3224d7696, 6100, chunkfmt::kValuesDecimal},
      {"irregular_whole_seconds",
       [] {
         Rng rng{9};
         std::vector<Sample> s;
         TimeNs t = kT0;
         for (int64_t i = 0; i < 700; ++i) {
           t += static_cast<TimeNs>(1 + rng() % 300) * kNsPerS;
           s.push_back({t, static_cast<double>(rng.Uniform(0, 9)) / 10.0});
         }
         return s;
       },
       0x9b263c969d41125c, 1170, chunkfmt::kValuesDecimal},
      {"nan_inf_and_specials",
       [] {
         Rng rng{10};
         const double sp[] = {std::numeric_limits<double>::quiet_NaN(),
                              std::numeric_limits<double>::infinity(),
                              -std::numeric_limits<double>::infinity(),
                              std::bit_cast<double>(0x7FF8000000012345ull),
                              -0.0,
                              0.0,
                              std::numeric_limits<double>::denorm_min(),
                              std::numeric_limits<double>::max(),
                              1e300};
         std::vector<Sample> s;
         for (int64_t i = 0; i < 600; ++i) {
           double v = i % 4 == 0 ? sp[rng() % 9] : static_cast<double>(rng.Uniform(-9'999, 9'999)) / 100.0;
           s.push_back({kT0 + i * k100Ms, v});
         }
         return s;
       },
       0x1b8b51a5d93fc2ab, 4977, chunkfmt::kValuesXor},
      {"nan_once_in_decimal_data",
       [] {
         std::vector<Sample> s = PlantSeries(11, 512, 2, 100, 2);
         s[300].value = std::numeric_limits<double>::quiet_NaN();
         return s;
       },
       0x3333af8aec05e313, 2920, chunkfmt::kValuesXor},
      {"negative_values_and_negative_zero",
       [] {
         Rng rng{12};
         std::vector<Sample> s;
         for (int64_t i = 0; i < 800; ++i) {
           double v = i % 13 == 0 ? -0.0 : static_cast<double>(rng.Uniform(-30'000, -1)) / 1000.0;
           s.push_back({-kT0 + i * k100Ms, v});
         }
         return s;
       },
       0xf2a14478eeb2f30f, 1726, chunkfmt::kValuesDecimal},
      {"random_bits_with_quality_runs",
       [] {
         Rng rng{13};
         std::vector<Sample> s;
         for (int64_t i = 0; i < 1024; ++i) {
           s.push_back({kT0 + i * k100Ms, std::bit_cast<double>(rng()), static_cast<Quality>((i / 100) % 3)});
         }
         return s;
       },
       0xed48257329223e4, 8497, chunkfmt::kValuesXor},
      {"high_precision_scale_15",
       [] {
         Rng rng{14};
         std::vector<Sample> s;
         for (int64_t i = 0; i < 1024; ++i) {
           s.push_back({kT0 + i * k100Ms, static_cast<double>(rng() >> 11) / 9007199254740992.0});
         }
         return s;
       },
       0xdcaf3395f8a84e60, 7316, chunkfmt::kValuesDecimal},
      {"single_sample",
       [] {
         return std::vector<Sample>{{kT0, 3.25}};
       },
       0xdb283a0dda55d0bc, 21, chunkfmt::kValuesConstant},
      {"single_sample_extreme",
       [] {
         return std::vector<Sample>{{INT64_MIN, -0.0, Quality::kBad}};
       },
       0x5090af3af96f67fe, 25, chunkfmt::kValuesConstant},
      {"two_samples",
       [] {
         return std::vector<Sample>{{-5, 1.5}, {INT64_MAX, -2.25}};
       },
       0x6ba993feeb21e24c, 25, chunkfmt::kValuesDecimal},
      {"block_edge_129", [] { return PlantSeries(15, 129, 2, 800, 50); }, 0x5cacb5121dbb2bd8, 159,
       chunkfmt::kValuesDecimal},
      {"huge_jumps_escapes",
       [] {
         Rng rng{16};
         std::vector<Sample> s;
         int64_t u = 0;
         TimeNs t = 0;
         for (int64_t i = 0; i < 900; ++i) {
           u += rng.Uniform(-100, 100);
           if (rng() % 60 == 0) u += static_cast<int64_t>(1) << (30 + rng() % 20);
           t += rng() % 40 == 0 ? static_cast<TimeNs>(1) << (20 + rng() % 30) : kNsPerS;
           s.push_back({t, static_cast<double>(u) / 100.0});
         }
         return s;
       },
       0xd9687a58100b1820, 6575, chunkfmt::kValuesDecimal},
      {"large_rice_parameters",
       [] {
         Rng rng{17};
         std::vector<Sample> s;
         int64_t u = 0;
         for (int64_t i = 0; i < 500; ++i) {
           u += rng.Uniform(-1'000'000'000'000, 1'000'000'000'000);
           s.push_back({kT0 + i * kNsPerS, static_cast<double>(u)});
         }
         return s;
       },
       0xc593620b4017ee2, 2614, chunkfmt::kValuesDecimal},
      {"max_chunk_size", [] { return PlantSeries(18, chunkfmt::kMaxChunkSamples, 3, 12'345, 25); },
       0x6ec5eaad054dba42, 59818, chunkfmt::kValuesDecimal},
  };
}

TEST(ChunkGoldenTest, EncoderOutputIsByteIdenticalToThePinnedEncodings) {
  for (const Case& c : Cases()) {
    const std::vector<Sample> in = c.make();
    std::string bytes;
    EncodeChunk(in, &bytes);
    EXPECT_EQ(bytes.size(), c.size) << c.name;
    EXPECT_EQ(chunkcodec_internal::ValueModeOf(bytes), c.value_mode) << c.name;
    EXPECT_EQ(Fnv1a(bytes), c.hash) << c.name << ": got {0x" << std::hex << Fnv1a(bytes) << std::dec << ", "
                                    << bytes.size() << "}"
                                    << (bytes.size() <= 64 ? " bytes " + Hex(bytes) : std::string());
    std::vector<Sample> out;
    ASSERT_TRUE(DecodeChunk(bytes, &out).ok()) << c.name;
    EXPECT_EQ(out.size(), in.size()) << c.name;
  }
}

// Many random shapes (lengths, scales, orders, steps, jumps, specials, qualities) hashed into
// one value: broad coverage of the encoder's choices beyond the named cases.
TEST(ChunkGoldenTest, RandomShapesEncodeToThePinnedBytes) {
  Rng rng{2026};
  uint64_t combined = 0xCBF29CE484222325ull;
  size_t total = 0;
  for (int shape = 0; shape < 300; ++shape) {
    const size_t n = static_cast<size_t>(rng.Uniform(1, rng() % 4 == 0 ? 3000 : 300));
    int64_t pow10 = 1;
    for (int64_t i = rng.Uniform(0, 6); i > 0; --i) pow10 *= 10;
    int64_t step = 1;
    for (int64_t i = rng.Uniform(0, 12); i > 0; --i) step *= 10;
    const int ts_kind = static_cast<int>(rng() % 4);
    const bool quiet_runs = rng() % 3 == 0, specials = rng() % 8 == 0, qualities = rng() % 5 == 0;
    std::vector<Sample> in;
    TimeNs t = rng.Uniform(-1'000'000, 1'000'000) * kNsPerS;
    int64_t units = rng.Uniform(-100'000, 100'000), slope = rng.Uniform(-50, 50);
    for (size_t i = 0; i < n; ++i) {
      t += ts_kind == 0   ? k100Ms
           : ts_kind == 1 ? 1 + static_cast<TimeNs>(rng() % 10)
           : ts_kind == 2 ? static_cast<TimeNs>(1 + rng() % 5) * kNsPerS
                          : 1 + static_cast<TimeNs>(rng() % 5'000'000);
      if (!(quiet_runs && i % 200 < 120)) units += slope + rng.Uniform(-step, step);
      if (rng() % 97 == 0) units += static_cast<int64_t>(1) << (30 + rng() % 20);
      double v = static_cast<double>(units) / static_cast<double>(pow10);
      if (specials && rng() % 50 == 0) v = rng() % 2 ? -0.0 : std::bit_cast<double>(rng());
      if (rng() % 9 == 0 && pow10 > 1) v = std::bit_cast<double>(std::bit_cast<uint64_t>(v) + rng() % 3 - 1);
      in.push_back({t, v, qualities ? static_cast<Quality>(rng() % 3) : Quality::kGood});
    }
    std::string bytes;
    EncodeChunk(in, &bytes);
    total += bytes.size();
    for (char c : bytes) combined = (combined ^ static_cast<uint8_t>(c)) * 0x100000001B3ull;
  }
  EXPECT_EQ(total, 795126u);
  EXPECT_EQ(combined, 0x6d81168749c6866eull) << "got 0x" << std::hex << combined;
}

}  // namespace
}  // namespace doppel::store
