#include "doppel/core/metrics.h"

#include <fmt/format.h>

namespace doppel {

void Gauge::Add(double d) {
  double cur = v_.load(std::memory_order_relaxed);
  while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::vector<double> Histogram::LatencyBuckets() {
  return {1e-6, 2.5e-6, 5e-6,   1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3,
          5e-3, 1e-2,   2.5e-2, 5e-2, 0.1,    0.25, 0.5,  1,      2.5,  5,    10};
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const std::string& labels) {
  std::lock_guard lk(mu_);
  Family& f = families_[name];
  f.type = "counter";
  f.help = help;
  auto& p = f.counters[labels];
  if (!p) p = std::make_unique<Counter>();
  return *p;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const std::string& labels) {
  std::lock_guard lk(mu_);
  Family& f = families_[name];
  f.type = "gauge";
  f.help = help;
  auto& p = f.gauges[labels];
  if (!p) p = std::make_unique<Gauge>();
  return *p;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::string& labels, std::vector<double> bounds) {
  std::lock_guard lk(mu_);
  Family& f = families_[name];
  f.type = "histogram";
  f.help = help;
  auto& p = f.histograms[labels];
  if (!p) p = std::make_unique<Histogram>(std::move(bounds));
  return *p;
}

namespace {
std::string Braced(const std::string& labels) { return labels.empty() ? "" : "{" + labels + "}"; }
std::string WithLe(const std::string& labels, const std::string& le) {
  return "{" + (labels.empty() ? "" : labels + ",") + "le=\"" + le + "\"}";
}
}  // namespace

std::string MetricsRegistry::RenderPrometheus() const {
  std::lock_guard lk(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, f.help, name, f.type);
    for (const auto& [l, c] : f.counters) out += fmt::format("{}{} {}\n", name, Braced(l), c->Value());
    for (const auto& [l, g] : f.gauges) out += fmt::format("{}{} {}\n", name, Braced(l), g->Value());
    for (const auto& [l, h] : f.histograms) {
      uint64_t cum = 0;
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        cum += h->BucketCount(i);
        out += fmt::format("{}_bucket{} {}\n", name, WithLe(l, fmt::format("{}", h->bounds()[i])), cum);
      }
      cum += h->BucketCount(h->bounds().size());
      out += fmt::format("{}_bucket{} {}\n", name, WithLe(l, "+Inf"), cum);
      out +=
          fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, Braced(l), h->Sum(), name, Braced(l), h->Count());
    }
  }
  return out;
}

}  // namespace doppel
