// Remaining useful life of a pump from the trend of its estimated wear (docs/analytics.md,
// "Pump RUL from the wear trend").
//
// WearPrognosis is a plain single-threaded object; time is passed in (source time, ns). It is fed
// the estimator's wear estimates (t, wear, wear_std) in time order, averages them into bins of
// `bin_s` source seconds and keeps the bins of the last `window_h` hours (bounded: at most
// window_h * 3600 / bin_s + 1 points). Fit() fits the wear growth by weighted least squares,
// linear in time:
//
//   w(t) = level + rate * (t - t_last)        weights 1 / max(std_i, std_floor)^2
//
// Linear because the plant's wear law is (docs/plant.md: dw_i/dt = r_i (n/n0)^3 (1 + c_cav sev), a
// constant rate at a given duty, modulated by the daily demand cycle and raised by cavitation;
// nothing in it compounds, so an exponential fit would extrapolate a curvature that is not there).
// The parameter covariance (X'WX)^-1 is scaled by max(1, chi^2/dof) (the residual scatter when the
// stated stds are too small, e.g. the daily duty cycle) and by (1 + rho) / (1 - rho), rho the lag-1
// autocorrelation of the residuals (bias-corrected, clamped to [0, 0.9]; filtered estimates are correlated:
// this is the AR(1) effective-sample-size correction). The level's variance also gets the latest estimate's
// own variance (a shared offset of the estimates, which no fit of them can see).
//
// PredictRul() turns fits into a remaining useful life in hours: the point estimate is the time the
// fitted line reaches `threshold` ((threshold - level) / rate); the band p5..p95 is Monte Carlo over
// the fit's distribution (level, rate jointly Student-t with the fit's effective degrees of freedom,
// since the scale is estimated from few effectively independent residuals; `samples` draws from a
// fixed seed, so the same input gives the same band): each draw's crossing time, 0 when already past the
// threshold, +inf when its rate is <= 0. Several components (impeller, bearing) give the first crossing: per
// draw the minimum over components (independent draws), the point estimate the earliest component's.
// Everything is capped at `horizon_h`: a RUL or quantile beyond it (or a wear that is not
// increasing) is reported as horizon_h with `capped` set. Not enough data is no RUL (an error),
// never a made-up number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

struct WearPrognosisOptions {
  double threshold = 0.6;   // wear at end of life (impeller: 18 % head and 15 % efficiency lost)
  double window_h = 24;     // source hours of binned estimates kept (one daily demand cycle)
  double bin_s = 300;       // estimates are averaged over this many source seconds per point
  double min_span_h = 1;    // no fit before the kept points span this long
  size_t min_points = 8;    // nor with fewer points
  double std_floor = 1e-4;  // floor of a point's std in the weights (an exact estimate has std 0)
  double horizon_h = 2000;  // RULs and quantiles beyond this are reported as horizon_h, capped
  int samples = 2000;       // Monte Carlo draws for the band
  uint64_t seed = 1;        // of the draws
  // Estimates with a larger std are skipped (an estimator that has not converged yet).
  double max_std = 0.05;
  // An estimate this far below the previous one restarts the prognosis (wear does not heal: a part
  // was replaced, or the estimator restarted).
  double reset_drop = 0.05;
  // Names the first broken rule: threshold in (0, 1]; window_h, bin_s, min_span_h > 0, finite;
  // min_span_h <= window_h; bin_s <= window_h * 3600 / 2; min_points >= 3; std_floor > 0;
  // horizon_h > 0 and finite; samples in [100, 1000000]; max_std > 0; reset_drop > 0.
  Status Validate() const;
};

// The fitted trend of one wear signal at its latest point.
struct WearFit {
  TimeNs t_ns = 0;        // time of the latest estimate (the fit's origin)
  double threshold = 0;   // end-of-life wear
  double level = 0;       // fitted wear at t_ns
  double rate_per_h = 0;  // fitted growth, wear per hour
  double var_level = 0;   // fit variance of the level + the latest estimate's variance
  double var_rate = 0;    // (per h)^2
  double cov = 0;         // covariance of level and rate
  size_t points = 0;      // bins in the fit
  double span_h = 0;      // first to last bin
  double chi2_dof = 0;    // weighted residual chi^2 per degree of freedom
  double rho = 0;         // lag-1 autocorrelation of the residuals used (clamped to [0, 0.9])
  // Degrees of freedom of the scale: n (1 - rho) / (1 + rho) - 2 effective points, at least 1. The
  // band draws (level, rate) from a multivariate t with these dof (the variance is estimated from
  // the residuals); 0: Gaussian.
  double dof = 0;
};

