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
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

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

// A Station starts a plant only when StartPlant() is called (SharedStation() does).
struct StationOptions {
  int command_timeout_ms = 0;  // 0: the default (10 s)
  int pumps = 3;
  double rate_hz = 5;
  uint64_t seed = 7;
  std::string extra_config;  // YAML appended to the serve config (e.g. an opcua: section)
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
