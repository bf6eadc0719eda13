#include "integration/harness.h"

#include <signal.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace doppel::integration {

using nlohmann::json;

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
             std::chrono::milliseconds every) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

int64_t WallNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool RunDoppel(const std::vector<std::string>& args, const std::string& log, std::string* out,
               std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {testing::DoppelBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::remove(log.c_str());
  testing::ChildProcess p(argv, log);
  const bool exited = WaitFor([&] { return !p.running(); }, timeout, std::chrono::milliseconds(20));
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return exited;
}

std::string TailFile(const std::string& path, size_t lines) {
  std::ifstream in(path);
  if (!in) return "";
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(std::move(line));
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (auto& l : last) out += "    " + l + "\n";
  return out;
}

std::string AuditStatuses(const json& command) {
  std::string s;
  for (const auto& e : command.value("audit", json::array()))
    s += (s.empty() ? "" : ",") + e.value("status", "?");
  return s;
}

Station::Station(StationOptions options) : options_(options), http_port_(testing::FreePort()) {
  config_ = dir_.file("doppel.yaml");
  WriteConfig();
}

Station::~Station() {
  DumpLogsIfFailed();
  SignalPlant(SIGCONT);  // a stopped plant could not act on the SIGTERM
  plant_.reset();        // SIGTERM, then SIGKILL after 3 s; reaped
  serve_.reset();
}

void Station::WriteConfig() {
  std::ofstream f(config_);
  f << "listen: 127.0.0.1:" << http_port_ << "\n"
    << "data_dir: " << dir_.file("data") << "\n"
    << "models: " << testing::SourceDir() << "/examples/models\n"
    << "mqtt:\n"
    << "  broker: " << mosquitto_.url() << "\n"
    << "  client_id: doppel-it-" << http_port_ << "\n";
  if (options_.private_topics) {
    f << "  telemetry_topic: " << topic_prefix() << "/{twin}/telemetry\n"
      << "  command_topic: " << topic_prefix() << "/{twin}/commands\n"
      << "  ack_topic: " << topic_prefix() << "/{twin}/commands/ack\n";
  }
  f << "  provision: { \"pump-*\": \"dtmi:doppel:demo:Pump;1\", \"tank-*\": \"dtmi:doppel:demo:Tank;1\" }\n"
    << "tokens:\n"
    << "  - { token: admin-secret, role: admin }\n"
    << "  - { token: operator-secret, role: operator }\n"
    << "  - { token: viewer-secret, role: viewer }\n";
  if (options_.command_timeout_ms > 0) f << "commands: {timeout_ms: " << options_.command_timeout_ms << "}\n";
  f << options_.extra_config;
}

bool Station::StartServe() {
  serve_ = std::make_unique<testing::ChildProcess>(
      std::vector<std::string>{testing::DoppelBinary(), "serve", "--config", config_},
      dir_.file("serve.log"));
  // Our own serve must own the port (a concurrent test's serve could answer on it otherwise).
  if (!testing::WaitForChildListening(*serve_, http_port_, 20000)) return false;
  return WaitFor(
             [&] {
               if (!serve_->running()) return true;  // exited: stop waiting, report below
               return Get("/api/v1/health", "").status == 200;
             },
             std::chrono::seconds(20), std::chrono::milliseconds(50)) &&
         serve_->running();
}

void Station::KillServe(int signal) {
  if (serve_) serve_->Kill(signal);
  std::ofstream(dir_.file("serve.log"), std::ios::app)
      << "---- test harness: serve killed with signal " << signal << " ----\n";
}

bool Station::StartPlant() {
  std::vector<std::string> args = {testing::DoppelBinary(),
                                   "plant",
                                   "--broker",
                                   mosquitto_.url(),
                                   "--pumps",
                                   std::to_string(options_.pumps),
                                   "--rate",
                                   std::to_string(options_.rate_hz),
                                   "--seed",
                                   std::to_string(options_.seed),
                                   "--client-id",
                                   "doppel-it-plant-" + std::to_string(http_port_)};
  if (options_.private_topics) args.insert(args.end(), {"--topic-prefix", topic_prefix()});
  args.insert(args.end(), options_.plant_args.begin(), options_.plant_args.end());
  plant_ = std::make_unique<testing::ChildProcess>(args, dir_.file("plant.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return plant_->running();
}

void Station::StopPlant() { plant_.reset(); }

HttpResult Station::Get(const std::string& target, const std::string& token) const {
  return Http(http_port_, "GET", target, token);
}

HttpResult Station::Post(const std::string& target, const json& body, const std::string& token) const {
  return Http(http_port_, "POST", target, token, body.dump());
}

HttpResult Station::Send(const std::string& method, const std::string& target, const json& body,
                         const std::string& token) const {
  return Http(http_port_, method, target, token, body.dump());
}

std::string Station::topic_prefix() const {
  return options_.private_topics ? "it" + std::to_string(http_port_) : "plant";
}

void Station::SignalPlant(int signal) {
  if (plant_ && plant_->pid() > 0) ::kill(plant_->pid(), signal);
}

std::string Station::PlantLog() const {
  std::ifstream in(dir_.file("plant.log"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json Station::Command(const std::string& twin, const std::string& cid) const {
  HttpResult r = Get("/api/v1/twins/" + twin + "/commands/" + cid);
  return r.status == 200 ? r.Json() : json();
}

json Station::WaitForCommandStatus(const std::string& twin, const std::string& cid, const std::string& status,
                                   std::chrono::milliseconds timeout) const {
  json last;
  WaitFor(
      [&] {
        last = Command(twin, cid);
        return last.is_object() && last.value("status", "") == status;
      },
      timeout);
  return last;
}

Witness::Witness(const Station& station) : station_(station) {
  platform::MqttOptions mo;
  if (platform::ParseBrokerUrl(station.broker_url(), &mo).ok()) {
    mo.client_id = "witness-" + std::to_string(station.http_port());
    mo.clean_session = true;
    bus_ = platform::NewMqttBus(mo);
  }
}

Witness::~Witness() {
  if (bus_) bus_->Stop();
}

bool Witness::Subscribe(const std::string& topic, int qos, Handler handler) {
  return bus_ &&
         bus_->Subscribe(topic, qos,
                         [h = std::move(handler)](std::string_view, std::string_view payload) { h(payload); })
             .ok();
}

bool Witness::CountCommands() {
  return Subscribe(station_.topic_prefix() + "/+/commands", 1, [this](std::string_view payload) {
    json j = json::parse(payload, nullptr, false);
    if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return;
    std::lock_guard lk(mu_);
    seen_[j["id"].get<std::string>()] += 1;
  });
}

bool Witness::Start() { return bus_ && bus_->Start().ok(); }

bool Witness::Publish(const std::string& topic, const std::string& payload) {
  return bus_ && bus_->Publish(topic, payload, 1).ok();
}

int Witness::Seen(const std::string& id) const {
  std::lock_guard lk(mu_);
  auto it = seen_.find(id);
  return it == seen_.end() ? 0 : it->second;
}

json Station::Twin(const std::string& id) const {
  HttpResult r = Get("/api/v1/twins/" + id);
  if (r.status != 200) return nullptr;
  return r.Json();
}

Points Station::History(const std::string& twin, const std::string& signal, int64_t from, int64_t to,
                        int points) const {
  HttpResult r =
      Get("/api/v1/twins/" + twin + "/telemetry?signal=" + signal + "&from=" + std::to_string(from) +
          "&to=" + std::to_string(to) + "&points=" + std::to_string(points));
  Points out;
  if (r.status != 200) return out;
  json j = r.Json();
  if (!j.is_object() || !j.contains("points") || !j["points"].is_array()) return out;
  for (const auto& p : j["points"]) {
    if (p.is_array() && p.size() == 2 && p[0].is_number_integer() && p[1].is_number()) {
      out.emplace_back(p[0].get<int64_t>(), p[1].get<double>());
    }
  }
  return out;
}

bool Station::WaitForAllTelemetry(std::chrono::milliseconds timeout) const {
  return WaitFor(
      [&] {
        HttpResult r = Get("/api/v1/twins");
        if (r.status != 200) return false;
        json j = r.Json();
        if (!j.is_object() || !j["twins"].is_array()) return false;
        std::map<std::string, json> by_id;
        for (const auto& t : j["twins"]) by_id[t.value("id", "")] = t;
        for (int k = 1; k <= options_.pumps; ++k) {
          auto it = by_id.find("pump-" + std::to_string(k));
          if (it == by_id.end()) return false;
          for (const auto& s : kPumpSignals) {
            if (!it->second["telemetry"].contains(s)) return false;
          }
        }
        auto tank = by_id.find("tank-1");
        return tank != by_id.end() && tank->second["telemetry"].contains("level_m");
      },
      timeout, std::chrono::milliseconds(200));
}

json Station::WaitForCommandFinal(const std::string& twin, const std::string& cid,
                                  std::chrono::milliseconds timeout) const {
  json last;
  WaitFor(
      [&] {
        HttpResult r = Get("/api/v1/twins/" + twin + "/commands/" + cid);
        if (r.status != 200) return false;
        last = r.Json();
        std::string s = last.is_object() ? last.value("status", "") : "";
        return s == "acked" || s == "rejected" || s == "timed_out";
      },
      timeout, std::chrono::milliseconds(100));
  return last;
}

double Station::Metric(const std::string& name) const {
  HttpResult r = Get("/metrics", kViewer);
  if (r.status != 200) return -1;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind(name, 0) != 0) continue;
    char next = line.size() > name.size() ? line[name.size()] : ' ';
    if (next != ' ' && next != '{') continue;
    size_t sp = line.rfind(' ');
    return std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return -1;
}

std::string Station::LogTails(size_t lines) const {
  std::string out;
  for (const char* name : {"serve.log", "plant.log"}) {
    std::string path = dir_.file(name);
    if (!std::filesystem::exists(path)) continue;
    out += "  ---- tail of " + path + " ----\n" + TailFile(path, lines);
  }
  out += "  (config: " + config_ + ", http port " + std::to_string(http_port_) + ", mqtt port " +
         std::to_string(mosquitto_.port()) + ")\n";
  return out;
}

void Station::DumpLogsIfFailed() const {
  if (!::testing::Test::HasFailure()) return;
  std::cerr << "\n== child process logs (" << ::testing::UnitTest::GetInstance()->current_test_info()->name()
            << ") ==\n"
            << LogTails() << std::flush;
  if (const char* keep = std::getenv("DOPPEL_IT_KEEP_LOGS")) {
    std::error_code ec;
    std::filesystem::create_directories(keep, ec);
    for (const char* name : {"serve.log", "plant.log", "doppel.yaml"}) {
      std::filesystem::copy_file(dir_.file(name),
                                 std::filesystem::path(keep) / (std::to_string(http_port_) + "-" + name),
                                 std::filesystem::copy_options::overwrite_existing, ec);
    }
  }
}

// --- the shared station -------------------------------------------------------------------------

namespace {

std::unique_ptr<Station>& SharedSlot() {
  static std::unique_ptr<Station> s;
  return s;
}

class SharedStationEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedSlot().reset(); }
};

[[maybe_unused]] ::testing::Environment* const kEnv =
    ::testing::AddGlobalTestEnvironment(new SharedStationEnvironment);

}  // namespace

Station& SharedStation() {
  auto& s = SharedSlot();
  if (!s) {
    StationOptions o;
    // pump-1 runs a live online fit of its curve (docs/estimation.md "Live online fit").
    o.extra_config = "online_fit:\n  - {twins: pump-1, parameters: [shutoff_head_m, curve_k]}\n";
    s = std::make_unique<Station>(o);
    if (!s->StartServe()) ADD_FAILURE() << "shared station: serve did not start\n" << s->LogTails();
    if (!s->StartPlant()) ADD_FAILURE() << "shared station: plant did not start\n" << s->LogTails();
    if (!s->WaitForAllTelemetry()) {
      ADD_FAILURE() << "shared station: telemetry of every device did not arrive\n" << s->LogTails();
    }
  }
  return *s;
}

void SharedStationTest::SetUp() { station_ = &SharedStation(); }

void SharedStationTest::TearDown() {
  if (station_ != nullptr) station_->DumpLogsIfFailed();
}

}  // namespace doppel::integration
