// ModelRegistry: links parsed interfaces (schema references, extends, components, relationship
// targets) and loads model directories.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "doppel/model/dtdl.h"
#include "doppel/model/dtdl_internal.h"

namespace doppel::model {

namespace {

Status Err(const std::string& source, const std::string& path, const std::string& reason) {
  return InvalidArgument(source + ": " + path + ": " + reason);
}

std::string Quote(std::string_view s) {
  if (s.size() > 80) return "'" + std::string(s.substr(0, 77)) + "...'";
  return "'" + std::string(s) + "'";
}

class RefResolver {
 public:
  RefResolver(const internal::SchemaTable& table, bool require_all)
      : table_(table), require_all_(require_all) {}

  Status Tree(const Schema& s, const std::string& source) {
    // Resolution fills in `target` of schemas that are otherwise immutable after parsing.
    Schema& m = const_cast<Schema&>(s);
    switch (m.kind) {
      case SchemaKind::kReference: return Ref(m, source);
      case SchemaKind::kArray: return m.element ? Tree(*m.element, source) : Status::Ok();
      case SchemaKind::kObject:
        for (const auto& f : m.fields) DOPPEL_RETURN_IF_ERROR(Tree(*f.schema, source));
        return Status::Ok();
      case SchemaKind::kMap: return m.map_value.schema ? Tree(*m.map_value.schema, source) : Status::Ok();
      default: return Status::Ok();
    }
  }

  Status Content(const doppel::model::Content& c, const std::string& source) {
    if (c.schema) DOPPEL_RETURN_IF_ERROR(Tree(*c.schema, source));
    if (c.request) DOPPEL_RETURN_IF_ERROR(Tree(*c.request->schema, source));
    if (c.response) DOPPEL_RETURN_IF_ERROR(Tree(*c.response->schema, source));
    for (const auto& p : c.properties) DOPPEL_RETURN_IF_ERROR(Content(p, source));
    return Status::Ok();
  }

 private:
  Status Ref(Schema& m, const std::string& source) {
    auto it = table_.find(m.ref);
    if (it == table_.end()) {
      if (require_all_ && !m.target) return Err(source, m.path, "unknown schema " + Quote(m.ref));
      return Status::Ok();
    }
    int& state = state_[m.ref];  // std::map: the reference stays valid across inserts
    if (state == 1) return Err(source, m.path, "schema reference cycle through " + Quote(m.ref));
    if (state == 0) {
      state = 1;
      DOPPEL_RETURN_IF_ERROR(Tree(*it->second.schema, it->second.source));
      state = 2;
    }
    m.target = it->second.schema;
    return Status::Ok();
  }

  const internal::SchemaTable& table_;
  bool require_all_;
  std::map<std::string, int, std::less<>> state_;  // 1 visiting, 2 done
};

constexpr int kMaxExtendsDepth = 10;

class Linker {
 public:
  explicit Linker(std::map<std::string, Interface, std::less<>>& ifaces) : ifaces_(ifaces) {}

  // Fills all_contents of `id` (and of everything it extends); returns its extends depth.
  Status Flatten(const std::string& id, int* depth) {
    Interface& iface = ifaces_.find(id)->second;
    auto [it, inserted] = state_.emplace(id, 0);
    if (!inserted) {
      if (it->second == -1)
        return Err(iface.source, iface.path + ".extends", "extends cycle through " + Quote(id));
      *depth = it->second;
      return Status::Ok();
    }
    it->second = -1;
    std::vector<doppel::model::Content> merged;
    std::map<std::string, size_t> by_name;
    int max_parent = 0;
    for (size_t i = 0; i < iface.extends.size(); ++i) {
      const std::string& parent_id = iface.extends[i];
      const std::string epath =
          iface.path + ".extends" + (iface.extends.size() > 1 ? "[" + std::to_string(i) + "]" : "");
      auto p = ifaces_.find(parent_id);
      if (p == ifaces_.end()) return Err(iface.source, epath, "unknown interface " + Quote(parent_id));
      int d = 0;
      DOPPEL_RETURN_IF_ERROR(Flatten(parent_id, &d));
      max_parent = std::max(max_parent, d);
      for (const auto& c : p->second.all_contents) {
        auto [at, fresh] = by_name.emplace(c.name, merged.size());
        if (fresh) {
          merged.push_back(c);
        } else if (merged[at->second].defined_in != c.defined_in) {
          return Err(iface.source, epath,
                     "content " + Quote(c.name) + " is inherited from both " + merged[at->second].defined_in +
                         " and " + c.defined_in);
        }
      }
    }
    for (const auto& c : iface.contents) {
      auto at = by_name.find(c.name);
      if (at != by_name.end()) {
        return Err(iface.source, c.path + ".name",
                   "content " + Quote(c.name) + " is already defined by extended interface " +
                       merged[at->second].defined_in);
      }
      merged.push_back(c);
    }
    iface.all_contents = std::move(merged);
    *depth = max_parent + 1;
    if (*depth > kMaxExtendsDepth) {
      return Err(iface.source, iface.path + ".extends",
                 "extends chain deeper than " + std::to_string(kMaxExtendsDepth) + " levels");
    }
    state_[id] = *depth;
    return Status::Ok();
  }

