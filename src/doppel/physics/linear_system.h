// A continuous-time linear time-invariant system  xdot = A x + B u,  y = C x + D u.
// Used by the linear Kalman filter and as a closed-form reference in tests. Sizes: A n×n,
// B n×m, C p×n, D p×m (B and D may have zero columns; D may be empty = zero).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "doppel/physics/system.h"

namespace doppel::physics {

struct LinearSystemSpec {
  Eigen::MatrixXd A, B, C, D;
  // Optional names (default "x0", "u0", "y0", ...) and units (default "1").
  std::vector<std::string> state_names, input_names, output_names;
  std::vector<std::string> state_units, input_units, output_units;
  Eigen::VectorXd initial_state;  // default zero
  Status Validate() const;
};

class LinearSystem final : public LeafSystem<LinearSystem> {
 public:
  // Checks the spec (sizes, name counts).
  static Result<std::unique_ptr<LinearSystem>> Create(std::string name, LinearSystemSpec spec);

  const Eigen::MatrixXd& A() const { return s_.A; }
  const Eigen::MatrixXd& B() const { return s_.B; }
  const Eigen::MatrixXd& C() const { return s_.C; }
  const Eigen::MatrixXd& D() const { return s_.D; }
  bool HasDirectFeedthrough() const override { return s_.D.size() > 0 && !s_.D.isZero(); }

  template <typename T>
  void DoCalcDerivatives(double, InVec<T> x, InVec<T> u, InVec<T>, OutVec<T> xdot) const {
    xdot = s_.A.cast<T>() * x;
    if (s_.B.cols() > 0) xdot += s_.B.cast<T>() * u;
  }
  template <typename T>
  void DoCalcOutputs(double, InVec<T> x, InVec<T> u, InVec<T>, OutVec<T> y) const {
    y = s_.C.cast<T>() * x;
    if (s_.D.size() > 0) y += s_.D.cast<T>() * u;
  }

 private:
  LinearSystem(std::string name, LinearSystemSpec spec);
  LinearSystemSpec s_;
};

}  // namespace doppel::physics
