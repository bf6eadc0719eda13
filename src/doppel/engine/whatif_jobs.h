// What-if jobs: what-ifs run in the background, with progress, that their caller can cancel
// (POST /api/v1/twins/{id}/whatif/jobs; docs/api.md "What-if jobs").
//
// A job holds the estimate snapshot it was started from and the request, already checked
// (ValidateWhatIf). Jobs run on the registry's worker threads, one what-if per worker
// (Options::workers, started with the first job), the rest wait in order (at most
// Options::max_queued, beyond that Start is kResourceExhausted). A job is bounded like a
// synchronous what-if (its budget_s and the work limit: over the budget it fails with
// kDeadlineExceeded) and can be cancelled at any time: a queued job never starts, a running one
// stops within 8 samples of its current grid step (RunWhatIf's WhatIfControl).
//
// Finished jobs (done, failed, cancelled) are kept with their result for Options::keep_s, and
// at most Options::max_finished of them (the oldest go first); then they are forgotten (Get is
// kNotFound).
//
// Thread-safe. The destructor cancels what is queued or running and joins the workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/engine/service.h"

namespace doppel::engine {

struct EstimateSnapshot;  // behavior.h
struct WhatIfControl;     // behavior.h

struct WhatIfJobsOptions {
  int workers = 1;           // what-ifs that run at once (threads), 1..16
  size_t max_queued = 16;    // jobs waiting for a worker, ≥ 1
  size_t max_finished = 64;  // finished jobs kept, ≥ 1
  double keep_s = 600;       // how long a finished job is kept, > 0
  Status Validate() const;   // kInvalidArgument naming the broken rule
};

class WhatIfJobs {
 public:
  using NowNs = std::function<TimeNs()>;  // wall clock for the job's times (tests pass a fake)
  // What a worker runs for a job: RunWhatIf by default (tests pass one that blocks until
  // cancelled). Must honour control->cancel (return kCancelled) and may publish progress.
  using Runner =
      std::function<Result<WhatIfResult>(const EstimateSnapshot&, const WhatIfRequest&, WhatIfControl*)>;

  // Options must be valid (Validate): API misuse otherwise (std::invalid_argument).
  WhatIfJobs(WhatIfJobsOptions options, NowNs now_ns, Runner runner = nullptr);
  ~WhatIfJobs();
  WhatIfJobs(const WhatIfJobs&) = delete;
  WhatIfJobs& operator=(const WhatIfJobs&) = delete;

  // Queues a what-if of `snap` (non-null; ValidateWhatIf(req) passed). -> the queued job.
  Result<WhatIfJobView> Start(std::shared_ptr<const EstimateSnapshot> snap, WhatIfRequest req,
                              std::string owner);
  Result<WhatIfJobView> Get(const std::string& id) const;  // kNotFound
  std::vector<WhatIfJobView> List() const;                 // newest first, without results
  // See Service::CancelWhatIfJob.
  Result<std::optional<WhatIfJobView>> Cancel(const std::string& id, const std::string& principal,
                                              bool is_admin);

 private:
  struct Job;
  void Work();
  void Finish(Job& job, WhatIfJobState state, Status error, std::optional<WhatIfResult> result);
  void Forget(TimeNs now) const;  // drops finished jobs past keep_s or max_finished (mu_ held)
  static WhatIfJobView View(const Job& job, bool with_result);

  const WhatIfJobsOptions opt_;
  const NowNs now_ns_;
  const Runner runner_;
  mutable std::mutex mu_;
  std::condition_variable work_;
  // Finished jobs are forgotten by readers too (Get, List): the bookkeeping is mutable.
  mutable std::map<std::string, std::shared_ptr<Job>> jobs_;  // by id
  std::deque<std::shared_ptr<Job>> queue_;                    // waiting, in order
  mutable std::deque<std::string> finished_;                  // ids, oldest first
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  uint64_t seq_ = 0;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace doppel::engine
