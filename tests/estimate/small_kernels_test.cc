// The filters' per-size kernels (small_kernels.h): every compiled size gives bit-identical
// results to the runtime-sized instance, and the sequential update equals the textbook batch
// Kalman update computed independently with dense matrices.
#include "doppel/estimate/small_kernels.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <random>
#include <vector>

namespace doppel::estimate::internal {
namespace {

struct Problem {
  Eigen::VectorXd z, nu, r, q;
  Eigen::MatrixXd P, H, F;
};

Problem RandomProblem(int n, int m, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd;
  auto random = [&](int rows, int cols) {
    Eigen::MatrixXd a(rows, cols);
    for (int i = 0; i < a.size(); ++i) a.data()[i] = nd(rng);
    return a;
  };
  Problem p;
  const Eigen::MatrixXd A = random(n, n);
  p.P = A * A.transpose() + Eigen::MatrixXd::Identity(n, n);
  p.z = random(n, 1);
  p.H = random(m, n);
  p.F = Eigen::MatrixXd::Identity(n, n) + 0.1 * random(n, n);
  p.nu = random(m, 1);
  p.r = random(m, 1).cwiseAbs().array() + 0.1;
  p.q = random(n, 1).cwiseAbs();
  return p;
}

struct UpdateResult {
  Eigen::VectorXd z, innov_std;
  Eigen::MatrixXd P;
  double nis = 0;
  Eigen::Index failed = 0;
};

template <int N>
UpdateResult Update(const Problem& p) {
  const Eigen::Index n = p.z.size(), m = p.nu.size();
  UpdateResult out{p.z, Eigen::VectorXd(m), p.P};
  std::vector<double> a(n), a0(n), ks(n);
  out.failed = SequentialUpdate<N>(n, m, p.z.data(), p.P.data(), p.H.data(), p.H.rows(), p.nu.data(),
                                   p.r.data(), out.z.data(), out.P.data(), out.innov_std.data(), &out.nis,
                                   a.data(), a0.data(), ks.data());
  return out;
}

template <int N>
Eigen::MatrixXd Propagate(const Problem& p, double dt) {
  const Eigen::Index n = p.z.size();
  Eigen::MatrixXd FP(n, n), P(n, n);
  PropagateCovariance<N>(n, p.F.data(), p.P.data(), p.q.data(), dt, FP.data(), P.data());
  return P;
}

template <int N>
void ExpectFixedSizeMatchesRuntimeSize() {
  for (int m : {1, 3, 6}) {
    const Problem p = RandomProblem(N, m, 17u * N + static_cast<unsigned>(m));
    const UpdateResult fixed = Update<N>(p), dynamic = Update<-1>(p);
    EXPECT_EQ(fixed.failed, -1);
    EXPECT_EQ(fixed.failed, dynamic.failed);
    // Bit-identical: the same operations in the same order.
    EXPECT_EQ(fixed.nis, dynamic.nis) << "n=" << N << " m=" << m;
    EXPECT_TRUE(fixed.z == dynamic.z) << "n=" << N << " m=" << m;
    EXPECT_TRUE(fixed.P == dynamic.P) << "n=" << N << " m=" << m;
    EXPECT_TRUE(fixed.innov_std == dynamic.innov_std);
    EXPECT_TRUE(Propagate<N>(p, 0.7) == Propagate<-1>(p, 0.7)) << "n=" << N;
    EXPECT_EQ(CholeskySucceeds<N>(N, p.P.data()), CholeskySucceeds<-1>(N, p.P.data()));
  }
}

TEST(SmallKernelsTest, EveryFixedSizeIsBitIdenticalToTheRuntimeSizedKernel) {
  ExpectFixedSizeMatchesRuntimeSize<1>();
  ExpectFixedSizeMatchesRuntimeSize<2>();
  ExpectFixedSizeMatchesRuntimeSize<3>();
  ExpectFixedSizeMatchesRuntimeSize<4>();
  ExpectFixedSizeMatchesRuntimeSize<5>();
  ExpectFixedSizeMatchesRuntimeSize<6>();
  ExpectFixedSizeMatchesRuntimeSize<7>();
  ExpectFixedSizeMatchesRuntimeSize<8>();
}

TEST(SmallKernelsTest, WithStateSizePicksTheFixedInstanceUpToEightAndTheRuntimeOneAbove) {
  for (int n = 1; n <= 12; ++n) {
    const int picked = WithStateSize(n, [](auto size) { return decltype(size)::value; });
    EXPECT_EQ(picked, n <= kMaxFixedStates ? n : -1) << "n=" << n;
  }
}

TEST(SmallKernelsTest, SequentialUpdateEqualsTheBatchKalmanUpdate) {
  for (int n : {2, 5, 11}) {
    const Problem p = RandomProblem(n, 4, 100u + static_cast<unsigned>(n));
    const UpdateResult seq = WithStateSize(n, [&](auto size) { return Update<decltype(size)::value>(p); });
    ASSERT_EQ(seq.failed, -1);
    // Textbook: S = HPH' + R, K = PH'S⁻¹, z' = z + Kν, P' = (I − KH)P, NIS = ν'S⁻¹ν.
    const Eigen::MatrixXd S = p.H * p.P * p.H.transpose() + Eigen::MatrixXd(p.r.asDiagonal());
    const Eigen::MatrixXd K = p.P * p.H.transpose() * S.inverse();
    const Eigen::VectorXd z = p.z + K * p.nu;
    const Eigen::MatrixXd P = (Eigen::MatrixXd::Identity(n, n) - K * p.H) * p.P;
    EXPECT_NEAR((seq.z - z).norm(), 0, 1e-9 * (1 + z.norm())) << "n=" << n;
    EXPECT_NEAR((seq.P - P).norm(), 0, 1e-9 * (1 + P.norm())) << "n=" << n;
    EXPECT_NEAR(seq.nis, p.nu.dot(S.ldlt().solve(p.nu)), 1e-9 * (1 + seq.nis));
    EXPECT_TRUE(seq.innov_std.isApprox(S.diagonal().cwiseSqrt(), 1e-12));
  }
}

TEST(SmallKernelsTest, PropagateCovarianceIsFPFtPlusQdt) {
  for (int n : {3, 5, 9}) {
    const Problem p = RandomProblem(n, 1, 7u + static_cast<unsigned>(n));
    const Eigen::MatrixXd P =
        WithStateSize(n, [&](auto size) { return Propagate<decltype(size)::value>(p, 0.5); });
    const Eigen::MatrixXd want =
        p.F * p.P * p.F.transpose() + Eigen::MatrixXd(p.q.cwiseAbs2().asDiagonal()) * 0.5;
    EXPECT_TRUE(P.isApprox(want, 1e-12)) << "n=" << n;
  }
}

TEST(SmallKernelsTest, AChannelWithoutPositiveVarianceIsNamed) {
  Problem p = RandomProblem(5, 3, 3);
  p.H.row(1).setZero();
  p.r[1] = 0;  // s = h P h' + r = 0 on channel 1
  const UpdateResult out = Update<5>(p);
  EXPECT_EQ(out.failed, 1);
  EXPECT_EQ(Update<-1>(p).failed, 1);
}

TEST(SmallKernelsTest, CholeskyRejectsAnIndefiniteMatrix) {
  Eigen::MatrixXd P = Eigen::MatrixXd::Identity(4, 4);
  EXPECT_TRUE(CholeskySucceeds<4>(4, P.data()));
  P(2, 2) = -1e-3;
  EXPECT_FALSE(CholeskySucceeds<4>(4, P.data()));
  EXPECT_FALSE(CholeskySucceeds<-1>(4, P.data()));
  // Above the stack bound the runtime-sized kernel factorizes on the heap: same answers.
  const int big = kStackStates + 8;
  Eigen::MatrixXd Q = Eigen::MatrixXd::Identity(big, big);
  EXPECT_TRUE(CholeskySucceeds<-1>(big, Q.data()));
  Q(big - 1, big - 1) = -1e-3;
  EXPECT_FALSE(CholeskySucceeds<-1>(big, Q.data()));
}

}  // namespace
}  // namespace doppel::estimate::internal
