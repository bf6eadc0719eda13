// `doppel bench ingest`: does doppel keep up with the broker?
//
// In one run, on loopback, with the same pre-generated pump telemetry (from the simulated
// plant):
//   1. raw:    a real mosquitto; a publisher sends M messages (QoS 1) to a plain subscriber
//              that only counts them. Rate = M / (first publish .. last message received).
//   2. doppel: the same load through the same broker, consumed by doppel's MQTT adapter and
//              engine (decoded, ordered, applied to twins, written to the store's log).
//              Rate = M / (first publish .. last reading stored and applied).
//   1 and 2 alternate for --passes (3); each keeps its fastest pass.
//   3. in-process: the same messages through the in-process bus into the engine, no broker.
// Prints a table, then one JSON line: mqtt_ratio_vs_raw = doppel rate / raw rate.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "doppel/app/commands.h"
#include "doppel/app/plant_corpus.h"
#include "doppel/app/runtime.h"
#include "doppel/plant/plant.h"
#include "doppel/platform/process.h"

namespace doppel::app {
namespace {

using Clock = std::chrono::steady_clock;

size_t ArgOr(const std::vector<std::string>& args, const std::string& key, size_t def) {
  for (const auto& a : args) {
    if (a.rfind("--" + key + "=", 0) == 0) return std::stoul(a.substr(key.size() + 3));
  }
  return def;
}

bool WaitUntil(const std::function<bool()>& pred, double timeout_s) {
  auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return pred();
}

Status PublishAll(platform::MessageBus* pub, const std::vector<PlantMessage>& msgs) {
  for (const auto& m : msgs) {
    for (int tries = 0;; ++tries) {
      Status s = pub->Publish(m.topic, m.payload, 1);
      if (s.ok()) break;
      if (tries > 1000) return s;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  return Status::Ok();
}

std::unique_ptr<platform::MessageBus> Connect(int port, const std::string& id, bool clean) {
  platform::MqttOptions o;
  o.port = port;
  o.client_id = id;
  o.clean_session = clean;
  // The default in-flight window (MqttOptions::max_inflight). A much larger one makes the
  // publisher, not the broker or doppel, the bottleneck: libmosquitto walks its whole in-flight
  // list on every PUBACK.
  return platform::NewMqttBus(o);
}

ServeConfig EngineConfig(const std::string& dir) {
  ServeConfig c;
  c.data_dir = dir;
  c.models = DefaultModelsDir();
  c.mqtt.provision = {{"pump-*", "dtmi:doppel:demo:Pump;1"}, {"tank-*", "dtmi:doppel:demo:Tank;1"}};
  c.tokens = {{"bench", "admin"}};
  c.fsync = "interval";
  return c;
}

uint64_t Ingested(Runtime& rt) { return rt.metrics.GetCounter("doppel_readings_ingested_total", "").Value(); }

}  // namespace

int RunIngestBench(const std::vector<std::string>& args) {
  const size_t messages = ArgOr(args, "messages", 200000);
  const int pumps = static_cast<int>(ArgOr(args, "pumps", 50));
  const int passes = static_cast<int>(std::max<size_t>(1, ArgOr(args, "passes", 3)));
  spdlog::set_level(spdlog::level::warn);
  namespace fs = std::filesystem;
  fs::path work = fs::temp_directory_path() / ("doppel-bench-ingest-" + platform::RandomHex(4));
  fs::create_directories(work);

  std::cerr << "generating " << messages << " pump telemetry messages from the plant (" << pumps
            << " pumps)...\n";
  std::vector<PlantMessage> msgs = CapturePlantTelemetry(pumps, messages, /*seed=*/11, /*pumps_only=*/true);
  uint64_t readings_per_run = 0;
  for (const auto& m : msgs) readings_per_run += std::count(m.payload.begin(), m.payload.end(), ':') - 1;

  int port = platform::FreeLoopbackPort();
  {
    std::ofstream(work / "mosquitto.conf")
        << "listener " << port << " 127.0.0.1\nallow_anonymous true\n"
        << "persistence false\nmax_queued_messages 0\nmax_inflight_messages 0\nset_tcp_nodelay true\n";
  }
  platform::Subprocess broker({"mosquitto", "-c", (work / "mosquitto.conf").string()},
                              (work / "mosquitto.log").string());
  if (!platform::WaitForChildListening(broker, port, 5000)) {
    return Fail(
        Unavailable("mosquitto did not start (is the mosquitto package installed? run scripts/setup)"));
  }

  // 1. Raw broker: seconds from the first publish to the last message received.
  auto raw_pass = [&](int pass) -> Result<double> {
    std::atomic<uint64_t> got{0};
    auto sub = Connect(port, fmt::format("bench-raw-sub-{}", pass), true);
    (void)sub->Subscribe("plant/+/telemetry", 1, [&](std::string_view, std::string_view) { got++; });
    DOPPEL_RETURN_IF_ERROR(sub->Start());
    auto pub = Connect(port, fmt::format("bench-raw-pub-{}", pass), true);
    DOPPEL_RETURN_IF_ERROR(pub->Start());
    auto t0 = Clock::now();
    DOPPEL_RETURN_IF_ERROR(PublishAll(pub.get(), msgs));
    if (!WaitUntil([&] { return got.load() >= messages; }, 300)) {
      return Internal(fmt::format("raw subscriber got {} of {} messages", got.load(), messages));
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    pub->Stop();
    sub->Stop();
    return s;
  };
  // 2. doppel end to end over the same broker: to the last reading stored and applied.
  // doppel's client keeps a persistent session, as `doppel serve` does.
  auto doppel_pass = [&](int pass) -> Result<double> {
    auto cfg = EngineConfig((work / fmt::format("mqtt{}", pass)).string());
    const std::string client = fmt::format("bench-doppel-{}", pass);
    auto rt = StartRuntime(cfg, Connect(port, client, false), /*with_api=*/false);
    if (!rt.ok()) return rt.status();
    auto pub = Connect(port, fmt::format("bench-doppel-pub-{}", pass), true);
    DOPPEL_RETURN_IF_ERROR(pub->Start());
    auto t0 = Clock::now();
    DOPPEL_RETURN_IF_ERROR(PublishAll(pub.get(), msgs));
    if (!WaitUntil([&] { return Ingested(**rt) >= readings_per_run; }, 300)) {
      return Internal(fmt::format("doppel stored {} of {} readings", Ingested(**rt), readings_per_run));
    }
    (*rt)->engine->Drain();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    pub->Stop();
    (*rt)->Stop();
    // Drop that session on the broker: left behind, it would queue every later pass's messages
    // for a client that never returns and slow those passes down.
    auto clean = Connect(port, client, true);
    DOPPEL_RETURN_IF_ERROR(clean->Start());
    clean->Stop();
    return s;
  };
  // The two alternate and each keeps its fastest pass, so both sample the same spread of the
  // machine's state (frequency, neighbours, the broker's warm-up).
  double raw_s = 1e30, mqtt_s = 1e30;
  for (int pass = 0; pass < passes; ++pass) {
    std::cerr << "pass " << pass + 1 << " of " << passes << ": raw broker, then doppel...\n";
    auto r = raw_pass(pass);
    if (!r.ok()) return Fail(r.status());
    auto d = doppel_pass(pass);
    if (!d.ok()) return Fail(d.status());
    raw_s = std::min(raw_s, *r);
    mqtt_s = std::min(mqtt_s, *d);
  }

  // 3. In process, no broker.
  double inproc_s = 0;
  {
    platform::InProcessBroker local;
    auto cfg = EngineConfig((work / "inproc").string());
    auto rt = StartRuntime(cfg, local.Connect("doppel"), /*with_api=*/false);
    if (!rt.ok()) return Fail(rt.status());
    auto pub = local.Connect("pub");
    (void)pub->Start();
    auto t0 = Clock::now();
    if (Status s = PublishAll(pub.get(), msgs); !s.ok()) return Fail(s);
    (*rt)->engine->Drain();
    inproc_s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (Ingested(**rt) < readings_per_run) {
      return Fail(
          Internal(fmt::format("in-process stored {} of {} readings", Ingested(**rt), readings_per_run)));
    }
    (*rt)->Stop();
  }
  std::error_code ec;
  fs::remove_all(work, ec);

  const double raw_rate = messages / raw_s, mqtt_rate = messages / mqtt_s, inproc_rate = messages / inproc_s;
  const double ratio = mqtt_rate / raw_rate;
  const double rpm = static_cast<double>(readings_per_run) / messages;
  std::cout
      << fmt::format("ingest bench: {} messages ({} pumps, {:.1f} readings each), QoS 1, loopback\n",
                     messages, pumps, rpm)
      << fmt::format("{:<38} {:>14} {:>16}\n", "path", "messages/s", "readings/s")
      << fmt::format("{:<38} {:>14.0f} {:>16.0f}\n", "mosquitto raw (count-only subscriber)", raw_rate,
                     raw_rate * rpm)
      << fmt::format("{:<38} {:>14.0f} {:>16.0f}\n", "doppel over mosquitto (end to end)", mqtt_rate,
                     mqtt_rate * rpm)
      << fmt::format("{:<38} {:>14.0f} {:>16.0f}\n", "doppel in-process (no broker)", inproc_rate,
                     inproc_rate * rpm)
      << fmt::format("mqtt_ratio_vs_raw = {:.3f} (target >= 0.9)\n", ratio)
      << fmt::format(
             "{{\"bench\":\"ingest\",\"messages\":{},\"raw_msgs_per_s\":{:.0f},\"mqtt_msgs_per_s\":{:.0f},"
             "\"mqtt_ratio_vs_raw\":{:.4f},\"inprocess_readings_per_s\":{:.0f}}}\n",
             messages, raw_rate, mqtt_rate, ratio, inproc_rate * rpm);
  return 0;
}

}  // namespace doppel::app
