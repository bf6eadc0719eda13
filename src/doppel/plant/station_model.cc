#include "doppel/plant/station_model.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace doppel::plant {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Portable uniform and normal draws (the <random> distributions differ between standard
// libraries; these do not, so a seed gives the same plant everywhere).
double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
double Uniform(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * Uniform01(rng); }
double Normal(std::mt19937_64& rng) {
  // Box–Muller; always consumes exactly two draws.
  double u1 = Uniform01(rng);
  double u2 = Uniform01(rng);
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// Gaussian bump in circular hour-of-day distance.
double DailyBump(double hour, double peak_h, double width_h) {
  double d = std::fmod(hour - peak_h + 36.0, 24.0) - 12.0;
  return std::exp(-0.5 * (d / width_h) * (d / width_h));
}

// Typical magnitude of each pump signal, to scale drift rates.
constexpr std::array<double, kNumPumpSignals> kSignalScale = {150.0, 3.0, 1450.0, 15.0, 60.0, 2.0};

}  // namespace

const char* PumpSignalName(PumpSignal s) {
  switch (s) {
    case PumpSignal::kFlow: return "flow_m3h";
    case PumpSignal::kPressure: return "discharge_pressure_bar";
    case PumpSignal::kSpeed: return "speed_rpm";
    case PumpSignal::kPower: return "power_kw";
    case PumpSignal::kMotorTemp: return "motor_temp_c";
    case PumpSignal::kVibration: return "vibration_mm_s";
  }
  return "?";
}

const char* FaultKindName(FaultKind k) {
  switch (k) {
    case FaultKind::kCavitation: return "cavitation";
    case FaultKind::kBearingDefect: return "bearing_defect";
    case FaultKind::kSensorDrift: return "sensor_drift";
    case FaultKind::kSensorDropout: return "sensor_dropout";
  }
  return "?";
}

uint64_t DeriveSeed(uint64_t seed, uint64_t stream, uint64_t index) {
  // splitmix64 over a combination of the three.
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (stream + 1) + 0xD1B54A32D192ED03ull * (index + 1);
  for (int i = 0; i < 2; ++i) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z = z ^ (z >> 31);
  }
  return z;
}

// ---------------------------------------------------------------------------------------------
// Parameters and faults

StationParams StationParams::Nominal(int pumps) {
  StationParams p;
  p.pumps.resize(static_cast<size_t>(std::max(0, pumps)));
  return p;
}

StationParams StationParams::FromSeed(uint64_t seed, int pumps) {
  StationParams p = Nominal(pumps);
  for (size_t i = 0; i < p.pumps.size(); ++i) {
    std::mt19937_64 rng(DeriveSeed(seed, /*stream=*/1, i));
    PumpParams& pp = p.pumps[i];
    pp.shutoff_head_m *= Uniform(rng, 0.97, 1.03);
    pp.curve_k *= Uniform(rng, 0.95, 1.05);
    pp.bep_efficiency *= Uniform(rng, 0.97, 1.02);
    pp.bep_flow_m3h *= Uniform(rng, 0.96, 1.04);
    pp.initial_impeller_wear = Uniform(rng, 0.0, 0.10);
    pp.initial_bearing_wear = Uniform(rng, 0.0, 0.08);
  }
  return p;
}

