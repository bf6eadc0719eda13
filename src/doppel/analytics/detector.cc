#include "doppel/analytics/detector.h"

#include <algorithm>
#include <cmath>

namespace doppel::analytics {

ErrorLikelihood::ErrorLikelihood(size_t long_window, size_t short_window)
    : long_(long_window), short_(short_window) {}

double ErrorLikelihood::Update(double e) {
  if (short_.size() == short_.capacity()) short_sum_ -= short_.Back(short_.capacity() - 1);
  short_.Push(e);
  short_sum_ += e;
  double score = 0;
  if (long_.size() >= 30) {
    double n = static_cast<double>(long_.size());
    double mean = sum_ / n;
    double var = std::max(sum_sq_ / n - mean * mean, 0.0);
    double sd = std::max(std::sqrt(var), 1e-3 + 0.05 * std::fabs(mean));
    double z = (short_sum_ / static_cast<double>(short_.size()) - mean) / sd;
    double tail = 0.5 * std::erfc(z / std::sqrt(2.0));  // P(Z > z)
    score = std::log(std::max(tail, 1e-10)) / std::log(1e-10);
    score = std::clamp(score, 0.0, 1.0);
  }
  if (long_.size() == long_.capacity()) {
    double old = long_.Back(long_.capacity() - 1);
    sum_ -= old;
    sum_sq_ -= old * old;
  }
  long_.Push(e);
  sum_ += e;
  sum_sq_ += e * e;
  return score;
}

bool Cusum::Update(double z) {
  pos_ = std::max(0.0, pos_ + z - drift_);
  neg_ = std::max(0.0, neg_ - z - drift_);
  if (pos_ > threshold_ || neg_ > threshold_) {
    pos_ = neg_ = 0;
    return true;
  }
  return false;
}

Status DetectorConfig::Set(const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos) return InvalidArgument("detector option '" + kv + "': expected key=value");
  std::string k = kv.substr(0, eq);
  char* end = nullptr;
  std::string vs = kv.substr(eq + 1);
  double v = std::strtod(vs.c_str(), &end);
  if (vs.empty() || *end != '\0' || !std::isfinite(v))
    return InvalidArgument("detector option '" + k + "': not a number: '" + vs + "'");
  auto sz = [&](size_t* dst) -> Status {
    if (v < 0 || v > 1e7) return InvalidArgument("detector option '" + k + "': out of range");
    *dst = static_cast<size_t>(v);
    return Status::Ok();
  };
  if (k == "warmup") return sz(&warmup);
  if (k == "fast_alpha")
    fast_alpha = v;
  else if (k == "slow_alpha")
    slow_alpha = v;
  else if (k == "scale_alpha")
    scale_alpha = v;
  else if (k == "seasonal_alpha")
    seasonal_alpha = v;
  else if (k == "seasonal_bins")
    return sz(&seasonal_bins);
  else if (k == "likelihood_window")
    return sz(&likelihood_window);
  else if (k == "likelihood_short")
    return sz(&likelihood_short);
  else if (k == "refractory")
    return sz(&refractory);
  else if (k == "refractory_fraction")
    refractory_fraction = v;
  else if (k == "expected_rows")
    return sz(&expected_rows);
  else if (k == "alarm_level")
    alarm_level = v;
  else if (k == "cusum_drift")
    cusum_drift = v;
  else if (k == "cusum_threshold")
    cusum_threshold = v;
  else if (k == "combine_max")
    combine_max = v;
  else if (k == "w_fast")
    w_fast = v;
  else if (k == "w_seasonal")
    w_seasonal = v;
  else if (k == "w_slow")
    w_slow = v;
  else if (k == "w_cusum")
    w_cusum = v;
  else if (k == "w_weekly")
    w_weekly = v;
  else if (k == "w_novelty")
    w_novelty = v;
  else if (k == "levels")
    return sz(&levels);
  else if (k == "lags")
    return sz(&lags);
  else if (k == "levels2")
    return sz(&levels2);
  else if (k == "w_novelty2")
    w_novelty2 = v;
  else if (k == "w_novelty_lik")
    w_novelty_lik = v;
  else if (k == "range_margin")
    range_margin = v;
  else if (k == "w_range")
    w_range = v;
  else
    return InvalidArgument("unknown detector option '" + k + "'");
  return Status::Ok();
}

