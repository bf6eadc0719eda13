#include "doppel/core/keys.h"

#include <gtest/gtest.h>

#include <string>

namespace doppel {
namespace {

// SameKey must agree with operator== for every length its word paths handle (0..40) and a
// difference at any position, including in the bytes the overlapping words read twice.
TEST(KeysTest, SameKeyAgreesWithStringEqualityAtEveryLengthAndPosition) {
  for (size_t n = 0; n <= 40; ++n) {
    std::string a;
    for (size_t i = 0; i < n; ++i) a.push_back(static_cast<char>('a' + i % 26));
    const std::string same = a;  // a distinct buffer with the same bytes
    EXPECT_TRUE(SameKey(a, same)) << n;
    EXPECT_FALSE(SameKey(a, a + "x")) << n;
    for (size_t i = 0; i < n; ++i) {
      std::string b = a;
      b[i] = static_cast<char>(b[i] ^ 0x80);
      EXPECT_EQ(SameKey(a, b), a == b) << n << " " << i;
      EXPECT_FALSE(SameKey(b, a)) << n << " " << i;
    }
  }
}

}  // namespace
}  // namespace doppel
