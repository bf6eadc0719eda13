// Multivariate detectors (multivariate.h): chi-square tails against table values, T² and SPE
// against an independent closed form, the correlation break that only the multivariate model
// sees, and NIS tail probabilities uniform under a consistent Kalman filter.
#include "doppel/analytics/multivariate.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "doppel/analytics/detector.h"

namespace doppel::analytics {
namespace {

TEST(ChiSquareTail, MatchesTableValues) {
  // Upper critical values (NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
  EXPECT_NEAR(ChiSquareTail(3.841, 1), 0.05, 2e-5);
  EXPECT_NEAR(ChiSquareTail(6.635, 1), 0.01, 2e-5);
  EXPECT_NEAR(ChiSquareTail(15.086, 5), 0.01, 2e-5);
  EXPECT_NEAR(ChiSquareTail(18.307, 10), 0.05, 2e-5);
  EXPECT_NEAR(ChiSquareTail(124.342, 100), 0.05, 2e-5);
  // Two degrees of freedom: exp(-x/2) exactly.
  for (double x : {0.1, 1.0, 7.0, 40.0}) EXPECT_NEAR(ChiSquareTail(x, 2), std::exp(-x / 2), 1e-14);
  EXPECT_EQ(ChiSquareTail(-1, 3), 1.0);
  EXPECT_EQ(ChiSquareTail(0, 3), 1.0);
}

TEST(TailProbabilityToScore, IsTheUnivariateDetectorsLogScale) {
  EXPECT_DOUBLE_EQ(TailProbabilityToScore(1.0), 0.0);
  EXPECT_NEAR(TailProbabilityToScore(1e-5), 0.5, 1e-12);
  EXPECT_NEAR(TailProbabilityToScore(1e-9), 0.9, 1e-12);
  EXPECT_DOUBLE_EQ(TailProbabilityToScore(1e-30), 1.0);
  EXPECT_DOUBLE_EQ(TailProbabilityToScore(std::nan("")), 0.0);
  EXPECT_DOUBLE_EQ(FuseAnomalyScores({0.2, 0.7, std::nan(""), 0.1}), 0.7);
}

TEST(OptionsValidate, NamesTheBrokenField) {
  PcaDetectorOptions o;
  o.explained_variance = 1.0;
  EXPECT_NE(o.Validate().message().find("explained_variance"), std::string::npos);
  o = {};
  o.train_rows = 3;
  EXPECT_NE(o.Validate().message().find("train_rows"), std::string::npos);
  o = {};
  o.adapt_rows = 1;
  EXPECT_NE(o.Validate().message().find("adapt_rows"), std::string::npos);
  NisDetectorOptions n;
  n.window = 0;
  EXPECT_NE(n.Validate().message().find("window"), std::string::npos);
  EXPECT_THROW(NisDetector{n}, std::invalid_argument);
  EXPECT_THROW(PcaDetector(1), std::invalid_argument);
}

// Two correlated Gaussian channels; the model with k = 1 against the closed form of a 2x2
// correlation matrix [[1, r], [r, 1]]: eigenvalues 1 ± r, eigenvectors (1, ±1)/√2, so
// T² = ((z1 + z2)/√2)² / (1 + r) and Q = ((z1 - z2)/√2)², with the sample mean, standard
// deviations (n - 1) and correlation r computed here in two passes.
TEST(PcaDetector, T2AndSpeOfAGaussianSampleMatchTheClosedForm) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> n01;
  const size_t n = 500;
  std::vector<std::array<double, 2>> rows;
  for (size_t i = 0; i < n + 50; ++i) {
    const double a = n01(rng), b = n01(rng);
    rows.push_back({10 + 2 * a, -3 + 0.5 * (0.8 * a + 0.6 * b)});
  }
  double m[2] = {0, 0};
  for (size_t i = 0; i < n; ++i) {
    m[0] += rows[i][0] / n;
    m[1] += rows[i][1] / n;
  }
  double s00 = 0, s11 = 0, s01 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double d0 = rows[i][0] - m[0], d1 = rows[i][1] - m[1];
    s00 += d0 * d0;
    s11 += d1 * d1;
    s01 += d0 * d1;
  }
  const double sd0 = std::sqrt(s00 / (n - 1)), sd1 = std::sqrt(s11 / (n - 1));
  const double r = s01 / std::sqrt(s00 * s11);
  ASSERT_GT(r, 0.7);

