// Scenario 5: bearer tokens and roles on the real server.
#include <gtest/gtest.h>

#include "integration/harness.h"

namespace doppel::integration {
namespace {

using nlohmann::json;

class IntegrationAuth : public SharedStationTest {};

void ExpectJsonError(const HttpResult& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.Describe();
  json j = r.Json();
  ASSERT_TRUE(j.is_object() && j["error"].is_object()) << "no JSON error body: " << r.Describe();
  EXPECT_EQ(j["error"].value("code", ""), code) << r.Describe();
  EXPECT_TRUE(j["error"]["message"].is_string() && !j["error"]["message"].get<std::string>().empty())
      << r.Describe();
  EXPECT_EQ(r.Header("content-type").rfind("application/json", 0), 0u) << r.Describe();
}

TEST_F(IntegrationAuth, NoTokenIs401WithJsonError) {
  // (/metrics is open to loopback scrapers, and these tests run on loopback.)
  for (const char* target : {"/api/v1/twins", "/api/v1/twins/pump-1", "/api/v1/models",
                             "/api/v1/twins/pump-1/telemetry?signal=flow_m3h"}) {
    HttpResult r = st().Get(target, "");
    ExpectJsonError(r, 401, "unauthenticated");
    EXPECT_NE(r.Header("www-authenticate").find("Bearer"), std::string::npos) << r.Describe();
  }
  HttpResult r = st().Post("/api/v1/twins/pump-1/commands", {{"name", "setSpeed"}}, "");
  ExpectJsonError(r, 401, "unauthenticated");
}

TEST_F(IntegrationAuth, BadTokenIs401AndIsNotEchoed) {
  HttpResult r = st().Get("/api/v1/twins", "not-a-real-token-xyz");
  ExpectJsonError(r, 401, "unauthenticated");
  EXPECT_EQ(r.body.find("not-a-real-token-xyz"), std::string::npos) << r.Describe();
  // A prefix of a real token is not that token.
  ExpectJsonError(st().Get("/api/v1/twins", "admin-secre"), 401, "unauthenticated");
  ExpectJsonError(st().Get("/api/v1/twins", "admin-secret-"), 401, "unauthenticated");
  // ?token= is only for the stream.
  ExpectJsonError(st().Get("/api/v1/twins?token=admin-secret", ""), 401, "unauthenticated");
}

TEST_F(IntegrationAuth, ViewerMayReadButNotCommand) {
  EXPECT_EQ(st().Get("/api/v1/twins", kViewer).status, 200);
  EXPECT_EQ(st().Get("/api/v1/twins/pump-1", kViewer).status, 200);
  EXPECT_EQ(st().Get("/api/v1/twins/pump-1/telemetry?signal=flow_m3h", kViewer).status, 200);
  EXPECT_EQ(st().Get("/api/v1/twins/pump-1/commands", kViewer).status, 200);
  EXPECT_EQ(st().Get("/api/v1/models", kViewer).status, 200);
  EXPECT_EQ(st().Get("/metrics", kViewer).status, 200);

  HttpResult r = st().Post("/api/v1/twins/pump-1/commands",
                           {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1200}}}}, kViewer);
  ExpectJsonError(r, 403, "permission_denied");
  EXPECT_NE(r.Json()["error"].value("message", "").find("operator"), std::string::npos)
      << "message should name the role needed: " << r.Describe();
  // The forbidden command was not recorded.
  HttpResult list = st().Get("/api/v1/twins/pump-1/commands", kViewer);
  for (const auto& c : list.Items("commands")) EXPECT_NE(c.value("issued_by", ""), "api:viewer") << c.dump();

  ExpectJsonError(st().Post("/api/v1/ingest", {{"readings", json::array()}}, kViewer), 403,
                  "permission_denied");
  ExpectJsonError(
      st().Post("/api/v1/twins", {{"id", "pump-50"}, {"model", "dtmi:doppel:demo:Pump;1"}}, kViewer), 403,
      "permission_denied");
}

TEST_F(IntegrationAuth, OperatorMayCommandButNotCreateTwins) {
  HttpResult r = st().Post("/api/v1/twins/pump-1/commands",
                           {{"name", "setSpeed"}, {"request", {{"speed_rpm", 1300}}}}, kOperator);
  EXPECT_EQ(r.status, 202) << r.Describe();
  ExpectJsonError(
      st().Post("/api/v1/twins", {{"id", "pump-51"}, {"model", "dtmi:doppel:demo:Pump;1"}}, kOperator), 403,
      "permission_denied");
}

TEST_F(IntegrationAuth, HealthNeedsNoToken) {
  HttpResult r = st().Get("/api/v1/health", "");
  EXPECT_EQ(r.status, 200) << r.Describe();
  EXPECT_EQ(r.Json().value("status", ""), "ok") << r.Describe();
  EXPECT_EQ(st().Get("/api/v1/health", "bogus").status, 200);
}

TEST_F(IntegrationAuth, UnknownRoutesAndMethodsAnswerWithJsonErrors) {
  ExpectJsonError(st().Get("/api/v1/nope"), 404, "not_found");
  HttpResult r = Http(st().http_port(), "DELETE", "/api/v1/twins", kAdmin);
  ExpectJsonError(r, 405, "method_not_allowed");
  EXPECT_FALSE(r.Header("allow").empty()) << r.Describe();
  ExpectJsonError(st().Get("/api/v1/stream"), 426, "upgrade_required");
}

}  // namespace
}  // namespace doppel::integration
