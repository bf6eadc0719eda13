// Loading FMI 2.0 and FMI 3.0 FMUs (model exchange and co-simulation): unzip, parse
// modelDescription.xml, dlopen the platform binary (docs/fmu.md).
//
//   auto fmu = fmu::Fmu::Load("tank.fmu");                       // Result<shared_ptr<Fmu>>
//   auto inst = fmu::FmuInstance::Create(*fmu, fmu::FmuKind::kModelExchange, "tank-1");
//
// Fmu owns the extracted files (a temporary directory, removed with it) and the library
// handles; FmuInstance owns one fmi2Component / fmi3Instance and keeps its Fmu alive. Refusals are
// InvalidArgument/NotFound naming the file and the reason: not a zip, no modelDescription.xml,
// malformed XML, an fmiVersion other than 2.0 or 3.0, no binaries/<platform>/<modelIdentifier>.so,
// a missing fmi2/fmi3 function. Higher-level wrappers, either version: co_simulation.h (step a CS
// FMU) and fmu_system.h (an ME FMU as a physics::System).
//
// Thread safety: an Fmu is immutable after Load. An FmuInstance is not thread-safe (FMI
// components are not); the wrappers serialise access.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/fmu/fmi2_types.h"
#include "doppel/fmu/fmi3_types.h"
#include "doppel/fmu/model_description.h"

namespace doppel::fmu {

enum class FmuKind { kModelExchange, kCoSimulation };
const char* FmuKindName(FmuKind k);  // "model exchange" | "co-simulation"

struct FmuLoadOptions {
  // Where to unzip; empty: a fresh directory under $TMPDIR (or /tmp), removed with the Fmu.
  std::string extract_dir;
  // binaries/<platform>/<modelIdentifier>.so; empty: this machine's name in the FMU's version
  // ("linux64" for 2.0, "x86_64-linux" for 3.0).
  std::string platform;
};

// The fmi2 functions of one binary, resolved with dlsym. ME-only / CS-only ones are null for
// the other kind.
struct Fmi2Api {
  fmi2InstantiateTYPE* instantiate = nullptr;
  fmi2FreeInstanceTYPE* free_instance = nullptr;
  fmi2SetupExperimentTYPE* setup_experiment = nullptr;
  fmi2ComponentFunctionTYPE* enter_initialization_mode = nullptr;
  fmi2ComponentFunctionTYPE* exit_initialization_mode = nullptr;
  fmi2ComponentFunctionTYPE* terminate = nullptr;
  fmi2GetRealTYPE* get_real = nullptr;
  fmi2SetRealTYPE* set_real = nullptr;
  fmi2GetIntegerTYPE* get_integer = nullptr;
  fmi2SetIntegerTYPE* set_integer = nullptr;
  fmi2GetBooleanTYPE* get_boolean = nullptr;
  fmi2SetBooleanTYPE* set_boolean = nullptr;
  // Model Exchange
  fmi2ComponentFunctionTYPE* enter_event_mode = nullptr;
  fmi2NewDiscreteStatesTYPE* new_discrete_states = nullptr;
  fmi2ComponentFunctionTYPE* enter_continuous_time_mode = nullptr;
  fmi2CompletedIntegratorStepTYPE* completed_integrator_step = nullptr;
  fmi2SetTimeTYPE* set_time = nullptr;
  fmi2SetContinuousStatesTYPE* set_continuous_states = nullptr;
  fmi2GetRealVectorTYPE* get_derivatives = nullptr;
  fmi2GetRealVectorTYPE* get_continuous_states = nullptr;
  // Co-Simulation
  fmi2DoStepTYPE* do_step = nullptr;
};

// The fmi3 functions of a 3.0 binary, resolved with dlsym. ME-only / CS-only ones are null for
// the other kind.
struct Fmi3Api {
  fmi3FreeInstanceTYPE* free_instance = nullptr;
  fmi3EnterInitializationModeTYPE* enter_initialization_mode = nullptr;
  fmi3InstanceFunctionTYPE* exit_initialization_mode = nullptr;
  fmi3InstanceFunctionTYPE* terminate = nullptr;
  fmi3GetFloat64TYPE* get_float64 = nullptr;
  fmi3SetFloat64TYPE* set_float64 = nullptr;
  fmi3GetInt32TYPE* get_int32 = nullptr;
  fmi3SetInt32TYPE* set_int32 = nullptr;
  fmi3GetInt64TYPE* get_int64 = nullptr;  // Enumerations
  fmi3SetInt64TYPE* set_int64 = nullptr;
  fmi3GetBooleanTYPE* get_boolean = nullptr;
  fmi3SetBooleanTYPE* set_boolean = nullptr;
  // Model Exchange
  fmi3InstantiateModelExchangeTYPE* instantiate_model_exchange = nullptr;
  fmi3InstanceFunctionTYPE* enter_event_mode = nullptr;
  fmi3UpdateDiscreteStatesTYPE* update_discrete_states = nullptr;
  fmi3InstanceFunctionTYPE* enter_continuous_time_mode = nullptr;
  fmi3SetTimeTYPE* set_time = nullptr;
  fmi3SetContinuousStatesTYPE* set_continuous_states = nullptr;
  fmi3GetFloat64VectorTYPE* get_continuous_state_derivatives = nullptr;
  fmi3GetFloat64VectorTYPE* get_continuous_states = nullptr;
  // Co-Simulation
  fmi3InstantiateCoSimulationTYPE* instantiate_co_simulation = nullptr;
  fmi3DoStepTYPE* do_step = nullptr;
};

class Fmu {
 public:
  // `path` is a .fmu zip or an already extracted directory.
  static Result<std::shared_ptr<Fmu>> Load(const std::string& path, const FmuLoadOptions& options = {});
  ~Fmu();
  Fmu(const Fmu&) = delete;
  Fmu& operator=(const Fmu&) = delete;

