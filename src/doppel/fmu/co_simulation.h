// CoSimulation: steps an FMI 2.0 or 3.0 Co-Simulation FMU (docs/fmu.md).
//
//   auto fmu = fmu::Fmu::Load("bouncing_ball.fmu");
//   fmu::CoSimulationOptions o;  o.start_values = {{"e", 0.8}};
//   auto sim = fmu::CoSimulation::Create(*fmu, o);
//   (*sim)->AdvanceTo(3.0, 0.01);  double h = *(*sim)->Get("h");
//
// Create instantiates, sets start values (parameters, initial values), runs initialization
// and leaves the FMU at start_s, ready to step. Errors name the variable and the FMU.
// Not thread-safe: one CoSimulation per thread (or serialise calls).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/fmu/fmu.h"

namespace doppel::fmu {

struct CoSimulationOptions {
  std::string instance_name = "doppel";
  double start_s = 0;    // communication start time
  double tolerance = 0;  // passed to fmi2SetupExperiment (3.0: fmi3EnterInitializationMode) when > 0
  // Values set before initialization, by variable name: parameters, start values, inputs.
  std::vector<std::pair<std::string, double>> start_values;
  Status Validate() const;
};

class CoSimulation {
 public:
  static Result<std::unique_ptr<CoSimulation>> Create(std::shared_ptr<const Fmu> fmu,
                                                      const CoSimulationOptions& options = {});
  // One communication step of h_s > 0 seconds.
  Status Step(double h_s);
  // Steps of at most max_step_s (> 0) until time() == t_s (>= time()). The last step is
  // shortened to land on t_s unless the FMU cannot handle variable steps (then InvalidArgument
  // when t_s - time() is not a multiple of max_step_s).
  Status AdvanceTo(double t_s, double max_step_s);
  double time() const { return t_; }
  // A Real/Integer/Boolean variable by name, as a double.
  Result<double> Get(std::string_view name);
  // Sets an input (or tunable parameter) for the next steps.
  Status Set(std::string_view name, double value);
  const Fmu& fmu() const { return instance_->fmu(); }
  int64_t steps() const { return steps_; }

 private:
  CoSimulation() = default;
  std::unique_ptr<FmuInstance> instance_;
  double t_ = 0;
  int64_t steps_ = 0;
};

}  // namespace doppel::fmu
