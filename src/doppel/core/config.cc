#include "doppel/core/config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace doppel {
namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Status Error(const std::string& path, const std::string& what) const {
    return InvalidArgument(fmt::format("{}: {}: {}", source_, path, what));
  }

  Status CheckKeys(const YAML::Node& map, const std::string& path,
                   const std::set<std::string>& allowed) const {
    if (!map.IsMap()) return Error(path.empty() ? "(top level)" : path, "expected a mapping");
    for (const auto& kv : map) {
      std::string k = kv.first.as<std::string>();
      if (!allowed.count(k)) return Error(Join(path, k), "unknown key");
    }
    return Status::Ok();
  }

  Status String(const YAML::Node& map, const std::string& path, const char* key, std::string* out) const {
    YAML::Node n = map[key];
    if (!n) return Status::Ok();
    if (!n.IsScalar()) return Error(Join(path, key), "expected a string");
    *out = n.as<std::string>();
    return Status::Ok();
  }

  Status Int(const YAML::Node& map, const std::string& path, const char* key, int* out, int lo,
             int hi) const {
    YAML::Node n = map[key];
    if (!n) return Status::Ok();
    int v;
    if (!n.IsScalar() || !YAML::convert<int>::decode(n, v))
      return Error(Join(path, key), "expected an integer");
    if (v < lo || v > hi) return Error(Join(path, key), fmt::format("{} is outside {}..{}", v, lo, hi));
    *out = v;
    return Status::Ok();
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string source_;
};

Status Duration(const YAML::Node& n, const Reader& r, const std::string& path, int64_t* out) {
  if (!n) return Status::Ok();
  if (!n.IsScalar() || !ParseDurationNs(n.as<std::string>(), out)) {
    return r.Error(path, "expected a duration such as 90s, 15m, 12h, 7d or 0 (forever)");
  }
  return Status::Ok();
}

Status ParseRetention(const YAML::Node& n, const Reader& r, std::vector<RetentionConfig>* out) {
  if (!n) return Status::Ok();
  if (!n.IsSequence()) return r.Error("storage.retention", "expected a list of {pattern, raw, rollups}");
  for (size_t i = 0; i < n.size(); ++i) {
    std::string path = fmt::format("storage.retention[{}]", i);
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(n[i], path, {"pattern", "raw", "rollups"}));
    RetentionConfig rc;
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "pattern", &rc.pattern));
    if (rc.pattern.empty())
      return r.Error(path + ".pattern", "missing (a glob over twin/signal, e.g. \"pump-*/*\")");
    DOPPEL_RETURN_IF_ERROR(Duration(n[i]["raw"], r, path + ".raw", &rc.raw_ns));
    if (YAML::Node ro = n[i]["rollups"]) {
      if (!ro.IsSequence()) return r.Error(path + ".rollups", "expected a list of {step, keep}");
      for (size_t j = 0; j < ro.size(); ++j) {
        std::string rp = fmt::format("{}.rollups[{}]", path, j);
        DOPPEL_RETURN_IF_ERROR(r.CheckKeys(ro[j], rp, {"step", "keep"}));
        int64_t step = 0, keep = 0;
        DOPPEL_RETURN_IF_ERROR(Duration(ro[j]["step"], r, rp + ".step", &step));
        DOPPEL_RETURN_IF_ERROR(Duration(ro[j]["keep"], r, rp + ".keep", &keep));
        if (step <= 0) return r.Error(rp + ".step", "missing or zero");
        rc.rollups.emplace_back(step, keep);
      }
    }
    out->push_back(std::move(rc));
  }
  return Status::Ok();
}

Status Number(const YAML::Node& map, const Reader& r, const std::string& path, const char* key, double* out,
              bool* present = nullptr) {
  YAML::Node n = map[key];
  if (!n) return Status::Ok();
  double v;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
    return r.Error(Reader::Join(path, key), "expected a finite number");
  }
  *out = v;
  if (present) *present = true;
  return Status::Ok();
}

Status Mode(const Reader& r, const std::string& path, const std::string& mode) {
  if (mode != "advisory" && mode != "approve" && mode != "auto") {
    return r.Error(path, "'" + mode + "' is not one of advisory, approve, auto");
  }
  return Status::Ok();
}

