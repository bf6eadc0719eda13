#include "doppel/engine/control_loop.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>

#include "doppel/control/station_estimate.h"
#include "doppel/plant/station_model.h"

namespace doppel::engine {

using nlohmann::json;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr TimeNs kNsPerDay = 86400LL * kNsPerS;
constexpr const char* kAlertRule = "mpc_fallback";

double ToSeconds(TimeNs ns) { return static_cast<double>(ns) / 1e9; }

// A command still in force or on its way (not refused, rejected, timed out or superseded).
bool IsLive(CommandStatus s) {
  return s == CommandStatus::kProposed || s == CommandStatus::kApproved || s == CommandStatus::kSent ||
         s == CommandStatus::kAcked;
}

// "mpc: period_s must be > 0" (control::MpcOptions) -> "mpc.period_s must be > 0".
Status MpcError(const Status& s) {
  std::string m = s.message();
  if (m.rfind("mpc: ", 0) == 0) m = m.substr(5);
  return InvalidArgument("mpc." + m);
}

}  // namespace

Status ControlLoopOptions::Validate() const {
  if (pumps.empty()) return InvalidArgument("pumps: at least one pump twin is required");
  std::set<std::string> seen;
  for (size_t i = 0; i < pumps.size(); ++i) {
    if (pumps[i].empty()) return InvalidArgument(fmt::format("pumps[{}]: must not be empty", i));
    if (!seen.insert(pumps[i]).second) {
      return InvalidArgument(fmt::format("pumps[{}]: '{}' is listed twice", i, pumps[i]));
    }
  }
  if (tank.empty()) return InvalidArgument("tank: must not be empty");
  if (seen.count(tank) != 0) return InvalidArgument("tank: '" + tank + "' is also listed as a pump");
  for (const auto& [name, v] : {std::pair<const char*, const std::string*>{"level_signal", &level_signal},
                                {"demand_signal", &demand_signal},
                                {"speed_signal", &speed_signal},
                                {"command", &command},
                                {"command_field", &command_field},
                                {"principal", &principal}}) {
    if (v->empty()) return InvalidArgument(std::string(name) + ": must not be empty");
  }
  if (Status s = mpc.Validate(); !s.ok()) return MpcError(s);
  if (!(min_change_rpm >= 0 && std::isfinite(min_change_rpm)))
    return InvalidArgument("min_change_rpm: must be finite and >= 0");
  if (!(demand_persistence_s > 0 && std::isfinite(demand_persistence_s)))
    return InvalidArgument("demand_persistence_s: must be finite and > 0");
  if (!(max_level_age_s > 0)) return InvalidArgument("max_level_age_s: must be > 0");
  if (poll_ms < 1 || poll_ms > 60000) return InvalidArgument("poll_ms: must be in 1..60000");
  return Status::Ok();
}

// The demand forecast the MPC calls: the nominal daily profile plus the measured deviation,
// decaying. Updated by Step before each solve (under step_mu_, where the MPC also reads it).
struct ControlLoop::Forecast {
  plant::StationModel profile{plant::StationParams::Nominal(1), plant::FaultSchedule()};
  double now_t_s = 0;
  double deviation_m3h = 0;
  double persistence_s = 3600;

  double operator()(double t_s) const {
    const double ahead = std::max(0.0, t_s - now_t_s);
    return std::max(0.0, profile.Demand(t_s) + deviation_m3h * std::exp(-ahead / persistence_s));
  }
};

ControlLoop::ControlLoop(ControlLoopOptions options, Service& service)
    : options_(std::move(options)), service_(service), forecast_(std::make_shared<Forecast>()) {
  forecast_->persistence_s = options_.demand_persistence_s;
  last_submitted_rpm_.assign(options_.pumps.size(), kNaN);
  last_command_id_.assign(options_.pumps.size(), "");
}

ControlLoop::~ControlLoop() { Stop(); }

Result<std::unique_ptr<ControlLoop>> ControlLoop::Create(ControlLoopOptions options, Service& service) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  const int pumps = static_cast<int>(options.pumps.size());
  std::unique_ptr<ControlLoop> loop(new ControlLoop(std::move(options), service));
  std::shared_ptr<Forecast> fc = loop->forecast_;
  auto mpc = control::MpcController::Create(loop->options_.mpc, control::StationEstimate::Nominal(pumps),
                                            [fc](double t_s) { return (*fc)(t_s); });
  if (!mpc.ok()) return MpcError(mpc.status());
  loop->mpc_ = std::move(mpc).value();
  return loop;
}

