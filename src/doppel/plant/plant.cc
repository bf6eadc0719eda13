#include "doppel/plant/plant.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>

#include "doppel/core/log.h"

namespace doppel::plant {

using json = nlohmann::json;

namespace {

constexpr int kMaxPumps = 64;
constexpr size_t kMaxIdLength = 256;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void AppendValue(std::string* s, const char* name, double v) {
  if (!std::isfinite(v)) return;
  fmt::format_to(std::back_inserter(*s), ",\"{}\":{:.3f}", name, v);
}

}  // namespace

Status PlantOptions::Validate() const {
  if (pumps < 1 || pumps > kMaxPumps)
    return InvalidArgument(fmt::format("pumps: {} outside 1..{}", pumps, kMaxPumps));
  if (!(rate_hz > 0 && rate_hz <= 1000))
    return InvalidArgument(fmt::format("rate_hz: {} outside (0, 1000]", rate_hz));
  if (!(time_scale > 0 && time_scale <= 100000)) {
    return InvalidArgument(fmt::format("time_scale: {} outside (0, 100000]", time_scale));
  }
  if (topic_prefix.empty()) return InvalidArgument("topic_prefix: empty");
  if (topic_prefix.find_first_of("+#") != std::string::npos || topic_prefix.front() == '/' ||
      topic_prefix.back() == '/' || topic_prefix.find("//") != std::string::npos) {
    return InvalidArgument(
        fmt::format("topic_prefix: '{}' must be topic levels without wildcards", topic_prefix));
  }
  if (!(fault_horizon_s > 0 && std::isfinite(fault_horizon_s))) {
    return InvalidArgument(fmt::format("fault_horizon_s: {} must be positive", fault_horizon_s));
  }
  if (!(integration_step_s > 0 && integration_step_s <= 10)) {
    return InvalidArgument(fmt::format("integration_step_s: {} outside (0, 10]", integration_step_s));
  }
  if (start_time_ns < 0) return InvalidArgument("start_time_ns: negative");
  if (qos < 0 || qos > 1) return InvalidArgument(fmt::format("qos: {} outside 0..1", qos));
  if (dedup_window < 1) return InvalidArgument("dedup_window: must be at least 1");
  if (!(std::isfinite(demand_surge_start_s) && demand_surge_start_s >= 0)) {
    return InvalidArgument(fmt::format("demand_surge_start_s: {} must be >= 0", demand_surge_start_s));
  }
  if (!(std::isfinite(demand_surge_duration_s) && demand_surge_duration_s >= 0)) {
    return InvalidArgument(fmt::format("demand_surge_duration_s: {} must be >= 0", demand_surge_duration_s));
  }
  auto pump_ok = [&](const std::string& twin) {
    for (int i = 1; i <= pumps; ++i) {
      if (twin == fmt::format("pump-{}", i)) return true;
    }
    return false;
  };
  for (const auto& [twin, w] : initial_impeller_wear) {
    if (!pump_ok(twin)) return InvalidArgument(fmt::format("initial_impeller_wear: no pump '{}'", twin));
    if (!(w >= 0 && w <= 1)) {
      return InvalidArgument(fmt::format("initial_impeller_wear: {} of {} outside [0, 1]", w, twin));
    }
  }
  for (const ImpellerReplacement& r : impeller_replacements) {
    if (!pump_ok(r.twin)) return InvalidArgument(fmt::format("impeller_replacements: no pump '{}'", r.twin));
    if (!(std::isfinite(r.at_s) && r.at_s >= 0)) {
      return InvalidArgument(
          fmt::format("impeller_replacements: at_s {} of {} must be >= 0", r.at_s, r.twin));
    }
  }
  if (!(std::isfinite(demand_surge_factor) && demand_surge_factor > 0 && demand_surge_factor <= 10)) {
    return InvalidArgument(fmt::format("demand_surge_factor: {} outside (0, 10]", demand_surge_factor));
  }
  return Status::Ok();
}

namespace {
// "TWIN:NUMBER" -> (twin, number); InvalidArgument naming `what`.
Status ParseTwinNumber(std::string_view spec, const char* what, const char* number_name, std::string* twin,
                       double* v) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return InvalidArgument(fmt::format("{} '{}': expected TWIN:{}", what, spec, number_name));
  }
  std::string text(spec.substr(colon + 1));
  char* end = nullptr;
  *v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(*v)) {
    return InvalidArgument(fmt::format("{} '{}': {} '{}' is not a number", what, spec, number_name, text));
  }
  *twin = std::string(spec.substr(0, colon));
  return Status::Ok();
}
}  // namespace

