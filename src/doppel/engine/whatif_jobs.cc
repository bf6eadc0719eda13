#include "doppel/engine/whatif_jobs.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "doppel/engine/behavior.h"

namespace doppel::engine {

const char* WhatIfJobStateName(WhatIfJobState state) {
  switch (state) {
    case WhatIfJobState::kQueued: return "queued";
    case WhatIfJobState::kRunning: return "running";
    case WhatIfJobState::kDone: return "done";
    case WhatIfJobState::kFailed: return "failed";
    case WhatIfJobState::kCancelled: return "cancelled";
  }
  return "unknown";
}

Status WhatIfJobsOptions::Validate() const {
  if (workers < 1 || workers > 16) return InvalidArgument("whatif_jobs.workers: must be in 1..16");
  if (max_queued < 1) return InvalidArgument("whatif_jobs.max_queued: must be at least 1");
  if (max_finished < 1) return InvalidArgument("whatif_jobs.max_finished: must be at least 1");
  if (!(keep_s > 0)) return InvalidArgument("whatif_jobs.keep_s: must be > 0");
  return Status::Ok();
}

namespace {
Status UnknownJob(const std::string& id) {
  return NotFound("what-if job '" + id + "' is not known (finished jobs are kept for a while)");
}
}  // namespace

struct WhatIfJobs::Job {
  std::string id, twin, owner;
  std::shared_ptr<const EstimateSnapshot> snap;  // released when the job finishes
  WhatIfRequest req;
  WhatIfJobState state = WhatIfJobState::kQueued;
  WhatIfControl control;  // control.cancel: a cancel was asked for
  TimeNs created_ns = 0, started_ns = 0, finished_ns = 0;
  Status error;
  std::optional<WhatIfResult> result;
};

WhatIfJobs::WhatIfJobs(WhatIfJobsOptions options, NowNs now_ns, Runner runner)
    : opt_(options), now_ns_(std::move(now_ns)), runner_(runner ? std::move(runner) : Runner(RunWhatIf)) {
  if (Status s = opt_.Validate(); !s.ok()) throw std::invalid_argument(s.ToString());
  if (!now_ns_) throw std::invalid_argument("WhatIfJobs: now_ns must be set");
}

WhatIfJobs::~WhatIfJobs() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    for (auto& [id, job] : jobs_) job->control.cancel = true;  // running ones stop within 8 samples
  }
  work_.notify_all();
  for (std::thread& t : workers_) t.join();
}

WhatIfJobView WhatIfJobs::View(const Job& job, bool with_result) {
  WhatIfJobView v;
  v.id = job.id;
  v.twin = job.twin;
  v.owner = job.owner;
  v.state = job.state;
  v.progress =
      job.state == WhatIfJobState::kDone ? 1.0 : job.control.progress.load(std::memory_order_relaxed);
  v.cancel_requested = job.control.cancel.load(std::memory_order_relaxed);
  v.created_ns = job.created_ns;
  v.started_ns = job.started_ns;
  v.finished_ns = job.finished_ns;
  v.error = job.error;
  if (with_result) v.result = job.result;
  return v;
}

Result<WhatIfJobView> WhatIfJobs::Start(std::shared_ptr<const EstimateSnapshot> snap, WhatIfRequest req,
                                        std::string owner) {
  if (snap == nullptr) throw std::invalid_argument("WhatIfJobs::Start: snapshot must not be null");
  std::lock_guard lk(mu_);
  const TimeNs now = now_ns_();
  Forget(now);
  if (stopping_) return Status(StatusCode::kUnavailable, "what-if jobs: the server is stopping");
  if (queue_.size() >= opt_.max_queued) {
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("what-if jobs: {} are waiting already (the limit); wait for one to finish "
                              "or cancel one",
                              queue_.size()));
  }
  auto job = std::make_shared<Job>();
  job->id = fmt::format("w-{:06d}-{:08x}", ++seq_, static_cast<uint32_t>(rng_()));
  job->twin = snap->twin;
  job->owner = std::move(owner);
  job->snap = std::move(snap);
  job->req = std::move(req);
  job->created_ns = now;
  jobs_.emplace(job->id, job);
  queue_.push_back(job);
  if (workers_.empty()) {
    for (int i = 0; i < opt_.workers; ++i) workers_.emplace_back([this] { Work(); });
  }
  work_.notify_one();
  return View(*job, false);
}

