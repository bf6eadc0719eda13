#include "doppel/core/glob.h"

#include <gtest/gtest.h>

namespace doppel {
namespace {

TEST(GlobMatch, StarMatchesAnyRunAndQuestionMarkExactlyOneCharacter) {
  EXPECT_TRUE(GlobMatch("pump-*", "pump-1"));
  EXPECT_TRUE(GlobMatch("pump-*", "pump-"));
  EXPECT_FALSE(GlobMatch("pump-*", "tank-1"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("p?mp-*-a", "pump-12-a"));
  EXPECT_FALSE(GlobMatch("p?mp", "pmp"));
  EXPECT_TRUE(GlobMatch("*_m3h", "flow_m3h"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXbYbZ"));
  EXPECT_FALSE(GlobMatch("flow_m3h", "flow_m3h2"));
}

TEST(GlobMatch, EmptyPatternMatchesOnlyTheEmptyString) {
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
}

}  // namespace
}  // namespace doppel