Status ParseImpellerReplacement(std::string_view spec, PlantOptions* options) {
  PlantOptions o = *options;
  PlantOptions::ImpellerReplacement r;
  DOPPEL_RETURN_IF_ERROR(ParseTwinNumber(spec, "impeller replacement", "AT_S", &r.twin, &r.at_s));
  o.impeller_replacements.push_back(r);
  if (Status s = o.Validate(); !s.ok())
    return InvalidArgument(fmt::format("impeller replacement '{}': {}", spec, s.message()));
  *options = std::move(o);
  return Status::Ok();
}

Status ParseInitialImpellerWear(std::string_view spec, PlantOptions* options) {
  PlantOptions o = *options;
  std::string twin;
  double w = 0;
  DOPPEL_RETURN_IF_ERROR(ParseTwinNumber(spec, "impeller wear", "WEAR", &twin, &w));
  o.initial_impeller_wear.emplace_back(twin, w);
  if (Status s = o.Validate(); !s.ok())
    return InvalidArgument(fmt::format("impeller wear '{}': {}", spec, s.message()));
  *options = std::move(o);
  return Status::Ok();
}

Status ParseDemandSurge(std::string_view spec, PlantOptions* options) {
  const char* names[3] = {"START_S", "DURATION_S", "FACTOR"};
  double v[3] = {0, 0, 0};
  std::string_view rest = spec;
  for (int i = 0; i < 3; ++i) {
    size_t colon = rest.find(':');
    std::string_view part = i < 2 ? rest.substr(0, colon) : rest;
    if (i < 2 && colon == std::string_view::npos) {
      return InvalidArgument(fmt::format("demand surge '{}': expected START_S:DURATION_S:FACTOR", spec));
    }
    std::string text(part);
    char* end = nullptr;
    v[i] = text.empty() ? NAN : std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v[i])) {
      return InvalidArgument(fmt::format("demand surge '{}': {} '{}' is not a number", spec, names[i], text));
    }
    if (i < 2) rest = rest.substr(colon + 1);
  }
  PlantOptions o = *options;
  o.demand_surge_start_s = v[0];
  o.demand_surge_duration_s = v[1];
  o.demand_surge_factor = v[2];
  if (Status s = o.Validate(); !s.ok())
    return InvalidArgument(fmt::format("demand surge '{}': {}", spec, s.message()));
  *options = o;
  return Status::Ok();
}

std::string FormatPumpTelemetry(TimeNs ts_ns, const PumpReadings& r) {
  std::string s;
  s.reserve(200);
  fmt::format_to(std::back_inserter(s), "{{\"ts\":{}", ts_ns);
  for (int i = 0; i < kNumPumpSignals; ++i) {
    const auto& v = r.values[static_cast<size_t>(i)];
    if (v.has_value()) AppendValue(&s, PumpSignalName(static_cast<PumpSignal>(i)), *v);
  }
  s += '}';
  return s;
}

std::string FormatTankTelemetry(TimeNs ts_ns, double level_m, double demand_m3h) {
  std::string s = fmt::format("{{\"ts\":{}", ts_ns);
  AppendValue(&s, "level_m", level_m);
  AppendValue(&s, "demand_m3h", demand_m3h);
  s += '}';
  return s;
}

struct Plant::Impl {
  struct Outgoing {
    std::string topic;
    std::string payload;
  };

  Impl(platform::MessageBus* b, PlantOptions o, TimeNs start, StationParams params, FaultSchedule faults)
      : bus(b),
        opts(std::move(o)),
        start_ns(start),
        model(std::move(params), std::move(faults)),
        sim(&model, model.DefaultState(), opts.integration_step_s),
        inputs(model.DefaultInputs()),
        noise_rng(DeriveSeed(opts.seed, /*stream=*/3)) {}

  platform::MessageBus* const bus;
  const PlantOptions opts;
  const TimeNs start_ns;
  const StationModel model;

  mutable std::mutex mu;  // guards everything below up to the thread section
  StationSimulator sim;
  StationInputs inputs;
  std::mt19937_64 noise_rng;
  uint64_t tick_count = 0;
  double pending_s = 0;                               // StepFor remainder
  std::unordered_map<std::string, std::string> done;  // "twin\0id" -> ack payload
  std::deque<std::string> done_order;
  PlantStats stats;
  bool subscribed = false;
  RateLimiter log_limit;       // bad commands are outside input: never flood the log
  std::vector<bool> replaced;  // impeller_replacements done

