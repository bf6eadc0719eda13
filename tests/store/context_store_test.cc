#include "doppel/store/context_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <fstream>

#include "doppel/store/context_time.h"
#include "testing/test_util.h"

namespace doppel::store {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1709280000 * kS;  // 2024-03-01T08:00:00Z

WorkOrder Wo(std::string id, std::string twin, WorkOrderKind kind, WorkOrderStatus status, int64_t planned,
             std::optional<int64_t> completed = std::nullopt) {
  WorkOrder w;
  w.id = std::move(id);
  w.twin = std::move(twin);
  w.kind = kind;
  w.status = status;
  w.planned_start_ns = planned;
  w.completed_ns = completed;
  w.description = "replace worn impeller\nand check clearances";
  w.source = "sap-pm";
  return w;
}

DesignSpec Spec(std::string twin) {
  DesignSpec s;
  s.twin = std::move(twin);
  s.model = "NK 80-200";
  s.rated_flow_m3h = 120;
  s.rated_head_m = 32;
  s.rated_power_kw = 15;
  s.min_speed_rpm = 600;
  s.max_speed_rpm = 1800;
  s.max_motor_temp_c = 130;
  s.max_vibration_mm_s = 7.1;
  return s;
}

class ContextStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<ContextStore> OpenDb(ContextStoreOptions o = {}) {
    auto db = ContextStore::Open(path(), o);
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    return db.ok() ? std::move(*db) : nullptr;
  }
  std::string path() const { return dir_.file("context.db"); }
  testing::TempDir dir_;
};

TEST_F(ContextStoreTest, WorkOrdersRoundTripEveryFieldAndListByPlannedStartThenId) {
  auto db = OpenDb();
  WorkOrder a = Wo("WO-2", "pump-1", WorkOrderKind::kImpellerReplacement, WorkOrderStatus::kCompleted, kT0,
                   kT0 + 3600 * kS);
  WorkOrder b = Wo("WO-1", "pump-1", WorkOrderKind::kOther, WorkOrderStatus::kPlanned, kT0);
  b.kind_text = "coupling alignment";
  WorkOrder c = Wo("WO-0", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kCancelled, kT0 + 1);
  WorkOrder other = Wo("WO-9", "pump-2", WorkOrderKind::kSealReplacement, WorkOrderStatus::kInProgress, 0);
  auto sum = db->UpsertWorkOrders({a, b, c, other});
  ASSERT_TRUE(sum.ok()) << sum.status().ToString();
  EXPECT_EQ(sum->inserted, 4);
  EXPECT_EQ(sum->updated, 0);
  EXPECT_EQ(sum->seq, 1);
  auto list = db->ListWorkOrders("pump-1");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0], b);  // same planned start as a: by id
  EXPECT_EQ((*list)[1], a);
  EXPECT_EQ((*list)[2], c);
  EXPECT_EQ(*db->GetWorkOrder("WO-9"), other);
  EXPECT_EQ(db->GetWorkOrder("WO-404").status().code(), StatusCode::kNotFound);
}

TEST_F(ContextStoreTest, UpsertingTheSameRowsAgainChangesNothing) {
  auto db = OpenDb();
  std::vector<WorkOrder> rows = {
      Wo("WO-1", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kPlanned, kT0),
      Wo("WO-2", "pump-2", WorkOrderKind::kInspection, WorkOrderStatus::kPlanned, kT0)};
  auto first = db->UpsertWorkOrders(rows);
  ASSERT_TRUE(first.ok());
  auto again = db->UpsertWorkOrders(rows);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->unchanged, 2);
  EXPECT_EQ(again->inserted + again->updated, 0);
  EXPECT_EQ(again->seq, 0);
  auto changes = db->WorkOrderChangesSince(first->seq);
  ASSERT_TRUE(changes.ok());
  EXPECT_TRUE(changes->rows.empty());
  EXPECT_EQ(changes->last_seq, first->seq);
}