  PcaDetectorOptions o;
  o.train_rows = n;
  o.components = 1;
  o.window = 1;
  o.adapt_rows = 0;  // frozen: the model is the training sample's
  PcaDetector pca(2, o);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(pca.Update(static_cast<TimeNs>(i) * kNsPerS, rows[i].data()), 0.0);
    EXPECT_FALSE(pca.last().scored);
  }
  ASSERT_TRUE(pca.trained());
  EXPECT_NEAR(pca.eigenvalues()[0], 1 + r, 1e-12);
  EXPECT_NEAR(pca.eigenvalues()[1], 1 - r, 1e-12);
  for (size_t i = n; i < rows.size(); ++i) {
    pca.Update(static_cast<TimeNs>(i) * kNsPerS, rows[i].data());
    ASSERT_TRUE(pca.last().scored);
    const double z0 = (rows[i][0] - m[0]) / sd0, z1 = (rows[i][1] - m[1]) / sd1;
    const double t2 = (z0 + z1) * (z0 + z1) / 2 / (1 + r);
    const double q = (z0 - z1) * (z0 - z1) / 2;
    EXPECT_NEAR(pca.last().t2, t2, 1e-9 * (1 + t2));
    EXPECT_NEAR(pca.last().spe, q, 1e-9 * (1 + q));
    // One residual eigenvalue: Box's g = 1 - r, h = 1, so Q/(1 - r) ~ chi-square(1).
    EXPECT_NEAR(pca.last().spe_tail, ChiSquareTail(q / (1 - r), 1), 1e-9);
    EXPECT_NEAR(pca.last().t2_tail, ChiSquareTail(t2, 1), 1e-9);
  }
}

// In-model rows: T² tails are (close to) uniform, so false alarms are as rare as the score says.
TEST(PcaDetector, TailsOfHealthyRowsAreUniform) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> n01;
  PcaDetectorOptions o;
  o.train_rows = 5000;
  o.window = 1;
  o.adapt_rows = 0;
  o.explained_variance = 0.9;
  PcaDetector pca(4, o);
  std::vector<double> t2_tails, spe_tails;
  for (int i = 0; i < 25000; ++i) {
    const double s = n01(rng), u = n01(rng);
    const double x[4] = {s + 0.2 * n01(rng), 2 * s + 0.4 * n01(rng), u + 0.1 * n01(rng),
                         100 - u + 0.1 * n01(rng)};
    pca.Update(static_cast<TimeNs>(i) * kNsPerS, x);
    if (pca.last().scored) {
      t2_tails.push_back(pca.last().t2_tail);
      spe_tails.push_back(pca.last().spe_tail);
    }
  }
  ASSERT_EQ(pca.components(), 2u);  // two latent factors explain > 90 %
  ASSERT_EQ(t2_tails.size(), 20000u);
  for (const auto* tails : {&t2_tails, &spe_tails}) {
    for (double q : {0.05, 0.25, 0.5}) {
      const double frac =
          static_cast<double>(std::count_if(tails->begin(), tails->end(), [&](double p) { return p < q; })) /
          static_cast<double>(tails->size());
      EXPECT_NEAR(frac, q, 0.02 + 0.1 * q) << "P(tail < " << q << ")";
    }
  }
}

// Longest run of consecutive rows scoring >= level.
size_t LongestRun(const std::vector<double>& s, double level) {
  size_t best = 0, run = 0;
  for (double v : s) {
    run = v >= level ? run + 1 : 0;
    best = std::max(best, run);
  }
  return best;
}

// The point of a multivariate model: two signals that always move together (x2 = x1 + noise)
// start moving oppositely (x2 = -x1 + noise). Each signal alone is still white N(0, 1), so the
// univariate detectors see nothing unusual; the rows leave the model plane and SPE explodes.
TEST(PcaDetector, CorrelationBreakIsSeenByPcaAndNotByTheUnivariateDetectors) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> n01;
  PcaDetectorOptions o;
  o.train_rows = 1000;
  PcaDetector pca(2, o);
  DetectorConfig live;
  live.alarm_level = 1.01;  // the engine's live configuration (no refractory period)
  EnsembleDetector u1(live), u2(live);
  const int healthy = 4000, broken = 1000;
  std::vector<double> pca_healthy, pca_broken, uni_healthy, uni_broken;
  for (int i = 0; i < healthy + broken; ++i) {
    const TimeNs t = static_cast<TimeNs>(i) * kNsPerS;
    const double s = n01(rng);
    const double sign = i < healthy ? 1.0 : -1.0;
    const double x[2] = {s + 0.1 * n01(rng), sign * s + 0.1 * n01(rng)};
    const double sp = pca.Update(t, x);
    const double su = std::max(u1.Update(t, x[0]), u2.Update(t, x[1]));
    if (i >= static_cast<int>(o.train_rows) && i < healthy) {
      pca_healthy.push_back(sp);
      uni_healthy.push_back(su);
    } else if (i >= healthy) {
      pca_broken.push_back(sp);
      uni_broken.push_back(su);
    }
  }
  // PCA: silent on healthy rows, sustained alarm after the break.
  EXPECT_LT(*std::max_element(pca_healthy.begin(), pca_healthy.end()), 0.5);
  const double alarmed = static_cast<double>(std::count_if(pca_broken.begin(), pca_broken.end(),
                                                           [](double v) { return v >= 0.9; })) /
                         static_cast<double>(pca_broken.size());
  EXPECT_GT(alarmed, 0.8);
  EXPECT_GE(LongestRun(pca_broken, 0.9), 100u);
  // Univariate: the demo rule (score >= 0.9 for 3 rows) never fires, before or after.
  EXPECT_LT(LongestRun(uni_broken, 0.9), 3u);
  EXPECT_LT(LongestRun(uni_healthy, 0.9), 3u);
}

