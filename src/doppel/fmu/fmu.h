// Loading FMI 2.0 FMUs: unzip, parse modelDescription.xml, dlopen the platform binary
// (docs/fmu.md).
//
//   auto fmu = fmu::Fmu::Load("tank.fmu");                       // Result<shared_ptr<Fmu>>
//   auto inst = fmu::FmuInstance::Create(*fmu, fmu::FmuKind::kModelExchange, "tank-1");
//
// Fmu owns the extracted files (a temporary directory, removed with it) and the library
// handles; FmuInstance owns one fmi2Component and keeps its Fmu alive. Refusals are
// InvalidArgument/NotFound naming the file and the reason: not a zip, no modelDescription.xml,
// malformed XML, an fmiVersion other than 2.0, no binaries/<platform>/<modelIdentifier>.so, a
// missing fmi2 function. Higher-level wrappers: co_simulation.h (step a CS FMU) and
// fmu_system.h (an ME FMU as a physics::System).
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
#include "doppel/fmu/model_description.h"

namespace doppel::fmu {

enum class FmuKind { kModelExchange, kCoSimulation };
const char* FmuKindName(FmuKind k);  // "model exchange" | "co-simulation"

struct FmuLoadOptions {
  // Where to unzip; empty: a fresh directory under $TMPDIR (or /tmp), removed with the Fmu.
  std::string extract_dir;
  std::string platform = "linux64";  // binaries/<platform>/<modelIdentifier>.so
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
  bool Supports(FmuKind k) const { return api(k) != nullptr; }
  // The functions of kind k's binary, or nullptr when the FMU does not provide that kind.
  const Fmi2Api* api(FmuKind k) const;

  // The variable named `name`, or NotFound listing what the FMU declares.
  Result<const ScalarVariable*> Variable(std::string_view name) const;

 private:
  Fmu() = default;
  std::string path_, dir_;
  bool remove_dir_ = false;
  ModelDescription md_;
  void* handles_[2] = {nullptr, nullptr};
  std::unique_ptr<Fmi2Api> apis_[2];
};

// Unzips `zip_path` into `dest_dir` (created if missing). Entries with absolute paths or ".."
// components are refused (no writes outside dest_dir).
Status ExtractZip(const std::string& zip_path, const std::string& dest_dir);

// One instantiated fmi2Component. Every call returns a Status: fmi2Warning counts as OK,
// fmi2Discard/Error/Fatal are errors naming the call, the instance and the FMU's last log line.
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

  // Model Exchange.
  Status SetTime(double t_s);
  Status SetContinuousStates(std::span<const double> x);
  Status GetContinuousStates(std::span<double> x);
  Status GetDerivatives(std::span<double> xdot);
  Status EnterEventMode();
  // Iterates fmi2NewDiscreteStates until no new discrete states are needed (at most 100 times).
  Status UpdateDiscreteStates(fmi2EventInfo* info);
  Status EnterContinuousTimeMode();
  // Co-Simulation.
  Status DoStep(double t_s, double h_s);

  // Called by the FMU's logger callback.
  void Log(fmi2Status status, const char* category, const char* message);

 private:
  FmuInstance() = default;
  Status Check(fmi2Status s, const char* call);
  std::shared_ptr<const Fmu> fmu_;
  const Fmi2Api* api_ = nullptr;
  FmuKind kind_ = FmuKind::kCoSimulation;
  std::string name_;
  std::string resources_;
  fmi2CallbackFunctions callbacks_{};
  fmi2Component c_ = nullptr;
  std::string last_log_;
};

}  // namespace doppel::fmu
