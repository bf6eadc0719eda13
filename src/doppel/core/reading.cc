#include "doppel/core/reading.h"

namespace doppel {

const char* QualityName(Quality q) {
  switch (q) {
    case Quality::kGood: return "good";
    case Quality::kUncertain: return "uncertain";
    case Quality::kBad: return "bad";
  }
  return "bad";
}

bool ParseQuality(const std::string& s, Quality* out) {
  if (s == "good") {
    *out = Quality::kGood;
    return true;
  }
  if (s == "uncertain") {
    *out = Quality::kUncertain;
    return true;
  }
  if (s == "bad") {
    *out = Quality::kBad;
    return true;
  }
  return false;
}

}  // namespace doppel
