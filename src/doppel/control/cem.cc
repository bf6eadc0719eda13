#include "doppel/control/cem.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "doppel/plant/station_model.h"

namespace doppel::control {
namespace {

// Portable normal draws (as the plant's: <random> distributions differ between libraries).
double Normal(std::mt19937_64& rng) {
  double u1 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  if (u1 < 1e-300) u1 = 1e-300;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

Status CemOptions::Validate() const {
  if (iterations < 1) return InvalidArgument("cem: iterations must be >= 1");
  if (population < 2) return InvalidArgument("cem: population must be >= 2");
  if (elites < 1 || elites > population) return InvalidArgument("cem: elites must be in 1..population");
  if (!(smoothing >= 0 && smoothing < 1)) return InvalidArgument("cem: smoothing must be in [0, 1)");
  if (!(min_std_fraction >= 0 && min_std_fraction < 1))
    return InvalidArgument("cem: min_std_fraction in [0, 1)");
  if (!(extra_std_fraction >= 0 && extra_std_fraction < 1)) {
    return InvalidArgument("cem: extra_std_fraction in [0, 1)");
  }
  return Status::Ok();
}

Result<CemSummary> CrossEntropyMaximize(const std::function<double(const std::vector<double>&)>& score,
                                        std::vector<double> mean, std::vector<double> sd,
                                        const std::vector<double>& lower, const std::vector<double>& upper,
                                        const CemOptions& o) {
  DOPPEL_RETURN_IF_ERROR(o.Validate());
  const size_t n = mean.size();
  if (n == 0 || sd.size() != n || lower.size() != n || upper.size() != n) {
    return InvalidArgument("cem: mean, std, lower and upper must have the same non-zero size");
  }
  for (size_t j = 0; j < n; ++j) {
    if (!(lower[j] < upper[j]) || !std::isfinite(mean[j]) || !(std::isfinite(sd[j]) && sd[j] > 0)) {
      return InvalidArgument("cem: need lower < upper, finite mean and std > 0 in every dimension");
    }
    mean[j] = std::clamp(mean[j], lower[j], upper[j]);
  }
  std::mt19937_64 rng(plant::DeriveSeed(o.seed, /*stream=*/40));
  CemSummary sum;
  sum.best_score = -std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> pop(static_cast<size_t>(o.population), std::vector<double>(n));
  std::vector<double> scores(static_cast<size_t>(o.population));
  std::vector<size_t> order(static_cast<size_t>(o.population));
  for (int it = 0; it < o.iterations; ++it) {
    double total = 0;
    for (size_t p = 0; p < pop.size(); ++p) {
      for (size_t j = 0; j < n; ++j) {
        // Sample 0 of each iteration is the current mean (keeps the estimate honest).
        const double v = p == 0 ? mean[j] : mean[j] + sd[j] * Normal(rng);
        pop[p][j] = std::clamp(v, lower[j], upper[j]);
      }
      double s = score(pop[p]);
      ++sum.evaluations;
      if (!std::isfinite(s)) s = -std::numeric_limits<double>::infinity();
      scores[p] = s;
      total += std::isfinite(s) ? s : 0;
      if (s > sum.best_score || sum.best_params.empty()) {
        sum.best_score = s;
        sum.best_params = pop[p];
      }
    }
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
    sum.iteration_best_score.push_back(scores[order[0]]);
    sum.iteration_mean_score.push_back(total / static_cast<double>(pop.size()));
    for (size_t j = 0; j < n; ++j) {
      double m = 0, v = 0;
      for (int e = 0; e < o.elites; ++e) m += pop[order[static_cast<size_t>(e)]][j];
      m /= o.elites;
      for (int e = 0; e < o.elites; ++e) {
        const double d = pop[order[static_cast<size_t>(e)]][j] - m;
        v += d * d;
      }
      const double s_el = std::sqrt(v / o.elites);
      mean[j] = o.smoothing * mean[j] + (1 - o.smoothing) * m;
      const double decay = 1.0 - static_cast<double>(it + 1) / o.iterations;
      const double floor = std::max(o.min_std_fraction, o.extra_std_fraction * decay) * (upper[j] - lower[j]);
      sd[j] = std::max(o.smoothing * sd[j] + (1 - o.smoothing) * s_el, floor);
    }
  }
  sum.mean = mean;
  return sum;
}

}  // namespace doppel::control
