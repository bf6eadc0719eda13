// GET /api/v1/control/plan through the whole handler (routing, roles, status mapping): the live
// MPC loop's plan as the Service gives it (docs/api.md, docs/control.md "The live loop").
#include <gtest/gtest.h>

#include <optional>

#include "api/fake_service.h"
#include "doppel/api/handlers.h"

namespace doppel::api {
namespace {

using nlohmann::json;

// The fake's plan source: none (no loop), not yet planned, or a plan.
class PlanFakeService : public testing::FakeService {
 public:
  std::optional<Result<json>> plan;
  Result<json> GetControlPlan() const override { return plan ? *plan : Service::GetControlPlan(); }
};

HttpResponse Ask(PlanFakeService& s, const std::string& method, Role role) {
  HttpRequest r;
  r.method = method;
  r.target = "/api/v1/control/plan";
  return HandleApiRequest(r, Principal{"someone", role}, s);
}

TEST(ControlPlanRoute, AViewerGetsThePlanAsTheLoopKeepsIt) {
  PlanFakeService s;
  s.plan = Result<json>(
      json{{"ts", 42}, {"pumps", json::array({{{"twin", "pump-1"}, {"speed_rpm", {1200, 1250}}}})}});
  HttpResponse r = Ask(s, "GET", Role::kViewer);
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["ts"], 42);
  EXPECT_TRUE(j["running"]);
  EXPECT_EQ(j["pumps"][0]["speed_rpm"][1], 1250);
}

TEST(ControlPlanRoute, NoLoopAndNoPlanYetAnswer200WithoutAPlanSoPollingIsQuiet) {
  PlanFakeService s;
  HttpResponse none = Ask(s, "GET", Role::kViewer);
  ASSERT_EQ(none.status, 200) << none.body;
  json j = json::parse(none.body);
  EXPECT_FALSE(j["running"]);
  EXPECT_TRUE(j["ts"].is_null());
  EXPECT_NE(j["message"].get<std::string>().find("control.mpc"), std::string::npos) << none.body;
  s.plan = Result<json>(NotFound("the MPC loop has not planned yet"));
  HttpResponse early = Ask(s, "GET", Role::kViewer);
  ASSERT_EQ(early.status, 200) << early.body;
  EXPECT_TRUE(json::parse(early.body)["running"]);
  EXPECT_TRUE(json::parse(early.body)["ts"].is_null());
}

TEST(ControlPlanRoute, OnlyGetIsRouted) {
  PlanFakeService s;
  s.plan = Result<json>(json::object());
  HttpResponse r = Ask(s, "POST", Role::kAdmin);
  EXPECT_EQ(r.status, 405) << r.body;
}

}  // namespace
}  // namespace doppel::api
