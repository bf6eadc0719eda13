// A pump twin's estimate snapshot near its prior (2 % of the prior's variance), for what-if
// tests: the engine's pump binding, level 2.5 m, local level control.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "doppel/engine/behavior.h"

namespace doppel::testing {

inline std::shared_ptr<engine::EstimateSnapshot> PumpSnapshot(const std::string& twin) {
  const engine::BehaviorModel* bm = engine::BehaviorModel::Find("dtmi:doppel:demo:Pump;1");
  auto o = bm->InitialOptions(Eigen::VectorXd::Constant(6, 1300), std::vector<bool>(6, false), 0);
  auto snap = std::make_shared<engine::EstimateSnapshot>();
  snap->model = bm;
  snap->twin = twin;
  snap->ts_ns = 1'000'000'000;
  snap->mean = o.initial_mean;
  snap->covariance = Eigen::MatrixXd(o.initial_std.cwiseAbs2().asDiagonal()) * 0.02;
  snap->inputs = bm->Inputs(2.5, physics::kNaN);
  snap->context = bm->system().CreateDefaultContext();
  snap->context.inputs = snap->inputs;
  return snap;
}

}  // namespace doppel::testing
