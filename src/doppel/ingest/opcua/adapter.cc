#include "doppel/ingest/opcua/adapter.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "doppel/core/log.h"

namespace doppel::ingest::opcua {

Status OpcUaAdapterOptions::Validate() const {
  DOPPEL_RETURN_IF_ERROR(client.Validate());
  if (!(publishing_interval_ms >= 10)) return InvalidArgument("publishing_interval_ms must be >= 10");
  if (!(sampling_interval_ms == -1 || sampling_interval_ms >= 0))
    return InvalidArgument("sampling_interval_ms must be -1 (the publishing interval) or >= 0");
  if (queue_size < 1) return InvalidArgument("queue_size must be >= 1");
  if (reconnect_min_ms < 1) return InvalidArgument("reconnect_min_ms must be >= 1");
  if (reconnect_max_ms < reconnect_min_ms)
    return InvalidArgument("reconnect_max_ms must be >= reconnect_min_ms");
  if (mappings.empty() && writes.empty()) return InvalidArgument("mappings and writes are both empty");
  std::set<std::pair<std::string, std::string>> signals;
  for (size_t i = 0; i < mappings.size(); ++i) {
    const SignalMapping& m = mappings[i];
    if (auto id = NodeId::Parse(m.node_id); !id.ok())
      return InvalidArgument(fmt::format("mappings[{}].node_id: {}", i, id.status().message()));
    if (m.twin.empty()) return InvalidArgument(fmt::format("mappings[{}].twin: empty", i));
    if (m.signal.empty()) return InvalidArgument(fmt::format("mappings[{}].signal: empty", i));
    if (!signals.insert({m.twin, m.signal}).second)
      return InvalidArgument(fmt::format("mappings[{}]: {}/{} is mapped twice", i, m.twin, m.signal));
  }
  std::set<std::pair<std::string, std::string>> names;
  for (size_t i = 0; i < writes.size(); ++i) {
    const WriteMapping& w = writes[i];
    if (auto id = NodeId::Parse(w.node_id); !id.ok())
      return InvalidArgument(fmt::format("writes[{}].node_id: {}", i, id.status().message()));
    if (w.twin.empty()) return InvalidArgument(fmt::format("writes[{}].twin: empty", i));
    if (w.command.empty() == w.property.empty())
      return InvalidArgument(fmt::format("writes[{}]: set exactly one of command and property", i));
    const std::string& name = w.command.empty() ? w.property : w.command;
    if (!names.insert({w.twin, name}).second)
      return InvalidArgument(fmt::format("writes[{}]: {}/{} is mapped twice", i, w.twin, name));
  }
  return Status::Ok();
}

Result<Variant> JsonToVariant(const nlohmann::json& v, const NodeId& data_type) {
  if (data_type.ns != 0 || data_type.kind != NodeId::Kind::kNumeric)
    return InvalidArgument(fmt::format("unsupported DataType {}", data_type.ToString()));
  uint32_t t = data_type.numeric;
  // Abstract numeric types: Number -> Double, Integer -> Int64, UInteger -> UInt64.
  if (t == 26) t = 11;
  if (t == 27) t = 8;
  if (t == 28) t = 9;
  auto type = static_cast<BuiltinType>(t);
  if (t == 12) {
    if (!v.is_string()) return InvalidArgument("expected a string for a String node");
    return Variant::Of(type, v.get<std::string>());
  }
  if (t < 1 || t > 11) return InvalidArgument(fmt::format("unsupported DataType {}", data_type.ToString()));
  double x = 0;
  if (v.is_boolean())
    x = v.get<bool>() ? 1 : 0;
  else if (v.is_number())
    x = v.get<double>();
  else
    return InvalidArgument(
        fmt::format("expected a number or Boolean for a {} node, got {}", BuiltinTypeName(type), v.dump()));
  if (!std::isfinite(x)) return InvalidArgument("value is not finite");
  if (type == BuiltinType::kBoolean) {
    if (x != 0 && x != 1)
      return InvalidArgument(fmt::format("{} is not a Boolean (0/1, true/false)", v.dump()));
    return Variant::Of(type, x == 1);
  }
  if (type == BuiltinType::kFloat || type == BuiltinType::kDouble) {
    if (type == BuiltinType::kFloat && std::fabs(x) > std::numeric_limits<float>::max())
      return InvalidArgument(fmt::format("{} is out of range for Float", v.dump()));
    return Variant::Of(type, x);
  }
  if (std::trunc(x) != x)
    return InvalidArgument(fmt::format("{} is not an integer ({} node)", v.dump(), BuiltinTypeName(type)));
  struct Range {
    double lo, hi;
  };
  static const std::map<BuiltinType, Range> kRanges = {
      {BuiltinType::kSByte, {-128, 127}},
      {BuiltinType::kByte, {0, 255}},
      {BuiltinType::kInt16, {-32768, 32767}},
      {BuiltinType::kUInt16, {0, 65535}},
      {BuiltinType::kInt32, {-2147483648.0, 2147483647.0}},
      {BuiltinType::kUInt32, {0, 4294967295.0}},
      {BuiltinType::kInt64, {-9223372036854775808.0, 9223372036854774784.0}},
      {BuiltinType::kUInt64, {0, 18446744073709549568.0}}};
  const Range& r = kRanges.at(type);
  if (x < r.lo || x > r.hi)
    return InvalidArgument(fmt::format("{} is out of range for {}", v.dump(), BuiltinTypeName(type)));
  bool is_unsigned = type == BuiltinType::kByte || type == BuiltinType::kUInt16 ||
                     type == BuiltinType::kUInt32 || type == BuiltinType::kUInt64;
  if (is_unsigned)
    return Variant::Of(type, v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(x));
  return Variant::Of(type, v.is_number_integer() ? v.get<int64_t>() : static_cast<int64_t>(x));
}

namespace {

Quality QualityOf(uint32_t status) {
  if (IsBad(status)) return Quality::kBad;
  if (!IsGood(status)) return Quality::kUncertain;
  return Quality::kGood;
}

class AdapterImpl : public OpcUaAdapter {
 public:
  AdapterImpl(OpcUaAdapterOptions o, ReadingSink* readings, CommandAckSink* acks, MetricsRegistry* metrics)
      : o_(std::move(o)), readings_(readings), acks_(acks), client_(o_.client) {
    for (const auto& m : o_.mappings) nodes_.push_back(NodeId::Parse(m.node_id).value());
    if (!o_.now_ns) {
      o_.now_ns = [] {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
    }
    if (metrics) {
      m_connects_ = &metrics->GetCounter("doppel_opcua_connects_total", "OPC UA sessions established");
      m_failures_ = &metrics->GetCounter("doppel_opcua_connect_failures_total",
                                         "OPC UA connection attempts that failed");
      m_readings_ = &metrics->GetCounter("doppel_opcua_readings_total", "Readings delivered from OPC UA");
      m_renewals_ =
          &metrics->GetCounter("doppel_opcua_channel_renewals_total", "OPC UA secure channel tokens renewed");
      m_dropped_ = &metrics->GetCounter("doppel_opcua_values_dropped_total", "OPC UA values not delivered");
      m_accepted_ =
          &metrics->GetCounter("doppel_opcua_writes_total", "OPC UA writes by result", "result=\"accepted\"");
      m_rejected_ =
          &metrics->GetCounter("doppel_opcua_writes_total", "OPC UA writes by result", "result=\"rejected\"");
      m_connected_ = &metrics->GetGauge("doppel_opcua_connected", "1 while the OPC UA session is up");
    }
  }
  ~AdapterImpl() override { Stop(); }

  Status Start() override {
    std::lock_guard lk(mu_);
    if (started_) return FailedPrecondition("OpcUaAdapter already started");
    started_ = true;
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  void Stop() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  Status WriteCommand(const std::string& twin, const std::string& command_id, const std::string& name,
                      const nlohmann::json& value) override {
    const WriteMapping* found = nullptr;
    for (const auto& w : o_.writes)
      if (w.twin == twin && (w.command == name || w.property == name)) found = &w;
    if (!found) return NotFound(fmt::format("no OPC UA write mapping for {}/{}", twin, name));
    nlohmann::json v = value.is_object() && value.contains("value") ? value["value"] : value;
    if (!v.is_number() && !v.is_boolean() && !v.is_string())
      return InvalidArgument(
          fmt::format("{}/{}: value must be a number, Boolean or string, got {}", twin, name, v.dump()));
    std::lock_guard lk(mu_);
    if (stop_) return FailedPrecondition("OpcUaAdapter stopped");
    writes_.push_back({twin, command_id, NodeId::Parse(found->node_id).value(), std::move(v)});
    return Status::Ok();
  }

  OpcUaAdapterSummary Summary() const override {
    std::lock_guard lk(mu_);
    return summary_;
  }

 private:
  struct PendingWrite {
    std::string twin, id;
    NodeId node;
    nlohmann::json value;
  };

  void Note(const Status& st, bool failure_of_connect) {
    uint64_t suppressed = 0;
    if (log_limit_.Allow(&suppressed))
      spdlog::warn("opcua {}: {}{}", o_.client.endpoint, st.ToString(),
                   suppressed ? fmt::format(" ({} similar suppressed)", suppressed) : "");
    std::lock_guard lk(mu_);
    summary_.last_error = st.ToString();
    if (failure_of_connect) ++summary_.connect_failures;
    if (failure_of_connect && m_failures_) m_failures_->Inc();
  }

  Status ConnectAndSubscribe() {
    DOPPEL_RETURN_IF_ERROR(client_.Connect());
    data_types_.clear();
    if (nodes_.empty()) return Status::Ok();
    CreateSubscriptionRequest sub;
    sub.publishing_interval_ms = o_.publishing_interval_ms;
    sub.max_keep_alive_count = std::max<uint32_t>(1, static_cast<uint32_t>(1000 / o_.publishing_interval_ms));
    sub.lifetime_count = std::max<uint32_t>(sub.max_keep_alive_count * 3,
                                            static_cast<uint32_t>(30000 / o_.publishing_interval_ms));
    auto s = client_.CreateSubscription(sub);
    if (!s.ok()) return s.status();
    std::vector<MonitoredItemCreate> items;
    for (size_t i = 0; i < nodes_.size(); ++i)
      items.push_back({nodes_[i], static_cast<uint32_t>(i), o_.sampling_interval_ms, o_.queue_size});
    auto created = client_.CreateMonitoredItems(s->subscription_id, items);
    if (!created.ok()) return created.status();
    for (size_t i = 0; i < created->size(); ++i)
      if (IsBad((*created)[i].status))
        Note(NotFound(fmt::format("mappings[{}] {}: {}", i, o_.mappings[i].node_id,
                                  StatusCodeName((*created)[i].status))),
             false);
    return Status::Ok();
  }

  void Deliver(const PublishResponse& p) {
    std::vector<Reading> batch;
    uint64_t dropped = 0;
    for (const MonitoredItemValue& item : p.data_changes) {
      if (item.client_handle >= o_.mappings.size()) {
        ++dropped;
        continue;
      }
      const SignalMapping& m = o_.mappings[item.client_handle];
      const DataValue& dv = item.value;
      Reading r{m.twin, m.signal, 0, 0.0, QualityOf(dv.status)};
      std::optional<double> x = dv.value ? dv.value->AsDouble() : std::nullopt;
      if (!x && r.quality != Quality::kBad) {
        ++dropped;  // a string, an array or a structure: not a signal value
        continue;
      }
      r.value = x.value_or(std::numeric_limits<double>::quiet_NaN());
      // The source time, else the server's, else ours: a missing or unusable DateTime (0,
      // the spec's max, before 1970, after 2262) is no timestamp.
      std::optional<TimeNs> ts = UaTicksToNs(dv.source_timestamp);
      if (!ts) ts = UaTicksToNs(dv.server_timestamp);
      r.source_ts_ns = ts ? *ts : o_.now_ns();
      batch.push_back(std::move(r));
    }
    size_t n = batch.size();
    if (n > 0) {
      if (Status st = readings_->Submit(std::move(batch)); !st.ok()) {
        Note(st, false);
        dropped += n;
        n = 0;
      }
    }
    const uint64_t renewals = client_.summary().channel_renewals;
    std::lock_guard lk(mu_);
    summary_.readings += n;
    summary_.values_dropped += dropped;
    if (m_renewals_ && renewals > summary_.channel_renewals)
      m_renewals_->Inc(renewals - summary_.channel_renewals);
    summary_.channel_renewals = renewals;
    if (m_readings_) m_readings_->Inc(n);
    if (m_dropped_) m_dropped_->Inc(dropped);
  }

  void Ack(const PendingWrite& w, bool accepted, std::string reason) {
    {
      std::lock_guard lk(mu_);
      ++(accepted ? summary_.writes_accepted : summary_.writes_rejected);
    }
    if (Counter* c = accepted ? m_accepted_ : m_rejected_) c->Inc();
    acks_->OnCommandAck({w.twin, w.id, accepted, std::move(reason)});
  }

  Result<NodeId> DataTypeOf(const NodeId& node) {
    std::string key = node.ToString();
    if (auto it = data_types_.find(key); it != data_types_.end()) return it->second;
    auto r = client_.Read({{node, kAttrDataType}});
    if (!r.ok()) return r.status();
    const DataValue& dv = (*r)[0];
    if (IsBad(dv.status)) return NotFound(fmt::format("DataType of {}: {}", key, StatusCodeName(dv.status)));
    if (!dv.value || dv.value->type != BuiltinType::kNodeId || dv.value->is_array)
      return InvalidArgument(fmt::format("DataType of {}: not a NodeId", key));
    NodeId t = std::get<NodeId>(dv.value->values[0]);
    data_types_[key] = t;
    return t;
  }

  void ProcessWrites() {
    std::deque<PendingWrite> todo;
    {
      std::lock_guard lk(mu_);
      todo.swap(writes_);
    }
    for (const PendingWrite& w : todo) {
      if (!client_.connected()) {
        Ack(w, false, fmt::format("unavailable: not connected to {}", o_.client.endpoint));
        continue;
      }
      auto type = DataTypeOf(w.node);
      if (!type.ok()) {
        Ack(w, false, type.status().ToString());
        continue;
      }
      auto v = JsonToVariant(w.value, *type);
      if (!v.ok()) {
        Ack(w, false, fmt::format("{}: {}", w.node.ToString(), v.status().message()));
        continue;
      }
      WriteValue wv;
      wv.node_id = w.node;
      wv.value.value = std::move(v).value();
      auto r = client_.Write({wv});
      if (!r.ok()) {
        Ack(w, false, r.status().ToString());
        continue;
      }
      uint32_t code = (*r)[0];
      Ack(w, IsGood(code), StatusCodeName(code));
    }
  }

  void SetConnected(bool up) {
    std::lock_guard lk(mu_);
    if (up) ++summary_.connects;
    if (!up && summary_.connected) ++summary_.disconnects;
    summary_.connected = up;
    if (m_connected_) m_connected_->Set(up ? 1 : 0);
    if (up && m_connects_) m_connects_->Inc();
  }

  bool SleepUnlessStopped(int ms) {
    std::unique_lock lk(mu_);
    return !cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stop_; });
  }