  template <typename... Args>
  void LogBadCommand(spdlog::level::level_enum lvl, fmt::format_string<Args...> f, Args&&... args) {
    uint64_t suppressed = 0;
    if (!log_limit.Allow(&suppressed)) return;
    std::string line = fmt::format(f, std::forward<Args>(args)...);
    if (suppressed > 0) line += fmt::format(" ({} similar suppressed)", suppressed);
    spdlog::log(lvl, "{}", line);
  }

  // Runner thread.
  std::mutex run_mu;
  std::condition_variable run_cv;
  bool stop_requested = false;
  std::thread thread;
  std::atomic<bool> running{false};

  double period_s() const { return opts.time_scale / opts.rate_hz; }
  std::string DeviceTopic(const std::string& twin, const char* leaf) const {
    return fmt::format("{}/{}/{}", opts.topic_prefix, twin, leaf);
  }
  static std::string PumpId(size_t i) { return fmt::format("pump-{}", i + 1); }

  TimeNs TsAt(double t_s) const { return start_ns + static_cast<TimeNs>(std::llround(t_s * 1e9)); }

  PlantTruth TruthLocked() const {
    PlantTruth t;
    double now = sim.time();
    t.sim_time_s = now;
    t.ts_ns = TsAt(now);
    const StationState& x = sim.state();
    for (size_t i = 0; i < x.pumps.size(); ++i) {
      int pi = static_cast<int>(i);
      PumpTruth p;
      p.twin = PumpId(i);
      p.outputs = model.PumpOutput(pi, now, x, inputs);
      p.impeller_wear = x.pumps[i].impeller_wear;
      p.bearing_wear = x.pumps[i].bearing_wear;
      p.remote = inputs.speed_setpoint_rpm[i].has_value();
      for (int s = 0; s < kNumPumpSignals; ++s) {
        p.sensor_bias[static_cast<size_t>(s)] =
            model.faults().SensorBias(pi, static_cast<PumpSignal>(s), now);
        p.sensor_dropped[static_cast<size_t>(s)] =
            model.faults().SensorDropped(pi, static_cast<PumpSignal>(s), now);
      }
      t.pumps.push_back(p);
    }
    t.tank = model.TankOutput(now, x);
    t.faults = model.faults().faults();
    return t;
  }

  static std::string TruthJson(TimeNs ts, const PumpTruth& p) {
    json j = {{"ts", ts},
              {"flow_m3h", p.outputs.flow_m3h},
              {"head_m", p.outputs.head_m},
              {"discharge_pressure_bar", p.outputs.discharge_pressure_bar},
              {"speed_rpm", p.outputs.speed_rpm},
              {"setpoint_rpm", p.outputs.setpoint_rpm},
              {"power_kw", p.outputs.power_kw},
              {"efficiency", p.outputs.efficiency},
              {"motor_temp_c", p.outputs.motor_temp_c},
              {"vibration_mm_s", p.outputs.vibration_mm_s},
              {"impeller_wear", p.impeller_wear},
              {"bearing_wear", p.bearing_wear},
              {"cavitation", p.outputs.cavitation},
              {"bearing_defect", p.outputs.bearing_defect},
              {"remote", p.remote}};
    json bias = json::object();
    json dropped = json::array();
    for (int s = 0; s < kNumPumpSignals; ++s) {
      const char* name = PumpSignalName(static_cast<PumpSignal>(s));
      if (p.sensor_bias[static_cast<size_t>(s)] != 0) bias[name] = p.sensor_bias[static_cast<size_t>(s)];
      if (p.sensor_dropped[static_cast<size_t>(s)]) dropped.push_back(name);
    }
    j["sensor_bias"] = bias;
    j["sensor_dropped"] = dropped;
    return Dump(j);
  }

  // Advances one sample period and returns the messages to publish (called with mu held).
  // Impeller replacements whose time has come: the true wear becomes 0 (a new impeller).
  void ReplaceDueImpellersLocked(double t) {
    replaced.resize(opts.impeller_replacements.size(), false);
    for (size_t k = 0; k < replaced.size(); ++k) {
      const PlantOptions::ImpellerReplacement& r = opts.impeller_replacements[k];
      if (replaced[k] || r.at_s > t) continue;
      replaced[k] = true;
      for (size_t i = 0; i < sim.state().pumps.size(); ++i) {
        if (PumpId(i) != r.twin) continue;
        spdlog::info("plant: {} impeller replaced at t = {} s (wear {} -> 0)", r.twin, t,
                     sim.state().pumps[i].impeller_wear);
        sim.mutable_state().pumps[i].impeller_wear = 0;
      }
    }
  }