  // Components name known interfaces and do not (transitively) contain themselves.
  Status Components(const std::string& id) {
    auto [it, inserted] = comp_state_.emplace(id, 1);
    if (!inserted) return Status::Ok();  // done, or visiting (reported by the caller's edge)
    const Interface& iface = ifaces_.find(id)->second;
    for (const auto& c : iface.all_contents) {
      auto owner = ifaces_.find(c.defined_in);
      const std::string& source = owner != ifaces_.end() ? owner->second.source : iface.source;
      if (c.kind == ContentKind::kRelationship && !c.target.empty() && !ifaces_.count(c.target)) {
        return Err(source, c.path + ".target", "unknown interface " + Quote(c.target));
      }
      if (c.kind != ContentKind::kComponent) continue;
      if (!ifaces_.count(c.component))
        return Err(source, c.path + ".schema", "unknown interface " + Quote(c.component));
      auto st = comp_state_.find(c.component);
      if (st != comp_state_.end() && st->second == 1) {
        return Err(source, c.path + ".schema", "component cycle through " + Quote(c.component));
      }
      DOPPEL_RETURN_IF_ERROR(Components(c.component));
    }
    comp_state_[id] = 2;
    return Status::Ok();
  }

 private:
  std::map<std::string, Interface, std::less<>>& ifaces_;
  std::map<std::string, int> state_;       // -1 visiting, else extends depth
  std::map<std::string, int> comp_state_;  // 1 visiting, 2 done
};

}  // namespace

Result<ModelRegistry> ModelRegistry::Build(std::vector<Interface> interfaces) {
  ModelRegistry reg;
  internal::SchemaTable table;
  std::map<std::string, std::string> schema_ids;  // interface ids and schema ids -> source
  for (auto& iface : interfaces) {
    if (auto dup = reg.interfaces_.find(iface.id); dup != reg.interfaces_.end()) {
      return Err(iface.source, iface.path + ".@id",
                 "duplicate interface " + Quote(iface.id) + " (also in " + dup->second.source + ")");
    }
    const std::string id = iface.id;
    Interface& added = reg.interfaces_.emplace(id, std::move(iface)).first->second;
    for (const auto& s : added.schemas) {
      if (reg.interfaces_.count(s->id) ||
          !table.emplace(s->id, internal::SchemaDef{s, added.source}).second) {
        return Err(added.source, s->path + ".@id", "duplicate @id " + Quote(s->id));
      }
    }
  }
  for (const auto& [id, s] : table) {
    if (reg.interfaces_.count(id))
      return Err(s.source, s.schema->path + ".@id", "duplicate @id " + Quote(id));
  }
  for (const auto& [id, iface] : reg.interfaces_) {
    DOPPEL_RETURN_IF_ERROR(internal::ResolveSchemaReferences(iface, table, true));
  }
  Linker linker(reg.interfaces_);
  for (const auto& [id, iface] : reg.interfaces_) {
    int depth = 0;
    DOPPEL_RETURN_IF_ERROR(linker.Flatten(id, &depth));
  }
  for (const auto& [id, iface] : reg.interfaces_) DOPPEL_RETURN_IF_ERROR(linker.Components(id));
  return reg;
}

const Interface* ModelRegistry::Find(std::string_view dtmi) const {
  auto it = interfaces_.find(dtmi);
  return it == interfaces_.end() ? nullptr : &it->second;
}

std::vector<const Interface*> ModelRegistry::List() const {
  std::vector<const Interface*> out;
  out.reserve(interfaces_.size());
  for (const auto& [id, iface] : interfaces_) out.push_back(&iface);
  return out;
}

Result<ModelRegistry> LoadModelsFromDirectory(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return NotFound(dir + ": cannot read model directory: " + ec.message());
  std::vector<fs::path> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return IOError(dir + ": " + ec.message());
    const fs::path& p = it->path();
    if (p.extension() == ".json" && it->is_regular_file(ec)) files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  std::vector<Interface> all;
  for (const auto& p : files) {
    const std::string name = p.string();
    std::ifstream in(p, std::ios::binary);
    if (!in) return IOError(name + ": cannot open");
    std::stringstream buf;
    buf << in.rdbuf();
    if (!in.good() && !in.eof()) return IOError(name + ": cannot read");
    auto parsed = ParseModelFile(buf.str(), name);
    if (!parsed.ok()) return parsed.status();
    for (auto& i : *parsed) all.push_back(std::move(i));
  }
  return ModelRegistry::Build(std::move(all));
}

namespace internal {

Status ResolveSchemaReferences(const Interface& iface, const SchemaTable& table, bool require_all) {
  RefResolver r(table, require_all);
  for (const auto& c : iface.contents) DOPPEL_RETURN_IF_ERROR(r.Content(c, iface.source));
  for (const auto& s : iface.schemas) DOPPEL_RETURN_IF_ERROR(r.Tree(*s, iface.source));
  return Status::Ok();
}

}  // namespace internal
}  // namespace doppel::model
