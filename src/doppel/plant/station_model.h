// The simulated pumping station: N centrifugal pumps lifting water from a sump into one
// elevated tank that feeds a town with a daily demand profile (docs/plant.md).
//
// Design (Drake-like): StationModel is a const object holding parameters and the fault
// schedule; it declares the continuous state (StationState), the inputs (StationInputs) and
// computes derivatives and outputs as pure functions of (t, state, inputs). Values live in the
// state struct, StationSimulator advances it with fixed-step RK4, and time is always an input:
// nothing in this file reads a clock. Randomness (parameter spread, faults, measurement noise)
// comes only from seeded std::mt19937_64 streams, so everything is deterministic for a seed.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace doppel::plant {

constexpr double kWaterDensity = 1000.0;  // kg/m^3
constexpr double kGravity = 9.81;         // m/s^2
constexpr double kSecondsPerDay = 86400.0;

// The six measured signals of a pump, in telemetry order.
enum class PumpSignal : int { kFlow = 0, kPressure, kSpeed, kPower, kMotorTemp, kVibration };
constexpr int kNumPumpSignals = 6;
// Telemetry member name, e.g. "flow_m3h".
const char* PumpSignalName(PumpSignal s);

struct PumpParams {
  double rated_speed_rpm = 1450;  // n0
  double max_speed_rpm = 3000;    // commands above are rejected
  // Pump curve H(Q, n) = H0·(n/n0)^2 − k·Q^2, Q in m^3/h, H in m.
  double shutoff_head_m = 45;  // H0 of a new impeller at n0
  double curve_k = 6.667e-4;   // m/(m^3/h)^2
  // Efficiency η(x) = η_bep·(2x − x^2), x = Q / (Q_bep·n/n0), floored at min_efficiency.
  double bep_flow_m3h = 150;  // best-efficiency flow at n0
  double bep_efficiency = 0.78;
  double min_efficiency = 0.05;
  double mech_loss_kw = 1.0;  // bearing/seal/disc friction at n0, scales with (n/n0)^3
  // Impeller wear w_i in [0, 1] lowers H0 and η_bep by these fractions at w_i = 1.
  double impeller_head_loss = 0.30;
  double impeller_eff_loss = 0.25;
  // This pump's own discharge line to the tank: friction head r·Q^2.
  double line_r = 2.5e-4;  // m/(m^3/h)^2
  // Speed follows its setpoint: dn/dt = clamp((n_sp − n)/τ_n, −ramp, +ramp).
  double speed_tau_s = 2.0;
  double max_ramp_rpm_s = 100.0;
  // Motor thermal model dT/dt = (k_loss·P − (T − T_amb)) / τ.
  double ambient_c = 25.0;
  double thermal_tau_s = 1200.0;
  double loss_k_per_kw = 2.5;  // steady-state temperature rise per kW of shaft power
  // Vibration (RMS velocity) = v0·(n/n0)^2·(1 + g_b·w_b) + v_cav·cavitation severity.
  double base_vibration_mm_s = 1.8;
  double bearing_vibration_gain = 4.0;
  double cavitation_vibration_mm_s = 4.0;
  double cavitation_head_drop = 0.25;  // fractional H0 loss at cavitation severity 1
  // Wear growth: dw_i/dt = r_i·(n/n0)^3·(1 + c_cav·sev); dw_b/dt = r_b·(n/n0)^2·(1 + P/P_ref)·d
  // (d = bearing_defect_factor while a bearing defect is active, else 1).
  double impeller_wear_rate_per_s = 1.2e-7;  // ≈ 0.01 per day at n0
  double bearing_wear_rate_per_s = 0.6e-7;
  double cavitation_wear_factor = 10.0;
  double bearing_defect_factor = 40.0;
  double bearing_ref_power_kw = 15.0;
  // Initial hidden wear.
  double initial_impeller_wear = 0.0;
  double initial_bearing_wear = 0.0;
};

// A PumpParams field by the pump twin model's parameter name (physics::MakePumpTwinDiagram's
// "pump.shutoff_head_m" / "motor.thermal_tau_s", or the short "shutoff_head_m"): the pump
// curve, efficiency, losses, line, speed lag, vibration and motor thermal constants, so that a
// twin's calibrated values can parameterize a truth-model pump (a sandbox forked from the
// twin). Returns false, changing nothing, for any other name (wears are states of the truth
// model: initial_*_wear; max_speed_rpm is a command limit, the sandbox's own).
bool SetPumpParameter(PumpParams* pump, std::string_view name, double value);
// The names SetPumpParameter takes (short form), in PumpParams order.
const std::vector<std::string>& PumpParameterNames();

