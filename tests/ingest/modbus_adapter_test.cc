// ModbusAdapter against a real Modbus TCP server process (tests/modbus/modbus_server.cc, whose
// header lists the register map these tests rely on) on a free loopback port.
#include "doppel/ingest/modbus_adapter.h"

#include <gtest/gtest.h>
#include <modbus/modbus.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>

#include "testing/test_util.h"

namespace doppel::ingest {
namespace {

using testing::ChildProcess;
using testing::TempDir;

constexpr int kWaitMs = 10000;  // generous deadline for "eventually"; never a timing assertion

struct Sink : ReadingSink, CommandAckSink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Reading> readings;
  std::vector<CommandAck> acks;
  Status Submit(std::vector<Reading> batch) override {
    std::lock_guard lk(mu);
    readings.insert(readings.end(), batch.begin(), batch.end());
    cv.notify_all();
    return Status::Ok();
  }
  void OnCommandAck(const CommandAck& a) override {
    std::lock_guard lk(mu);
    acks.push_back(a);
    cv.notify_all();
  }
  // Waits until pred() (called under the lock) holds; false on the deadline.
  bool WaitFor(const std::function<bool()>& pred) {
    std::unique_lock lk(mu);
    return cv.wait_for(lk, std::chrono::milliseconds(kWaitMs), pred);
  }
  // The latest reading of `signal` from index `from` on, or nullptr (call under the lock).
  const Reading* Latest(const std::string& signal, size_t from = 0) {
    for (size_t i = readings.size(); i-- > from;)
      if (readings[i].signal == signal) return &readings[i];
    return nullptr;
  }
};

class Server {
 public:
  explicit Server(int port) : port_(port) { Start(); }
  void Start() {
    proc_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{MODBUS_TEST_SERVER, "--port", std::to_string(port_)},
        dir_.file("server.log"));
    if (!testing::WaitForChildListening(*proc_, port_, kWaitMs))
      throw std::runtime_error("modbus_test_server did not start");
  }
  void Kill() { proc_->Kill(SIGKILL); }
  int port() const { return port_; }

 private:
  TempDir dir_;
  int port_;
  std::unique_ptr<ChildProcess> proc_;
};

ModbusPointOptions Point(const std::string& signal, ModbusTable table, int address, ModbusType type,
                         WordOrder order = WordOrder::kBigEndian, double scale = 1, double offset = 0) {
  return ModbusPointOptions{"plc-1", signal, table, address, RegisterFormat{type, order, scale, offset}};
}

ModbusAdapterOptions BaseOptions(int port) {
  ModbusAdapterOptions o;
  o.port = port;
  o.poll_interval_ms = 20;
  o.timeout_ms = 500;
  o.reconnect_initial_ms = 20;
  o.reconnect_max_ms = 200;
  return o;
}

std::unique_ptr<ModbusAdapter> MakeAdapter(ModbusAdapterOptions o, Sink* sink, MetricsRegistry* m) {
  auto a = ModbusAdapter::Create(std::move(o), sink, sink, m);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  if (!a.ok()) return nullptr;
  EXPECT_TRUE((*a)->Start().ok());
  return std::move(a).value();
}