// Two channels tied by x2 = 2 x1 + noise while x1's level wanders slowly far beyond its training
// range (a daily demand cycle): the frozen model alarms on the new operating point, the adaptive
// one follows it, and still sees the relation break (x2 = -2 x1) when it comes. A break that
// persists for relearn_rows rows is then taken as the new normal.
TEST(PcaDetector, AdaptiveModelFollowsAMovingOperatingPointButNotABrokenRelation) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> n01;
  PcaDetectorOptions frozen_o;
  frozen_o.train_rows = 300;
  frozen_o.adapt_rows = 0;
  PcaDetectorOptions adapt_o = frozen_o;
  adapt_o.adapt_rows = 300;
  adapt_o.relearn_rows = 2000;
  PcaDetector frozen(2, frozen_o), adaptive(2, adapt_o);
  double frozen_max = 0, adaptive_max = 0;
  std::vector<double> broken;
  for (int i = 0; i < 12000; ++i) {
    const double level = 10 * std::sin(2 * M_PI * i / 6000.0);  // 10 units, training spread ~1
    const double x1 = level + n01(rng);
    const double sign = i < 8000 ? 1.0 : -1.0;
    const double x[2] = {x1, sign * 2 * x1 + 0.2 * n01(rng)};
    const TimeNs t = static_cast<TimeNs>(i) * kNsPerS;
    const double sf = frozen.Update(t, x), sa = adaptive.Update(t, x);
    if (i < 8000) {
      frozen_max = std::max(frozen_max, sf);
      adaptive_max = std::max(adaptive_max, sa);
    } else {
      broken.push_back(sa);
    }
  }
  EXPECT_GE(frozen_max, 0.9);
  EXPECT_LT(adaptive_max, 0.5);
  // The break: alarmed at once and for (about) relearn_rows rows, then absorbed.
  EXPECT_GE(LongestRun({broken.begin(), broken.begin() + 1900}, 0.9), 1800u);
  EXPECT_LT(*std::max_element(broken.end() - 500, broken.end()), 0.5);
}

TEST(PcaDetector, MissingValuesAreHeldForMaxHoldThenTheRowIsSkipped) {
  PcaDetectorOptions o;
  o.train_rows = 20;
  o.max_hold_s = 5;
  PcaDetector pca(2, o);
  const double nan = std::nan("");
  for (int i = 0; i < 20; ++i) {
    const double x[2] = {static_cast<double>(i % 5), static_cast<double>(i % 5) + 0.1 * (i % 2)};
    pca.Update(static_cast<TimeNs>(i) * kNsPerS, x);
  }
  ASSERT_TRUE(pca.trained());
  const double a[2] = {2.0, 2.05};
  pca.Update(20 * kNsPerS, a);
  EXPECT_TRUE(pca.last().scored);
  const double only_first[2] = {2.0, nan};
  pca.Update(24 * kNsPerS, only_first);  // channel 1 held from t = 20 s (4 s old)
  EXPECT_TRUE(pca.last().scored);
  pca.Update(26 * kNsPerS, only_first);  // 6 s old: skipped
  EXPECT_FALSE(pca.last().scored);
  EXPECT_EQ(pca.last().score, 0.0);
}

