// The conventional controller the MPC is measured against: fixed-speed pumps switched on and
// off by level (staged level-band control, "pump-up" duty). Pump j (in index order) starts when
// the level falls below start_j and stops when it rises above stop_j:
//   start_j = lo + (lead_start − j·stage_step)·(hi − lo),  stop_j = start_j + on_off_gap·(hi − lo)
// with lo/hi the operating band. Defaults for the 3-pump demo station with the band 1.0–4.5 m:
// pump 1 runs between 2.93 and 3.98 m, pump 2 between 2.23 and 3.28 m, pump 3 between 1.53 and
// 2.58 m, all at the rated 1450 rpm. The stagger is wide enough that the peak demand
// (~390 m3/h) is met with the level still well inside the band (docs/control.md).
#pragma once

#include <optional>
#include <vector>

#include "doppel/core/status.h"

namespace doppel::control {

struct BaselineOptions {
  double speed_rpm = 1450;  // fixed speed of a running pump (the rated speed)
  double level_min_m = 1.0;
  double level_max_m = 4.5;
  double lead_start = 0.55;  // fraction of the band where the lead pump starts
  double stage_step = 0.20;  // each further pump starts this fraction of the band lower
  double on_off_gap = 0.30;  // and stops this fraction of the band above its start level

  Status Validate() const;
};

class BaselineController {
 public:
  static Result<BaselineController> Create(BaselineOptions options, int pumps);

  // Setpoints (rpm, 0 = stop) for the measured level; keeps each pump's on/off state.
  std::vector<std::optional<double>> Step(double level_m);

  double start_level_m(int pump) const { return start_[static_cast<size_t>(pump)]; }
  double stop_level_m(int pump) const { return stop_[static_cast<size_t>(pump)]; }
  const BaselineOptions& options() const { return options_; }

 private:
  BaselineController(BaselineOptions options, int pumps);
  BaselineOptions options_;
  std::vector<double> start_, stop_;
  std::vector<bool> on_;
};

}  // namespace doppel::control
