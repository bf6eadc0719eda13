// Internal: the Gaussian filters' per-step kernels, compiled once per small state size.
//
// A twin's augmented state has a handful of entries (the pump binding has 5). With the size a
// compile-time constant the loops below unroll and keep P in registers; a dynamic size spends
// more on loop control and address arithmetic than on the arithmetic itself. `WithStateSize`
// picks the instance: sizes 1..kMaxFixedStates get their own, larger ones share the N = -1
// (runtime-sized) instance. Every instance runs the same operations in the same order, so the
// results are bit-identical whichever is chosen (tests/estimate/small_kernels_test.cc).
//
// All matrices are column-major raw storage: M(r, c) = M[r + c·stride].
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

namespace doppel::estimate::internal {

constexpr int kMaxFixedStates = 8;

// Calls f(std::integral_constant<int, N>) with N = n for 1 ≤ n ≤ kMaxFixedStates, else N = -1.
template <typename F>
decltype(auto) WithStateSize(Eigen::Index n, F&& f) {
  switch (n) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    case 8: return f(std::integral_constant<int, 8>{});
    default: return f(std::integral_constant<int, -1>{});
  }
}

// The state size: N when fixed, else the runtime n.
template <int N>
constexpr Eigen::Index Size(Eigen::Index n) {
  if constexpr (N > 0) {
    return N;
  } else {
    return n;
  }
}

// P := F P0 F' + diag(q²)·dt, with FP (n×n) as scratch. F, P0, FP, P: n×n, no aliasing.
template <int N>
void PropagateCovariance(Eigen::Index n_runtime, const double* F, const double* P0, const double* q,
                         double dt, double* FP, double* P) {
  const Eigen::Index n = Size<N>(n_runtime);
  for (Eigen::Index c = 0; c < n; ++c) {
    for (Eigen::Index r = 0; r < n; ++r) {
      double acc = 0;
      for (Eigen::Index k = 0; k < n; ++k) acc += F[r + k * n] * P0[k + c * n];
      FP[r + c * n] = acc;
    }
  }
  for (Eigen::Index c = 0; c < n; ++c) {
    for (Eigen::Index r = 0; r < n; ++r) {
      double acc = 0;
      for (Eigen::Index k = 0; k < n; ++k) acc += FP[r + k * n] * F[c + k * n];
      P[r + c * n] = acc;
    }
    P[c + c * n] += q[c] * q[c] * dt;
  }
}

// The measurement update as m scalar updates in turn (GaussianEstimator::LinearUpdate states the
// math). In: z0/P0 the prior (n, n×n), H (m×n, leading dimension hs), ν and r (m). Out: z/P the
// posterior (start as copies of z0/P0), innov_std (m) = sqrt(S_ii) at the prior, *nis. a, a0, ks:
// n-vectors of scratch. Returns the first channel whose innovation variance is not positive
// (its index), or -1 when all were.
template <int N>
Eigen::Index SequentialUpdate(Eigen::Index n_runtime, Eigen::Index m, const double* z0, const double* P0,
                              const double* Hd, Eigen::Index hs, const double* nu, const double* r, double* z,
                              double* P, double* innov_std, double* nis_out, double* a, double* a0,
                              double* ks) {
  const Eigen::Index n = Size<N>(n_runtime);
  double nis = 0;
  for (Eigen::Index i = 0; i < m; ++i) {
    double hz = 0, hz0 = 0, s0 = r[i], s = r[i];
    for (Eigen::Index c = 0; c < n; ++c) {
      double ac = 0, a0c = 0;
      for (Eigen::Index k = 0; k < n; ++k) {
        const double h = Hd[i + k * hs];
        ac += P[c + k * n] * h;
        a0c += P0[c + k * n] * h;
      }
      a[c] = ac;
      a0[c] = a0c;
    }
    for (Eigen::Index k = 0; k < n; ++k) {
      const double h = Hd[i + k * hs];
      s += h * a[k];
      s0 += h * a0[k];
      hz += h * z[k];
      hz0 += h * z0[k];
    }
    innov_std[i] = std::sqrt(std::max(0.0, s0));  // sqrt(S_ii), S at the prior
    if (!(s > 0) || !std::isfinite(s)) return i;
    const double v = nu[i] - (hz - hz0);
    nis += v * v / s;
    // Joseph form per channel, k = a/s: B = (I − k h)P = P − k a', then P = B(I − k h)' + r k k'
    // = B − (B h')k' + r k k' (PSD by construction, unlike P − a a'/s in rounding).
    const double vs = v / s;
    for (Eigen::Index k = 0; k < n; ++k) ks[k] = a[k] / s;
    for (Eigen::Index c = 0; c < n; ++c) {
      z[c] += a[c] * vs;
      const double ac = a[c] / s;
      for (Eigen::Index k = 0; k < n; ++k) P[c + k * n] -= ac * a[k];
    }
    for (Eigen::Index c = 0; c < n; ++c) {
      double bh = 0;
      for (Eigen::Index k = 0; k < n; ++k) bh += P[c + k * n] * Hd[i + k * hs];
      a0[c] = bh;  // B h' (a0 is free again)
    }
    for (Eigen::Index c = 0; c < n; ++c) {
      const double cc = r[i] * a[c] / s - a0[c];
      for (Eigen::Index k = 0; k < n; ++k) P[c + k * n] += cc * ks[k];
    }
  }
  *nis_out = nis;
  return -1;
}

// The Cholesky factorization of the n×n P (its lower triangle) succeeds: P is SPD if symmetric.
// Up to kStackStates the factorization runs in stack storage, above that on the heap.
constexpr int kStackStates = 32;
template <int N>
bool CholeskySucceeds(Eigen::Index n_runtime, const double* P) {
  if constexpr (N > 0) {
    Eigen::LLT<Eigen::Matrix<double, N, N>> llt(Eigen::Map<const Eigen::Matrix<double, N, N>>{P});
    return llt.info() == Eigen::Success;
  } else {
    const Eigen::Map<const Eigen::MatrixXd> p(P, n_runtime, n_runtime);
    if (n_runtime <= kStackStates) {
      Eigen::LLT<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, 0, kStackStates, kStackStates>> llt(p);
      return llt.info() == Eigen::Success;
    }
    Eigen::LLT<Eigen::MatrixXd> llt(p);
    return llt.info() == Eigen::Success;
  }
}

}  // namespace doppel::estimate::internal
