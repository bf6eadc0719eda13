// Scenario 9: `doppel demo` runs plant + engine + API in one process and prints a working URL.
#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <regex>
#include <set>
#include <sstream>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(IntegrationDemo, PrintsATokenUrlAndServesTheStationGraph) {
  testing::TempDir dir;
  const int port = testing::FreePort();
  const std::string log = dir.file("demo.log");
  testing::ChildProcess demo({testing::DoppelBinary(), "demo", "--port", std::to_string(port), "--data",
                              dir.file("data"), "--pumps", "2"},
                             log);
  auto dump = [&] { return "  ---- tail of " + log + " ----\n" + TailFile(log, 40); };

  std::smatch m;
  std::string out;
  const std::regex url_re("http://127\\.0\\.0\\.1:" + std::to_string(port) + "/#token=([0-9A-Za-z_-]+)");
  ASSERT_TRUE(WaitFor(
      [&] {
        out = ReadAll(log);
        return std::regex_search(out, m, url_re) || !demo.running();
      },
      std::chrono::seconds(20)))
      << dump();
  ASSERT_TRUE(std::regex_search(out, m, url_re)) << "no URL with a token printed\n" << dump();
  const std::string token = m[1];
  ASSERT_GE(token.size(), 16u) << "token too short to be a secret: " << token;

  EXPECT_EQ(Get(port, "/api/v1/twins").status, 401) << "the demo must not be open without its token";

  std::set<std::string> ids;
  ASSERT_TRUE(WaitFor(
      [&] {
        HttpResult r = Get(port, "/api/v1/twins", token);
        if (r.status != 200) return false;
        ids.clear();
        for (const auto& t : r.Items("twins")) ids.insert(t.value("id", ""));
        return true;
      },
      std::chrono::seconds(10)))
      << dump();
  EXPECT_EQ(ids, (std::set<std::string>{"station-1", "pump-1", "pump-2", "tank-1"})) << dump();

  HttpResult r = Get(port, "/api/v1/twins?related=station-1&rel=contains", token);
  ASSERT_EQ(r.status, 200) << r.Describe();
  std::set<std::string> contained;
  for (const auto& t : r.Items("twins")) contained.insert(t.value("id", ""));
  EXPECT_EQ(contained, (std::set<std::string>{"pump-1", "pump-2", "tank-1"})) << r.Describe();

  // Telemetry arrives, for both pumps.
  for (const char* pump : {"pump-1", "pump-2"}) {
    json t;
    EXPECT_TRUE(WaitFor(
        [&] {
          HttpResult tr = Get(port, std::string("/api/v1/twins/") + pump, token);
          if (tr.status != 200) return false;
          t = tr.Json();
          return t["telemetry"].contains("flow_m3h") && t["telemetry"].contains("speed_rpm");
        },
        std::chrono::seconds(20)))
        << pump << ": " << t.dump() << "\n"
        << dump();
  }
  HttpResult h = Get(port,
                     "/api/v1/twins/pump-1/telemetry?signal=flow_m3h&from=0&to=" +
                         std::to_string(WallNowNs() + 1'000'000'000LL) + "&points=1000",
                     token);
  EXPECT_EQ(h.status, 200) << h.Describe();
  EXPECT_FALSE(h.Json()["points"].empty()) << h.Describe();

  // The live page is served without a token.
  HttpResult page = Get(port, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.Header("content-type").find("text/html"), std::string::npos);

  // A command round-trips through the in-process bus.
  HttpResult c = Http(port, "POST", "/api/v1/twins/pump-1/commands", token,
                      R"({"name":"setSpeed","request":{"speed_rpm":1000}})");
  ASSERT_EQ(c.status, 202) << c.Describe();
  std::string cid = c.Json()["id"];
  json fin;
  EXPECT_TRUE(WaitFor(
      [&] {
        fin = Get(port, "/api/v1/twins/pump-1/commands/" + cid, token).Json();
        return fin.is_object() && fin.value("status", "") == "acked";
      },
      std::chrono::seconds(15)))
      << fin.dump();

  // SIGTERM: a clean shutdown.
  demo.Kill(SIGTERM);
  if (::testing::Test::HasFailure()) std::cerr << dump();
}

}  // namespace
}  // namespace doppel::integration
