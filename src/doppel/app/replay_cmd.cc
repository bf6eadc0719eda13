// `doppel replay cmapss`: streams a C-MAPSS test set through MQTT as live turbofan engines
// (docs/analytics.md, "Live RUL"). Each test unit is twin engine-<unit> (model
// dtmi:doppel:demo:Turbofan;1); every engine advances one flight cycle per 1/speed seconds, all
// engines in step (interleaved), one message per cycle on <prefix>/engine-<unit>/telemetry:
//   {"ts": <wall ns>, "cycle": 17, "altitude_kft": ..., "mach": ..., ..., "w32_lbm_s": ...}
// The command ends once the broker has handed every message back to its own subscription (so
// nothing is lost in the client's queue at exit), or after a 10 s grace period.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "doppel/analytics/csv.h"
#include "doppel/analytics/rul.h"
#include "doppel/app/commands.h"
#include "doppel/engine/rul_monitor.h"
#include "doppel/platform/process.h"
#include "doppel/platform/pubsub.h"

namespace doppel::app {

int RunReplay(const std::vector<std::string>& args);

namespace {

constexpr const char* kUsage =
    "usage: doppel replay cmapss --broker mqtt://HOST:PORT --data DIR [--subset FD001] [--speed "
    "CYCLES_PER_S]\n"
    "                            [--engines N] [--topic-prefix plant] [--client-id ID]\n"
    "  Publishes DIR/test_<subset>.txt: unit U as twin engine-U, one cycle per message on\n"
    "  <prefix>/engine-U/telemetry; every engine advances --speed cycles per second (default 10).\n";

bool ShutdownPending() {
  sigset_t s;
  sigemptyset(&s);
  if (sigpending(&s) != 0) return false;
  return sigismember(&s, SIGINT) == 1 || sigismember(&s, SIGTERM) == 1;
}

TimeNs NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct ReplayArgs {
  std::string broker, data, subset = "FD001", prefix = "plant", client_id;
  double speed = 10;
  int engines = 0;  // 0: all
};

Status ParseArgs(const std::vector<std::string>& args, ReplayArgs* a) {
  for (size_t i = 1; i < args.size(); ++i) {
    std::string v;
    if (TakeOption(args, &i, "broker", &v)) {
      a->broker = v;
    } else if (TakeOption(args, &i, "data", &v)) {
      a->data = v;
    } else if (TakeOption(args, &i, "subset", &v)) {
      a->subset = v;
    } else if (TakeOption(args, &i, "topic-prefix", &v)) {
      a->prefix = v;
    } else if (TakeOption(args, &i, "client-id", &v)) {
      a->client_id = v;
    } else if (TakeOption(args, &i, "speed", &v)) {
      auto x = analytics::ParseNumber(v);
      if (!x.ok() || !(*x > 0 && *x <= 100000))
        return InvalidArgument("--speed: '" + v + "' must be a number in (0, 100000] (cycles per second)");
      a->speed = *x;
    } else if (TakeOption(args, &i, "engines", &v)) {
      auto x = analytics::ParseNumber(v);
      if (!x.ok() || *x < 1 || *x != std::floor(*x))
        return InvalidArgument("--engines: '" + v + "' must be a positive integer");
      a->engines = static_cast<int>(*x);
    } else {
      return InvalidArgument("unknown argument '" + args[i] + "'");
    }
  }
  if (a->broker.empty()) return InvalidArgument("--broker is required (mqtt://HOST:PORT)");
  if (a->data.empty()) return InvalidArgument("--data is required (the directory holding test_<subset>.txt)");
  if (a->subset.empty() || a->subset.find_first_of("/. ") != std::string::npos)
    return InvalidArgument("--subset: '" + a->subset + "' must be a name like FD001");
  if (a->prefix.empty() || a->prefix.find_first_of("+#") != std::string::npos)
    return InvalidArgument("--topic-prefix: '" + a->prefix + "' must be a non-empty topic without wildcards");
  return Status::Ok();
}

int ReplayCmapss(const std::vector<std::string>& args) {
  ReplayArgs a;
  if (Status s = ParseArgs(args, &a); !s.ok()) {
    std::cerr << "error: replay cmapss: " << s.message() << "\n" << kUsage;
    return 2;
  }
  const std::string file = a.data + "/test_" + a.subset + ".txt";
  auto data = analytics::ReadCmapss(file);
  if (!data.ok()) return Fail(Status(data.status().code(), "replay cmapss: " + data.status().message()));
  std::map<int, std::vector<const analytics::EngineCycle*>> units;
  for (const auto& r : *data) {
    if (r.columns.size() != engine::kTurbofanColumns.size())
      return Fail(InvalidArgument(
          file + ": unit " + std::to_string(r.unit) + " cycle " + std::to_string(r.cycle) + ": " +
          std::to_string(r.columns.size()) + " columns after unit and cycle, expected " +
          std::to_string(engine::kTurbofanColumns.size()) + " (3 settings, 21 sensors)"));
    units[r.unit].push_back(&r);
  }
  for (auto& [u, v] : units)
    std::stable_sort(v.begin(), v.end(), [](auto* x, auto* y) { return x->cycle < y->cycle; });
  if (a.engines > 0)
    while (units.size() > static_cast<size_t>(a.engines)) units.erase(std::prev(units.end()));
  size_t total = 0;
  for (const auto& [u, v] : units) total += v.size();

  platform::MqttOptions mo;
  if (Status s = platform::ParseBrokerUrl(a.broker, &mo); !s.ok()) return Fail(s);
  mo.client_id = a.client_id.empty() ? "doppel-replay-" + platform::RandomHex(4) : a.client_id;
  mo.clean_session = true;
  auto bus = platform::NewMqttBus(mo);
  std::set<std::string> ours;
  for (const auto& [u, v] : units) ours.insert(a.prefix + "/engine-" + std::to_string(u) + "/telemetry");
  std::atomic<size_t> echoed{0};
  // Our own messages coming back from the broker: proof they left the client's queue.
  Status sub = bus->Subscribe(a.prefix + "/+/telemetry", 1, [&](std::string_view topic, std::string_view) {
    if (ours.count(std::string(topic))) echoed.fetch_add(1, std::memory_order_relaxed);
  });
  if (!sub.ok()) return Fail(sub);
  if (Status s = bus->Start(); !s.ok()) return Fail(Status(s.code(), "replay cmapss: " + s.message()));
  std::fprintf(stderr, "replay: %s: %zu engines, %zu cycles at %.3g cycles/s per engine to %s\n",
               file.c_str(), units.size(), total, a.speed, a.broker.c_str());

  const auto t0 = std::chrono::steady_clock::now();
  const auto period = std::chrono::duration<double>(1.0 / a.speed);
  auto next_progress = t0 + std::chrono::seconds(1);
  size_t sent = 0, failed = 0, step = 0, max_len = 0;
  for (const auto& [u, v] : units) max_len = std::max(max_len, v.size());
  for (; step < max_len && !ShutdownPending(); ++step) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                           period * static_cast<double>(step)));
    int running = 0;
    for (const auto& [u, v] : units) {
      if (step >= v.size()) continue;
      ++running;
      const analytics::EngineCycle& c = *v[step];
      nlohmann::json j;
      j["ts"] = NowNs();
      j["cycle"] = c.cycle;
      for (size_t k = 0; k < engine::kTurbofanColumns.size(); ++k)
        j[std::string(engine::kTurbofanColumns[k])] = c.columns[k];
      Status s = bus->Publish(a.prefix + "/engine-" + std::to_string(u) + "/telemetry", j.dump(), 1);
      if (s.ok()) {
        ++sent;
      } else if (failed++ < 5) {
        spdlog::warn("replay: engine-{} cycle {}: {}", u, c.cycle, s.message());
      }
    }
    if (std::chrono::steady_clock::now() >= next_progress) {
      next_progress += std::chrono::seconds(1);
      std::fprintf(stderr, "replay: %zu/%zu cycles published, %d engines running\n", sent, total, running);
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (echoed.load() < sent && std::chrono::steady_clock::now() < deadline && !ShutdownPending())
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  bus->Stop();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fprintf(stderr,
               "replay: done: %zu/%zu cycles published (%zu confirmed by the broker, %zu failed) in %.2f s\n",
               sent, total, echoed.load(), failed, secs);
  std::printf("{\"engines\":%zu,\"cycles\":%zu,\"published\":%zu,\"confirmed\":%zu,\"seconds\":%.3f}\n",
              units.size(), total, sent, echoed.load(), secs);
  if (step < max_len) return 1;  // interrupted
  return failed == 0 && echoed.load() >= sent ? 0 : 1;
}

}  // namespace

int RunReplay(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cerr << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "cmapss") return ReplayCmapss(args);
  std::cerr << "error: replay: unknown source '" << args[0] << "' (known: cmapss)\n" << kUsage;
  return 2;
}

}  // namespace doppel::app
