// ControlLoop: the economic MPC (control::MpcController) driving the LIVE station through the
// engine (docs/control.md "The live loop").
//
// Every control period (in SOURCE time of the telemetry: the plant may run faster than real
// time) one Step:
//   1. reads the tank's latest level and demand and each pump's latest speed (Service::GetTwin);
//   2. reads each pump's estimated impeller wear (Service::GetEstimate, the twin's EKF); a pump
//      without an estimate yet plans with the nominal (new) pump, and the Summary says why;
//   3. solves the MPC, warm-started from the previous plan, with the demand forecast
//      forecast(t) = profile(t) + (D_measured − profile(now))·exp(−(t − now)/demand_persistence_s)
//      (profile: the twin's nominal daily demand, plant::TankParams);
//   4. puts one `setSpeed` per pump on the command bus as source mpc (SubmitCommandAs), so the
//      twin's control mode applies: auto sends, approve waits for an operator, advisory only
//      proposes. A setpoint within min_change_rpm of the last one submitted, whose command is
//      still live, is not submitted again.
// When the solver fails (any Ipopt status but solved / solved to acceptable level) nothing is
// submitted, so the plant holds the last speeds it was sent, and an alert `mpc_fallback` is
// raised on the tank twin (cleared by the next successful solve).
//
// Time: `now_ns` is the source time of the step (the tank's latest sample in the thread);
// control time t_s (docs/control.md) counts from midnight UTC of the first step's day.
//
// Threads: Step, LastPlan and Start/Stop may be called from any thread (one mutex serializes
// steps; LastPlan copies the plan under a second one). Start runs a thread that polls the
// tank's latest level timestamp every poll_ms of wall time and steps whenever the source time
// advanced by period_s since the last step.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "doppel/control/mpc.h"
#include "doppel/core/reading.h"
#include "doppel/core/status.h"
#include "doppel/engine/service.h"

namespace doppel::engine {

struct ControlLoopOptions {
  std::vector<std::string> pumps = {"pump-1", "pump-2", "pump-3"};  // pump twin ids, in order
  std::string tank = "tank-1";                                      // the tank twin
  std::string level_signal = "level_m";                             // tank telemetry, m
  std::string demand_signal = "demand_m3h";                         // tank telemetry, m3/h
  std::string speed_signal = "speed_rpm";                           // pump telemetry, rpm
  std::string command = "setSpeed";                                 // pump command ...
  std::string command_field = "speed_rpm";                          // ... and its request field
  std::string principal = "mpc";                                    // who the audit log names
  // The MPC: period_s (source time), horizon_s, level band and margin, speed limits, tariff ...
  // (control::MpcOptions; its defaults).
  control::MpcOptions mpc;
  double min_change_rpm = 1.0;         // a smaller change of a live setpoint is not re-submitted
  double demand_persistence_s = 3600;  // decay of the measured demand's deviation in the forecast
  double max_level_age_s = 600;        // a level older than this at the step: no step
  int poll_ms = 50;                    // the thread's wall-clock poll interval

  // Names the first broken rule ("pumps: ...", "mpc.horizon_s: ...").
  Status Validate() const;
};

struct ControlLoopSummary {
  TimeNs ts_ns = 0;           // source time of the step
  bool solved = false;        // Ipopt converged
  bool fallback = false;      // solver failed: nothing submitted, last speeds held, alert raised
  std::string solver_status;  // Ipopt's status name
  int iterations = 0;
  double solve_wall_s = 0;
  double level_m = 0;                    // the measured level the plan started from
  double demand_m3h = 0;                 // the measured demand
  std::vector<double> impeller_wear;     // per pump, what the plan used
  std::vector<std::string> wear_source;  // per pump: "estimate" or "nominal: <why>"
  std::vector<double> setpoint_rpm;      // per pump, the MPC's command (NaN: none)
  int commands_submitted = 0;
  int commands_unchanged = 0;               // within min_change_rpm of a live command: not re-sent
  std::vector<std::string> command_ids;     // submitted this step
  std::vector<std::string> command_status;  // their status right after submission
  // Why, with the plan summary (the bus has no reason field on submission yet: kept here and
  // in LastPlan()["last_step"]).
  std::vector<std::string> command_reasons;
  std::vector<std::string> errors;  // submissions the bus did not take (why)
  bool alert_raised = false;
  bool alert_cleared = false;
};

class ControlLoop {
 public:
  // InvalidArgument naming the broken option. `service` must outlive the loop.
  static Result<std::unique_ptr<ControlLoop>> Create(ControlLoopOptions options, Service& service);
  ~ControlLoop();  // Stop()
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  // One control period at source time `now_ns`. FailedPrecondition (nothing done) when the
  // tank has no level yet or it is older than max_level_age_s; InvalidArgument for a pump the
  // service does not know. A solver failure is not an error (Summary::fallback).
  Result<ControlLoopSummary> Step(TimeNs now_ns);

  // The last successful plan as JSON (docs/control.md): ts, the step grid (start times, ns),
  // per pump speed/duty/flow trajectories, the predicted level, the solve and the last step's
  // outcome. NotFound before the first successful solve.
  Result<nlohmann::json> LastPlan() const;

  // New MPC options at run time (band, tariff, limits ...; period_s and horizon_s too), validated
  // ("mpc.<field>: ..."); they take effect at the next Step, keeping the warm start.
  Status SetMpcOptions(const control::MpcOptions& mpc);

  // Starts / stops the polling thread. Start: FailedPrecondition when already running.
  Status Start();
  void Stop();

  int64_t steps() const { return steps_.load(); }
  int64_t fallbacks() const { return fallbacks_.load(); }
  // A copy (SetMpcOptions may change `mpc` concurrently).
  ControlLoopOptions options() const;

 private:
  struct Forecast;
  ControlLoop(ControlLoopOptions options, Service& service);
  void Run();
  void RaiseOrClear(bool raise, TimeNs ts_ns, const std::string& reason, ControlLoopSummary* sum);

  ControlLoopOptions options_;  // `mpc` changes under step_mu_ (SetMpcOptions)
  Service& service_;
  std::shared_ptr<Forecast> forecast_;
  std::unique_ptr<control::MpcController> mpc_;

  mutable std::mutex step_mu_;  // serializes Step; guards options_.mpc
  TimeNs day0_ns_ = -1;
  std::vector<double> last_submitted_rpm_;
  std::vector<std::string> last_command_id_;
  bool alert_active_ = false;

  mutable std::mutex plan_mu_;
  nlohmann::json plan_;  // null until the first successful solve
  nlohmann::json last_step_;

  std::atomic<int64_t> steps_{0}, fallbacks_{0};
  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The JSON of a step summary (in the plan's "last_step").
nlohmann::json ControlLoopSummaryToJson(const ControlLoopSummary& s);

// Parses the serve config's `control:` section (YAML text of that mapping, docs/config.md):
// nullopt when no MPC loop is enabled; kInvalidArgument naming the key otherwise
// ("config: control.mpc.pumps[1]: 'pump-1' is listed twice"). Never throws (fuzz/control_config_fuzz.cc).
Result<std::optional<ControlLoopOptions>> ParseControlLoopConfigYaml(const std::string& yaml_text);

}  // namespace doppel::engine
