#include "doppel/engine/alert_center.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace doppel::engine {

namespace {

Status SqlError(sqlite3* db, const std::string& what) {
  return IOError(what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Result<std::unique_ptr<AlertCenter>> AlertCenter::Open(const std::string& path, MetricsRegistry* metrics,
                                                       Publish publish) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    Status s = SqlError(db, "alerts: cannot open " + path);
    sqlite3_close(db);
    return s;
  }
  const char* ddl =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);";
  if (sqlite3_exec(db, ddl, nullptr, nullptr, nullptr) != SQLITE_OK) {
    Status s = SqlError(db, "alerts: cannot create the table in " + path);
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<AlertCenter> c(new AlertCenter(db, metrics, std::move(publish)));
  // Restore.
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT id, doc FROM alerts ORDER BY id", -1, &st, nullptr) != SQLITE_OK) {
    return SqlError(db, "alerts: cannot read " + path);
  }
  std::vector<analytics::Alert> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const int64_t id = sqlite3_column_int64(st, 0);
    const char* doc = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    nlohmann::json j = nlohmann::json::parse(doc ? doc : "", nullptr, /*allow_exceptions=*/false);
    auto a = analytics::AlertFromJson(j, path + ": alert " + std::to_string(id));
    if (!a.ok()) {
      spdlog::warn("alerts: skipping a damaged row: {}", a.status().ToString());
      continue;
    }
    rows.push_back(std::move(*a));
  }
  sqlite3_finalize(st);
  if (Status s = c->book_.Restore(rows); !s.ok()) return s;
  if (!rows.empty()) spdlog::info("alerts: restored {} alerts from {}", rows.size(), path);
  return c;
}

AlertCenter::AlertCenter(sqlite3* db, MetricsRegistry* metrics, Publish publish)
    : db_(db),
      publish_(std::move(publish)),
      raised_(
          metrics->GetCounter("doppel_alerts_raised_total", "Alerts raised (not counting merged repeats)")),
      store_errors_(
          metrics->GetCounter("doppel_alert_store_errors_total", "Alert writes to SQLite that failed")) {}

AlertCenter::~AlertCenter() { sqlite3_close(db_); }

void AlertCenter::Persist(const analytics::Alert& a) {
  sqlite3_stmt* st = nullptr;
  const std::string doc = analytics::AlertToJson(a).dump();
  bool ok = sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO alerts (id, doc) VALUES (?, ?)", -1, &st,
                               nullptr) == SQLITE_OK;
  if (ok) {
    sqlite3_bind_int64(st, 1, static_cast<int64_t>(a.id));
    sqlite3_bind_text(st, 2, doc.data(), static_cast<int>(doc.size()), SQLITE_TRANSIENT);
    ok = sqlite3_step(st) == SQLITE_DONE;
  }
  sqlite3_finalize(st);
  if (!ok) {
    store_errors_.Inc();
    spdlog::error("alerts: cannot persist alert {}: {}", a.id, sqlite3_errmsg(db_));
  }
}

void AlertCenter::Apply(const std::vector<analytics::AlertTransition>& transitions) {
  std::vector<analytics::Alert> changed;
  {
    std::lock_guard lk(mu_);
    for (const auto& t : transitions) {
      bool merged = false;
      auto a = book_.Apply(t, &merged);
      if (!a.ok()) {
        spdlog::warn("alerts: {}", a.status().ToString());
        continue;
      }
      if (t.kind == analytics::AlertTransition::Kind::kRaised && !merged) {
        raised_.Inc();
        spdlog::warn("alert {} raised: {} on {}: {}", a->id, a->rule, a->twin, a->reason);
      }
      Persist(*a);
      changed.push_back(std::move(*a));
    }
  }
  if (publish_) {
    for (const auto& a : changed) publish_(a);
  }
}

Result<analytics::Alert> AlertCenter::Acknowledge(uint64_t id, const std::string& who, TimeNs now_ns) {
  Result<analytics::Alert> a = [&]() -> Result<analytics::Alert> {
    std::lock_guard lk(mu_);
    auto r = book_.Ack(id, who, now_ns);
    if (r.ok()) Persist(*r);
    return r;
  }();
  if (a.ok() && publish_) publish_(*a);
  return a;
}

std::vector<analytics::Alert> AlertCenter::List(const analytics::AlertFilter& filter) const {
  std::lock_guard lk(mu_);
  return book_.List(filter);
}

analytics::SeverityCounts AlertCenter::ActiveCounts(const std::string& twin) const {
  std::lock_guard lk(mu_);
  return book_.ActiveCounts(twin);
}

std::vector<analytics::Alert> AlertCenter::Active() const {
  analytics::AlertFilter f;
  f.states = {analytics::AlertState::kRaised, analytics::AlertState::kAcknowledged};
  std::lock_guard lk(mu_);
  return book_.List(f);
}

}  // namespace doppel::engine