  std::vector<Outgoing> TickLocked() {
    ++tick_count;
    double t = static_cast<double>(tick_count) * period_s();
    sim.AdvanceTo(t, inputs);
    ReplaceDueImpellersLocked(t);
    StationReadings r = Measure(model, t, sim.state(), inputs, noise_rng);
    TimeNs ts = TsAt(t);
    std::vector<Outgoing> out;
    out.reserve(r.pumps.size() * (opts.publish_truth ? 2 : 1) + 2);
    for (size_t i = 0; i < r.pumps.size(); ++i) {
      out.push_back({DeviceTopic(PumpId(i), "telemetry"), FormatPumpTelemetry(ts, r.pumps[i])});
    }
    out.push_back({DeviceTopic("tank-1", "telemetry"), FormatTankTelemetry(ts, r.level_m, r.demand_m3h)});
    if (opts.publish_truth) {
      PlantTruth truth = TruthLocked();
      for (const PumpTruth& p : truth.pumps) out.push_back({DeviceTopic(p.twin, "truth"), TruthJson(ts, p)});
      json tank = {{"ts", ts},
                   {"level_m", truth.tank.level_m},
                   {"demand_m3h", truth.tank.demand_m3h},
                   {"inflow_m3h", truth.tank.inflow_m3h}};
      out.push_back({DeviceTopic("tank-1", "truth"), Dump(tank)});
    }
    stats.ticks = tick_count;
    stats.sim_time_s = t;
    return out;
  }

  void PublishAll(const std::vector<Outgoing>& msgs) {
    if (bus == nullptr) return;
    uint64_t ok = 0, failed = 0;
    for (const Outgoing& m : msgs) {
      Status st = bus->Publish(m.topic, m.payload, opts.qos);
      if (st.ok()) {
        ++ok;
      } else {
        ++failed;
        spdlog::debug("plant: publish {} failed: {}", m.topic, st.ToString());
      }
    }
    std::lock_guard<std::mutex> lk(mu);
    stats.messages_published += ok;
    stats.publish_errors += failed;
  }

  void DoTick() {
    std::vector<Outgoing> msgs;
    {
      std::lock_guard<std::mutex> lk(mu);
      msgs = TickLocked();
    }
    PublishAll(msgs);
  }

