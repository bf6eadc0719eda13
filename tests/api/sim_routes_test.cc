// /api/v1/sim/envs through the whole handler (tokens, roles, routing), with the fake Service
// serving the real sandbox registry (engine/sim_envs.h) over its twins.
#include <gtest/gtest.h>

#include "api/fake_service.h"
#include "doppel/api/api.h"
#include "doppel/api/handlers.h"
#include "doppel/engine/sim_envs.h"

namespace doppel::api {
namespace {

using nlohmann::json;

// The fake's twins (site-1 contains pump-1, which has an estimate with impeller wear 0.1, and
// pump-2, which has none) plus a real registry.
class SimFakeService : public testing::FakeService {
 public:
  SimFakeService() : envs_(this, Limits(), [] { return TimeNs{3600} * kNsPerS; }) {}
  static engine::SimEnvLimits Limits() {
    engine::SimEnvLimits l;
    l.max_envs = 3;
    return l;
  }
  Result<json> CreateSimEnv(const json& request, const std::string& principal) override {
    return envs_.Create(request, principal);
  }
  Result<json> ResetSimEnv(const std::string& id, std::optional<uint64_t> seed) override {
    return envs_.Reset(id, seed);
  }
  Result<json> StepSimEnv(const std::string& id, const json& action) override {
    return envs_.Step(id, action);
  }
  Status DeleteSimEnv(const std::string& id) override { return envs_.Delete(id); }
  Result<json> ListSimEnvs() const override { return envs_.List(); }

 private:
  mutable engine::SimEnvRegistry envs_;
};

class SimRoutesTest : public ::testing::Test {
 protected:
  SimRoutesTest() : handler_(&service_, &metrics_, Options()) {}
  static ApiOptions Options() {
    ApiOptions o;
    o.tokens = {{"view-tok", Role::kViewer, ""}, {"op-tok", Role::kOperator, ""}};
    return o;
  }
  HttpResponse Do(const std::string& method, const std::string& target, const std::string& body = "",
                  const std::string& token = "op-tok") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.authorization = "Bearer " + token;
    r.body = body;
    return handler_.Handle(r);
  }
  static json Body(const HttpResponse& r) { return json::parse(r.body); }
  static std::string Error(const HttpResponse& r) { return json::parse(r.body)["error"]["message"]; }

