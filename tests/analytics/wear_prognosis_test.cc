#include "doppel/analytics/wear_prognosis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

namespace doppel::analytics {
namespace {

constexpr TimeNs kHour = 3600LL * 1'000'000'000LL;
constexpr TimeNs kT0 = 1'700'000'000LL * 1'000'000'000LL;

// Feeds wear(t) = w0 + rate * t (+ noise) every `step_s` for `hours`; returns the last true wear.
struct Feed {
  double w0 = 0.1, rate_per_h = 0.005, noise = 0, stated_std = 0.001, step_s = 300, hours = 24;
  double ar = 0;  // AR(1) coefficient of the noise (per step)
  uint64_t seed = 1;
  double Run(WearPrognosis& p) const {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> z(0, 1);
    const int n = static_cast<int>(hours * 3600 / step_s);
    double e = noise * z(rng), truth = w0;
    for (int i = 0; i <= n; ++i) {
      const double t_h = i * step_s / 3600;
      truth = w0 + rate_per_h * t_h;
      if (i > 0) e = ar * e + std::sqrt(1 - ar * ar) * noise * z(rng);
      auto r = p.Add(kT0 + static_cast<TimeNs>(t_h * kHour), truth + e, stated_std);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    }
    return truth;
  }
};

TEST(WearPrognosis, NoiseFreeLinearWearGivesThresholdMinusWearOverRate) {
  WearPrognosisOptions o;  // threshold 0.6
  WearPrognosis p(o);
  Feed f;  // 0.1 + 0.005/h over 24 h: wear 0.22 at the end
  const double w = f.Run(p);
  auto fit = p.Fit();
  ASSERT_TRUE(fit.ok()) << fit.status().ToString();
  EXPECT_NEAR(fit->rate_per_h, 0.005, 1e-9);
  // The fit's origin is the last estimate; the binned points average the bin's estimates, whose
  // mean lies on the same line, so the level is the last wear.
  EXPECT_NEAR(fit->level, w, 1e-9);
  auto rul = p.Rul();
  ASSERT_TRUE(rul.ok()) << rul.status().ToString();
  EXPECT_NEAR(rul->rul_h, (0.6 - w) / 0.005, 1e-6);  // 76 h
  EXPECT_FALSE(rul->capped);
  EXPECT_LE(rul->p5_h, rul->rul_h);
  EXPECT_GE(rul->p95_h, rul->rul_h);
}

TEST(WearPrognosis, NoisyLinearWearRulIsWithinFivePercentOfTruth) {
  WearPrognosis p({});
  Feed f;
  f.noise = 0.001;
  f.step_s = 60;
  const double w = f.Run(p);
  auto rul = p.Rul();
  ASSERT_TRUE(rul.ok()) << rul.status().ToString();
  const double truth = (0.6 - w) / 0.005;
  EXPECT_NEAR(rul->rul_h, truth, 0.05 * truth);
  EXPECT_LE(rul->p5_h, truth);
  EXPECT_GE(rul->p95_h, truth);
}

TEST(WearPrognosis, BandWidensWithNoise) {
  double width[2];
  for (int k = 0; k < 2; ++k) {
    WearPrognosis p({});
    Feed f;
    f.noise = f.stated_std = k == 0 ? 0.0005 : 0.005;
    f.Run(p);
    auto rul = p.Rul();
    ASSERT_TRUE(rul.ok()) << rul.status().ToString();
    width[k] = rul->p95_h - rul->p5_h;
  }
  EXPECT_GT(width[0], 0);
  EXPECT_GT(width[1], 3 * width[0]) << width[0] << " vs " << width[1];
}

// Coverage over seeds: the p5..p95 band should hold the true RUL in about 90 % of runs. With 200
// runs the binomial sd of the fraction is 2.1 %; the bounds allow about 2.5 sd and some
// conservatism (the level also carries the last estimate's variance).
double Coverage(double ar, double stated_std, double noise) {
  int inside = 0;
  const int runs = 200;
  for (int s = 0; s < runs; ++s) {
    WearPrognosisOptions o;
    o.seed = 1000 + s;
    WearPrognosis p(o);
    Feed f;
    f.seed = static_cast<uint64_t>(s + 1);
    f.noise = noise;
    f.stated_std = stated_std;
    f.ar = ar;
    f.hours = 12;
    const double w = f.Run(p);
    auto rul = p.Rul();
    EXPECT_TRUE(rul.ok());
    if (!rul.ok()) continue;
    const double truth = (0.6 - w) / f.rate_per_h;
    inside += rul->p5_h <= truth && truth <= rul->p95_h;
  }
  return static_cast<double>(inside) / runs;
}

TEST(WearPrognosis, BandHoldsTheTruthInAboutNinetyPercentOfSeedsWithIndependentNoise) {
  // One estimate per bin, independent noise as stated.
  const double c = Coverage(0.0, 0.004, 0.004);
  std::printf("coverage, independent noise: %.3f\n", c);
  EXPECT_GE(c, 0.85);
  EXPECT_LE(c, 0.97);
}

TEST(WearPrognosis, BandHoldsTheTruthWithCorrelatedNoiseOfUnderstatedStd) {
  // Filtered estimates: AR(1) errors (rho 0.8 per bin) with the stated std half the true one. The
  // chi^2 and autocorrelation scaling must keep the band honest.
  const double c = Coverage(0.8, 0.002, 0.004);
  std::printf("coverage, AR(1) 0.8 noise, std understated 2x: %.3f\n", c);
  EXPECT_GE(c, 0.80);
  EXPECT_LE(c, 0.99);
}

TEST(WearPrognosis, SinglePointOrShortSpanGivesNoRul) {
  WearPrognosis p({});
  ASSERT_TRUE(p.Add(kT0, 0.1, 0.001).ok());
  auto r = p.Rul();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  // 30 minutes of data: below min_span_h = 1 h.
  Feed f;
  f.hours = 0.5;
  WearPrognosis q({});
  f.Run(q);
  EXPECT_FALSE(q.Rul().ok());
  EXPECT_NE(q.Rul().status().message().find("not enough data"), std::string::npos);
}

TEST(WearPrognosis, DecreasingWearIsReportedAsCappedAtTheHorizon) {
  WearPrognosisOptions o;
  o.horizon_h = 500;
  WearPrognosis p(o);
  Feed f;
  f.w0 = 0.3;
  f.rate_per_h = -0.001;
  f.Run(p);
  auto rul = p.Rul();
  ASSERT_TRUE(rul.ok()) << rul.status().ToString();
  EXPECT_TRUE(rul->capped);
  EXPECT_EQ(rul->rul_h, 500);
  EXPECT_EQ(rul->p95_h, 500);
  EXPECT_LE(rul->p5_h, 500);
}

TEST(WearPrognosis, SlowGrowthBeyondTheHorizonIsCapped) {
  WearPrognosisOptions o;
  o.horizon_h = 100;
  WearPrognosis p(o);
  Feed f;
  f.rate_per_h = 0.001;  // 0.478 left at 0.001/h: 478 h
  f.Run(p);
  auto rul = p.Rul();
  ASSERT_TRUE(rul.ok());
  EXPECT_TRUE(rul->capped);
  EXPECT_EQ(rul->rul_h, 100);
}

TEST(WearPrognosis, WearPastTheThresholdGivesZero) {
  WearPrognosis p({});
  Feed f;
  f.w0 = 0.65;
  f.Run(p);
  auto rul = p.Rul();
  ASSERT_TRUE(rul.ok());
  EXPECT_EQ(rul->rul_h, 0);
  EXPECT_EQ(rul->p5_h, 0);
}

TEST(WearPrognosis, NonFiniteOrOutOfOrderEstimatesAreRejectedAndIgnored) {
  WearPrognosis p({});
  Feed f;
  f.Run(p);
  const double before = p.Rul()->rul_h;
  const TimeNs end = kT0 + 24 * kHour;
  EXPECT_EQ(p.Add(end + kHour, std::nan(""), 0.001).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.Add(end + kHour, 0.5, -1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.Add(end + kHour, 0.5, INFINITY).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.Add(end - kHour, 0.5, 0.001).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.Rul()->rul_h, before);
}

TEST(WearPrognosis, UnconvergedEstimatesAreSkippedAndAReplacementRestarts) {
  WearPrognosis p({});
  // An estimator starting at std 0.3: skipped.
  auto r = p.Add(kT0 - kHour, 0.0, 0.3);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  Feed f;  // starts at kT0: the skipped estimate did not start the window
  f.Run(p);
  ASSERT_TRUE(p.Rul().ok());
  EXPECT_EQ(p.resets(), 0u);
  // A new impeller: wear back to 0.01. The old trend is gone: no RUL until enough new data.
  const TimeNs end = kT0 + 24 * kHour;
  ASSERT_TRUE(p.Add(end + 60'000'000'000LL, 0.01, 0.001).ok());
  EXPECT_EQ(p.resets(), 1u);
  EXPECT_EQ(p.points(), 0u);
  EXPECT_FALSE(p.Rul().ok());
}

TEST(WearPrognosis, WindowIsBounded) {
  WearPrognosisOptions o;
  o.window_h = 6;
  WearPrognosis p(o);
  Feed f;
  f.step_s = 60;
  f.hours = 48;
  f.Run(p);
  EXPECT_LE(p.points(), static_cast<size_t>(6 * 3600 / 300 + 1));
  EXPECT_GE(p.points(), static_cast<size_t>(6 * 3600 / 300 - 1));
}

TEST(WearPrognosis, SameInputGivesTheSameBand) {
  WearPrognosis a({}), b({});
  Feed f;
  f.noise = 0.002;
  f.Run(a);
  f.Run(b);
  EXPECT_EQ(a.Rul()->p5_h, b.Rul()->p5_h);
  EXPECT_EQ(a.Rul()->p95_h, b.Rul()->p95_h);
}

TEST(PredictRul, TwoComponentsGiveTheEarlierCrossing) {
  WearFit slow, fast;
  slow.t_ns = fast.t_ns = kT0;
  slow.threshold = 0.6;
  slow.level = 0.1;
  slow.rate_per_h = 0.001;  // 500 h
  slow.var_level = 1e-6;
  slow.var_rate = 1e-10;
  fast.threshold = 0.5;
  fast.level = 0.2;
  fast.rate_per_h = 0.003;  // 100 h
  fast.var_level = 1e-6;
  fast.var_rate = 1e-8;
  auto r = PredictRul({slow, fast}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->rul_h, 100, 1e-9);
  EXPECT_EQ(r->component, 1);
  auto alone = PredictRul({fast}, {});
  ASSERT_TRUE(alone.ok());
  // The slow component almost never crosses first: the band is the fast one's.
  EXPECT_NEAR(r->p5_h, alone->p5_h, 0.05 * alone->p5_h);
  EXPECT_NEAR(r->p95_h, alone->p95_h, 0.02 * alone->p95_h);
  EXPECT_FALSE(PredictRul({}, {}).ok());
}

TEST(PredictRul, ClosedFormBandForAKnownRateUncertainty) {
  // Level exact, rate N(0.005, 0.0005^2): T = 0.5 / rate, so the band is 0.5 / (rate quantiles).
  WearFit f;
  f.threshold = 0.6;
  f.level = 0.1;
  f.rate_per_h = 0.005;
  f.var_rate = 0.0005 * 0.0005;
  WearPrognosisOptions o;
  o.samples = 200000;
  auto r = PredictRul({f}, o);
  ASSERT_TRUE(r.ok());
  const double z = 1.6448536269514722;
  EXPECT_NEAR(r->p5_h, 0.5 / (0.005 + z * 0.0005), 0.5);   // 85.9 h
  EXPECT_NEAR(r->p95_h, 0.5 / (0.005 - z * 0.0005), 0.5);  // 119.6 h
}

TEST(WearPrognosisOptions, ValidateNamesTheBrokenRule) {
  WearPrognosisOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.threshold = 1.5;
  EXPECT_NE(o.Validate().message().find("threshold"), std::string::npos);
  o = {};
  o.min_span_h = 30;
  EXPECT_NE(o.Validate().message().find("min_span_h"), std::string::npos);
  o = {};
  o.samples = 10;
  EXPECT_NE(o.Validate().message().find("samples"), std::string::npos);
  o = {};
  o.horizon_h = NAN;
  EXPECT_NE(o.Validate().message().find("horizon_h"), std::string::npos);
  o = {};
  o.min_points = 2;
  EXPECT_THROW(WearPrognosis{o}, std::invalid_argument);
}

TEST(WearRulOptions, ConfigParsesAndNamesTheBadKey) {
  auto o =
      ParseWearRulConfigYaml("{impeller_threshold: 0.5, window_h: 12, samples: 500}", "analytics.wear_rul");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->impeller_threshold, 0.5);
  EXPECT_EQ(o->fit.window_h, 12);
  EXPECT_EQ(o->fit.samples, 500);
  EXPECT_TRUE(o->enabled);
  auto bad = ParseWearRulConfigYaml("{window_h: soon}", "analytics.wear_rul");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "analytics.wear_rul.window_h: expected a number");
  bad = ParseWearRulConfigYaml("{thresold: 0.5}", "analytics.wear_rul");
  EXPECT_NE(bad.status().message().find("analytics.wear_rul.thresold: unknown key"), std::string::npos);
  bad = ParseWearRulConfigYaml("{bearing_threshold: 2}", "analytics.wear_rul");
  EXPECT_NE(bad.status().message().find("analytics.wear_rul.bearing_threshold"), std::string::npos);
  EXPECT_FALSE(ParseWearRulConfigYaml("{enabled: false}", "x")->enabled);
}

}  // namespace
}  // namespace doppel::analytics