  void Loop() {
    using Clock = std::chrono::steady_clock;
    const auto period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / opts.rate_hz));
    auto next = Clock::now();
    for (;;) {
      next += period;
      {
        std::unique_lock<std::mutex> lk(run_mu);
        if (run_cv.wait_until(lk, next, [&] { return stop_requested; })) return;
      }
      DoTick();
      // Far behind (a stalled broker, a suspended process): skip the backlog, keep the period.
      auto now = Clock::now();
      if (now - next > 10 * period) next = now;
    }
  }

  // Returns the twin of `{prefix}/{twin}/commands`, or nullopt.
  std::optional<std::string> CommandTwin(std::string_view topic) const {
    const std::string& p = opts.topic_prefix;
    constexpr std::string_view kLeaf = "/commands";
    if (topic.size() <= p.size() + 1 + kLeaf.size()) return std::nullopt;
    if (topic.substr(0, p.size()) != p || topic[p.size()] != '/') return std::nullopt;
    if (topic.substr(topic.size() - kLeaf.size()) != kLeaf) return std::nullopt;
    std::string_view twin = topic.substr(p.size() + 1, topic.size() - p.size() - 1 - kLeaf.size());
    if (twin.empty() || twin.find('/') != std::string_view::npos) return std::nullopt;
    return std::string(twin);
  }

  // Validates and applies a command (mu held). Returns the rejection reason, or "" if accepted.
  std::string ApplyLocked(const std::string& twin, const json& cmd) {
    std::optional<size_t> pump;
    bool is_tank = twin == "tank-1";
    for (size_t i = 0; i < model.params().pumps.size(); ++i) {
      if (twin == PumpId(i)) pump = i;
    }
    if (!pump && !is_tank) return fmt::format("unknown twin '{}'", twin);
    auto name_it = cmd.find("name");
    if (name_it == cmd.end() || !name_it->is_string()) return "name: expected a string";
    const std::string& name = name_it->get_ref<const std::string&>();
    auto req_it = cmd.find("request");
    const json empty = json::object();
    const json& req = req_it == cmd.end() || req_it->is_null() ? empty : *req_it;
    if (name == "setSpeed" || name == "setMode") {
      if (!pump) return fmt::format("{} does not accept {}", twin, name);
      if (!req.is_object()) return "request: expected an object";
    }
    if (name == "setSpeed") {
      auto it = req.find("speed_rpm");
      if (it == req.end() || !it->is_number()) return "request.speed_rpm: expected a number";
      double v = it->get<double>();
      double max = model.params().pumps[*pump].max_speed_rpm;
      if (!std::isfinite(v) || v < 0 || v > max) return fmt::format("speed_rpm {} outside 0..{}", v, max);
      inputs.speed_setpoint_rpm[*pump] = v;
      return "";
    }
    if (name == "setMode") {
      auto it = req.find("mode");
      if (it == req.end() || !it->is_string()) return "request.mode: expected \"auto\" or \"manual\"";
      const std::string& mode = it->get_ref<const std::string&>();
      if (mode == "auto") {
        inputs.speed_setpoint_rpm[*pump] = std::nullopt;
      } else if (mode == "manual") {
        // Hold the current effective setpoint.
        if (!inputs.speed_setpoint_rpm[*pump]) {
          inputs.speed_setpoint_rpm[*pump] =
              model.EffectiveSetpoint(static_cast<int>(*pump), sim.state(), inputs);
        }
      } else {
        return fmt::format("request.mode: '{}' is not \"auto\" or \"manual\"", mode);
      }
      return "";
    }
    return fmt::format("unknown command '{}' for {}", name, twin);
  }

  void HandleCommand(std::string_view topic, std::string_view payload) {
    std::optional<std::string> twin = CommandTwin(topic);
    if (!twin) {
      LogBadCommand(spdlog::level::warn, "plant: ignoring message on unexpected topic {}", topic);
      std::lock_guard<std::mutex> lk(mu);
      ++stats.commands_ignored;
      return;
    }
    json cmd = json::parse(payload.begin(), payload.end(), nullptr, /*allow_exceptions=*/false);
    const json* id = nullptr;
    if (cmd.is_object()) {
      auto it = cmd.find("id");
      if (it != cmd.end() && it->is_string() && !it->get_ref<const std::string&>().empty() &&
          it->get_ref<const std::string&>().size() <= kMaxIdLength) {
        id = &*it;
      }
    }
    if (id == nullptr) {
      LogBadCommand(spdlog::level::warn, "plant: ignoring command on {} without a readable id ({} bytes)",
                    topic, payload.size());
      std::lock_guard<std::mutex> lk(mu);
      ++stats.commands_ignored;
      return;
    }
    const std::string& id_str = id->get_ref<const std::string&>();
    std::string key = *twin;
    key += '\0';
    key += id_str;
    std::string ack;
    {
      std::lock_guard<std::mutex> lk(mu);
      auto it = done.find(key);
      if (it != done.end()) {
        ++stats.commands_duplicate;
        ack = it->second;
      } else {
        std::string reason = ApplyLocked(*twin, cmd);
        json a = {{"id", id_str}};
        if (reason.empty()) {
          a["status"] = "accepted";
          ++stats.commands_accepted;
        } else {
          a["status"] = "rejected";
          a["reason"] = reason;
          ++stats.commands_rejected;
          LogBadCommand(spdlog::level::info, "plant: rejected command {} for {}: {}", id_str, *twin, reason);
        }
        ack = Dump(a);
        done.emplace(key, ack);
        done_order.push_back(key);
        while (done_order.size() > opts.dedup_window) {
          done.erase(done_order.front());
          done_order.pop_front();
        }
      }
    }
    if (bus != nullptr) {
      std::string topic_ack = DeviceTopic(*twin, "commands/ack");
      Status st = bus->Publish(topic_ack, ack, opts.qos);
      std::lock_guard<std::mutex> lk(mu);
      if (st.ok()) {
        ++stats.messages_published;
      } else {
        ++stats.publish_errors;
      }
    }
  }
};

