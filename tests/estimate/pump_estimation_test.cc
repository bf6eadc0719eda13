// Nonlinear estimation on the nominal pump twin: AD Jacobians, parameter augmentation, missing
// and irregular data. The "truth" is the same nominal model with hidden parameter values,
// simulated independently (physics::Simulator) and measured with the plant's noise levels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "doppel/estimate/estimator.h"
#include "doppel/estimate/pump_estimator.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"

namespace doppel::estimate {
namespace {

using physics::SignalKind;

const std::vector<std::string> kSensors = {"flow_m3h", "discharge_pressure_bar", "speed_rpm",
                                           "power_kw", "motor_temp_c",           "vibration_mm_s"};

class PumpTwin : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = physics::MakePumpTwinDiagram();
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    twin_ = std::move(*d);
  }
  FilterModel Model(std::vector<std::string> params) const {
    return {twin_.get(), {}, std::move(params), kSensors};
  }
  EstimatorOptions Options(const FilterModel& m) const {
    const int n = 2 + static_cast<int>(m.estimated_parameters.size());
    EstimatorOptions o;
    o.initial_mean = Eigen::VectorXd::Zero(n);
    o.initial_mean.head(2) << 1250, 40;  // a rough guess of speed and motor temperature
    o.initial_std = Eigen::VectorXd::Constant(n, 0.3);
    o.initial_std.head(2) << 100, 20;
    o.process_std = Eigen::VectorXd::Constant(n, 1e-5);  // slow random walk for parameters
    o.process_std.head(2) << 5.0, 0.05;
    o.measurement_std.resize(6);
    o.measurement_std << 1.0, 0.01, 2.0, 0.1, 0.2, 0.1;
    for (int i = 2; i < n; ++i) {
      if (m.estimated_parameters[static_cast<size_t>(i - 2)].find("bias") != std::string::npos) {
        o.initial_std[i] = 20;
      }
    }
    return o;
  }
  // Truth: the twin with hidden parameters, local level control around a slowly varying level.
  struct Truth {
    std::vector<double> t;
    std::vector<Eigen::VectorXd> y;   // noisy sensors
    std::vector<Eigen::VectorXd> sd;  // per-sample sensor noise std (vibration: 0.05 + 3 %)
    std::vector<double> level;
  };
  Truth Simulate(const std::vector<std::pair<std::string, double>>& hidden, uint64_t seed, double horizon,
                 bool irregular) const {
    physics::Context c = twin_->CreateDefaultContext();
    for (const auto& [name, v] : hidden)
      EXPECT_TRUE(twin_->SetValue(&c, SignalKind::kParameter, name, v).ok());
    c.state << 1300, 50;
    physics::Simulator sim(*twin_, c, std::move(physics::MakeRk4Integrator({.step_s = 0.1})).value());
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> nd;
    std::uniform_real_distribution<double> gap(0.4, 2.0);
    std::vector<int> idx;
    for (const auto& s : kSensors) idx.push_back(twin_->IndexOf(SignalKind::kOutput, s));
    Truth out;
    double t = 0;
    while (t < horizon) {
      t += irregular ? gap(rng) : 1.0;
      const double level = 2.5 + 0.4 * std::sin(t / 300.0);
      sim.mutable_context().inputs[twin_->IndexOf(SignalKind::kInput, "level_m")] = level;
      EXPECT_TRUE(sim.AdvanceTo(t).ok());
      Eigen::VectorXd y = sim.Outputs(), v(6), sd(6);
      sd << 1.0, 0.01, 2.0, 0.1, 0.2, 0.0;
      for (int k = 0; k < 6; ++k) v[k] = y[idx[static_cast<size_t>(k)]];
      sd[5] = 0.05 + 0.03 * v[5];
      for (int k = 0; k < 6; ++k) v[k] += sd[k] * nd(rng);
      out.t.push_back(t);
      out.y.push_back(v);
      out.sd.push_back(sd);
      out.level.push_back(level);
    }
    return out;
  }
  // Runs the estimator over the truth's samples; drops each reading with probability `drop`.
  void Run(Estimator* est, const Truth& truth, double drop, uint64_t seed) const {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u01;
    Eigen::VectorXd u = twin_->DefaultValues(SignalKind::kInput);
    const int lvl = twin_->IndexOf(SignalKind::kInput, "level_m");
    for (size_t k = 0; k < truth.t.size(); ++k) {
      u[lvl] = truth.level[k];
      ASSERT_TRUE(est->SetInputs(u).ok());
      Measurement z{truth.t[k], truth.y[k], std::vector<bool>(6, true), truth.sd[k]};
      for (size_t s = 0; s < 6; ++s) z.present[s] = u01(rng) >= drop;
      auto rep = est->Update(z);
      ASSERT_TRUE(rep.ok()) << rep.status().ToString() << " at t=" << truth.t[k];
    }
  }
  std::unique_ptr<physics::Diagram> twin_;
};

