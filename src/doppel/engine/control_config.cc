// The serve config's `control:` section (docs/config.md "control"): parsed key by key, every
// error naming the key ("config: control.mpc.period_s: expected a number").
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <optional>
#include <set>

#include "doppel/engine/control_loop.h"

namespace doppel::engine {

namespace {

// --- [mpcloop] control: {mpc: {...}} (docs/config.md "control") -------------------------------

Status ControlKeyError(const std::string& key, const std::string& why) {
  return InvalidArgument("config: control." + key + ": " + why);
}

Status ControlNumber(const YAML::Node& m, const std::string& path, const char* key, double* out) {
  YAML::Node n = m[key];
  if (!n) return Status::Ok();
  double v = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
    return ControlKeyError(path + "." + key, "expected a number");
  }
  *out = v;
  return Status::Ok();
}

}  // namespace

namespace {
// The parser proper; yaml-cpp may throw on conversions the checks above did not foresee.
Result<std::optional<ControlLoopOptions>> ParseUnchecked(const std::string& yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("config: control: ") + e.what());
  }
  if (!root.IsMap()) return ControlKeyError("", "expected a mapping");
  for (const auto& kv : root) {
    if (kv.first.as<std::string>() != "mpc") {
      return ControlKeyError(kv.first.as<std::string>(), "unknown key (known: mpc)");
    }
  }
  YAML::Node m = root["mpc"];
  if (!m) return std::optional<ControlLoopOptions>();
  if (!m.IsMap()) return ControlKeyError("mpc", "expected a mapping");
  static const std::set<std::string> kKeys = {"enabled",
                                              "period_s",
                                              "horizon_s",
                                              "pumps",
                                              "tank",
                                              "level_min_m",
                                              "level_max_m",
                                              "level_margin_m",
                                              "min_speed_rpm",
                                              "max_speed_rpm",
                                              "max_speed_change_rpm",
                                              "terminal_level_m",
                                              "min_change_rpm",
                                              "demand_persistence_s",
                                              "max_iterations",
                                              "max_solve_s",
                                              "tariff"};
  for (const auto& kv : m) {
    const std::string k = kv.first.as<std::string>();
    if (kKeys.count(k) == 0) return ControlKeyError("mpc." + k, "unknown key (docs/config.md lists them)");
  }
  bool enabled = true;
  if (YAML::Node n = m["enabled"]) {
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, enabled))
      return ControlKeyError("mpc.enabled", "expected true or false");
  }
  if (!enabled) return std::optional<ControlLoopOptions>();
  ControlLoopOptions o;
  if (YAML::Node n = m["pumps"]) {
    if (!n.IsSequence() || n.size() == 0)
      return ControlKeyError("mpc.pumps", "expected a list of pump twin ids");
    o.pumps.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar() || n[i].as<std::string>().empty()) {
        return ControlKeyError(fmt::format("mpc.pumps[{}]", i), "expected a twin id");
      }
      o.pumps.push_back(n[i].as<std::string>());
    }
  }
  if (YAML::Node n = m["tank"]) {
    if (!n.IsScalar()) return ControlKeyError("mpc.tank", "expected a twin id");
    o.tank = n.as<std::string>();
  }
  control::MpcOptions& mo = o.mpc;
  for (const auto& [key, field] : std::initializer_list<std::pair<const char*, double*>>{
           {"period_s", &mo.period_s},
           {"horizon_s", &mo.horizon_s},
           {"level_min_m", &mo.level_min_m},
           {"level_max_m", &mo.level_max_m},
           {"level_margin_m", &mo.level_margin_m},
           {"min_speed_rpm", &mo.min_speed_rpm},
           {"max_speed_rpm", &mo.max_speed_rpm},
           {"max_speed_change_rpm", &mo.max_speed_change_rpm},
           {"terminal_level_m", &mo.terminal_level_m},
           {"max_solve_s", &mo.max_solve_s},
           {"min_change_rpm", &o.min_change_rpm},
           {"demand_persistence_s", &o.demand_persistence_s}}) {
    DOPPEL_RETURN_IF_ERROR(ControlNumber(m, "mpc", key, field));
  }
  if (YAML::Node n = m["max_iterations"]) {
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, mo.max_iterations))
      return ControlKeyError("mpc.max_iterations", "expected an integer");
  }
  if (YAML::Node t = m["tariff"]) {
    if (!t.IsMap()) return ControlKeyError("mpc.tariff", "expected a mapping");
    control::Tariff& tf = mo.tariff;
    const std::initializer_list<std::pair<const char*, double*>> fields = {
        {"night_eur_kwh", &tf.night_eur_kwh}, {"day_eur_kwh", &tf.day_eur_kwh},
        {"peak_eur_kwh", &tf.peak_eur_kwh},   {"night_start_h", &tf.night_start_h},
        {"night_end_h", &tf.night_end_h},     {"peak_start_h", &tf.peak_start_h},
        {"peak_end_h", &tf.peak_end_h}};
    for (const auto& kv : t) {
      const std::string k = kv.first.as<std::string>();
      bool known = false;
      for (const auto& f : fields) known = known || k == f.first;
      if (!known) return ControlKeyError("mpc.tariff." + k, "unknown key");
    }
    for (const auto& [key, field] : fields)
      DOPPEL_RETURN_IF_ERROR(ControlNumber(t, "mpc.tariff", key, field));
  }
  // The fine steps of the horizon are one period long; the coarse ones grow up to an hour.
  mo.max_step_s = std::max(mo.max_step_s, mo.period_s);
  if (Status s = o.Validate(); !s.ok()) {
    // "mpc.period_s must be > 0" / "pumps[1]: ..." -> "config: control.mpc.period_s must be > 0"
    std::string m = s.message();
    if (m.rfind("mpc.", 0) == 0) m = m.substr(4);
    return InvalidArgument("config: control.mpc." + m);
  }
  return std::optional<ControlLoopOptions>(std::move(o));
}
// --- end [mpcloop] ----------------------------------------------------------------------------

}  // namespace

Result<std::optional<ControlLoopOptions>> ParseControlLoopConfigYaml(const std::string& yaml_text) {
  try {
    return ParseUnchecked(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string("config: control: ") + e.what());
  }
}

}  // namespace doppel::engine
