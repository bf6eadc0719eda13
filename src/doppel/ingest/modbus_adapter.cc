#include "doppel/ingest/modbus_adapter.h"

#include <modbus/modbus.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "doppel/core/log.h"

namespace doppel::ingest {

namespace {

std::string PointName(const std::string& what, size_t i, const std::string& twin, const std::string& name) {
  return what + "[" + std::to_string(i) + "] (" + twin + "/" + name + "): ";
}

Status CheckAddress(int address, int count) {
  if (address < 0 || address > 65535) return InvalidArgument("address must be in 0..65535");
  if (address + count - 1 > 65535) return InvalidArgument("the value runs past address 65535");
  return Status::Ok();
}

Status CheckFormat(const RegisterFormat& f, ModbusTable table) {
  if (!std::isfinite(f.scale) || f.scale == 0) return InvalidArgument("scale must be finite and non-zero");
  if (!std::isfinite(f.offset)) return InvalidArgument("offset must be finite");
  if (IsBitTable(table) && f.type != ModbusType::kBool)
    return InvalidArgument(std::string("a ") + ModbusTableName(table) + " point must have type bool");
  return Status::Ok();
}

bool IsModbusException(int e) { return e >= EMBXILFUN && e <= EMBXGTAR; }

int SpanCount(ModbusTable t, const RegisterFormat& f) { return IsBitTable(t) ? 1 : RegisterCount(f.type); }

}  // namespace

Status ModbusAdapterOptions::Validate() const {
  if (host.empty()) return InvalidArgument("host: must not be empty");
  if (port < 1 || port > 65535) return InvalidArgument("port: must be in 1..65535");
  if (unit_id < 0 || unit_id > 255) return InvalidArgument("unit_id: must be in 0..255");
  if (poll_interval_ms < 1) return InvalidArgument("poll_interval_ms: must be >= 1");
  if (timeout_ms < 1) return InvalidArgument("timeout_ms: must be >= 1");
  if (reconnect_initial_ms < 1) return InvalidArgument("reconnect_initial_ms: must be >= 1");
  if (reconnect_max_ms < reconnect_initial_ms)
    return InvalidArgument("reconnect_max_ms: must be >= reconnect_initial_ms");
  if (max_gap < 0) return InvalidArgument("max_gap: must be >= 0");
  if (points.empty() && writes.empty()) return InvalidArgument("points: no points and no writes configured");
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    const std::string where = PointName("points", i, p.twin, p.signal);
    if (p.twin.empty() || p.signal.empty())
      return InvalidArgument(where + "twin and signal must not be empty");
    if (Status s = CheckAddress(p.address, SpanCount(p.table, p.format)); !s.ok())
      return InvalidArgument(where + s.message());
    if (Status s = CheckFormat(p.format, p.table); !s.ok()) return InvalidArgument(where + s.message());
    if (!seen.insert({p.twin, p.signal}).second) return InvalidArgument(where + "duplicate twin/signal");
  }
  seen.clear();
  for (size_t i = 0; i < writes.size(); ++i) {
    const auto& w = writes[i];
    const std::string where = PointName("writes", i, w.twin, w.name);
    if (w.twin.empty() || w.name.empty()) return InvalidArgument(where + "twin and name must not be empty");
    if (w.table != ModbusTable::kHolding && w.table != ModbusTable::kCoil)
      return InvalidArgument(where + "table must be holding or coil (the others are read-only)");
    if (Status s = CheckAddress(w.address, SpanCount(w.table, w.format)); !s.ok())
      return InvalidArgument(where + s.message());
    if (Status s = CheckFormat(w.format, w.table); !s.ok()) return InvalidArgument(where + s.message());
    if (!seen.insert({w.twin, w.name}).second) return InvalidArgument(where + "duplicate twin/name");
  }
  return Status::Ok();
}

