// SafetyEnvelope: what a command may ask of the plant (docs/commands.md, "Safety envelope").
//
// Built from the serve config's commands.envelope section and checked against the DTDL models
// (every rule must name a command some interface has, with a numeric request field; every
// interlock signal must be some interface's telemetry). For one command it decides:
//   pass     the request is inside every rule;
//   clamped  a limit with on_violation: clamp moved a field to its bound (min/max) or to the
//            furthest value the rate limit allows; `request` is the clamped request;
//   refused  a refusing limit or an interlock said no; `why` names the rule and the values.
// Limits apply in config order (range before rate); interlocks look at the clamped request.
//
// Rate limit: |v - v_last| <= max_rate_per_s * (now - t_last) / 1 s, where v_last/t_last are the
// value and time of the last command of the same twin, name and field that was sent
// (RecordSent). Without a previous send there is nothing to compare against: the rate passes.
//
// Interlock keep_one_running: a command to a group member whose field is below stop_below stops
// it; it is refused while no other member of the group runs (its running_signal above
// running_above, no older than max_age_s) and the level (level_twin/level_signal) is below
// low_level or unknown (missing or older than max_age_s: fail safe).
//
// Plain single-threaded object: the caller serialises calls and passes time and values in.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "doppel/core/config.h"
#include "doppel/core/status.h"
#include "doppel/engine/service.h"

namespace doppel::model {
class ModelRegistry;
}

namespace doppel::engine {

// Latest telemetry of the fleet: twin -> signal -> value (TwinView::latest of every twin).
using FleetValues = std::map<std::string, std::map<std::string, SignalValue>>;

enum class EnvelopeVerdict { kPass, kClamped, kRefused };
const char* EnvelopeVerdictName(EnvelopeVerdict v);  // "pass", "clamped", "refused"

struct EnvelopeDecision {
  EnvelopeVerdict verdict = EnvelopeVerdict::kPass;
  nlohmann::json request;  // the request to send (clamped when verdict is kClamped)
  std::string why;         // empty for kPass; "; "-joined reasons otherwise
};

class SafetyEnvelope {
 public:
  // An envelope without rules: everything passes.
  SafetyEnvelope() = default;
  // kInvalidArgument naming the rule ("commands.envelope.limits[1].field: ...") when a rule
  // does not fit the models. `models` may be null (no model checks; for tests).
  static Result<SafetyEnvelope> Create(const CommandsConfig& config, const model::ModelRegistry* models);

  EnvelopeDecision Evaluate(const std::string& twin, const std::string& command,
                            const nlohmann::json& request, TimeNs now_ns, const FleetValues& fleet) const;

  // Remembers the rate-limited fields of a command that went out (the reference of later rate
  // checks). Sends older than the remembered one are ignored (restore order does not matter).
  void RecordSent(const std::string& twin, const std::string& command, const nlohmann::json& request,
                  TimeNs at_ns);

  bool empty() const { return limits_.empty() && interlocks_.empty(); }
  // maintenance: replaces the limits whose `source` starts with `source_prefix` (the design-spec
  // limits, "design spec ...") by `limits`, appended after the others; the rate references of
  // sent commands are kept. The caller validates `limits` (Create with them).
  void ReplaceLimits(const std::string& source_prefix, std::vector<CommandLimitConfig> limits);

 private:
  struct Last {
    double value = 0;
    TimeNs at_ns = 0;
  };
  std::vector<CommandLimitConfig> limits_;
  std::vector<InterlockConfig> interlocks_;
  std::map<std::tuple<std::string, std::string, std::string>, Last> last_sent_;  // twin, command, field
};

}  // namespace doppel::engine
