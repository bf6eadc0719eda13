// Cross-entropy method (Rubinstein; de Boer et al. 2005) for maximizing a black-box score over a
// box of real parameters: sample a Gaussian population (diagonal covariance, clipped to the
// box), keep the `elites` best, refit mean and standard deviation to them (smoothed, with a
// decaying noise floor), repeat.
// Deterministic for a seed; each score is evaluated exactly once per sample.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::control {

struct CemOptions {
  int iterations = 12;
  int population = 16;
  int elites = 4;
  double smoothing = 0.3;          // new = smoothing·old + (1 − smoothing)·elite statistics
  double min_std_fraction = 0.01;  // std floor, as a fraction of the box width
  // Extra noise against premature collapse (Szita & Lőrincz 2006): std floor of this fraction of
  // the box width, decaying linearly to min_std_fraction over the iterations.
  double extra_std_fraction = 0.1;
  uint64_t seed = 1;

  Status Validate() const;
};

struct CemSummary {
  std::vector<double> best_params;  // best sample ever seen
  double best_score = 0;
  std::vector<double> mean;                  // final distribution mean
  std::vector<double> iteration_best_score;  // per iteration
  std::vector<double> iteration_mean_score;  // per iteration, over the population
  int evaluations = 0;
};

// Maximizes `score` over lower <= x <= upper starting from N(mean0, std0²). InvalidArgument
// for mismatched sizes, an empty box, or a non-finite start. Non-finite scores rank last.
Result<CemSummary> CrossEntropyMaximize(const std::function<double(const std::vector<double>&)>& score,
                                        std::vector<double> mean0, std::vector<double> std0,
                                        const std::vector<double>& lower, const std::vector<double>& upper,
                                        const CemOptions& options);

}  // namespace doppel::control