TEST(ModbusAdapterTest, PollingDeliversDecodedScaledValuesOfEveryType) {
  Server server(testing::FreePort());
  auto o = BaseOptions(server.port());
  o.points = {
      Point("i16", ModbusTable::kHolding, 0, ModbusType::kInt16),
      Point("u16", ModbusTable::kHolding, 1, ModbusType::kUint16),
      Point("i32_abcd", ModbusTable::kHolding, 2, ModbusType::kInt32, WordOrder::kBigEndian),
      Point("i32_cdab", ModbusTable::kHolding, 4, ModbusType::kInt32, WordOrder::kLittleEndian),
      Point("f32_abcd", ModbusTable::kHolding, 6, ModbusType::kFloat32, WordOrder::kBigEndian),
      Point("f32_cdab", ModbusTable::kHolding, 8, ModbusType::kFloat32, WordOrder::kLittleEndian),
      Point("u32", ModbusTable::kHolding, 10, ModbusType::kUint32),
      Point("temp_c", ModbusTable::kInput, 1, ModbusType::kInt16, WordOrder::kBigEndian, 0.1),
      Point("offset_c", ModbusTable::kInput, 1, ModbusType::kInt16, WordOrder::kBigEndian, 0.5, -100),
      Point("coil_on", ModbusTable::kCoil, 0, ModbusType::kBool),
      Point("coil_off", ModbusTable::kCoil, 1, ModbusType::kBool),
      Point("di_on", ModbusTable::kDiscrete, 0, ModbusType::kBool),
  };
  Sink sink;
  MetricsRegistry m;
  auto a = MakeAdapter(o, &sink, &m);
  ASSERT_TRUE(sink.WaitFor([&] { return sink.readings.size() >= 2 * o.points.size(); }));
  a->Stop();
  std::map<std::string, double> v;
  for (const auto& r : sink.readings) {
    EXPECT_EQ(r.quality, Quality::kGood) << r.signal;
    EXPECT_EQ(r.twin, "plc-1");
    v[r.signal] = r.value;
  }
  EXPECT_EQ(v["i16"], -1234);
  EXPECT_EQ(v["u16"], 54321);
  EXPECT_EQ(v["i32_abcd"], -123456789);
  EXPECT_EQ(v["i32_cdab"], -123456789);
  EXPECT_EQ(v["f32_abcd"], 12.375);
  EXPECT_EQ(v["f32_cdab"], -0.15625);
  EXPECT_EQ(v["u32"], 4000000000.0);
  EXPECT_DOUBLE_EQ(v["temp_c"], 21.5);
  EXPECT_DOUBLE_EQ(v["offset_c"], 7.5);
  EXPECT_EQ(v["coil_on"], 1);
  EXPECT_EQ(v["coil_off"], 0);
  EXPECT_EQ(v["di_on"], 1);
  EXPECT_GE(a->stats().polls, 2u);
  EXPECT_EQ(a->stats().poll_failures, 0u);
}

TEST(ModbusAdapterTest, RegistersThatChangeOnTheServerChangeTheReadings) {
  Server server(testing::FreePort());
  auto o = BaseOptions(server.port());
  o.points = {Point("ticks", ModbusTable::kInput, 0, ModbusType::kUint16)};
  Sink sink;
  MetricsRegistry m;
  auto a = MakeAdapter(o, &sink, &m);
  double first = -1;
  ASSERT_TRUE(sink.WaitFor([&] {
    if (sink.readings.empty()) return false;
    if (first < 0) first = sink.readings.front().value;
    return sink.readings.back().value > first;  // the server ticks every 50 ms
  }));
}

