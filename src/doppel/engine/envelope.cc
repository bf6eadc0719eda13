#include "doppel/engine/envelope.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "doppel/ingest/topic.h"
#include "doppel/model/dtdl.h"

namespace doppel::engine {

const char* EnvelopeVerdictName(EnvelopeVerdict v) {
  switch (v) {
    case EnvelopeVerdict::kPass: return "pass";
    case EnvelopeVerdict::kClamped: return "clamped";
    case EnvelopeVerdict::kRefused: return "refused";
  }
  return "pass";
}

namespace {

// True when some interface has command `command` with a numeric field `field` in an object
// request, or a numeric request named `field`.
bool HasNumericRequestField(const model::ModelRegistry& models, const std::string& command,
                            const std::string& field, bool* command_found) {
  for (const model::Interface* iface : models.List()) {
    const model::Content* c = iface->FindCommand(command);
    if (c == nullptr) continue;
    *command_found = true;
    if (!c->request || !c->request->schema) continue;
    const model::Schema& s = c->request->schema->Resolved();
    if (s.kind == model::SchemaKind::kObject) {
      for (const model::Field& f : s.fields) {
        if (f.name != field || !f.schema) continue;
        const model::Schema& fs = f.schema->Resolved();
        if (fs.kind == model::SchemaKind::kPrimitive && model::IsNumeric(fs.primitive)) return true;
      }
    }
  }
  return false;
}

bool HasTelemetry(const model::ModelRegistry& models, const std::string& signal) {
  for (const model::Interface* iface : models.List()) {
    if (iface->FindTelemetry(signal) != nullptr) return true;
  }
  return false;
}

// The fresh value of twin/signal, or nullptr when missing or older than max_age_ns.
const SignalValue* Fresh(const FleetValues& fleet, const std::string& twin, const std::string& signal,
                         TimeNs now_ns, TimeNs max_age_ns) {
  auto t = fleet.find(twin);
  if (t == fleet.end()) return nullptr;
  auto s = t->second.find(signal);
  if (s == t->second.end() || now_ns - s->second.ts_ns > max_age_ns || !std::isfinite(s->second.value)) {
    return nullptr;
  }
  return &s->second;
}

void Append(std::string* why, const std::string& what) {
  if (!why->empty()) *why += "; ";
  *why += what;
}

}  // namespace

Result<SafetyEnvelope> SafetyEnvelope::Create(const CommandsConfig& config,
                                              const model::ModelRegistry* models) {
  SafetyEnvelope e;
  for (size_t i = 0; i < config.limits.size(); ++i) {
    const CommandLimitConfig& l = config.limits[i];
    const std::string path = fmt::format("commands.envelope.limits[{}]", i);
    if (l.command.empty() || l.field.empty())
      return InvalidArgument(path + ": command and field are required");
    if (l.has_min && l.has_max && l.min > l.max) {
      return InvalidArgument(fmt::format("{}: min {} is above max {}", path, l.min, l.max));
    }
    if (l.has_rate && !(l.max_rate_per_s > 0))
      return InvalidArgument(path + ".max_rate_per_s: must be positive");
    if (models != nullptr) {
      bool command_found = false;
      if (!HasNumericRequestField(*models, l.command, l.field, &command_found)) {
        return InvalidArgument(command_found
                                   ? fmt::format("{}.field: command '{}' has no numeric request field '{}'",
                                                 path, l.command, l.field)
                                   : fmt::format("{}.command: no model has a command '{}'", path, l.command));
      }
    }
    e.limits_.push_back(l);
  }
  for (size_t i = 0; i < config.interlocks.size(); ++i) {
    const InterlockConfig& k = config.interlocks[i];
    const std::string path = fmt::format("commands.envelope.interlocks[{}]", i);
    if (k.max_age_s < 1) return InvalidArgument(path + ".max_age_s: must be at least 1");
    if (models != nullptr) {
      bool command_found = false;
      if (!HasNumericRequestField(*models, k.command, k.field, &command_found)) {
        return InvalidArgument(
            fmt::format("{}.{}: no model has a command '{}' with a numeric request field '{}'", path,
                        command_found ? "field" : "command", k.command, k.field));
      }
      if (!HasTelemetry(*models, k.running_signal)) {
        return InvalidArgument(
            fmt::format("{}.running_signal: no model has telemetry '{}'", path, k.running_signal));
      }
      if (!HasTelemetry(*models, k.level_signal)) {
        return InvalidArgument(
            fmt::format("{}.level_signal: no model has telemetry '{}'", path, k.level_signal));
      }
    }
    e.interlocks_.push_back(k);
  }
  return e;
}

EnvelopeDecision SafetyEnvelope::Evaluate(const std::string& twin, const std::string& command,
                                          const nlohmann::json& request, TimeNs now_ns,
                                          const FleetValues& fleet) const {
  EnvelopeDecision d;
  d.request = request;
  std::string clamped_why;
  auto refuse = [&](const std::string& why) {
    d.verdict = EnvelopeVerdict::kRefused;
    d.request = request;
    d.why = why;
    return d;
  };

  for (const CommandLimitConfig& l : limits_) {
    if (l.command != command || !ingest::GlobMatch(l.twins, twin)) continue;
    if (!d.request.is_object()) continue;
    auto it = d.request.find(l.field);
    if (it == d.request.end() || !it->is_number()) continue;
    const double asked = it->get<double>();
    double v = asked;
    const std::string from = l.source.empty() ? "" : " (" + l.source + ")";
    if (l.has_min && v < l.min && !(l.zero_ok && v == 0)) {
      if (!l.clamp) return refuse(fmt::format("{} {} below min {}{}", l.field, asked, l.min, from));
      Append(&clamped_why, fmt::format("{} {} clamped to min {}", l.field, v, l.min));
      v = l.min;
    }
    if (l.has_max && v > l.max) {
      if (!l.clamp) return refuse(fmt::format("{} {} above max {}{}", l.field, asked, l.max, from));
      Append(&clamped_why, fmt::format("{} {} clamped to max {}", l.field, v, l.max));
      v = l.max;
    }
    if (l.has_rate) {
      auto last = last_sent_.find({twin, command, l.field});
      if (last != last_sent_.end()) {
        const double dt_s = std::max<double>(0, static_cast<double>(now_ns - last->second.at_ns) / 1e9);
        const double allowed = l.max_rate_per_s * dt_s;
        const double step = v - last->second.value;
        if (std::fabs(step) > allowed) {
          const std::string what =
              fmt::format("{} change {:+g} from the last sent {} exceeds {}/s over {:.3g} s (at most {:g})",
                          l.field, step, last->second.value, l.max_rate_per_s, dt_s, allowed);
          if (!l.clamp) return refuse(what);
          v = last->second.value + std::copysign(allowed, step);
          Append(&clamped_why, what + fmt::format(": clamped to {:g}", v));
        }
      }
    }
    if (v != asked) {
      (*it) = v;
      d.verdict = EnvelopeVerdict::kClamped;
    }
  }

  for (const InterlockConfig& k : interlocks_) {
    if (k.command != command || !ingest::GlobMatch(k.twins, twin) || !d.request.is_object()) continue;
    auto it = d.request.find(k.field);
    if (it == d.request.end() || !it->is_number() || !(it->get<double>() < k.stop_below)) continue;
    const TimeNs max_age = static_cast<TimeNs>(k.max_age_s) * kNsPerS;
    const SignalValue* level = Fresh(fleet, k.level_twin, k.level_signal, now_ns, max_age);
    if (level != nullptr && level->value >= k.low_level) continue;
    std::vector<std::string> running;
    for (const auto& [other, signals] : fleet) {
      if (other == twin || !ingest::GlobMatch(k.twins, other)) continue;
      const SignalValue* v = Fresh(fleet, other, k.running_signal, now_ns, max_age);
      if (v != nullptr && v->value > k.running_above) running.push_back(other);
    }
    if (!running.empty()) continue;
    const std::string level_text = level ? fmt::format("{}/{} {:g} is below the low level {:g}", k.level_twin,
                                                       k.level_signal, level->value, k.low_level)
                                         : fmt::format("{}/{} is unknown (no value within {} s)",
                                                       k.level_twin, k.level_signal, k.max_age_s);
    return refuse(fmt::format("interlock {}: {} {} {:g} would stop {}, the last running of {}, while {}",
                              k.name, command, k.field, it->get<double>(), twin, k.twins, level_text));
  }
  d.why = clamped_why;
  return d;
}

void SafetyEnvelope::RecordSent(const std::string& twin, const std::string& command,
                                const nlohmann::json& request, TimeNs at_ns) {
  if (!request.is_object()) return;
  for (const CommandLimitConfig& l : limits_) {
    if (!l.has_rate || l.command != command || !ingest::GlobMatch(l.twins, twin)) continue;
    auto it = request.find(l.field);
    if (it == request.end() || !it->is_number()) continue;
    Last& last = last_sent_[{twin, command, l.field}];
    if (at_ns >= last.at_ns) last = Last{it->get<double>(), at_ns};
  }
}

void SafetyEnvelope::ReplaceLimits(const std::string& source_prefix, std::vector<CommandLimitConfig> limits) {
  std::erase_if(limits_, [&](const CommandLimitConfig& l) { return l.source.starts_with(source_prefix); });
  for (CommandLimitConfig& l : limits) limits_.push_back(std::move(l));
}

}  // namespace doppel::engine
