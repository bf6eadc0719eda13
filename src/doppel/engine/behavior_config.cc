// The serve config's `behavior:` list, parsed key by key (behavior_config.h).
#include "doppel/engine/behavior_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <initializer_list>
#include <set>

namespace doppel::engine {

namespace {

Status KeyError(const std::string& key, const std::string& why) {
  return InvalidArgument("config: " + key + ": " + why);
}

Status CheckKeys(const YAML::Node& m, const std::string& path, std::initializer_list<const char*> known) {
  for (const auto& kv : m) {
    if (!kv.first.IsScalar()) return KeyError(path, "keys must be strings");
    const std::string k = kv.first.as<std::string>();
    bool ok = false;
    for (const char* n : known) ok = ok || k == n;
    if (!ok) {
      std::string list;
      for (const char* n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      return KeyError(path + "." + k, "unknown key (known: " + list + ")");
    }
  }
  return Status::Ok();
}

Status Number(const YAML::Node& n, const std::string& path, double* out) {
  double v = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
    return KeyError(path, "expected a number");
  }
  *out = v;
  return Status::Ok();
}

Status OptNumber(const YAML::Node& m, const std::string& path, const char* key, double* out) {
  if (YAML::Node n = m[key]) return Number(n, path + "." + key, out);
  return Status::Ok();
}

Status Text(const YAML::Node& n, const std::string& path, std::string* out) {
  if (!n.IsScalar() || n.Scalar().empty()) return KeyError(path, "expected a non-empty string");
  *out = n.Scalar();
  return Status::Ok();
}

// A mapping name -> node, names unique; calls f(name, node, path) in document order.
template <typename F>
Status ForEachEntry(const YAML::Node& m, const std::string& path, const char* what, F f) {
  if (!m.IsMap()) return KeyError(path, std::string("expected a mapping of ") + what);
  std::set<std::string> seen;
  for (const auto& kv : m) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty())
      return KeyError(path, "keys must be non-empty strings");
    const std::string name = kv.first.Scalar();
    if (!seen.insert(name).second) return KeyError(path + "." + name, "given twice");
    DOPPEL_RETURN_IF_ERROR(f(name, kv.second, path + "." + name));
  }
  return Status::Ok();
}

