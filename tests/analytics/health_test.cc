#include "doppel/analytics/health.h"

#include <gtest/gtest.h>

#include <cmath>

namespace doppel::analytics {
namespace {

double Score(const HealthInputs& in) {
  auto r = ComputeHealth(in);
  if (!r.ok()) throw std::runtime_error(r.status().ToString());
  return r->score;
}

TEST(ComputeHealth, NewQuietMachineScoresFullWithNoReasons) {
  auto r = ComputeHealth({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->score, 100);
  EXPECT_EQ(r->band, "good");
  EXPECT_TRUE(r->reasons.empty());
}

TEST(ComputeHealth, PenaltiesFollowTheDocumentedFormula) {
  HealthInputs in;
  in.wear = 0.4;
  in.wear_std = 0.05;
  in.anomaly = 0.6;
  in.rul_h = 180;
  in.alerts.warning = 1;
  in.alerts.info = 2;
  auto r = ComputeHealth(in);
  ASSERT_TRUE(r.ok());
  double wear = 40 * 0.45;                  // 18
  double anomaly = 25 * (0.6 - 0.2) / 0.8;  // 12.5
  double rul = 25 * (1 - 180.0 / 720.0);    // 18.75
  double alerts = 8 + 2 * 2;                // 12
  EXPECT_NEAR(r->score, 100 - wear - anomaly - rul - alerts, 1e-12);
  ASSERT_EQ(r->reasons.size(), 4u);
  EXPECT_EQ(r->reasons[0].factor, "rul");  // largest first
  EXPECT_NEAR(r->reasons[0].points, rul, 1e-12);
  EXPECT_EQ(r->reasons[1].factor, "wear");
  EXPECT_NEAR(r->reasons[1].points, wear, 1e-12);
  EXPECT_EQ(r->reasons[1].text, "wear 0.400 +- 0.050 (pessimistic 0.450): -18.0");
  EXPECT_EQ(r->reasons[2].factor, "anomaly");
  EXPECT_EQ(r->reasons[3].factor, "alerts");
  EXPECT_EQ(r->band, "poor");  // 38.75
}

TEST(ComputeHealth, IsMonotoneInEveryInputAndBounded) {
  HealthInputs base;
  base.wear = 0.3;
  base.wear_std = 0.02;
  base.anomaly = 0.3;
  base.rul_h = 400;
  double prev = 101;
  for (double w = -0.1; w <= 1.2; w += 0.05) {  // outside [0, 1] too (clamped)
    HealthInputs in = base;
    in.wear = w;
    double s = Score(in);
    EXPECT_LE(s, prev) << w;
    prev = s;
  }
  prev = 101;
  for (double sd = 0; sd <= 1; sd += 0.1) {
    HealthInputs in = base;
    in.wear_std = sd;
    EXPECT_LE(Score(in), prev);
    prev = Score(in);
  }
  prev = 101;
  for (double a = 0; a <= 1.0; a += 0.05) {
    HealthInputs in = base;
    in.anomaly = a;
    EXPECT_LE(Score(in), prev);
    prev = Score(in);
  }
  prev = -1;
  for (double rul = -10; rul <= 1000; rul += 25) {  // longer RUL never lowers the score
    HealthInputs in = base;
    in.rul_h = rul;
    EXPECT_GE(Score(in), prev);
    prev = Score(in);
  }
  prev = 101;
  for (int n = 0; n < 10; ++n) {
    HealthInputs in = base;
    in.alerts.critical = n;
    EXPECT_LE(Score(in), prev);
    prev = Score(in);
  }
  // Strictly lower for more wear inside the range.
  HealthInputs a = base, b = base;
  b.wear = 0.5;
  EXPECT_LT(Score(b), Score(a));
  // The worst case is clamped at 0.
  HealthInputs worst;
  worst.wear = 1;
  worst.anomaly = 1;
  worst.rul_h = 0;
  worst.alerts.critical = 5;
  auto r = ComputeHealth(worst);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->score, 0);
  EXPECT_EQ(r->band, "poor");
  double sum = 0;
  for (const auto& x : r->reasons) sum += x.points;
  EXPECT_NEAR(sum, 40 + 25 + 25 + 50, 1e-12);  // alert penalty capped at 50
}

TEST(ComputeHealth, BadInputsNameTheField) {
  HealthInputs in;
  in.anomaly = 1.5;
  EXPECT_EQ(ComputeHealth(in).status().message(), "anomaly: 1.5 must be in [0, 1]");
  in = {};
  in.wear = std::nan("");
  EXPECT_EQ(ComputeHealth(in).status().message(), "wear: nan is not finite");
  in = {};
  in.wear_std = -0.1;
  EXPECT_EQ(ComputeHealth(in).status().message(), "wear_std: -0.1 must be >= 0");
  in = {};
  in.alerts.warning = -1;
  EXPECT_EQ(ComputeHealth(in).status().code(), StatusCode::kInvalidArgument);
  HealthOptions o;
  o.anomaly_floor = 1;
  EXPECT_EQ(ComputeHealth({}, o).status().message(), "anomaly_floor: 1 must be in [0, 1)");
  o = {};
  o.fair_from = 90;
  EXPECT_NE(ComputeHealth({}, o).status().message().find("good_from/fair_from"), std::string::npos);
}

TEST(PumpKpis, HydraulicPowerAndEfficiencyMatchHandComputation) {
  // 360 m3/h = 0.1 m3/s at 50 m head, water 998.2 kg/m3: rho g = 9788.998 N/m3, times 0.1 * 50
  // gives 48944.99 W.
  double p = HydraulicPowerKw(360, 50);
  EXPECT_NEAR(p, 48.94499, 1e-5);
  auto eta = HydraulicEfficiency(360, 50, 65.0);
  ASSERT_TRUE(eta.ok());
  EXPECT_NEAR(*eta, 48.94499 / 65.0, 1e-7);  // 0.753000
  auto w2w = WireToWaterEfficiency(360, 50, 70.0, 1000.0);
  ASSERT_TRUE(w2w.ok());
  EXPECT_NEAR(*w2w, 1000 * 9.80665 * 0.1 * 50 / 1000 / 70.0, 1e-12);  // 0.700475
  // 5 bar over water is 500000 / 9788.998 = 51.07775 m.
  EXPECT_NEAR(HeadFromPressureRiseM(5.0), 51.07775, 1e-5);
  // Efficiency is dimensionless: pressure-derived head gives Q * dp / P exactly.
  auto eta_dp = HydraulicEfficiency(360, HeadFromPressureRiseM(5.0), 65.0);
  ASSERT_TRUE(eta_dp.ok());
  EXPECT_NEAR(*eta_dp, 0.1 * 5e5 / 65e3, 1e-12);
}

TEST(PumpKpis, SpecificEnergyIsPowerOverFlow) {
  auto e = SpecificEnergyKwhPerM3(75, 300);
  ASSERT_TRUE(e.ok());
  EXPECT_DOUBLE_EQ(*e, 0.25);  // 75 kW for one hour moves 300 m3
  EXPECT_EQ(SpecificEnergyKwhPerM3(75, 0).status().message(),
            "flow_m3h: 0 must be > 0 (specific energy undefined without flow)");
  EXPECT_EQ(SpecificEnergyKwhPerM3(-1, 10).status().code(), StatusCode::kInvalidArgument);
}

TEST(PumpKpis, EfficiencyErrorsNameTheInput) {
  EXPECT_EQ(HydraulicEfficiency(100, 20, 0).status().message(),
            "shaft_power_kw: 0 must be > 0 (efficiency undefined without power)");
  EXPECT_EQ(WireToWaterEfficiency(100, 20, -3).status().message(),
            "electrical_power_kw: -3 must be > 0 (efficiency undefined without power)");
  EXPECT_EQ(HydraulicEfficiency(-1, 20, 10).status().message(), "flow_m3h: -1 must be finite and >= 0");
  EXPECT_EQ(HydraulicEfficiency(1, std::nan(""), 10).status().message(),
            "head_m: nan must be finite and >= 0");
  auto zero = HydraulicEfficiency(0, 20, 10);  // no flow: no useful work
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(*zero, 0);
}

}  // namespace
}  // namespace doppel::analytics
