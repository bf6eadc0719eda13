// The pumping-station model library: the twin's *nominal* behavior models of the demo plant
// (docs/physics.md has the equations; docs/plant.md the plant they mirror). Parameter defaults
// are the plant's nominal values, so a twin starting from nominal tracks a nominal plant.
// Hidden degradation (impeller wear, bearing wear) and sensor biases are *parameters* here,
// constant in the model; estimators make them random-walk states to estimate them.
// Faults (cavitation, defects) are not modeled: they show up as innovations.
//
// Output names equal the DTDL telemetry names (examples/models/pump.json, tank.json).
#pragma once

#include <memory>

#include "doppel/physics/diagram.h"
#include "doppel/physics/system.h"

namespace doppel::physics {

constexpr double kWaterDensity = 1000.0;  // kg/m^3
constexpr double kGravity = 9.81;         // m/s^2

// One variable-speed centrifugal pump with its own discharge line to the tank.
//   state:  speed_rpm
//   inputs: speed_setpoint_rpm (NaN = local level control, the plant's "auto"), level_m
//   outputs (measured, including sensor biases): flow_m3h, discharge_pressure_bar, speed_rpm,
//           power_kw, vibration_mm_s; (noise-free, unbiased): head_m, efficiency,
//           shaft_power_kw, flow_true_m3h
class PumpModel final : public LeafSystem<PumpModel> {
 public:
  enum Input { kSetpoint = 0, kLevel, kNumInputs };
  enum Output {
    kFlow = 0,
    kPressure,
    kSpeed,
    kPower,
    kVibration,
    kHead,
    kEfficiency,
    kShaftPower,
    kFlowTrue,
    kNumOutputs
  };
  enum Param {
    kRatedSpeed = 0,
    kMaxSpeed,
    kShutoffHead,
    kCurveK,
    kBepFlow,
    kBepEfficiency,
    kMinEfficiency,
    kMechLoss,
    kImpellerHeadLoss,
    kImpellerEffLoss,
    kLineR,
    kStaticLift,
    kSpeedTau,
    kMaxRamp,
    kBaseVibration,
    kBearingVibrationGain,
    kLevelRef,
    kNominalSpeed,
    kLevelGain,
    kLocalMinSpeed,
    kLocalMaxSpeed,
    kImpellerWear,
    kBearingWear,
    kFlowBias,
    kPressureBias,
    kSpeedBias,
    kPowerBias,
    kVibrationBias,
    kNumParams
  };
  explicit PumpModel(std::string name = "pump");

  template <typename T>
  void DoCalcDerivatives(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const;
  template <typename T>
  void DoCalcOutputs(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> y) const;
};

// First-order motor winding temperature: dT/dt = (k_loss·P − (T − T_amb)) / τ.
//   state: motor_temp_c; input: power_kw; output: motor_temp_c (+ temp_bias_c)
class MotorThermalModel final : public LeafSystem<MotorThermalModel> {
 public:
  enum Param { kAmbient = 0, kTau, kLossK, kTempBias, kNumParams };
  explicit MotorThermalModel(std::string name = "motor");
  bool HasDirectFeedthrough() const override { return false; }

  template <typename T>
  void DoCalcDerivatives(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const;
  template <typename T>
  void DoCalcOutputs(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> y) const;
};

// Storage tank: A·dL/dt = (Σ inflow − demand)/3600, derivative cut at 0 and height.
//   state: level_m; inputs: inflow_1_m3h .. inflow_N_m3h, demand_m3h; output: level_m
class TankModel final : public LeafSystem<TankModel> {
 public:
  enum Param { kArea = 0, kHeight, kNumParams };
  TankModel(std::string name = "tank", int num_inflows = 1);
  bool HasDirectFeedthrough() const override { return false; }
  int num_inflows() const { return num_inputs() - 1; }

  template <typename T>
  void DoCalcDerivatives(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const;
  template <typename T>
  void DoCalcOutputs(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> y) const;
};

// The town's daily demand profile (no state, no inputs; time of day from t and a parameter):
//   d(t) = D·(base + a_m·g(h; h_m, w_m) + a_e·g(h; h_e, w_e)), g a Gaussian bump in circular
//   hour-of-day distance.  output: demand_m3h
class DemandProfile final : public LeafSystem<DemandProfile> {
 public:
  enum Param {
    kScale = 0,
    kBase,
    kMorningPeak,
    kMorningHour,
    kMorningWidth,
    kEveningPeak,
    kEveningHour,
    kEveningWidth,
    kTimeOfDayAtStart,
    kNumParams
  };
  explicit DemandProfile(std::string name = "demand");
  bool HasDirectFeedthrough() const override { return false; }

  template <typename T>
  void DoCalcDerivatives(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const {}
  template <typename T>
  void DoCalcOutputs(double t, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> y) const;
};

// The twin of one pump (pump + motor thermal), for per-pump estimation.
//   states: pump.speed_rpm, motor.motor_temp_c
//   inputs: speed_setpoint_rpm (NaN = local control), level_m (from the tank's telemetry)
//   outputs: flow_m3h, discharge_pressure_bar, speed_rpm, power_kw, motor_temp_c,
//            vibration_mm_s (DTDL names), then pump.head_m, pump.efficiency,
//            pump.shaft_power_kw, pump.flow_true_m3h
//   parameters: "pump.<name>" and "motor.<name>", e.g. pump.impeller_wear, pump.flow_bias_m3h
Result<std::unique_ptr<Diagram>> MakePumpTwinDiagram();

// The whole station: pumps "pump-1".."pump-N" (PumpModel), "motor-1".."motor-N",
// "tank-1" (TankModel with N inflows), "demand" (DemandProfile). Wiring: pump-i.shaft_power_kw
// -> motor-i.power_kw, pump-i.flow_true_m3h -> tank-1.inflow_i_m3h, tank-1.level_m ->
// pump-i.level_m, demand.demand_m3h -> tank-1.demand_m3h.
//   inputs: "pump-i.speed_setpoint_rpm" (NaN = local control)
//   outputs named "<twin id>.<DTDL telemetry name>", as the plant's twins: pump-i.flow_m3h,
//   pump-i.discharge_pressure_bar, pump-i.speed_rpm, pump-i.power_kw, pump-i.motor_temp_c,
//   pump-i.vibration_mm_s, tank-1.level_m, tank-1.demand_m3h (+ the pumps' extra outputs).
// Default context: pumps at rest, motors at ambient, level 2.5 m (the plant's start).
Result<std::unique_ptr<Diagram>> MakeStationDiagram(int pumps);

}  // namespace doppel::physics
