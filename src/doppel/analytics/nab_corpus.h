// Loading the NAB corpus layout (data/<category>/<file>.csv, labels/combined_windows.json,
// config/profiles.json) and running a detector over it.
#pragma once

#include <string>
#include <vector>

#include "doppel/analytics/csv.h"
#include "doppel/analytics/detector.h"
#include "doppel/analytics/nab_scorer.h"
#include "doppel/core/status.h"

namespace doppel::analytics {

struct NabFile {
  std::string relative_path;  // "realKnownCause/nyc_taxi.csv"
  Series series;
  std::vector<LabelWindow> windows;
};

struct NabCorpus {
  std::vector<NabFile> files;  // sorted by relative_path
  std::vector<CostProfile> profiles;
};

// Parses combined_windows.json: {"cat/file.csv": [["start", "end"], ...]}.
Result<std::vector<std::pair<std::string, std::vector<LabelWindow>>>> ParseNabWindows(
    const std::string& json_text);

Result<NabCorpus> LoadNabCorpus(const std::string& root);

// Runs a fresh EnsembleDetector over the series (the config's expected_rows is set to its
// length, as NAB tells detectors the probationary period).
std::vector<double> DetectSeries(const Series& series, DetectorConfig config);

}  // namespace doppel::analytics