Status ParseLimits(const YAML::Node& n, const Reader& r, std::vector<CommandLimitConfig>* out) {
  const std::string base = "commands.envelope.limits";
  if (!n.IsSequence()) return r.Error(base, "expected a list of {twins, command, field, min, max, ...}");
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", base, i);
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(
        n[i], path,
        {"twins", "command", "field", "min", "max", "max_rate_per_s", "on_violation", "zero_ok"}));
    CommandLimitConfig l;
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "twins", &l.twins));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "command", &l.command));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "field", &l.field));
    DOPPEL_RETURN_IF_ERROR(Number(n[i], r, path, "min", &l.min, &l.has_min));
    DOPPEL_RETURN_IF_ERROR(Number(n[i], r, path, "max", &l.max, &l.has_max));
    DOPPEL_RETURN_IF_ERROR(Number(n[i], r, path, "max_rate_per_s", &l.max_rate_per_s, &l.has_rate));
    std::string on = "refuse";
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "on_violation", &on));
    if (on != "clamp" && on != "refuse")
      return r.Error(path + ".on_violation", "'" + on + "' is not clamp or refuse");
    l.clamp = on == "clamp";
    if (YAML::Node z = n[i]["zero_ok"]; z) {
      if (!z.IsScalar() || !YAML::convert<bool>::decode(z, l.zero_ok))
        return r.Error(path + ".zero_ok", "expected true or false");
    }
    if (l.command.empty()) return r.Error(path + ".command", "missing (a DTDL command name, e.g. setSpeed)");
    if (l.field.empty()) return r.Error(path + ".field", "missing (a numeric request field, e.g. speed_rpm)");
    if (!l.has_min && !l.has_max && !l.has_rate) {
      return r.Error(path, "sets none of min, max, max_rate_per_s");
    }
    if (l.has_min && l.has_max && l.min > l.max) {
      return r.Error(path, fmt::format("min {} is above max {}", l.min, l.max));
    }
    if (l.has_rate && !(l.max_rate_per_s > 0)) return r.Error(path + ".max_rate_per_s", "must be positive");
    out->push_back(std::move(l));
  }
  return Status::Ok();
}

Status ParseInterlocks(const YAML::Node& n, const Reader& r, std::vector<InterlockConfig>* out) {
  const std::string base = "commands.envelope.interlocks";
  if (!n.IsSequence()) return r.Error(base, "expected a list of interlocks");
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string path = fmt::format("{}[{}]", base, i);
    DOPPEL_RETURN_IF_ERROR(
        r.CheckKeys(n[i], path,
                    {"name", "kind", "twins", "command", "field", "stop_below", "running_signal",
                     "running_above", "level_twin", "level_signal", "low_level", "max_age_s"}));
    InterlockConfig k;
    std::string kind = "keep_one_running";
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "kind", &kind));
    if (kind != "keep_one_running") {
      return r.Error(path + ".kind", "'" + kind + "' is not a known interlock (keep_one_running)");
    }
    bool has_low = false;
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "name", &k.name));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "twins", &k.twins));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "command", &k.command));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "field", &k.field));
    DOPPEL_RETURN_IF_ERROR(Number(n[i], r, path, "stop_below", &k.stop_below));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "running_signal", &k.running_signal));
    DOPPEL_RETURN_IF_ERROR(Number(n[i], r, path, "running_above", &k.running_above));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "level_twin", &k.level_twin));
    DOPPEL_RETURN_IF_ERROR(r.String(n[i], path, "level_signal", &k.level_signal));
    DOPPEL_RETURN_IF_ERROR(Number(n[i], r, path, "low_level", &k.low_level, &has_low));
    DOPPEL_RETURN_IF_ERROR(r.Int(n[i], path, "max_age_s", &k.max_age_s, 1, 86400));
    if (!has_low) return r.Error(path + ".low_level", "missing (the level below which the interlock holds)");
    for (const auto& [key, v] : {std::pair<const char*, const std::string*>{"name", &k.name},
                                 {"twins", &k.twins},
                                 {"command", &k.command},
                                 {"field", &k.field},
                                 {"running_signal", &k.running_signal},
                                 {"level_twin", &k.level_twin},
                                 {"level_signal", &k.level_signal}}) {
      if (v->empty()) return r.Error(path + "." + key, "must not be empty");
    }
    out->push_back(std::move(k));
  }
  return Status::Ok();
}