// The EKF's AD linearization of the propagation over [0, t1] (RK4 substeps <= max_step) and of
// the observation `rows`, each entry against central differences of the double maps, to
// f_tol / h_tol relative. Returns the largest |F(i, j)| off the diagonal.
double ExpectLinearizationMatchesDifferences(const AugmentedModel& m, const Eigen::VectorXd& z,
                                             const Eigen::VectorXd& u, const std::vector<int>& rows,
                                             double t1, double max_step, double f_tol, double h_tol) {
  Eigen::VectorXd z1, y;
  Eigen::MatrixXd F, H;
  m.LinearizePropagation(0.0, t1, z, u, max_step, &z1, &F);
  m.LinearizeObservation(0.0, z, u, rows, &y, &H);
  EXPECT_TRUE(z1.isApprox(m.Propagate<double>(0.0, t1, z, u, max_step)));
  EXPECT_TRUE(y.isApprox(m.Observe<double>(0.0, z, u, rows)));
  double largest = 0;
  for (int j = 0; j < m.size(); ++j) {
    const double h = 1e-6 * std::max(1.0, std::abs(z[j]));
    Eigen::VectorXd zp = z, zm = z;
    zp[j] += h;
    zm[j] -= h;
    const Eigen::VectorXd fd_f =
        (m.Propagate<double>(0.0, t1, zp, u, max_step) - m.Propagate<double>(0.0, t1, zm, u, max_step)) /
        (2 * h);
    const Eigen::VectorXd fd_h =
        (m.Observe<double>(0.0, zp, u, rows) - m.Observe<double>(0.0, zm, u, rows)) / (2 * h);
    for (int i = 0; i < m.size(); ++i) {
      EXPECT_NEAR(F(i, j), fd_f[i], f_tol * (1 + std::abs(fd_f[i]))) << i << "," << j;
      if (i != j) largest = std::max(largest, std::abs(F(i, j)));
    }
    for (Eigen::Index i = 0; i < fd_h.size(); ++i)
      EXPECT_NEAR(H(i, j), fd_h[i], h_tol * (1 + std::abs(fd_h[i]))) << i << "," << j;
  }
  return largest;
}

TEST_F(PumpTwin, EkfJacobiansEqualFiniteDifferences) {
  auto m = AugmentedModel::Create(Model({"pump.impeller_wear", "pump.bearing_wear", "pump.flow_bias_m3h"}));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  Eigen::VectorXd z(5);
  z << 1310, 48, 0.15, 0.2, 1.5;
  const Eigen::VectorXd u = twin_->DefaultValues(SignalKind::kInput);  // local control, level 2.5
  ExpectLinearizationMatchesDifferences(*m, z, u, {0, 1, 2, 3, 4, 5}, 1.0, 0.25, 1e-6, 1e-5);
}