void ControlLoop::RaiseOrClear(bool raise, TimeNs ts_ns, const std::string& reason, ControlLoopSummary* sum) {
  if (raise == alert_active_ && !raise) return;
  analytics::AlertTransition t;
  t.kind = raise ? analytics::AlertTransition::Kind::kRaised : analytics::AlertTransition::Kind::kCleared;
  t.rule = kAlertRule;
  t.twin = options_.tank;
  t.signal = options_.level_signal;
  t.severity = analytics::Severity::kWarning;
  t.t_ns = ts_ns;
  t.reason = reason;
  t.trigger_count = 1;
  if (Status s = service_.PostAlert(t); !s.ok()) {
    spdlog::warn("control loop: could not {} the {} alert: {}", raise ? "raise" : "clear", kAlertRule,
                 s.ToString());
    return;
  }
  alert_active_ = raise;
  (raise ? sum->alert_raised : sum->alert_cleared) = true;
}

Result<ControlLoopSummary> ControlLoop::Step(TimeNs now_ns) {
  std::lock_guard step_lk(step_mu_);
  const ControlLoopOptions& o = options_;
  const size_t P = o.pumps.size();
  ControlLoopSummary sum;
  sum.ts_ns = now_ns;

  // 1. Measurements.
  auto tank = service_.GetTwin(o.tank);
  if (!tank.ok()) return tank.status();
  auto level = tank->latest.find(o.level_signal);
  if (level == tank->latest.end()) {
    return FailedPrecondition(fmt::format("tank '{}' has no {} yet", o.tank, o.level_signal));
  }
  const double age_s = ToSeconds(now_ns - level->second.ts_ns);
  if (age_s > o.max_level_age_s || !std::isfinite(level->second.value)) {
    return FailedPrecondition(fmt::format("tank '{}' {} is {:.0f} s old at the step (max_level_age_s {})",
                                          o.tank, o.level_signal, age_s, o.max_level_age_s));
  }
  sum.level_m = level->second.value;
  if (day0_ns_ < 0) day0_ns_ = now_ns - ((now_ns % kNsPerDay) + kNsPerDay) % kNsPerDay;
  const double t_s = ToSeconds(now_ns - day0_ns_);
  auto demand = tank->latest.find(o.demand_signal);
  sum.demand_m3h = demand != tank->latest.end() ? demand->second.value : kNaN;

  control::MpcObservation obs;
  obs.t_s = t_s;
  obs.level_m = sum.level_m;
  control::StationEstimate est = control::StationEstimate::Nominal(static_cast<int>(P));
  for (size_t i = 0; i < P; ++i) {
    auto pump = service_.GetTwin(o.pumps[i]);
    if (!pump.ok()) return InvalidArgument(fmt::format("pumps[{}]: {}", i, pump.status().message()));
    auto sp = pump->latest.find(o.speed_signal);
    double rpm = sp != pump->latest.end() && std::isfinite(sp->second.value) ? sp->second.value : 0.0;
    if (sp == pump->latest.end() && std::isfinite(last_submitted_rpm_[i])) rpm = last_submitted_rpm_[i];
    obs.speed_rpm.push_back(std::max(0.0, rpm));
    // The twin's estimated impeller wear, else the nominal (new) pump.
    std::string source = "nominal: no estimate";
    auto e = service_.GetEstimate(o.pumps[i]);
    if (e.ok()) {
      source = "nominal: the estimate has no impeller_wear";
      for (const EstimatedValue& v : e->parameters) {
        if (v.name == "impeller_wear" && std::isfinite(v.value)) {
          est.pumps[i].impeller_wear = std::clamp(v.value, 0.0, 0.95);
          source = "estimate";
        }
      }
    } else {
      source = "nominal: " + e.status().message();
    }
    if (source != "estimate") spdlog::debug("control loop: {} plans with {}", o.pumps[i], source);
    sum.impeller_wear.push_back(est.pumps[i].impeller_wear);
    sum.wear_source.push_back(std::move(source));
  }
  if (Status s = mpc_->UpdateEstimate(est); !s.ok()) return s;

  // 2. Forecast and solve.
  forecast_->now_t_s = t_s;
  forecast_->deviation_m3h =
      std::isfinite(sum.demand_m3h) ? sum.demand_m3h - forecast_->profile.Demand(t_s) : 0;
  control::MpcSummary ms;
  auto cmd = mpc_->Step(obs, &ms);
  if (!cmd.ok()) return cmd.status();
  steps_.fetch_add(1);
  sum.solved = ms.solved;
  sum.fallback = ms.fallback;
  sum.solver_status = ms.solver_status;
  sum.iterations = ms.iterations;
  sum.solve_wall_s = ms.solve_wall_s;
  sum.setpoint_rpm.assign(P, kNaN);

  if (ms.fallback) {
    // Hold: submit nothing, the plant keeps the speeds it was last sent.
    fallbacks_.fetch_add(1);
    std::string held;
    for (size_t i = 0; i < P; ++i) {
      held += fmt::format("{}{} {}", i ? ", " : "", o.pumps[i],
                          std::isfinite(last_submitted_rpm_[i])
                              ? fmt::format("{:.0f} rpm", last_submitted_rpm_[i])
                              : std::string("local control"));
    }
    const std::string why = fmt::format("MPC solver failed ({}, {} consecutive); holding the last speeds: {}",
                                        ms.solver_status, ms.consecutive_failures, held);
    spdlog::warn("control loop: {}", why);
    RaiseOrClear(true, now_ns, why, &sum);
  } else {
    RaiseOrClear(false, now_ns, "MPC solved again (" + ms.solver_status + ")", &sum);
    // 3. Commands.
    double lmin = 1e9, lmax = -1e9;
    for (double l : ms.planned_level_m) lmin = std::min(lmin, l), lmax = std::max(lmax, l);
    for (size_t i = 0; i < P; ++i) {
      if (!cmd->speed_setpoint_rpm[i]) continue;
      const double rpm = *cmd->speed_setpoint_rpm[i];
      sum.setpoint_rpm[i] = rpm;
      if (std::isfinite(last_submitted_rpm_[i]) &&
          std::abs(rpm - last_submitted_rpm_[i]) < o.min_change_rpm && !last_command_id_[i].empty()) {
        auto prev = service_.GetCommand(o.pumps[i], last_command_id_[i]);
        if (prev.ok() && IsLive(prev->status)) {
          ++sum.commands_unchanged;
          continue;
        }
      }
      const std::string reason = fmt::format(
          "mpc: {:.0f} rpm at level {:.2f} m, demand {:.0f} m3/h; plan: level {:.2f}..{:.2f} m over {:.1f} "
          "h, "
          "cost {:.2f} EUR; wear {:.2f} ({}); {} in {} iterations, {:.0f} ms",
          rpm, sum.level_m, sum.demand_m3h, lmin, lmax, o.mpc.horizon_s / 3600, ms.planned_energy_cost_eur,
          sum.impeller_wear[i], sum.wear_source[i], ms.solver_status, ms.iterations, ms.solve_wall_s * 1e3);
      auto rec = service_.SubmitCommandAs(o.pumps[i], o.command, json{{o.command_field, rpm}}, o.principal,
                                          CommandSource::kMpc);
      if (!rec.ok()) {
        sum.errors.push_back(o.pumps[i] + ": " + rec.status().ToString());
        spdlog::warn("control loop: {} {}: {}", o.pumps[i], o.command, rec.status().ToString());
        continue;
      }
      ++sum.commands_submitted;
      sum.command_ids.push_back(rec->id);
      sum.command_status.push_back(CommandStatusName(rec->status));
      sum.command_reasons.push_back(reason);
      last_command_id_[i] = rec->id;
      last_submitted_rpm_[i] = rpm;
    }
  }

  // 4. The plan for the dashboard.
  json step = ControlLoopSummaryToJson(sum);
  std::lock_guard plan_lk(plan_mu_);
  last_step_ = step;
  if (ms.solved) {
    json times = json::array(), pumps = json::array();
    double t = 0;
    for (double dt : ms.step_s) {
      times.push_back(now_ns + static_cast<TimeNs>(t * 1e9));
      t += dt;
    }
    json level_ts = json::array();
    t = 0;
    for (double dt : ms.step_s) level_ts.push_back(now_ns + static_cast<TimeNs>((t += dt) * 1e9));
    for (size_t i = 0; i < P; ++i) {
      json rpm = json::array(), duty = json::array(), flow = json::array();
      for (size_t k = 0; k < ms.step_s.size(); ++k) {
        rpm.push_back(ms.planned_speed_rpm[k][i]);
        duty.push_back(ms.planned_duty[k][i]);
        flow.push_back(ms.planned_flow_m3h[k][i]);
      }
      pumps.push_back(
          {{"twin", o.pumps[i]},
           {"impeller_wear", sum.impeller_wear[i]},
           {"wear_source", sum.wear_source[i]},
           {"setpoint_rpm", std::isfinite(sum.setpoint_rpm[i]) ? json(sum.setpoint_rpm[i]) : json()},
           {"speed_rpm", std::move(rpm)},
           {"duty", std::move(duty)},
           {"flow_m3h", std::move(flow)}});
    }
    plan_ = {
        {"ts", now_ns},
        {"tank", o.tank},
        {"period_s", o.mpc.period_s},
        {"horizon_s", o.mpc.horizon_s},
        {"band",
         {{"min_m", o.mpc.level_min_m}, {"max_m", o.mpc.level_max_m}, {"margin_m", o.mpc.level_margin_m}}},
        {"level_m", sum.level_m},
        {"demand_m3h", std::isfinite(sum.demand_m3h) ? json(sum.demand_m3h) : json()},
        {"demand_bias_m3h", ms.demand_bias_m3h},
        {"solver_status", ms.solver_status},
        {"iterations", ms.iterations},
        {"solve_wall_s", ms.solve_wall_s},
        {"objective_eur", ms.objective_eur},
        {"planned_energy_cost_eur", ms.planned_energy_cost_eur},
        {"step_start_ns", std::move(times)},
        {"step_s", ms.step_s},
        {"level_ts_ns", std::move(level_ts)},
        {"planned_level_m", ms.planned_level_m},
        {"pumps", std::move(pumps)}};
  }
  return sum;
}