Status ParseEntry(const YAML::Node& e, const std::string& where, FmuBehaviorConfig* c) {
  if (!e.IsMap()) return KeyError(where, "expected a mapping (docs/fmu.md)");
  DOPPEL_RETURN_IF_ERROR(
      CheckKeys(e, where,
                {"model", "fmu", "estimator", "max_step_s", "fd_relative_step", "start_values", "outputs",
                 "inputs", "sensor_std", "states", "estimate"}));
  c->where = where;
  if (!e["model"]) return KeyError(where + ".model", "missing (the DTDL model id whose twins are bound)");
  DOPPEL_RETURN_IF_ERROR(Text(e["model"], where + ".model", &c->model));
  if (c->model.rfind("dtmi:", 0) != 0) return KeyError(where + ".model", "'" + c->model + "' is not a DTMI");
  if (!e["fmu"]) return KeyError(where + ".fmu", "missing (the path of the .fmu)");
  DOPPEL_RETURN_IF_ERROR(Text(e["fmu"], where + ".fmu", &c->fmu));
  if (YAML::Node n = e["estimator"]) {
    DOPPEL_RETURN_IF_ERROR(Text(n, where + ".estimator", &c->estimator));
    if (c->estimator != "ekf" && c->estimator != "ukf")
      return KeyError(where + ".estimator", "'" + c->estimator + "' is not one of ekf, ukf");
  }
  DOPPEL_RETURN_IF_ERROR(OptNumber(e, where, "max_step_s", &c->max_step_s));
  if (!(c->max_step_s > 0 && c->max_step_s <= 60))
    return KeyError(where + ".max_step_s", "must be in (0, 60] s");
  DOPPEL_RETURN_IF_ERROR(OptNumber(e, where, "fd_relative_step", &c->fd_relative_step));
  if (!(c->fd_relative_step > 0 && c->fd_relative_step < 0.1))
    return KeyError(where + ".fd_relative_step", "must be in (0, 0.1)");
  if (YAML::Node n = e["start_values"]) {
    DOPPEL_RETURN_IF_ERROR(
        ForEachEntry(n, where + ".start_values", "FMU variable to number",
                     [&](const std::string& name, const YAML::Node& v, const std::string& p) {
                       double x = 0;
                       DOPPEL_RETURN_IF_ERROR(Number(v, p, &x));
                       c->start_values.emplace_back(name, x);
                       return Status::Ok();
                     }));
  }
  if (!e["outputs"]) {
    return KeyError(where + ".outputs", "missing (FMU output -> the telemetry it predicts; at least one)");
  }
  std::set<std::string> telemetry;
  DOPPEL_RETURN_IF_ERROR(
      ForEachEntry(e["outputs"], where + ".outputs", "FMU output to telemetry name",
                   [&](const std::string& name, const YAML::Node& v, const std::string& p) {
                     std::string t;
                     DOPPEL_RETURN_IF_ERROR(Text(v, p, &t));
                     if (!telemetry.insert(t).second)
                       return KeyError(p, "telemetry '" + t + "' is measured twice");
                     c->outputs.emplace_back(name, t);
                     return Status::Ok();
                   }));
  if (c->outputs.empty()) return KeyError(where + ".outputs", "must map at least one FMU output");
  if (YAML::Node n = e["inputs"]) {
    DOPPEL_RETURN_IF_ERROR(ForEachEntry(
        n, where + ".inputs", "FMU input to telemetry name or number",
        [&](const std::string& name, const YAML::Node& v, const std::string& p) {
          FmuBehaviorConfig::Input in;
          in.variable = name;
          double x = 0;
          if (v.IsScalar() && YAML::convert<double>::decode(v, x)) {
            if (!std::isfinite(x)) return KeyError(p, "must be finite");
            in.constant = x;
          } else {
            DOPPEL_RETURN_IF_ERROR(Text(v, p, &in.telemetry));
            if (!telemetry.insert(in.telemetry).second) {
              return KeyError(p, "telemetry '" + in.telemetry + "' is already bound (an output or input)");
            }
          }
          c->inputs.push_back(std::move(in));
          return Status::Ok();
        }));
  }
  if (!e["sensor_std"])
    return KeyError(where + ".sensor_std", "missing (sensor noise std per measured telemetry)");
  DOPPEL_RETURN_IF_ERROR(ForEachEntry(
      e["sensor_std"], where + ".sensor_std", "telemetry name to std",
      [&](const std::string& name, const YAML::Node& v, const std::string& p) {
        double x = 0;
        if (!v.IsScalar() || !YAML::convert<double>::decode(v, x) || !std::isfinite(x) || x <= 0) {
          return KeyError(p, "expected a number > 0");
        }
        c->sensor_std.emplace_back(name, x);
        return Status::Ok();
      }));
  for (const auto& [var, t] : c->outputs) {
    bool has = false;
    for (const auto& s : c->sensor_std) has = has || s.first == t;
    if (!has)
      return KeyError(where + ".sensor_std." + t,
                      "missing (telemetry '" + t + "' is measured: output " + var + ")");
  }
  for (const auto& [t, sd] : c->sensor_std) {
    bool has = false;
    for (const auto& o : c->outputs) has = has || o.second == t;
    if (!has) return KeyError(where + ".sensor_std." + t, "'" + t + "' is not a telemetry name in outputs");
  }
  if (YAML::Node n = e["states"]) {
    DOPPEL_RETURN_IF_ERROR(
        ForEachEntry(n, where + ".states", "FMU state to settings",
                     [&](const std::string& name, const YAML::Node& v, const std::string& p) {
                       if (!v.IsMap()) return KeyError(p, "expected a mapping");
                       DOPPEL_RETURN_IF_ERROR(CheckKeys(v, p, {"initial_std", "process_std", "min", "max"}));
                       FmuBehaviorConfig::State s;
                       s.state = name;
                       DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "initial_std", &s.initial_std));
                       DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "process_std", &s.process_std));
                       DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "min", &s.min));
                       DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "max", &s.max));
                       if (v["initial_std"] && !(s.initial_std > 0))
                         return KeyError(p + ".initial_std", "must be > 0");
                       if (!(s.process_std >= 0)) return KeyError(p + ".process_std", "must be >= 0");
                       if (!(s.min < s.max)) return KeyError(p, "min must be below max");
                       c->states.push_back(s);
                       return Status::Ok();
                     }));
  }
  if (YAML::Node n = e["estimate"]) {
    if (!n.IsSequence()) return KeyError(where + ".estimate", "expected a list of {parameter, std, ...}");
    std::set<std::string> seen;
    for (size_t i = 0; i < n.size(); ++i) {
      const std::string p = fmt::format("{}.estimate[{}]", where, i);
      const YAML::Node& v = n[i];
      if (!v.IsMap())
        return KeyError(p, "expected a mapping {parameter, std, initial, process_std, min, max}");
      DOPPEL_RETURN_IF_ERROR(CheckKeys(v, p, {"parameter", "initial", "std", "process_std", "min", "max"}));
      FmuBehaviorConfig::Parameter q;
      if (!v["parameter"]) return KeyError(p + ".parameter", "missing (a tunable Real parameter of the FMU)");
      DOPPEL_RETURN_IF_ERROR(Text(v["parameter"], p + ".parameter", &q.parameter));
      if (!seen.insert(q.parameter).second)
        return KeyError(p + ".parameter", "'" + q.parameter + "' given twice");
      if (!v["std"]) return KeyError(p + ".std", "missing (the initial std of the parameter, > 0)");
      DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "std", &q.std));
      if (!(q.std > 0)) return KeyError(p + ".std", "must be > 0");
      DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "initial", &q.initial));
      DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "process_std", &q.process_std));
      if (!(q.process_std >= 0)) return KeyError(p + ".process_std", "must be >= 0");
      DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "min", &q.min));
      DOPPEL_RETURN_IF_ERROR(OptNumber(v, p, "max", &q.max));
      if (!(q.min < q.max)) return KeyError(p, "min must be below max");
      if (std::isfinite(q.initial) && (q.initial < q.min || q.initial > q.max))
        return KeyError(p + ".initial", "outside [min, max]");
      c->estimate.push_back(q);
    }
  }
  return Status::Ok();
}

