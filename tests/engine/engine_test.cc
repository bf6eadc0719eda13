#include "doppel/engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "doppel/platform/env.h"
#include "testing/test_util.h"

namespace doppel::engine {
namespace {

const char* kPump = "dtmi:doppel:demo:Pump;1";
const char* kTank = "dtmi:doppel:demo:Tank;1";

struct Fixture {
  testing::TempDir dir;
  MetricsRegistry metrics;
  std::atomic<TimeNs> now{1'000'000'000'000};
  std::unique_ptr<Engine> engine;

  EngineOptions Options() {
    EngineOptions o;
    o.data_dir = dir.file("data");
    o.models_dir = testing::SourceDir() + "/examples/models";
    o.shards = 2;
    o.allowed_lateness_ns = 100 * kNsPerMs;
    o.command_timeout_ns = 500 * kNsPerMs;
    o.provision = {{"pump-*", kPump}, {"tank-*", kTank}};
    o.fsync = store::FsyncPolicy::kNever;
    o.now_ns = [this] { return now.load(); };
    return o;
  }
  void Open() {
    engine.reset();
    auto e = Engine::Open(Options(), &metrics, platform::DefaultEnv());
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine = std::move(e).value();
    ASSERT_TRUE(engine->Start().ok());
  }
  uint64_t Counter(const std::string& name) { return metrics.GetCounter(name, "").Value(); }
};

Reading R(const std::string& twin, const std::string& signal, TimeNs ts, double v) {
  return Reading{twin, signal, ts, v, Quality::kGood};
}

TEST(EngineTest, UnknownTwinIsProvisionedByTheFirstMatchingRule) {
  Fixture f;
  f.Open();
  ASSERT_TRUE(f.engine->Submit({R("pump-7", "flow_m3h", 10, 1.0)}).ok());
  auto t = f.engine->GetTwin("pump-7");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->model, kPump);
  Status s = f.engine->Submit({R("valve-1", "flow_m3h", 10, 1.0)});
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("valve-1"), std::string::npos);
}

