// TwinRegistry (engine-private): every twin's identity, model and properties, persisted in
// the metadata store. Twins are few and change rarely, so a shared mutex guards the map and
// entries are immutable shared pointers (a reader keeps a consistent copy).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "doppel/engine/service.h"
#include "doppel/model/dtdl.h"
#include "doppel/store/metadata.h"

namespace doppel::engine {

struct TwinInfo {
  std::string id;
  const model::Interface* iface = nullptr;  // owned by the registry's ModelRegistry
  nlohmann::json desired = nlohmann::json::object();
  nlohmann::json reported = nlohmann::json::object();
  std::vector<RelationshipRef> relationships;
  TimeNs created_ns = 0;
};

class TwinRegistry {
 public:
  TwinRegistry(model::ModelRegistry models, store::MetadataStore* meta,
               std::vector<std::pair<std::string, std::string>> provision);

  // Loads persisted twins; a row whose model is no longer loaded is kept on disk and skipped
  // with a warning.
  Status Restore();

  const model::ModelRegistry& models() const { return models_; }
  std::shared_ptr<const TwinInfo> Find(const std::string& id) const;
  // The same as a plain pointer, for the per-message ingest path: a small per-thread cache of
  // the twins this thread found last answers without the lock or a map lookup. Valid as long
  // as the registry: entries are only ever added, never removed or replaced (Restore, which
  // could replace them, invalidates every cache).
  const TwinInfo* FindPinned(const std::string& id) const;
  // Finds the twin or creates it from the first matching provisioning rule; kNotFound when
  // no rule matches.
  Result<std::shared_ptr<const TwinInfo>> FindOrProvision(const std::string& id, TimeNs now_ns);
  Result<std::shared_ptr<const TwinInfo>> Create(const TwinSpec& spec, TimeNs now_ns);
  std::vector<std::shared_ptr<const TwinInfo>> List() const;  // sorted by id

 private:
  Status Persist(const TwinInfo& t);
  Result<std::shared_ptr<const TwinInfo>> CreateLocked(const TwinSpec& spec, TimeNs now_ns);

  model::ModelRegistry models_;
  store::MetadataStore* meta_;
  std::vector<std::pair<std::string, std::string>> provision_;
  // Identifies this registry's current entries to the per-thread caches of FindPinned: unique
  // across registries (a new registry at a freed one's address gets a new value) and renewed
  // when Restore may have replaced entries.
  std::atomic<uint64_t> generation_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const TwinInfo>> twins_;
};

}  // namespace doppel::engine
