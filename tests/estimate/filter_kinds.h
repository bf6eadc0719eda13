// Shared by the estimator tests that run one property against every estimator kind.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "doppel/estimate/estimator.h"
#include "doppel/physics/linear_system.h"

namespace doppel::estimate::testing {

// Three coupled states, two of them measured: after a few updates P has non-zero
// cross-covariances everywhere (so zeroing them is visible).
inline std::unique_ptr<physics::LinearSystem> Coupled() {
  physics::LinearSystemSpec s;
  s.A.resize(3, 3);
  s.A << -0.1, 1, 0, 0, -0.2, 0.5, 0.3, 0, -0.3;
  s.C.resize(2, 3);
  s.C << 1, 0, 0, 0, 0, 1;
  s.state_names = {"a", "b", "c"};
  s.state_units = {"1", "1", "1"};
  s.output_names = {"y1", "y2"};
  return std::move(physics::LinearSystem::Create("coupled", s)).value();
}

using Factory =
    std::function<Result<std::unique_ptr<Estimator>>(const FilterModel&, const EstimatorOptions&)>;

struct Kind {
  const char* name;
  Factory make;
  double tol;  // on covariance entries
};

inline std::vector<Kind> Kinds() {
  return {
      {"kf", [](const FilterModel& m, const EstimatorOptions& o) { return MakeKalmanFilter(m, o); }, 1e-12},
      {"ekf", [](const FilterModel& m, const EstimatorOptions& o) { return MakeExtendedKalmanFilter(m, o); },
       1e-12},
      {"ukf", [](const FilterModel& m, const EstimatorOptions& o) { return MakeUnscentedKalmanFilter(m, o); },
       1e-12},
      {"enkf",
       [](const FilterModel& m, const EstimatorOptions& o) {
         EnkfOptions e;
         e.members = 60;
         return MakeEnsembleKalmanFilter(m, o, e);
       },
       1e-10},
  };
}

}  // namespace doppel::estimate::testing