EnsembleDetector::EnsembleDetector(DetectorConfig config)
    : c_(config),
      l_fast_(std::max<size_t>(c_.likelihood_window, 2), std::max<size_t>(c_.likelihood_short, 1)),
      l_seasonal_(std::max<size_t>(c_.likelihood_window, 2), std::max<size_t>(c_.likelihood_short, 1)),
      l_slow_(std::max<size_t>(c_.likelihood_window, 2), std::max<size_t>(c_.likelihood_short, 1)),
      l_weekly_(std::max<size_t>(c_.likelihood_window, 2), std::max<size_t>(c_.likelihood_short, 1)),
      cusum_(c_.cusum_drift, c_.cusum_threshold),
      levels_(std::clamp<size_t>(c_.lags, 1, 64)),
      levels2_(std::clamp<size_t>(c_.lags, 1, 64)),
      seen_((size_t{1} << 20) / 64, 0),
      seen2_(c_.levels2 > 0 ? (size_t{1} << 20) / 64 : 0, 0),
      l_novel_(std::max<size_t>(c_.likelihood_window, 2), std::max<size_t>(c_.likelihood_short, 1)) {
  c_.levels = std::clamp<size_t>(c_.levels, 2, 100000);
  if (c_.levels2 > 0) c_.levels2 = std::clamp<size_t>(c_.levels2, 2, 100000);
  c_.seasonal_bins = std::clamp<size_t>(c_.seasonal_bins, 1, 1440);
  season_.assign(c_.seasonal_bins, 0.0);
  season_seen_.assign(c_.seasonal_bins, false);
  if (c_.w_weekly > 0) {
    week_.assign(7 * c_.seasonal_bins, 0.0);
    week_seen_.assign(7 * c_.seasonal_bins, false);
  }
}

double EnsembleDetector::Component(double err, double* scale, ErrorLikelihood* lik) {
  double a = c_.scale_alpha;
  double s = *scale;
  double r = err / (s + 1e-9);
  *scale = (1 - a) * s + a * err;
  return lik->Update(std::min(r, 50.0));
}

double EnsembleDetector::Novelty(const Ring& history, int64_t q, uint64_t salt, std::vector<uint64_t>* seen) {
  if (history.size() == 0) return 0.0;
  size_t unseen = 0;
  for (size_t j = 0; j < history.size(); ++j) {
    uint64_t h = (static_cast<uint64_t>(j) * 0x9E3779B97F4A7C15ULL) ^
                 (static_cast<uint64_t>(history.Back(j)) * 0xC2B2AE3D27D4EB4FULL) ^
                 (static_cast<uint64_t>(q) * 0x165667B19E3779F9ULL) ^ salt;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    size_t bit = h & ((size_t{1} << 20) - 1);
    uint64_t mask = uint64_t{1} << (bit & 63);
    if (!((*seen)[bit >> 6] & mask)) {
      ++unseen;
      (*seen)[bit >> 6] |= mask;
    }
  }
  return static_cast<double>(unseen) / static_cast<double>(history.capacity());
}

