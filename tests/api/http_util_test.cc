// Targets, tokens, options, static files, the stream filter and queue.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "doppel/api/http.h"
#include "doppel/api/static_files.h"
#include "doppel/api/stream.h"

namespace doppel::api {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(ParseTargetTest, SegmentsAndQuery) {
  auto t = ParseTarget("/api/v1/twins/a%2Fb?model=dtmi%3Ax%3B1&x=1+2&x=3&flag");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, "/api/v1/twins/a%2Fb");
  EXPECT_EQ(t->segments, (std::vector<std::string>{"api", "v1", "twins", "a/b"}));
  EXPECT_EQ(t->query.at("model"), "dtmi:x;1");
  EXPECT_EQ(t->query.at("x"), "3");
  EXPECT_EQ(t->query.at("flag"), "");
  EXPECT_FALSE(ParseTarget("http://x/").ok());
  EXPECT_FALSE(ParseTarget("/a%4").ok());
  EXPECT_FALSE(ParseTarget("/a?b=%").ok());
  EXPECT_TRUE(ParseTarget("/")->segments.empty());
}

TEST(AuthTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(AuthTest, Authenticate) {
  std::vector<TokenEntry> tokens = {{"t1", Role::kViewer, ""}, {"t2", Role::kAdmin, "bob"}};
  EXPECT_EQ(Authenticate("Bearer t1", "", tokens)->role, Role::kViewer);
  EXPECT_EQ(Authenticate("Bearer t2", "", tokens)->name, "bob");
  EXPECT_EQ(Authenticate("Bearer t1", "", tokens)->name, "api:viewer");
  EXPECT_EQ(Authenticate("", "t2", tokens)->role, Role::kAdmin);
  EXPECT_FALSE(Authenticate("Bearer", "", tokens).ok());
  EXPECT_FALSE(Authenticate("Bearer t3", "", tokens).ok());
  EXPECT_FALSE(Authenticate("Token t1", "", tokens).ok());
  EXPECT_FALSE(Authenticate("", "", tokens).ok());
  EXPECT_FALSE(Authenticate("Bearer ", "", {{"", Role::kAdmin, ""}}).ok());
}

TEST(OptionsTest, Validate) {
  ApiOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.listen = "nope";
  EXPECT_NE(o.Validate().message().find("listen"), std::string::npos);
  o.listen = "127.0.0.1:70000";
  EXPECT_FALSE(o.Validate().ok());
  o.listen = "[::1]:0";
  EXPECT_TRUE(o.Validate().ok());
  o.io_threads = 0;
  EXPECT_NE(o.Validate().message().find("io_threads"), std::string::npos);
  o.io_threads = 2;
  o.tokens = {{"a", Role::kViewer, ""}, {"a", Role::kAdmin, ""}};
  Status s = o.Validate();
  EXPECT_NE(s.message().find("duplicate"), std::string::npos);
  o.tokens = {{"", Role::kViewer, ""}};
  EXPECT_FALSE(o.Validate().ok());
  o.tokens.clear();
  o.static_dir = "/definitely/not/here";
  EXPECT_NE(o.Validate().message().find("static_dir"), std::string::npos);
  o.static_dir.clear();
  o.max_body_bytes = 0;
  EXPECT_FALSE(o.Validate().ok());

  std::string host;
  int port = -1;
  ASSERT_TRUE(ParseListen(":9000", &host, &port).ok());
  EXPECT_EQ(host, "");
  EXPECT_EQ(port, 9000);
  ASSERT_TRUE(ParseListen("[::1]:80", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(ParseListen("::1:80", &host, &port).ok());
}

class StaticFilesTest : public ::testing::Test {
 protected:
  StaticFilesTest() {
    root_ = fs::temp_directory_path() / ("doppel-api-static-" + std::to_string(::getpid()));
    fs::create_directories(root_ / "www" / "js");
    Write(root_ / "www" / "index.html", "<h1>hi</h1>");
    Write(root_ / "www" / "js" / "app.js", "let x;");
    Write(root_ / "www" / "model.glb", "glTF");
    Write(root_ / "www" / ".secret", "s");
    Write(root_ / "outside.txt", "secret");
    fs::create_symlink(root_ / "outside.txt", root_ / "www" / "link.txt");
  }
  ~StaticFilesTest() override { fs::remove_all(root_); }
  static void Write(const fs::path& p, const std::string& s) { std::ofstream(p) << s; }
  HttpResponse Get(const std::string& target) {
    auto t = ParseTarget(target);
    if (!t.ok()) return ErrorResponse(t.status());
    return ServeStatic((root_ / "www").string(), *t);
  }
  fs::path root_;
};

TEST_F(StaticFilesTest, ServesFilesWithContentTypes) {
  HttpResponse r = Get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>hi</h1>");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  r = Get("/js/app.js");
  EXPECT_EQ(r.body, "let x;");
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Get("/model.glb").content_type, "model/gltf-binary");
  EXPECT_EQ(Get("/js/nope.js").status, 404);
}

TEST_F(StaticFilesTest, RefusesTraversal) {
  for (const char* t :
       {"/../outside.txt", "/js/../../outside.txt", "/%2e%2e/outside.txt", "/..%2Foutside.txt",
        "/js/..%2F..%2Foutside.txt", "/.secret", "/link.txt", "/a%00b", "/..\\outside.txt"}) {
    HttpResponse r = Get(t);
    EXPECT_EQ(r.status, 404) << t;
    EXPECT_NE(r.body, "secret") << t;
    EXPECT_NE(r.body, "s") << t;
  }
}

TEST(ContentTypeTest, KnownExtensions) {
  EXPECT_EQ(ContentTypeFor("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("a.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("a.PNG"), "image/png");
  EXPECT_EQ(ContentTypeFor("a.json"), "application/json");
  EXPECT_EQ(ContentTypeFor("a.glb"), "model/gltf-binary");
  EXPECT_EQ(ContentTypeFor("a.wasm"), "application/wasm");
  EXPECT_EQ(ContentTypeFor("dir.x/file"), "application/octet-stream");
}

engine::StreamEvent Ev(const std::string& twin, const std::string& signal, TimeNs ts = 1) {
  return {twin, signal, ts, 1.0, {}, {}};
}

TEST(StreamFilterTest, SubscribeAndMatch) {
  StreamFilter f;
  EXPECT_FALSE(f.Matches(Ev("pump-1", "flow")));
  auto ack = f.Apply(R"({"subscribe":{"twins":["pump-1"],"signals":["flow"]}})");
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ((*ack)["type"], "subscribed");
  EXPECT_EQ((*ack)["twins"], json({"pump-1"}));
  EXPECT_TRUE(f.Matches(Ev("pump-1", "flow")));
  EXPECT_FALSE(f.Matches(Ev("pump-1", "speed")));
  EXPECT_FALSE(f.Matches(Ev("pump-2", "flow")));
  ASSERT_TRUE(f.Apply(R"({"subscribe":{"twins":["pump-2"],"signals":["flow"]}})").ok());
  EXPECT_TRUE(f.Matches(Ev("pump-2", "flow")));
  ASSERT_TRUE(f.Apply(R"({"unsubscribe":{"twins":["pump-1"]}})").ok());
  EXPECT_FALSE(f.Matches(Ev("pump-1", "flow")));
  EXPECT_TRUE(f.Matches(Ev("pump-2", "flow")));
  ASSERT_TRUE(f.Apply(R"({"unsubscribe":{}})").ok());
  EXPECT_FALSE(f.Matches(Ev("pump-2", "flow")));
}

TEST(StreamFilterTest, AllForms) {
  for (const char* m : {R"({"subscribe":{}})", R"({"subscribe":{"twins":[]}})",
                        R"({"subscribe":{"twins":["*"]}})", R"({"subscribe":null})"}) {
    StreamFilter f;
    ASSERT_TRUE(f.Apply(m).ok()) << m;
    EXPECT_TRUE(f.Matches(Ev("any", "thing"))) << m;
    EXPECT_EQ(f.Describe()["twins"], "*");
  }
}

TEST(StreamFilterTest, BadMessagesLeaveFilterUnchanged) {
  StreamFilter f;
  ASSERT_TRUE(f.Apply(R"({"subscribe":{"twins":["a"]}})").ok());
  for (const char* m : {"nope", "[]", "{}", R"({"subscribe":{},"unsubscribe":{}})", R"({"subscribe":5})",
                        R"({"subscribe":{"twins":"a"}})", R"({"subscribe":{"twins":[1]}})",
                        R"({"subscribe":{"twin":["b"]}})", "673e673", R"({"subscribe":{"twins":[1e999]}})"}) {
    auto r = f.Apply(m);
    EXPECT_FALSE(r.ok()) << m;
    EXPECT_FALSE(r.status().message().empty());
  }
  EXPECT_TRUE(f.Matches(Ev("a", "x")));
  EXPECT_FALSE(f.Matches(Ev("b", "x")));
  EXPECT_NE(f.Apply(R"({"subscribe":{"twins":[1]}})").status().message().find("subscribe.twins[0]"),
            std::string::npos);
}

// Names per set are capped: each reply repeats the whole set, so an uncapped set grew without
// bound and made every acknowledgement as large as everything ever subscribed.
TEST(StreamFilterTest, SubscribeBeyond1024NamesIsRefusedAndLeavesTheFilterUnchanged) {
  StreamFilter f;
  auto batch = [](int from, int n) {
    json names = json::array();
    for (int i = from; i < from + n; ++i) names.push_back("pump-" + std::to_string(i));
    return json({{"subscribe", {{"twins", names}, {"signals", {"flow"}}}}}).dump();
  };
  ASSERT_TRUE(f.Apply(batch(0, 1000)).ok());
  ASSERT_TRUE(f.Apply(batch(990, 34)).ok());  // 24 new: exactly kMaxStreamNames
  EXPECT_EQ(f.Describe()["twins"].size(), kMaxStreamNames);
  auto r = f.Apply(batch(2000, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "subscribe.twins: more than 1024 names in one subscription (subscribe to \"*\" for all)");
  EXPECT_EQ(f.Describe()["twins"].size(), kMaxStreamNames);
  EXPECT_FALSE(f.Matches(Ev("pump-2000", "flow")));
  // Names already in the set do not count twice; "*" still works.
  EXPECT_TRUE(f.Apply(batch(0, 10)).ok());
  EXPECT_TRUE(f.Apply(R"({"subscribe":{"twins":["*"]}})").ok());
  EXPECT_TRUE(f.Matches(Ev("pump-5000", "flow")));
  // Signals are capped the same way, and a refused message changes neither set.
  StreamFilter g;
  json signals = json::array();
  for (int i = 0; i < 1025; ++i) signals.push_back("s" + std::to_string(i));
  r = g.Apply(json({{"subscribe", {{"twins", {"a"}}, {"signals", signals}}}}).dump());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("subscribe.signals: more than 1024 names"), std::string::npos);
  EXPECT_FALSE(g.active());
}

TEST(StreamFilterTest, SubscribeBeyond64KiBOfNamesIsRefused) {
  StreamFilter f;
  const std::string big(30000, 'x');
  auto one = [&](char c) { return json({{"subscribe", {{"twins", {big + c}}}}}).dump(); };
  ASSERT_TRUE(f.Apply(one('a')).ok());
  ASSERT_TRUE(f.Apply(one('b')).ok());
  auto r = f.Apply(one('c'));  // 90003 bytes of names
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("subscribe.twins: names of more than 65536 bytes"), std::string::npos);
  EXPECT_EQ(f.Describe()["twins"].size(), 2u);
}

TEST(StreamFilterTest, MessageNestedDeeperThan64LevelsIsRefused) {
  StreamFilter f;
  auto r = f.Apply(R"({"subscribe":{"twins":)" + std::string(60000, '[') + std::string(60000, ']') + "}}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "message: nesting deeper than 64 levels at byte 84");
  EXPECT_FALSE(f.active());
}

TEST(FrameQueueTest, BoundedByFramesAndBytesDroppingTheOldest) {
  FrameQueue q(3, 10);
  EXPECT_EQ(q.Push("aaaa"), 0u);
  EXPECT_EQ(q.Push("bbbb"), 0u);
  EXPECT_EQ(q.Push("cc"), 0u);
  EXPECT_EQ(q.bytes(), 10u);
  EXPECT_EQ(q.Push("d"), 1u);  // over both bounds: "aaaa" goes
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.bytes(), 7u);
  EXPECT_EQ(q.Push("eeeeeeee"), 2u);  // "bbbb" for the count, "cc" for the bytes
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), 9u);
  EXPECT_EQ(q.Push("x"), 0u);
  EXPECT_EQ(q.Push(std::string(50, 'z')), 3u);  // larger than the bound: kept alone
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.Pop().size(), 50u);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  // Many frames below the byte bound: the count bound holds.
  FrameQueue r(kMaxQueuedReplies, kMaxQueuedReplyBytes);
  for (int i = 0; i < 1000; ++i) r.Push(std::to_string(i));
  EXPECT_EQ(r.size(), kMaxQueuedReplies);
  EXPECT_EQ(r.Pop(), std::to_string(1000 - kMaxQueuedReplies));
  // Large replies: the byte bound holds.
  FrameQueue b(kMaxQueuedReplies, kMaxQueuedReplyBytes);
  for (int i = 0; i < 64; ++i) b.Push(std::string(200 * 1024, 'x'));
  EXPECT_LE(b.bytes(), kMaxQueuedReplyBytes);
  EXPECT_EQ(b.size(), 5u);
}

TEST(StreamQueueTest, DropsOldestWhenFull) {
  StreamQueue q(3);
  for (int i = 0; i < 5; ++i) q.Push(Ev("t", "s", i));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 2u);
  auto taken = q.Take(2);
  ASSERT_EQ(taken.size(), 2u);
  EXPECT_EQ(taken[0].ts_ns, 2);
  EXPECT_EQ(taken[1].ts_ns, 3);
  EXPECT_EQ(q.Take(10).size(), 1u);
  EXPECT_TRUE(q.empty());
}

TEST(StreamFrameTest, Encoding) {
  json j = json::parse(EncodeTelemetryFrame({Ev("pump-1", "flow", 7)}, 3));
  EXPECT_EQ(j["type"], "telemetry");
  EXPECT_EQ(j["dropped"], 3);
  EXPECT_EQ(j["events"][0], json({{"twin", "pump-1"}, {"signal", "flow"}, {"ts", 7}, {"value", 1.0}}));
  EXPECT_FALSE(json::parse(EncodeTelemetryFrame({})).contains("dropped"));
  EXPECT_EQ(json::parse(EncodeErrorFrame("bad")), json({{"type", "error"}, {"message", "bad"}}));
}

}  // namespace
}  // namespace doppel::api