struct TankParams {
  double area_m2 = 200.0;
  double height_m = 5.0;
  double initial_level_m = 2.5;
  double static_lift_m = 20.0;  // sump surface to tank bottom
  // demand(t) = D·f(h), f(h) = base + a_m·g(h; 7.5 h, 1.5 h) + a_e·g(h; 19 h, 2 h), with g a
  // Gaussian bump in circular time-of-day distance.
  double demand_scale_m3h = 300.0;
  double demand_base = 0.6;
  double morning_peak = 0.7;
  double morning_peak_h = 7.5;
  double morning_width_h = 1.5;
  double evening_peak = 0.6;
  double evening_peak_h = 19.0;
  double evening_width_h = 2.0;
  // A demand surge (tests, what-ifs): demand × surge_factor for t in [surge_start_s,
  // surge_start_s + surge_duration_s) simulated seconds since t = 0. Duration 0: none.
  double surge_start_s = 0;
  double surge_duration_s = 0;
  double surge_factor = 1;
};

// Local level control: a pump that has not been commanded (or was set back to "auto") runs at
// n = clamp(n_nom + K·(L_ref − L), n_min, n_max). Commanded pumps follow their setpoint.
struct LocalControlParams {
  double level_ref_m = 2.5;
  double nominal_speed_rpm = 1300;
  double gain_rpm_per_m = 300;
  double min_speed_rpm = 900;
  double max_speed_rpm = 1800;
};

// Measurement noise standard deviations (Gaussian).
struct NoiseParams {
  double flow_m3h = 1.0;
  double pressure_bar = 0.01;
  double speed_rpm = 2.0;
  double power_kw = 0.1;
  double motor_temp_c = 0.2;
  double vibration_mm_s = 0.05;  // plus 3 % of the value
  double level_m = 0.005;
  double demand_m3h = 2.0;
};

struct StationParams {
  std::vector<PumpParams> pumps;
  TankParams tank;
  LocalControlParams local;
  NoiseParams noise;
  double time_of_day_at_start_s = 0;  // for the demand profile: t = 0 is this time of day

  // `pumps` identical nominal pumps.
  static StationParams Nominal(int pumps);
  // Nominal, then each pump's H0, k, η_bep and Q_bep spread by a few percent and its initial
  // wear drawn (impeller 0..0.10, bearing 0..0.08), all from `seed`. Pump i's draws do not
  // depend on the number of pumps.
  static StationParams FromSeed(uint64_t seed, int pumps);
};

enum class FaultKind { kCavitation, kBearingDefect, kSensorDrift, kSensorDropout };
const char* FaultKindName(FaultKind k);

struct Fault {
  FaultKind kind = FaultKind::kCavitation;
  int pump = 0;                           // index into StationParams::pumps
  double start_s = 0;                     // simulated seconds since t = 0
  double end_s = 0;                       // +inf for bearing defects and drifts (they do not heal)
  double severity = 0;                    // cavitation: 0..1
  PumpSignal signal = PumpSignal::kFlow;  // sensor faults: which sensor
  double drift_per_s = 0;                 // sensor drift: bias growth, signal units per second
  double offset = 0;                      // sensor drift: constant bias from start_s (miscalibration)

  bool ActiveAt(double t_s) const { return t_s >= start_s && t_s < end_s; }
};

class FaultSchedule {
 public:
  FaultSchedule() = default;
  explicit FaultSchedule(std::vector<Fault> faults) : faults_(std::move(faults)) {}
  // Each pump independently gets zero or more faults with start times in [0, horizon_s):
  // 0–2 cavitation episodes, maybe a bearing defect, maybe a sensor drift, maybe a dropout.
  // Pump i's faults depend only on (seed, i, horizon_s).
  static FaultSchedule FromSeed(uint64_t seed, int pumps, double horizon_s = kSecondsPerDay);

  const std::vector<Fault>& faults() const { return faults_; }
  double CavitationSeverity(int pump, double t_s) const;  // max over active episodes, else 0
  bool BearingDefectActive(int pump, double t_s) const;
  // Sum over active drifts of offset + drift_per_s·(t − start_s).
  double SensorBias(int pump, PumpSignal s, double t_s) const;
  bool SensorDropped(int pump, PumpSignal s, double t_s) const;

 private:
  std::vector<Fault> faults_;
};