namespace {

TimeNs ResolveStart(TimeNs t) {
  if (t != 0) return t;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Plant::Plant(platform::MessageBus* bus, PlantOptions options) {
  if (Status st = options.Validate(); !st.ok()) throw std::invalid_argument("PlantOptions: " + st.message());
  TimeNs start = ResolveStart(options.start_time_ns);
  StationParams params = StationParams::FromSeed(options.seed, options.pumps);
  params.tank.surge_start_s = options.demand_surge_start_s;
  params.tank.surge_duration_s = options.demand_surge_duration_s;
  params.tank.surge_factor = options.demand_surge_factor;
  for (const auto& [twin, w] : options.initial_impeller_wear) {
    for (size_t i = 0; i < params.pumps.size(); ++i) {
      if (twin == fmt::format("pump-{}", i + 1)) params.pumps[i].initial_impeller_wear = w;
    }
  }
  params.time_of_day_at_start_s =
      static_cast<double>((start / kNsPerS) % 86400) + static_cast<double>(start % kNsPerS) / 1e9;
  FaultSchedule faults;
  if (options.faults) faults = FaultSchedule::FromSeed(options.seed, options.pumps, options.fault_horizon_s);
  impl_ = std::make_shared<Impl>(bus, std::move(options), start, std::move(params), std::move(faults));
}

Plant::~Plant() { Stop(); }

Status Plant::SubscribeCommands() {
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    if (impl_->subscribed || impl_->bus == nullptr) return Status::Ok();
    impl_->subscribed = true;
  }
  std::weak_ptr<Impl> weak = impl_;
  Status st = impl_->bus->Subscribe(impl_->opts.topic_prefix + "/+/commands", impl_->opts.qos,
                                    [weak](std::string_view topic, std::string_view payload) {
                                      // The bus has no unsubscribe: a handler may outlive the Plant.
                                      if (auto impl = weak.lock()) impl->HandleCommand(topic, payload);
                                    });
  if (!st.ok()) {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->subscribed = false;
  }
  return st;
}

Status Plant::Start() {
  std::lock_guard<std::mutex> lk(impl_->run_mu);
  if (impl_->running.load()) return FailedPrecondition("plant already running");
  DOPPEL_RETURN_IF_ERROR(SubscribeCommands());
  impl_->stop_requested = false;
  impl_->running.store(true);
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
  return Status::Ok();
}

void Plant::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lk(impl_->run_mu);
    if (!impl_->running.load()) return;
    impl_->stop_requested = true;
    t = std::move(impl_->thread);
  }
  impl_->run_cv.notify_all();
  if (t.joinable()) t.join();
  impl_->running.store(false);
}

bool Plant::running() const { return impl_->running.load(); }

Status Plant::Tick() {
  if (running()) return FailedPrecondition("plant is running in real time; Stop() before stepping");
  impl_->DoTick();
  return Status::Ok();
}

Status Plant::StepFor(double sim_seconds) {
  if (running()) return FailedPrecondition("plant is running in real time; Stop() before stepping");
  if (!(sim_seconds >= 0) || !std::isfinite(sim_seconds)) {
    return InvalidArgument(fmt::format("StepFor: {} is not a non-negative duration", sim_seconds));
  }
  double period = impl_->period_s();
  double total;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    impl_->pending_s += sim_seconds;
    total = impl_->pending_s;
  }
  // Tolerate rounding: 10 × 0.1 s is 10 ticks.
  auto ticks = static_cast<uint64_t>(std::floor(total / period + 1e-9));
  for (uint64_t i = 0; i < ticks; ++i) impl_->DoTick();
  std::lock_guard<std::mutex> lk(impl_->mu);
  impl_->pending_s = std::max(0.0, impl_->pending_s - static_cast<double>(ticks) * period);
  return Status::Ok();
}

void Plant::HandleCommandMessage(std::string_view topic, std::string_view payload) {
  impl_->HandleCommand(topic, payload);
}

PlantStats Plant::stats() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->stats;
}

PlantTruth Plant::Truth() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->TruthLocked();
}

const StationModel& Plant::model() const { return impl_->model; }
const PlantOptions& Plant::options() const { return impl_->opts; }
double Plant::sample_period_s() const { return impl_->period_s(); }

std::vector<std::string> Plant::TwinIds() const {
  std::vector<std::string> ids;
  for (size_t i = 0; i < impl_->model.params().pumps.size(); ++i) ids.push_back(Impl::PumpId(i));
  ids.push_back("tank-1");
  return ids;
}

}  // namespace doppel::plant
