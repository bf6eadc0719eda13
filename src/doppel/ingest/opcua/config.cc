#include "doppel/ingest/opcua/config.h"

#include <fmt/format.h>

#include <set>

namespace doppel::ingest::opcua {

namespace {

class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}

  Status Error(const std::string& path, const std::string& what) const {
    return InvalidArgument(fmt::format("{}: {}: {}", source_, path, what));
  }
  Status Keys(const YAML::Node& n, const std::string& path, std::set<std::string> allowed) const {
    if (!n.IsMap()) return Error(path, "expected a map");
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      if (!allowed.count(key)) return Error(path + "." + key, "unknown key");
    }
    return Status::Ok();
  }
  Status String(const YAML::Node& n, const std::string& path, const char* key, std::string* out) const {
    YAML::Node v = n[key];
    if (!v) return Status::Ok();
    if (!v.IsScalar()) return Error(path + "." + key, "expected a string");
    *out = v.as<std::string>();
    return Status::Ok();
  }
  template <typename T>
  Status Number(const YAML::Node& n, const std::string& path, const char* key, T* out) const {
    YAML::Node v = n[key];
    if (!v) return Status::Ok();
    T x{};
    if (!v.IsScalar() || !YAML::convert<T>::decode(v, x)) return Error(path + "." + key, "expected a number");
    *out = x;
    return Status::Ok();
  }

 private:
  std::string source_;
};

}  // namespace

Result<OpcUaAdapterOptions> ParseOpcUaConfig(const YAML::Node& s, const std::string& source,
                                             const std::string& path) {
  Reader r(source);
  OpcUaAdapterOptions o;
  DOPPEL_RETURN_IF_ERROR(r.Keys(
      s, path,
      {"endpoint", "user", "password", "connect_timeout_ms", "request_timeout_ms", "session_timeout_ms",
       "silence_timeout_ms", "channel_lifetime_ms", "publishing_interval_ms", "sampling_interval_ms",
       "queue_size", "reconnect_min_ms", "reconnect_max_ms", "mappings", "writes"}));
  if (!s["endpoint"]) return r.Error(path + ".endpoint", "required");
  DOPPEL_RETURN_IF_ERROR(r.String(s, path, "endpoint", &o.client.endpoint));
  DOPPEL_RETURN_IF_ERROR(r.String(s, path, "user", &o.client.user));
  DOPPEL_RETURN_IF_ERROR(r.String(s, path, "password", &o.client.password));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "connect_timeout_ms", &o.client.connect_timeout_ms));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "request_timeout_ms", &o.client.request_timeout_ms));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "session_timeout_ms", &o.client.session_timeout_ms));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "silence_timeout_ms", &o.client.silence_timeout_ms));
  int64_t lifetime_ms = o.client.channel_lifetime_ms;
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "channel_lifetime_ms", &lifetime_ms));
  if (lifetime_ms < 1000 || lifetime_ms > 0xFFFFFFFFLL)
    return r.Error(path + ".channel_lifetime_ms", "must be in 1000..4294967295");
  o.client.channel_lifetime_ms = static_cast<uint32_t>(lifetime_ms);
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "publishing_interval_ms", &o.publishing_interval_ms));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "sampling_interval_ms", &o.sampling_interval_ms));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "queue_size", &o.queue_size));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "reconnect_min_ms", &o.reconnect_min_ms));
  DOPPEL_RETURN_IF_ERROR(r.Number(s, path, "reconnect_max_ms", &o.reconnect_max_ms));
  if (YAML::Node m = s["mappings"]) {
    if (!m.IsSequence()) return r.Error(path + ".mappings", "expected a list");
    for (size_t i = 0; i < m.size(); ++i) {
      std::string p = fmt::format("{}.mappings[{}]", path, i);
      DOPPEL_RETURN_IF_ERROR(r.Keys(m[i], p, {"node_id", "twin", "signal"}));
      SignalMapping sm;
      DOPPEL_RETURN_IF_ERROR(r.String(m[i], p, "node_id", &sm.node_id));
      DOPPEL_RETURN_IF_ERROR(r.String(m[i], p, "twin", &sm.twin));
      DOPPEL_RETURN_IF_ERROR(r.String(m[i], p, "signal", &sm.signal));
      o.mappings.push_back(std::move(sm));
    }
  }
  if (YAML::Node w = s["writes"]) {
    if (!w.IsSequence()) return r.Error(path + ".writes", "expected a list");
    for (size_t i = 0; i < w.size(); ++i) {
      std::string p = fmt::format("{}.writes[{}]", path, i);
      DOPPEL_RETURN_IF_ERROR(r.Keys(w[i], p, {"twin", "command", "property", "node_id"}));
      WriteMapping wm;
      DOPPEL_RETURN_IF_ERROR(r.String(w[i], p, "twin", &wm.twin));
      DOPPEL_RETURN_IF_ERROR(r.String(w[i], p, "command", &wm.command));
      DOPPEL_RETURN_IF_ERROR(r.String(w[i], p, "property", &wm.property));
      DOPPEL_RETURN_IF_ERROR(r.String(w[i], p, "node_id", &wm.node_id));
      o.writes.push_back(std::move(wm));
    }
  }
  // Validate's messages name the field relative to the section ("mappings[2].node_id: ...").
  if (Status st = o.Validate(); !st.ok())
    return InvalidArgument(fmt::format("{}: {}: {}", source, path, st.message()));
  return o;
}

Result<OpcUaAdapterOptions> ParseOpcUaConfigText(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}: line {}: {}", source, e.mark.line + 1, e.msg));
  }
  return ParseOpcUaConfig(root, source, "opcua");
}

}  // namespace doppel::ingest::opcua
