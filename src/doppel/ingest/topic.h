// TopicTemplate: maps MQTT topics to twin ids, e.g. "plant/{twin}/telemetry".
#pragma once

#include <string>
#include <string_view>

#include "doppel/core/glob.h"
#include "doppel/core/status.h"

namespace doppel::ingest {

class TopicTemplate {
 public:
  // The template must contain "{twin}" exactly once, as a whole topic level, and no MQTT
  // wildcards. kInvalidArgument names what is wrong.
  static Result<TopicTemplate> Parse(const std::string& tmpl);

  // The MQTT subscription filter: "{twin}" replaced by "+".
  std::string Filter() const { return prefix_ + "+" + suffix_; }
  // The topic for one twin.
  std::string Format(std::string_view twin) const { return prefix_ + std::string(twin) + suffix_; }
  // Extracts the twin id from a matching topic; false when the topic does not match.
  bool Match(std::string_view topic, std::string_view* twin) const;

 private:
  std::string prefix_, suffix_;  // around "{twin}"
};

// Provisioning rules such as "pump-*" use the core glob (doppel/core/glob.h).
using doppel::GlobMatch;

}  // namespace doppel::ingest