// Above kFixedAutoDiffDerivatives augmented states the EKF linearizes with the dynamic scalar:
// the 3-pump station (7 states) with the three impeller wears (n = 10) against difference
// quotients.
TEST(StationEkf, JacobiansEqualFiniteDifferencesAboveTheFixedSizeLimit) {
  auto station = physics::MakeStationDiagram(3);
  ASSERT_TRUE(station.ok()) << station.status().ToString();
  const physics::Diagram& d = **station;
  std::vector<std::string> outs;
  for (const auto& o : d.outputs()) {
    if (o.name.find("flow_m3h") != std::string::npos || o.name.find("level_m") != std::string::npos)
      outs.push_back(o.name);
  }
  ASSERT_GE(outs.size(), 4u);
  auto m = AugmentedModel::Create(
      {&d, {}, {"pump-1.impeller_wear", "pump-2.impeller_wear", "pump-3.impeller_wear"}, outs});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const int n = m->size();
  ASSERT_GT(n, physics::kFixedAutoDiffDerivatives);
  Eigen::VectorXd z = m->DefaultMean();
  z.tail(3) << 0.1, 0.2, 0.05;
  for (int i = 0; i < n; ++i) {  // running pumps (the default state has them stopped)
    if (m->names()[static_cast<size_t>(i)].ends_with("speed_rpm")) z[i] = 1300;
  }
  const Eigen::VectorXd u = d.DefaultValues(SignalKind::kInput);
  std::vector<int> rows(outs.size());
  for (size_t k = 0; k < rows.size(); ++k) rows[k] = static_cast<int>(k);
  // the states do depend on each other and on the wears
  EXPECT_GT(ExpectLinearizationMatchesDifferences(*m, z, u, rows, 2.0, 0.5, 1e-5, 1e-5), 1e-3);
}

// The binding's RK4 substep (DefaultPumpEstimatorSpec().max_step_s, 1 s: one substep per
// estimator step at the engine's 1 s cadence) makes a discretization error far below the sensor
// noise against a 1 ms reference: < 5 % of the speed sensor's 2 rpm, < 1 % of the temperature's
// 0.2 K. The speed lag is 2 s, well inside RK4's stability region at h = 1 s. Checked under local
// control and after setpoint steps of ±300 rpm, where the speed moves fastest (ramp-limited).
TEST_F(PumpTwin, OneSecondPredictionSubstepIsFarBelowTheSensorNoise) {
  auto m = AugmentedModel::Create(Model({"pump.impeller_wear", "pump.bearing_wear", "pump.flow_bias_m3h"}));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  const double h = DefaultPumpEstimatorSpec().max_step_s;
  EXPECT_LE(h, 1.0);
  Eigen::VectorXd u = twin_->DefaultValues(SignalKind::kInput);
  const int sp = twin_->IndexOf(SignalKind::kInput, "speed_setpoint_rpm");
  double worst_speed = 0, worst_temp = 0;
  for (double setpoint : {physics::kNaN, 1000.0, 1600.0}) {
    u[sp] = setpoint;
    Eigen::VectorXd z(5), ref(5);
    z << 1300, 48, 0.15, 0.2, 1.5;
    ref = z;
    for (int step = 0; step < 10; ++step) {  // ten 1 s steps, each started from the reference
      const double t0 = step, t1 = step + 1.0;
      const Eigen::VectorXd coarse = m->Propagate<double>(t0, t1, ref, u, h);
      ref = m->Propagate<double>(t0, t1, ref, u, 1e-3);
      worst_speed = std::max(worst_speed, std::abs(coarse[0] - ref[0]));
      worst_temp = std::max(worst_temp, std::abs(coarse[1] - ref[1]));
    }
  }
  std::printf("RK4 substep %.2f s vs 1 ms: worst speed error %.2e rpm, temperature %.2e K per 1 s step\n", h,
              worst_speed, worst_temp);
  EXPECT_LT(worst_speed, 0.05 * 2.0);  // and 2 % of the 5 rpm the process noise adds per step
  EXPECT_LT(worst_temp, 0.01 * 0.2);
}

TEST_F(PumpTwin, AugmentedStateRecoversImpellerAndBearingWear) {
  const Truth truth = Simulate({{"pump.impeller_wear", 0.25}, {"pump.bearing_wear", 0.3}}, 42, 600, false);
  FilterModel fm = Model({"pump.impeller_wear", "pump.bearing_wear"});
  EstimatorOptions o = Options(fm);
  auto ekf = MakeExtendedKalmanFilter(fm, o);
  auto ukf = MakeUnscentedKalmanFilter(fm, o, {.alpha = 0.5});
  ASSERT_TRUE(ekf.ok() && ukf.ok());
  for (Estimator* e : {ekf->get(), ukf->get()}) {
    Run(e, truth, 0.0, 1);
    EXPECT_NEAR(*e->Mean("pump.impeller_wear"), 0.25, 0.025) << e->kind();
    EXPECT_NEAR(*e->Mean("pump.bearing_wear"), 0.3, 0.03) << e->kind();
    EXPECT_LT(*e->StdDev("pump.impeller_wear"), 0.01) << e->kind();
    // Consistent innovations: mean NIS per degree of freedom near 1.
    EXPECT_NEAR(e->innovations().mean_nis_per_dof(), 1.0, 0.25) << e->kind();
    EXPECT_EQ(e->summary().divergences, 0);
  }
}

