// Persisted twin estimates (docs/estimation.md "Persistence across restarts"): the engine saves
// every bound twin's latest estimate to <data_dir>/estimates.db (one SQLite file, this header's
// schema) once a minute and when it stops, and a restarted engine starts each twin's estimator
// from its saved parameters (wears, biases) instead of the prior, so a restart does not forget
// what hours of telemetry taught the twin.
//
// Format (schema version kEstimatesSchemaVersion), one row per twin:
//   estimates(twin TEXT PRIMARY KEY, model TEXT, ts_ns INTEGER, names TEXT, mean TEXT,
//             covariance TEXT)
// `names`, `mean` and `covariance` are JSON arrays: the augmented state's display names (the
// behavior model's states, then its estimated parameters), its mean (same length n) and its
// covariance (n·n numbers, row-major). `ts_ns` is the source time of the estimate, `model` the
// DTDL model id it was computed for.
//
// Thread safety: all methods take an internal lock.
#pragma once

#include <Eigen/Core>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "doppel/core/reading.h"
#include "doppel/core/status.h"

namespace doppel::store {
class SqliteDb;
}

namespace doppel::engine {

constexpr const char* kEstimatesFile = "estimates.db";  // in the data directory
constexpr int kEstimatesSchemaVersion = 1;

struct SavedEstimate {
  std::string twin;
  std::string model;  // DTDL model id
  TimeNs ts_ns = 0;   // source time of the estimate
  std::vector<std::string> names;
  Eigen::VectorXd mean;        // size names
  Eigen::MatrixXd covariance;  // names × names
};

// The three JSON array columns of a row (names, mean, covariance), as written and read; the
// format of the file's text columns, shared by writer and reader.
struct EstimateArrays {
  std::string names, mean, covariance;
};
// Encodes e's names, mean and covariance (row-major), numbers in the shortest form that reads
// back to the same double. Sizes and finiteness are the caller's (Save checks them).
EstimateArrays EncodeEstimateArrays(const SavedEstimate& e);
// Decodes the three columns into e's names, mean and covariance (other fields untouched).
// kCorruption naming the fault: not JSON arrays, sizes that disagree (n names, n means, n·n
// covariance entries), a name that is not a string, a number that is not finite. Outside
// input (a file): fuzzed by fuzz/estimate_row_fuzz.cc.
Status DecodeEstimateArrays(const EstimateArrays& text, SavedEstimate* e);

class EstimateStore {
 public:
  // Opens (creating) the file; IOError/Corruption naming it.
  static Result<std::unique_ptr<EstimateStore>> Open(const std::string& path);
  ~EstimateStore();

  // Writes (replacing per twin) in one transaction. InvalidArgument for an estimate whose sizes
  // disagree or with a non-finite entry (nothing is written then).
  Status Save(const std::vector<SavedEstimate>& estimates);
  // Every row that parses; a row that does not (sizes, JSON) is skipped and named in *skipped
  // (may be null).
  Result<std::vector<SavedEstimate>> LoadAll(std::vector<std::string>* skipped = nullptr) const;

 private:
  EstimateStore() = default;
  mutable std::mutex mu_;
  std::unique_ptr<store::SqliteDb> db_;
};

}  // namespace doppel::engine
