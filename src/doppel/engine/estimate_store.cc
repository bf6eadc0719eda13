// Persisted twin estimates (estimate_store.h).
#include "doppel/engine/estimate_store.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "doppel/store/sqlite_db.h"

namespace doppel::engine {

namespace {

enum Statement { kUpsert, kList };

std::vector<std::string> Statements() {
  return {
      "INSERT INTO estimates (twin, model, ts_ns, names, mean, covariance) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
      "ON CONFLICT(twin) DO UPDATE SET model = ?2, ts_ns = ?3, names = ?4, mean = ?5, covariance = ?6",
      "SELECT twin, model, ts_ns, names, mean, covariance FROM estimates ORDER BY twin"};
}

struct Row {
  std::string twin, model;
  EstimateArrays text;
  TimeNs ts_ns = 0;
};

}  // namespace

EstimateArrays EncodeEstimateArrays(const SavedEstimate& e) {
  nlohmann::json names = e.names, mean = nlohmann::json::array(), cov = nlohmann::json::array();
  for (Eigen::Index i = 0; i < e.mean.size(); ++i) mean.push_back(e.mean[i]);
  for (Eigen::Index i = 0; i < e.covariance.rows(); ++i) {
    for (Eigen::Index j = 0; j < e.covariance.cols(); ++j) cov.push_back(e.covariance(i, j));
  }
  return {names.dump(), mean.dump(), cov.dump()};
}

Status DecodeEstimateArrays(const EstimateArrays& text, SavedEstimate* out) {
  const auto names = nlohmann::json::parse(text.names, nullptr, /*allow_exceptions=*/false);
  const auto mean = nlohmann::json::parse(text.mean, nullptr, false);
  const auto cov = nlohmann::json::parse(text.covariance, nullptr, false);
  if (!names.is_array()) return Corruption("names: not a JSON array");
  if (!mean.is_array()) return Corruption("mean: not a JSON array");
  if (!cov.is_array()) return Corruption("covariance: not a JSON array");
  const size_t n = names.size();
  if (mean.size() != n || cov.size() != n * n)
    return Corruption(
        fmt::format("{} names, {} mean entries, {} covariance entries", n, mean.size(), cov.size()));
  SavedEstimate e;
  e.mean.resize(static_cast<Eigen::Index>(n));
  e.covariance.resize(static_cast<Eigen::Index>(n), static_cast<Eigen::Index>(n));
  for (size_t i = 0; i < n; ++i) {
    if (!names[i].is_string()) return Corruption(fmt::format("names[{}] is not a string", i));
    e.names.push_back(names[i].get<std::string>());
    if (!mean[i].is_number() || !std::isfinite(mean[i].get<double>()))
      return Corruption(fmt::format("mean[{}] is not a finite number", i));
    e.mean[static_cast<Eigen::Index>(i)] = mean[i].get<double>();
    for (size_t j = 0; j < n; ++j) {
      const auto& c = cov[i * n + j];
      if (!c.is_number() || !std::isfinite(c.get<double>()))
        return Corruption(fmt::format("covariance[{}] is not a finite number", i * n + j));
      e.covariance(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = c.get<double>();
    }
  }
  out->names = std::move(e.names);
  out->mean = std::move(e.mean);
  out->covariance = std::move(e.covariance);
  return Status::Ok();
}

EstimateStore::~EstimateStore() = default;

Result<std::unique_ptr<EstimateStore>> EstimateStore::Open(const std::string& path) {
  auto db = std::make_unique<store::SqliteDb>();
  store::SqliteSchema schema;
  schema.version = kEstimatesSchemaVersion;
  schema.synchronous_full = false;  // a checkpoint of derived state: losing the last save costs a minute
  schema.sql =
      "CREATE TABLE IF NOT EXISTS estimates (twin TEXT PRIMARY KEY, model TEXT NOT NULL, ts_ns INTEGER NOT "
      "NULL, names TEXT NOT NULL, mean TEXT NOT NULL, covariance TEXT NOT NULL);";
  DOPPEL_RETURN_IF_ERROR(db->Open(path, schema, Statements()));
  std::unique_ptr<EstimateStore> s(new EstimateStore());
  s->db_ = std::move(db);
  return s;
}

Status EstimateStore::Save(const std::vector<SavedEstimate>& estimates) {
  for (const SavedEstimate& e : estimates) {
    const auto n = static_cast<Eigen::Index>(e.names.size());
    if (e.mean.size() != n || e.covariance.rows() != n || e.covariance.cols() != n)
      return InvalidArgument("estimate of '" + e.twin + "': sizes disagree with its names");
    if (!e.mean.allFinite() || !e.covariance.allFinite())
      return InvalidArgument("estimate of '" + e.twin + "': non-finite mean or covariance");
  }
  std::lock_guard lk(mu_);
  return db_->Transaction("save estimates", [&]() -> Status {
    for (const SavedEstimate& e : estimates) {
      const EstimateArrays text = EncodeEstimateArrays(e);
      sqlite3_stmt* s = db_->Get(kUpsert);
      store::BindText(s, 1, e.twin);
      store::BindText(s, 2, e.model);
      sqlite3_bind_int64(s, 3, e.ts_ns);
      store::BindText(s, 4, text.names);
      store::BindText(s, 5, text.mean);
      store::BindText(s, 6, text.covariance);
      DOPPEL_RETURN_IF_ERROR(db_->RunWrite(s, "save the estimate of '" + e.twin + "'"));
    }
    return Status::Ok();
  });
}

Result<std::vector<SavedEstimate>> EstimateStore::LoadAll(std::vector<std::string>* skipped) const {
  std::lock_guard lk(mu_);
  auto rows = db_->RunList<Row>(
      db_->Get(kList),
      [](sqlite3_stmt* s) {
        Row r;
        r.twin = store::ColumnText(s, 0);
        r.model = store::ColumnText(s, 1);
        r.ts_ns = sqlite3_column_int64(s, 2);
        r.text.names = store::ColumnText(s, 3);
        r.text.mean = store::ColumnText(s, 4);
        r.text.covariance = store::ColumnText(s, 5);
        return r;
      },
      "read the estimates");
  if (!rows.ok()) return rows.status();
  std::vector<SavedEstimate> out;
  for (const Row& r : *rows) {
    SavedEstimate e;
    e.twin = r.twin;
    e.model = r.model;
    e.ts_ns = r.ts_ns;
    if (Status st = DecodeEstimateArrays(r.text, &e); st.ok()) {
      out.push_back(std::move(e));
    } else if (skipped != nullptr) {
      skipped->push_back(fmt::format("{}: {}", r.twin, st.message()));
    }
  }
  return out;
}

}  // namespace doppel::engine
