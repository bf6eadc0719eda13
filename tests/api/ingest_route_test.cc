// POST /api/v1/ingest through ingest::DecodeIngestBatch and the fake Service.
#include <gtest/gtest.h>

#include "api/fake_service.h"
#include "doppel/api/api.h"

namespace doppel::api {
namespace {

using nlohmann::json;

class IngestRouteTest : public ::testing::Test {
 protected:
  IngestRouteTest() : handler_(&service_, nullptr, Options()) {}
  static ApiOptions Options() {
    ApiOptions o;
    o.tokens = {{"view", Role::kViewer, ""}, {"op", Role::kOperator, ""}};
    return o;
  }
  HttpResponse Post(const std::string& body, const std::string& token = "op") {
    HttpRequest r;
    r.method = "POST";
    r.target = "/api/v1/ingest";
    r.authorization = "Bearer " + token;
    r.body = body;
    return handler_.Handle(r);
  }
  testing::FakeService service_;
  ApiHandler handler_;
};

TEST_F(IngestRouteTest, AcceptsABatch) {
  HttpResponse r = Post(R"({"readings":[
      {"twin":"pump-1","signal":"flow_m3h","ts":1732500000000000000,"value":101.2},
      {"twin":"pump-1","signal":"speed_rpm","ts":5,"value":1450,"quality":"uncertain"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json({{"accepted", 2}, {"late", 1}}));
  ASSERT_EQ(service_.ingested.size(), 2u);
  EXPECT_EQ(service_.ingested[0].twin, "pump-1");
  EXPECT_EQ(service_.ingested[0].signal, "flow_m3h");
  EXPECT_EQ(service_.ingested[1].quality, Quality::kUncertain);
}

TEST_F(IngestRouteTest, BadBatchIs400NamingTheElement) {
  HttpResponse r = Post(R"({"readings":[{"twin":"pump-1","signal":"f","ts":1,"value":"x"}]})");
  EXPECT_EQ(r.status, 400);
  json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "invalid_argument");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("readings[0]"), std::string::npos) << r.body;
  EXPECT_EQ(Post("not json").status, 400);
  EXPECT_TRUE(service_.ingested.empty());
}

TEST_F(IngestRouteTest, NeedsOperator) {
  EXPECT_EQ(Post(R"({"readings":[]})", "view").status, 403);
  EXPECT_EQ(Post(R"({"readings":[]})", "").status, 401);
}

TEST_F(IngestRouteTest, EngineErrorsAreMapped) {
  service_.ingest_status = ResourceExhausted("ingest queue full");
  HttpResponse r = Post(R"({"readings":[{"twin":"pump-1","signal":"f","ts":1,"value":1}]})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "resource_exhausted");
}

}  // namespace
}  // namespace doppel::api