FaultSchedule FaultSchedule::FromSeed(uint64_t seed, int pumps, double horizon_s) {
  std::vector<Fault> out;
  for (int i = 0; i < pumps; ++i) {
    std::mt19937_64 rng(DeriveSeed(seed, /*stream=*/2, static_cast<uint64_t>(i)));
    // Draw every variate unconditionally, in a fixed order, so one decision never shifts the
    // others.
    double n_cav_u = Uniform01(rng);
    int n_cav = n_cav_u < 0.45 ? 0 : (n_cav_u < 0.85 ? 1 : 2);
    for (int e = 0; e < 2; ++e) {
      double start = Uniform(rng, 0.05, 0.95) * horizon_s;
      double dur = Uniform(rng, 600.0, 3600.0);
      double sev = Uniform(rng, 0.3, 1.0);
      if (e < n_cav) {
        Fault f;
        f.kind = FaultKind::kCavitation;
        f.pump = i;
        f.start_s = start;
        f.end_s = start + dur;
        f.severity = sev;
        out.push_back(f);
      }
    }
    {
      bool has = Uniform01(rng) < 0.25;
      double start = Uniform(rng, 0.1, 0.9) * horizon_s;
      if (has) {
        Fault f;
        f.kind = FaultKind::kBearingDefect;
        f.pump = i;
        f.start_s = start;
        f.end_s = kInf;
        out.push_back(f);
      }
    }
    {
      bool has = Uniform01(rng) < 0.25;
      int sig = static_cast<int>(Uniform01(rng) * kNumPumpSignals) % kNumPumpSignals;
      double start = Uniform(rng, 0.05, 0.9) * horizon_s;
      double per_hour = Uniform(rng, 0.02, 0.08) * (Uniform01(rng) < 0.5 ? -1.0 : 1.0);
      if (has) {
        Fault f;
        f.kind = FaultKind::kSensorDrift;
        f.pump = i;
        f.signal = static_cast<PumpSignal>(sig);
        f.start_s = start;
        f.end_s = kInf;
        f.drift_per_s = per_hour * kSignalScale[static_cast<size_t>(sig)] / 3600.0;
        out.push_back(f);
      }
    }
    {
      bool has = Uniform01(rng) < 0.30;
      int sig = static_cast<int>(Uniform01(rng) * kNumPumpSignals) % kNumPumpSignals;
      double start = Uniform(rng, 0.05, 0.95) * horizon_s;
      double dur = Uniform(rng, 300.0, 1800.0);
      if (has) {
        Fault f;
        f.kind = FaultKind::kSensorDropout;
        f.pump = i;
        f.signal = static_cast<PumpSignal>(sig);
        f.start_s = start;
        f.end_s = start + dur;
        out.push_back(f);
      }
    }
  }
  return FaultSchedule(std::move(out));
}

double FaultSchedule::CavitationSeverity(int pump, double t_s) const {
  double sev = 0;
  for (const Fault& f : faults_) {
    if (f.kind == FaultKind::kCavitation && f.pump == pump && f.ActiveAt(t_s))
      sev = std::max(sev, f.severity);
  }
  return sev;
}

bool FaultSchedule::BearingDefectActive(int pump, double t_s) const {
  for (const Fault& f : faults_) {
    if (f.kind == FaultKind::kBearingDefect && f.pump == pump && f.ActiveAt(t_s)) return true;
  }
  return false;
}

double FaultSchedule::SensorBias(int pump, PumpSignal s, double t_s) const {
  double bias = 0;
  for (const Fault& f : faults_) {
    if (f.kind == FaultKind::kSensorDrift && f.pump == pump && f.signal == s && f.ActiveAt(t_s)) {
      bias += f.offset + f.drift_per_s * (t_s - f.start_s);
    }
  }
  return bias;
}

