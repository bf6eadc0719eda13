// Logging helpers on spdlog. RateLimiter keeps a storm of bad input from flooding the log:
// at most one line per interval, with the number of suppressed ones.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace doppel {

class RateLimiter {
 public:
  explicit RateLimiter(std::chrono::milliseconds interval = std::chrono::seconds(1)) : interval_(interval) {}
  // True when a line may be logged now; `suppressed` receives the count skipped since the last.
  bool Allow(uint64_t* suppressed) {
    int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    int64_t last = last_.load(std::memory_order_relaxed);
    if (now - last < std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval_).count() ||
        !last_.compare_exchange_strong(last, now)) {
      skipped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    *suppressed = skipped_.exchange(0);
    return true;
  }

 private:
  std::chrono::milliseconds interval_;
  std::atomic<int64_t> last_{INT64_MIN / 2};
  std::atomic<uint64_t> skipped_{0};
};

}  // namespace doppel
