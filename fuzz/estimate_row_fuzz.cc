// Fuzzes the decoder of estimates.db's JSON array columns (docs/formats/estimates.md) with
// arbitrary bytes: the input split at its first two NUL bytes into names, mean and covariance.
// Properties: no crash, no UB, no huge allocation; a failed decode leaves the estimate
// untouched; a decoded one has n names, n finite means and n x n finite covariance entries, and
// encoding it decodes to the same names and the same bits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "doppel/engine/estimate_store.h"

using doppel::engine::DecodeEstimateArrays;
using doppel::engine::EncodeEstimateArrays;
using doppel::engine::EstimateArrays;
using doppel::engine::SavedEstimate;

namespace {

std::string_view NextField(std::string_view* rest) {
  const size_t nul = rest->find('\0');
  std::string_view field = rest->substr(0, nul);
  *rest = nul == std::string_view::npos ? std::string_view() : rest->substr(nul + 1);
  return field;
}

bool SameBits(const SavedEstimate& a, const SavedEstimate& b) {
  if (a.names != b.names || a.mean.size() != b.mean.size() || a.covariance.size() != b.covariance.size())
    return false;
  for (Eigen::Index i = 0; i < a.mean.size(); ++i) {
    if (std::memcmp(&a.mean[i], &b.mean[i], sizeof(double)) != 0) return false;
  }
  for (Eigen::Index i = 0; i < a.covariance.size(); ++i) {
    if (std::memcmp(a.covariance.data() + i, b.covariance.data() + i, sizeof(double)) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  EstimateArrays text;
  text.names = std::string(NextField(&rest));
  text.mean = std::string(NextField(&rest));
  text.covariance = std::string(rest);

  SavedEstimate e;
  e.twin = "untouched";
  if (!DecodeEstimateArrays(text, &e).ok()) {
    if (e.twin != "untouched" || !e.names.empty() || e.mean.size() != 0) std::abort();
    return 0;
  }
  const auto n = static_cast<Eigen::Index>(e.names.size());
  if (e.mean.size() != n || e.covariance.rows() != n || e.covariance.cols() != n) std::abort();
  if (!e.mean.allFinite() || !e.covariance.allFinite()) std::abort();
  SavedEstimate again;
  if (!DecodeEstimateArrays(EncodeEstimateArrays(e), &again).ok() || !SameBits(e, again)) std::abort();
  return 0;
}
