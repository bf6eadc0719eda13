// Handler-level tests: the whole pipeline short of sockets, with a fake Service.
#include "doppel/api/handlers.h"

#include <gtest/gtest.h>

#include "api/fake_service.h"
#include "doppel/api/api.h"

namespace doppel::api {
namespace {

using nlohmann::json;
using testing::FakeService;

class HandlersTest : public ::testing::Test {
 protected:
  HandlersTest() : handler_(&service_, &metrics_, Options()) {}

  static ApiOptions Options() {
    ApiOptions o;
    o.tokens = {{"view-tok", Role::kViewer, ""},
                {"op-tok", Role::kOperator, ""},
                {"admin-tok", Role::kAdmin, "alice"}};
    o.max_body_bytes = 1024;
    return o;
  }

  HttpResponse Do(const std::string& method, const std::string& target,
                  const std::string& token = "admin-tok", const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    if (!token.empty()) r.authorization = "Bearer " + token;
    r.body = body;
    return handler_.Handle(r);
  }

  static json Body(const HttpResponse& r) { return json::parse(r.body); }

  // Asserts the uniform error shape and returns the message.
  static std::string ErrorMessage(const HttpResponse& r, const std::string& code) {
    EXPECT_EQ(r.content_type, "application/json");
    json j = json::parse(r.body);
    EXPECT_TRUE(j.contains("error")) << r.body;
    EXPECT_EQ(j["error"]["code"], code) << r.body;
    return j["error"]["message"].get<std::string>();
  }

  FakeService service_;
  MetricsRegistry metrics_;
  ApiHandler handler_;
};

TEST_F(HandlersTest, HealthNeedsNoToken) {
  HttpResponse r = Do("GET", "/api/v1/health", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Body(r), json({{"status", "ok"}}));
  EXPECT_EQ(Do("POST", "/api/v1/health", "").status, 405);
}

TEST_F(HandlersTest, MissingOrUnknownTokenIs401WithJson) {
  HttpResponse r = Do("GET", "/api/v1/twins", "");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(ErrorMessage(r, "unauthenticated").find("missing"), std::string::npos);
  r = Do("GET", "/api/v1/twins", "nope");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(ErrorMessage(r, "unauthenticated").find("unknown"), std::string::npos);
  // The token is never echoed back.
  EXPECT_EQ(r.body.find("nope"), std::string::npos);
  // Not "Bearer".
  HttpRequest basic;
  basic.method = "GET";
  basic.target = "/api/v1/twins";
  basic.authorization = "Basic dXNlcjpwYXNz";
  EXPECT_EQ(handler_.Handle(basic).status, 401);
  // /metrics needs a token too, unless the peer is on loopback.
  EXPECT_EQ(Do("GET", "/metrics", "").status, 401);
}

TEST_F(HandlersTest, MeReportsTheTokensRole) {
  HttpResponse r = Do("GET", "/api/v1/me", "view-tok");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["role"], "viewer");
  EXPECT_EQ(Do("GET", "/api/v1/me", "").status, 401);
}

TEST_F(HandlersTest, MetricsAreOpenToLoopbackScrapersOnly) {
  HttpRequest r;
  r.method = "GET";
  r.target = "/metrics";
  r.from_loopback = true;
  EXPECT_EQ(handler_.Handle(r).status, 200);
  r.target = "/api/v1/twins";  // only /metrics
  EXPECT_EQ(handler_.Handle(r).status, 401);
  r.target = "/metrics";
  r.authorization = "Bearer wrong";  // a presented token is always checked
  EXPECT_EQ(handler_.Handle(r).status, 401);
  ApiOptions closed = Options();
  closed.metrics_open_on_loopback = false;
  ApiHandler strict(&service_, &metrics_, closed);
  r.authorization.clear();
  EXPECT_EQ(strict.Handle(r).status, 401);
}

TEST_F(HandlersTest, BearerSchemeIsCaseInsensitive) {
  HttpRequest r;
  r.method = "GET";
  r.target = "/api/v1/models";
  r.authorization = "bearer view-tok";
  EXPECT_EQ(handler_.Handle(r).status, 200);
}

TEST_F(HandlersTest, RoleTooLowIs403WithJson) {
  HttpResponse r = Do("POST", "/api/v1/twins", "op-tok", R"({"id":"x","model":"dtmi:x;1"})");
  EXPECT_EQ(r.status, 403);
  std::string m = ErrorMessage(r, "permission_denied");
  EXPECT_NE(m.find("operator"), std::string::npos) << m;
  EXPECT_NE(m.find("admin"), std::string::npos) << m;

  r = Do("POST", "/api/v1/twins/pump-1/commands", "view-tok", R"({"name":"setSpeed"})");
  EXPECT_EQ(r.status, 403);
  ErrorMessage(r, "permission_denied");
  EXPECT_EQ(Do("POST", "/api/v1/ingest", "view-tok", R"({"readings":[]})").status, 403);
}

TEST_F(HandlersTest, RoleOrdering) {
  EXPECT_LT(Role::kViewer, Role::kOperator);
  EXPECT_LT(Role::kOperator, Role::kAdmin);
  // Viewer may GET everything.
  for (const char* t :
       {"/api/v1/models", "/api/v1/twins", "/api/v1/twins/pump-1", "/api/v1/twins/pump-1/commands",
        "/api/v1/twins/pump-1/telemetry?signal=flow_m3h", "/metrics"}) {
    EXPECT_EQ(Do("GET", t, "view-tok").status, 200) << t;
  }
  // Higher roles include the lower ones.
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/commands", "op-tok", R"({"name":"setSpeed"})").status, 202);
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/commands", "admin-tok", R"({"name":"setSpeed"})").status, 202);
  EXPECT_EQ(Do("POST", "/api/v1/twins", "admin-tok", R"({"id":"x","model":"dtmi:x;1"})").status, 201);
}

TEST_F(HandlersTest, ParseRoleNames) {
  Role r;
  ASSERT_TRUE(ParseRole("viewer", &r));
  EXPECT_EQ(r, Role::kViewer);
  ASSERT_TRUE(ParseRole("operator", &r));
  EXPECT_EQ(r, Role::kOperator);
  ASSERT_TRUE(ParseRole("admin", &r));
  EXPECT_EQ(r, Role::kAdmin);
  EXPECT_FALSE(ParseRole("Admin", &r));
  EXPECT_FALSE(ParseRole("", &r));
  EXPECT_STREQ(RoleName(Role::kOperator), "operator");
}

TEST_F(HandlersTest, UnknownRouteIs404AndWrongMethodIs405) {
  HttpResponse r = Do("GET", "/api/v1/nope");
  EXPECT_EQ(r.status, 404);
  ErrorMessage(r, "not_found");
  r = Do("DELETE", "/api/v1/twins");
  EXPECT_EQ(r.status, 405);
  ErrorMessage(r, "method_not_allowed");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "GET, POST");
  EXPECT_EQ(Do("PUT", "/api/v1/twins/pump-1").status, 405);
  EXPECT_EQ(Do("POST", "/", "").status, 405);
}

