// Streaming anomaly detectors: online, bounded memory per signal, time passed in (no clocks).
//
// Each detector takes (time, value) rows in time order and returns an anomaly score in [0, 1].
// `EnsembleDetector` is the one the CLI and the NAB bench use: several cheap predictors
// (fast level, time-of-day and time-of-week profiles, slow level with CUSUM drift), each turned into a
// normalised prediction error, each error turned into a likelihood against its own recent
// distribution (HTM-style: how unusual is the short-term mean error given the long-term error
// distribution), combined, and followed by a refractory period so one event yields one alarm.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

// A fixed-capacity ring of doubles.
class Ring {
 public:
  explicit Ring(size_t capacity = 1) : buf_(capacity ? capacity : 1) {}
  void Push(double v) {
    buf_[head_] = v;
    head_ = (head_ + 1) % buf_.size();
    if (size_ < buf_.size()) ++size_;
  }
  size_t size() const { return size_; }
  size_t capacity() const { return buf_.size(); }
  // i = 0 is the newest.
  double Back(size_t i) const { return buf_[(head_ + buf_.size() - 1 - i) % buf_.size()]; }

 private:
  std::vector<double> buf_;
  size_t head_ = 0;
  size_t size_ = 0;
};

// Converts a stream of raw error values into a likelihood-based score in [0, 1]: the tail
// probability of the short-term mean of the errors under a Gaussian fitted to the errors of a
// long trailing window, mapped to a log scale (score 0.5 ~ 1e-5 tail probability).
class ErrorLikelihood {
 public:
  ErrorLikelihood(size_t long_window, size_t short_window);
  double Update(double error);

 private:
  Ring long_;
  Ring short_;
  double sum_ = 0, sum_sq_ = 0;  // over long_
  double short_sum_ = 0;
};

// Page-Hinkley/CUSUM on a standardised input: fires (returns true) when the cumulative
// deviation from the running mean exceeds `threshold` in either direction, then resets.
class Cusum {
 public:
  Cusum(double drift, double threshold) : drift_(drift), threshold_(threshold) {}
  // z: the standardised deviation of the newest value.
  bool Update(double z);
  double level() const { return std::max(pos_, neg_) / threshold_; }

 private:
  double drift_, threshold_;
  double pos_ = 0, neg_ = 0;
};

struct DetectorConfig {
  size_t warmup = 0;             // rows before any score is emitted (learning only); 0: NAB probation
  double fast_alpha = 0.5;       // fast level predictor
  double slow_alpha = 0.02;      // slow level predictor
  double scale_alpha = 0.005;    // error-scale tracking
  double seasonal_alpha = 0.15;  // per time-of-day bin
  size_t seasonal_bins = 96;     // bins per day (capped by the sampling interval)
  size_t likelihood_window = 1500;
  size_t likelihood_short = 10;
  size_t refractory = 0;  // rows silenced after an alarm (0: refractory_fraction of expected rows, else 50)
  double refractory_fraction = 0.01;
  size_t expected_rows = 0;  // a hint for `refractory`; 0: unknown
  double alarm_level = 0.5;  // score that starts a refractory period
  double cusum_drift = 0.5;
  double cusum_threshold = 25;
  double combine_max = 1.0;  // 1: max of components; 0: mean
  double w_fast = 1, w_seasonal = 1, w_slow = 1, w_cusum = 0;
  // Time-of-week profile (7 x the time-of-day bins, <= 2016), predictor like the seasonal one.
  double w_weekly = 0.8;
  // Contextual novelty: values quantised into `levels` over the running range; a row is novel
  // in proportion to the (lag, earlier level, current level) pairs never seen before.
  double w_novelty = 0.8;
  size_t levels = 14;
  size_t lags = 9;
  // A second, finer quantisation scale (0: off) with its own context set and weight.
  size_t levels2 = 0;
  double w_novelty2 = 0.8;
  // HTM-style likelihood of the novelty signal (tail probability of its short-term mean
  // under its long-run distribution), weighted as a separate component (0: off).
  double w_novelty_lik = 0;
  // A value beyond the seen range by more than this fraction of the range scores `w_range`.
  double range_margin = 0.02;
  double w_range = 1;

  // "key=value" overrides (bench tuning and the CLI); unknown keys are InvalidArgument.
  Status Set(const std::string& key_value);
};

class EnsembleDetector {
 public:
  explicit EnsembleDetector(DetectorConfig config = {});
  // Rows must come in non-decreasing time order.
  double Update(TimeNs t, double value);

 private:
  double Component(double err, double* scale, ErrorLikelihood* lik);
  // Fraction of (lag, earlier level, current level) contexts never seen; marks them seen.
  double Novelty(const Ring& history, int64_t q, uint64_t salt, std::vector<uint64_t>* seen);

  DetectorConfig c_;
  size_t n_ = 0;
  TimeNs prev_t_ = 0;
  double dt_s_ = 0;  // EW estimate of the sampling interval
  double fast_ = 0, slow_ = 0, slow_var_ = 0;
  double s_fast_ = 0, s_seasonal_ = 0, s_slow_ = 0;  // error scales
  std::vector<double> season_;
  std::vector<bool> season_seen_;
  std::vector<double> week_;
  std::vector<bool> week_seen_;
  double s_weekly_ = 0;
  ErrorLikelihood l_fast_, l_seasonal_, l_slow_, l_weekly_;
  Cusum cusum_;
  size_t silent_ = 0;
  double lo_ = 0, hi_ = 0;
  Ring levels_, levels2_;
  std::vector<uint64_t> seen_, seen2_;  // 2^20-bit sets of hashed context pairs (bounded)
  ErrorLikelihood l_novel_;
};

}  // namespace doppel::analytics