TEST_F(ContextStoreTest, ChangesSinceReturnsOnlyRowsOfLaterBatches) {
  auto db = OpenDb();
  auto w1 = Wo("WO-1", "pump-1", WorkOrderKind::kImpellerReplacement, WorkOrderStatus::kPlanned, kT0);
  auto w2 = Wo("WO-2", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kPlanned, kT0);
  auto s1 = db->UpsertWorkOrders({w1, w2});
  ASSERT_TRUE(s1.ok());
  // Completed later, but back-dated: a time cursor would miss it, the change sequence does not.
  w1.status = WorkOrderStatus::kCompleted;
  w1.completed_ns = kT0 + kS;
  auto s2 = db->UpsertWorkOrders({w1, w2});
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->updated, 1);
  EXPECT_EQ(s2->unchanged, 1);
  EXPECT_EQ(s2->seq, s1->seq + 1);
  auto c = db->WorkOrderChangesSince(s1->seq);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->rows.size(), 1u);
  EXPECT_EQ(c->rows[0], w1);
  EXPECT_EQ(c->last_seq, s2->seq);
  auto all = db->WorkOrderChangesSince(0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->rows.size(), 2u);
}

TEST_F(ContextStoreTest, CompletedSinceFiltersStatusTimeAndTwinInCompletionOrder) {
  auto db = OpenDb();
  ASSERT_TRUE(
      db
          ->UpsertWorkOrders({
              Wo("a", "pump-1", WorkOrderKind::kImpellerReplacement, WorkOrderStatus::kCompleted, kT0,
                 kT0 + 30),
              Wo("b", "pump-2", WorkOrderKind::kBearingReplacement, WorkOrderStatus::kCompleted, kT0,
                 kT0 + 20),
              Wo("c", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kCompleted, kT0, kT0 + 10),
              Wo("d", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kPlanned, kT0 + 50),
          })
          .ok());
  auto all = db->CompletedWorkOrdersSince(kT0 + 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);  // c is at t, not after it
  EXPECT_EQ((*all)[0].id, "b");
  EXPECT_EQ((*all)[1].id, "a");
  auto one = db->CompletedWorkOrdersSince(0, "pump-1");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 2u);
  EXPECT_EQ((*one)[0].id, "c");
  EXPECT_EQ((*one)[1].id, "a");
}

TEST_F(ContextStoreTest, ABatchWithOneBadRowAppliesNothingAndNamesTheRow) {
  auto db = OpenDb();
  auto bad =
      Wo("WO-3", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kCompleted, kT0);  // no completed_ns
  auto r = db->UpsertWorkOrders(
      {Wo("WO-1", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kPlanned, kT0),
       Wo("WO-2", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kPlanned, kT0), bad});
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("[2] 'WO-3': completed_ns: required"), std::string::npos)
      << r.status().message();
  EXPECT_TRUE(db->ListWorkOrders("pump-1")->empty());
  auto dup = db->UpsertSpecs({Spec("pump-1"), Spec("pump-1")});
  ASSERT_EQ(dup.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(dup.status().message().find("appears twice"), std::string::npos);
  EXPECT_TRUE(db->ListSpecs()->empty());
}

TEST_F(ContextStoreTest, SpecsRoundTripWithAndWithoutOptionalFieldsAndPersist) {
  DesignSpec a = Spec("pump-1");
  DesignSpec b = Spec("pump-2");
  b.manufacturer = "Grundfos";
  b.serial_number = "SN-0042";
  b.rated_speed_rpm = 1450;
  b.min_flow_m3h = 25;
  b.max_flow_m3h = 160;
  b.max_discharge_pressure_bar = 10;
  b.max_power_kw = 18.5;
  b.source = "specs.json";
  {
    auto db = OpenDb();
    auto s = db->UpsertSpecs({b, a});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->inserted, 2);
  }
  auto db = OpenDb();  // reopened: the rows are durable
  EXPECT_EQ(*db->GetSpec("pump-1"), a);
  EXPECT_EQ(*db->GetSpec("pump-2"), b);
  EXPECT_EQ(db->GetSpec("pump-3").status().code(), StatusCode::kNotFound);
  auto list = db->ListSpecs();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].twin, "pump-1");
  b.max_power_kw.reset();
  auto s = db->UpsertSpecs({a, b});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->updated, 1);
  EXPECT_EQ(s->unchanged, 1);
  auto c = db->SpecChangesSince(s->seq - 1);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->rows.size(), 1u);
  EXPECT_EQ(c->rows[0], b);
}

TEST_F(ContextStoreTest, AFileThatIsNotADatabaseIsCorruption) {
  {
    std::ofstream f(path(), std::ios::binary);
    for (int i = 0; i < 1024; ++i) f << "not a sqlite database ";
  }
  auto db = ContextStore::Open(path());
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), StatusCode::kCorruption) << db.status().ToString();
  EXPECT_NE(db.status().message().find(path()), std::string::npos);
}

