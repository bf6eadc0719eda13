#include "doppel/store/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace doppel::store::crc32c {
namespace {

TEST(Crc32cTest, MatchesPublishedCheckValues) {
  EXPECT_EQ(Value("123456789", 9), 0xE3069283u);  // the CRC-32C "check" value
  std::string zeros(32, '\0'), ones(32, '\xff');
  EXPECT_EQ(Value(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
  EXPECT_EQ(Value(ones.data(), ones.size()), 0x62A8AB43u);
  std::string inc;
  for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
  EXPECT_EQ(Value(inc.data(), inc.size()), 0x46DD794Eu);
  EXPECT_EQ(Value("", 0), 0u);
}

TEST(Crc32cTest, ExtendEqualsWholeValueForEverySplit) {
  std::string s = "hello, write-ahead log with an odd length!";
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(Extend(Value(s.data(), cut), s.data() + cut, s.size() - cut), Value(s.data(), s.size()));
  }
}

TEST(Crc32cTest, DispatchedAndTableVersionsAgreeOnEveryLengthAndAlignment) {
  std::string s;
  uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245u + 12345u;
    s.push_back(static_cast<char>(x >> 16));
  }
  for (size_t off = 0; off < 9; ++off) {
    for (size_t n = 0; off + n <= s.size(); n += 7) {
      EXPECT_EQ(Extend(0x1234u, s.data() + off, n), internal::ExtendPortable(0x1234u, s.data() + off, n))
          << "offset " << off << " length " << n;
    }
  }
}

TEST(Crc32cTest, MaskRoundTripsAndChangesTheValue) {
  for (uint32_t v : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) {
    EXPECT_EQ(Unmask(Mask(v)), v);
    EXPECT_NE(Mask(v), v);
  }
}

}  // namespace
}  // namespace doppel::store::crc32c