TEST_F(HandlersTest, Models) {
  HttpResponse r = Do("GET", "/api/v1/models", "view-tok");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["models"][0]["@id"], "dtmi:doppel:demo:Pump;1");
}

TEST_F(HandlersTest, ListTwinsWithFilters) {
  HttpResponse r = Do("GET", "/api/v1/twins");
  ASSERT_EQ(r.status, 200);
  json j = Body(r);
  ASSERT_EQ(j["twins"].size(), 3u);
  json site = j["twins"][2];
  EXPECT_EQ(site["id"], "site-1");
  EXPECT_EQ(site["relationships"][0], json({{"name", "contains"}, {"target", "pump-1"}}));
  EXPECT_TRUE(site["desired"].is_object());
  EXPECT_TRUE(site["reported"].is_object());

  r = Do("GET", "/api/v1/twins?model=dtmi%3Adoppel%3Ademo%3APump%3B1");
  EXPECT_EQ(service_.last_filter.model, "dtmi:doppel:demo:Pump;1");
  EXPECT_EQ(Body(r)["twins"].size(), 2u);

  r = Do("GET", "/api/v1/twins?related=site-1&rel=contains");
  EXPECT_EQ(service_.last_filter.related, "site-1");
  EXPECT_EQ(service_.last_filter.rel, "contains");
  EXPECT_EQ(Body(r)["twins"].size(), 2u);

  r = Do("GET", "/api/v1/twins?rel=contains");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("rel"), std::string::npos);
}

