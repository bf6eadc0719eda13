// Schema 1 -> 2 of the metadata store: commands gain `source`, control_modes appears; rows
// written by schema 1 stay readable.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "doppel/store/metadata.h"
#include "testing/test_util.h"

namespace doppel::store {
namespace {

// The schema-1 layout, as a release with it wrote it.
constexpr const char* kSchema1 = R"sql(
CREATE TABLE twins (id TEXT PRIMARY KEY NOT NULL, model TEXT NOT NULL, desired_json TEXT NOT NULL,
  reported_json TEXT NOT NULL, relationships_json TEXT NOT NULL, created_ns INTEGER NOT NULL);
CREATE TABLE commands (id TEXT PRIMARY KEY NOT NULL, twin TEXT NOT NULL, name TEXT NOT NULL,
  request_json TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, issued_by TEXT NOT NULL,
  history_json TEXT NOT NULL, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
CREATE INDEX commands_by_twin ON commands (twin, created_ns, id);
CREATE INDEX commands_by_status ON commands (status, created_ns, id);
INSERT INTO commands VALUES ('c-1', 'pump-1', 'setSpeed', '{"speed_rpm":1200}', 'pending', '', 'api:admin',
  '[{"status":"pending","at":10,"by":"api:admin","reason":""}]', 10, 10);
PRAGMA user_version = 1;
)sql";

int UserVersion(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

TEST(MetadataMigrationTest, SchemaOneDatabaseIsMigratedAndItsCommandsStayReadable) {
  testing::TempDir dir;
  const std::string path = dir.file("meta.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, kSchema1, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_close(db);
  }
  ASSERT_EQ(UserVersion(path), 1);
  {
    auto m = MetadataStore::Open(path);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto c = (*m)->GetCommand("c-1");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(c->status, "pending");
    EXPECT_EQ(c->source, "operator") << "schema-1 commands were operator commands";
    EXPECT_EQ(c->request_json, R"({"speed_rpm":1200})");
    CommandRow row = *c;
    row.id = "c-2";
    row.source = "mpc";
    ASSERT_TRUE((*m)->PutCommand(row).ok());
    ASSERT_TRUE((*m)->PutControlMode({"pump-1", "approve", "api:alice", 20}).ok());
  }
  EXPECT_EQ(UserVersion(path), 2);
  auto m = MetadataStore::Open(path);  // opening a schema-2 database again changes nothing
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto all = (*m)->ListCommands();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].source, "mpc");
  auto modes = (*m)->ListControlModes();
  ASSERT_TRUE(modes.ok());
  ASSERT_EQ(modes->size(), 1u);
  EXPECT_EQ((*modes)[0], (ControlModeRow{"pump-1", "approve", "api:alice", 20}));
}

}  // namespace
}  // namespace doppel::store
