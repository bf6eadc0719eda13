#include "doppel/store/context_import.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "testing/test_util.h"

namespace doppel::store {
namespace {

constexpr int64_t kS = 1'000'000'000;
constexpr int64_t kT0 = 1709280000 * kS;  // 2024-03-01T08:00:00Z

ImportOptions Named(std::string name) {
  ImportOptions o;
  o.name = std::move(name);
  return o;
}

// (line, field) of every error, for comparing error sets.
std::set<std::pair<int64_t, std::string>> Where(const std::vector<RowError>& errors) {
  std::set<std::pair<int64_t, std::string>> out;
  for (const auto& e : errors) out.emplace(e.line, e.field);
  return out;
}

std::string All(const std::vector<RowError>& errors) {
  std::string s;
  for (const auto& e : errors) s += e.ToString() + "\n";
  return s;
}

const char* kGoodCsv =
    "\xEF\xBB\xBFid,twin,kind,status,planned_start_ns,completed_ns,description\r\n"
    "WO-1,pump-1,impeller_replacement,completed,2024-03-01T08:00:00Z,2024-03-01T12:30:00+01:00,\"Impeller "
    "worn, replaced\"\r\n"
    "\r\n"
    "WO-2, pump-2 ,Bearing Replacement,In Progress,1709280000000000000,,\"two\n"
    "lines, \"\"quoted\"\"\"\r\n"
    "WO-3,pump-1,coupling alignment,planned,2024-04-01T00:00:00Z,,\n";

TEST(ContextImportTest, GoodCsvGivesEveryRowWithItsStartLine) {
  auto p = ParseWorkOrders(kGoodCsv, Named("workorders.csv"));
  ASSERT_TRUE(p.ok()) << All(p.errors);
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_EQ(p.lines, (std::vector<int64_t>{2, 4, 6}));
  const WorkOrder& a = p.rows[0];
  EXPECT_EQ(a.id, "WO-1");
  EXPECT_EQ(a.kind, WorkOrderKind::kImpellerReplacement);
  EXPECT_EQ(a.status, WorkOrderStatus::kCompleted);
  EXPECT_EQ(a.planned_start_ns, kT0);
  EXPECT_EQ(a.completed_ns, kT0 + 3 * 3600 * kS + 1800 * kS);  // 12:30+01:00 = 11:30Z
  EXPECT_EQ(a.description, "Impeller worn, replaced");
  const WorkOrder& b = p.rows[1];
  EXPECT_EQ(b.twin, "pump-2");  // unquoted fields are trimmed
  EXPECT_EQ(b.kind, WorkOrderKind::kBearingReplacement);
  EXPECT_EQ(b.status, WorkOrderStatus::kInProgress);
  EXPECT_EQ(b.planned_start_ns, kT0);
  EXPECT_FALSE(b.completed_ns.has_value());
  EXPECT_EQ(b.description, "two\nlines, \"quoted\"");
  const WorkOrder& c = p.rows[2];
  EXPECT_EQ(c.kind, WorkOrderKind::kOther);
  EXPECT_EQ(c.kind_text, "coupling alignment");
}

TEST(ContextImportTest, JsonArrayAndWrappedObjectGiveTheSameRowsAsCsv) {
  const char* array = R"([
  {"id": "WO-1", "twin": "pump-1", "kind": "impeller_replacement", "status": "completed",
   "planned_start_ns": "2024-03-01T08:00:00Z", "completed_ns": "2024-03-01T11:30:00Z",
   "description": "Impeller worn, replaced"},
  {"id": "WO-2", "twin": "pump-2", "kind": "bearing_replacement", "status": "in_progress",
   "planned_start_ns": 1709280000000000000, "completed_ns": null, "description": "two\nlines, \"quoted\""},
  {"id": "WO-3", "twin": "pump-1", "kind": "other", "kind_text": "coupling alignment", "status": "planned",
   "planned_start_ns": "2024-04-01T00:00:00Z"}
])";
  auto csv = ParseWorkOrders(kGoodCsv, Named("w.csv"));
  auto json = ParseWorkOrders(array, Named("w.json"));
  ASSERT_TRUE(json.ok()) << All(json.errors);
  EXPECT_EQ(json.rows, csv.rows);
  EXPECT_EQ(json.lines, (std::vector<int64_t>{2, 5, 7}));
  const std::string wrapped = std::string("{\"workorders\":\n") + array + "}";
  auto w = ParseWorkOrders(wrapped, Named("input"));  // no extension: detected by the first byte
  ASSERT_TRUE(w.ok()) << All(w.errors);
  EXPECT_EQ(w.rows, csv.rows);
  EXPECT_EQ(w.lines, (std::vector<int64_t>{3, 6, 8}));
}