bool FaultSchedule::SensorDropped(int pump, PumpSignal s, double t_s) const {
  for (const Fault& f : faults_) {
    if (f.kind == FaultKind::kSensorDropout && f.pump == pump && f.signal == s && f.ActiveAt(t_s))
      return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Model

StationModel::StationModel(StationParams params, FaultSchedule faults)
    : params_(std::move(params)), faults_(std::move(faults)) {}

StationState StationModel::DefaultState() const {
  StationState x;
  x.level_m = params_.tank.initial_level_m;
  for (const PumpParams& p : params_.pumps) {
    PumpState s;
    s.speed_rpm = 0;
    s.motor_temp_c = p.ambient_c;
    s.impeller_wear = p.initial_impeller_wear;
    s.bearing_wear = p.initial_bearing_wear;
    x.pumps.push_back(s);
  }
  return x;
}

StationInputs StationModel::DefaultInputs() const {
  StationInputs u;
  u.speed_setpoint_rpm.assign(params_.pumps.size(), std::nullopt);
  return u;
}

double StationModel::Demand(double t_s) const {
  const TankParams& tp = params_.tank;
  double tod = std::fmod(params_.time_of_day_at_start_s + t_s, kSecondsPerDay);
  if (tod < 0) tod += kSecondsPerDay;
  double h = tod / 3600.0;
  double f = tp.demand_base + tp.morning_peak * DailyBump(h, tp.morning_peak_h, tp.morning_width_h) +
             tp.evening_peak * DailyBump(h, tp.evening_peak_h, tp.evening_width_h);
  if (t_s >= tp.surge_start_s && t_s < tp.surge_start_s + tp.surge_duration_s) f *= tp.surge_factor;
  return tp.demand_scale_m3h * f;
}

OperatingPoint StationModel::Solve(int pump, double speed_rpm, double level_m, double impeller_wear,
                                   double cavitation) const {
  const PumpParams& p = params_.pumps[static_cast<size_t>(pump)];
  OperatingPoint op;
  double s = std::max(0.0, speed_rpm) / p.rated_speed_rpm;
  double h0 = p.shutoff_head_m * (1.0 - p.impeller_head_loss * impeller_wear) *
              (1.0 - p.cavitation_head_drop * cavitation);
  double shut = h0 * s * s;
  double lift = params_.tank.static_lift_m + level_m;
  double q = 0;
  if (shut > lift) q = std::sqrt((shut - lift) / (p.curve_k + p.line_r));
  op.flow_m3h = q;
  op.head_m = shut - p.curve_k * q * q;
  double eta_bep = p.bep_efficiency * (1.0 - p.impeller_eff_loss * impeller_wear);
  double eta = p.min_efficiency;
  if (s > 0) {
    double x = q / (p.bep_flow_m3h * s);
    eta = std::max(p.min_efficiency, eta_bep * (2.0 * x - x * x));
  }
  op.efficiency = eta;
  double hydraulic_kw = kWaterDensity * kGravity * (q / 3600.0) * op.head_m / 1000.0;
  op.power_kw = hydraulic_kw / eta + p.mech_loss_kw * s * s * s;
  return op;
}

double StationModel::EffectiveSetpoint(int pump, const StationState& x, const StationInputs& u) const {
  size_t i = static_cast<size_t>(pump);
  if (i < u.speed_setpoint_rpm.size() && u.speed_setpoint_rpm[i].has_value()) {
    return std::clamp(*u.speed_setpoint_rpm[i], 0.0, params_.pumps[i].max_speed_rpm);
  }
  const LocalControlParams& lc = params_.local;
  return std::clamp(lc.nominal_speed_rpm + lc.gain_rpm_per_m * (lc.level_ref_m - x.level_m), lc.min_speed_rpm,
                    lc.max_speed_rpm);
}

void StationModel::Derivatives(double t_s, const StationState& x, const StationInputs& u,
                               StationState* dx) const {
  dx->pumps.resize(x.pumps.size());
  double inflow = 0;
  for (size_t i = 0; i < x.pumps.size(); ++i) {
    const PumpParams& p = params_.pumps[i];
    const PumpState& ps = x.pumps[i];
    PumpState& d = dx->pumps[i];
    int pi = static_cast<int>(i);
    double sp = EffectiveSetpoint(pi, x, u);
    d.speed_rpm = std::clamp((sp - ps.speed_rpm) / p.speed_tau_s, -p.max_ramp_rpm_s, p.max_ramp_rpm_s);
    double cav = faults_.CavitationSeverity(pi, t_s);
    OperatingPoint op = Solve(pi, ps.speed_rpm, x.level_m, ps.impeller_wear, cav);
    inflow += op.flow_m3h;
    d.motor_temp_c = (p.loss_k_per_kw * op.power_kw - (ps.motor_temp_c - p.ambient_c)) / p.thermal_tau_s;
    double s = std::max(0.0, ps.speed_rpm) / p.rated_speed_rpm;
    d.impeller_wear = ps.impeller_wear >= 1.0
                          ? 0.0
                          : p.impeller_wear_rate_per_s * s * s * s * (1.0 + p.cavitation_wear_factor * cav);
    double defect = faults_.BearingDefectActive(pi, t_s) ? p.bearing_defect_factor : 1.0;
    d.bearing_wear = ps.bearing_wear >= 1.0 ? 0.0
                                            : p.bearing_wear_rate_per_s * s * s *
                                                  (1.0 + op.power_kw / p.bearing_ref_power_kw) * defect;
  }
  const TankParams& tp = params_.tank;
  double net_m3h = inflow - Demand(t_s);
  double dl = net_m3h / 3600.0 / tp.area_m2;
  if ((x.level_m >= tp.height_m && dl > 0) || (x.level_m <= 0 && dl < 0)) dl = 0;
  dx->level_m = dl;
}

PumpOutputs StationModel::PumpOutput(int pump, double t_s, const StationState& x,
                                     const StationInputs& u) const {
  const PumpParams& p = params_.pumps[static_cast<size_t>(pump)];
  const PumpState& ps = x.pumps[static_cast<size_t>(pump)];
  PumpOutputs o;
  o.speed_rpm = ps.speed_rpm;
  o.setpoint_rpm = EffectiveSetpoint(pump, x, u);
  o.cavitation = faults_.CavitationSeverity(pump, t_s);
  o.bearing_defect = faults_.BearingDefectActive(pump, t_s);
  OperatingPoint op = Solve(pump, ps.speed_rpm, x.level_m, ps.impeller_wear, o.cavitation);
  o.flow_m3h = op.flow_m3h;
  o.head_m = op.head_m;
  o.discharge_pressure_bar = kWaterDensity * kGravity * op.head_m / 1e5;
  o.efficiency = op.efficiency;
  o.power_kw = op.power_kw;
  o.motor_temp_c = ps.motor_temp_c;
  double s = std::max(0.0, ps.speed_rpm) / p.rated_speed_rpm;
  o.vibration_mm_s = p.base_vibration_mm_s * s * s * (1.0 + p.bearing_vibration_gain * ps.bearing_wear) +
                     p.cavitation_vibration_mm_s * o.cavitation;
  return o;
}

TankOutputs StationModel::TankOutput(double t_s, const StationState& x) const {
  TankOutputs o;
  o.level_m = x.level_m;
  o.demand_m3h = Demand(t_s);
  for (size_t i = 0; i < x.pumps.size(); ++i) {
    int pi = static_cast<int>(i);
    o.inflow_m3h += Solve(pi, x.pumps[i].speed_rpm, x.level_m, x.pumps[i].impeller_wear,
                          faults_.CavitationSeverity(pi, t_s))
                        .flow_m3h;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Simulator

namespace {
// out = x + h·d
void Axpy(const StationState& x, double h, const StationState& d, StationState* out) {
  out->pumps.resize(x.pumps.size());
  for (size_t i = 0; i < x.pumps.size(); ++i) {
    out->pumps[i].speed_rpm = x.pumps[i].speed_rpm + h * d.pumps[i].speed_rpm;
    out->pumps[i].motor_temp_c = x.pumps[i].motor_temp_c + h * d.pumps[i].motor_temp_c;
    out->pumps[i].impeller_wear = x.pumps[i].impeller_wear + h * d.pumps[i].impeller_wear;
    out->pumps[i].bearing_wear = x.pumps[i].bearing_wear + h * d.pumps[i].bearing_wear;
  }
  out->level_m = x.level_m + h * d.level_m;
}
}  // namespace

StationSimulator::StationSimulator(const StationModel* model, StationState initial, double step_s)
    : model_(model), x_(std::move(initial)), step_s_(step_s) {
  assert(model_ != nullptr && step_s_ > 0);
}

void StationSimulator::AdvanceTo(double t_s, const StationInputs& u) {
  while (t_ < t_s) {
    double h = std::min(step_s_, t_s - t_);
    // Avoid a sliver step from floating-point accumulation.
    if (t_s - (t_ + h) < 1e-9) h = t_s - t_;
    Step(h, u);
    if (t_s - t_ < 1e-9) t_ = t_s;
  }
}

void StationSimulator::Step(double h, const StationInputs& u) {
  const StationModel& m = *model_;
  m.Derivatives(t_, x_, u, &k1_);
  Axpy(x_, h / 2, k1_, &tmp_);
  m.Derivatives(t_ + h / 2, tmp_, u, &k2_);
  Axpy(x_, h / 2, k2_, &tmp_);
  m.Derivatives(t_ + h / 2, tmp_, u, &k3_);
  Axpy(x_, h, k3_, &tmp_);
  m.Derivatives(t_ + h, tmp_, u, &k4_);
  for (size_t i = 0; i < x_.pumps.size(); ++i) {
    PumpState& p = x_.pumps[i];
    auto comb = [&](auto field) {
      return h / 6.0 *
             (k1_.pumps[i].*field + 2 * k2_.pumps[i].*field + 2 * k3_.pumps[i].*field + k4_.pumps[i].*field);
    };
    p.speed_rpm = std::max(0.0, p.speed_rpm + comb(&PumpState::speed_rpm));
    p.motor_temp_c += comb(&PumpState::motor_temp_c);
    p.impeller_wear = std::clamp(p.impeller_wear + comb(&PumpState::impeller_wear), 0.0, 1.0);
    p.bearing_wear = std::clamp(p.bearing_wear + comb(&PumpState::bearing_wear), 0.0, 1.0);
  }
  x_.level_m += h / 6.0 * (k1_.level_m + 2 * k2_.level_m + 2 * k3_.level_m + k4_.level_m);
  x_.level_m = std::clamp(x_.level_m, 0.0, m.params().tank.height_m);
  t_ += h;
}

// ---------------------------------------------------------------------------------------------
// Measurement

StationReadings Measure(const StationModel& model, double t_s, const StationState& x, const StationInputs& u,
                        std::mt19937_64& rng) {
  const NoiseParams& n = model.params().noise;
  StationReadings r;
  r.pumps.resize(x.pumps.size());
  for (size_t i = 0; i < x.pumps.size(); ++i) {
    int pi = static_cast<int>(i);
    PumpOutputs o = model.PumpOutput(pi, t_s, x, u);
    std::array<double, kNumPumpSignals> v = {
        o.flow_m3h + n.flow_m3h * Normal(rng),
        o.discharge_pressure_bar + n.pressure_bar * Normal(rng),
        o.speed_rpm + n.speed_rpm * Normal(rng),
        o.power_kw + n.power_kw * Normal(rng),
        o.motor_temp_c + n.motor_temp_c * Normal(rng),
        // Vibration: a broadband process (cavitation bursts are erratic) plus sensor noise.
        o.vibration_mm_s + (n.vibration_mm_s + 0.03 * o.vibration_mm_s + 0.3 * o.cavitation) * Normal(rng),
    };
    // Physical floors: flow meters, power meters and vibration sensors do not read negative.
    v[0] = std::max(0.0, v[0]);
    v[3] = std::max(0.0, v[3]);
    v[5] = std::max(0.0, v[5]);
    for (int s = 0; s < kNumPumpSignals; ++s) {
      PumpSignal sig = static_cast<PumpSignal>(s);
      if (model.faults().SensorDropped(pi, sig, t_s)) continue;
      r.pumps[i].values[static_cast<size_t>(s)] =
          v[static_cast<size_t>(s)] + model.faults().SensorBias(pi, sig, t_s);
    }
  }
  r.level_m = std::clamp(x.level_m + n.level_m * Normal(rng), 0.0, model.params().tank.height_m);
  r.demand_m3h = std::max(0.0, model.Demand(t_s) + n.demand_m3h * Normal(rng));
  return r;
}

namespace {
struct PumpField {
  const char* name;
  double PumpParams::*member;
};
constexpr PumpField kPumpFields[] = {
    {"rated_speed_rpm", &PumpParams::rated_speed_rpm},
    {"shutoff_head_m", &PumpParams::shutoff_head_m},
    {"curve_k", &PumpParams::curve_k},
    {"bep_flow_m3h", &PumpParams::bep_flow_m3h},
    {"bep_efficiency", &PumpParams::bep_efficiency},
    {"min_efficiency", &PumpParams::min_efficiency},
    {"mech_loss_kw", &PumpParams::mech_loss_kw},
    {"impeller_head_loss", &PumpParams::impeller_head_loss},
    {"impeller_eff_loss", &PumpParams::impeller_eff_loss},
    {"line_r", &PumpParams::line_r},
    {"speed_tau_s", &PumpParams::speed_tau_s},
    {"max_ramp_rpm_s", &PumpParams::max_ramp_rpm_s},
    {"ambient_c", &PumpParams::ambient_c},
    {"thermal_tau_s", &PumpParams::thermal_tau_s},
    {"loss_k_per_kw", &PumpParams::loss_k_per_kw},
    {"base_vibration_mm_s", &PumpParams::base_vibration_mm_s},
    {"bearing_vibration_gain", &PumpParams::bearing_vibration_gain},
};
}  // namespace

bool SetPumpParameter(PumpParams* pump, std::string_view name, double value) {
  for (std::string_view prefix : {"pump.", "motor."}) {
    if (name.substr(0, prefix.size()) == prefix) {
      name.remove_prefix(prefix.size());
      break;
    }
  }
  for (const PumpField& f : kPumpFields) {
    if (name == f.name) {
      pump->*f.member = value;
      return true;
    }
  }
  return false;
}

const std::vector<std::string>& PumpParameterNames() {
  static const std::vector<std::string>* names = [] {
    auto* v = new std::vector<std::string>;
    for (const PumpField& f : kPumpFields) v->emplace_back(f.name);
    return v;
  }();
  return *names;
}

}  // namespace doppel::plant
