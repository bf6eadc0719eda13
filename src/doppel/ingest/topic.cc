#include "doppel/ingest/topic.h"

namespace doppel::ingest {

Result<TopicTemplate> TopicTemplate::Parse(const std::string& tmpl) {
  constexpr std::string_view kVar = "{twin}";
  size_t at = tmpl.find(kVar);
  if (at == std::string::npos) return InvalidArgument("topic template '" + tmpl + "': missing {twin}");
  if (tmpl.find(kVar, at + 1) != std::string::npos) {
    return InvalidArgument("topic template '" + tmpl + "': {twin} appears more than once");
  }
  if (tmpl.find_first_of("+#") != std::string::npos) {
    return InvalidArgument("topic template '" + tmpl + "': MQTT wildcards are not allowed");
  }
  bool level_start = at == 0 || tmpl[at - 1] == '/';
  bool level_end = at + kVar.size() == tmpl.size() || tmpl[at + kVar.size()] == '/';
  if (!level_start || !level_end) {
    return InvalidArgument("topic template '" + tmpl + "': {twin} must be a whole topic level");
  }
  TopicTemplate t;
  t.prefix_ = tmpl.substr(0, at);
  t.suffix_ = tmpl.substr(at + kVar.size());
  return t;
}

bool TopicTemplate::Match(std::string_view topic, std::string_view* twin) const {
  if (topic.size() <= prefix_.size() + suffix_.size()) return false;
  if (topic.substr(0, prefix_.size()) != prefix_) return false;
  if (topic.substr(topic.size() - suffix_.size()) != suffix_) return false;
  std::string_view id = topic.substr(prefix_.size(), topic.size() - prefix_.size() - suffix_.size());
  if (id.find('/') != std::string_view::npos) return false;
  *twin = id;
  return true;
}

}  // namespace doppel::ingest