TEST(ContextImportTest, EveryBadCsvRowIsReportedWithItsLineAndField) {
  const std::string csv =
      "id,twin,kind,status,planned_start_ns,completed_ns\n"
      "WO-1,pump-1,inspection,completed,2024-03-01T08:00:00Z,2024-03-01T09:00:00Z\n"  // 2: good
      "WO-2,pump-1,inspection,done,2024-03-01T08:00:00Z,\n"                           // 3: status
      "WO-3,pump-1,inspection,planned,2024-03-01 08:00,\n"                            // 4: time
      "WO-4,pump-1,inspection,completed,2024-03-02T08:00:00Z,2024-03-01T08:00:00Z\n"  // 5: order
      "WO-5,,inspection,planned,2024-03-01T08:00:00Z,\n"                              // 6: twin
      "WO-6,pump-1,inspection,planned\n"                                              // 7: fields
      "WO-1,pump-2,inspection,planned,2024-03-01T08:00:00Z,\n"                        // 8: dup id
      "WO-8,pump 8,inspection,planned,1709280000,\n";                                 // 9: twin, time
  auto p = ParseWorkOrders(csv, Named("workorders.csv"));
  EXPECT_TRUE(p.rows.empty());  // nothing usable from a bad file
  EXPECT_EQ(p.records, 7);
  EXPECT_EQ(Where(p.errors), (std::set<std::pair<int64_t, std::string>>{{3, "status"},
                                                                        {4, "planned_start_ns"},
                                                                        {5, "completed_ns"},
                                                                        {6, "twin"},
                                                                        {7, ""},
                                                                        {8, "id"},
                                                                        {9, "twin"},
                                                                        {9, "planned_start_ns"}}))
      << All(p.errors);
  std::set<std::string> text;
  for (const auto& e : p.errors) text.insert(e.ToString());
  EXPECT_TRUE(
      text.count("workorders.csv line 5: completed_ns: 2024-03-01T08:00:00Z must not be before "
                 "planned_start_ns 2024-03-02T08:00:00Z"))
      << All(p.errors);
  EXPECT_TRUE(text.count("workorders.csv line 7: 4 fields, the header has 6")) << All(p.errors);
  EXPECT_TRUE(text.count("workorders.csv line 8: id: 'WO-1' appears again (first on line 2)"))
      << All(p.errors);
  EXPECT_TRUE(text.count("workorders.csv line 6: twin: required")) << All(p.errors);
}

TEST(ContextImportTest, BadJsonObjectsAreReportedWithLineAndItem) {
  const char* json = R"({"specs": [
  {"twin": "pump-1", "rated_flow_m3h": 120, "rated_head_m": 32, "rated_power_kw": 15, "min_speed_rpm": 600,
   "max_speed_rpm": 1800, "max_motor_temp_c": 130, "max_vibration_mm_s": 7.1},
  {"twin": "pump-2", "rated_flow_m3h": "lots", "rated_head_m": 32, "rated_power_kw": 15, "min_speed_rpm": 600,
   "max_speed_rpm": 1800, "max_motor_temp_c": 130, "max_vibration_mm_s": 7.1, "colour": "red"},
  42,
  {"twin": "pump-3", "rated_flow_m3h": 120, "rated_head_m": 32, "rated_power_kw": 15, "min_speed_rpm": 2000,
   "max_speed_rpm": 1800, "max_motor_temp_c": 130, "max_vibration_mm_s": [7]}
]})";
  auto p = ParseSpecs(json, Named("specs.json"));
  EXPECT_TRUE(p.rows.empty());
  EXPECT_EQ(Where(p.errors), (std::set<std::pair<int64_t, std::string>>{
                                 {0, ""}, {4, "rated_flow_m3h"}, {4, "colour"}, {7, "max_vibration_mm_s"}}))
      << All(p.errors);
  std::set<std::string> text;
  for (const auto& e : p.errors) text.insert(e.ToString());
  EXPECT_TRUE(text.count("specs.json (item 2): expected an object, found number")) << All(p.errors);
  EXPECT_TRUE(text.count("specs.json line 4 (item 1): rated_flow_m3h: 'lots' is not a number"))
      << All(p.errors);
}