void WhatIfJobs::Work() {
  std::unique_lock lk(mu_);
  for (;;) {
    work_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    job->state = WhatIfJobState::kRunning;
    job->started_ns = now_ns_();
    lk.unlock();
    Result<WhatIfResult> r = runner_(*job->snap, job->req, &job->control);
    lk.lock();
    if (r.ok()) {
      Finish(*job, WhatIfJobState::kDone, Status::Ok(), std::move(r).value());
    } else if (r.status().code() == StatusCode::kCancelled) {
      Finish(*job, WhatIfJobState::kCancelled, r.status(), std::nullopt);
    } else {
      Finish(*job, WhatIfJobState::kFailed, r.status(), std::nullopt);
    }
  }
}

void WhatIfJobs::Finish(Job& job, WhatIfJobState state, Status error, std::optional<WhatIfResult> result) {
  job.state = state;
  job.finished_ns = now_ns_();
  job.error = std::move(error);
  job.result = std::move(result);
  job.snap.reset();
  finished_.push_back(job.id);
  Forget(job.finished_ns);
}

void WhatIfJobs::Forget(TimeNs now) const {
  const auto keep_ns = static_cast<TimeNs>(opt_.keep_s * 1e9);
  while (!finished_.empty()) {
    auto it = jobs_.find(finished_.front());
    const bool expired = it != jobs_.end() && now - it->second->finished_ns > keep_ns;
    if (it != jobs_.end() && finished_.size() <= opt_.max_finished && !expired) break;
    if (it != jobs_.end()) jobs_.erase(it);
    finished_.pop_front();
  }
}

Result<WhatIfJobView> WhatIfJobs::Get(const std::string& id) const {
  std::lock_guard lk(mu_);
  Forget(now_ns_());
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return UnknownJob(id);
  return View(*it->second, true);
}

std::vector<WhatIfJobView> WhatIfJobs::List() const {
  std::lock_guard lk(mu_);
  Forget(now_ns_());
  std::vector<WhatIfJobView> out;
  out.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) out.push_back(View(*job, false));
  std::sort(out.begin(), out.end(), [](const WhatIfJobView& a, const WhatIfJobView& b) {
    return a.created_ns != b.created_ns ? a.created_ns > b.created_ns : a.id > b.id;
  });
  return out;
}

Result<std::optional<WhatIfJobView>> WhatIfJobs::Cancel(const std::string& id, const std::string& principal,
                                                        bool is_admin) {
  std::lock_guard lk(mu_);
  Forget(now_ns_());
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return UnknownJob(id);
  const std::shared_ptr<Job> held = it->second;  // Finish below may forget older jobs
  Job& job = *held;
  if (!is_admin && job.owner != principal) {
    return Status(
        StatusCode::kPermissionDenied,
        "what-if job '" + id + "' was started by another user; only they or an admin may cancel it");
  }
  if (job.state >= WhatIfJobState::kDone) {  // finished: forget it
    finished_.erase(std::remove(finished_.begin(), finished_.end(), id), finished_.end());
    jobs_.erase(it);
    return std::optional<WhatIfJobView>();
  }
  job.control.cancel = true;
  if (job.state == WhatIfJobState::kQueued) {
    queue_.erase(std::remove(queue_.begin(), queue_.end(), held), queue_.end());
    Finish(job, WhatIfJobState::kCancelled,
           Status(StatusCode::kCancelled, "what-if cancelled before it started"), std::nullopt);
  }
  return std::optional<WhatIfJobView>(View(job, false));
}

}  // namespace doppel::engine