struct RulEstimate {
  TimeNs t_ns = 0;      // the time the RUL counts from
  double rul_h = 0;     // point estimate, in [0, horizon_h]
  double p5_h = 0;      // 5th percentile, <= rul_h
  double p95_h = 0;     // 95th percentile, >= rul_h
  bool capped = false;  // rul_h is horizon_h: the fitted wear does not reach the threshold within it
  int component = 0;    // index of the fit whose point estimate is the earliest
};

class WearPrognosis {
 public:
  // Options must be valid (Validate()); invalid options throw std::invalid_argument (API misuse).
  explicit WearPrognosis(WearPrognosisOptions options);

  // One estimate. InvalidArgument (naming the value) for a non-finite wear, a negative or
  // non-finite std, or a time before the last one; the estimate is then ignored. Returns whether a
  // bin closed (a new point entered the window: a new Fit() may differ). An estimate with std above
  // max_std is skipped (false); one reset_drop below the previous estimate clears the window first.
  Result<bool> Add(TimeNs t_ns, double wear, double wear_std);

  // The trend over the window. FailedPrecondition ("not enough data: ...") with fewer than
  // min_points bins or a span below min_span_h. The bin still being filled is not used, the latest
  // estimate is (its std in var_level, its time as the origin).
  Result<WearFit> Fit() const;
  // PredictRul({Fit()}, options).
  Result<RulEstimate> Rul() const;

  size_t points() const { return points_.size(); }
  uint64_t resets() const { return resets_; }  // restarts by reset_drop
  const WearPrognosisOptions& options() const { return options_; }
  void Reset();

 private:
  struct Point {
    double t_h;  // hours since origin_ns_
    double wear, std;
  };
  WearPrognosisOptions options_;
  TimeNs origin_ns_ = 0;  // the first estimate's time
  bool started_ = false;
  std::deque<Point> points_;
  // The open bin.
  TimeNs bin_start_ns_ = 0, last_ns_ = 0;
  double bin_t_sum_ = 0, bin_w_sum_ = 0, bin_s_sum_ = 0;
  size_t bin_n_ = 0;
  double last_wear_ = 0, last_std_ = 0;
  uint64_t resets_ = 0;
};

// The engine's live pump RUL (docs/analytics.md): one WearPrognosis per estimated wear of a pump
// twin (impeller, bearing), combined by PredictRul (the first threshold reached). On by default for
// every twin whose estimator has those entries. Serve config: `analytics: {wear_rul: {...}}`.
struct WearRulOptions {
  bool enabled = true;
  WearPrognosisOptions fit;         // window, bins, band, horizon; fit.threshold is set per component
  double impeller_threshold = 0.6;  // 18 % head and 15 % efficiency lost (docs/analytics.md)
  double bearing_threshold = 0.5;   // vibration 3x a new bearing's: 5.4 mm/s at rated speed
  // Names the broken rule: thresholds in (0, 1], fit valid.
  Status Validate() const;
};
// Parses the `analytics.wear_rul` mapping (YAML text): enabled, impeller_threshold,
// bearing_threshold, window_h, bin_s, min_span_h, min_points, horizon_h, samples. Errors name
// `where` and the key ("analytics.wear_rul.window_h: expected a number"); unknown keys are errors.
Result<WearRulOptions> ParseWearRulConfigYaml(const std::string& yaml_text, const std::string& where);

// RUL from one or more components' fits (first threshold reached), band by Monte Carlo.
// InvalidArgument for no fits or non-finite fit values; options as WearPrognosisOptions (only
// horizon_h, samples and seed are used).
Result<RulEstimate> PredictRul(const std::vector<WearFit>& fits, const WearPrognosisOptions& options);

}  // namespace doppel::analytics
