#include "doppel/engine/twin_registry.h"

#include <spdlog/spdlog.h>

#include <mutex>

#include "doppel/ingest/topic.h"

namespace doppel::engine {

namespace {

std::atomic<uint64_t> g_next_generation{1};  // FindPinned cache keys, never reused

nlohmann::json RelationshipsToJson(const std::vector<RelationshipRef>& rels) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& r : rels) a.push_back({{"name", r.name}, {"target", r.target}});
  return a;
}

}  // namespace

TwinRegistry::TwinRegistry(model::ModelRegistry models, store::MetadataStore* meta,
                           std::vector<std::pair<std::string, std::string>> provision)
    : models_(std::move(models)),
      meta_(meta),
      provision_(std::move(provision)),
      generation_(g_next_generation.fetch_add(1, std::memory_order_relaxed)) {}

Status TwinRegistry::Restore() {
  auto rows = meta_->ListTwins();
  if (!rows.ok()) return rows.status();
  std::unique_lock lk(mu_);
  // Entries may be replaced below: pinned pointers handed out so far must not be served again.
  generation_.store(g_next_generation.fetch_add(1, std::memory_order_relaxed), std::memory_order_release);
  for (const auto& row : *rows) {
    const model::Interface* iface = models_.Find(row.model);
    if (iface == nullptr) {
      spdlog::warn("twin '{}': model '{}' is not loaded; the twin is kept on disk but not served", row.id,
                   row.model);
      continue;
    }
    auto t = std::make_shared<TwinInfo>();
    t->id = row.id;
    t->iface = iface;
    t->created_ns = row.created_ns;
    t->desired = nlohmann::json::parse(row.desired_json, nullptr, false);
    t->reported = nlohmann::json::parse(row.reported_json, nullptr, false);
    if (t->desired.is_discarded()) t->desired = nlohmann::json::object();
    if (t->reported.is_discarded()) t->reported = nlohmann::json::object();
    nlohmann::json rels = nlohmann::json::parse(row.relationships_json, nullptr, false);
    if (rels.is_array()) {
      for (const auto& r : rels) {
        if (r.is_object() && r.value("name", "") != "" && r.value("target", "") != "") {
          t->relationships.push_back({r["name"].get<std::string>(), r["target"].get<std::string>()});
        }
      }
    }
    twins_[t->id] = std::move(t);
  }
  return Status::Ok();
}

std::shared_ptr<const TwinInfo> TwinRegistry::Find(const std::string& id) const {
  std::shared_lock lk(mu_);
  auto it = twins_.find(id);
  return it == twins_.end() ? nullptr : it->second;
}

const TwinInfo* TwinRegistry::FindPinned(const std::string& id) const {
  // Direct-mapped by a short FNV-1a hash of the id; a collision only costs a locked lookup.
  struct Entry {
    uint64_t generation = 0;  // 0: empty
    const TwinInfo* twin = nullptr;
  };
  constexpr size_t kEntries = 64;
  thread_local Entry cache[kEntries];
  uint32_t h = 2166136261u;
  for (char c : id) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  Entry& e = cache[h % kEntries];
  const uint64_t gen = generation_.load(std::memory_order_acquire);
  if (e.generation == gen && e.twin->id == id) return e.twin;
  std::shared_lock lk(mu_);
  auto it = twins_.find(id);
  if (it == twins_.end()) return nullptr;
  e = Entry{gen, it->second.get()};
  return e.twin;
}

Result<std::shared_ptr<const TwinInfo>> TwinRegistry::FindOrProvision(const std::string& id, TimeNs now_ns) {
  if (auto t = Find(id)) return t;
  for (const auto& [glob, dtmi] : provision_) {
    if (!ingest::GlobMatch(glob, id)) continue;
    std::unique_lock lk(mu_);
    if (auto it = twins_.find(id); it != twins_.end()) return it->second;  // raced with another provisioner
    TwinSpec spec;
    spec.id = id;
    spec.model = dtmi;
    auto created = CreateLocked(spec, now_ns);
    if (created.ok()) spdlog::info("twin '{}' provisioned as {} (rule '{}')", id, dtmi, glob);
    return created;
  }
  return NotFound("twin '" + id + "' is unknown and no provisioning rule matches it");
}

Result<std::shared_ptr<const TwinInfo>> TwinRegistry::Create(const TwinSpec& spec, TimeNs now_ns) {
  std::unique_lock lk(mu_);
  return CreateLocked(spec, now_ns);
}

Result<std::shared_ptr<const TwinInfo>> TwinRegistry::CreateLocked(const TwinSpec& spec, TimeNs now_ns) {
  if (spec.id.empty() || spec.id.size() > 256 || spec.id.find_first_of("/+#*? \t\n") != std::string::npos) {
    return InvalidArgument("id: '" + spec.id +
                           "' must be 1..256 characters without '/', '+', '#', '*', '?' or spaces");
  }
  if (twins_.count(spec.id)) return AlreadyExists("twin '" + spec.id + "' already exists");
  const model::Interface* iface = models_.Find(spec.model);
  if (iface == nullptr) return InvalidArgument("model: '" + spec.model + "' is not a loaded model");
  if (!spec.desired.is_object()) return InvalidArgument("desired: expected an object");
  DOPPEL_RETURN_IF_ERROR(model::ValidateDesiredProperties(*iface, spec.desired));
  for (size_t i = 0; i < spec.relationships.size(); ++i) {
    const auto& r = spec.relationships[i];
    std::string at = "relationships[" + std::to_string(i) + "]";
    if (iface->FindRelationship(r.name) == nullptr) {
      return InvalidArgument(at + ".name: model " + spec.model + " has no relationship '" + r.name + "'");
    }
    if (!twins_.count(r.target))
      return InvalidArgument(at + ".target: twin '" + r.target + "' does not exist");
  }
  auto t = std::make_shared<TwinInfo>();
  t->id = spec.id;
  t->iface = iface;
  t->desired = spec.desired;
  t->relationships = spec.relationships;
  t->created_ns = now_ns;
  DOPPEL_RETURN_IF_ERROR(Persist(*t));
  twins_[t->id] = t;
  return std::shared_ptr<const TwinInfo>(t);
}

Status TwinRegistry::Persist(const TwinInfo& t) {
  store::TwinRow row;
  row.id = t.id;
  row.model = t.iface->id;
  row.desired_json = t.desired.dump();
  row.reported_json = t.reported.dump();
  row.relationships_json = RelationshipsToJson(t.relationships).dump();
  row.created_ns = t.created_ns;
  return meta_->PutTwin(row);
}

std::vector<std::shared_ptr<const TwinInfo>> TwinRegistry::List() const {
  std::shared_lock lk(mu_);
  std::vector<std::shared_ptr<const TwinInfo>> out;
  out.reserve(twins_.size());
  for (const auto& [id, t] : twins_) out.push_back(t);
  return out;
}

}  // namespace doppel::engine
