// The bouncing-ball co-simulation FMU against the closed-form solution, once as an FMI 2.0 FMU and
// once as an FMI 3.0 FMU (the same C model on either framework, tests/fmu/models): one suite for
// both implementations of FmuInstance's co-simulation calls.
#include <gtest/gtest.h>

#include <cmath>

#include "doppel/fmu/co_simulation.h"
#include "fmu/fmu_test_util.h"

namespace doppel::fmu {
namespace {

// Height of a ball dropped from h0 at rest, restitution e, gravity g, at time t (closed form):
// first impact at t1 = sqrt(2 h0 / g) with speed v1 = g t1; flight k >= 1 starts with speed
// e^k v1 and lasts 2 e^k v1 / g.
double AnalyticHeight(double t, double h0, double g, double e) {
  const double t1 = std::sqrt(2 * h0 / g);
  if (t <= t1) return h0 - 0.5 * g * t * t;
  double start = t1, v = g * t1;
  for (int k = 1; k < 200; ++k) {
    v *= e;
    const double len = 2 * v / g;
    if (t <= start + len) {
      const double s = t - start;
      return v * s - 0.5 * g * s * s;
    }
    start += len;
  }
  return 0;
}

// The test model's id: "bouncing_ball" (FMI 2.0) or "bouncing_ball_fmi3" (FMI 3.0).
class FmuCoSimulationTest : public ::testing::TestWithParam<const char*> {};

TEST_P(FmuCoSimulationTest, BouncingBallMatchesTheClosedFormThroughSeveralBounces) {
  doppel::testing::TempDir dir;
  auto fmu = Fmu::Load(testing::PackFmu(dir, GetParam()));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  const double h0 = 2.0, g = 9.81, e = 0.8;
  CoSimulationOptions o;
  o.start_values = {{"h0", h0}, {"e", e}, {"g", g}};
  auto sim = CoSimulation::Create(*fmu, o);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  EXPECT_DOUBLE_EQ(*(*sim)->Get("h"), h0);
  double max_err = 0;
  int bounces = 0;
  double prev_v = 0;
  // 0.037 s communication steps (not aligned with the FMU's internal 1 ms substeps) for 4 s:
  // impacts at 0.639, 1.660, 2.478, 3.131, 3.655 s (the sixth is at 4.073 s).
  for (int k = 1; k * 0.037 <= 4.0; ++k) {
    ASSERT_TRUE((*sim)->AdvanceTo(k * 0.037, 0.037).ok());
    const double h = *(*sim)->Get("h"), v = *(*sim)->Get("v");
    max_err = std::max(max_err, std::fabs(h - AnalyticHeight((*sim)->time(), h0, g, e)));
    EXPECT_GE(h, 0.0);
    if (prev_v < 0 && v > 0) ++bounces;
    prev_v = v;
  }
  EXPECT_LT(max_err, 1e-9);
  EXPECT_EQ(bounces, 5);
}

TEST_P(FmuCoSimulationTest, TunableRestitutionChangesTheNextBounce) {
  doppel::testing::TempDir dir;
  auto fmu = Fmu::Load(testing::PackFmu(dir, GetParam()));
  ASSERT_TRUE(fmu.ok());
  auto sim = CoSimulation::Create(*fmu);  // h0 = 1, e = 0.7 (the XML's start values)
  ASSERT_TRUE(sim.ok());
  ASSERT_TRUE((*sim)->Set("e", 0.5).ok());
  ASSERT_TRUE((*sim)->AdvanceTo(0.5, 0.1).ok());  // the first impact is at 0.4515 s
  const double v1 = std::sqrt(2 * 9.81 * 1.0);
  const double s = 0.5 - std::sqrt(2.0 / 9.81);
  EXPECT_NEAR(*(*sim)->Get("v"), 0.5 * v1 - 9.81 * s, 1e-9);
}

TEST_P(FmuCoSimulationTest, FixedParametersAndOutputsAreNotInputs) {
  doppel::testing::TempDir dir;
  auto fmu = Fmu::Load(testing::PackFmu(dir, GetParam()));
  ASSERT_TRUE(fmu.ok()) << fmu.status().ToString();
  auto sim = CoSimulation::Create(*fmu);
  ASSERT_TRUE(sim.ok()) << sim.status().ToString();
  EXPECT_EQ((*sim)->Set("g", 1.6).code(), StatusCode::kInvalidArgument);  // fixed
  EXPECT_EQ((*sim)->Set("h", 3).code(), StatusCode::kInvalidArgument);    // an output
  EXPECT_EQ((*sim)->Step(0).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*sim)->Step(0.1).ok());
  EXPECT_NEAR(*(*sim)->Get("h"), 1.0 - 0.5 * 9.81 * 0.01, 1e-12);  // h0 = 1 (the XML's start)
  EXPECT_EQ((*sim)->steps(), 1);
}

INSTANTIATE_TEST_SUITE_P(Fmi2AndFmi3, FmuCoSimulationTest,
                         ::testing::Values("bouncing_ball", "bouncing_ball_fmi3"),
                         [](const ::testing::TestParamInfo<const char*>& i) {
                           return std::string(i.param) == "bouncing_ball" ? std::string("Fmi2")
                                                                          : std::string("Fmi3");
                         });

}  // namespace
}  // namespace doppel::fmu
