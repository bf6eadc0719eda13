// Telemetry of one simulated pump for engine tests: the pump twin model
// (physics::MakePumpTwinDiagram) with some parameters set by name, started at 1300 rpm and 50 °C,
// tank level 2.5 m, integrated with RK4 at 0.1 s; readings carry the plant's sensor noise.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/physics/integrator.h"
#include "doppel/physics/station.h"

namespace doppel::engine::testing_pump {

// Every sensor of the pump, in telemetry order.
inline const std::vector<std::string>& AllSensors() {
  static const std::vector<std::string> s = {"flow_m3h", "discharge_pressure_bar", "speed_rpm",
                                             "power_kw", "motor_temp_c",           "vibration_mm_s"};
  return s;
}

class PumpTelemetry {
 public:
  // `seed` seeds the noise (one generator and one normal distribution for the whole feed).
  PumpTelemetry(const std::vector<std::pair<std::string, double>>& parameters, uint64_t seed) : rng_(seed) {
    auto d = physics::MakePumpTwinDiagram();
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    system_ = std::move(d).value();
    physics::Context c = system_->CreateDefaultContext();
    for (const auto& [name, value] : parameters) {
      EXPECT_TRUE(system_->SetValue(&c, physics::SignalKind::kParameter, name, value).ok()) << name;
    }
    c.state << 1300, 50;
    c.inputs[system_->IndexOf(physics::SignalKind::kInput, "level_m")] = 2.5;
    sim_ = std::make_unique<physics::Simulator>(
        *system_, c, std::move(physics::MakeRk4Integrator({.step_s = 0.1})).value());
  }
  const physics::System& system() const { return *system_; }

  void AdvanceTo(double t_s) { EXPECT_TRUE(sim_->AdvanceTo(t_s).ok()); }

  // Readings of `sensors` for `twin` at source time ts, from the pump's current outputs. Noise
  // std (drawn in sensor order): flow 1 m³/h, pressure 0.01 bar, speed 2 rpm, power 0.1 kW,
  // motor temperature 0.2 °C, vibration 0.05 mm/s + 3 %; none when `noise` is false.
  void Append(TimeNs ts, const std::string& twin, const std::vector<std::string>& sensors, bool noise,
              std::vector<Reading>* out) {
    const Eigen::VectorXd y = sim_->Outputs();
    for (const std::string& s : sensors) {
      const double v = y[system_->IndexOf(physics::SignalKind::kOutput, s)];
      out->push_back(Reading{twin, s, ts, noise ? v + Std(s, v) * nd_(rng_) : v, Quality::kGood});
    }
  }

 private:
  static double Std(const std::string& sensor, double v) {
    if (sensor == "flow_m3h") return 1.0;
    if (sensor == "discharge_pressure_bar") return 0.01;
    if (sensor == "speed_rpm") return 2.0;
    if (sensor == "power_kw") return 0.1;
    if (sensor == "motor_temp_c") return 0.2;
    return 0.05 + 0.03 * v;  // vibration_mm_s
  }
  std::unique_ptr<physics::System> system_;
  std::unique_ptr<physics::Simulator> sim_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> nd_;
};

}  // namespace doppel::engine::testing_pump