namespace {

class ModbusAdapterImpl final : public ModbusAdapter {
 public:
  ModbusAdapterImpl(ModbusAdapterOptions o, ReadingSink* readings, CommandAckSink* acks, MetricsRegistry* m)
      : o_(std::move(o)),
        readings_(readings),
        acks_(acks),
        label_("server=\"" + o_.host + ":" + std::to_string(o_.port) + "\""),
        m_polls_(
            m->GetCounter("doppel_modbus_polls_total", "Modbus poll cycles with every block read", label_)),
        m_failures_(m->GetCounter("doppel_modbus_poll_failures_total",
                                  "Modbus read blocks that failed (connection errors and exceptions)",
                                  label_)),
        m_reconnects_(m->GetCounter("doppel_modbus_reconnects_total",
                                    "Modbus reconnects after a lost or refused connection", label_)),
        m_bad_(m->GetCounter("doppel_modbus_bad_readings_total",
                             "Bad-quality readings submitted for Modbus outages and exceptions", label_)),
        m_connected_(
            m->GetGauge("doppel_modbus_connected", "1 while the Modbus server is connected", label_)) {
    if (!o_.now_ns) {
      o_.now_ns = [] {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
    }
    std::vector<AddressSpan> spans;
    for (const auto& p : o_.points) spans.push_back({p.table, p.address, SpanCount(p.table, p.format)});
    blocks_ = PlanReads(spans, MODBUS_MAX_READ_REGISTERS, MODBUS_MAX_READ_BITS, o_.max_gap);
    last_.assign(o_.points.size(), 0.0);
    bad_.assign(o_.points.size(), false);
  }

  ~ModbusAdapterImpl() override { Stop(); }

  Status Start() override {
    std::lock_guard lk(mu_);
    if (thread_.joinable()) return FailedPrecondition("modbus adapter already started");
    ctx_ = modbus_new_tcp(o_.host.c_str(), o_.port);
    if (ctx_ == nullptr) return InvalidArgument("modbus: cannot create a TCP context for " + o_.host);
    modbus_set_slave(ctx_, o_.unit_id);
    const uint32_t to_s = static_cast<uint32_t>(o_.timeout_ms / 1000);
    const uint32_t to_us = static_cast<uint32_t>((o_.timeout_ms % 1000) * 1000);
    modbus_set_response_timeout(ctx_, to_s, to_us);
    stop_ = false;
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
    std::deque<PendingWrite> left;
    {
      std::lock_guard lk(mu_);
      left.swap(writes_);
    }
    for (auto& w : left) Ack(w, false, "modbus adapter stopped before the write was sent");
    if (ctx_ != nullptr) {
      modbus_close(ctx_);
      modbus_free(ctx_);
      ctx_ = nullptr;
    }
  }

  Status WriteCommand(const std::string& twin, const std::string& id, const std::string& name,
                      const nlohmann::json& request) override {
    auto it = std::find_if(o_.writes.begin(), o_.writes.end(),
                           [&](const ModbusWriteOptions& w) { return w.twin == twin && w.name == name; });
    if (it == o_.writes.end())
      return NotFound("modbus: no write configured for twin '" + twin + "' command/property '" + name + "'");
    auto value = ValueOf(*it, request);
    if (!value.ok()) return value.status();
    auto regs = EncodeRegisters(*value, it->format);
    if (!regs.ok())
      return InvalidArgument("modbus write " + twin + "/" + name + ": " + regs.status().message());
    {
      std::lock_guard lk(mu_);
      if (!thread_.joinable() || stop_) return FailedPrecondition("modbus adapter is not running");
      writes_.push_back(PendingWrite{&*it, id, std::move(regs).value()});
    }
    cv_.notify_all();
    return Status::Ok();
  }

  ModbusAdapterStats stats() const override {
    std::lock_guard lk(stats_mu_);
    return stats_;
  }

 private:
  struct PendingWrite {
    const ModbusWriteOptions* target;
    std::string id;
    std::vector<uint16_t> regs;
  };

  static Result<double> ValueOf(const ModbusWriteOptions& w, const nlohmann::json& req) {
    const nlohmann::json* v = &req;
    if (!w.field.empty()) {
      if (!req.is_object() || !req.contains(w.field))
        return InvalidArgument("modbus write " + w.twin + "/" + w.name + ": request has no member '" +
                               w.field + "'");
      v = &req[w.field];
    } else if (req.is_object()) {
      if (req.size() != 1)
        return InvalidArgument("modbus write " + w.twin + "/" + w.name +
                               ": request object must have exactly one member (or configure `field`)");
      v = &req.begin().value();
    }
    if (v->is_boolean()) return v->get<bool>() ? 1.0 : 0.0;
    if (v->is_number()) return v->get<double>();
    return InvalidArgument("modbus write " + w.twin + "/" + w.name +
                           ": value must be a number or a bool, got " + v->dump());
  }

  void Run() {
    int backoff = o_.reconnect_initial_ms;
    bool ever_connected = false;
    auto next_poll = std::chrono::steady_clock::now();
    while (true) {
      {
        std::unique_lock lk(mu_);
        if (stop_) return;
      }
      if (!connected_) {
        if (modbus_connect(ctx_) != 0) {
          const int e = errno;
          modbus_close(ctx_);
          Outage(std::string("connect: ") + modbus_strerror(e));
          FailPendingWrites(std::string("modbus server unreachable: ") + modbus_strerror(e));
          std::unique_lock lk(mu_);
          cv_.wait_for(lk, std::chrono::milliseconds(backoff), [&] { return stop_; });
          backoff = std::min(backoff * 2, o_.reconnect_max_ms);
          continue;
        }
        connected_ = true;
        m_connected_.Set(1);
        backoff = o_.reconnect_initial_ms;
        if (ever_connected) {
          m_reconnects_.Inc();
          Bump([](ModbusAdapterStats& s) { ++s.reconnects; });
          spdlog::info("modbus {}:{}: reconnected", o_.host, o_.port);
        }
        ever_connected = true;
        Bump([](ModbusAdapterStats& s) { s.connected = true; });
        next_poll = std::chrono::steady_clock::now();
      }
      DoWrites();
      if (!connected_) continue;
      if (std::chrono::steady_clock::now() >= next_poll) {
        next_poll += std::chrono::milliseconds(o_.poll_interval_ms);
        if (next_poll < std::chrono::steady_clock::now()) next_poll = std::chrono::steady_clock::now();
        PollOnce();
        if (!connected_) continue;
      }
      std::unique_lock lk(mu_);
      cv_.wait_until(lk, next_poll, [&] { return stop_ || !writes_.empty(); });
    }
  }

  void PollOnce() {
    const TimeNs ts = o_.now_ns();
    std::map<std::string, std::vector<Reading>> by_twin;
    bool all_ok = true;
    std::vector<uint16_t> regs;
    std::vector<uint8_t> bits;
    for (const ReadBlock& b : blocks_) {
      int rc = -1;
      if (IsBitTable(b.table)) {
        bits.assign(static_cast<size_t>(b.count), 0);
        rc = b.table == ModbusTable::kCoil ? modbus_read_bits(ctx_, b.start, b.count, bits.data())
                                           : modbus_read_input_bits(ctx_, b.start, b.count, bits.data());
      } else {
        regs.assign(static_cast<size_t>(b.count), 0);
        rc = b.table == ModbusTable::kHolding
                 ? modbus_read_registers(ctx_, b.start, b.count, regs.data())
                 : modbus_read_input_registers(ctx_, b.start, b.count, regs.data());
      }
      if (rc != b.count) {
        const int e = errno;
        all_ok = false;
        m_failures_.Inc();
        Bump([](ModbusAdapterStats& s) { ++s.poll_failures; });
        const std::string why = std::string(ModbusTableName(b.table)) + " " + std::to_string(b.start) + "+" +
                                std::to_string(b.count) + ": " + (rc < 0 ? modbus_strerror(e) : "short read");
        if (rc < 0 && IsModbusException(e)) {
          for (size_t i : b.points) MarkBad(i, ts, &by_twin);
          LogWarn("read " + why);
          continue;
        }
        Disconnect();
        Outage("read " + why);
        return;
      }
      for (size_t i : b.points) {
        const auto& p = o_.points[i];
        const int off = p.address - b.start;
        Result<double> v = 0.0;
        if (IsBitTable(b.table)) {
          const uint16_t r = bits[static_cast<size_t>(off)];
          v = DecodeRegisters(std::span<const uint16_t>(&r, 1), p.format);
        } else {
          v = DecodeRegisters(std::span<const uint16_t>(regs.data() + off, RegisterCount(p.format.type)),
                              p.format);
        }
        if (!v.ok()) {  // cannot happen for validated options; keep the data honest anyway
          MarkBad(i, ts, &by_twin);
          continue;
        }
        last_[i] = *v;
        bad_[i] = false;
        by_twin[p.twin].push_back(Reading{p.twin, p.signal, ts, *v, Quality::kGood});
      }
    }
    Submit(&by_twin);
    if (all_ok) {
      m_polls_.Inc();
      Bump([](ModbusAdapterStats& s) { ++s.polls; });
    }
  }

  // Marks point i bad once (until a good value clears it).
  void MarkBad(size_t i, TimeNs ts, std::map<std::string, std::vector<Reading>>* by_twin) {
    if (bad_[i]) return;
    bad_[i] = true;
    const auto& p = o_.points[i];
    (*by_twin)[p.twin].push_back(Reading{p.twin, p.signal, ts, last_[i], Quality::kBad});
    m_bad_.Inc();
    Bump([](ModbusAdapterStats& s) { ++s.bad_readings; });
  }

  void Outage(const std::string& why) {
    std::map<std::string, std::vector<Reading>> by_twin;
    const TimeNs ts = o_.now_ns();
    for (size_t i = 0; i < o_.points.size(); ++i) MarkBad(i, ts, &by_twin);
    if (!by_twin.empty()) LogWarn(why + " (points marked bad until the server answers)");
    Submit(&by_twin);
  }

  void Submit(std::map<std::string, std::vector<Reading>>* by_twin) {
    for (auto& [twin, batch] : *by_twin) {
      const size_t n = batch.size();
      Status s = readings_->Submit(std::move(batch));
      Bump([n](ModbusAdapterStats& st) { st.readings += n; });
      if (!s.ok()) LogWarn("readings for twin '" + twin + "' refused: " + s.message());
    }
  }

  void Disconnect() {
    modbus_close(ctx_);
    connected_ = false;
    m_connected_.Set(0);
    Bump([](ModbusAdapterStats& s) { s.connected = false; });
  }

  void DoWrites() {
    while (connected_) {
      PendingWrite w;
      {
        std::lock_guard lk(mu_);
        if (writes_.empty()) return;
        w = std::move(writes_.front());
        writes_.pop_front();
      }
      const ModbusWriteOptions& t = *w.target;
      int rc = 0;
      if (t.table == ModbusTable::kCoil) {
        rc = modbus_write_bit(ctx_, t.address, w.regs[0] != 0 ? 1 : 0);
      } else if (w.regs.size() == 1) {
        rc = modbus_write_register(ctx_, t.address, w.regs[0]);
      } else {
        rc = modbus_write_registers(ctx_, t.address, static_cast<int>(w.regs.size()), w.regs.data());
      }
      if (rc < 0) {
        const int e = errno;
        Ack(w, false, std::string("modbus write failed: ") + modbus_strerror(e));
        if (!IsModbusException(e)) {
          Disconnect();
          Outage(std::string("write: ") + modbus_strerror(e));
        }
        continue;
      }
      Ack(w, true, "");
    }
  }

  void FailPendingWrites(const std::string& why) {
    std::deque<PendingWrite> left;
    {
      std::lock_guard lk(mu_);
      left.swap(writes_);
    }
    for (auto& w : left) Ack(w, false, why);
  }

  void Ack(const PendingWrite& w, bool ok, const std::string& reason) {
    Bump([ok](ModbusAdapterStats& s) { ++(ok ? s.writes : s.write_failures); });
    if (acks_ != nullptr) acks_->OnCommandAck(CommandAck{w.target->twin, w.id, ok, reason});
  }

  template <typename F>
  void Bump(F f) {
    std::lock_guard lk(stats_mu_);
    f(stats_);
  }

  void LogWarn(const std::string& msg) {
    uint64_t skipped = 0;
    if (log_limit_.Allow(&skipped))
      spdlog::warn("modbus {}:{}: {}{}", o_.host, o_.port, msg,
                   skipped ? fmt::format(" ({} more suppressed)", skipped) : "");
  }

  ModbusAdapterOptions o_;
  ReadingSink* readings_;
  CommandAckSink* acks_;
  std::string label_;
  Counter& m_polls_;
  Counter& m_failures_;
  Counter& m_reconnects_;
  Counter& m_bad_;
  Gauge& m_connected_;
  std::vector<ReadBlock> blocks_;
  // Poll-thread state.
  modbus_t* ctx_ = nullptr;
  bool connected_ = false;
  std::vector<double> last_;
  std::vector<bool> bad_;
  RateLimiter log_limit_;
  // Shared state.
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<PendingWrite> writes_;
  std::thread thread_;
  mutable std::mutex stats_mu_;
  ModbusAdapterStats stats_;
};

}  // namespace

Result<std::unique_ptr<ModbusAdapter>> ModbusAdapter::Create(ModbusAdapterOptions options,
                                                             ReadingSink* readings, CommandAckSink* acks,
                                                             MetricsRegistry* metrics) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  if (readings == nullptr) return InvalidArgument("modbus adapter: a ReadingSink is required");
  return std::unique_ptr<ModbusAdapter>(new ModbusAdapterImpl(std::move(options), readings, acks, metrics));
}

}  // namespace doppel::ingest
