// The serve config's control: section: options from valid YAML, errors naming the key.
#include <gtest/gtest.h>

#include "doppel/engine/control_loop.h"

namespace doppel::engine {
namespace {

TEST(ControlConfigTest, ValidSectionGivesTheLoopOptions) {
  auto o = ParseControlLoopConfigYaml("mpc: {pumps: [pump-1, pump-2], tank: tank-9, period_s: 30}\n");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  ASSERT_TRUE(o->has_value());
  EXPECT_EQ((*o)->pumps, (std::vector<std::string>{"pump-1", "pump-2"}));
  EXPECT_EQ((*o)->tank, "tank-9");
  EXPECT_DOUBLE_EQ((*o)->mpc.period_s, 30);
}

TEST(ControlConfigTest, DisabledOrAbsentMpcIsNoLoop) {
  auto off = ParseControlLoopConfigYaml("mpc: {enabled: false}\n");
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_FALSE(off->has_value());
  auto none = ParseControlLoopConfigYaml("{}\n");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_FALSE(none->has_value());
}

TEST(ControlConfigTest, ErrorsNameTheKey) {
  auto bad = ParseControlLoopConfigYaml("mpc: {period_s: soon}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("control.mpc.period_s"), std::string::npos)
      << bad.status().ToString();
  auto twice = ParseControlLoopConfigYaml("mpc: {pumps: [pump-1, pump-1]}\n");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("pumps[1]"), std::string::npos) << twice.status().ToString();
  auto unknown = ParseControlLoopConfigYaml("mpd: {}\n");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("control.mpd"), std::string::npos) << unknown.status().ToString();
  EXPECT_FALSE(ParseControlLoopConfigYaml("mpc: [1, 2]\n").ok());
  EXPECT_FALSE(ParseControlLoopConfigYaml("{{{").ok());
  // Found by fuzz/control_config_fuzz.cc: a null list entry once threw out of the parser.
  EXPECT_FALSE(
      ParseControlLoopConfigYaml("mpc: {enabled: true, pumps:, [pump-1, pump-6], tank: tak-2}\n").ok());
}

}  // namespace
}  // namespace doppel::engine