TEST(EngineTest, UndeclaredSignalIsRefusedNamingTwinAndSignal) {
  Fixture f;
  f.Open();
  Status s = f.engine->Submit({R("pump-1", "flow_m3h", 10, 1.0), R("pump-1", "colour", 10, 2.0)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("colour"), std::string::npos);
  EXPECT_NE(s.message().find("pump-1"), std::string::npos);
}

// Validation tries the model's next content first (devices send signals in model order): any
// order must still be accepted, and a property or command named where the next telemetry would
// be must still be refused.
TEST(EngineTest, SignalsInAnyOrderAreAcceptedAndNonTelemetryContentsRefused) {
  Fixture f;
  f.Open();
  EXPECT_TRUE(
      f.engine
          ->Submit({R("pump-1", "vibration_mm_s", 10, 1.0), R("pump-1", "flow_m3h", 10, 2.0),
                    R("tank-1", "demand_m3h", 10, 3.0), R("tank-1", "level_m", 10, 4.0),
                    R("pump-1", "discharge_pressure_bar", 10, 5.0), R("pump-1", "speed_rpm", 10, 6.0)})
          .ok());
  // speed_setpoint_rpm (a property) and setSpeed (a command) follow rul_p95_h in the model.
  Status s =
      f.engine->Submit({R("pump-1", "rul_p95_h", 20, 1.0), R("pump-1", "speed_setpoint_rpm", 20, 2.0)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("reading 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("speed_setpoint_rpm"), std::string::npos);
  s = f.engine->Submit({R("pump-1", "rul_p95_h", 20, 1.0), R("pump-1", "setSpeed", 20, 2.0)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("setSpeed"), std::string::npos);
  f.engine->Drain();
  auto t = f.engine->GetTwin("pump-1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->latest.count("rul_p95_h"), 0u);  // refused batches store nothing
  EXPECT_DOUBLE_EQ(t->latest.at("speed_rpm").value, 6.0);
}

// The registry's per-thread lookup cache must not serve a closed engine's twins to a new engine
// opened in the same thread (possibly at the same address): here the new engine provisions
// "pump-*" with the tank model, so only tank telemetry may be accepted for pump-1.
TEST(EngineTest, ANewEngineDoesNotSeeAClosedEnginesTwins) {
  Fixture f;
  f.Open();
  ASSERT_TRUE(f.engine->Submit({R("pump-1", "flow_m3h", 10, 1.0)}).ok());
  f.engine.reset();
  testing::TempDir other;
  EngineOptions o = f.Options();
  o.data_dir = other.file("data");
  o.provision = {{"pump-*", kTank}};
  auto e = Engine::Open(o, &f.metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  EXPECT_TRUE((*e)->Submit({R("pump-1", "level_m", 20, 1.0)}).ok());
  EXPECT_EQ((*e)->Submit({R("pump-1", "flow_m3h", 20, 1.0)}).code(), StatusCode::kInvalidArgument);
  auto t = (*e)->GetTwin("pump-1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->model, kTank);
}

TEST(EngineTest, LatestValueFollowsSourceTimeNotArrivalOrder) {
  Fixture f;
  f.Open();
  ASSERT_TRUE(f.engine->Submit({R("pump-1", "flow_m3h", 2000, 2.0)}).ok());
  ASSERT_TRUE(f.engine->Submit({R("pump-1", "flow_m3h", 1000, 1.0)}).ok());  // older, within lateness
  f.engine->Drain();
  auto t = f.engine->GetTwin("pump-1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->latest.at("flow_m3h").ts_ns, 2000);
  EXPECT_DOUBLE_EQ(t->latest.at("flow_m3h").value, 2.0);
}

TEST(EngineTest, StreamSubscribersSeeEveryTwinReadingInSourceOrder) {
  Fixture f;
  f.Open();
  std::mutex mu;
  std::vector<TimeNs> seen;
  f.engine->SubscribeStream([&](const std::vector<StreamEvent>& ev) {
    std::lock_guard lk(mu);
    for (const auto& e : ev) {
      if (e.twin == "pump-1") seen.push_back(e.ts_ns);
    }
  });
  // Out of order within the allowed lateness (100 ms); all in one shard's queue.
  for (TimeNs ts : {5, 1, 3, 2, 4}) {
    ASSERT_TRUE(f.engine->Submit({R("pump-1", "flow_m3h", ts * kNsPerMs, double(ts))}).ok());
  }
  f.engine->Drain();
  std::lock_guard lk(mu);
  ASSERT_EQ(seen.size(), 5u);
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LT(seen[i - 1], seen[i]);
}

TEST(EngineTest, ReadingBehindTheWatermarkIsCountedLateAndStillStored) {
  Fixture f;
  f.Open();
  ASSERT_TRUE(f.engine->Submit({R("pump-1", "flow_m3h", 10 * kNsPerS, 1.0)}).ok());
  ASSERT_TRUE(f.engine->Submit({R("pump-1", "flow_m3h", 20 * kNsPerS, 2.0)}).ok());
  f.engine->Drain();  // releases both
  auto r = f.engine->Ingest({R("pump-1", "flow_m3h", 5 * kNsPerS, 0.5)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->late, 1u);
  EXPECT_EQ(f.Counter("doppel_readings_late_total"), 1u);
  auto h = f.engine->QueryTelemetry("pump-1", "flow_m3h", 0, 100 * kNsPerS, 0);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 3u);
  EXPECT_EQ((*h)[0].ts_ns, 5 * kNsPerS);
}

// One reading stamped far in the future (here 2255) used to be accepted and released, after which
// every normal reading of the twin was behind the reorder buffer's watermark: stored, counted
// late, but the twin's latest values, stream, estimator and rules never updated again. Such a
// reading is refused now, naming it and its time, and the twin keeps updating.
TEST(EngineTest, FarFutureSourceTimeIsRefusedAndTheTwinKeepsUpdating) {
  Fixture f;
  f.now = 1'700'000'000 * kNsPerS;  // 2023-11-14T22:13:20Z
  f.Open();
  const TimeNs far = 9'000'000'000'000'000'000;  // 2255-03-14
  Status s = f.engine->Submit({R("pump-1", "flow_m3h", f.now, 1.0), R("pump-1", "speed_rpm", far, 1.0)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("reading 1"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("speed_rpm"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ts 2255-03-14T"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("is more than 30 days ahead of the server clock (2023-11-14T22:13:20Z)"),
            std::string::npos)
      << s.message();
  auto ingested = f.engine->Ingest({R("pump-1", "flow_m3h", far, 1.0)});  // HTTP ingest: the same
  ASSERT_FALSE(ingested.ok());
  EXPECT_EQ(ingested.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(f.Counter("doppel_readings_future_refused_total"), 3u);
  EXPECT_EQ(f.Counter("doppel_ingest_refused_batches_total"), 2u);

  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(f.engine->Submit({R("pump-1", "flow_m3h", f.now + i * kNsPerS, 10.0 * i)}).ok());
  }
  f.engine->Drain();
  auto t = f.engine->GetTwin("pump-1");
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(t->latest.at("flow_m3h").value, 30.0);
  EXPECT_EQ(t->latest.count("speed_rpm"), 0u);  // the refused batch stored nothing
  EXPECT_EQ(f.Counter("doppel_readings_late_total"), 0u);
}

// The limit is the clock plus max_future_skew_ns, inclusive; accelerated simulations (a plant
// at --time-scale 600 for an hour is 25 days ahead) stay inside the 30-day default; 0: no limit.
TEST(EngineTest, FutureSkewLimitIsInclusiveDefaultsToThirtyDaysAndZeroTurnsItOff) {
  const TimeNs day = 86400 * kNsPerS;
  EXPECT_EQ(EngineOptions{}.max_future_skew_ns, 30 * day);
  Fixture f;
  f.now = 1'700'000'000 * kNsPerS;
  f.Open();
  EXPECT_TRUE(f.engine->Submit({R("tank-1", "level_m", f.now + 25 * day, 1.0)}).ok());
  EXPECT_TRUE(f.engine->Submit({R("tank-1", "level_m", f.now + 30 * day, 2.0)}).ok());
  EXPECT_EQ(f.engine->Submit({R("tank-1", "level_m", f.now + 30 * day + 1, 3.0)}).code(),
            StatusCode::kInvalidArgument);
  f.now += day;  // the clock moves on, and the limit with it
  EXPECT_TRUE(f.engine->Submit({R("tank-1", "level_m", f.now + 30 * day, 4.0)}).ok());

  Fixture g;
  g.now = 1'700'000'000 * kNsPerS;
  EngineOptions o = g.Options();
  o.max_future_skew_ns = 0;
  auto e = Engine::Open(o, &g.metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  EXPECT_TRUE((*e)->Submit({R("tank-1", "level_m", 9'000'000'000'000'000'000, 1.0)}).ok());
  EXPECT_EQ(g.Counter("doppel_readings_future_refused_total"), 0u);
  // What the limit prevents: once released, that reading holds every normal one back as late.
  (*e)->Drain();
  auto late = (*e)->Ingest({R("tank-1", "level_m", g.now, 2.0)});
  ASSERT_TRUE(late.ok()) << late.status().ToString();
  EXPECT_EQ(late->late, 1u);

  o.max_future_skew_ns = -1;
  EXPECT_EQ(o.Validate().code(), StatusCode::kInvalidArgument);
}

// A small skew is named in the unit it was given in.
TEST(EngineTest, FutureSkewErrorNamesTheLimitInItsUnit) {
  Fixture f;
  f.now = 1'700'000'000 * kNsPerS;
  EngineOptions o = f.Options();
  o.max_future_skew_ns = 90 * kNsPerS;
  auto e = Engine::Open(o, &f.metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  Status s = (*e)->Submit({R("tank-1", "level_m", f.now + 91 * kNsPerS + 500 * kNsPerMs, 1.0)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ts 2023-11-14T22:14:51.5Z is more than 90 s ahead"), std::string::npos)
      << s.message();
}

TEST(EngineTest, HistoryAndTwinsSurviveReopen) {
  Fixture f;
  f.Open();
  std::vector<Reading> batch;
  for (int i = 0; i < 1000; ++i) batch.push_back(R("tank-1", "level_m", i * kNsPerS, i * 0.01));
  ASSERT_TRUE(f.engine->Ingest(batch).ok());
  ASSERT_TRUE(f.engine
                  ->CreateTwin({"station-1",
                                "dtmi:doppel:demo:PumpStation;1",
                                nlohmann::json::object(),
                                {{"contains", "tank-1"}}})
                  .ok());
  f.Open();  // closes and reopens
  auto h = f.engine->QueryTelemetry("tank-1", "level_m", 0, 2000 * kNsPerS, 0);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size(), 1000u);
  auto rel = f.engine->ListTwins(TwinFilter{"", "station-1", "contains"});
  ASSERT_EQ(rel.size(), 1u);
  EXPECT_EQ(rel[0].id, "tank-1");
}

TEST(EngineTest, CreateTwinValidatesModelRelationshipsAndDuplicates) {
  Fixture f;
  f.Open();
  EXPECT_EQ(f.engine->CreateTwin({"x", "dtmi:nope;1", {}, {}}).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(f.engine->CreateTwin({"p", kPump, nlohmann::json::object(), {}}).ok());
  EXPECT_EQ(f.engine->CreateTwin({"p", kPump, nlohmann::json::object(), {}}).status().code(),
            StatusCode::kAlreadyExists);
  auto bad_target = f.engine->CreateTwin(
      {"s", "dtmi:doppel:demo:PumpStation;1", nlohmann::json::object(), {{"contains", "ghost"}}});
  EXPECT_EQ(bad_target.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_target.status().message().find("ghost"), std::string::npos);
  EXPECT_FALSE(f.engine->CreateTwin({"a/b", kPump, nlohmann::json::object(), {}}).ok());
}

TEST(EngineTest, CommandLifecycleAckRejectAndTimeout) {
  Fixture f;
  f.Open();
  std::vector<CommandRecord> sent;
  std::mutex mu;
  f.engine->SetCommandSender([&](const CommandRecord& c) {
    std::lock_guard lk(mu);
    sent.push_back(c);
    return Status::Ok();
  });
  ASSERT_TRUE(f.engine->CreateTwin({"pump-1", kPump, nlohmann::json::object(), {}}).ok());
  auto bad = f.engine->SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", "fast"}}, "t");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("speed_rpm"), std::string::npos);
  EXPECT_EQ(f.engine->SubmitCommand("pump-1", "explode", nlohmann::json::object(), "t").status().code(),
            StatusCode::kInvalidArgument);

  auto a = f.engine->SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", 1200.0}}, "api:admin");
  auto b = f.engine->SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", 1300.0}}, "api:admin");
  auto c = f.engine->SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", 1400.0}}, "api:admin");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->status, CommandStatus::kSent);
  f.engine->OnCommandAck({"pump-1", a->id, true, ""});
  f.engine->OnCommandAck({"pump-1", b->id, false, "speed_rpm outside 0..3000"});
  f.engine->OnCommandAck({"pump-1", b->id, true, ""});  // a late duplicate changes nothing
  f.now += 600 * kNsPerMs;                              // past the timeout for c
  for (int i = 0; i < 50; ++i) {
    auto got = f.engine->GetCommand("pump-1", c->id);
    if (got.ok() && got->status == CommandStatus::kTimedOut) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto ga = f.engine->GetCommand("pump-1", a->id);
  auto gb = f.engine->GetCommand("pump-1", b->id);
  auto gc = f.engine->GetCommand("pump-1", c->id);
  EXPECT_EQ(ga->status, CommandStatus::kAcked);
  ASSERT_EQ(ga->history.size(), 4u);  // proposed, approved, sent, acked
  EXPECT_EQ(ga->history[0].by, "api:admin");
  EXPECT_EQ(gb->status, CommandStatus::kRejected);
  EXPECT_EQ(gb->reason, "speed_rpm outside 0..3000");
  EXPECT_EQ(gc->status, CommandStatus::kTimedOut);
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(sent.size(), 3u);
  }
  // Final states survive a restart.
  f.Open();
  EXPECT_EQ(f.engine->GetCommand("pump-1", b->id)->status, CommandStatus::kRejected);
  EXPECT_EQ(f.engine->ListCommands("pump-1")->size(), 3u);
}

TEST(EngineTest, FailedSendIsRetriedUntilTheTransportTakesIt) {
  Fixture f;
  EngineOptions o = f.Options();
  o.command_timeout_ns = 10 * kNsPerS;
  auto e = Engine::Open(o, &f.metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->Start().ok());
  std::atomic<int> attempts{0};
  (*e)->SetCommandSender(
      [&](const CommandRecord&) { return ++attempts < 2 ? Unavailable("broker down") : Status::Ok(); });
  ASSERT_TRUE((*e)->CreateTwin({"pump-1", kPump, nlohmann::json::object(), {}}).ok());
  auto a = (*e)->SubmitCommand("pump-1", "setSpeed", {{"speed_rpm", 1200.0}}, "t");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, CommandStatus::kApproved);  // the send failed: approved, not yet sent
  f.now += 2 * kNsPerS;                            // past the 1 s re-send interval, inside the timeout
  for (int i = 0; i < 100 && attempts.load() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto got = (*e)->GetCommand("pump-1", a->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->status, CommandStatus::kSent);
  EXPECT_EQ(attempts.load(), 2);
}

TEST(EngineTest, BackpressureBlocksProducersInsteadOfDropping) {
  Fixture f;
  EngineOptions o = f.Options();
  o.queue_capacity = 16;
  o.shards = 1;
  auto e = Engine::Open(o, &f.metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE((*e)->Start().ok());
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < 2000; ++i) {
        ASSERT_TRUE((*e)->Submit({R("pump-" + std::to_string(p), "flow_m3h", i * kNsPerMs, i)}).ok());
      }
    });
  }
  for (auto& t : producers) t.join();
  (*e)->Drain();
  EXPECT_EQ(f.Counter("doppel_readings_ingested_total"), 8000u);
  for (int p = 0; p < 4; ++p) {
    auto h = (*e)->QueryTelemetry("pump-" + std::to_string(p), "flow_m3h", 0, INT64_MAX, 0);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->size(), 2000u);
  }
}

// A store append that fails (disk full) is retried, not dropped: producers already got OK from
// Submit (MQTT acked the message), so every reading must be in the store once it recovers, once.
TEST(EngineTest, FailedStoreAppendsAreRetriedUntilTheStoreRecovers) {
  Fixture f;
  auto env = platform::NewMemEnv();
  EngineOptions o = f.Options();
  o.queue_capacity = 64;                            // producers block while the shards retry
  std::filesystem::create_directories(o.data_dir);  // SQLite files stay on disk
  auto e = Engine::Open(o, &f.metrics, env.get());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  env->FailWritesAfter(0);  // every WAL write fails with kResourceExhausted

  constexpr int kPumps = 4, kPerPump = 300;
  std::vector<std::thread> producers;
  for (int p = 0; p < kPumps; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerPump; ++i) {
        ASSERT_TRUE((*e)->Submit({R("pump-" + std::to_string(p), "flow_m3h", i * kNsPerMs, i)}).ok());
      }
    });
  }
  const auto retried_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // liveness bound
  while (f.Counter("doppel_store_append_retries_total") < 4 &&
         std::chrono::steady_clock::now() < retried_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(f.Counter("doppel_store_append_retries_total"), 4u);
  EXPECT_EQ(f.Counter("doppel_readings_ingested_total"), 0u);
  // A caller that waits (HTTP ingest) is told at once while its shard's store fails, instead of
  // holding its thread; nothing of its batch is queued.
  auto refused = (*e)->Ingest({R("pump-0", "flow_m3h", 10'000 * kNsPerMs, 7.0)});
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  env->ClearFaults();
  for (auto& t : producers) t.join();
  Result<IngestSummary> ingested = (*e)->Ingest({R("tank-1", "level_m", kNsPerMs, 2.5)});
  EXPECT_TRUE(ingested.ok()) << ingested.status().ToString();
  (*e)->Drain();

  EXPECT_GT(f.Counter("doppel_store_errors_total"), 0u);
  EXPECT_EQ(f.Counter("doppel_readings_ingested_total"), uint64_t{kPumps * kPerPump + 1});
  for (int p = 0; p < kPumps; ++p) {
    auto h = (*e)->QueryTelemetry("pump-" + std::to_string(p), "flow_m3h", 0, INT64_MAX, 0);
    ASSERT_TRUE(h.ok());
    ASSERT_EQ(h->size(), size_t{kPerPump}) << "pump-" << p;
    for (int i = 0; i < kPerPump; ++i) {
      EXPECT_EQ((*h)[i].ts_ns, i * kNsPerMs);
      EXPECT_EQ((*h)[i].value, i);
    }
  }
  auto tank = (*e)->QueryTelemetry("tank-1", "level_m", 0, INT64_MAX, 0);
  ASSERT_TRUE(tank.ok());
  EXPECT_EQ(tank->size(), 1u);
  (*e)->Stop();
}

// At shutdown the producers are stopped before the engine (Runtime::Stop); one blocked in Submit
// behind a failing store append (queue full) must return first: BeginShutdown gives the failing
// appends up, as Stop would, so the producer can be joined (without it, the join hangs).
TEST(EngineTest, BeginShutdownReleasesProducersBlockedBehindAFailingStore) {
  Fixture f;
  auto env = platform::NewMemEnv();
  EngineOptions o = f.Options();
  o.queue_capacity = 16;
  std::filesystem::create_directories(o.data_dir);
  auto e = Engine::Open(o, &f.metrics, env.get());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  env->FailWritesAfter(0);
  constexpr int kReadings = 200;
  std::atomic<int> submitted{0};
  std::thread producer([&] {
    for (int i = 0; i < kReadings; ++i) {
      (void)(*e)->Submit({R("pump-1", "flow_m3h", i * kNsPerMs, i)});
      ++submitted;
    }
  });
  const auto retried_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // liveness bound
  while (f.Counter("doppel_store_append_retries_total") < 2 &&
         std::chrono::steady_clock::now() < retried_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LT(submitted.load(), kReadings) << "the producer is held by backpressure";
  (*e)->BeginShutdown();
  producer.join();
  EXPECT_EQ(submitted.load(), kReadings);
  (*e)->Stop();
}

// Stop does not wait for a store that stays broken: a failing group gets one last attempt and is
// given up, and a caller waiting on it gets the error instead of waiting forever.
TEST(EngineTest, StopGivesUpAFailingStoreAppendInBoundedTime) {
  Fixture f;
  auto env = platform::NewMemEnv();
  EngineOptions o = f.Options();
  std::filesystem::create_directories(o.data_dir);
  auto e = Engine::Open(o, &f.metrics, env.get());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  env->FailWritesAfter(0);
  Result<IngestSummary> ingested = InvalidArgument("not run");
  std::thread waiter([&] { ingested = (*e)->Ingest({R("pump-1", "flow_m3h", kNsPerMs, 1.0)}); });
  const auto retried_by = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // liveness bound
  while (f.Counter("doppel_store_append_retries_total") < 2 &&
         std::chrono::steady_clock::now() < retried_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(f.Counter("doppel_store_append_retries_total"), 2u);
  (*e)->Stop();  // returns although the store still fails (without the give-up it would hang)
  waiter.join();
  EXPECT_EQ(ingested.status().code(), StatusCode::kResourceExhausted) << ingested.status().ToString();
  (*e)->Drain();  // a stopped engine: returns at once
}

}  // namespace
}  // namespace doppel::engine

namespace doppel::engine {
namespace {

TEST(EngineRetentionTest, HousekeepingEnforcesRetentionAndOldRangesComeFromRollups) {
  Fixture f;
  EngineOptions o = f.Options();
  o.shards = 1;
  o.retention = {store::RetentionRule{"*", 600 * kNsPerS, {store::RollupRule{60 * kNsPerS, 0}}}};
  o.retention_interval_ns = kNsPerS;
  auto e = Engine::Open(o, &f.metrics, platform::DefaultEnv());
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_TRUE((*e)->Start().ok());
  const TimeNs t0 = f.now.load();
  std::vector<Reading> batch;
  for (int i = 0; i < 3000; ++i)
    batch.push_back(R("tank-1", "level_m", t0 + i * kNsPerS, 2.0 + (i % 60) * 0.01));
  ASSERT_TRUE((*e)->Ingest(batch).ok());
  auto before = (*e)->QueryTelemetry("tank-1", "level_m", t0, t0 + 3000 * kNsPerS, 0);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->size(), 3000u);
  f.now += 10 * 3600 * kNsPerS;  // ten hours later: everything sealed is past the 10 min retention
  size_t after_n = 3000;
  for (int i = 0; i < 100 && after_n == 3000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto after = (*e)->QueryTelemetry("tank-1", "level_m", t0, t0 + 3000 * kNsPerS, 0);
    ASSERT_TRUE(after.ok());
    after_n = after->size();
  }
  // Sealed raw chunks are gone; the dropped range is served from 1-minute rollups (one point
  // per minute), and the unsealed head keeps its raw samples.
  EXPECT_LT(after_n, 3000u);
  EXPECT_GT(after_n, 0u);
}

}  // namespace
}  // namespace doppel::engine
