#include "doppel/engine/annotations.h"

#include <sqlite3.h>

#include <cmath>
#include <nlohmann/json.hpp>

namespace doppel::engine {

namespace {

constexpr size_t kMaxText = 4000;
constexpr size_t kMaxSignal = 256;

Status SqlError(sqlite3* db, const std::string& what) {
  return IOError(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

Annotation FromRow(sqlite3_stmt* s) {
  auto text = [&](int col) {
    const unsigned char* p = sqlite3_column_text(s, col);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  };
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
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    Status s = SqlError(db, "annotations: cannot open " + path);
    sqlite3_close(db);
    return s;
  }
  const char* ddl =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS annotations (id INTEGER PRIMARY KEY, twin TEXT NOT NULL, author TEXT NOT "
      "NULL, created_ns INTEGER NOT NULL, text TEXT NOT NULL, from_ns INTEGER NOT NULL, to_ns INTEGER NOT "
      "NULL, signal TEXT NOT NULL, ax REAL, ay REAL, az REAL);"
      "CREATE INDEX IF NOT EXISTS annotations_twin ON annotations (twin, from_ns);";
  if (sqlite3_exec(db, ddl, nullptr, nullptr, nullptr) != SQLITE_OK) {
    Status s = SqlError(db, "annotations: cannot create the table in " + path);
    sqlite3_close(db);
    return s;
  }
  Stmt st;
  int64_t max_id = 0;
  if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(id), 0) FROM annotations", -1, &st.s, nullptr) ==
          SQLITE_OK &&
      sqlite3_step(st.s) == SQLITE_ROW) {
    max_id = sqlite3_column_int64(st.s, 0);
  }
  return std::unique_ptr<AnnotationStore>(new AnnotationStore(db, static_cast<uint64_t>(max_id) + 1));
}

AnnotationStore::~AnnotationStore() { sqlite3_close(db_); }

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
  Stmt st;
  if (sqlite3_prepare_v2(
          db_,
          "INSERT INTO annotations (id, twin, author, created_ns, text, from_ns, to_ns, signal, "
          "ax, ay, az) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
          -1, &st.s, nullptr) != SQLITE_OK) {
    return SqlError(db_, "annotations: insert");
  }
  const int64_t id = static_cast<int64_t>(next_id_);
  sqlite3_bind_int64(st.s, 1, id);
  sqlite3_bind_text(st.s, 2, a.twin.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st.s, 3, a.author.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 4, now_ns);
  sqlite3_bind_text(st.s, 5, a.text.data(), static_cast<int>(a.text.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 6, a.from_ns);
  sqlite3_bind_int64(st.s, 7, a.to_ns);
  sqlite3_bind_text(st.s, 8, a.signal.c_str(), -1, SQLITE_TRANSIENT);
  if (a.anchor) {
    sqlite3_bind_double(st.s, 9, a.anchor->x);
    sqlite3_bind_double(st.s, 10, a.anchor->y);
    sqlite3_bind_double(st.s, 11, a.anchor->z);
  }
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "annotations: insert");
  ++next_id_;
  a.id = "a-" + std::to_string(id);
  a.created_ns = now_ns;
  return a;
}

Result<std::vector<Annotation>> AnnotationStore::List(const std::string& twin, TimeNs from_ns,
                                                      TimeNs to_ns) const {
  std::lock_guard lk(mu_);
  Stmt st;
  const std::string sql =
      std::string("SELECT ") + kColumns +
      " FROM annotations WHERE twin = ? AND to_ns >= ? AND from_ns <= ? ORDER BY from_ns, id";
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) {
    return SqlError(db_, "annotations: list");
  }
  sqlite3_bind_text(st.s, 1, twin.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st.s, 2, from_ns);
  sqlite3_bind_int64(st.s, 3, to_ns);
  std::vector<Annotation> out;
  int rc;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(FromRow(st.s));
  if (rc != SQLITE_DONE) return SqlError(db_, "annotations: list");
  return out;
}

Result<Annotation> AnnotationStore::Get(const std::string& twin, const std::string& id) const {
  const int64_t n = ParseId(id);
  if (n <= 0) return NotFound("annotation '" + id + "' not found");
  std::lock_guard lk(mu_);
  Stmt st;
  const std::string sql = std::string("SELECT ") + kColumns + " FROM annotations WHERE id = ? AND twin = ?";
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) {
    return SqlError(db_, "annotations: get");
  }
  sqlite3_bind_int64(st.s, 1, n);
  sqlite3_bind_text(st.s, 2, twin.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_ROW)
    return NotFound("annotation '" + id + "' not found on twin '" + twin + "'");
  return FromRow(st.s);
}

Status AnnotationStore::Delete(const std::string& twin, const std::string& id) {
  const int64_t n = ParseId(id);
  if (n <= 0) return NotFound("annotation '" + id + "' not found");
  std::lock_guard lk(mu_);
  Stmt st;
  if (sqlite3_prepare_v2(db_, "DELETE FROM annotations WHERE id = ? AND twin = ?", -1, &st.s, nullptr) !=
      SQLITE_OK) {
    return SqlError(db_, "annotations: delete");
  }
  sqlite3_bind_int64(st.s, 1, n);
  sqlite3_bind_text(st.s, 2, twin.c_str(), -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st.s) != SQLITE_DONE) return SqlError(db_, "annotations: delete");
  if (sqlite3_changes(db_) == 0) return NotFound("annotation '" + id + "' not found on twin '" + twin + "'");
  return Status::Ok();
}

}  // namespace doppel::engine
