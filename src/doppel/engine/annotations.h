// Annotations: notes pinned by people to a time range of a twin's chart or to a point on the
// 3D model, shared live between every open dashboard (docs/api.md, "Annotations").
//
// Stored in SQLite (<data_dir>/annotations.db), one row per annotation. Thread safety: every
// method may be called from any thread (one mutex; SQLite in serialized mode).
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::store {
class SqliteDb;
}  // namespace doppel::store

namespace doppel::engine {

struct Point3 {
  double x = 0, y = 0, z = 0;  // model coordinates of the 3D view (m)
};

struct Annotation {
  std::string id;  // "a-<n>", assigned by the store
  std::string twin;
  std::string author;  // the principal that made it
  TimeNs created_ns = 0;
  std::string text;               // 1..4000 bytes
  TimeNs from_ns = 0, to_ns = 0;  // the time range it is pinned to (from <= to)
  std::string signal;             // the chart it was made on; empty: the twin as a whole
  std::optional<Point3> anchor;   // a point on the 3D model
};

// {"id","twin","author","created_ns","text","from_ns","to_ns","signal"|null,"anchor"|null}
nlohmann::json AnnotationToJson(const Annotation& a);

class AnnotationStore {
 public:
  static Result<std::unique_ptr<AnnotationStore>> Open(const std::string& path);
  ~AnnotationStore();

  // Checks the fields (kInvalidArgument naming the field), assigns id and created_ns, persists.
  Result<Annotation> Create(Annotation a, TimeNs now_ns);
  // The twin's annotations overlapping [from_ns, to_ns], oldest first.
  Result<std::vector<Annotation>> List(const std::string& twin, TimeNs from_ns, TimeNs to_ns) const;
  Result<Annotation> Get(const std::string& twin, const std::string& id) const;
  // kNotFound for an unknown id.
  Status Delete(const std::string& twin, const std::string& id);

 private:
  AnnotationStore(std::unique_ptr<store::SqliteDb> db, uint64_t next_id);
  mutable std::mutex mu_;
  std::unique_ptr<store::SqliteDb> db_;
  uint64_t next_id_;
};

}  // namespace doppel::engine