TEST_F(ContextStoreTest, ADatabaseFromANewerSchemaIsRefused) {
  { auto db = OpenDb(); }
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto db = ContextStore::Open(path());
  EXPECT_EQ(db.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ContextStoreTest, ALockedDatabaseIsUnavailableAndAppliesNothing) {
  ContextStoreOptions o;
  o.busy_timeout_ms = 50;
  auto db = OpenDb(o);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path().c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto rows = std::vector<WorkOrder>{
      Wo("WO-1", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kPlanned, kT0)};
  auto r = db->UpsertWorkOrders(rows);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(db->ListWorkOrders("pump-1")->empty());
  auto again = db->UpsertWorkOrders(rows);  // the store recovers once the lock is gone
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->inserted, 1);
}

TEST_F(ContextStoreTest, NegativeBusyTimeoutIsRejected) {
  ContextStoreOptions o;
  o.busy_timeout_ms = -1;
  EXPECT_EQ(ContextStore::Open(path(), o).status().code(), StatusCode::kInvalidArgument);
}

TEST(SpecLimitsTest, RequiredLimitsAlwaysOptionalOnesOnlyWhenStated) {
  DesignSpec s = Spec("pump-1");
  auto limits = SpecLimits(s);
  ASSERT_EQ(limits.size(), 3u);
  EXPECT_EQ(limits[0], (SpecLimit{"speed_rpm", 600.0, 1800.0, true, true, "min_speed_rpm,max_speed_rpm"}));
  EXPECT_EQ(limits[1], (SpecLimit{"motor_temp_c", std::nullopt, 130.0, false, false, "max_motor_temp_c"}));
  EXPECT_EQ(limits[2], (SpecLimit{"vibration_mm_s", std::nullopt, 7.1, false, false, "max_vibration_mm_s"}));
  s.max_flow_m3h = 160;
  s.max_discharge_pressure_bar = 10;
  s.max_power_kw = 18.5;
  limits = SpecLimits(s);
  ASSERT_EQ(limits.size(), 6u);
  EXPECT_EQ(limits[3], (SpecLimit{"flow_m3h", std::nullopt, 160.0, false, true, "max_flow_m3h"}));
  EXPECT_EQ(limits[4], (SpecLimit{"discharge_pressure_bar", std::nullopt, 10.0, false, false,
                                  "max_discharge_pressure_bar"}));
  EXPECT_EQ(limits[5], (SpecLimit{"power_kw", std::nullopt, 18.5, false, false, "max_power_kw"}));
  s.min_flow_m3h = 25;
  EXPECT_EQ(SpecLimits(s)[3], (SpecLimit{"flow_m3h", 25.0, 160.0, false, true, "min_flow_m3h,max_flow_m3h"}));
}

TEST(ContextRulesTest, WorkOrderRulesNameTheField) {
  auto rules = [](WorkOrder w) { return CheckWorkOrder(w); };
  auto ok = Wo("WO-1", "pump-1", WorkOrderKind::kInspection, WorkOrderStatus::kCompleted, kT0, kT0);
  EXPECT_TRUE(rules(ok).empty());
  auto w = ok;
  w.completed_ns = kT0 - 1;
  ASSERT_EQ(rules(w).size(), 1u);
  EXPECT_EQ(rules(w)[0],
            "completed_ns: 2024-03-01T07:59:59.999999999Z must not be before planned_start_ns "
            "2024-03-01T08:00:00Z");
  w = ok;
  w.status = WorkOrderStatus::kPlanned;
  EXPECT_EQ(rules(w), std::vector<std::string>{"completed_ns: set but status is 'planned'"});
  w = ok;
  w.kind_text = "x";
  EXPECT_EQ(rules(w), std::vector<std::string>{"kind_text: set but kind is 'inspection'"});
  w = ok;
  w.twin = "pump 1";
  ASSERT_EQ(rules(w).size(), 1u);
  EXPECT_EQ(rules(w)[0].rfind("twin: 'pump 1' is not a twin id", 0), 0u);
  w = ok;
  w.id = "";
  w.description = std::string(4097, 'x');
  w.source = "bad\xff";
  EXPECT_EQ(rules(w), (std::vector<std::string>{"id: required", "description: 4097 bytes, at most 4096",
                                                "source: not valid UTF-8"}));
  w = ok;
  w.id = "WO\x01";
  w.description = "tabs\tand\nnewlines are fine; ünïcödé too";
  EXPECT_EQ(rules(w), std::vector<std::string>{"id: control character 0x01"});
}

