#include "doppel/engine/alert_center.h"

#include <spdlog/spdlog.h>

#include "doppel/store/sqlite_db.h"

namespace doppel::engine {

namespace {

enum Statement { kPutAlert, kListAlerts };

}  // namespace

Result<std::unique_ptr<AlertCenter>> AlertCenter::Open(const std::string& path, MetricsRegistry* metrics,
                                                       Publish publish) {
  auto db = std::make_unique<store::SqliteDb>();
  store::SqliteSchema schema;
  schema.synchronous_full = false;  // a lost last write is rewritten with the next change
  schema.sql = "CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY, doc TEXT NOT NULL);";
  DOPPEL_RETURN_IF_ERROR(db->Open(
      path, schema,
      {"INSERT OR REPLACE INTO alerts (id, doc) VALUES (?1, ?2)", "SELECT id, doc FROM alerts ORDER BY id"}));
  // Restore.
  auto stored = db->RunList<std::pair<int64_t, std::string>>(
      db->Get(kListAlerts),
      [](sqlite3_stmt* s) { return std::make_pair(sqlite3_column_int64(s, 0), store::ColumnText(s, 1)); },
      "read alerts");
  if (!stored.ok()) return stored.status();
  std::vector<analytics::Alert> rows;
  for (const auto& [id, doc] : *stored) {
    nlohmann::json j = nlohmann::json::parse(doc, nullptr, /*allow_exceptions=*/false);
    auto a = analytics::AlertFromJson(j, path + ": alert " + std::to_string(id));
    if (!a.ok()) {
      spdlog::warn("alerts: skipping a damaged row: {}", a.status().ToString());
      continue;
    }
    rows.push_back(std::move(*a));
  }
  std::unique_ptr<AlertCenter> c(new AlertCenter(std::move(db), metrics, std::move(publish)));
  if (Status s = c->book_.Restore(rows); !s.ok()) return s;
  if (!rows.empty()) spdlog::info("alerts: restored {} alerts from {}", rows.size(), path);
  return c;
}

AlertCenter::AlertCenter(std::unique_ptr<store::SqliteDb> db, MetricsRegistry* metrics, Publish publish)
    : db_(std::move(db)),
      publish_(std::move(publish)),
      raised_(
          metrics->GetCounter("doppel_alerts_raised_total", "Alerts raised (not counting merged repeats)")),
      store_errors_(
          metrics->GetCounter("doppel_alert_store_errors_total", "Alert writes to SQLite that failed")) {}

AlertCenter::~AlertCenter() = default;

void AlertCenter::Persist(const analytics::Alert& a) {
  sqlite3_stmt* st = db_->Get(kPutAlert);
  sqlite3_bind_int64(st, 1, static_cast<int64_t>(a.id));
  store::BindText(st, 2, analytics::AlertToJson(a).dump());
  if (Status s = db_->RunWrite(st, "persist alert " + std::to_string(a.id)); !s.ok()) {
    store_errors_.Inc();
    spdlog::error("alerts: {}", s.ToString());
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