Status ParseCommandBus(const YAML::Node& s, const Reader& r, CommandsConfig* c) {
  DOPPEL_RETURN_IF_ERROR(r.String(s, "commands", "default_mode", &c->default_mode));
  DOPPEL_RETURN_IF_ERROR(Mode(r, "commands.default_mode", c->default_mode));
  if (YAML::Node m = s["modes"]) {
    if (!m.IsMap()) return r.Error("commands.modes", "expected a mapping of twin-id glob to mode");
    for (const auto& kv : m) {
      std::string glob = kv.first.as<std::string>();
      if (!kv.second.IsScalar())
        return r.Error("commands.modes." + glob, "expected advisory, approve or auto");
      std::string mode = kv.second.as<std::string>();
      DOPPEL_RETURN_IF_ERROR(Mode(r, "commands.modes." + glob, mode));
      c->modes.emplace_back(glob, mode);
    }
  }
  if (YAML::Node e = s["envelope"]) {
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(e, "commands.envelope", {"limits", "interlocks"}));
    if (YAML::Node l = e["limits"]) DOPPEL_RETURN_IF_ERROR(ParseLimits(l, r, &c->limits));
    if (YAML::Node k = e["interlocks"]) DOPPEL_RETURN_IF_ERROR(ParseInterlocks(k, r, &c->interlocks));
  }
  return Status::Ok();
}