  bool Stopping() {
    std::lock_guard lk(mu_);
    return stop_;
  }

  void Run() {
    int backoff = o_.reconnect_min_ms;
    while (!Stopping()) {
      if (Status st = ConnectAndSubscribe(); !st.ok()) {
        client_.Disconnect();
        Note(st, true);
        ProcessWrites();  // acked as not connected
        if (!SleepUnlessStopped(backoff)) break;
        backoff = std::min(backoff * 2, o_.reconnect_max_ms);
        continue;
      }
      backoff = o_.reconnect_min_ms;
      SetConnected(true);
      spdlog::info("opcua {}: connected, {} monitored items", o_.client.endpoint, nodes_.size());
      while (!Stopping()) {
        ProcessWrites();
        if (!client_.connected()) break;
        if (nodes_.empty()) {
          SleepUnlessStopped(50);
          continue;
        }
        auto r = client_.Publish(50);
        if (!r.ok()) {
          Note(r.status(), false);
          break;
        }
        if (*r) Deliver(**r);
      }
      client_.Disconnect();
      SetConnected(false);
    }
    client_.Disconnect();
    ProcessWrites();
  }

  OpcUaAdapterOptions o_;
  ReadingSink* readings_;
  CommandAckSink* acks_;
  Client client_;  // owned by the thread once started
  std::vector<NodeId> nodes_;
  std::map<std::string, NodeId> data_types_;
  RateLimiter log_limit_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false, stop_ = false;
  std::deque<PendingWrite> writes_;
  OpcUaAdapterSummary summary_;
  std::thread thread_;

  Counter *m_connects_ = nullptr, *m_failures_ = nullptr, *m_readings_ = nullptr, *m_dropped_ = nullptr;
  Counter* m_renewals_ = nullptr;
  Counter *m_accepted_ = nullptr, *m_rejected_ = nullptr;
  Gauge* m_connected_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<OpcUaAdapter>> OpcUaAdapter::Create(OpcUaAdapterOptions options, ReadingSink* readings,
                                                           CommandAckSink* acks, MetricsRegistry* metrics) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  if (!readings || !acks) return InvalidArgument("OpcUaAdapter needs a ReadingSink and a CommandAckSink");
  return std::unique_ptr<OpcUaAdapter>(
      std::make_unique<AdapterImpl>(std::move(options), readings, acks, metrics));
}

}  // namespace doppel::ingest::opcua
