// Per-twin calibrated parameters (EstimationOptions::calibrations, the serve config's
// `calibration:` list; docs/estimation.md "Calibration"), resolved against a twin's behavior
// model when the twin's estimator starts.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "doppel/core/status.h"
#include "doppel/engine/estimation_options.h"
#include "doppel/estimate/estimator.h"

namespace doppel::engine {

class BehaviorModel;

// The first entry whose `twins` glob matches `twin`, or null.
const TwinCalibration* FindCalibration(const std::vector<TwinCalibration>& calibrations,
                                       std::string_view twin);

// Applies a calibration to the filter model and initial options of one twin of `model`: a fixed
// parameter's value goes into filter->parameters (filled with the system's defaults first if
// empty), an estimated one's becomes its initial mean in options->initial_mean. Returns the names
// `model` does not know (skipped; the caller warns).
std::vector<std::string> ApplyCalibration(const BehaviorModel& model, const TwinCalibration& calibration,
                                          estimate::FilterModel* filter, estimate::EstimatorOptions* options);

// The fixed (not estimated) parameters of `model` whose value in `parameters` (all of the
// system's, in order) differs from the nominal one, with short names ("curve_k"), in model order:
// a twin's calibration as reported in TwinEstimate::calibrated.
std::vector<std::pair<std::string, double>> FixedParametersOffNominal(const BehaviorModel& model,
                                                                      const Eigen::VectorXd& parameters);

// FixedParametersOffNominal after applying `calibration` to `model`'s nominal parameters: what a
// twin's estimator will run with, known before the twin has sent anything.
std::vector<std::pair<std::string, double>> CalibratedFixedParameters(const BehaviorModel& model,
                                                                      const TwinCalibration& calibration);

// Startup check (after the FMU behaviors are registered): every parameter name is a parameter of
// one of the `bound` behavior models (BoundBehaviorModels, behavior.h), and a wear lies in [0, 1].
// InvalidArgument naming the entry, e.g. "config: calibration[0].parameters.curve_kk: not a
// parameter of any behavior model (dtmi:doppel:demo:Pump;1: pump.shutoff_head_m, ...)".
Status CheckCalibrations(const std::vector<TwinCalibration>& calibrations,
                         const std::vector<const BehaviorModel*>& bound);

}  // namespace doppel::engine
