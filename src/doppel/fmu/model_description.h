// modelDescription.xml of an FMI 2.0 or 3.0 FMU, parsed with tinyxml2 (docs/fmu.md).
//
// Only what Doppel uses is kept: the interface kinds and their model identifiers, the scalar
// variables (Real, Integer, Boolean; String and Enumeration variables are kept with their kind
// so names and value references stay known), the default experiment and the model structure
// (outputs, derivatives). Both versions give the same struct: a 3.0 <Float64> is a kReal, an
// <Int32> a kInteger, the instantiationToken is `guid`, and 3.0's value-reference links
// (derivative=, <Output valueReference=>) become the same 0-based indices as 2.0's. 3.0 types
// Doppel does not read or write (Float32, the 8/16/64-bit and unsigned integers, Binary, Clock)
// are kept as kOther so they can be named in errors; array variables (<Dimension>) are refused.
// Pure: text in, struct or error out; fuzzed by fuzz/fmu_description_fuzz.cc.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::fmu {

enum class VariableType { kReal, kInteger, kBoolean, kString, kEnumeration, kOther };
// kStructuralParameter (3.0 only): settable only in configuration mode, which Doppel does not use,
// so Doppel reads it and never writes it.
enum class Causality {
  kParameter,
  kCalculatedParameter,
  kInput,
  kOutput,
  kLocal,
  kIndependent,
  kStructuralParameter
};
enum class Variability { kConstant, kFixed, kTunable, kDiscrete, kContinuous };

const char* CausalityName(Causality c);
const char* VariabilityName(Variability v);

struct ScalarVariable {
  std::string name;
  unsigned value_reference = 0;
  VariableType type = VariableType::kReal;
  std::string
      type_name;  // the XML's type element: "Real", "Integer", ... (2.0), "Float64", "Int32", ... (3.0)
  Causality causality = Causality::kLocal;
  Variability variability = Variability::kContinuous;
  std::optional<double> start;  // Real/Integer/Boolean start value
  std::string unit;             // Real unit, may be empty
  std::string description;
  int derivative_of = 0;  // Real: 1-based index of the state this is the derivative of, 0 = none
};

struct ModelDescription {
  std::string fmi_version;  // "2.0" or "3.0" after a successful parse
  std::string model_name;
  std::string guid;  // 2.0: guid; 3.0: instantiationToken (the binary checks it at instantiation)
  std::optional<std::string> model_exchange_id;  // <ModelExchange modelIdentifier=...>
  std::optional<std::string> co_simulation_id;   // <CoSimulation modelIdentifier=...>
  bool cs_can_handle_variable_step = false;
  // 3.0 <ModelExchange needsCompletedIntegratorStep="true">: the importer must call
  // fmi3CompletedIntegratorStep after every integrator step (FmuSystem refuses such FMUs).
  bool me_needs_completed_integrator_step = false;
  int number_of_event_indicators = 0;
  double default_start_s = 0, default_stop_s = 1, default_tolerance = 1e-6;
  double default_step_s = 0;              // 0 = not given
  std::vector<ScalarVariable> variables;  // in file order: index i is the XML's 1-based index i+1
  std::vector<int> outputs;               // 0-based indices into variables (ModelStructure/Outputs)
  std::vector<int> derivatives;           // 0-based indices into variables (ModelStructure/Derivatives)

  // The variable with this name, or nullptr.
  const ScalarVariable* Find(std::string_view name) const;
  // 0-based index of the state variable of derivatives[i] (its `derivative` attribute).
  int StateOf(int derivative_index) const;
};

// Parses the text of modelDescription.xml. `source` names it in errors, e.g.
// "tank.fmu:modelDescription.xml: ScalarVariable[3] 'h': missing valueReference" (3.0:
// "ModelVariables[3] <Float64> 'h': ..."). Other versions (1.0, ...) are refused naming the version found.
Result<ModelDescription> ParseModelDescription(std::string_view xml, const std::string& source);

}  // namespace doppel::fmu