TEST(ContextImportTest, SpecRulesAreCheckedOnceTheFieldsDecode) {
  const char* csv =
      "twin,rated_flow_m3h,rated_head_m,rated_power_kw,min_speed_rpm,max_speed_rpm,max_motor_temp_c,"
      "max_vibration_mm_s,max_flow_m3h\n"
      "pump-1,120,32,15,600,1800,130,7.1,160\n"
      "pump-2,120,32,15,2000,1800,130,7.1,\n";
  auto p = ParseSpecs(csv, Named("specs.csv"));
  ASSERT_EQ(p.errors.size(), 1u) << All(p.errors);
  EXPECT_EQ(p.errors[0].ToString(), "specs.csv line 3: min_speed_rpm: 2000 must be below max_speed_rpm 1800");
}

TEST(ContextImportTest, HeaderProblemsAreReportedOnceNotPerRow) {
  const char* csv =
      "id,twin,kind,planned_start,planned_start_ns\n"
      "WO-1,pump-1,inspection,x,2024-03-01T08:00:00Z\n"
      "WO-2,pump-1,inspection,x,2024-03-01T08:00:00Z\n";
  auto p = ParseWorkOrders(csv, Named("w.csv"));
  std::vector<std::string> text;
  for (const auto& e : p.errors) text.push_back(e.ToString());
  EXPECT_EQ(text, (std::vector<std::string>{"w.csv line 1: unknown column 'planned_start'",
                                            "w.csv line 1: missing required column 'status'"}));
}

TEST(ContextImportTest, StructurallyBrokenInputsNameWhere) {
  auto quote = ParseWorkOrders("id,twin\nWO-1,pump-1\n\"WO-2,pump-2\n", Named("w.csv"));
  ASSERT_FALSE(quote.ok());
  EXPECT_EQ(quote.errors.back().ToString(), "w.csv line 3: unterminated quoted field") << All(quote.errors);
  auto json = ParseWorkOrders("[\n {\"id\": \"WO-1\",\n  \"twin\": }\n]", Named("w.json"));
  ASSERT_EQ(json.errors.size(), 1u);
  EXPECT_EQ(json.errors[0].line, 3) << All(json.errors);
  EXPECT_NE(json.errors[0].message.find("invalid JSON"), std::string::npos);
  auto wrong = ParseWorkOrders(R"({"specs": []})", Named("w.json"));
  ASSERT_EQ(wrong.errors.size(), 1u);
  EXPECT_EQ(wrong.errors[0].message,
            R"(expected an array of objects or {"workorders": [...]}, found key 'specs')");
  auto empty = ParseWorkOrders("id,twin,kind,status,planned_start_ns\n", Named("w.csv"));
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_EQ(empty.errors[0].ToString(), "w.csv: no records");
  auto huge = ParseWorkOrders(R"([{"id": 1E400}])", Named("w.json"));
  ASSERT_EQ(huge.errors.size(), 1u);
  EXPECT_EQ(huge.errors[0].ToString(), "w.json: invalid JSON: number overflow parsing '1E400'");
  std::string deep(50, '[');
  auto nested = ParseWorkOrders(deep + std::string(50, ']'), Named("w.json"));
  ASSERT_FALSE(nested.ok());
}

TEST(ContextImportTest, LimitsOnSizeRowsFieldsAndErrorCount) {
  ImportOptions o = Named("w.csv");
  o.max_bytes = 64;
  auto big = ParseWorkOrders(kGoodCsv, o);
  ASSERT_EQ(big.errors.size(), 1u);
  EXPECT_NE(big.errors[0].message.find("max_bytes"), std::string::npos);

  std::string rows;
  for (int i = 0; i < 30; ++i)
    rows += "WO-" + std::to_string(i) + ",pump-1,inspection,planned,2024-03-01T08:00:00Z,\n";
  const std::string csv = "id,twin,kind,status,planned_start_ns,description\n" + rows;
  o = Named("w.csv");
  o.max_rows = 10;
  auto many = ParseWorkOrders(csv, o);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(All(many.errors).find("more than 10 records (max_rows)"), std::string::npos) << All(many.errors);

  o = Named("w.csv");
  o.max_errors = 5;
  auto errs = ParseWorkOrders(csv + rows, o);  // 30 duplicate ids
  ASSERT_EQ(errs.errors.size(), 6u);
  EXPECT_EQ(errs.errors.back().ToString(), "w.csv: ... and 25 more errors");

  const std::string long_text =
      "id,twin,kind,status,planned_start_ns,description\nWO-1,pump-1,inspection,planned,"
      "2024-03-01T08:00:00Z," +
      std::string(5000, 'x') + "\n";
  auto longf = ParseWorkOrders(long_text, Named("w.csv"));
  ASSERT_EQ(longf.errors.size(), 1u);
  EXPECT_EQ(longf.errors[0].ToString(), "w.csv line 2: description: 5000 bytes, at most 4096");
}