Status ParseInto(const YAML::Node& root, const Reader& r, ServeConfig* c) {
  DOPPEL_RETURN_IF_ERROR(r.CheckKeys(
      root, "",
      {"listen", "data_dir", "models", "static_dir", "mqtt", "tokens", "engine", "storage", "commands",
       "alerts", "analytics", "opcua", "modbus", "control", "behavior", "calibration", "online_fit"}));
  if (YAML::Node b = root["behavior"]) {  // checked key by key in engine/behavior_config.cc
    if (!b.IsSequence())
      return r.Error("behavior", "expected a list of {model, fmu, outputs, ...} (docs/fmu.md)");
    c->behavior_yaml = YAML::Dump(b);
  }
  if (YAML::Node b = root["calibration"]) {  // checked key by key in engine/behavior_config.cc
    if (!b.IsSequence())
      return r.Error("calibration", "expected a list of {twins, parameters} (docs/estimation.md)");
    c->calibration_yaml = YAML::Dump(b);
  }
  if (YAML::Node b = root["online_fit"]) {  // checked key by key in engine/behavior_config.cc
    if (!b.IsSequence())
      return r.Error("online_fit", "expected a list of {twins, parameters, forgetting} (docs/estimation.md)");
    c->online_fit_yaml = YAML::Dump(b);
  }
  if (YAML::Node ctl = root["control"]) {  // [mpcloop] checked key by key in app/runtime.cc
    if (!ctl.IsMap()) return r.Error("control", "expected a mapping (docs/config.md)");
    c->control_yaml = YAML::Dump(ctl);
  }
  if (YAML::Node m = root["modbus"]) {
    if (!m.IsSequence()) return r.Error("modbus", "expected a list of servers (docs/modbus.md)");
    c->modbus_yaml = YAML::Dump(m);
  }
  if (YAML::Node o = root["opcua"]) {
    if (!o.IsMap()) return r.Error("opcua", "expected a mapping (docs/opcua.md)");
    c->opcua_yaml = YAML::Dump(o);
  }
  if (YAML::Node a = root["alerts"]) {
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(a, "alerts", {"rules"}));
    if (YAML::Node rules = a["rules"]) {
      if (!rules.IsSequence()) return r.Error("alerts.rules", "expected a list of rules");
      c->alert_rules_yaml = YAML::Dump(rules);
    }
  }
  if (YAML::Node a = root["analytics"]) {
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(a, "analytics", {"anomaly_detection", "rul", "wear_rul"}));
    if (YAML::Node n = a["wear_rul"]) {
      if (!n.IsMap()) return r.Error("analytics.wear_rul", "expected a mapping (docs/analytics.md)");
      c->wear_rul_yaml = YAML::Dump(n);
    }
    if (YAML::Node n = a["rul"]) {
      if (!n.IsMap()) return r.Error("analytics.rul", "expected a mapping (docs/analytics.md)");
      c->rul_yaml = YAML::Dump(n);
    }
    if (YAML::Node n = a["anomaly_detection"]) {
      if (!n.IsScalar() || !YAML::convert<bool>::decode(n, c->anomaly_detection)) {
        return r.Error("analytics.anomaly_detection", "expected true or false");
      }
    }
  }
  DOPPEL_RETURN_IF_ERROR(r.String(root, "", "listen", &c->listen));
  DOPPEL_RETURN_IF_ERROR(r.String(root, "", "data_dir", &c->data_dir));
  DOPPEL_RETURN_IF_ERROR(r.String(root, "", "models", &c->models));
  DOPPEL_RETURN_IF_ERROR(r.String(root, "", "static_dir", &c->static_dir));
  if (YAML::Node m = root["mqtt"]) {
    c->mqtt.enabled = true;
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(
        m, "mqtt",
        {"broker", "client_id", "telemetry_topic", "command_topic", "ack_topic", "provision", "qos"}));
    DOPPEL_RETURN_IF_ERROR(r.String(m, "mqtt", "broker", &c->mqtt.broker));
    DOPPEL_RETURN_IF_ERROR(r.String(m, "mqtt", "client_id", &c->mqtt.client_id));
    DOPPEL_RETURN_IF_ERROR(r.String(m, "mqtt", "telemetry_topic", &c->mqtt.telemetry_topic));
    DOPPEL_RETURN_IF_ERROR(r.String(m, "mqtt", "command_topic", &c->mqtt.command_topic));
    DOPPEL_RETURN_IF_ERROR(r.String(m, "mqtt", "ack_topic", &c->mqtt.ack_topic));
    DOPPEL_RETURN_IF_ERROR(r.Int(m, "mqtt", "qos", &c->mqtt.qos, 0, 1));
    if (YAML::Node p = m["provision"]) {
      if (!p.IsMap()) return r.Error("mqtt.provision", "expected a mapping of twin-id glob to model DTMI");
      for (const auto& kv : p) {
        std::string glob = kv.first.as<std::string>();
        if (!kv.second.IsScalar()) return r.Error("mqtt.provision." + glob, "expected a model DTMI string");
        c->mqtt.provision.emplace_back(glob, kv.second.as<std::string>());
      }
    }
    if (c->mqtt.broker.empty()) return r.Error("mqtt.broker", "missing (e.g. mqtt://127.0.0.1:1883)");
  }
  if (YAML::Node t = root["tokens"]) {
    if (!t.IsSequence()) return r.Error("tokens", "expected a list of {token, role}");
    for (size_t i = 0; i < t.size(); ++i) {
      std::string path = fmt::format("tokens[{}]", i);
      DOPPEL_RETURN_IF_ERROR(r.CheckKeys(t[i], path, {"token", "role"}));
      TokenConfig tc;
      DOPPEL_RETURN_IF_ERROR(r.String(t[i], path, "token", &tc.token));
      DOPPEL_RETURN_IF_ERROR(r.String(t[i], path, "role", &tc.role));
      if (tc.token.empty()) return r.Error(path + ".token", "missing or empty");
      if (tc.role != "viewer" && tc.role != "operator" && tc.role != "admin") {
        return r.Error(path + ".role", "'" + tc.role + "' is not one of viewer, operator, admin");
      }
      c->tokens.push_back(tc);
    }
  }
  if (YAML::Node e = root["engine"]) {
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(e, "engine",
                                       {"shards", "queue_capacity", "allowed_lateness_ms",
                                        "max_future_skew_s", "context_poll_ms", "whatif_jobs"}));
    DOPPEL_RETURN_IF_ERROR(r.Int(e, "engine", "shards", &c->shards, 0, 256));
    DOPPEL_RETURN_IF_ERROR(r.Int(e, "engine", "queue_capacity", &c->queue_capacity, 16, 1 << 24));
    DOPPEL_RETURN_IF_ERROR(r.Int(e, "engine", "allowed_lateness_ms", &c->allowed_lateness_ms, 0, 3600000));
    DOPPEL_RETURN_IF_ERROR(r.Int(e, "engine", "max_future_skew_s", &c->max_future_skew_s, 0, 315360000));
    DOPPEL_RETURN_IF_ERROR(r.Int(e, "engine", "context_poll_ms", &c->context_poll_ms, 0, 3600000));
    if (YAML::Node w = e["whatif_jobs"]) {
      const std::string path = "engine.whatif_jobs";
      WhatIfJobsConfig& j = c->whatif_jobs;
      DOPPEL_RETURN_IF_ERROR(r.CheckKeys(w, path, {"workers", "max_queued", "max_finished", "keep_s"}));
      DOPPEL_RETURN_IF_ERROR(r.Int(w, path, "workers", &j.workers, 1, 16));
      DOPPEL_RETURN_IF_ERROR(r.Int(w, path, "max_queued", &j.max_queued, 1, 10000));
      DOPPEL_RETURN_IF_ERROR(r.Int(w, path, "max_finished", &j.max_finished, 1, 256));
      DOPPEL_RETURN_IF_ERROR(r.Int(w, path, "keep_s", &j.keep_s, 1, 7 * 86400));
    }
  }
  if (YAML::Node s = root["storage"]) {
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(s, "storage", {"fsync", "fsync_interval_ms", "retention"}));
    DOPPEL_RETURN_IF_ERROR(ParseRetention(s["retention"], r, &c->retention));
    DOPPEL_RETURN_IF_ERROR(r.String(s, "storage", "fsync", &c->fsync));
    DOPPEL_RETURN_IF_ERROR(r.Int(s, "storage", "fsync_interval_ms", &c->fsync_interval_ms, 1, 60000));
    if (c->fsync != "never" && c->fsync != "batch" && c->fsync != "interval") {
      return r.Error("storage.fsync", "'" + c->fsync + "' is not one of never, batch, interval");
    }
  }
  if (YAML::Node s = root["commands"]) {
    DOPPEL_RETURN_IF_ERROR(r.CheckKeys(s, "commands", {"timeout_ms", "default_mode", "modes", "envelope"}));
    DOPPEL_RETURN_IF_ERROR(r.Int(s, "commands", "timeout_ms", &c->command_timeout_ms, 100, 86400000));
    DOPPEL_RETURN_IF_ERROR(ParseCommandBus(s, r, &c->commands));
  }
  return Status::Ok();
}

}  // namespace