Status ControlLoop::SetMpcOptions(const control::MpcOptions& mpc) {
  ControlLoopOptions next = options_;
  next.mpc = mpc;
  DOPPEL_RETURN_IF_ERROR(next.Validate());
  std::lock_guard lk(step_mu_);
  if (Status s = mpc_->SetOptions(mpc); !s.ok()) return MpcError(s);
  options_.mpc = mpc;
  return Status::Ok();
}

ControlLoopOptions ControlLoop::options() const {
  std::lock_guard lk(step_mu_);
  return options_;
}

Result<json> ControlLoop::LastPlan() const {
  std::lock_guard lk(plan_mu_);
  if (plan_.is_null()) {
    if (last_step_.is_null()) return NotFound("the MPC loop has not planned yet (no tank level received)");
    return NotFound("the MPC loop has no successful plan yet (last step: " +
                    last_step_.value("solver_status", "?") + ")");
  }
  json j = plan_;
  j["last_step"] = last_step_;
  j["steps"] = steps_.load();
  j["fallbacks"] = fallbacks_.load();
  return j;
}

Status ControlLoop::Start() {
  std::lock_guard lk(run_mu_);
  if (thread_.joinable()) return FailedPrecondition("the control loop is already running");
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void ControlLoop::Stop() {
  {
    std::lock_guard lk(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ControlLoop::Run() {
  TimeNs last_step_ns = std::numeric_limits<TimeNs>::min();
  std::string last_skip;
  for (;;) {
    {
      std::unique_lock lk(run_mu_);
      if (run_cv_.wait_for(lk, std::chrono::milliseconds(options_.poll_ms), [this] { return stop_; })) return;
    }
    auto tank = service_.GetTwin(options_.tank);
    if (!tank.ok()) continue;
    auto level = tank->latest.find(options_.level_signal);
    if (level == tank->latest.end()) continue;
    const TimeNs ts = level->second.ts_ns;
    const TimeNs period_ns = static_cast<TimeNs>(options().mpc.period_s * 1e9);
    if (last_step_ns != std::numeric_limits<TimeNs>::min() && ts < last_step_ns + period_ns) continue;
    auto s = Step(ts);
    last_step_ns = ts;
    if (!s.ok()) {
      if (s.status().message() != last_skip)
        spdlog::warn("control loop: step skipped: {}", s.status().ToString());
      last_skip = s.status().message();
      continue;
    }
    last_skip.clear();
    spdlog::debug("control loop: step at {}: {} ({} it, {:.0f} ms), {} commands", ts, s->solver_status,
                  s->iterations, s->solve_wall_s * 1e3, s->commands_submitted);
  }
}

json ControlLoopSummaryToJson(const ControlLoopSummary& s) {
  json setpoints = json::array();
  for (double v : s.setpoint_rpm) setpoints.push_back(std::isfinite(v) ? json(v) : json());
  return {{"ts", s.ts_ns},
          {"solved", s.solved},
          {"fallback", s.fallback},
          {"solver_status", s.solver_status},
          {"iterations", s.iterations},
          {"solve_wall_s", s.solve_wall_s},
          {"level_m", s.level_m},
          {"demand_m3h", std::isfinite(s.demand_m3h) ? json(s.demand_m3h) : json()},
          {"impeller_wear", s.impeller_wear},
          {"wear_source", s.wear_source},
          {"setpoint_rpm", std::move(setpoints)},
          {"commands_submitted", s.commands_submitted},
          {"commands_unchanged", s.commands_unchanged},
          {"command_ids", s.command_ids},
          {"command_status", s.command_status},
          {"command_reasons", s.command_reasons},
          {"errors", s.errors},
          {"alert_raised", s.alert_raised}};
}

}  // namespace doppel::engine