TEST(ContextImportTest, UnknownTwinsAreErrorsWhenTheCallerKnowsTheTwins) {
  ImportOptions o = Named("w.csv");
  o.twin_exists = [](const std::string& t) { return t == "pump-1" || t == "pump-2"; };
  o.default_source = "w.csv";
  auto p = ParseWorkOrders(kGoodCsv, o);
  ASSERT_TRUE(p.ok()) << All(p.errors);
  EXPECT_EQ(p.rows[0].source, "w.csv");
  o.twin_exists = [](const std::string& t) { return t == "pump-1"; };
  p = ParseWorkOrders(kGoodCsv, o);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].ToString(), "w.csv line 4: twin: unknown twin 'pump-2'");
}

class ContextImportStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = ContextStore::Open(dir_.file("context.db"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
  }
  testing::TempDir dir_;
  std::unique_ptr<ContextStore> db_;
};

TEST_F(ContextImportStoreTest, ABadFileAppliesNothingEvenItsGoodRows) {
  auto first = ImportContext(db_.get(), ContextKind::kWorkOrders, kGoodCsv, Named("w.csv"), false);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->applied) << All(first->errors);
  const auto before = *db_->WorkOrderChangesSince(0);
  // Row 2 would update WO-1 and row 3 would add WO-4, but row 4 is bad.
  const char* bad =
      "id,twin,kind,status,planned_start_ns\n"
      "WO-1,pump-1,inspection,planned,2024-03-01T08:00:00Z\n"
      "WO-4,pump-1,inspection,planned,2024-03-01T08:00:00Z\n"
      "WO-5,pump-1,inspection,completed,2024-03-01T08:00:00Z\n";
  auto r = ImportContext(db_.get(), ContextKind::kWorkOrders, bad, Named("w.csv"), false);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->applied);
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_EQ(r->errors[0].ToString(), "w.csv line 4: completed_ns: required when status is 'completed'");
  const auto after = *db_->WorkOrderChangesSince(0);
  EXPECT_EQ(after.rows, before.rows);
  EXPECT_EQ(after.last_seq, before.last_seq);
  EXPECT_EQ(db_->GetWorkOrder("WO-4").status().code(), StatusCode::kNotFound);
}

TEST_F(ContextImportStoreTest, ReimportingAFileIsANoOpAndDryRunsApplyNothing) {
  const char* specs = R"([{"twin": "pump-1", "rated_flow_m3h": 120, "rated_head_m": 32, "rated_power_kw": 15,
    "min_speed_rpm": 600, "max_speed_rpm": 1800, "max_motor_temp_c": 130, "max_vibration_mm_s": 7.1,
    "max_power_kw": 18.5}])";
  auto dry = ImportContext(db_.get(), ContextKind::kSpecs, specs, Named("s.json"), true);
  ASSERT_TRUE(dry.ok());
  EXPECT_TRUE(dry->errors.empty());
  EXPECT_FALSE(dry->applied);
  EXPECT_EQ(dry->records, 1);
  EXPECT_TRUE(db_->ListSpecs()->empty());
  auto once = ImportContext(db_.get(), ContextKind::kSpecs, specs, Named("s.json"), false);
  ASSERT_TRUE(once.ok());
  EXPECT_EQ(once->summary.inserted, 1);
  auto twice = ImportContext(db_.get(), ContextKind::kSpecs, specs, Named("s.json"), false);
  ASSERT_TRUE(twice.ok());
  EXPECT_TRUE(twice->applied);
  EXPECT_EQ(twice->summary.unchanged, 1);
  EXPECT_EQ(twice->summary.seq, 0);
  auto spec = db_->GetSpec("pump-1");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->max_power_kw, 18.5);
  EXPECT_EQ(SpecLimits(*spec).back(),
            (SpecLimit{"power_kw", std::nullopt, 18.5, false, false, "max_power_kw"}));
}

TEST_F(ContextImportStoreTest, ReadImportFileRefusesFilesOverTheCapBeforeReading) {
  const std::string path = dir_.file("w.csv");
  std::ofstream(path) << kGoodCsv;
  auto ok = ReadImportFile(path, 1 << 20);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, kGoodCsv);
  EXPECT_EQ(ReadImportFile(path, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadImportFile(dir_.file("nope.csv"), 10).status().code(), StatusCode::kIOError);
  EXPECT_EQ(ReadImportFile(dir_.path(), 10).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace doppel::store
