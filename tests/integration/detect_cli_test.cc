// `doppel detect --csv F --columns A,B` with several columns: the per-column detectors fused with
// the PCA model of the rows (docs/analytics.md, "Multivariate detectors and the fused score").
// The real binary on a CSV whose two columns break their correlation: each column alone stays
// white N(0, 1), so only the multivariate score sees it.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "testing/test_util.h"

namespace doppel {
namespace {

struct Row {
  std::string ts;
  double score = 0, univariate = 0, pca = 0;
};

// Runs `doppel detect ARGS` to completion; its output (stdout and stderr) in *out.
bool RunDetect(const testing::TempDir& dir, const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> a = {"detect"};
  a.insert(a.end(), args.begin(), args.end());
  return integration::RunDoppel(a, dir.file("detect.log"), out);
}

std::vector<Row> ParseScores(const std::string& text, bool explain) {
  std::vector<Row> rows;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, explain ? "timestamp,anomaly_score,univariate_score,pca_score" : "timestamp,anomaly_score");
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    Row r;
    std::string field;
    std::getline(ls, r.ts, ',');
    std::getline(ls, field, ',');
    r.score = std::stod(field);
    if (explain) {
      std::getline(ls, field, ',');
      r.univariate = std::stod(field);
      std::getline(ls, field, ',');
      r.pca = std::stod(field);
    }
    rows.push_back(r);
  }
  return rows;
}

// Longest run of rows [from, to) scoring >= level.
size_t LongestRun(const std::vector<Row>& rows, size_t from, size_t to, double level) {
  size_t best = 0, run = 0;
  for (size_t i = from; i < std::min(to, rows.size()); ++i) {
    run = rows[i].score >= level ? run + 1 : 0;
    best = std::max(best, run);
  }
  return best;
}

TEST(IntegrationDetectCli, SeveralColumnsAddTheMultivariateScoreThatSeesACorrelationBreak) {
  testing::TempDir dir;
  const std::string csv = dir.file("pair.csv");
  const size_t rows = 3000, break_at = 2400;
  {
    std::ofstream f(csv);
    f << "timestamp,a,b,unused\n";
    std::mt19937_64 rng(4);
    std::normal_distribution<double> n01;
    for (size_t i = 0; i < rows; ++i) {
      const double s = n01(rng);
      const double sign = i < break_at ? 1.0 : -1.0;
      f << 1'600'000'000 + 60 * i << ',' << s + 0.1 * n01(rng) << ',' << sign * s + 0.1 * n01(rng) << ",7\n";
    }
  }
  std::string out;
  ASSERT_TRUE(RunDetect(dir, {"--csv", csv, "--columns", "a,b", "--explain", "1"}, &out));
  std::vector<Row> fused = ParseScores(out, true);
  ASSERT_EQ(fused.size(), rows) << out.substr(0, 500);
  EXPECT_EQ(fused[0].ts, "1600000000");
  for (const Row& r : fused) EXPECT_DOUBLE_EQ(r.score, std::max(r.univariate, r.pca));
  size_t pca_alarms = 0, uni_run = 0, run = 0;
  for (size_t i = break_at; i < rows; ++i) {
    pca_alarms += fused[i].pca >= 0.9;
    run = fused[i].univariate >= 0.9 ? run + 1 : 0;
    uni_run = std::max(uni_run, run);
  }
  EXPECT_GT(pca_alarms, (rows - break_at) * 8 / 10);
  EXPECT_LT(uni_run, 3u);  // the demo rule's 3 rows: never by the per-column detectors
  EXPECT_GE(LongestRun(fused, break_at, rows, 0.9), 100u);
  EXPECT_LT(LongestRun(fused, 0, break_at, 0.9), 3u);  // no alarm before the break

  // --multivariate 0: the per-column maximum only, as before; it does not see the break.
  ASSERT_TRUE(RunDetect(dir, {"--csv", csv, "--columns", "a,b", "--multivariate", "0"}, &out));
  std::vector<Row> uni = ParseScores(out, false);
  ASSERT_EQ(uni.size(), rows);
  EXPECT_LT(LongestRun(uni, 0, rows, 0.9), 3u);

  // Bad options are named.
  ASSERT_TRUE(RunDetect(dir, {"--csv", csv, "--columns", "a,b", "--pca-train-rows", "2"}, &out));
  EXPECT_NE(out.find("--pca-train-rows"), std::string::npos) << out;
}

}  // namespace
}  // namespace doppel
