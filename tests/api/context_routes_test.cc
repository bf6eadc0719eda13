// /api/v1/context/{kind} and /api/v1/twins/{id}/context through the whole handler (tokens, roles,
// routing), with the fake Service serving the real context import (engine/context_service.h) over
// a temporary data directory.
#include <gtest/gtest.h>

#include "api/fake_service.h"
#include "doppel/api/api.h"
#include "doppel/engine/context_service.h"
#include "testing/test_util.h"

namespace doppel::api {
namespace {

using nlohmann::json;

class ContextFakeService : public testing::FakeService {
 public:
  explicit ContextFakeService(std::string dir) : dir_(std::move(dir)) {}
  Result<json> ImportContext(const engine::ContextImportRequest& request, std::string_view body) override {
    engine::ContextImportRequest r = request;
    r.twin_exists = [this](const std::string& id) { return GetTwin(id).ok(); };
    return engine::ImportContextDocument(dir_, r, body);
  }
  Result<json> GetTwinContext(const std::string& twin) const override {
    if (!GetTwin(twin).ok()) return NotFound("twin '" + twin + "' not found");
    return engine::TwinContextJson(dir_, twin);
  }

 private:
  std::string dir_;
};

const char* kOrders =
    "id,twin,kind,status,planned_start_ns,completed_ns,description\n"
    "WO-1,pump-1,impeller_replacement,completed,2024-03-01T08:00:00Z,2024-03-01T14:30:00Z,new impeller\n"
    "WO-2,pump-1,inspection,planned,2024-04-15T07:00:00Z,,vibration route\n";

class ContextRoutesTest : public ::testing::Test {
 protected:
  ContextRoutesTest() : service_(dir_.path()), handler_(&service_, &metrics_, Options()) {}
  static ApiOptions Options() {
    ApiOptions o;
    o.tokens = {
        {"view-tok", Role::kViewer, ""}, {"op-tok", Role::kOperator, ""}, {"adm-tok", Role::kAdmin, ""}};
    return o;
  }
  HttpResponse Do(const std::string& method, const std::string& target, const std::string& body = "",
                  const std::string& token = "adm-tok") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.authorization = "Bearer " + token;
    r.body = body;
    return handler_.Handle(r);
  }
  static json Body(const HttpResponse& r) { return json::parse(r.body); }

  doppel::testing::TempDir dir_;
  ContextFakeService service_;
  MetricsRegistry metrics_;
  ApiHandler handler_;
};

TEST_F(ContextRoutesTest, ImportedWorkOrdersAreAppliedAndListedInTheTwinsContext) {
  HttpResponse r = Do("POST", "/api/v1/context/workorders?format=csv", kOrders);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Body(r)["applied"]);
  EXPECT_EQ(Body(r)["inserted"], 2);
  HttpResponse c = Do("GET", "/api/v1/twins/pump-1/context", "", "view-tok");
  ASSERT_EQ(c.status, 200) << c.body;
  json j = Body(c);
  ASSERT_EQ(j["workorders"].size(), 2u);
  EXPECT_EQ(j["workorders"][0]["id"], "WO-1");
  EXPECT_EQ(j["workorders"][0]["kind"], "impeller_replacement");
  EXPECT_EQ(j["workorders"][1]["status"], "planned");
  EXPECT_TRUE(j["spec"].is_null());
  // The same body again changes nothing.
  HttpResponse again = Do("POST", "/api/v1/context/workorders?format=csv", kOrders);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(Body(again)["unchanged"], 2);
}

TEST_F(ContextRoutesTest, ABadRowIsA400ListingEveryErrorAndNothingIsApplied) {
  std::string bad = std::string(kOrders) + "WO-3,pump-1,inspection,done,2024-04-15T07:00:00Z,,\n" +
                    "WO-4,pump-404,inspection,planned,2024-04-15T07:00:00Z,,\n";
  HttpResponse r = Do("POST", "/api/v1/context/workorders?format=csv", bad);
  ASSERT_EQ(r.status, 400) << r.body;
  json j = Body(r);
  EXPECT_EQ(j["error"]["code"], "invalid_rows");
  ASSERT_EQ(j["errors"].size(), 2u) << r.body;
  EXPECT_EQ(j["errors"][0]["line"], 4);
  EXPECT_EQ(j["errors"][0]["field"], "status");
  EXPECT_NE(j["errors"][1]["message"].get<std::string>().find("pump-404"), std::string::npos) << r.body;
  EXPECT_FALSE(j["applied"]);
  EXPECT_EQ(Body(Do("GET", "/api/v1/twins/pump-1/context"))["workorders"].size(), 0u);
}

TEST_F(ContextRoutesTest, SpecsGiveTheTwinItsLimitsAndDryRunWritesNothing) {
  const std::string spec =
      R"([{"twin":"pump-1","rated_flow_m3h":120,"rated_head_m":32,"rated_power_kw":15,"min_speed_rpm":600,)"
      R"("max_speed_rpm":1800,"max_motor_temp_c":95,"max_vibration_mm_s":7.1}])";
  HttpResponse dry = Do("POST", "/api/v1/context/specs?dry_run=true", spec);
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_FALSE(Body(dry)["applied"]);
  EXPECT_TRUE(Body(Do("GET", "/api/v1/twins/pump-1/context"))["spec"].is_null());
  ASSERT_EQ(Do("POST", "/api/v1/context/specs", spec).status, 200);
  json j = Body(Do("GET", "/api/v1/twins/pump-1/context"));
  EXPECT_EQ(j["spec"]["max_motor_temp_c"], 95);
  bool speed = false;
  for (const auto& l : j["limits"]) {
    if (l["signal"] == "speed_rpm") {
      speed = true;
      EXPECT_EQ(l["min"], 600);
      EXPECT_EQ(l["max"], 1800);
      EXPECT_TRUE(l["command_envelope"]);
    }
  }
  EXPECT_TRUE(speed) << j.dump();
}

TEST_F(ContextRoutesTest, RolesKindAndParametersAreChecked) {
  EXPECT_EQ(Do("POST", "/api/v1/context/workorders", kOrders, "op-tok").status, 403);
  HttpResponse kind = Do("POST", "/api/v1/context/orders", kOrders);
  EXPECT_EQ(kind.status, 400);
  EXPECT_NE(kind.body.find("kind"), std::string::npos) << kind.body;
  HttpResponse fmt = Do("POST", "/api/v1/context/workorders?format=xml", kOrders);
  EXPECT_EQ(fmt.status, 400);
  EXPECT_NE(fmt.body.find("format"), std::string::npos) << fmt.body;
  EXPECT_EQ(Do("POST", "/api/v1/context/workorders?dry_run=maybe", kOrders).status, 400);
  EXPECT_EQ(Do("GET", "/api/v1/twins/nope/context").status, 404);
}

}  // namespace
}  // namespace doppel::api
