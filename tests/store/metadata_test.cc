#include "doppel/store/metadata.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <thread>

namespace doppel::store {
namespace {

class MetadataStoreTest : public ::testing::Test {
 protected:
  MetadataStoreTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "doppel-meta-XXXXXX").string();
    dir_ = ::mkdtemp(tmpl.data());
  }
  ~MetadataStoreTest() override { std::filesystem::remove_all(dir_); }
  std::string path() const { return dir_ + "/metadata.db"; }
  std::unique_ptr<MetadataStore> OpenDb() {
    auto m = MetadataStore::Open(path());
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(*m) : nullptr;
  }
  static CommandRow Cmd(std::string id, std::string twin, std::string status, int64_t created) {
    CommandRow c;
    c.id = std::move(id);
    c.twin = std::move(twin);
    c.name = "setSpeed";
    c.request_json = R"({"rpm":1200})";
    c.status = std::move(status);
    c.issued_by = "api:admin";
    c.created_ns = created;
    c.updated_ns = created + 1;
    return c;
  }
  std::string dir_;
};

TEST_F(MetadataStoreTest, TwinUpsertReplacesTheRow) {
  auto db = OpenDb();
  TwinRow t{"pump-1", "dtmi:doppel:demo:Pump;1", R"({"setpoint":3})", "{}", "[]", 100};
  ASSERT_TRUE(db->PutTwin(t).ok());
  EXPECT_EQ(*db->GetTwin("pump-1"), t);
  t.reported_json = R"({"speed":1450})";
  t.relationships_json = R"([{"name":"feeds","target":"tank-1"}])";
  ASSERT_TRUE(db->PutTwin(t).ok());
  EXPECT_EQ(*db->GetTwin("pump-1"), t);
  EXPECT_EQ(db->ListTwins()->size(), 1u);
}

TEST_F(MetadataStoreTest, MissingTwinIsNotFound) {
  auto db = OpenDb();
  EXPECT_EQ(db->GetTwin("nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db->DeleteTwin("nope").code(), StatusCode::kNotFound);
}

TEST_F(MetadataStoreTest, ListTwinsIsSortedByIdAndDeleteRemoves) {
  auto db = OpenDb();
  for (const char* id : {"c", "a", "b"}) ASSERT_TRUE(db->PutTwin({id, "m", "{}", "{}", "[]", 1}).ok());
  auto list = db->ListTwins();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id, "a");
  EXPECT_EQ((*list)[2].id, "c");
  ASSERT_TRUE(db->DeleteTwin("b").ok());
  EXPECT_EQ(db->ListTwins()->size(), 2u);
}

TEST_F(MetadataStoreTest, CommandsAreListedByTwinAndByStatusInCreationOrder) {
  auto db = OpenDb();
  ASSERT_TRUE(db->PutCommand(Cmd("c3", "pump-1", "pending", 30)).ok());
  ASSERT_TRUE(db->PutCommand(Cmd("c1", "pump-1", "pending", 10)).ok());
  ASSERT_TRUE(db->PutCommand(Cmd("c2", "pump-2", "pending", 20)).ok());
  auto c1 = Cmd("c1", "pump-1", "acked", 10);
  c1.history_json = R"([{"status":"pending"},{"status":"acked"}])";
  c1.updated_ns = 99;
  ASSERT_TRUE(db->PutCommand(c1).ok());  // upsert: status change

  auto by_twin = db->ListCommandsByTwin("pump-1");
  ASSERT_TRUE(by_twin.ok());
  ASSERT_EQ(by_twin->size(), 2u);
  EXPECT_EQ((*by_twin)[0], c1);
  EXPECT_EQ((*by_twin)[1].id, "c3");

  auto pending = db->ListCommandsByStatus("pending");
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, "c2");
  EXPECT_EQ((*pending)[1].id, "c3");
  EXPECT_EQ(db->ListCommandsByStatus("acked")->size(), 1u);
  EXPECT_TRUE(db->ListCommandsByStatus("rejected")->empty());
  EXPECT_EQ(*db->GetCommand("c1"), c1);
  EXPECT_EQ(db->GetCommand("c9").status().code(), StatusCode::kNotFound);
}

TEST_F(MetadataStoreTest, RowsSurviveReopenAndUseTheWalJournal) {
  {
    auto db = OpenDb();
    ASSERT_TRUE(db->PutTwin({"pump-1", "m", "{}", "{}", "[]", 1}).ok());
    ASSERT_TRUE(db->PutCommand(Cmd("c1", "pump-1", "sent", 5)).ok());
    EXPECT_TRUE(std::filesystem::exists(path() + "-wal"));
  }
  auto db = OpenDb();
  EXPECT_EQ(db->GetTwin("pump-1")->model, "m");
  EXPECT_EQ(db->GetCommand("c1")->status, "sent");
}

TEST_F(MetadataStoreTest, TextWithQuotesAndNulBytesRoundTrips) {
  auto db = OpenDb();
  TwinRow t{"it's \"odd\"", "m", std::string("{\"a\":\"x\0y\"}", 12), "{}", "[]", -5};
  ASSERT_TRUE(db->PutTwin(t).ok());
  EXPECT_EQ(*db->GetTwin(t.id), t);
}

TEST_F(MetadataStoreTest, ConcurrentWritersAndReaders) {
  auto db = OpenDb();
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 25; ++i) {
        std::string id = "c" + std::to_string(w) + "-" + std::to_string(i);
        EXPECT_TRUE(db->PutCommand(Cmd(id, "t" + std::to_string(w), "pending", i)).ok());
        EXPECT_TRUE(db->ListCommandsByTwin("t" + std::to_string(w)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(db->ListCommandsByStatus("pending")->size(), 100u);
}

TEST_F(MetadataStoreTest, OpenReportsTheSqliteError) {
  auto m = MetadataStore::Open(dir_ + "/missing-dir/metadata.db");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("missing-dir"), std::string::npos) << m.status().ToString();
}

TEST(MetadataStoreMemoryTest, InMemoryDatabaseWorks) {
  auto m = MetadataStore::Open(":memory:");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE((*m)->PutTwin({"a", "m", "{}", "{}", "[]", 1}).ok());
  EXPECT_EQ((*m)->ListTwins()->size(), 1u);
}

}  // namespace
}  // namespace doppel::store