  std::string MakeEnv(const std::string& body) {
    HttpResponse r = Do("POST", "/api/v1/sim/envs", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? Body(r)["id"].get<std::string>() : "";
  }

  SimFakeService service_;
  MetricsRegistry metrics_;
  ApiHandler handler_;
};

TEST_F(SimRoutesTest, CreateForksTheTwinAndAnswers201WithLocation) {
  HttpResponse r = Do("POST", "/api/v1/sim/envs", R"({"twin":"site-1","seed":5,"period_s":300})");
  ASSERT_EQ(r.status, 201) << r.body;
  json j = Body(r);
  const std::string id = j["id"];
  bool location = false;
  for (const auto& [k, v] : r.headers) location |= k == "Location" && v == "/api/v1/sim/envs/" + id;
  EXPECT_TRUE(location);
  EXPECT_EQ(j["seed"], 5);
  EXPECT_EQ(j["options"]["pumps"], 2);
  EXPECT_EQ(j["options"]["period_s"], 300.0);
  EXPECT_DOUBLE_EQ(j["fork"]["pumps"][0]["impeller_wear"].get<double>(), 0.1);
  EXPECT_TRUE(j["fork"]["pumps"][1]["impeller_wear"].is_null());
  EXPECT_DOUBLE_EQ(j["observation"]["time_of_day_h"].get<double>(), 1.0);  // the clock: 01:00 UTC
  EXPECT_EQ(j["observation"]["speed_rpm"].size(), 2u);
  // An empty body is a nominal 3-pump sandbox.
  r = Do("POST", "/api/v1/sim/envs");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["options"]["pumps"], 3);
  EXPECT_TRUE(Body(r)["fork"].is_null());
}

TEST_F(SimRoutesTest, StepResetListAndDelete) {
  const std::string id = MakeEnv(R"({"pumps":2,"period_s":60,"episode_s":120})");
  const std::string step = "/api/v1/sim/envs/" + id + "/step";
  HttpResponse r = Do("POST", step, R"({"action":{"speeds_rpm":[1400,null]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  json s = Body(r);
  for (const char* k : {"observation", "reward", "done", "energy_kwh", "cost_eur", "left_band"})
    EXPECT_TRUE(s.contains(k)) << k;
  EXPECT_FALSE(s["done"].get<bool>());
  EXPECT_LE(s["reward"].get<double>(), 0.0);
  EXPECT_TRUE(Body(Do("POST", step, R"({"action":{"speeds_rpm":[0,0]}})"))["done"].get<bool>());
  r = Do("POST", step, R"({"action":{"speeds_rpm":[0,0]}})");
  EXPECT_EQ(r.status, 409);  // done until reset
  r = Do("POST", "/api/v1/sim/envs/" + id + "/reset", R"({"seed":9})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["seed"], 9);
  EXPECT_EQ(Do("POST", "/api/v1/sim/envs/" + id + "/reset").status, 200);  // body optional
  EXPECT_EQ(Do("POST", step, R"({"action":{"speeds_rpm":[0,0]}})").status, 200);

  r = Do("GET", "/api/v1/sim/envs", "", "view-tok");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(Body(r)["envs"].size(), 1u);
  EXPECT_EQ(Body(r)["envs"][0]["id"], id);
  EXPECT_EQ(Body(r)["envs"][0]["seed"], 9);

  EXPECT_EQ(Do("DELETE", "/api/v1/sim/envs/" + id).status, 204);
  EXPECT_EQ(Do("DELETE", "/api/v1/sim/envs/" + id).status, 404);
  EXPECT_EQ(Do("POST", step, R"({"action":{"speeds_rpm":[0,0]}})").status, 404);
}

TEST_F(SimRoutesTest, ViewerMayListButNotCreateStepResetOrDelete) {
  const std::string id = MakeEnv(R"({"pumps":1})");
  EXPECT_EQ(Do("GET", "/api/v1/sim/envs", "", "view-tok").status, 200);
  EXPECT_EQ(Do("POST", "/api/v1/sim/envs", "{}", "view-tok").status, 403);
  EXPECT_EQ(
      Do("POST", "/api/v1/sim/envs/" + id + "/step", R"({"action":{"speeds_rpm":[0]}})", "view-tok").status,
      403);
  EXPECT_EQ(Do("POST", "/api/v1/sim/envs/" + id + "/reset", "", "view-tok").status, 403);
  EXPECT_EQ(Do("DELETE", "/api/v1/sim/envs/" + id, "", "view-tok").status, 403);
  EXPECT_EQ(Do("PUT", "/api/v1/sim/envs").status, 405);
}

TEST_F(SimRoutesTest, BadRequestsAre400NamingTheFieldAndUnknownEnvsAre404) {
  HttpResponse r = Do("POST", "/api/v1/sim/envs", R"({"period_s":-1})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).rfind("$.period_s:", 0), 0u) << Error(r);
  r = Do("POST", "/api/v1/sim/envs", "[1]");
  EXPECT_EQ(r.status, 400);
  r = Do("POST", "/api/v1/sim/envs", R"({"twin":"ghost"})");
  EXPECT_EQ(r.status, 404);
  r = Do("POST", "/api/v1/sim/envs", R"({"twin":"pump-2","energy_weight":"high"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r).rfind("$.energy_weight:", 0), 0u) << Error(r);

  const std::string id = MakeEnv(R"({"pumps":3})");
  const std::string step = "/api/v1/sim/envs/" + id + "/step";
  r = Do("POST", step, R"({"action":{"speeds_rpm":[1400,"x",0]}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r), "$.action.speeds_rpm[1]: must be a number or null");
  r = Do("POST", step, R"({"speeds_rpm":[0,0,0]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r), "$.speeds_rpm: unknown field");
  r = Do("POST", step, "");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r), "$.action: required");
  r = Do("POST", "/api/v1/sim/envs/" + id + "/reset", R"({"seed":-3})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r), "$.seed: must be a non-negative integer");
  EXPECT_EQ(Do("POST", "/api/v1/sim/envs/env-none/step", R"({"action":{"speeds_rpm":[0]}})").status, 404);
  EXPECT_EQ(Do("POST", "/api/v1/sim/envs/env-none/reset").status, 404);
}

TEST_F(SimRoutesTest, TooManySandboxesIs503) {
  for (int i = 0; i < 3; ++i) MakeEnv(R"({"pumps":1})");
  HttpResponse r = Do("POST", "/api/v1/sim/envs", R"({"pumps":1})");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(Error(r).find("limit"), std::string::npos) << Error(r);
}

TEST_F(SimRoutesTest, AServiceWithoutSandboxesAnswers409) {
  testing::FakeService plain;
  MetricsRegistry m;
  ApiHandler h(&plain, &m, Options());
  HttpRequest r;
  r.method = "POST";
  r.target = "/api/v1/sim/envs";
  r.authorization = "Bearer op-tok";
  EXPECT_EQ(h.Handle(r).status, 409);
}

}  // namespace
}  // namespace doppel::api
