#include "doppel/engine/annotations.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "doppel/store/sqlite_db.h"

namespace doppel::engine {

namespace {

constexpr size_t kMaxText = 4000;
constexpr size_t kMaxSignal = 256;

Annotation FromRow(sqlite3_stmt* s) {
  auto text = [&](int col) { return store::ColumnText(s, col); };
  Annotation a;
  a.id = "a-" + std::to_string(sqlite3_column_int64(s, 0));
  a.twin = text(1);
  a.author = text(2);
  a.created_ns = sqlite3_column_int64(s, 3);
  a.text = text(4);
  a.from_ns = sqlite3_column_int64(s, 5);
  a.to_ns = sqlite3_column_int64(s, 6);
  a.signal = text(7);
  if (sqlite3_column_type(s, 8) != SQLITE_NULL) {
    a.anchor = Point3{sqlite3_column_double(s, 8), sqlite3_column_double(s, 9), sqlite3_column_double(s, 10)};
  }
  return a;
}

// "a-12" -> 12; 0 when malformed.
int64_t ParseId(const std::string& id) {
  if (id.size() < 3 || id.compare(0, 2, "a-") != 0 || id.size() > 20) return 0;
  int64_t n = 0;
  for (size_t i = 2; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9') return 0;
    n = n * 10 + (id[i] - '0');
  }
  return n;
}

constexpr const char* kColumns = "id, twin, author, created_ns, text, from_ns, to_ns, signal, ax, ay, az";

enum Statement { kInsert, kList, kGet, kDelete, kMaxId };

std::vector<std::string> Statements() {
  const std::string c = kColumns;
  return {"INSERT INTO annotations (" + c + ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
          "SELECT " + c +
              " FROM annotations WHERE twin = ?1 AND to_ns >= ?2 AND from_ns <= ?3 ORDER BY from_ns, id",
          "SELECT " + c + " FROM annotations WHERE id = ?1 AND twin = ?2",
          "DELETE FROM annotations WHERE id = ?1 AND twin = ?2",
          "SELECT COALESCE(MAX(id), 0) FROM annotations"};
}

}  // namespace

nlohmann::json AnnotationToJson(const Annotation& a) {
  nlohmann::json j = {
      {"id", a.id},     {"twin", a.twin},       {"author", a.author}, {"created_ns", a.created_ns},
      {"text", a.text}, {"from_ns", a.from_ns}, {"to_ns", a.to_ns}};
  j["signal"] = a.signal.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.signal);
  j["anchor"] = a.anchor ? nlohmann::json{{"x", a.anchor->x}, {"y", a.anchor->y}, {"z", a.anchor->z}}
                         : nlohmann::json(nullptr);
  return j;
}

Result<std::unique_ptr<AnnotationStore>> AnnotationStore::Open(const std::string& path) {
  auto db = std::make_unique<store::SqliteDb>();
  store::SqliteSchema schema;
  schema.synchronous_full = false;  // shared notes, not records: no fsync per note
  schema.sql =
      "CREATE TABLE IF NOT EXISTS annotations (id INTEGER PRIMARY KEY, twin TEXT NOT NULL, author TEXT NOT "
      "NULL, created_ns INTEGER NOT NULL, text TEXT NOT NULL, from_ns INTEGER NOT NULL, to_ns INTEGER NOT "
      "NULL, signal TEXT NOT NULL, ax REAL, ay REAL, az REAL);"
      "CREATE INDEX IF NOT EXISTS annotations_twin ON annotations (twin, from_ns);";
  DOPPEL_RETURN_IF_ERROR(db->Open(path, schema, Statements()));
  auto max_id = db->RunList<int64_t>(
      db->Get(kMaxId), [](sqlite3_stmt* s) { return sqlite3_column_int64(s, 0); }, "read the last id");
  if (!max_id.ok()) return max_id.status();
  const int64_t next = max_id->empty() ? 1 : max_id->front() + 1;
  return std::unique_ptr<AnnotationStore>(new AnnotationStore(std::move(db), static_cast<uint64_t>(next)));
}

