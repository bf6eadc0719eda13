// What-if jobs (engine/whatif_jobs.h): background what-ifs with progress, cancellable, bounded.
#include "doppel/engine/whatif_jobs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "engine/pump_snapshot.h"

namespace doppel::engine {
namespace {

using testing::PumpSnapshot;

// A what-if that runs for seconds: 1000 samples over 5.5 h of 1 s steps (2·10⁷ RK4 steps, the
// work limit), with a budget long enough that only a cancel ends it early.
WhatIfRequest LongRequest() {
  WhatIfRequest r;
  r.horizon_s = 20000;
  r.step_s = 1;
  r.samples = 1000;
  r.budget_s = 60;
  return r;
}

WhatIfRequest ShortRequest() {
  WhatIfRequest r;
  r.horizon_s = 120;
  r.step_s = 1;
  r.samples = 20;
  r.overrides.inputs["speed_rpm"] = 1400;
  return r;
}

// Polls until `pred` holds for the job (a guard of 120 s against a hang, not a timing check).
template <typename Pred>
WhatIfJobView WaitFor(const WhatIfJobs& jobs, const std::string& id, Pred pred) {
  const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (;;) {
    auto v = jobs.Get(id);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    if (!v.ok() || pred(*v) || std::chrono::steady_clock::now() > guard) return v.ok() ? *v : WhatIfJobView{};
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

class WhatIfJobsTest : public ::testing::Test {
 protected:
  std::atomic<TimeNs> now_{1'000};
  WhatIfJobs::NowNs Clock() {
    return [this] { return now_.load(); };
  }
};

TEST_F(WhatIfJobsTest, FinishedJobHasTheSynchronousWhatIfsBands) {
  WhatIfJobs jobs({}, Clock());
  auto snap = PumpSnapshot("pump-1");
  auto started = jobs.Start(snap, ShortRequest(), "api:operator");
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_EQ(started->twin, "pump-1");
  EXPECT_EQ(started->owner, "api:operator");
  EXPECT_EQ(started->created_ns, 1'000);
  WhatIfJobView v = WaitFor(jobs, started->id, [](const WhatIfJobView& j) { return j.finished(); });
  ASSERT_EQ(v.state, WhatIfJobState::kDone) << v.error.ToString();
  EXPECT_DOUBLE_EQ(v.progress, 1.0);
  ASSERT_TRUE(v.result.has_value());
  auto direct = RunWhatIf(*snap, ShortRequest());
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(v.result->t, direct->t);
  ASSERT_EQ(v.result->scenarios.size(), 1u);
  const auto& a = v.result->scenarios[0].outputs;
  const auto& b = direct->scenarios[0].outputs;
  ASSERT_EQ(a.size(), b.size());
  for (size_t o = 0; o < a.size(); ++o) {
    EXPECT_EQ(a[o].first, b[o].first);
    EXPECT_EQ(a[o].second.p5, b[o].second.p5);  // the same seed: the same draws, bit for bit
    EXPECT_EQ(a[o].second.p50, b[o].second.p50);
    EXPECT_EQ(a[o].second.p95, b[o].second.p95);
  }
}

TEST_F(WhatIfJobsTest, CancelStopsARunningJobBeforeItsEnd) {
  WhatIfJobs jobs({}, Clock());
  auto started = jobs.Start(PumpSnapshot("pump-1"), LongRequest(), "api:operator");
  ASSERT_TRUE(started.ok());
  WhatIfJobView running = WaitFor(jobs, started->id, [](const WhatIfJobView& j) {
    return j.state == WhatIfJobState::kRunning && j.progress > 0;
  });
  ASSERT_EQ(running.state, WhatIfJobState::kRunning);
  now_ = 5'000;
  auto c = jobs.Cancel(started->id, "api:operator", false);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->has_value());
  EXPECT_TRUE((*c)->cancel_requested);
  WhatIfJobView v = WaitFor(jobs, started->id, [](const WhatIfJobView& j) { return j.finished(); });
  EXPECT_EQ(v.state, WhatIfJobState::kCancelled);
  EXPECT_EQ(v.error.code(), StatusCode::kCancelled);
  EXPECT_LT(v.progress, 1.0);
  EXPECT_GT(v.progress, 0.0);
  EXPECT_FALSE(v.result.has_value());
  EXPECT_EQ(v.finished_ns, 5'000);
}

TEST_F(WhatIfJobsTest, ProgressOfARunningJobOnlyGrows) {
  WhatIfJobs jobs({}, Clock());
  auto started = jobs.Start(PumpSnapshot("pump-1"), LongRequest(), "u");
  ASSERT_TRUE(started.ok());
  const double first =
      WaitFor(jobs, started->id, [](const WhatIfJobView& j) { return j.progress > 0; }).progress;
  ASSERT_GT(first, 0.0);
  double last = first;
  WaitFor(jobs, started->id, [&](const WhatIfJobView& j) {
    EXPECT_GE(j.progress, last);  // every poll: never backwards
    EXPECT_LE(j.progress, 1.0);
    last = j.progress;
    return j.progress > first;
  });
  EXPECT_GT(last, first);
  ASSERT_TRUE(jobs.Cancel(started->id, "u", false).ok());
}

TEST_F(WhatIfJobsTest, QueuedJobCancelledNeverStarts) {
  WhatIfJobs jobs({.workers = 1}, Clock());
  auto a = jobs.Start(PumpSnapshot("pump-1"), LongRequest(), "u");
  auto b = jobs.Start(PumpSnapshot("pump-2"), ShortRequest(), "u");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->state, WhatIfJobState::kQueued);
  auto c = jobs.Cancel(b->id, "u", false);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->state, WhatIfJobState::kCancelled);  // at once: it never ran
  auto v = jobs.Get(b->id);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->started_ns, 0);
  EXPECT_EQ(v->error.code(), StatusCode::kCancelled);
  ASSERT_TRUE(jobs.Cancel(a->id, "u", false).ok());
}

TEST_F(WhatIfJobsTest, FullQueueIsResourceExhaustedNamingTheLimit) {
  WhatIfJobs jobs({.workers = 1, .max_queued = 1}, Clock());
  auto a = jobs.Start(PumpSnapshot("pump-1"), LongRequest(), "u");
  ASSERT_TRUE(a.ok());
  WaitFor(jobs, a->id, [](const WhatIfJobView& j) { return j.state != WhatIfJobState::kQueued; });
  auto b = jobs.Start(PumpSnapshot("pump-1"), ShortRequest(), "u");
  ASSERT_TRUE(b.ok());
  auto c = jobs.Start(PumpSnapshot("pump-1"), ShortRequest(), "u");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(c.status().message().find("waiting"), std::string::npos) << c.status().message();
  ASSERT_TRUE(jobs.Cancel(b->id, "u", false).ok());
  ASSERT_TRUE(jobs.Cancel(a->id, "u", false).ok());
}

TEST_F(WhatIfJobsTest, OnlyTheOwnerOrAnAdminCancels) {
  WhatIfJobs jobs({}, Clock());
  auto a = jobs.Start(PumpSnapshot("pump-1"), LongRequest(), "api:alice");
  ASSERT_TRUE(a.ok());
  auto denied = jobs.Cancel(a->id, "api:bob", false);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  auto v = jobs.Get(a->id);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->cancel_requested);
  auto admin = jobs.Cancel(a->id, "api:root", true);
  ASSERT_TRUE(admin.ok());
  EXPECT_TRUE((*admin)->cancel_requested);
}

TEST_F(WhatIfJobsTest, CancelOfAFinishedJobForgetsIt) {
  WhatIfJobs jobs({}, Clock());
  auto a = jobs.Start(PumpSnapshot("pump-1"), ShortRequest(), "u");
  ASSERT_TRUE(a.ok());
  WaitFor(jobs, a->id, [](const WhatIfJobView& j) { return j.finished(); });
  auto c = jobs.Cancel(a->id, "u", false);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
  EXPECT_EQ(jobs.Get(a->id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(jobs.Cancel(a->id, "u", false).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(jobs.List().empty());
}

TEST_F(WhatIfJobsTest, FinishedJobsAreForgottenPastKeepSOrMaxFinished) {
  WhatIfJobs jobs({.max_finished = 2, .keep_s = 10}, Clock());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto a = jobs.Start(PumpSnapshot("pump-1"), ShortRequest(), "u");
    ASSERT_TRUE(a.ok());
    WaitFor(jobs, a->id, [](const WhatIfJobView& j) { return j.finished(); });
    ids.push_back(a->id);
  }
  EXPECT_EQ(jobs.Get(ids[0]).status().code(), StatusCode::kNotFound);  // over max_finished
  EXPECT_TRUE(jobs.Get(ids[1]).ok());
  auto list = jobs.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, ids[2]);  // newest first
  EXPECT_FALSE(list[0].result.has_value());
  now_ = 1'000 + 11'000'000'000;  // past keep_s
  EXPECT_EQ(jobs.Get(ids[1]).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(jobs.Get(ids[2]).status().code(), StatusCode::kNotFound);
}

TEST_F(WhatIfJobsTest, FailedJobKeepsItsReason) {
  WhatIfJobs jobs({}, Clock());
  WhatIfRequest r = LongRequest();
  r.budget_s = 0.05;  // far too little for 2·10⁷ RK4 steps
  auto a = jobs.Start(PumpSnapshot("pump-1"), r, "u");
  ASSERT_TRUE(a.ok());
  WhatIfJobView v = WaitFor(jobs, a->id, [](const WhatIfJobView& j) { return j.finished(); });
  EXPECT_EQ(v.state, WhatIfJobState::kFailed);
  EXPECT_EQ(v.error.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(v.error.message().find("budget"), std::string::npos) << v.error.message();
}

TEST_F(WhatIfJobsTest, DestructionCancelsWhatRunsAndWaits) {
  // Runs that end only when cancelled: without the destructor's cancel, reset() never returns
  // (and the test fails by its timeout).
  std::atomic<int> running{0}, stopped{0};
  WhatIfJobs::Runner until_cancelled = [&](const EstimateSnapshot&, const WhatIfRequest&,
                                           WhatIfControl* c) -> Result<WhatIfResult> {
    ++running;
    while (!c->cancel.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ++stopped;
    return Status(StatusCode::kCancelled, "cancelled");
  };
  auto jobs = std::make_unique<WhatIfJobs>(WhatIfJobsOptions{.workers = 2}, Clock(), until_cancelled);
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {  // the third waits for a worker
    auto a = jobs->Start(PumpSnapshot("pump-1"), ShortRequest(), "u");
    ASSERT_TRUE(a.ok());
    ids.push_back(a->id);
  }
  const auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (running.load() < 2 && std::chrono::steady_clock::now() < guard)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(running.load(), 2);
  EXPECT_EQ(jobs->Get(ids[2])->state, WhatIfJobState::kQueued);
  jobs.reset();
  EXPECT_EQ(stopped.load(), 2);  // both running ones were told to stop; the queued one never ran
  EXPECT_EQ(running.load(), 2);
}

TEST_F(WhatIfJobsTest, ExpiredJobsAreForgottenByReadersToo) {
  WhatIfJobs jobs({.keep_s = 10}, Clock());
  auto a = jobs.Start(PumpSnapshot("pump-1"), ShortRequest(), "u");
  ASSERT_TRUE(a.ok());
  WaitFor(jobs, a->id, [](const WhatIfJobView& j) { return j.finished(); });
  now_ = 1'000 + 10'000'000'001;  // just past keep_s after it finished (at 1'000)
  EXPECT_EQ(jobs.Get(a->id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(jobs.List().empty());
}

TEST_F(WhatIfJobsTest, OptionsNameTheBrokenRule) {
  EXPECT_NE(WhatIfJobsOptions{.workers = 0}.Validate().message().find("workers"), std::string::npos);
  EXPECT_NE(WhatIfJobsOptions{.max_queued = 0}.Validate().message().find("max_queued"), std::string::npos);
  EXPECT_NE(WhatIfJobsOptions{.max_finished = 0}.Validate().message().find("max_finished"),
            std::string::npos);
  EXPECT_NE(WhatIfJobsOptions{.keep_s = 0}.Validate().message().find("keep_s"), std::string::npos);
  EXPECT_TRUE(WhatIfJobsOptions{}.Validate().ok());
  EXPECT_THROW(WhatIfJobs(WhatIfJobsOptions{.workers = 0}, Clock()), std::invalid_argument);
}

TEST(WhatIfControlTest, CancelledRunIsCancelledNotAnError) {
  WhatIfControl control;
  control.cancel = true;
  WhatIfRequest r = ShortRequest();
  r.horizon_s = 600;
  auto res = RunWhatIf(*PumpSnapshot("pump-1"), r, &control);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.status().code(), StatusCode::kCancelled);
  EXPECT_LT(control.progress.load(), 1.0);
  WhatIfControl fresh;
  ASSERT_TRUE(RunWhatIf(*PumpSnapshot("pump-1"), r, &fresh).ok());
  EXPECT_DOUBLE_EQ(fresh.progress.load(), 1.0);
}

}  // namespace
}  // namespace doppel::engine