TEST_F(HandlersTest, GetTwinHasTelemetry) {
  HttpResponse r = Do("GET", "/api/v1/twins/pump-1", "view-tok");
  ASSERT_EQ(r.status, 200);
  json j = Body(r);
  EXPECT_EQ(j["id"], "pump-1");
  EXPECT_EQ(j["model"], "dtmi:doppel:demo:Pump;1");
  EXPECT_EQ(j["desired"]["speed_rpm"], 1450);
  EXPECT_EQ(j["telemetry"]["flow_m3h"], json({{"ts", 1000}, {"value", 101.5}, {"quality", "good"}}));
}

TEST_F(HandlersTest, StatusMapping) {
  HttpResponse r = Do("GET", "/api/v1/twins/x");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorMessage(r, "not_found"), "twin 'x' not found");

  r = Do("POST", "/api/v1/twins", "admin-tok", R"({"id":"pump-1","model":"dtmi:x;1"})");
  EXPECT_EQ(r.status, 409);
  ErrorMessage(r, "already_exists");

  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(StatusCode::kResourceExhausted), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kCorruption), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);

  HttpResponse busy = ErrorResponse(ResourceExhausted("queue full"));
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(json::parse(busy.body)["error"]["code"], "resource_exhausted");
  ASSERT_FALSE(busy.headers.empty());
  EXPECT_EQ(busy.headers[0].first, "Retry-After");
}

TEST_F(HandlersTest, CreateTwin) {
  HttpResponse r = Do("POST", "/api/v1/twins", "admin-tok",
                      R"({"id":"valve-1","model":"dtmi:doppel:demo:Valve;1","desired":{"open":true},
                          "relationships":[{"name":"feeds","target":"pump-1"}]})");
  ASSERT_EQ(r.status, 201) << r.body;
  json j = Body(r);
  EXPECT_EQ(j["id"], "valve-1");
  EXPECT_EQ(j["desired"]["open"], true);
  EXPECT_EQ(j["relationships"][0]["target"], "pump-1");
  EXPECT_EQ(Do("GET", "/api/v1/twins/valve-1").status, 200);
}

TEST_F(HandlersTest, CreateTwinBodyErrorsNameTheProblem) {
  struct Case {
    const char* body;
    const char* needle;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"{\"id\":", "malformed JSON"},
           {"[1]", "expected a JSON object"},
           {R"({"model":"dtmi:x;1"})", "$.id"},
           {R"({"id":"a"})", "$.model"},
           {R"({"id":5,"model":"dtmi:x;1"})", "$.id"},
           {R"({"id":"a","model":"dtmi:x;1","desired":3})", "$.desired"},
           {R"({"id":"a","model":"dtmi:x;1","relationships":[{"name":"x"}]})", "$.relationships[0].target"},
           {R"({"id":"a","model":"dtmi:x;1","colour":"red"})", "$.colour"},
           {R"({"id":"a","model":"nodtmi"})", "unknown model"},
       }) {
    HttpResponse r = Do("POST", "/api/v1/twins", "admin-tok", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(ErrorMessage(r, "invalid_argument").find(c.needle), std::string::npos)
        << c.body << " -> " << r.body;
  }
}