bool ParseDurationNs(const std::string& s, int64_t* out) {
  if (s == "0") {
    *out = 0;
    return true;
  }
  if (s.size() < 2) return false;
  int64_t unit = 0;
  switch (s.back()) {
    case 's': unit = 1'000'000'000LL; break;
    case 'm': unit = 60'000'000'000LL; break;
    case 'h': unit = 3'600'000'000'000LL; break;
    case 'd': unit = 86'400'000'000'000LL; break;
    default: return false;
  }
  int64_t n = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    n = n * 10 + (s[i] - '0');
    if (n > 100'000'000) return false;  // ~3000 years in seconds: far beyond any retention
  }
  *out = n * unit;
  return true;
}

Status ServeConfig::Validate() const {
  if (listen.find(':') == std::string::npos)
    return InvalidArgument("listen: expected HOST:PORT, got '" + listen + "'");
  if (data_dir.empty()) return InvalidArgument("data_dir: must not be empty");
  if (models.empty()) return InvalidArgument("models: must not be empty");
  if (tokens.empty())
    return InvalidArgument("tokens: at least one token is required (every endpoint but health needs one)");
  return Status::Ok();
}

Result<ServeConfig> ParseServeConfig(const std::string& yaml_text, const std::string& source) {
  ServeConfig c;
  Reader r(source);
  try {
    YAML::Node root = YAML::Load(yaml_text);
    if (!root || root.IsNull()) return r.Error("(top level)", "empty configuration");
    DOPPEL_RETURN_IF_ERROR(ParseInto(root, r, &c));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(
        fmt::format("{}: line {}, column {}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  DOPPEL_RETURN_IF_ERROR(c.Validate());
  return c;
}

Result<ServeConfig> LoadServeConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("config file '" + path + "' cannot be opened");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseServeConfig(ss.str(), path);
}

}  // namespace doppel