TEST(ModbusAdapterTest, WritesReachTheServerAndAreAcked) {
  Server server(testing::FreePort());
  auto o = BaseOptions(server.port());
  o.points = {Point("speed_sp", ModbusTable::kHolding, 20, ModbusType::kUint16, WordOrder::kBigEndian, 0.5)};
  o.writes = {
      {"plc-1",
       "setSpeed",
       "speed_rpm",
       ModbusTable::kHolding,
       20,
       {ModbusType::kUint16, WordOrder::kBigEndian, 0.5, 0}},
      {"plc-1",
       "setpoint_bar",
       "",
       ModbusTable::kHolding,
       21,
       {ModbusType::kFloat32, WordOrder::kLittleEndian, 1, 0}},
      {"plc-1", "enable", "", ModbusTable::kCoil, 10, {ModbusType::kBool, WordOrder::kBigEndian, 1, 0}},
      {"plc-1",
       "nowhere",
       "",
       ModbusTable::kHolding,
       150,
       {ModbusType::kUint16, WordOrder::kBigEndian, 1, 0}},
  };
  Sink sink;
  MetricsRegistry m;
  auto a = MakeAdapter(o, &sink, &m);
  ASSERT_TRUE(a->WriteCommand("plc-1", "c-1", "setSpeed", {{"speed_rpm", 1450}}).ok());
  ASSERT_TRUE(a->WriteCommand("plc-1", "c-2", "setpoint_bar", 2.75).ok());
  ASSERT_TRUE(a->WriteCommand("plc-1", "c-3", "enable", {{"on", true}}).ok());
  ASSERT_TRUE(a->WriteCommand("plc-1", "c-4", "nowhere", 1).ok());
  ASSERT_TRUE(sink.WaitFor([&] { return sink.acks.size() == 4; }));
  std::map<std::string, CommandAck> acks;
  for (const auto& ack : sink.acks) acks[ack.id] = ack;
  EXPECT_TRUE(acks["c-1"].accepted) << acks["c-1"].reason;
  EXPECT_TRUE(acks["c-2"].accepted) << acks["c-2"].reason;
  EXPECT_TRUE(acks["c-3"].accepted) << acks["c-3"].reason;
  EXPECT_FALSE(acks["c-4"].accepted);
  EXPECT_NE(acks["c-4"].reason.find("Illegal data address"), std::string::npos) << acks["c-4"].reason;
  // The adapter's own poll sees the new setpoint (raw 2900 * 0.5).
  ASSERT_TRUE(sink.WaitFor([&] {
    const Reading* r = sink.Latest("speed_sp");
    return r != nullptr && r->value == 1450;
  }));
  // An independent libmodbus client reads what landed on the server.
  modbus_t* c = modbus_new_tcp("127.0.0.1", server.port());
  ASSERT_EQ(modbus_connect(c), 0);
  uint16_t regs[3] = {};
  uint8_t bit = 0;
  ASSERT_EQ(modbus_read_registers(c, 20, 3, regs), 3);
  ASSERT_EQ(modbus_read_bits(c, 10, 1, &bit), 1);
  modbus_close(c);
  modbus_free(c);
  EXPECT_EQ(regs[0], 2900);
  EXPECT_EQ(modbus_get_float_cdab(regs + 1), 2.75f);
  EXPECT_EQ(bit, 1);
  // Bad requests fail synchronously and never reach the wire.
  EXPECT_EQ(a->WriteCommand("plc-1", "c-5", "unknown", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(a->WriteCommand("plc-1", "c-6", "setSpeed", {{"speed_rpm", 1e6}}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(a->WriteCommand("plc-1", "c-7", "setSpeed", {{"rpm", 10}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->WriteCommand("plc-1", "c-8", "setpoint_bar", "high").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->stats().writes, 3u);
  EXPECT_EQ(a->stats().write_failures, 1u);
}

// The gap is reported both ways: one Quality::kBad reading per point per outage (value = the
// last good one) and the doppel_modbus_poll_failures_total / reconnects counters.
TEST(ModbusAdapterTest, ServerThatDisappearsAndReturnsGivesBadReadingsThenResumes) {
  Server server(testing::FreePort());
  auto o = BaseOptions(server.port());
  o.points = {Point("temp_c", ModbusTable::kInput, 1, ModbusType::kInt16, WordOrder::kBigEndian, 0.1),
              Point("ticks", ModbusTable::kInput, 0, ModbusType::kUint16)};
  Sink sink;
  MetricsRegistry m;
  auto a = MakeAdapter(o, &sink, &m);
  ASSERT_TRUE(sink.WaitFor([&] { return sink.readings.size() >= 4; }));

  server.Kill();
  size_t bad_at = 0;
  ASSERT_TRUE(sink.WaitFor([&] {
    for (size_t i = 0; i < sink.readings.size(); ++i)
      if (sink.readings[i].quality == Quality::kBad) return (bad_at = i), true;
    return false;
  }));
  {
    std::lock_guard lk(sink.mu);
    const Reading& bad = sink.readings[bad_at];
    if (bad.signal == "temp_c") {
      EXPECT_DOUBLE_EQ(bad.value, 21.5);  // the last good value
    }
  }
  EXPECT_FALSE(a->stats().connected);

  server.Start();
  ASSERT_TRUE(sink.WaitFor([&] {
    const Reading* r = sink.Latest("temp_c", bad_at + 1);
    return r != nullptr && r->quality == Quality::kGood;
  }));
  auto st = a->stats();
  EXPECT_TRUE(st.connected);
  EXPECT_EQ(st.bad_readings, 2u);  // once per point for the one outage, however long it lasted
  EXPECT_GE(st.poll_failures, 1u);
  EXPECT_GE(st.reconnects, 1u);
  EXPECT_EQ(m.GetCounter("doppel_modbus_reconnects_total", "",
                         "server=\"127.0.0.1:" + std::to_string(server.port()) + "\"")
                .Value(),
            st.reconnects);
  std::lock_guard lk(sink.mu);
  size_t bad = 0;
  for (const auto& r : sink.readings) bad += r.quality == Quality::kBad;
  EXPECT_EQ(bad, 2u);
}

TEST(ModbusAdapterTest, UnreachableServerAtStartIsAnOutageUntilItAppears) {
  const int port = testing::FreePort();
  auto o = BaseOptions(port);
  o.points = {Point("temp_c", ModbusTable::kInput, 1, ModbusType::kInt16, WordOrder::kBigEndian, 0.1)};
  o.writes = {
      {"plc-1", "enable", "", ModbusTable::kCoil, 10, {ModbusType::kBool, WordOrder::kBigEndian, 1, 0}}};
  Sink sink;
  MetricsRegistry m;
  auto a = MakeAdapter(o, &sink, &m);
  ASSERT_TRUE(sink.WaitFor([&] { return !sink.readings.empty(); }));
  EXPECT_EQ(sink.readings[0].quality, Quality::kBad);
  ASSERT_TRUE(a->WriteCommand("plc-1", "c-1", "enable", true).ok());
  ASSERT_TRUE(sink.WaitFor([&] { return !sink.acks.empty(); }));
  EXPECT_FALSE(sink.acks[0].accepted);
  EXPECT_NE(sink.acks[0].reason.find("unreachable"), std::string::npos) << sink.acks[0].reason;

  Server server(port);
  ASSERT_TRUE(sink.WaitFor([&] {
    const Reading* r = sink.Latest("temp_c");
    return r != nullptr && r->quality == Quality::kGood && r->value == 21.5;
  }));
}

TEST(ModbusAdapterTest, ModbusExceptionMarksOnlyItsBlockBadAndKeepsTheConnection) {
  Server server(testing::FreePort());
  auto o = BaseOptions(server.port());
  o.points = {Point("missing", ModbusTable::kHolding, 150, ModbusType::kUint16),
              Point("ticks", ModbusTable::kInput, 0, ModbusType::kUint16)};
  Sink sink;
  MetricsRegistry m;
  auto a = MakeAdapter(o, &sink, &m);
  ASSERT_TRUE(sink.WaitFor([&] {
    size_t ticks = 0;
    for (const auto& r : sink.readings) ticks += r.signal == "ticks";
    return ticks >= 5;
  }));
  a->Stop();
  size_t missing_bad = 0;
  for (const auto& r : sink.readings) {
    if (r.signal == "missing") missing_bad += r.quality == Quality::kBad;
    if (r.signal == "ticks") {
      EXPECT_EQ(r.quality, Quality::kGood);
    }
  }
  EXPECT_EQ(missing_bad, 1u);
  EXPECT_EQ(a->stats().reconnects, 0u);
  EXPECT_GE(a->stats().poll_failures, 5u);
}

TEST(ModbusAdapterTest, ValidateNamesTheBadPointOrWrite) {
  ModbusAdapterOptions o;
  o.points = {Point("ok", ModbusTable::kHolding, 0, ModbusType::kUint16),
              Point("flow", ModbusTable::kCoil, 3, ModbusType::kFloat32)};
  Status s = o.Validate();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "points[1] (plc-1/flow): a coil point must have type bool");
  o.points = {Point("last", ModbusTable::kHolding, 65535, ModbusType::kInt32)};
  EXPECT_NE(o.Validate().message().find("points[0] (plc-1/last): the value runs past address 65535"),
            std::string::npos);
  o.points = {Point("zero", ModbusTable::kHolding, 0, ModbusType::kInt16, WordOrder::kBigEndian, 0)};
  EXPECT_NE(o.Validate().message().find("scale must be finite and non-zero"), std::string::npos);
  o.points = {};
  o.writes = {{"plc-1", "x", "", ModbusTable::kInput, 0, {}}};
  EXPECT_EQ(o.Validate().message(),
            "writes[0] (plc-1/x): table must be holding or coil (the others are read-only)");
  o.writes = {};
  EXPECT_EQ(o.Validate().message(), "points: no points and no writes configured");
  o.points = {Point("ok", ModbusTable::kHolding, 0, ModbusType::kUint16)};
  o.port = 0;
  EXPECT_EQ(o.Validate().message(), "port: must be in 1..65535");
  Sink sink;
  MetricsRegistry m;
  EXPECT_FALSE(ModbusAdapter::Create(o, &sink, &sink, &m).ok());
}

}  // namespace
}  // namespace doppel::ingest
