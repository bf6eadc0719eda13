// GET /api/v1/twins/{id}/state and POST /api/v1/twins/{id}/whatif over a fake Service.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "api/fake_service.h"
#include "doppel/api/api.h"
#include "doppel/api/handlers.h"

namespace doppel::api {
namespace {

using nlohmann::json;
using testing::FakeService;

class EstimationRoutesTest : public ::testing::Test {
 protected:
  EstimationRoutesTest() : handler_(&service_, &metrics_, Options()) {}
  static ApiOptions Options() {
    ApiOptions o;
    o.tokens = {{"view-tok", Role::kViewer, ""},
                {"op-tok", Role::kOperator, ""},
                {"op2-tok", Role::kOperator, "bob"},
                {"admin-tok", Role::kAdmin, "a"}};
    return o;
  }
  HttpResponse Do(const std::string& method, const std::string& target,
                  const std::string& token = "admin-tok", const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.authorization = "Bearer " + token;
    r.body = body;
    return handler_.Handle(r);
  }
  std::string BadRequest(const std::string& body) {
    HttpResponse r = Do("POST", "/api/v1/twins/pump-1/whatif", "op-tok", body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    return json::parse(r.body)["error"]["message"].get<std::string>();
  }
  // GET .../whatif/jobs/{id} (as its owner) until the job is neither queued nor running; at
  // most 60 000 polls, a guard against a hang, not a timing check.
  json PollUntilFinished(const std::string& id) {
    json v;
    for (int i = 0; i < 60000; ++i) {
      HttpResponse g = Do("GET", "/api/v1/whatif/jobs/" + id, "op-tok");
      EXPECT_EQ(g.status, 200) << g.body;
      v = json::parse(g.body);
      if (v["state"] != "queued" && v["state"] != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return v;
  }
  FakeService service_;
  MetricsRegistry metrics_;
  ApiHandler handler_;
};

TEST_F(EstimationRoutesTest, StateHasStatesParametersWithStdUnitAndNis) {
  HttpResponse r = Do("GET", "/api/v1/twins/pump-1/state", "view-tok");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["twin"], "pump-1");
  EXPECT_EQ(j["estimator"], "ekf");
  EXPECT_EQ(j["ts"], 5000);
  EXPECT_DOUBLE_EQ(j["states"]["speed_rpm"]["value"].get<double>(), 1300);
  EXPECT_EQ(j["parameters"]["impeller_wear"]["unit"], "1");
  EXPECT_DOUBLE_EQ(j["parameters"]["bearing_wear"]["std"].get<double>(), 0.03);
  EXPECT_EQ(j["nis"]["updates"], 7);
  EXPECT_DOUBLE_EQ(j["nis"]["ewma_per_channel"]["flow_m3h"].get<double>(), 0.9);
  EXPECT_EQ(j["calibrated"], json({{"curve_k", 6.9e-4}}));
  // The live online fit (engine/online_fit.h).
  EXPECT_DOUBLE_EQ(j["fit"]["parameters"]["shutoff_head_m"]["value"].get<double>(), 46.8);
  EXPECT_DOUBLE_EQ(j["fit"]["parameters"]["shutoff_head_m"]["std"].get<double>(), 0.01);
  EXPECT_EQ(j["fit"]["parameters"]["shutoff_head_m"]["unit"], "m");
  EXPECT_DOUBLE_EQ(j["fit"]["forgetting"].get<double>(), 0.999);
  EXPECT_EQ(j["fit"]["samples"], 12);
  EXPECT_EQ(j["fit"]["skipped"], 1);
  EXPECT_EQ(j["fit"]["ts"], 4000);
}

TEST_F(EstimationRoutesTest, StateOfTwinWithoutEstimateIs404) {
  EXPECT_EQ(Do("GET", "/api/v1/twins/pump-2/state").status, 404);
  EXPECT_EQ(Do("GET", "/api/v1/twins/nope/state").status, 404);
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/state").status, 405);
}

TEST_F(EstimationRoutesTest, WhatIfParsesTheRequestAndReturnsBands) {
  HttpResponse r =
      Do("POST", "/api/v1/twins/pump-1/whatif", "op-tok",
         R"({"horizon_s":600,"step_s":1,"samples":50,"seed":7,"overrides":{"inputs":{"speed_rpm":1400},
                          "params":{"impeller_wear":0.2}}})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["outputs"]["flow_m3h"]["p95"], json::array({3, 4}));
  EXPECT_EQ(j["t"].size(), 2u);
  EXPECT_DOUBLE_EQ(service_.last_whatif.horizon_s, 600);
  EXPECT_EQ(service_.last_whatif.samples, 50);
  EXPECT_EQ(service_.last_whatif.seed, 7u);
  EXPECT_DOUBLE_EQ(service_.last_whatif.overrides.inputs.at("speed_rpm"), 1400);
  EXPECT_DOUBLE_EQ(service_.last_whatif.overrides.params.at("impeller_wear"), 0.2);
}

TEST_F(EstimationRoutesTest, WhatIfScenariosAreReportedByName) {
  HttpResponse r =
      Do("POST", "/api/v1/twins/pump-1/whatif", "op-tok",
         R"({"horizon_s":60,"scenarios":[{"name":"slow","overrides":{"inputs":{"speed_rpm":1000}}},
                          {"name":"fast","overrides":{"inputs":{"speed_rpm":1600}}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["scenarios"].size(), 2u);
  EXPECT_EQ(j["scenarios"][1]["name"], "fast");
  EXPECT_TRUE(j["scenarios"][0]["outputs"].contains("flow_m3h"));
  EXPECT_DOUBLE_EQ(service_.last_whatif.scenarios[0].overrides.inputs.at("speed_rpm"), 1000);
}

// One scenario the client happens to call "base" is still reported as a named scenario.
TEST_F(EstimationRoutesTest, ASingleScenarioNamedBaseKeepsTheScenariosShape) {
  HttpResponse r =
      Do("POST", "/api/v1/twins/pump-1/whatif", "op-tok",
         R"({"horizon_s":60,"scenarios":[{"name":"base","overrides":{"inputs":{"speed_rpm":1000}}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_TRUE(j.contains("scenarios")) << r.body;
  EXPECT_EQ(j["scenarios"][0]["name"], "base");
  EXPECT_FALSE(j.contains("outputs"));
}

TEST_F(EstimationRoutesTest, BadWhatIfRequestsNameTheField) {
  EXPECT_EQ(BadRequest(R"({"horizon_s":"soon"})"), "$.horizon_s: expected a number");
  EXPECT_NE(BadRequest(R"({"step_s":1})").find("$.horizon_s: required"), std::string::npos);
  EXPECT_NE(BadRequest(R"({"horizon_s":10,"samples":1.5})").find("$.samples"), std::string::npos);
  EXPECT_NE(BadRequest(R"({"horizon_s":10,"samples":5000})").find("$.samples"), std::string::npos);
  // Above INT64_MAX: named as such, not wrapped to a negative count.
  EXPECT_EQ(BadRequest(R"({"horizon_s":10,"samples":18446744073709551615})"),
            "$.samples: 18446744073709551615 is above the int64 range");
  EXPECT_NE(BadRequest(R"({"horizon_s":10,"colour":1})").find("$.colour: unknown field"), std::string::npos);
  EXPECT_NE(BadRequest(R"({"horizon_s":10,"overrides":{"inputs":{"speed_rpm":"x"}}})")
                .find("$.overrides.inputs.speed_rpm: expected a number"),
            std::string::npos);
  EXPECT_NE(BadRequest(R"({"horizon_s":10,"overrides":{"knobs":{}}})").find("$.overrides.knobs"),
            std::string::npos);
  EXPECT_NE(BadRequest(R"({"horizon_s":10,"scenarios":[{"overrides":[]}]})").find("$.scenarios[0].overrides"),
            std::string::npos);
  EXPECT_NE(BadRequest("[1]").find("body"), std::string::npos);
}

TEST_F(EstimationRoutesTest, WhatIfNeedsOperatorAndMapsDeadlineTo503) {
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/whatif", "view-tok", R"({"horizon_s":10})").status, 403);
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/whatif", "op-tok", R"({"horizon_s":2e6})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_NE(r.body.find("deadline_exceeded"), std::string::npos);
}

// --- What-if jobs (the engine's real job registry behind the fake) -------------------------

TEST_F(EstimationRoutesTest, WhatIfJobRunsInTheBackgroundAndReturnsItsBands) {
  HttpResponse r =
      Do("POST", "/api/v1/twins/pump-1/whatif/jobs", "op-tok",
         R"({"horizon_s":60,"step_s":1,"samples":10,"overrides":{"inputs":{"speed_rpm":1400}}})");
  ASSERT_EQ(r.status, 202) << r.body;
  json j = json::parse(r.body);
  const std::string id = j["id"];
  EXPECT_EQ(j["state"], "queued");
  EXPECT_EQ(j["twin"], "pump-1");
  EXPECT_EQ(j["location"], "/api/v1/whatif/jobs/" + id);
  bool has_location = false;
  for (const auto& [k, v] : r.headers) has_location |= k == "Location" && v == "/api/v1/whatif/jobs/" + id;
  EXPECT_TRUE(has_location);
  json done = PollUntilFinished(id);
  ASSERT_EQ(done["state"], "done") << done.dump();
  EXPECT_DOUBLE_EQ(done["progress"].get<double>(), 1.0);
  EXPECT_EQ(done["result"]["t"].size(), 61u);
  EXPECT_EQ(done["result"]["outputs"]["flow_m3h"]["p95"].size(), 61u);
  HttpResponse list = Do("GET", "/api/v1/whatif/jobs", "admin-tok");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(json::parse(list.body)["jobs"][0]["id"], id);
  EXPECT_FALSE(json::parse(list.body)["jobs"][0].contains("result"));
  // DELETE of a finished job forgets it.
  EXPECT_EQ(Do("DELETE", "/api/v1/whatif/jobs/" + id, "op-tok").status, 204);
  EXPECT_EQ(Do("GET", "/api/v1/whatif/jobs/" + id, "op-tok").status, 404);
}

TEST_F(EstimationRoutesTest, WhatIfJobIsCancelledByDeleteFromItsOwnerOrAnAdmin) {
  const std::string body = R"({"horizon_s":20000,"step_s":1,"samples":1000,"budget_s":60})";
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/whatif/jobs", "op-tok", body);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = json::parse(r.body)["id"];
  // A viewer may not even see it; another operator sees it but may not cancel it.
  EXPECT_EQ(Do("GET", "/api/v1/whatif/jobs/" + id, "view-tok").status, 403);
  EXPECT_EQ(Do("DELETE", "/api/v1/whatif/jobs/" + id, "view-tok").status, 403);
  EXPECT_EQ(Do("GET", "/api/v1/whatif/jobs/" + id, "op2-tok").status, 200);
  HttpResponse other = Do("DELETE", "/api/v1/whatif/jobs/" + id, "op2-tok");
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_NE(other.body.find("another user"), std::string::npos) << other.body;
  EXPECT_EQ(json::parse(Do("GET", "/api/v1/whatif/jobs/" + id, "op-tok").body)["cancel_requested"], false);
  HttpResponse c = Do("DELETE", "/api/v1/whatif/jobs/" + id, "op-tok");
  ASSERT_EQ(c.status, 202) << c.body;
  EXPECT_EQ(json::parse(c.body)["cancel_requested"], true);
  json v = PollUntilFinished(id);
  EXPECT_EQ(v["state"], "cancelled") << v.dump();
  EXPECT_EQ(v["error"]["code"], "cancelled");
  EXPECT_LT(v["progress"].get<double>(), 1.0);
  EXPECT_FALSE(v.contains("result"));
}

TEST_F(EstimationRoutesTest, WhatIfJobRequestErrorsNameTheField) {
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/whatif/jobs", "op-tok", R"({"horizon_s":"soon"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("$.horizon_s"), std::string::npos) << r.body;
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/whatif/jobs", "op-tok", R"({"horizon_s":60,"speed":1})").status,
            400);
  EXPECT_EQ(Do("POST", "/api/v1/twins/nope/whatif/jobs", "op-tok", R"({"horizon_s":60})").status, 404);
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/whatif/jobs", "view-tok", R"({"horizon_s":60})").status, 403);
  EXPECT_EQ(Do("GET", "/api/v1/whatif/jobs/w-000099-00000000", "op-tok").status, 404);
  EXPECT_EQ(Do("DELETE", "/api/v1/whatif/jobs/w-000099-00000000", "op-tok").status, 404);
}

TEST_F(EstimationRoutesTest, AnAdminCancelsAnyonesWhatIfJob) {
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/whatif/jobs", "op2-tok",
                      R"({"horizon_s":20000,"step_s":1,"samples":1000,"budget_s":60})");
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = json::parse(r.body)["id"];
  EXPECT_EQ(json::parse(r.body)["owner"], "bob");
  HttpResponse c = Do("DELETE", "/api/v1/whatif/jobs/" + id, "admin-tok");
  ASSERT_EQ(c.status, 202) << c.body;
  EXPECT_EQ(json::parse(c.body)["cancel_requested"], true);
}

}  // namespace
}  // namespace doppel::api