  const std::string& path() const { return path_; }
  const std::string& directory() const { return dir_; }
  const ModelDescription& description() const { return md_; }
  bool is_fmi3() const { return md_.fmi_version == "3.0"; }
  bool Supports(FmuKind k) const { return api(k) != nullptr || api3(k) != nullptr; }
  // The fmi2 functions of kind k's binary, or nullptr when the FMU does not provide that kind
  // (always nullptr for a 3.0 FMU).
  const Fmi2Api* api(FmuKind k) const;
  // The fmi3 functions of kind k's binary of a 3.0 FMU, else nullptr.
  const Fmi3Api* api3(FmuKind k) const { return api3_[static_cast<int>(k)].get(); }

  // The variable named `name`, or NotFound listing what the FMU declares.
  Result<const ScalarVariable*> Variable(std::string_view name) const;

 private:
  Fmu() = default;
  std::string path_, dir_;
  bool remove_dir_ = false;
  ModelDescription md_;
  void* handles_[2] = {nullptr, nullptr};
  std::unique_ptr<Fmi2Api> apis_[2];
  std::unique_ptr<Fmi3Api> api3_[2];
};

// Unzips `zip_path` into `dest_dir` (created if missing). Entries with absolute paths or ".."
// components are refused (no writes outside dest_dir).
Status ExtractZip(const std::string& zip_path, const std::string& dest_dir);

// One instantiated fmi2Component, or fmi3Instance of a 3.0 FMU (the same calls). Every call
// returns a Status: a Warning
// counts as OK, Discard/Error/Fatal are errors naming the call, the instance and the FMU's last
// log line. For 3.0, SetupExperiment only records the experiment, which fmi3EnterInitializationMode
// takes; DoStep is an error when the FMU asks to terminate or returns early (instances are created
// without event mode, so an FMU handles its events inside the step and its eventHandlingNeeded
// flag is ignored, and without early return).
class FmuInstance {
 public:
  static Result<std::unique_ptr<FmuInstance>> Create(std::shared_ptr<const Fmu> fmu, FmuKind kind,
                                                     const std::string& instance_name);
  ~FmuInstance();
  FmuInstance(const FmuInstance&) = delete;
  FmuInstance& operator=(const FmuInstance&) = delete;

  const Fmu& fmu() const { return *fmu_; }
  FmuKind kind() const { return kind_; }
  const std::string& name() const { return name_; }

  Status SetupExperiment(double start_s, double tolerance = 0, double stop_s = 0);  // 0: not given
  Status EnterInitializationMode();
  Status ExitInitializationMode();
  Status GetReal(std::span<const fmi2ValueReference> vr, std::span<double> out);
  Status SetReal(std::span<const fmi2ValueReference> vr, std::span<const double> values);
  // A Real, Integer or Boolean variable by name, as double.
  Result<double> Get(const ScalarVariable& v);
  Status Set(const ScalarVariable& v, double value);

  // Model Exchange (std::logic_error on a co-simulation instance).
  Status SetTime(double t_s);
  Status SetContinuousStates(std::span<const double> x);
  Status GetContinuousStates(std::span<double> x);
  Status GetDerivatives(std::span<double> xdot);
  Status EnterEventMode();
  // Iterates fmi2NewDiscreteStates (3.0: fmi3UpdateDiscreteStates, its results in the same struct)
  // until no new discrete states are needed (at most 100 times).
  Status UpdateDiscreteStates(fmi2EventInfo* info);
  Status EnterContinuousTimeMode();
  // Co-Simulation (std::logic_error on a model exchange instance).
  Status DoStep(double t_s, double h_s);

  // Called by the FMU's logger callback (status: fmi2Status or fmi3Status, the same numbers).
  void Log(int status, const char* category, const char* message);

 private:
  FmuInstance() = default;
  Status Check(int status, const char* call);
  // One round of fmi2NewDiscreteStates / fmi3UpdateDiscreteStates.
  Status NewDiscreteStates(fmi2EventInfo* info);
  // Throws std::logic_error (API misuse) when this instance is not of kind k: the model exchange
  // calls need a model exchange instance, DoStep a co-simulation one.
  void RequireKind(FmuKind k, const char* call) const;
  Result<double> Get3(const ScalarVariable& v);
  Status Set3(const ScalarVariable& v, double value);
  std::shared_ptr<const Fmu> fmu_;
  const Fmi2Api* api_ = nullptr;
  const Fmi3Api* api3_ = nullptr;                    // a 3.0 instance: api_ is null
  double start_s_ = 0, tolerance_ = 0, stop_s_ = 0;  // 3.0: the experiment, set at initialization
  FmuKind kind_ = FmuKind::kCoSimulation;
  std::string name_;
  std::string resources_;
  fmi2CallbackFunctions callbacks_{};
  fmi2Component c_ = nullptr;
  std::string last_log_;
};

}  // namespace doppel::fmu
