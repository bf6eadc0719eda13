#include "doppel/control/station_estimate.h"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "doppel/physics/system.h"

namespace doppel::control {

Status StationEstimate::Validate() const {
  if (pumps.empty()) return InvalidArgument("station estimate: no pumps");
  auto positive = [](double v) { return std::isfinite(v) && v > 0; };
  auto fraction = [](double v) { return std::isfinite(v) && v >= 0 && v < 1; };
  for (size_t i = 0; i < pumps.size(); ++i) {
    const PumpEstimate& p = pumps[i];
    const std::string where = fmt::format("station estimate: pump {}: ", i + 1);
    if (!positive(p.rated_speed_rpm) || !positive(p.shutoff_head_m) || !positive(p.curve_k) ||
        !(std::isfinite(p.line_r) && p.line_r >= 0) || !positive(p.bep_flow_m3h) ||
        !(positive(p.bep_efficiency) && p.bep_efficiency <= 1) ||
        !(std::isfinite(p.mech_loss_kw) && p.mech_loss_kw >= 0)) {
      return InvalidArgument(where + "curve parameters must be finite and positive (efficiency <= 1)");
    }
    if (!fraction(p.impeller_head_loss) || !fraction(p.impeller_eff_loss) || !fraction(p.impeller_wear)) {
      return InvalidArgument(where + "impeller_wear and the wear losses must be in [0, 1)");
    }
  }
  if (!(std::isfinite(static_lift_m) && static_lift_m >= 0) || !positive(tank_area_m2) ||
      !positive(tank_height_m)) {
    return InvalidArgument(
        "station estimate: static_lift_m >= 0, tank_area_m2 and tank_height_m > 0 required");
  }
  return Status::Ok();
}

StationEstimate StationEstimate::Nominal(int pumps) {
  StationEstimate e;
  e.pumps.resize(static_cast<size_t>(std::max(0, pumps)));
  return e;
}

Result<StationEstimate> StationEstimateFromDiagram(const physics::System& station, const physics::Context& c,
                                                   int pumps) {
  StationEstimate e = StationEstimate::Nominal(pumps);
  using physics::SignalKind;
  Status err;
  auto get = [&](const std::string& name, double* out) {
    if (!err.ok()) return;
    Result<double> v = station.GetValue(c, SignalKind::kParameter, name);
    if (!v.ok()) {
      err = InvalidArgument(fmt::format("station estimate: parameter '{}': {}", name, v.status().message()));
      return;
    }
    *out = *v;
  };
  for (int i = 0; i < pumps; ++i) {
    PumpEstimate& p = e.pumps[static_cast<size_t>(i)];
    const std::string pre = fmt::format("pump-{}.", i + 1);
    get(pre + "rated_speed_rpm", &p.rated_speed_rpm);
    get(pre + "shutoff_head_m", &p.shutoff_head_m);
    get(pre + "curve_k", &p.curve_k);
    get(pre + "line_r", &p.line_r);
    get(pre + "bep_flow_m3h", &p.bep_flow_m3h);
    get(pre + "bep_efficiency", &p.bep_efficiency);
    get(pre + "mech_loss_kw", &p.mech_loss_kw);
    get(pre + "impeller_head_loss", &p.impeller_head_loss);
    get(pre + "impeller_eff_loss", &p.impeller_eff_loss);
    get(pre + "impeller_wear", &p.impeller_wear);
  }
  get("pump-1.static_lift_m", &e.static_lift_m);
  get("tank-1.area_m2", &e.tank_area_m2);
  get("tank-1.height_m", &e.tank_height_m);
  if (!err.ok()) return err;
  DOPPEL_RETURN_IF_ERROR(e.Validate());
  return e;
}

double MinLiftSpeedRpm(const PumpEstimate& p, double static_lift_m, double level_m, double head_margin_m) {
  const double h0 = p.shutoff_head_m * (1.0 - p.impeller_head_loss * p.impeller_wear);
  return p.rated_speed_rpm * std::sqrt(std::max(0.0, static_lift_m + level_m + head_margin_m) / h0);
}

}  // namespace doppel::control
