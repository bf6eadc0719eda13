#include "doppel/control/baseline.h"

#include <cmath>

namespace doppel::control {

Status BaselineOptions::Validate() const {
  if (!(std::isfinite(speed_rpm) && speed_rpm > 0)) return InvalidArgument("baseline: speed_rpm must be > 0");
  if (!(std::isfinite(level_min_m) && std::isfinite(level_max_m) && level_min_m < level_max_m)) {
    return InvalidArgument("baseline: need level_min_m < level_max_m");
  }
  if (!(lead_start > 0 && lead_start < 1 && stage_step >= 0 && on_off_gap > 0 &&
        lead_start + on_off_gap <= 1)) {
    return InvalidArgument(
        "baseline: need 0 < lead_start < 1, stage_step >= 0, on_off_gap > 0, "
        "lead_start + on_off_gap <= 1");
  }
  return Status::Ok();
}

Result<BaselineController> BaselineController::Create(BaselineOptions options, int pumps) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  if (pumps < 1) return InvalidArgument("baseline: pumps must be >= 1");
  if (options.lead_start - (pumps - 1) * options.stage_step <= 0) {
    return InvalidArgument("baseline: the last pump's start level falls below the band (reduce stage_step)");
  }
  return BaselineController(options, pumps);
}

BaselineController::BaselineController(BaselineOptions options, int pumps) : options_(options) {
  const double span = options_.level_max_m - options_.level_min_m;
  for (int j = 0; j < pumps; ++j) {
    const double start = options_.level_min_m + (options_.lead_start - j * options_.stage_step) * span;
    start_.push_back(start);
    stop_.push_back(start + options_.on_off_gap * span);
  }
  on_.assign(static_cast<size_t>(pumps), false);
}

std::vector<std::optional<double>> BaselineController::Step(double level_m) {
  std::vector<std::optional<double>> out(on_.size());
  for (size_t j = 0; j < on_.size(); ++j) {
    if (level_m < start_[j]) on_[j] = true;
    if (level_m > stop_[j]) on_[j] = false;
    out[j] = on_[j] ? options_.speed_rpm : 0.0;
  }
  return out;
}

}  // namespace doppel::control