double EnsembleDetector::Update(TimeNs t, double x) {
  if (!std::isfinite(x)) return 0.0;
  ++n_;
  if (n_ == 1) {
    fast_ = slow_ = x;
    lo_ = hi_ = x;
    prev_t_ = t;
    double init = std::max(std::fabs(x) * 0.01, 1e-6);
    s_fast_ = s_seasonal_ = s_slow_ = s_weekly_ = init;
    slow_var_ = init * init;
    return 0.0;
  }
  double dt = static_cast<double>(t - prev_t_) / 1e9;
  prev_t_ = t;
  if (dt > 0) dt_s_ = dt_s_ == 0 ? dt : 0.95 * dt_s_ + 0.05 * dt;

  // Seasonal (time-of-day) profile; bins no finer than the sampling interval.
  size_t bins = c_.seasonal_bins;
  if (dt_s_ > 0) bins = std::clamp<size_t>(static_cast<size_t>(86400.0 / dt_s_), 1, c_.seasonal_bins);
  double tod = std::fmod(static_cast<double>(t / kNsPerS), 86400.0);
  if (tod < 0) tod += 86400.0;
  size_t bin = std::min(bins - 1, static_cast<size_t>(tod / 86400.0 * static_cast<double>(bins)));

  // Prediction errors before updating the predictors.
  double e_fast = std::fabs(x - fast_);
  double seasonal_pred = season_seen_[bin] ? season_[bin] : slow_;
  double e_seasonal = std::fabs(x - seasonal_pred);
  double e_slow = std::fabs(x - slow_);
  double sd_slow = std::sqrt(slow_var_) + 1e-9;

  double c_fast = Component(e_fast, &s_fast_, &l_fast_);
  double c_seas = Component(e_seasonal, &s_seasonal_, &l_seasonal_);
  double c_slow = Component(e_slow, &s_slow_, &l_slow_);
  double c_week = 0;
  size_t wbin = 0;
  if (!week_.empty()) {
    double tow = std::fmod(static_cast<double>(t / kNsPerS), 7 * 86400.0);
    if (tow < 0) tow += 7 * 86400.0;
    wbin = std::min(7 * bins - 1, static_cast<size_t>(tow / 86400.0 * static_cast<double>(bins)));
    double week_pred = week_seen_[wbin] ? week_[wbin] : seasonal_pred;
    c_week = Component(std::fabs(x - week_pred), &s_weekly_, &l_weekly_);
  }
  bool drift = cusum_.Update((x - slow_) / sd_slow);
  double c_cusum = drift ? 1.0 : 0.0;

  // Update predictors.
  fast_ += c_.fast_alpha * (x - fast_);
  double d = x - slow_;
  slow_ += c_.slow_alpha * d;
  slow_var_ = (1 - c_.slow_alpha) * (slow_var_ + c_.slow_alpha * d * d);
  if (!season_seen_[bin]) {
    season_[bin] = x;
    season_seen_[bin] = true;
  } else {
    season_[bin] += c_.seasonal_alpha * (x - season_[bin]);
  }
  if (!week_.empty()) {
    if (!week_seen_[wbin]) {
      week_[wbin] = x;
      week_seen_[wbin] = true;
    } else {
      week_[wbin] += c_.seasonal_alpha * (x - week_[wbin]);
    }
  }

  // Range and contextual novelty.
  double range = hi_ - lo_;
  double c_range = 0;
  if (range > 0 && (x > hi_ + c_.range_margin * range || x < lo_ - c_.range_margin * range)) c_range = 1;
  lo_ = std::min(lo_, x);
  hi_ = std::max(hi_, x);
  range = hi_ - lo_;
  auto quantise = [&](size_t levels) -> int64_t {
    return range > 0 ? static_cast<int64_t>((x - lo_) / range * static_cast<double>(levels - 1) + 0.5) : 0;
  };
  int64_t q = quantise(c_.levels);
  double c_novel = Novelty(levels_, q, 0, &seen_);
  levels_.Push(static_cast<double>(q));
  double c_novel2 = 0;
  if (c_.levels2 > 0) {
    int64_t q2 = quantise(c_.levels2);
    c_novel2 = Novelty(levels2_, q2, 0x5851F42D4C957F2DULL, &seen2_);
    levels2_.Push(static_cast<double>(q2));
  }
  double c_novel_lik = c_.w_novelty_lik > 0 ? l_novel_.Update(std::max(c_novel, c_novel2)) : 0.0;

  double w2 = c_.levels2 > 0 ? c_.w_novelty2 : 0.0;
  double comps[9] = {c_.w_weekly * c_week, c_.w_fast * c_fast,   c_.w_seasonal * c_seas,
                     c_.w_slow * c_slow,   c_.w_cusum * c_cusum, c_.w_novelty * c_novel,
                     c_.w_range * c_range, w2 * c_novel2,        c_.w_novelty_lik * c_novel_lik};
  double mx = 0, sum = 0,
         wsum = c_.w_fast + c_.w_seasonal + c_.w_slow + c_.w_cusum + c_.w_novelty + c_.w_range + w2 +
                c_.w_novelty_lik + c_.w_weekly;
  for (double v : comps) {
    mx = std::max(mx, v);
    sum += v;
  }
  double score = c_.combine_max * mx + (1 - c_.combine_max) * (wsum > 0 ? sum / wsum : 0);
  score = std::clamp(score, 0.0, 1.0);

  if (n_ <= std::max<size_t>(c_.warmup, 30)) return 0.0;
  if (silent_ > 0) {
    --silent_;
    return 0.0;
  }
  if (score >= c_.alarm_level) {
    size_t r = c_.refractory;
    if (r == 0)
      r = c_.expected_rows > 0
              ? static_cast<size_t>(c_.refractory_fraction * static_cast<double>(c_.expected_rows))
              : 50;
    silent_ = r;
  }
  return score;
}

}  // namespace doppel::analytics