// A scalar random walk seen by two sensors (each present with probability 0.7), filtered by
// an exact Kalman filter: the NIS of each update is chi-square(present channels), so the window
// tail probabilities are uniform. A filter that under-states the sensor noise 3x is flagged.
std::vector<double> NisTails(double true_noise_factor, std::vector<double>* scores, size_t calibrate = 0,
                             double factor_after_20000 = 0) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> n01;
  std::bernoulli_distribution present(0.7);
  const double q = 0.04, r[2] = {0.25, 1.0};
  double x = 0, xh = 0, p = 10;
  NisDetectorOptions o;
  o.calibrate_updates = calibrate;
  NisDetector nis(o);
  std::vector<double> tails;
  for (int k = 0; k < 30000; ++k) {
    x += std::sqrt(q) * n01(rng);
    p += q;
    std::vector<int> rows;
    for (int c = 0; c < 2; ++c) {
      if (present(rng)) rows.push_back(c);
    }
    const Eigen::Index m = static_cast<Eigen::Index>(rows.size());
    if (m == 0) continue;
    Eigen::VectorXd nu(m);
    Eigen::MatrixXd s(m, m);
    for (Eigen::Index i = 0; i < m; ++i) {
      const double ri = r[rows[static_cast<size_t>(i)]];
      const double f = factor_after_20000 > 0 && k >= 20000 ? factor_after_20000 : true_noise_factor;
      nu[i] = x + f * std::sqrt(ri) * n01(rng) - xh;
      for (Eigen::Index j = 0; j < m; ++j) s(i, j) = p + (i == j ? ri : 0.0);
    }
    const Eigen::MatrixXd sinv = s.inverse();
    const double v = nu.dot(sinv * nu);
    const Eigen::VectorXd gain = sinv * Eigen::VectorXd::Constant(m, p);  // (p 1ᵀ S⁻¹)ᵀ, S symmetric
    xh += gain.dot(nu);
    p -= p * gain.sum();
    const double sc = nis.Update(v, static_cast<int>(m));
    if (k >= 100) {
      tails.push_back(nis.tail());
      if (scores) scores->push_back(sc);
    }
  }
  return tails;
}

TEST(NisDetector, TailsAreUniformUnderAConsistentFilterAndSmallWhenItIsNot) {
  const std::vector<double> tails = NisTails(1.0, nullptr);
  ASSERT_GT(tails.size(), 25000u);
  for (int d = 1; d < 10; ++d) {
    const double q = 0.1 * d;
    const double frac =
        static_cast<double>(std::count_if(tails.begin(), tails.end(), [&](double p) { return p < q; })) /
        static_cast<double>(tails.size());
    EXPECT_NEAR(frac, q, 0.02) << "P(tail < " << q << ")";
  }
  std::vector<double> scores;
  NisTails(3.0, &scores);  // the textbook test (calibrate_updates = 0)
  const double high =
      static_cast<double>(std::count_if(scores.begin(), scores.end(), [](double s) { return s >= 0.5; })) /
      static_cast<double>(scores.size());
  EXPECT_GT(high, 0.5);
}

// Calibrated (the default): a filter that understates its noise 3x all along is not alarmed;
// a further 3.3x (10x in all, at update 20000) is, at once.
TEST(NisDetector, CalibratedLevelAbsorbsAConstantMismatchButNotAChange) {
  std::vector<double> scores;
  NisTails(3.0, &scores, 3600, 10.0);
  ASSERT_GT(scores.size(), 25000u);
  // scores[i] is update ~100 + i / 0.91 (updates with a sensor present: 91 %); 20000 ~ 18110.
  const auto before = std::vector<double>(scores.begin() + 4000, scores.begin() + 17000);
  const auto after = std::vector<double>(scores.begin() + 18150, scores.begin() + 18350);
  auto high = [](const std::vector<double>& v) {
    return static_cast<size_t>(std::count_if(v.begin(), v.end(), [](double s) { return s >= 0.9; }));
  };
  EXPECT_LE(high(before), 13u);  // <= 0.1 %
  EXPECT_GE(high(after), 20u);
}

TEST(NisDetector, WarmUpUpdatesScoreZero) {
  NisDetectorOptions o;
  o.warmup = 3;
  o.calibrate_updates = 0;
  NisDetector nis(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(nis.Update(1e4, 1), 0.0);
  EXPECT_EQ(nis.Update(1e4, 1), 1.0);
}

TEST(NisDetector, IgnoresUpdatesWithoutEvidence) {
  NisDetectorOptions o;
  o.warmup = 0;
  o.calibrate_updates = 0;
  NisDetector nis(o);
  const double s = nis.Update(30.0, 1);
  EXPECT_GT(s, 0.0);
  EXPECT_EQ(nis.Update(1e9, 0), s);
  EXPECT_EQ(nis.Update(std::nan(""), 2), s);
  EXPECT_EQ(nis.Update(-1, 2), s);
  // One update of NIS 30 with 1 dof: the window holds just it.
  EXPECT_NEAR(nis.tail(), ChiSquareTail(30.0, 1), 1e-15);
}

}  // namespace
}  // namespace doppel::analytics
