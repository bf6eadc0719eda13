// The integration-test harness: a "station" of real processes on free loopback ports —
// a mosquitto broker, `doppel serve` with a YAML config in a TempDir, and optionally
// `doppel plant` — plus polling helpers and log capture.
//
// Every child writes its stdout+stderr to a file in the station's TempDir. When a Station is
// destroyed during a failed test, or when DumpLogsIfFailed() is called from a failed test, the
// tail of every log is printed, so a failure on CI is diagnosable without re-running. Set
// DOPPEL_IT_KEEP_LOGS=DIR to also copy the whole logs into DIR.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/platform/pubsub.h"
#include "integration/http_client.h"
#include "testing/test_util.h"

namespace doppel::integration {

inline constexpr const char* kAdmin = "admin-secret";
inline constexpr const char* kOperator = "operator-secret";
inline constexpr const char* kViewer = "viewer-secret";
inline const std::vector<std::string> kPumpSignals = {"flow_m3h", "discharge_pressure_bar", "speed_rpm",
                                                      "power_kw", "motor_temp_c",           "vibration_mm_s"};

// Polls `pred` every `every` until it holds or `timeout` passes; returns its last value.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every = std::chrono::milliseconds(100));
int64_t WallNowNs();
// The last `lines` lines of a file ("" when missing).
std::string TailFile(const std::string& path, size_t lines = 40);
// Runs `doppel SUBCOMMAND ARGS...` (args[0] is the subcommand) to completion with its stdout and
// stderr in `log`; *out gets that output. False if it did not exit within `timeout`.
bool RunDoppel(const std::vector<std::string>& args, const std::string& log, std::string* out,
               std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The statuses of a command's audit trail, comma-separated ("proposed,approved,sent,acked").
std::string AuditStatuses(const nlohmann::json& command);

// A Station starts a plant only when StartPlant() is called (SharedStation() does).
struct StationOptions {
  int command_timeout_ms = 0;  // 0: the default (10 s)
  int pumps = 3;
  double rate_hz = 5;
  uint64_t seed = 7;
  std::string extra_config;  // YAML appended to the serve config (e.g. an opcua: section)
  // MQTT topics "it<http port>/{twin}/..." for serve and plant instead of "plant/...": no other
  // test's plant or serve can publish or receive on them, even on a broker reached by mistake.
  bool private_topics = false;
  std::vector<std::string> plant_args;  // appended to `doppel plant`'s command line
};

using Points = std::vector<std::pair<int64_t, double>>;

class Station {
 public:
  explicit Station(StationOptions options = {});
  ~Station();
  Station(const Station&) = delete;
  Station& operator=(const Station&) = delete;

  // Starts `doppel serve` and waits until /api/v1/health answers 200 (false: it did not
  // within 20 s, or it exited; the log says why).
  bool StartServe();
  // Sends `signal` to serve and reaps it (SIGKILL: a crash).
  void KillServe(int signal);
  bool StartPlant();
  void StopPlant();

  int http_port() const { return http_port_; }
  int mqtt_port() const { return mosquitto_.port(); }
  std::string broker_url() const { return mosquitto_.url(); }
  const StationOptions& options() const { return options_; }
  std::string file(const std::string& name) const { return dir_.file(name); }

  // HTTP against this station's serve; the token defaults to admin.
  HttpResult Get(const std::string& target, const std::string& token = kAdmin) const;
  HttpResult Post(const std::string& target, const nlohmann::json& body,
                  const std::string& token = kAdmin) const;
  // Any method with a JSON body; the token defaults to operator.
  HttpResult Send(const std::string& method, const std::string& target, const nlohmann::json& body,
                  const std::string& token = kOperator) const;
  // The prefix of this station's MQTT topics ("plant", or "it<port>" with private_topics).
  std::string topic_prefix() const;
  // Signals the plant if it runs (never kill(-1, ...): a reaped child's pid is -1).
  void SignalPlant(int signal);
  // The plant's log so far.
  std::string PlantLog() const;
  // GET .../commands/{cid}; a null json when not 200.
  nlohmann::json Command(const std::string& twin, const std::string& cid) const;
  // Polls the command until its status is `status`; the last answer.
  nlohmann::json WaitForCommandStatus(const std::string& twin, const std::string& cid,
                                      const std::string& status,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // GET /api/v1/twins/{id}; a null json when not 200.
  nlohmann::json Twin(const std::string& id) const;
  // GET .../telemetry as (ts, value) pairs; empty when not 200.
  Points History(const std::string& twin, const std::string& signal, int64_t from, int64_t to,
                 int points = 100000) const;
  // Waits until every pump and tank-1 are listed with all their signals (up to `timeout`).
  bool WaitForAllTelemetry(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // Polls GET .../commands/{cid} until its status is one of the final ones; the last answer.
  nlohmann::json WaitForCommandFinal(const std::string& twin, const std::string& cid,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;
  // A metric's value from /metrics (first sample whose name and labels start with `name`); -1
  // when missing.
  double Metric(const std::string& name) const;

  // Tails of the serve and plant logs, labelled.
  std::string LogTails(size_t lines = 40) const;
  // Prints LogTails() when the current test has failed.
  void DumpLogsIfFailed() const;

 private:
  void WriteConfig();

  StationOptions options_;
  testing::TempDir dir_;
  testing::Mosquitto mosquitto_;
  int http_port_;
  std::string config_;
  std::unique_ptr<testing::ChildProcess> serve_;
  std::unique_ptr<testing::ChildProcess> plant_;
};

// A raw MQTT client on a station's broker (clean session), for what a test watches on the wire:
// the commands that reach the plant, the plant's truth; and for publishing as a device would.
class Witness {
 public:
  explicit Witness(const Station& station);
  ~Witness();
  using Handler = std::function<void(std::string_view payload)>;
  // Before Start(). False when the subscription failed.
  bool Subscribe(const std::string& topic, int qos, Handler handler);
  // Subscribes to every command topic of the station and counts deliveries by command id.
  bool CountCommands();
  bool Start();
  bool Publish(const std::string& topic, const std::string& payload);
  // Deliveries of command `id` seen so far.
  int Seen(const std::string& id) const;

 private:
  const Station& station_;
  std::unique_ptr<platform::MessageBus> bus_;
  mutable std::mutex mu_;
  std::map<std::string, int> seen_;
};

// One station (3 pumps + tank, rate 5 Hz) shared by the suites that only observe or add to it,
// started on first use and stopped after the last test. Saves ~5 s per suite.
Station& SharedStation();

// Base fixture: prints the shared station's logs after a failed test.
class SharedStationTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  Station& st() { return *station_; }
  Station* station_ = nullptr;
};

}  // namespace doppel::integration
