#include "doppel/physics/station.h"

#include <cassert>
#include <cmath>

namespace doppel::physics {

// ---------------------------------------------------------------------------------------------
// Pump

PumpModel::PumpModel(std::string name) : LeafSystem(std::move(name)) {
  DeclareState("speed_rpm", "rpm", 0.0, "shaft speed");
  [[maybe_unused]] int i =
      DeclareInput("speed_setpoint_rpm", "rpm", kNaN, "commanded speed; NaN = local control");
  assert(i == kSetpoint);
  i = DeclareInput("level_m", "m", 2.5, "tank level (sets the static head)");
  assert(i == kLevel);

  auto out = [&](Output k, const char* n, const char* unit, const char* d) {
    [[maybe_unused]] int j = DeclareOutput(n, unit, d);
    assert(j == k);
  };
  out(kFlow, "flow_m3h", "m3/h", "measured flow (true + flow_bias_m3h)");
  out(kPressure, "discharge_pressure_bar", "bar", "measured discharge pressure (gauge)");
  out(kSpeed, "speed_rpm", "rpm", "measured speed");
  out(kPower, "power_kw", "kW", "measured shaft power");
  out(kVibration, "vibration_mm_s", "mm/s", "measured RMS vibration velocity");
  out(kHead, "head_m", "m", "pump head");
  out(kEfficiency, "efficiency", "1", "hydraulic efficiency");
  out(kShaftPower, "shaft_power_kw", "kW", "true shaft power (drives the motor thermal model)");
  out(kFlowTrue, "flow_true_m3h", "m3/h", "true flow (fills the tank)");

  auto par = [&](Param k, const char* n, const char* unit, double v, const char* d) {
    [[maybe_unused]] int j = DeclareParameter(n, unit, v, d);
    assert(j == k);
  };
  par(kRatedSpeed, "rated_speed_rpm", "rpm", 1450, "n0, speed of the rated pump curve");
  par(kMaxSpeed, "max_speed_rpm", "rpm", 3000, "commanded setpoints are clamped to [0, this]");
  par(kShutoffHead, "shutoff_head_m", "m", 45, "H0 of a new impeller at n0");
  par(kCurveK, "curve_k", "m/(m3/h)^2", 6.667e-4, "pump curve H = H0 s^2 - k Q^2");
  par(kBepFlow, "bep_flow_m3h", "m3/h", 150, "best-efficiency flow at n0");
  par(kBepEfficiency, "bep_efficiency", "1", 0.78, "efficiency at the best-efficiency point");
  par(kMinEfficiency, "min_efficiency", "1", 0.05, "efficiency floor");
  par(kMechLoss, "mech_loss_kw", "kW", 1.0, "mechanical losses at n0, scale with s^3");
  par(kImpellerHeadLoss, "impeller_head_loss", "1", 0.30, "fractional H0 loss at impeller wear 1");
  par(kImpellerEffLoss, "impeller_eff_loss", "1", 0.25, "fractional efficiency loss at impeller wear 1");
  par(kLineR, "line_r", "m/(m3/h)^2", 2.5e-4, "discharge line friction r Q^2 (fouling raises it)");
  par(kStaticLift, "static_lift_m", "m", 20, "sump surface to tank bottom");
  par(kSpeedTau, "speed_tau_s", "s", 2.0, "speed lag time constant");
  par(kMaxRamp, "max_ramp_rpm_s", "rpm/s", 100, "speed ramp limit");
  par(kBaseVibration, "base_vibration_mm_s", "mm/s", 1.8, "v0, vibration at n0 with new bearings");
  par(kBearingVibrationGain, "bearing_vibration_gain", "1", 4.0, "vibration x (1 + g_b w_b)");
  par(kLevelRef, "level_ref_m", "m", 2.5, "local control: level reference");
  par(kNominalSpeed, "nominal_speed_rpm", "rpm", 1300, "local control: speed at the reference level");
  par(kLevelGain, "gain_rpm_per_m", "rpm/m", 300, "local control: proportional gain");
  par(kLocalMinSpeed, "local_min_speed_rpm", "rpm", 900, "local control: lower speed limit");
  par(kLocalMaxSpeed, "local_max_speed_rpm", "rpm", 1800, "local control: upper speed limit");
  par(kImpellerWear, "impeller_wear", "1", 0.0, "hidden: impeller wear 0..1");
  par(kBearingWear, "bearing_wear", "1", 0.0, "hidden: bearing wear 0..1");
  par(kFlowBias, "flow_bias_m3h", "m3/h", 0.0, "flow sensor bias");
  par(kPressureBias, "pressure_bias_bar", "bar", 0.0, "pressure sensor bias");
  par(kSpeedBias, "speed_bias_rpm", "rpm", 0.0, "speed sensor bias");
  par(kPowerBias, "power_bias_kw", "kW", 0.0, "power meter bias");
  par(kVibrationBias, "vibration_bias_mm_s", "mm/s", 0.0, "vibration sensor bias");
}

template <typename T>
void PumpModel::DoCalcDerivatives(double, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const {
  const T& n = x[0];
  T sp;
  if (std::isnan(Value(u[kSetpoint]))) {
    T local = p[kNominalSpeed] + p[kLevelGain] * (p[kLevelRef] - u[kLevel]);
    sp = Max<T>(p[kLocalMinSpeed], Min<T>(local, p[kLocalMaxSpeed]));
  } else {
    sp = Max<T>(T(0.0), Min<T>(u[kSetpoint], p[kMaxSpeed]));
  }
  T rate = (sp - n) / p[kSpeedTau];
  xdot[0] = Max<T>(-p[kMaxRamp], Min<T>(rate, p[kMaxRamp]));
}

template <typename T>
void PumpModel::DoCalcOutputs(double, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> y) const {
  const T& n = x[0];
  T s = Max<T>(n, T(0.0)) / p[kRatedSpeed];
  T h0 = p[kShutoffHead] * (1.0 - p[kImpellerHeadLoss] * p[kImpellerWear]);
  T shut = h0 * s * s;
  T lift = p[kStaticLift] + u[kLevel];
  T q(0.0);
  if (Value(shut) > Value(lift)) {
    using std::sqrt;
    T arg = (shut - lift) / (p[kCurveK] + p[kLineR]);
    q = sqrt(arg);
  }
  T head = shut - p[kCurveK] * q * q;
  T eta = p[kMinEfficiency];
  if (Value(s) > 0) {
    T eta_bep = p[kBepEfficiency] * (1.0 - p[kImpellerEffLoss] * p[kImpellerWear]);
    T xr = q / (p[kBepFlow] * s);
    T e = eta_bep * (2.0 * xr - xr * xr);
    eta = Max<T>(p[kMinEfficiency], e);
  }
  T hydraulic_kw = (kWaterDensity * kGravity / 3600.0 / 1000.0) * q * head;
  T power = hydraulic_kw / eta + p[kMechLoss] * s * s * s;
  T vib = p[kBaseVibration] * s * s * (1.0 + p[kBearingVibrationGain] * p[kBearingWear]);
  y[kFlow] = q + p[kFlowBias];
  y[kPressure] = (kWaterDensity * kGravity / 1e5) * head + p[kPressureBias];
  y[kSpeed] = n + p[kSpeedBias];
  y[kPower] = power + p[kPowerBias];
  y[kVibration] = vib + p[kVibrationBias];
  y[kHead] = head;
  y[kEfficiency] = eta;
  y[kShaftPower] = power;
  y[kFlowTrue] = q;
}

// ---------------------------------------------------------------------------------------------
// Motor thermal

MotorThermalModel::MotorThermalModel(std::string name) : LeafSystem(std::move(name)) {
  DeclareState("motor_temp_c", "degC", 25.0, "winding temperature");
  DeclareInput("power_kw", "kW", 0.0, "shaft power");
  DeclareOutput("motor_temp_c", "degC", "measured winding temperature (true + temp_bias_c)");
  DeclareParameter("ambient_c", "degC", 25.0, "ambient temperature");
  DeclareParameter("thermal_tau_s", "s", 1200.0, "thermal time constant");
  DeclareParameter("loss_k_per_kw", "K/kW", 2.5, "steady-state temperature rise per kW");
  DeclareParameter("temp_bias_c", "K", 0.0, "temperature sensor bias");
}

template <typename T>
void MotorThermalModel::DoCalcDerivatives(double, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const {
  xdot[0] = (p[kLossK] * u[0] - (x[0] - p[kAmbient])) / p[kTau];
}

template <typename T>
void MotorThermalModel::DoCalcOutputs(double, InVec<T> x, InVec<T>, InVec<T> p, OutVec<T> y) const {
  y[0] = x[0] + p[kTempBias];
}

// ---------------------------------------------------------------------------------------------
// Tank

TankModel::TankModel(std::string name, int num_inflows) : LeafSystem(std::move(name)) {
  DeclareState("level_m", "m", 2.5, "water level above the tank bottom");
  for (int i = 1; i <= num_inflows; ++i) {
    DeclareInput("inflow_" + std::to_string(i) + "_m3h", "m3/h", 0.0, "inflow from one pump");
  }
  DeclareInput("demand_m3h", "m3/h", 0.0, "outflow to the town");
  DeclareOutput("level_m", "m", "level");
  DeclareParameter("area_m2", "m2", 200.0, "cross-section");
  DeclareParameter("height_m", "m", 5.0, "overflow height");
}

template <typename T>
void TankModel::DoCalcDerivatives(double, InVec<T> x, InVec<T> u, InVec<T> p, OutVec<T> xdot) const {
  const Eigen::Index n_in = u.size() - 1;
  T net = -u[n_in];
  for (Eigen::Index i = 0; i < n_in; ++i) net += u[i];
  T dl = net / (3600.0 * p[kArea]);
  const double l = Value(x[0]), d = Value(dl);
  if ((l >= Value(p[kHeight]) && d > 0) || (l <= 0 && d < 0)) dl = T(0.0);
  xdot[0] = dl;
}

template <typename T>
void TankModel::DoCalcOutputs(double, InVec<T> x, InVec<T>, InVec<T>, OutVec<T> y) const {
  y[0] = x[0];
}

// ---------------------------------------------------------------------------------------------
// Demand

DemandProfile::DemandProfile(std::string name) : LeafSystem(std::move(name)) {
  DeclareOutput("demand_m3h", "m3/h", "town demand");
  DeclareParameter("demand_scale_m3h", "m3/h", 300.0, "D");
  DeclareParameter("demand_base", "1", 0.6, "night-time fraction of D");
  DeclareParameter("morning_peak", "1", 0.7, "a_m");
  DeclareParameter("morning_peak_h", "h", 7.5, "hour of the morning peak");
  DeclareParameter("morning_width_h", "h", 1.5, "width of the morning peak");
  DeclareParameter("evening_peak", "1", 0.6, "a_e");
  DeclareParameter("evening_peak_h", "h", 19.0, "hour of the evening peak");
  DeclareParameter("evening_width_h", "h", 2.0, "width of the evening peak");
  DeclareParameter("time_of_day_at_start_s", "s", 0.0, "time of day at t = 0");
}

namespace {
template <typename T>
T DailyBump(double hour, const T& peak_h, const T& width_h) {
  T d = std::fmod(hour - Value(peak_h) + 36.0, 24.0) - 12.0 + (Value(peak_h) - peak_h);  // keep d/dpeak
  T r = d / width_h;
  using std::exp;
  return exp(-0.5 * r * r);
}
}  // namespace

template <typename T>
void DemandProfile::DoCalcOutputs(double t, InVec<T>, InVec<T>, InVec<T> p, OutVec<T> y) const {
  double tod = std::fmod(Value(p[kTimeOfDayAtStart]) + t, 86400.0);
  if (tod < 0) tod += 86400.0;
  const double h = tod / 3600.0;
  y[0] = p[kScale] * (p[kBase] + p[kMorningPeak] * DailyBump<T>(h, p[kMorningHour], p[kMorningWidth]) +
                      p[kEveningPeak] * DailyBump<T>(h, p[kEveningHour], p[kEveningWidth]));
}

// Explicit instantiations: the LeafSystem overrides call these from any translation unit.
#define DOPPEL_INSTANTIATE(Model, T)                                                                \
  template void Model::DoCalcDerivatives<T>(double, InVec<T>, InVec<T>, InVec<T>, OutVec<T>) const; \
  template void Model::DoCalcOutputs<T>(double, InVec<T>, InVec<T>, InVec<T>, OutVec<T>) const;
DOPPEL_INSTANTIATE(PumpModel, double)
DOPPEL_INSTANTIATE(PumpModel, AutoDiffXd)
DOPPEL_INSTANTIATE(PumpModel, AutoDiff8)
DOPPEL_INSTANTIATE(MotorThermalModel, double)
DOPPEL_INSTANTIATE(MotorThermalModel, AutoDiffXd)
DOPPEL_INSTANTIATE(MotorThermalModel, AutoDiff8)
DOPPEL_INSTANTIATE(TankModel, double)
DOPPEL_INSTANTIATE(TankModel, AutoDiffXd)
DOPPEL_INSTANTIATE(TankModel, AutoDiff8)
#undef DOPPEL_INSTANTIATE
template void DemandProfile::DoCalcOutputs<double>(double, InVec<double>, InVec<double>, InVec<double>,
                                                   OutVec<double>) const;
template void DemandProfile::DoCalcOutputs<AutoDiffXd>(double, InVec<AutoDiffXd>, InVec<AutoDiffXd>,
                                                       InVec<AutoDiffXd>, OutVec<AutoDiffXd>) const;
template void DemandProfile::DoCalcOutputs<AutoDiff8>(double, InVec<AutoDiff8>, InVec<AutoDiff8>,
                                                      InVec<AutoDiff8>, OutVec<AutoDiff8>) const;

// ---------------------------------------------------------------------------------------------
// Diagrams

Result<std::unique_ptr<Diagram>> MakePumpTwinDiagram() {
  DiagramBuilder b;
  b.AddSystem(std::make_unique<PumpModel>("pump"));
  b.AddSystem(std::make_unique<MotorThermalModel>("motor"));
  b.Connect("pump", "shaft_power_kw", "motor", "power_kw");
  b.ExportInput("pump", "speed_setpoint_rpm", "speed_setpoint_rpm");
  b.ExportInput("pump", "level_m", "level_m");
  for (const char* n : {"flow_m3h", "discharge_pressure_bar", "speed_rpm", "power_kw", "vibration_mm_s"}) {
    b.ExportOutput("pump", n, n);
  }
  b.ExportOutput("motor", "motor_temp_c", "motor_temp_c");
  return std::move(b).Build("pump_twin");
}

Result<std::unique_ptr<Diagram>> MakeStationDiagram(int pumps) {
  if (pumps < 1 || pumps > 64) return InvalidArgument("station: pumps must be in 1..64");
  DiagramBuilder b;
  for (int i = 1; i <= pumps; ++i) {
    const std::string pump = "pump-" + std::to_string(i), motor = "motor-" + std::to_string(i);
    b.AddSystem(std::make_unique<PumpModel>(pump));
    b.AddSystem(std::make_unique<MotorThermalModel>(motor));
    b.Connect(pump, "shaft_power_kw", motor, "power_kw");
    b.Connect(pump, "flow_true_m3h", "tank-1", "inflow_" + std::to_string(i) + "_m3h");
    b.Connect("tank-1", "level_m", pump, "level_m");
    b.ExportOutput(motor, "motor_temp_c", pump + ".motor_temp_c");
  }
  b.AddSystem(std::make_unique<TankModel>("tank-1", pumps));
  b.AddSystem(std::make_unique<DemandProfile>("demand"));
  b.Connect("demand", "demand_m3h", "tank-1", "demand_m3h");
  b.ExportOutput("demand", "demand_m3h", "tank-1.demand_m3h");
  return std::move(b).Build("station");
}

}  // namespace doppel::physics
