// NAB scoring (Numenta Anomaly Benchmark), reimplemented from its published rules.
//
// Per file: rows in the first `probation` fraction (min(floor(0.15 n), 750)) are not scored.
// A row inside a labelled window [left, right] (indices, width w = right - left + 1) is worth
// scaled_sigmoid(-(right - i + 1) / w) / scaled_sigmoid(-1) * tp_weight if detected, so the
// window's left edge earns tp_weight and the reward decays towards its right edge; a window
// keeps only its best (earliest) detection and costs -fn_weight if nothing in it is detected.
// A row outside every window costs scaled_sigmoid(d) * fp_weight where d = (i - prev_right) /
// (prev_w - 1) measured from the previous window's right edge (-fp_weight with no previous
// window), so detections just after a window are penalised less.
// A row is detected when its anomaly score >= threshold. One threshold for the whole corpus is
// chosen per profile to maximise the summed raw score (a sweep over every distinct score), and
// the total is normalised: 100 * (raw - null) / (perfect - null), where the null detector
// (never detects) scores -fn_weight per window and the perfect one tp_weight per window.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

struct CostProfile {
  std::string name;
  double tp_weight = 1.0;
  double fp_weight = 0.11;
  double fn_weight = 1.0;
};

// NAB's three profiles: standard, reward_low_FP_rate, reward_low_FN_rate.
std::vector<CostProfile> DefaultNabProfiles();
// Parses NAB's config/profiles.json ({"name": {"CostMatrix": {"tpWeight": ..}}}).
Result<std::vector<CostProfile>> ParseNabProfiles(const std::string& json_text);

// 2 * sigmoid(-5 x) - 1, and -1 for x >= 3.
double ScaledSigmoid(double relative_position);

// min(floor(fraction * rows), fraction * 5000).
size_t ProbationaryLength(size_t rows, double fraction = 0.15);

struct LabelWindow {
  TimeNs start = 0;
  TimeNs end = 0;  // inclusive
};

// One data file with the detector's anomaly scores and the labelled windows.
struct ScoredFile {
  std::string name;
  std::vector<TimeNs> times;
  std::vector<double> scores;  // anomaly score per row
  std::vector<LabelWindow> windows;
};

struct FileScore {
  std::string name;
  double raw = 0;   // at the chosen threshold
  int windows = 0;  // scorable windows
  int detected_windows = 0;
  int false_positives = 0;  // detected rows outside windows
};

struct ProfileScore {
  CostProfile profile;
  double threshold = 0;
  double raw = 0;
  double null_raw = 0;
  double perfect_raw = 0;
  double normalized = 0;  // 100 * (raw - null) / (perfect - null)
  std::vector<FileScore> files;
};

// The per-row weights of one file under a profile (probationary rows excluded).
struct WeightedRow {
  double anomaly_score = 0;
  double weight = 0;  // the row's contribution if detected
  int window = -1;    // index into the file's windows, -1 outside
};
struct FileRows {
  std::vector<WeightedRow> rows;
  int scorable_windows = 0;
  std::vector<bool> window_scorable;
};
Result<FileRows> WeighRows(const ScoredFile& file, const CostProfile& profile, double probation = 0.15);

// Raw score of one file at a fixed threshold.
FileScore ScoreAtThreshold(const std::string& name, const FileRows& rows, const CostProfile& profile,
                           double threshold);

// Sweeps thresholds over the corpus, picks the best one, returns totals and per-file scores.
Result<ProfileScore> ScoreCorpus(const std::vector<ScoredFile>& files, const CostProfile& profile,
                                 double probation = 0.15);

}  // namespace doppel::analytics