// parse() with a YAML conversion the checks did not foresee turned into an error naming `key`.
template <typename F>
auto Guarded(const char* key, F parse) -> decltype(parse()) {
  try {
    return parse();
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("config: ") + key + ": " + e.what());
  }
}

// A config list's YAML text: the list, a null node for an empty document, or an error naming `key`.
Result<YAML::Node> LoadList(const std::string& yaml_text, const std::string& key, const std::string& shape) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("config: " + key + ": " + e.what());
  }
  if (!root || root.IsNull()) return YAML::Node();
  if (!root.IsSequence()) return KeyError(key, "expected a list of " + shape);
  return root;
}

Result<std::vector<FmuBehaviorConfig>> ParseUnchecked(const std::string& yaml_text) {
  auto list = LoadList(yaml_text, "behavior", "{model, fmu, outputs, ...} (docs/fmu.md)");
  if (!list.ok()) return list.status();
  const YAML::Node& root = *list;
  std::vector<FmuBehaviorConfig> out;
  std::set<std::string> models;
  for (size_t i = 0; i < root.size(); ++i) {
    FmuBehaviorConfig c;
    const std::string where = fmt::format("behavior[{}]", i);
    DOPPEL_RETURN_IF_ERROR(ParseEntry(root[i], where, &c));
    if (!models.insert(c.model).second)
      return KeyError(where + ".model", "'" + c.model + "' is bound by an earlier entry");
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<TwinCalibration>> ParseCalibrationUnchecked(const std::string& yaml_text) {
  auto list = LoadList(yaml_text, "calibration", "{twins, parameters}");
  if (!list.ok()) return list.status();
  const YAML::Node& root = *list;
  std::vector<TwinCalibration> out;
  for (size_t i = 0; i < root.size(); ++i) {
    const YAML::Node e = root[i];
    TwinCalibration c;
    c.where = fmt::format("calibration[{}]", i);
    if (!e.IsMap()) return KeyError(c.where, "expected a mapping {twins, parameters}");
    DOPPEL_RETURN_IF_ERROR(CheckKeys(e, c.where, {"twins", "parameters"}));
    if (!e["twins"]) return KeyError(c.where + ".twins", "missing (a twin id or glob, e.g. pump-2)");
    DOPPEL_RETURN_IF_ERROR(Text(e["twins"], c.where + ".twins", &c.twins));
    if (!e["parameters"]) return KeyError(c.where + ".parameters", "missing (parameter name -> value)");
    DOPPEL_RETURN_IF_ERROR(
        ForEachEntry(e["parameters"], c.where + ".parameters", "parameter name to number",
                     [&](const std::string& name, const YAML::Node& v, const std::string& p) {
                       double x = 0;
                       DOPPEL_RETURN_IF_ERROR(Number(v, p, &x));
                       c.parameters.emplace_back(name, x);
                       return Status::Ok();
                     }));
    if (c.parameters.empty()) return KeyError(c.where + ".parameters", "must set at least one parameter");
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<TwinOnlineFit>> ParseOnlineFitUnchecked(const std::string& yaml_text) {
  auto list = LoadList(yaml_text, "online_fit", "{twins, parameters, forgetting}");
  if (!list.ok()) return list.status();
  const YAML::Node& root = *list;
  std::vector<TwinOnlineFit> out;
  for (size_t i = 0; i < root.size(); ++i) {
    const YAML::Node e = root[i];
    TwinOnlineFit f;
    f.where = fmt::format("online_fit[{}]", i);
    if (!e.IsMap()) return KeyError(f.where, "expected a mapping {twins, parameters, forgetting}");
    DOPPEL_RETURN_IF_ERROR(CheckKeys(e, f.where, {"twins", "parameters", "forgetting"}));
    if (!e["twins"]) return KeyError(f.where + ".twins", "missing (a twin id or glob, e.g. pump-*)");
    DOPPEL_RETURN_IF_ERROR(Text(e["twins"], f.where + ".twins", &f.twins));
    const YAML::Node ps = e["parameters"];
    if (!ps) return KeyError(f.where + ".parameters", "missing (a list of parameter names)");
    if (!ps.IsSequence() || ps.size() == 0)
      return KeyError(f.where + ".parameters", "expected a non-empty list of parameter names");
    std::set<std::string> seen;
    for (size_t k = 0; k < ps.size(); ++k) {
      std::string name;
      const std::string where = fmt::format("{}.parameters[{}]", f.where, k);
      DOPPEL_RETURN_IF_ERROR(Text(ps[k], where, &name));
      if (!seen.insert(name).second) return KeyError(where, "'" + name + "' is listed twice");
      f.parameters.push_back(std::move(name));
    }
    DOPPEL_RETURN_IF_ERROR(OptNumber(e, f.where, "forgetting", &f.forgetting));
    if (!(f.forgetting > 0 && f.forgetting <= 1))
      return KeyError(f.where + ".forgetting", fmt::format("{} is outside (0, 1]", f.forgetting));
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

Result<std::vector<TwinOnlineFit>> ParseOnlineFitYaml(const std::string& yaml_text) {
  return Guarded("online_fit", [&] { return ParseOnlineFitUnchecked(yaml_text); });
}

Result<std::vector<TwinCalibration>> ParseCalibrationYaml(const std::string& yaml_text) {
  return Guarded("calibration", [&] { return ParseCalibrationUnchecked(yaml_text); });
}

Result<std::vector<FmuBehaviorConfig>> ParseBehaviorConfigYaml(const std::string& yaml_text) {
  return Guarded("behavior", [&] { return ParseUnchecked(yaml_text); });
}

}  // namespace doppel::engine