AnnotationStore::AnnotationStore(std::unique_ptr<store::SqliteDb> db, uint64_t next_id)
    : db_(std::move(db)), next_id_(next_id) {}
AnnotationStore::~AnnotationStore() = default;

Result<Annotation> AnnotationStore::Create(Annotation a, TimeNs now_ns) {
  if (a.text.empty() || a.text.size() > kMaxText) {
    return InvalidArgument("text: must be 1.." + std::to_string(kMaxText) + " bytes");
  }
  if (a.from_ns > a.to_ns) return InvalidArgument("to_ns: must not be before from_ns");
  if (a.signal.size() > kMaxSignal) return InvalidArgument("signal: longer than 256 bytes");
  if (a.anchor && !(std::isfinite(a.anchor->x) && std::isfinite(a.anchor->y) && std::isfinite(a.anchor->z))) {
    return InvalidArgument("anchor: x, y and z must be finite numbers");
  }
  std::lock_guard lk(mu_);
  sqlite3_stmt* st = db_->Get(kInsert);
  const int64_t id = static_cast<int64_t>(next_id_);
  sqlite3_bind_int64(st, 1, id);
  store::BindText(st, 2, a.twin);
  store::BindText(st, 3, a.author);
  sqlite3_bind_int64(st, 4, now_ns);
  store::BindText(st, 5, a.text);
  sqlite3_bind_int64(st, 6, a.from_ns);
  sqlite3_bind_int64(st, 7, a.to_ns);
  store::BindText(st, 8, a.signal);
  if (a.anchor) {
    sqlite3_bind_double(st, 9, a.anchor->x);
    sqlite3_bind_double(st, 10, a.anchor->y);
    sqlite3_bind_double(st, 11, a.anchor->z);
  }
  DOPPEL_RETURN_IF_ERROR(db_->RunWrite(st, "insert an annotation"));
  ++next_id_;
  a.id = "a-" + std::to_string(id);
  a.created_ns = now_ns;
  return a;
}

Result<std::vector<Annotation>> AnnotationStore::List(const std::string& twin, TimeNs from_ns,
                                                      TimeNs to_ns) const {
  std::lock_guard lk(mu_);
  sqlite3_stmt* st = db_->Get(kList);
  store::BindText(st, 1, twin);
  sqlite3_bind_int64(st, 2, from_ns);
  sqlite3_bind_int64(st, 3, to_ns);
  return db_->RunList<Annotation>(st, FromRow, "list annotations of '" + twin + "'");
}

Result<Annotation> AnnotationStore::Get(const std::string& twin, const std::string& id) const {
  const int64_t n = ParseId(id);
  if (n <= 0) return NotFound("annotation '" + id + "' not found");
  std::lock_guard lk(mu_);
  sqlite3_stmt* st = db_->Get(kGet);
  sqlite3_bind_int64(st, 1, n);
  store::BindText(st, 2, twin);
  auto rows = db_->RunList<Annotation>(st, FromRow, "get annotation '" + id + "'");
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return NotFound("annotation '" + id + "' not found on twin '" + twin + "'");
  return std::move(rows->front());
}

Status AnnotationStore::Delete(const std::string& twin, const std::string& id) {
  const int64_t n = ParseId(id);
  if (n <= 0) return NotFound("annotation '" + id + "' not found");
  std::lock_guard lk(mu_);
  sqlite3_stmt* st = db_->Get(kDelete);
  sqlite3_bind_int64(st, 1, n);
  store::BindText(st, 2, twin);
  DOPPEL_RETURN_IF_ERROR(db_->RunWrite(st, "delete annotation '" + id + "'"));
  if (db_->Changes() == 0) return NotFound("annotation '" + id + "' not found on twin '" + twin + "'");
  return Status::Ok();
}

}  // namespace doppel::engine