TEST_F(PumpTwin, BiasedFlowSensorIsEstimatedAsBiasNotWear) {
  const Truth truth = Simulate({{"pump.impeller_wear", 0.1}, {"pump.flow_bias_m3h", 8.0}}, 7, 900, false);
  FilterModel fm = Model({"pump.impeller_wear", "pump.bearing_wear", "pump.flow_bias_m3h"});
  auto ekf = MakeExtendedKalmanFilter(fm, Options(fm));
  ASSERT_TRUE(ekf.ok());
  Run(ekf->get(), truth, 0.0, 2);
  EXPECT_NEAR(*(*ekf)->Mean("pump.flow_bias_m3h"), 8.0, 0.8);
  EXPECT_NEAR(*(*ekf)->Mean("pump.impeller_wear"), 0.1, 0.01);
  EXPECT_NEAR(*(*ekf)->Mean("pump.bearing_wear"), 0.0, 0.02);
}

TEST_F(PumpTwin, DroppedReadingsAndIrregularTimingStillConverge) {
  const Truth truth = Simulate({{"pump.impeller_wear", 0.2}}, 9, 900, /*irregular=*/true);
  FilterModel fm = Model({"pump.impeller_wear"});
  EstimatorOptions o = Options(fm);
  auto ekf = MakeExtendedKalmanFilter(fm, o);
  auto enkf = MakeEnsembleKalmanFilter(fm, o, {.members = 60, .seed = 3});
  ASSERT_TRUE(ekf.ok() && enkf.ok());
  for (Estimator* e : {ekf->get(), enkf->get()}) {
    Run(e, truth, 0.2, 5);
    EXPECT_NEAR(*e->Mean("pump.impeller_wear"), 0.2, 0.02) << e->kind();
    EXPECT_GT(e->summary().updates, 400);
  }
}

TEST_F(PumpTwin, SensorOutageGrowsUncertaintyUntilDataReturns) {
  const Truth truth = Simulate({{"pump.impeller_wear", 0.2}}, 4, 400, false);
  FilterModel fm = Model({"pump.impeller_wear"});
  auto ekf = MakeExtendedKalmanFilter(fm, Options(fm));
  ASSERT_TRUE(ekf.ok());
  Estimator& e = **ekf;
  Run(&e, truth, 0.0, 1);
  const double sd_speed = *e.StdDev("pump.speed_rpm"), sd_temp = *e.StdDev("motor.motor_temp_c");
  // Every sensor missing for 60 s, then only the speed sensor back.
  double t = truth.t.back();
  for (int k = 0; k < 60; ++k) {
    ASSERT_TRUE(e.Update({t += 1, truth.y.back(), std::vector<bool>(6, false)}).ok());
  }
  EXPECT_GT(*e.StdDev("pump.speed_rpm"), 2 * sd_speed);
  EXPECT_GT(*e.StdDev("motor.motor_temp_c"), sd_temp);
  std::vector<bool> speed_only(6, false);
  speed_only[2] = true;
  const double before = *e.StdDev("pump.speed_rpm");
  ASSERT_TRUE(e.Update({t += 1, truth.y.back(), speed_only}).ok());
  EXPECT_LT(*e.StdDev("pump.speed_rpm"), before);
}

TEST_F(PumpTwin, ContextForksTheEstimateForWhatIfs) {
  FilterModel fm = Model({"pump.impeller_wear"});
  EstimatorOptions o = Options(fm);
  o.initial_mean[2] = 0.3;
  auto ekf = MakeExtendedKalmanFilter(fm, o);
  ASSERT_TRUE(ekf.ok());
  physics::Context c = (*ekf)->ToContext();
  EXPECT_DOUBLE_EQ(*twin_->GetValue(c, SignalKind::kParameter, "pump.impeller_wear"), 0.3);
  EXPECT_DOUBLE_EQ(c.state[0], 1250);
  EXPECT_TRUE(twin_->ValidateContext(c).ok());
}

}  // namespace
}  // namespace doppel::estimate
