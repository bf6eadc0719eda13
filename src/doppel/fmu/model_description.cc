#include "doppel/fmu/model_description.h"

#include <tinyxml2.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <span>

namespace doppel::fmu {

const char* CausalityName(Causality c) {
  switch (c) {
    case Causality::kParameter: return "parameter";
    case Causality::kCalculatedParameter: return "calculatedParameter";
    case Causality::kInput: return "input";
    case Causality::kOutput: return "output";
    case Causality::kLocal: return "local";
    case Causality::kIndependent: return "independent";
    case Causality::kStructuralParameter: return "structuralParameter";
  }
  return "?";
}

const char* VariabilityName(Variability v) {
  switch (v) {
    case Variability::kConstant: return "constant";
    case Variability::kFixed: return "fixed";
    case Variability::kTunable: return "tunable";
    case Variability::kDiscrete: return "discrete";
    case Variability::kContinuous: return "continuous";
  }
  return "?";
}

const ScalarVariable* ModelDescription::Find(std::string_view name) const {
  for (const auto& v : variables)
    if (v.name == name) return &v;
  return nullptr;
}

int ModelDescription::StateOf(int derivative_index) const {
  return variables[static_cast<size_t>(derivatives[static_cast<size_t>(derivative_index)])].derivative_of - 1;
}

namespace {

using tinyxml2::XMLElement;

bool ParseDouble(const char* s, double* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (*end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

bool ParseUnsigned(const char* s, uint64_t max, uint64_t* out) {
  if (s == nullptr || *s < '0' || *s > '9') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (*end != '\0' || errno == ERANGE || v > max) return false;
  *out = v;
  return true;
}

Result<double> OptionalDouble(const XMLElement* e, const char* attr, double dflt, const std::string& where) {
  const char* s = e->Attribute(attr);
  if (s == nullptr) return dflt;
  double v = 0;
  if (!ParseDouble(s, &v))
    return InvalidArgument(where + ": " + attr + " '" + s + "' is not a finite number");
  return v;
}

// The VariableType of a type element (2.0: the <ScalarVariable>'s child; 3.0: the variable's own
// element), or nullopt for a name the version does not have.
std::optional<VariableType> TypeOfElement(std::string_view name, bool v3) {
  struct Entry {
    std::string_view name;
    VariableType type;
  };
  static constexpr Entry kFmi2[] = {{"Real", VariableType::kReal},
                                    {"Integer", VariableType::kInteger},
                                    {"Boolean", VariableType::kBoolean},
                                    {"String", VariableType::kString},
                                    {"Enumeration", VariableType::kEnumeration}};
  static constexpr Entry kFmi3[] = {
      {"Float64", VariableType::kReal},
      {"Int32", VariableType::kInteger},
      {"Boolean", VariableType::kBoolean},
      {"String", VariableType::kString},
      {"Enumeration", VariableType::kEnumeration},
      // Kept so they can be named in errors; Doppel neither reads nor writes them.
      {"Float32", VariableType::kOther},
      {"Int8", VariableType::kOther},
      {"UInt8", VariableType::kOther},
      {"Int16", VariableType::kOther},
      {"UInt16", VariableType::kOther},
      {"UInt32", VariableType::kOther},
      {"Int64", VariableType::kOther},
      {"UInt64", VariableType::kOther},
      {"Binary", VariableType::kOther},
      {"Clock", VariableType::kOther}};
  for (const Entry& e : v3 ? std::span<const Entry>(kFmi3) : std::span<const Entry>(kFmi2))
    if (e.name == name) return e.type;
  return std::nullopt;
}

Result<Causality> ParseCausality(const char* s) {
  if (s == nullptr) return Causality::kLocal;
  for (Causality c : {Causality::kParameter, Causality::kCalculatedParameter, Causality::kInput,
                      Causality::kOutput, Causality::kLocal, Causality::kIndependent})
    if (std::string_view(s) == CausalityName(c)) return c;
  return InvalidArgument(std::string("unknown causality '") + s + "'");
}

Result<Variability> ParseVariability(const char* s) {
  if (s == nullptr) return Variability::kContinuous;
  for (Variability v : {Variability::kConstant, Variability::kFixed, Variability::kTunable,
                        Variability::kDiscrete, Variability::kContinuous})
    if (std::string_view(s) == VariabilityName(v)) return v;
  return InvalidArgument(std::string("unknown variability '") + s + "'");
}

// Parses a start="..." value of a numeric or Boolean variable into v.start.
Status ParseStart(const XMLElement* e, const std::string& at, ScalarVariable* v) {
  const char* s = e->Attribute("start");
  if (s == nullptr || v->type == VariableType::kString || v->type == VariableType::kOther)
    return Status::Ok();
  double x = 0;
  if (v->type == VariableType::kBoolean &&
      (std::string_view(s) == "true" || std::string_view(s) == "false")) {
    x = std::string_view(s) == "true" ? 1 : 0;
  } else if (!ParseDouble(s, &x)) {
    return InvalidArgument(at + ": start '" + s + "' is not a number");
  }
  v->start = x;
  return Status::Ok();
}

Result<ScalarVariable> ParseVariable(const XMLElement* e, const std::string& where) {
  ScalarVariable v;
  const char* name = e->Attribute("name");
  if (name == nullptr || *name == '\0') return InvalidArgument(where + ": missing name");
  v.name = name;
  const std::string at = where + " '" + v.name + "'";
  uint64_t vr = 0;
  if (!ParseUnsigned(e->Attribute("valueReference"), 0xFFFFFFFFu, &vr))
    return InvalidArgument(at + ": missing or invalid valueReference");
  v.value_reference = static_cast<unsigned>(vr);
  auto c = ParseCausality(e->Attribute("causality"));
  if (!c.ok()) return InvalidArgument(at + ": " + c.status().message());
  v.causality = *c;
  auto var = ParseVariability(e->Attribute("variability"));
  if (!var.ok()) return InvalidArgument(at + ": " + var.status().message());
  v.variability = *var;
  if (const char* d = e->Attribute("description")) v.description = d;

  const XMLElement* t = e->FirstChildElement();
  if (t == nullptr)
    return InvalidArgument(at + ": no type element (Real, Integer, Boolean, String, Enumeration)");
  const std::string_view tn = t->Name();
  v.type_name = tn;
  const std::optional<VariableType> type = TypeOfElement(tn, /*v3=*/false);
  if (!type) return InvalidArgument(at + ": unknown type element <" + std::string(tn) + ">");
  v.type = *type;
  if (v.type == VariableType::kReal) {
    if (const char* u = t->Attribute("unit")) v.unit = u;
    if (const char* d = t->Attribute("derivative")) {
      uint64_t idx = 0;
      if (!ParseUnsigned(d, 1u << 30, &idx) || idx == 0)
        return InvalidArgument(at + ": derivative '" + d + "' is not a 1-based variable index");
      v.derivative_of = static_cast<int>(idx);
    }
  }
  DOPPEL_RETURN_IF_ERROR(ParseStart(t, at, &v));
  return v;
}

// Reads <List><Unknown index="i"/>...</List> into 0-based indices.
Status ParseUnknowns(const XMLElement* list, size_t n, const std::string& where, std::vector<int>* out) {
  if (list == nullptr) return Status::Ok();
  int k = 0;
  for (const XMLElement* u = list->FirstChildElement("Unknown"); u;
       u = u->NextSiblingElement("Unknown"), ++k) {
    uint64_t idx = 0;
    if (!ParseUnsigned(u->Attribute("index"), n, &idx) || idx == 0) {
      return InvalidArgument(where + "/Unknown[" + std::to_string(k) + "]: index '" +
                             (u->Attribute("index") ? u->Attribute("index") : "") + "' is not in 1.." +
                             std::to_string(n));
    }
    out->push_back(static_cast<int>(idx - 1));
  }
  return Status::Ok();
}

// FMI 3.0: one variable, the element's name is its type (<Float64 name=... valueReference=...>).
// `derivative_vr` gets the value reference its derivative= attribute names (resolved to an index
// by the caller once every variable is known), or -1.
Result<ScalarVariable> ParseVariable3(const XMLElement* e, const std::string& where, int64_t* derivative_vr) {
  ScalarVariable v;
  const std::string_view tn = e->Name();
  v.type_name = tn;
  const char* name = e->Attribute("name");
  if (name == nullptr || *name == '\0')
    return InvalidArgument(where + " <" + v.type_name + ">: missing name");
  v.name = name;
  const std::string at = where + " <" + v.type_name + "> '" + v.name + "'";
  const std::optional<VariableType> type = TypeOfElement(tn, /*v3=*/true);
  if (!type) return InvalidArgument(at + ": unknown variable type");
  v.type = *type;
  if (e->FirstChildElement("Dimension") != nullptr)
    return InvalidArgument(at + ": array variables (<Dimension>) are not supported");
  uint64_t vr = 0;
  if (!ParseUnsigned(e->Attribute("valueReference"), 0xFFFFFFFFu, &vr))
    return InvalidArgument(at + ": missing or invalid valueReference");
  v.value_reference = static_cast<unsigned>(vr);
  const char* causality = e->Attribute("causality");
  auto c = causality != nullptr && std::string_view(causality) == "structuralParameter"
               ? Result<Causality>(Causality::kStructuralParameter)
               : ParseCausality(causality);
  if (!c.ok()) return InvalidArgument(at + ": " + c.status().message());
  v.causality = *c;
  // 3.0's default variability is continuous for floats, discrete for the other types.
  const bool is_float = tn == "Float64" || tn == "Float32";
  const char* variability = e->Attribute("variability");
  auto var = variability == nullptr && !is_float ? Result<Variability>(Variability::kDiscrete)
                                                 : ParseVariability(variability);
  if (!var.ok()) return InvalidArgument(at + ": " + var.status().message());
  v.variability = *var;
  if (const char* d = e->Attribute("description")) v.description = d;
  if (const char* u = e->Attribute("unit")) v.unit = u;
  *derivative_vr = -1;
  if (const char* d = e->Attribute("derivative")) {
    if (!is_float)
      return InvalidArgument(at + ": derivative= on a variable of type " + v.type_name +
                             " (only floats have one)");
    uint64_t dvr = 0;
    if (!ParseUnsigned(d, 0xFFFFFFFFu, &dvr))
      return InvalidArgument(at + ": derivative '" + d + "' is not a value reference");
    *derivative_vr = static_cast<int64_t>(dvr);
  }
  DOPPEL_RETURN_IF_ERROR(ParseStart(e, at, &v));
  return v;
}

// FMI 3.0: the children of <ModelStructure> named `element` (<Output valueReference="..."/>, ...)
// as 0-based variable indices; errors count the elements from 1.
Status ParseStructure3(const XMLElement* ms, const char* element, const std::map<unsigned, int>& index_of_vr,
                       const std::string& where, std::vector<int>* out) {
  int k = 0;
  for (const XMLElement* u = ms->FirstChildElement(element); u; u = u->NextSiblingElement(element), ++k) {
    uint64_t vr = 0;
    const char* s = u->Attribute("valueReference");
    auto it =
        ParseUnsigned(s, 0xFFFFFFFFu, &vr) ? index_of_vr.find(static_cast<unsigned>(vr)) : index_of_vr.end();
    if (it == index_of_vr.end()) {
      return InvalidArgument(where + "/" + element + "[" + std::to_string(k + 1) + "]: valueReference '" +
                             (s ? s : "") + "' names no variable");
    }
    out->push_back(it->second);
  }
  return Status::Ok();
}

// FMI 3.0 <ModelVariables> and <ModelStructure> into md (variables, outputs, derivatives).
Status ParseVariables3(const XMLElement* root, const std::string& source, ModelDescription* md) {
  const XMLElement* vars = root->FirstChildElement("ModelVariables");
  if (vars == nullptr) return InvalidArgument(source + ": missing <ModelVariables>");
  std::set<std::string> names;
  std::map<unsigned, int> index_of_vr;
  std::vector<int64_t> derivative_vr;
  int i = 0;
  for (const XMLElement* e = vars->FirstChildElement(); e; e = e->NextSiblingElement(), ++i) {
    int64_t dvr = -1;
    auto v = ParseVariable3(e, source + ": ModelVariables[" + std::to_string(i + 1) + "]", &dvr);
    if (!v.ok()) return v.status();
    if (!names.insert(v->name).second)
      return InvalidArgument(source + ": duplicate variable name '" + v->name + "'");
    auto [it, fresh] = index_of_vr.emplace(v->value_reference, i);
    if (!fresh) {
      return InvalidArgument(source + ": variable '" + v->name + "': valueReference " +
                             std::to_string(v->value_reference) + " is already used by '" +
                             md->variables[static_cast<size_t>(it->second)].name + "'");
    }
    md->variables.push_back(std::move(v).value());
    derivative_vr.push_back(dvr);
  }
  // derivative= links: to a Float64 state they become derivative_of; a Float32 state is kept out of
  // the model (a co-simulation FMU may have any internal states) and refused below only if a model
  // exchange derivative list needs it.
  std::vector<int> target(md->variables.size(), -1);
  for (size_t k = 0; k < md->variables.size(); ++k) {
    if (derivative_vr[k] < 0) continue;
    auto it = index_of_vr.find(static_cast<unsigned>(derivative_vr[k]));
    const std::string_view tt =
        it == index_of_vr.end() ? std::string_view()
                                : std::string_view(md->variables[static_cast<size_t>(it->second)].type_name);
    if (tt != "Float64" && tt != "Float32") {
      return InvalidArgument(source + ": variable '" + md->variables[k].name + "': derivative=" +
                             std::to_string(derivative_vr[k]) + " does not name a float variable");
    }
    target[k] = it->second;
    if (tt == "Float64") md->variables[k].derivative_of = it->second + 1;
  }
  if (const XMLElement* ms = root->FirstChildElement("ModelStructure")) {
    const std::string w = source + ": ModelStructure";
    DOPPEL_RETURN_IF_ERROR(ParseStructure3(ms, "Output", index_of_vr, w, &md->outputs));
    DOPPEL_RETURN_IF_ERROR(
        ParseStructure3(ms, "ContinuousStateDerivative", index_of_vr, w, &md->derivatives));
    std::vector<int> indicators;
    DOPPEL_RETURN_IF_ERROR(ParseStructure3(ms, "EventIndicator", index_of_vr, w, &indicators));
    md->number_of_event_indicators = static_cast<int>(indicators.size());
  }
  std::set<int> listed, states;
  for (int d : md->derivatives) {
    const ScalarVariable& dv = md->variables[static_cast<size_t>(d)];
    if (target[static_cast<size_t>(d)] < 0) {
      return InvalidArgument(source + ": ModelStructure/ContinuousStateDerivative names '" + dv.name +
                             "', which has no derivative attribute");
    }
    if (dv.derivative_of == 0) {
      return InvalidArgument(source + ": ModelStructure/ContinuousStateDerivative names '" + dv.name +
                             "', the derivative of the Float32 '" +
                             md->variables[static_cast<size_t>(target[static_cast<size_t>(d)])].name +
                             "' (Doppel's continuous states are Float64)");
    }
    if (!listed.insert(d).second)
      return InvalidArgument(source + ": ModelStructure/ContinuousStateDerivative lists '" + dv.name +
                             "' twice");
    if (!states.insert(dv.derivative_of).second) {
      return InvalidArgument(source + ": ModelStructure/ContinuousStateDerivative: '" + dv.name +
                             "' is a second derivative of '" +
                             md->variables[static_cast<size_t>(dv.derivative_of - 1)].name + "'");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ModelDescription> ParseModelDescription(std::string_view xml, const std::string& source) {
  tinyxml2::XMLDocument doc;
  if (doc.Parse(xml.data(), xml.size()) != tinyxml2::XML_SUCCESS) {
    const char* err = doc.ErrorStr();
    return InvalidArgument(source + ": malformed XML: " + (err ? err : "parse error"));
  }
  const XMLElement* root = doc.RootElement();
  if (root == nullptr || std::string_view(root->Name()) != "fmiModelDescription")
    return InvalidArgument(source + ": root element must be <fmiModelDescription>");
  ModelDescription md;
  const char* version = root->Attribute("fmiVersion");
  if (version == nullptr) return InvalidArgument(source + ": missing fmiVersion");
  if (std::string_view(version) != "2.0" && std::string_view(version) != "3.0") {
    return InvalidArgument(source + ": fmiVersion '" + version +
                           "' is not supported (Doppel loads FMI 2.0 and 3.0 FMUs)");
  }
  md.fmi_version = version;
  const bool v3 = md.fmi_version == "3.0";
  if (const char* n = root->Attribute("modelName")) md.model_name = n;
  if (md.model_name.empty()) return InvalidArgument(source + ": missing modelName");
  const char* token_attr = v3 ? "instantiationToken" : "guid";
  if (const char* g = root->Attribute(token_attr)) md.guid = g;
  if (md.guid.empty()) return InvalidArgument(source + ": missing " + token_attr);
  if (const char* s = v3 ? nullptr : root->Attribute("numberOfEventIndicators")) {
    uint64_t n = 0;
    if (!ParseUnsigned(s, 1u << 20, &n))
      return InvalidArgument(source + ": bad numberOfEventIndicators '" + s + "'");
    md.number_of_event_indicators = static_cast<int>(n);
  }

  if (const XMLElement* me = root->FirstChildElement("ModelExchange")) {
    const char* id = me->Attribute("modelIdentifier");
    if (id == nullptr || *id == '\0')
      return InvalidArgument(source + ": <ModelExchange> without modelIdentifier");
    md.model_exchange_id = id;
    if (v3) md.me_needs_completed_integrator_step = me->BoolAttribute("needsCompletedIntegratorStep", false);
  }
  if (const XMLElement* cs = root->FirstChildElement("CoSimulation")) {
    const char* id = cs->Attribute("modelIdentifier");
    if (id == nullptr || *id == '\0')
      return InvalidArgument(source + ": <CoSimulation> without modelIdentifier");
    md.co_simulation_id = id;
    md.cs_can_handle_variable_step = cs->BoolAttribute("canHandleVariableCommunicationStepSize", false);
  }
  if (!md.model_exchange_id && !md.co_simulation_id)
    return InvalidArgument(source + ": neither <ModelExchange> nor <CoSimulation> is declared");
  for (const std::optional<std::string>* id : {&md.model_exchange_id, &md.co_simulation_id}) {
    if (*id && (*id)->find_first_of("/\\") != std::string::npos)
      return InvalidArgument(source + ": modelIdentifier '" + **id + "' must not contain a path separator");
  }

  if (const XMLElement* de = root->FirstChildElement("DefaultExperiment")) {
    const std::string w = source + ": DefaultExperiment";
    auto a = OptionalDouble(de, "startTime", 0, w);
    auto b = OptionalDouble(de, "stopTime", 1, w);
    auto c = OptionalDouble(de, "tolerance", 1e-6, w);
    auto d = OptionalDouble(de, "stepSize", 0, w);
    for (const auto* r : {&a, &b, &c, &d})
      if (!r->ok()) return r->status();
    md.default_start_s = *a, md.default_stop_s = *b, md.default_tolerance = *c, md.default_step_s = *d;
  }

  if (v3) {
    DOPPEL_RETURN_IF_ERROR(ParseVariables3(root, source, &md));
    return md;
  }
  const XMLElement* vars = root->FirstChildElement("ModelVariables");
  if (vars == nullptr) return InvalidArgument(source + ": missing <ModelVariables>");
  std::set<std::string> names;
  int i = 0;
  for (const XMLElement* e = vars->FirstChildElement("ScalarVariable"); e;
       e = e->NextSiblingElement("ScalarVariable"), ++i) {
    auto v = ParseVariable(e, source + ": ScalarVariable[" + std::to_string(i + 1) + "]");
    if (!v.ok()) return v.status();
    if (!names.insert(v->name).second)
      return InvalidArgument(source + ": duplicate variable name '" + v->name + "'");
    md.variables.push_back(std::move(v).value());
  }
  const size_t n = md.variables.size();
  for (size_t k = 0; k < n; ++k) {
    const auto& v = md.variables[k];
    if (v.derivative_of == 0) continue;
    if (static_cast<size_t>(v.derivative_of) > n ||
        md.variables[static_cast<size_t>(v.derivative_of - 1)].type != VariableType::kReal) {
      return InvalidArgument(source + ": variable '" + v.name + "': derivative=" +
                             std::to_string(v.derivative_of) + " does not name a Real variable");
    }
  }

  if (const XMLElement* ms = root->FirstChildElement("ModelStructure")) {
    DOPPEL_RETURN_IF_ERROR(
        ParseUnknowns(ms->FirstChildElement("Outputs"), n, source + ": ModelStructure/Outputs", &md.outputs));
    DOPPEL_RETURN_IF_ERROR(ParseUnknowns(ms->FirstChildElement("Derivatives"), n,
                                         source + ": ModelStructure/Derivatives", &md.derivatives));
  }
  for (int d : md.derivatives) {
    if (md.variables[static_cast<size_t>(d)].derivative_of == 0)
      return InvalidArgument(source + ": ModelStructure/Derivatives lists '" +
                             md.variables[static_cast<size_t>(d)].name +
                             "', which has no derivative attribute");
  }
  return md;
}

}  // namespace doppel::fmu
