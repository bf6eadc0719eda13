// Shard (shard.h), its live analytics on the shard thread: per-signal anomaly scores, the fused
// twin score (multivariate), alert rules and the pump RUL from the wear trend
// (docs/alerts.md, docs/analytics.md).
#include <algorithm>
#include <cmath>
#include <limits>

#include "doppel/engine/shard.h"

namespace doppel::engine {

namespace {
// The live detectors: the NAB-tuned ensemble without its silent period after an alarm, so a
// sustained anomaly keeps scoring high and the anomaly rules' min_duration_s/clear_score do the
// debouncing (tests/analytics/plant_detection_test.cc measures this configuration).
analytics::DetectorConfig LiveDetectorConfig() {
  analytics::DetectorConfig c;
  c.alarm_level = 1.01;
  return c;
}
}  // namespace

void Shard::Analyze(TwinState& ts, const Reading& r) {
  if (r.quality == Quality::kBad || !std::isfinite(r.value)) return;
  if (deps_.anomaly_detection) {
    auto it = ts.detectors.find(r.signal);
    if (it == ts.detectors.end()) {
      it = ts.detectors
               .emplace(r.signal, TwinState::Detector{analytics::EnsembleDetector(LiveDetectorConfig()),
                                                      INT64_MIN, 0.0, -1, "anomaly." + r.signal})
               .first;
    }
    TwinState::Detector& d = it->second;
    const double score = d.detector.Update(r.source_ts_ns, r.value);
    d.max_since_stored = std::max(d.max_since_stored, score);
    const std::string& name = d.series;
    SignalValue& v = ts.latest[name];
    if (r.source_ts_ns >= v.ts_ns) v = SignalValue{r.source_ts_ns, score, Quality::kGood};
    if (d.stored_ns == INT64_MIN || r.source_ts_ns - d.stored_ns >= kNsPerS) {
      est_series_.push_back(Reading{r.twin, name, r.source_ts_ns, d.max_since_stored, Quality::kGood});
      d.stored_ns = r.source_ts_ns;
      d.max_since_stored = 0;
    }
    if (evaluator_) evaluator_->ObserveAnomaly(r.twin, r.signal, r.source_ts_ns, score, &transitions_);
    MultivarAdd(ts, d, r, score);  // multivariate: the fused twin score
  }
  if (evaluator_) {
    evaluator_->Observe(r.twin, r.signal, r.source_ts_ns, r.value, &transitions_);
    // The live RUL (rul_monitor.h writes rul_h) feeds the rul_below rules.
    if (r.signal == "rul_h") evaluator_->ObserveRul(r.twin, r.source_ts_ns, r.value, &transitions_);
  }
}

// --- multivariate: the fused twin score (docs/analytics.md) ------------------------------------

namespace {
constexpr size_t kMultivarDiscoveryRows = 10;     // rows whose signals become the PCA channels
constexpr TimeNs kMultivarRowInterval = kNsPerS;  // at most one PCA row per second of source time
}  // namespace

void Shard::MultivarAdd(TwinState& ts, TwinState::Detector& d, const Reading& r, double score) {
  if (!ts.multivar) ts.multivar = std::make_unique<TwinState::Multivar>();
  TwinState::Multivar& m = *ts.multivar;
  if (m.open && r.source_ts_ns > m.row_ts) MultivarClose(ts, r.twin);
  m.open = true;
  m.row_ts = std::max(m.row_ts, r.source_ts_ns);
  m.univariate = std::max(m.univariate, score);
  if (d.mv_channel == -1) {
    if (m.rows >= kMultivarDiscoveryRows) {
      d.mv_channel = -2;  // first seen after the model's channels were fixed
    } else {
      d.mv_channel = static_cast<int>(m.names.size());
      m.names.push_back(r.signal);
      m.row.push_back(std::numeric_limits<double>::quiet_NaN());
    }
  }
  if (d.mv_channel >= 0) m.row[static_cast<size_t>(d.mv_channel)] = r.value;
}

void Shard::MultivarClose(TwinState& ts, const std::string& twin) {
  TwinState::Multivar& m = *ts.multivar;
  if (!m.open) return;
  m.open = false;
  ++m.rows;
  if (!m.pca && m.rows >= kMultivarDiscoveryRows && m.names.size() >= 2) {
    m.pca.emplace(m.names.size(), analytics::PcaDetectorOptions{});
  }
  if (m.pca && (m.scored_ts == INT64_MIN || m.row_ts - m.scored_ts >= kMultivarRowInterval)) {
    m.pca_score = m.pca->Update(m.row_ts, m.row);
    m.scored_ts = m.row_ts;
    std::fill(m.row.begin(), m.row.end(), std::numeric_limits<double>::quiet_NaN());
  }
  // The estimator steps on the rows too (applied when the next row starts, or at the batch end).
  if (ts.estimator && ts.estimator->updates() != m.nis_updates) {
    m.nis_updates = ts.estimator->updates();
    if (auto snap = ts.estimator->snapshot())
      m.nis_score = m.nis.Update(snap->stats.last_nis, snap->stats.last_dof);
  }
  const double fused = analytics::FuseAnomalyScores({m.univariate, m.pca_score, m.nis_score});
  m.univariate = 0;
  const bool pca = m.pca && m.pca->trained(), nis = ts.estimator != nullptr;
  auto latest = [&](const char* name, double v) {
    SignalValue& sv = ts.latest[name];
    if (m.row_ts >= sv.ts_ns) sv = SignalValue{m.row_ts, v, Quality::kGood};
  };
  latest("anomaly", fused);
  if (pca) latest("anomaly.pca", m.pca_score);
  if (nis) latest("anomaly.nis", m.nis_score);
  m.max_fused = std::max(m.max_fused, fused);
  m.max_pca = std::max(m.max_pca, m.pca_score);
  m.max_nis = std::max(m.max_nis, m.nis_score);
  if (m.stored_ns == INT64_MIN || m.row_ts - m.stored_ns >= kNsPerS) {
    est_series_.push_back(Reading{twin, "anomaly", m.row_ts, m.max_fused, Quality::kGood});
    if (pca) est_series_.push_back(Reading{twin, "anomaly.pca", m.row_ts, m.max_pca, Quality::kGood});
    if (nis) est_series_.push_back(Reading{twin, "anomaly.nis", m.row_ts, m.max_nis, Quality::kGood});
    m.stored_ns = m.row_ts;
    m.max_fused = m.max_pca = m.max_nis = 0;
  }
  // Rules on the twin-level score: signal "anomaly" (a rule's "*" includes it).
  if (evaluator_) evaluator_->ObserveAnomaly(twin, "anomaly", m.row_ts, fused, &transitions_);
}

// --- wear RUL: pump RUL from the estimated wear trend (docs/analytics.md) ----------------------

void Shard::UpdateWearRul(TwinState& ts, const std::string& twin, std::vector<StreamEvent>* events) {
  std::shared_ptr<const EstimateSnapshot> snap = ts.estimator->snapshot();
  if (!snap || snap->model == nullptr) return;
  if (!ts.wear_rul) {
    ts.wear_rul = std::make_unique<std::vector<std::pair<int, analytics::WearPrognosis>>>();
    const auto& names = snap->model->display_names();
    for (auto [name, threshold] : {std::pair{"impeller_wear", deps_.wear_rul.impeller_threshold},
                                   {"bearing_wear", deps_.wear_rul.bearing_threshold}}) {
      auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) continue;
      analytics::WearPrognosisOptions o = deps_.wear_rul.fit;
      o.threshold = threshold;
      ts.wear_rul->emplace_back(static_cast<int>(it - names.begin()), analytics::WearPrognosis(o));
    }
  }
  if (ts.wear_rul->empty()) return;
  bool closed = false;
  for (auto& [k, p] : *ts.wear_rul) {
    if (k >= snap->mean.size() || k >= snap->covariance.rows()) continue;
    auto r = p.Add(snap->ts_ns, snap->mean[k], std::sqrt(std::max(0.0, snap->covariance(k, k))));
    closed |= r.ok() && *r;
  }
  if (!closed) return;
  std::vector<analytics::WearFit> fits;
  for (auto& [k, p] : *ts.wear_rul) {
    if (auto f = p.Fit(); f.ok()) fits.push_back(*f);
  }
  if (fits.empty()) return;  // not enough data yet: no RUL rather than a made-up one
  auto rul = analytics::PredictRul(fits, deps_.wear_rul.fit);
  if (!rul.ok()) return;
  const std::pair<const char*, double> out[] = {
      {"rul_h", rul->rul_h}, {"rul_p5_h", rul->p5_h}, {"rul_p95_h", rul->p95_h}};
  for (auto [name, value] : out) {
    SignalValue& v = ts.latest[name];
    if (rul->t_ns >= v.ts_ns) v = SignalValue{rul->t_ns, value, Quality::kGood};
    est_series_.push_back(Reading{twin, name, rul->t_ns, value, Quality::kGood});
    if (events != nullptr) events->push_back(StreamEvent{twin, name, rul->t_ns, value, {}, {}});
    if (evaluator_) evaluator_->Observe(twin, name, rul->t_ns, value, &transitions_);
  }
  if (evaluator_) evaluator_->ObserveRul(twin, rul->t_ns, rul->rul_h, &transitions_);
}

}  // namespace doppel::engine