TEST(ContextRulesTest, SpecRulesCatchInconsistentLimits) {
  EXPECT_TRUE(CheckDesignSpec(Spec("pump-1")).empty());
  DesignSpec s = Spec("pump-1");
  s.min_speed_rpm = 1800;
  EXPECT_EQ(CheckDesignSpec(s),
            std::vector<std::string>{"min_speed_rpm: 1800 must be below max_speed_rpm 1800"});
  s = Spec("pump-1");
  s.rated_speed_rpm = 2000;
  s.max_flow_m3h = 100;      // below the rated flow 120
  s.max_motor_temp_c = 300;  // °F given?
  s.rated_head_m = std::nan("");
  auto e = CheckDesignSpec(s);
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0], "rated_head_m: must be a finite number");
  EXPECT_EQ(e[1], "max_motor_temp_c: 300 is outside (0, 250]");
  EXPECT_EQ(e[2], "rated_speed_rpm: 2000 is outside [600, 1800]");
  EXPECT_EQ(e[3], "max_flow_m3h: 100 is outside [120, inf)");
}

TEST(ContextTimeTest, Rfc3339AndEpochNsParseToTheSameInstant) {
  EXPECT_EQ(*ParseContextTime("2024-03-01T08:00:00Z"), kT0);
  EXPECT_EQ(*ParseContextTime("2024-03-01t08:00:00z"), kT0);
  EXPECT_EQ(*ParseContextTime("2024-03-01 09:30:00+01:30"), kT0);
  EXPECT_EQ(*ParseContextTime("2024-03-01T03:00:00-05:00"), kT0);
  EXPECT_EQ(*ParseContextTime("2024-03-01T08:00:00.5Z"), kT0 + kS / 2);
  EXPECT_EQ(*ParseContextTime("2024-03-01T08:00:00.000000001Z"), kT0 + 1);
  EXPECT_EQ(*ParseContextTime(std::to_string(kT0)), kT0);
  EXPECT_EQ(*ParseContextTime("2024-02-29T00:00:00Z"), 1709164800 * kS);  // leap day
  EXPECT_EQ(*ParseContextTime("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseContextTime("9223372036854775807"), INT64_MAX);
}

TEST(ContextTimeTest, AmbiguousOrImpossibleTimesAreRejected) {
  for (const char* bad :
       {"", "2024-03-01T08:00:00", "2024-03-01", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-03-01T24:00:00Z", "2024-03-01T08:00:00.Z", "2024-03-01T08:00:00.1234567891Z",
        "2024-03-01T08:00:00Zjunk", "1709280000", "1709280000000", "-5", "9223372036854775808",
        "1969-12-31T23:59:59Z", "2262-04-12T00:00:00Z", "2024-03-01T08:00:00+25:00"}) {
    auto t = ParseContextTime(bad);
    EXPECT_FALSE(t.ok()) << "'" << bad << "' parsed as " << (t.ok() ? *t : 0);
  }
  EXPECT_NE(ParseContextTime("1709280000").status().message().find("seconds or ms given?"),
            std::string::npos);
  EXPECT_NE(ParseContextTime("2024-03-01T08:00:00").status().message().find("no UTC offset"),
            std::string::npos);
}

TEST(ContextTimeTest, FormatIsTheInverseOfParse) {
  EXPECT_EQ(FormatContextTime(kT0), "2024-03-01T08:00:00Z");
  EXPECT_EQ(FormatContextTime(kT0 + 250'000'000), "2024-03-01T08:00:00.25Z");
  EXPECT_EQ(FormatContextTime(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
  EXPECT_EQ(FormatContextTime(-1), "1969-12-31T23:59:59.999999999Z");
  for (int64_t t : {int64_t{0}, kT0, kT0 + 1, kT0 + 123'456'789, INT64_MAX}) {
    EXPECT_EQ(*ParseContextTime(FormatContextTime(t)), t);
  }
}

}  // namespace
}  // namespace doppel::store
