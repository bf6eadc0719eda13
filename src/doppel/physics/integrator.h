// Integrators and the Simulator (docs/physics.md).
//
// An Integrator advances a Context's state from context->time to a target time with the
// context's inputs and parameters held constant (zero-order hold); context->time ends exactly
// on the target. Two kinds behind one interface:
//   * Rk4Integrator: classical fixed-step 4th-order Runge–Kutta. Deterministic cost per
//     simulated second, no allocation per step: for hard real-time stepping and fast what-ifs.
//     The last step before the target is shortened to land on it.
//   * CvodeIntegrator: SUNDIALS CVODE, variable step and order; BDF + Newton with a dense
//     Jacobian (exact, by automatic differentiation of the System) for stiff models, Adams +
//     fixed point for non-stiff ones. Keeps its history between calls while the context is
//     unchanged; any external change of state, inputs, parameters or time restarts it.
// Failures (non-finite state, CVODE errors, step limits) are returned as Status, never thrown.
#pragma once

#include <cstdint>
#include <memory>

#include "doppel/physics/system.h"

namespace doppel::physics {

// Counters accumulated over an integrator's life (Reset() does not clear them). There are no
// timings here: physics never reads a clock; callers time calls themselves.
struct IntegratorSummary {
  int64_t calls = 0;               // Advance() calls
  int64_t steps = 0;               // accepted steps
  int64_t rhs_evals = 0;           // derivative evaluations (CVODE: including difference quotients)
  int64_t rejected_steps = 0;      // CVODE error-test failures
  int64_t nonlinear_failures = 0;  // CVODE nonlinear solver convergence failures
  int64_t jacobian_evals = 0;      // CVODE Jacobian evaluations
  int64_t restarts = 0;            // CVODE (re)initializations
  double last_step_s = 0;          // size of the last step taken
  double simulated_s = 0;          // total time advanced
};

class Integrator {
 public:
  virtual ~Integrator() = default;
  // Advances context->state from context->time to t >= context->time. The context must match
  // `system` (ValidateContext). On error the context holds the last good state and its time.
  virtual Status Advance(const System& system, Context* context, double t) = 0;
  // Forgets any history (CVODE) so the next Advance starts fresh.
  virtual void Reset() {}
  virtual const char* kind() const = 0;
  const IntegratorSummary& summary() const { return summary_; }

 protected:
  IntegratorSummary summary_;
};

struct Rk4Options {
  double step_s = 0.1;  // fixed step (s), > 0
  // If true (default), Advance fails when the state becomes non-finite.
  bool check_finite = true;
  Status Validate() const;
};

struct CvodeOptions {
  enum class Method {
    kBdf,    // stiff: backward differentiation formulas, Newton iteration, dense linear solver
    kAdams,  // non-stiff: Adams–Moulton, fixed-point iteration
  };
  Method method = Method::kBdf;
  double relative_tolerance = 1e-6;     // > 0
  double absolute_tolerance = 1e-8;     // > 0, same for every state
  double max_step_s = 0;                // 0 = no limit
  double initial_step_s = 0;            // 0 = CVODE's estimate
  int64_t max_steps_per_call = 100000;  // per Advance(); exceeding it is kResourceExhausted
  bool autodiff_jacobian = true;        // BDF: exact Jacobian by AutoDiffXd (else difference quotients)
  Status Validate() const;
};

Result<std::unique_ptr<Integrator>> MakeRk4Integrator(const Rk4Options& options = {});
Result<std::unique_ptr<Integrator>> MakeCvodeIntegrator(const CvodeOptions& options = {});

// Owns a Context and an Integrator and advances the context through time. Inputs are changed
// between calls through mutable_context() (they are held until the next change).
class Simulator {
 public:
  // `system` must outlive the simulator; `context` must match it (checked by Initialize()).
  Simulator(const System& system, Context context, std::unique_ptr<Integrator> integrator);

  // Checks the context; call once before AdvanceTo (AdvanceTo calls it if you did not).
  Status Initialize();
  // Advances to time t (>= context().time). A t before the current time is InvalidArgument.
  Status AdvanceTo(double t);
  Status AdvanceBy(double dt) { return AdvanceTo(context_.time + dt); }

  const System& system() const { return *system_; }
  const Context& context() const { return context_; }
  Context& mutable_context() { return context_; }
  Eigen::VectorXd Outputs() const { return system_->EvalOutputs(context_); }
  const Integrator& integrator() const { return *integrator_; }
  const IntegratorSummary& summary() const { return integrator_->summary(); }

 private:
  const System* system_;
  Context context_;
  std::unique_ptr<Integrator> integrator_;
  bool initialized_ = false;
};

}  // namespace doppel::physics
