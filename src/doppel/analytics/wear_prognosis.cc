#include "doppel/analytics/wear_prognosis.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>

namespace doppel::analytics {

namespace {

constexpr double kNsPerHour = 3600.0 * 1e9;
constexpr double kInf = std::numeric_limits<double>::infinity();

bool Finite(double v) { return std::isfinite(v); }

// Standard normal pairs by Box-Muller from 53-bit uniforms (no <random> distributions, so a seed
// gives the same band with any standard library).
class Normals {
 public:
  explicit Normals(uint64_t seed) : rng_(seed) {}
  double Next() {
    if (have_) {
      have_ = false;
      return spare_;
    }
    double u1 = Uniform(), u2 = Uniform();
    while (u1 <= 0) u1 = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(2 * std::numbers::pi * u2);
    have_ = true;
    return r * std::cos(2 * std::numbers::pi * u2);
  }

  double Uniform() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }
  // Gamma(shape, 1) by Marsaglia-Tsang (shape < 1 boosted by U^(1/shape)).
  double Gamma(double shape) {
    if (shape < 1) {
      double u = Uniform();
      while (u <= 0) u = Uniform();
      return Gamma(shape + 1) * std::pow(u, 1 / shape);
    }
    const double d = shape - 1.0 / 3, c = 1 / std::sqrt(9 * d);
    for (;;) {
      double x, v;
      do {
        x = Next();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const double u = Uniform();
      if (u > 0 && std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
    }
  }

 private:
  std::mt19937_64 rng_;
  double spare_ = 0;
  bool have_ = false;
};

// q-quantile of sorted values (inverse empirical CDF: the ceil(q n)-th value); +inf allowed.
double Quantile(const std::vector<double>& sorted, double q) {
  size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  k = std::clamp<size_t>(k, 1, sorted.size());
  return sorted[k - 1];
}

}  // namespace

Status WearPrognosisOptions::Validate() const {
  if (!(threshold > 0 && threshold <= 1))
    return InvalidArgument(fmt::format("threshold: {} must be in (0, 1]", threshold));
  if (!(Finite(window_h) && window_h > 0))
    return InvalidArgument(fmt::format("window_h: {} must be > 0", window_h));
  if (!(Finite(bin_s) && bin_s > 0)) return InvalidArgument(fmt::format("bin_s: {} must be > 0", bin_s));
  if (!(Finite(min_span_h) && min_span_h > 0)) {
    return InvalidArgument(fmt::format("min_span_h: {} must be > 0", min_span_h));
  }
  if (min_span_h > window_h) {
    return InvalidArgument(fmt::format("min_span_h: {} must be <= window_h ({})", min_span_h, window_h));
  }
  if (bin_s > window_h * 3600 / 2) {
    return InvalidArgument(
        fmt::format("bin_s: {} must be <= half the window ({} s)", bin_s, window_h * 1800));
  }
  if (min_points < 3) return InvalidArgument(fmt::format("min_points: {} must be >= 3", min_points));
  if (!(Finite(std_floor) && std_floor > 0)) {
    return InvalidArgument(fmt::format("std_floor: {} must be > 0", std_floor));
  }
  if (!(Finite(horizon_h) && horizon_h > 0)) {
    return InvalidArgument(fmt::format("horizon_h: {} must be > 0", horizon_h));
  }
  if (samples < 100 || samples > 1000000) {
    return InvalidArgument(fmt::format("samples: {} must be in [100, 1000000]", samples));
  }
  if (!(max_std > 0)) return InvalidArgument(fmt::format("max_std: {} must be > 0", max_std));
  if (!(reset_drop > 0)) return InvalidArgument(fmt::format("reset_drop: {} must be > 0", reset_drop));
  return Status::Ok();
}

WearPrognosis::WearPrognosis(WearPrognosisOptions options) : options_(options) {
  if (Status s = options_.Validate(); !s.ok()) {
    throw std::invalid_argument("WearPrognosisOptions: " + s.message());
  }
}

void WearPrognosis::Reset() {
  started_ = false;
  points_.clear();
  bin_n_ = 0;
  bin_t_sum_ = bin_w_sum_ = bin_s_sum_ = 0;
}

Result<bool> WearPrognosis::Add(TimeNs t_ns, double wear, double wear_std) {
  if (!Finite(wear)) return InvalidArgument(fmt::format("wear: {} is not finite", wear));
  if (!(Finite(wear_std) && wear_std >= 0)) {
    return InvalidArgument(fmt::format("wear_std: {} must be finite and >= 0", wear_std));
  }
  if (started_ && t_ns < last_ns_) {
    return InvalidArgument(fmt::format("time: {} ns is before the last estimate's {} ns", t_ns, last_ns_));
  }
  if (wear_std > options_.max_std) return false;
  if (started_ && wear < last_wear_ - options_.reset_drop) {
    Reset();
    ++resets_;
  }
  if (!started_) {
    started_ = true;
    origin_ns_ = t_ns;
    bin_start_ns_ = t_ns;
  }
  bool closed = false;
  const double bin_ns = options_.bin_s * 1e9;
  if (bin_n_ > 0 && static_cast<double>(t_ns - bin_start_ns_) >= bin_ns) {
    const double n = static_cast<double>(bin_n_);
    points_.push_back(Point{bin_t_sum_ / n, bin_w_sum_ / n, bin_s_sum_ / n});
    bin_n_ = 0;
    bin_t_sum_ = bin_w_sum_ = bin_s_sum_ = 0;
    bin_start_ns_ = t_ns;
    closed = true;
    const double newest = points_.back().t_h;
    while (!points_.empty() && points_.front().t_h < newest - options_.window_h) points_.pop_front();
  }
  bin_t_sum_ += static_cast<double>(t_ns - origin_ns_) / kNsPerHour;
  bin_w_sum_ += wear;
  bin_s_sum_ += wear_std;
  ++bin_n_;
  last_ns_ = t_ns;
  last_wear_ = wear;
  last_std_ = wear_std;
  return closed;
}

Result<WearFit> WearPrognosis::Fit() const {
  const size_t n = points_.size();
  const double span = n > 0 ? points_.back().t_h - points_.front().t_h : 0.0;
  if (n < options_.min_points || span < options_.min_span_h) {
    return FailedPrecondition(fmt::format("not enough data: {} points over {:.2f} h (need {} over {} h)", n,
                                          span, options_.min_points, options_.min_span_h));
  }
  const double t_last = static_cast<double>(last_ns_ - origin_ns_) / kNsPerHour;
  double S = 0, Sx = 0, Sxx = 0, Sy = 0, Sxy = 0;
  for (const Point& p : points_) {
    const double s = std::max(p.std, options_.std_floor);
    const double w = 1.0 / (s * s), x = p.t_h - t_last;
    S += w;
    Sx += w * x;
    Sxx += w * x * x;
    Sy += w * p.wear;
    Sxy += w * x * p.wear;
  }
  const double det = S * Sxx - Sx * Sx;
  if (!(det > 0)) return FailedPrecondition("not enough data: the points do not span any time");
  WearFit f;
  f.t_ns = last_ns_;
  f.threshold = options_.threshold;
  f.level = (Sxx * Sy - Sx * Sxy) / det;
  f.rate_per_h = (S * Sxy - Sx * Sy) / det;
  // Residuals, standardised by the weights: chi^2 and lag-1 autocorrelation.
  double chi2 = 0, lag = 0;
  double prev = 0;
  for (size_t i = 0; i < n; ++i) {
    const Point& p = points_[i];
    const double s = std::max(p.std, options_.std_floor);
    const double r = (p.wear - f.level - f.rate_per_h * (p.t_h - t_last)) / s;
    chi2 += r * r;
    if (i > 0) lag += r * prev;
    prev = r;
  }
  f.points = n;
  f.span_h = span;
  f.chi2_dof = chi2 / static_cast<double>(n - 2);
  // Lag-1 autocorrelation with the small-sample bias correction of an AR(1) fitted to detrended
  // data (the sample value is low by about (1 + 3 rho) / n).
  const double r1 = chi2 > 0 ? lag / chi2 : 0.0;
  f.rho = std::clamp(r1 + (1 + 3 * r1) / static_cast<double>(n), 0.0, 0.9);
  const double scale = std::max(1.0, f.chi2_dof) * (1 + f.rho) / (1 - f.rho);
  f.dof = std::max(1.0, static_cast<double>(n) * (1 - f.rho) / (1 + f.rho) - 2);
  f.var_level = Sxx / det * scale + last_std_ * last_std_;
  f.var_rate = S / det * scale;
  f.cov = -Sx / det * scale;
  return f;
}

Result<RulEstimate> WearPrognosis::Rul() const {
  auto f = Fit();
  if (!f.ok()) return f.status();
  return PredictRul({*f}, options_);
}

Result<RulEstimate> PredictRul(const std::vector<WearFit>& fits, const WearPrognosisOptions& options) {
  if (fits.empty()) return InvalidArgument("PredictRul: no fits");
  if (!(Finite(options.horizon_h) && options.horizon_h > 0) || options.samples < 1) {
    return InvalidArgument("PredictRul: horizon_h must be > 0 and samples >= 1");
  }
  TimeNs t = fits[0].t_ns;
  for (const WearFit& f : fits) t = std::max(t, f.t_ns);
  struct Dist {
    double level, rate, threshold, l11, l21, l22, dof;
  };
  std::vector<Dist> d;
  RulEstimate out;
  out.t_ns = t;
  double point = kInf;
  for (size_t k = 0; k < fits.size(); ++k) {
    const WearFit& f = fits[k];
    if (!(Finite(f.level) && Finite(f.rate_per_h) && Finite(f.var_level) && Finite(f.var_rate) &&
          Finite(f.cov) && f.var_level >= 0 && f.var_rate >= 0)) {
      return InvalidArgument(fmt::format("PredictRul: fit {} has a non-finite or negative value", k));
    }
    // Move the level to the common time.
    const double dt_h = static_cast<double>(t - f.t_ns) / kNsPerHour;
    const double level = f.level + f.rate_per_h * dt_h;
    const double var_level = f.var_level + 2 * dt_h * f.cov + dt_h * dt_h * f.var_rate;
    const double cov = f.cov + dt_h * f.var_rate;
    const double l11 = std::sqrt(std::max(0.0, var_level));
    const double l21 = l11 > 0 ? cov / l11 : 0.0;
    const double l22 = std::sqrt(std::max(0.0, f.var_rate - l21 * l21));
    d.push_back(Dist{level, f.rate_per_h, f.threshold, l11, l21, l22, std::isfinite(f.dof) ? f.dof : 0.0});
    const double tk = level >= f.threshold ? 0.0
                      : f.rate_per_h > 0   ? (f.threshold - level) / f.rate_per_h
                                           : kInf;
    if (tk < point) {
      point = tk;
      out.component = static_cast<int>(k);
    }
  }
  std::vector<double> times(static_cast<size_t>(options.samples), kInf);
  Normals normal(options.seed);
  for (double& ti : times) {
    for (const Dist& c : d) {
      // Multivariate t: the Gaussian draw over sqrt(chi^2_dof / dof).
      const double s = c.dof > 0 ? 1 / std::sqrt(2 * normal.Gamma(c.dof / 2) / c.dof) : 1.0;
      const double z1 = s * normal.Next(), z2 = s * normal.Next();
      const double level = c.level + c.l11 * z1;
      const double rate = c.rate + c.l21 * z1 + c.l22 * z2;
      const double tk = level >= c.threshold ? 0.0 : rate > 0 ? (c.threshold - level) / rate : kInf;
      ti = std::min(ti, tk);
    }
  }
  std::sort(times.begin(), times.end());
  const double h = options.horizon_h;
  out.capped = !(point < h);
  out.rul_h = std::min(point, h);
  out.p5_h = std::min({Quantile(times, 0.05), h, out.rul_h});
  out.p95_h = std::max(std::min(Quantile(times, 0.95), h), out.rul_h);
  return out;
}

Status WearRulOptions::Validate() const {
  for (auto [name, v] :
       {std::pair{"impeller_threshold", impeller_threshold}, {"bearing_threshold", bearing_threshold}}) {
    if (!(v > 0 && v <= 1)) return InvalidArgument(fmt::format("{}: {} must be in (0, 1]", name, v));
  }
  return fit.Validate();
}

Result<WearRulOptions> ParseWearRulConfigYaml(const std::string& yaml_text, const std::string& where) {
  YAML::Node n;
  try {
    n = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}: YAML: {}", where, e.what()));
  }
  WearRulOptions o;
  if (!n || n.IsNull()) return o;
  if (!n.IsMap()) return InvalidArgument(where + ": expected a mapping (docs/analytics.md)");
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>("");
    const YAML::Node& v = kv.second;
    const std::string at = where + "." + key;
    auto number = [&](double* out) -> Status {
      if (!v.IsScalar() || !YAML::convert<double>::decode(v, *out))
        return InvalidArgument(at + ": expected a number");
      return Status::Ok();
    };
    double x = 0;
    if (key == "enabled") {
      if (!v.IsScalar() || !YAML::convert<bool>::decode(v, o.enabled))
        return InvalidArgument(at + ": expected true or false");
    } else if (key == "impeller_threshold") {
      DOPPEL_RETURN_IF_ERROR(number(&o.impeller_threshold));
    } else if (key == "bearing_threshold") {
      DOPPEL_RETURN_IF_ERROR(number(&o.bearing_threshold));
    } else if (key == "window_h") {
      DOPPEL_RETURN_IF_ERROR(number(&o.fit.window_h));
    } else if (key == "bin_s") {
      DOPPEL_RETURN_IF_ERROR(number(&o.fit.bin_s));
    } else if (key == "min_span_h") {
      DOPPEL_RETURN_IF_ERROR(number(&o.fit.min_span_h));
    } else if (key == "horizon_h") {
      DOPPEL_RETURN_IF_ERROR(number(&o.fit.horizon_h));
    } else if (key == "min_points" || key == "samples") {
      DOPPEL_RETURN_IF_ERROR(number(&x));
      if (!(x >= 0 && x <= 1e7 && x == std::floor(x)))
        return InvalidArgument(at + ": expected a whole number");
      if (key == "min_points")
        o.fit.min_points = static_cast<size_t>(x);
      else
        o.fit.samples = static_cast<int>(x);
    } else {
      return InvalidArgument(at + ": unknown key (docs/analytics.md)");
    }
  }
  if (Status s = o.Validate(); !s.ok()) return InvalidArgument(where + "." + s.message());
  return o;
}

}  // namespace doppel::analytics