struct PumpState {
  double speed_rpm = 0;
  double motor_temp_c = 25;
  double impeller_wear = 0;
  double bearing_wear = 0;
};

struct StationState {
  std::vector<PumpState> pumps;
  double level_m = 0;
};

// Per pump: a speed setpoint in rpm, or nullopt for local level control.
struct StationInputs {
  std::vector<std::optional<double>> speed_setpoint_rpm;
};

// The noise-free values of one pump at one instant (what the sensors would read if perfect).
struct PumpOutputs {
  double speed_rpm = 0;
  double setpoint_rpm = 0;  // effective setpoint (commanded or local control)
  double flow_m3h = 0;
  double head_m = 0;
  double discharge_pressure_bar = 0;
  double efficiency = 0;
  double power_kw = 0;  // shaft power
  double motor_temp_c = 0;
  double vibration_mm_s = 0;
  double cavitation = 0;  // severity 0..1
  bool bearing_defect = false;
};

struct TankOutputs {
  double level_m = 0;
  double demand_m3h = 0;
  double inflow_m3h = 0;
};

// The hydraulic operating point of one pump: intersection of pump and system curves.
struct OperatingPoint {
  double flow_m3h = 0;
  double head_m = 0;
  double efficiency = 0;
  double power_kw = 0;
};

class StationModel {
 public:
  StationModel(StationParams params, FaultSchedule faults);

  const StationParams& params() const { return params_; }
  const FaultSchedule& faults() const { return faults_; }
  int num_pumps() const { return static_cast<int>(params_.pumps.size()); }

  StationState DefaultState() const;
  StationInputs DefaultInputs() const;  // every pump under local control

  // Town demand at simulated time t (m^3/h).
  double Demand(double t_s) const;
  // Closed-form operating point of pump i at speed n, tank level L, given wear and cavitation:
  //   H0' = H0·(1 − a_h·w_i)·(1 − a_c·sev),  Q = sqrt(max(0, H0'·s^2 − H_st − L) / (k + r)),
  //   H = H0'·s^2 − k·Q^2,  P = ρ·g·Q·H/η + P_mech·s^3  (s = n/n0).
  OperatingPoint Solve(int pump, double speed_rpm, double level_m, double impeller_wear,
                       double cavitation) const;
  double EffectiveSetpoint(int pump, const StationState& x, const StationInputs& u) const;

  // dx/dt. `dx` is resized to match x.
  void Derivatives(double t_s, const StationState& x, const StationInputs& u, StationState* dx) const;
  PumpOutputs PumpOutput(int pump, double t_s, const StationState& x, const StationInputs& u) const;
  TankOutputs TankOutput(double t_s, const StationState& x) const;

 private:
  StationParams params_;
  FaultSchedule faults_;
};

// Advances a StationState with fixed-step classical RK4 (step_s, default 0.1 s); the last step
// before a target time is shortened so AdvanceTo lands on it exactly. Level is clamped to
// [0, height] and wear to [0, 1] after every step.
class StationSimulator {
 public:
  StationSimulator(const StationModel* model, StationState initial, double step_s = 0.1);
  void AdvanceTo(double t_s, const StationInputs& u);
  void AdvanceBy(double dt_s, const StationInputs& u) { AdvanceTo(t_ + dt_s, u); }
  double time() const { return t_; }
  const StationState& state() const { return x_; }
  StationState& mutable_state() { return x_; }
  const StationModel& model() const { return *model_; }

 private:
  void Step(double h, const StationInputs& u);
  const StationModel* model_;
  StationState x_;
  double t_ = 0;
  double step_s_;
  StationState k1_, k2_, k3_, k4_, tmp_;
};

// One sample of every sensor: noisy, biased by drift faults, missing (nullopt) when dropped out.
struct PumpReadings {
  std::array<std::optional<double>, kNumPumpSignals> values;
};
struct StationReadings {
  std::vector<PumpReadings> pumps;
  double level_m = 0;
  double demand_m3h = 0;
};

// Samples the sensors at (t, x). Draws a fixed number of normals from `rng` per call whatever
// the faults, so the noise sequence depends only on the seed and the number of samples.
StationReadings Measure(const StationModel& model, double t_s, const StationState& x, const StationInputs& u,
                        std::mt19937_64& rng);

// Seeds for the independent random streams of a plant, derived from the user's seed.
uint64_t DeriveSeed(uint64_t seed, uint64_t stream, uint64_t index = 0);

}  // namespace doppel::plant