TEST_F(HandlersTest, TelemetryQuery) {
  HttpResponse r =
      Do("GET", "/api/v1/twins/pump-1/telemetry?signal=flow_m3h&from=10&to=20&points=5", "view-tok");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = Body(r);
  EXPECT_EQ(j["twin"], "pump-1");
  EXPECT_EQ(j["signal"], "flow_m3h");
  EXPECT_EQ(j["points"], json::parse("[[10,1.5],[20,2.5]]"));
  EXPECT_EQ(service_.last_query.points, 5u);

  // Defaults: from 0, to now, points 1000.
  r = Do("GET", "/api/v1/twins/pump-1/telemetry?signal=flow_m3h", "view-tok");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(service_.last_query.from, 0);
  EXPECT_GT(service_.last_query.to, int64_t{1'600'000'000} * kNsPerS);
  EXPECT_EQ(service_.last_query.points, 1000u);

  EXPECT_EQ(Do("GET", "/api/v1/twins/nope/telemetry?signal=x").status, 404);
}

TEST_F(HandlersTest, TelemetryQueryParameterErrorsNameTheParameter) {
  struct Case {
    const char* query;
    const char* needle;
  };
  for (const Case& c : std::vector<Case>{
           {"", "signal"},
           {"signal=", "signal"},
           {"signal=s&points=abc", "points"},
           {"signal=s&points=0", "points"},
           {"signal=s&points=100001", "points"},
           {"signal=s&points=-1", "points"},
           {"signal=s&from=1x", "from"},
           {"signal=s&to=", "to"},
           {"signal=s&to=99999999999999999999", "to"},
           {"signal=s&from=20&to=10", "from"},
       }) {
    HttpResponse r = Do("GET", std::string("/api/v1/twins/pump-1/telemetry?") + c.query);
    EXPECT_EQ(r.status, 400) << c.query;
    std::string m = ErrorMessage(r, "invalid_argument");
    EXPECT_EQ(m.rfind(c.needle, 0), 0u) << c.query << " -> " << m;
  }
  EXPECT_EQ(Do("GET", "/api/v1/twins/pump-1/telemetry?signal=s&points=100000").status, 200);
}

TEST_F(HandlersTest, Commands) {
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/commands", "admin-tok",
                      R"({"name":"setSpeed","request":{"rpm":1200}})");
  ASSERT_EQ(r.status, 202) << r.body;
  json c = Body(r);
  EXPECT_EQ(c["id"], "c-1");
  EXPECT_EQ(c["twin"], "pump-1");
  EXPECT_EQ(c["name"], "setSpeed");
  EXPECT_EQ(c["request"]["rpm"], 1200);
  EXPECT_EQ(c["status"], "sent");
  EXPECT_EQ(c["source"], "operator");  // the default over HTTP
  EXPECT_EQ(c["issued_by"], "alice");  // the token entry's name
  EXPECT_EQ(c["created"], 42);
  EXPECT_EQ(c["audit"][0], json({{"status", "proposed"}, {"who", "alice"}, {"at_ns", 42}, {"why", ""}}));
  EXPECT_EQ(c["history"][0], json({{"status", "proposed"}, {"at", 42}, {"by", "alice"}, {"reason", ""}}));

  r = Do("POST", "/api/v1/twins/pump-1/commands", "op-tok", R"({"name":"setSpeed","request":{"rpm":1}})");
  EXPECT_EQ(Body(r)["issued_by"], "api:operator");  // default principal name

  r = Do("GET", "/api/v1/twins/pump-1/commands", "view-tok");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["commands"].size(), 2u);
  r = Do("GET", "/api/v1/twins/pump-1/commands/c-1", "view-tok");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Body(r)["id"], "c-1");
  EXPECT_EQ(Do("GET", "/api/v1/twins/pump-1/commands/c-9").status, 404);

  r = Do("POST", "/api/v1/twins/pump-1/commands", "op-tok", R"({"name":"explode"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("explode"), std::string::npos);
  r = Do("POST", "/api/v1/twins/pump-1/commands", "op-tok", R"({"request":{}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("$.name"), std::string::npos);
  EXPECT_EQ(Do("POST", "/api/v1/twins/nope/commands", "op-tok", R"({"name":"setSpeed"})").status, 404);
}

TEST_F(HandlersTest, ProposalIsApprovedOrRejectedByAnOperatorOnly) {
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/commands", "op-tok",
                      R"({"name":"setSpeed","request":{"speed_rpm":1200},"source":"mpc"})");
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(Body(r)["status"], "proposed");
  EXPECT_EQ(Body(r)["source"], "mpc");
  const std::string id = Body(r)["id"];
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/commands/" + id + "/approve", "view-tok").status, 403);
  r = Do("POST", "/api/v1/twins/pump-1/commands/" + id + "/approve", "op-tok", R"({"reason":"looks right"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["status"], "sent");
  EXPECT_EQ(Body(r)["audit"].back()["why"], "looks right");
  EXPECT_EQ(Body(r)["audit"].back()["who"], "api:operator");
  // Deciding twice does not fit the state: 409, not 500.
  r = Do("POST", "/api/v1/twins/pump-1/commands/" + id + "/reject", "op-tok");
  EXPECT_EQ(r.status, 409) << r.body;
  ErrorMessage(r, "failed_precondition");
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/commands/c-404/approve", "op-tok").status, 404);
  r = Do("POST", "/api/v1/twins/pump-1/commands/" + id + "/approve", "op-tok", R"({"colour":"red"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("colour"), std::string::npos);
  r = Do("POST", "/api/v1/twins/pump-1/commands", "op-tok", R"({"name":"setSpeed","source":"robot"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("$.source"), std::string::npos);
}

TEST_F(HandlersTest, RefusedCommandIs409WithTheRecordAndTheReason) {
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/commands", "op-tok",
                      R"({"name":"setSpeed","request":{"speed_rpm":9000}})");
  ASSERT_EQ(r.status, 409) << r.body;
  EXPECT_NE(ErrorMessage(r, "refused").find("above max 3000"), std::string::npos);
  EXPECT_EQ(Body(r)["command"]["status"], "refused");
  EXPECT_FALSE(r.headers.empty());
}

TEST_F(HandlersTest, ControlModeIsReadByViewersAndSetByOperators) {
  HttpResponse r = Do("GET", "/api/v1/twins/pump-1/control-mode", "view-tok");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r), json({{"twin", "pump-1"}, {"mode", "auto"}, {"overridden", false}}));
  EXPECT_EQ(Do("PUT", "/api/v1/twins/pump-1/control-mode", "view-tok", R"({"mode":"approve"})").status, 403);
  r = Do("PUT", "/api/v1/twins/pump-1/control-mode", "op-tok", R"({"mode":"approve"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["mode"], "approve");
  EXPECT_EQ(Body(r)["set_by"], "api:operator");
  EXPECT_EQ(Body(Do("GET", "/api/v1/twins/pump-1/control-mode", "view-tok"))["mode"], "approve");
  r = Do("PUT", "/api/v1/twins/pump-1/control-mode", "op-tok", R"({"mode":"manual"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("$.mode"), std::string::npos);
  EXPECT_EQ(Do("PUT", "/api/v1/twins/pump-1/control-mode", "op-tok", "{}").status, 400);
  EXPECT_EQ(Do("GET", "/api/v1/twins/nope/control-mode", "view-tok").status, 404);
}

TEST_F(HandlersTest, BodyTooLargeIs413) {
  HttpResponse r = Do("POST", "/api/v1/twins", "admin-tok", std::string(2000, ' '));
  EXPECT_EQ(r.status, 413);
  ErrorMessage(r, "payload_too_large");
}

TEST_F(HandlersTest, MetricsEndpointAndRequestCounters) {
  HttpResponse r = Do("GET", "/metrics", "view-tok");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(r.body.find("doppel_fake 1"), std::string::npos);
  Do("GET", "/api/v1/nope");
  std::string text = metrics_.RenderPrometheus();
  EXPECT_NE(text.find("doppel_http_requests_total{code=\"200\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("doppel_http_requests_total{code=\"404\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("doppel_http_request_seconds_count 2"), std::string::npos) << text;
}

TEST_F(HandlersTest, StreamWithoutUpgradeIs426) {
  HttpResponse r = Do("GET", "/api/v1/stream", "view-tok");
  EXPECT_EQ(r.status, 426);
  ErrorMessage(r, "upgrade_required");
}

TEST_F(HandlersTest, StreamAcceptsQueryToken) {
  HttpRequest r;
  r.method = "GET";
  r.target = "/api/v1/stream?token=view-tok";
  auto who = handler_.AuthenticateStream(r);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->role, Role::kViewer);
  r.target = "/api/v1/stream?token=bad";
  EXPECT_EQ(handler_.AuthenticateStream(r).status().code(), StatusCode::kUnauthenticated);
  r.target = "/api/v1/stream";
  r.authorization = "Bearer op-tok";
  EXPECT_EQ(handler_.AuthenticateStream(r)->role, Role::kOperator);
  // ?token= is only honoured on the stream.
  EXPECT_EQ(Do("GET", "/api/v1/twins?token=view-tok", "").status, 401);
}

TEST_F(HandlersTest, BuiltInLivePage) {
  HttpResponse r = Do("GET", "/", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("/api/v1/stream"), std::string::npos);
  EXPECT_NE(r.body.find("localStorage"), std::string::npos);
  EXPECT_EQ(Do("GET", "/nothing.js", "").status, 404);
}

TEST_F(HandlersTest, PureHandlerWithPrincipal) {
  HttpRequest r;
  r.method = "GET";
  r.target = "/api/v1/twins/pump-2";
  HttpResponse resp = HandleApiRequest(r, Principal{"test", Role::kViewer}, service_);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(json::parse(resp.body)["id"], "pump-2");
}

// A body nested deeper than kMaxJsonDepth is refused with 400 before it is parsed: copying the
// parsed value (SubmitCommand copies "request", CreateTwin "desired") recursed once per level
// and overflowed the stack at this depth.
TEST_F(HandlersTest, BodyNestedDeeperThan64LevelsIs400NamingTheLimit) {
  const std::string deep = std::string(60000, '[') + std::string(60000, ']');
  struct Case {
    const char* method;
    const char* target;
    std::string body;
    size_t byte;  // of the bracket opening level 65
  };
  const std::vector<Case> cases = {
      {"POST", "/api/v1/twins/pump-1/commands", R"({"name":"x","request":)" + deep + "}", 85},
      {"POST", "/api/v1/twins", R"({"id":"p","model":"dtmi:x;1","desired":{"a":)" + deep + "}}", 106},
      {"POST", "/api/v1/twins/pump-1/whatif", R"({"horizon_s":10,"scenarios":)" + deep + "}", 91},
      {"POST", "/api/v1/sim/envs/e-1/step", R"({"action":)" + deep + "}", 73},
  };
  for (const Case& c : cases) {
    HttpRequest r;
    r.method = c.method;
    r.target = c.target;
    r.body = c.body;  // above the handler's max_body_bytes: call the routes directly
    HttpResponse resp = HandleApiRequest(r, Principal{"test", Role::kAdmin}, service_);
    EXPECT_EQ(resp.status, 400) << c.target;
    EXPECT_EQ(ErrorMessage(resp, "invalid_argument"),
              "body: nesting deeper than 64 levels at byte " + std::to_string(c.byte))
        << c.target;
  }
  // Still serving.
  EXPECT_EQ(Do("GET", "/api/v1/twins/pump-1").status, 200);
}

TEST_F(HandlersTest, BodyNestedExactly64LevelsIsAccepted) {
  // The top-level object is level 1: 63 more levels are allowed.
  std::string body =
      R"({"name":"setSpeed","request":{"a":)" + std::string(62, '[') + std::string(62, ']') + "}}";
  EXPECT_EQ(Do("POST", "/api/v1/twins/pump-1/commands", "op-tok", body).status, 202);
  body = R"({"name":"setSpeed","request":{"a":)" + std::string(63, '[') + std::string(63, ']') + "}}";
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/commands", "op-tok", body);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("nesting deeper than 64 levels"), std::string::npos);
}

TEST(JsonDepthTest, BracketsInsideStringsAndEscapesDoNotCount) {
  const std::string in_string =
      "{\"a\":\"" + std::string(1000, '[') + "\\\"" + std::string(1000, '{') + "\"}";
  EXPECT_TRUE(CheckJsonDepth(in_string).ok());
  EXPECT_TRUE(ParseJsonObject(in_string).ok());
  EXPECT_TRUE(CheckJsonDepth(std::string(64, '[') + std::string(64, ']')).ok());
  Status s = CheckJsonDepth(std::string(65, '{'), "message");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "message: nesting deeper than 64 levels at byte 64");
  // Siblings do not add up: depth, not count.
  std::string wide = "[";
  for (int i = 0; i < 1000; ++i) wide += "[[]],";
  wide += "1]";
  EXPECT_TRUE(CheckJsonDepth(wide).ok());
}

// An unsigned JSON integer above INT64_MAX used to be cast to a negative time (201 with -1).
TEST_F(HandlersTest, AnnotationTimesAboveInt64RangeAre400NamingTheField) {
  for (const char* field : {"from_ns", "to_ns"}) {
    HttpResponse r = Do("POST", "/api/v1/twins/pump-1/annotations", "op-tok",
                        std::string(R"({"text":"t",")") + field + R"(":18446744073709551615})");
    EXPECT_EQ(r.status, 400) << field;
    EXPECT_EQ(ErrorMessage(r, "invalid_argument"),
              std::string("$.") + field + ": 18446744073709551615 is above the int64 range");
  }
  HttpResponse r = Do("POST", "/api/v1/twins/pump-1/annotations", "op-tok",
                      R"({"text":"t","from_ns":9223372036854775808})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessage(r, "invalid_argument").find("$.from_ns"), std::string::npos);
  r = Do("POST", "/api/v1/twins/pump-1/annotations", "op-tok", R"({"text":"t","from_ns":1.5})");
  EXPECT_EQ(ErrorMessage(r, "invalid_argument"), "$.from_ns: expected an integer (ns)");
  // INT64_MAX itself is a valid time: the body passes (the fake service has no annotations).
  r = Do("POST", "/api/v1/twins/pump-1/annotations", "op-tok",
         R"({"text":"t","from_ns":9223372036854775807})");
  EXPECT_NE(r.status, 400) << r.body;
}

TEST_F(HandlersTest, PercentEncodedIds) {
  HttpResponse r = Do("GET", "/api/v1/twins/pump%2D1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Do("GET", "/api/v1/twins/pump%zz").status, 400);
}

}  // namespace
}  // namespace doppel::api
