#include "doppel/analytics/health.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace doppel::analytics {
namespace {

bool NonNegative(double v) { return std::isfinite(v) && v >= 0; }

}  // namespace

Status HealthOptions::Validate() const {
  const std::pair<const char*, double> points[] = {
      {"wear_points", wear_points},         {"wear_z", wear_z},
      {"anomaly_points", anomaly_points},   {"rul_points", rul_points},
      {"critical_points", critical_points}, {"warning_points", warning_points},
      {"info_points", info_points},         {"alert_points_max", alert_points_max}};
  for (const auto& [name, v] : points)
    if (!NonNegative(v)) return InvalidArgument(fmt::format("{}: {} must be finite and >= 0", name, v));
  if (!(anomaly_floor >= 0 && anomaly_floor < 1))
    return InvalidArgument(fmt::format("anomaly_floor: {} must be in [0, 1)", anomaly_floor));
  if (!(std::isfinite(rul_horizon_h) && rul_horizon_h > 0))
    return InvalidArgument(fmt::format("rul_horizon_h: {} must be > 0", rul_horizon_h));
  if (!(fair_from >= 0 && fair_from <= good_from && good_from <= 100))
    return InvalidArgument(fmt::format(
        "good_from/fair_from: need 0 <= fair_from ({}) <= good_from ({}) <= 100", fair_from, good_from));
  return Status::Ok();
}

Result<HealthScore> ComputeHealth(const HealthInputs& in, const HealthOptions& o) {
  DOPPEL_RETURN_IF_ERROR(o.Validate());
  if (!std::isfinite(in.wear)) return InvalidArgument(fmt::format("wear: {} is not finite", in.wear));
  if (!NonNegative(in.wear_std))
    return InvalidArgument(fmt::format("wear_std: {} must be >= 0", in.wear_std));
  if (!(in.anomaly >= 0 && in.anomaly <= 1))
    return InvalidArgument(fmt::format("anomaly: {} must be in [0, 1]", in.anomaly));
  if (in.rul_h && std::isnan(*in.rul_h)) return InvalidArgument("rul_h: NaN");
  if (in.alerts.info < 0 || in.alerts.warning < 0 || in.alerts.critical < 0)
    return InvalidArgument("alerts: negative count");

  HealthScore out;
  auto add = [&](const char* factor, double points, std::string text) {
    if (points > 0) out.reasons.push_back({factor, points, std::move(text)});
  };

  double wear = std::clamp(in.wear, 0.0, 1.0);
  double pessimistic = std::clamp(wear + o.wear_z * in.wear_std, 0.0, 1.0);
  double p_wear = o.wear_points * pessimistic;
  add("wear", p_wear,
      fmt::format("wear {:.3f} +- {:.3f} (pessimistic {:.3f}): -{:.1f}", wear, in.wear_std, pessimistic,
                  p_wear));

  double excess = std::max(0.0, in.anomaly - o.anomaly_floor) / (1 - o.anomaly_floor);
  double p_anomaly = o.anomaly_points * excess;
  add("anomaly", p_anomaly,
      fmt::format("anomaly score {:.3f} above normal {:.2f}: -{:.1f}", in.anomaly, o.anomaly_floor,
                  p_anomaly));

  if (in.rul_h) {
    double rul = std::max(0.0, *in.rul_h);
    double p_rul = o.rul_points * std::max(0.0, 1 - rul / o.rul_horizon_h);
    add("rul", p_rul,
        fmt::format("remaining useful life {:.0f} h within {:.0f} h: -{:.1f}", rul, o.rul_horizon_h, p_rul));
  }

  const SeverityCounts& a = in.alerts;
  double p_alerts = std::min(o.alert_points_max, o.critical_points * a.critical +
                                                     o.warning_points * a.warning + o.info_points * a.info);
  add("alerts", p_alerts,
      fmt::format("active alerts: {} critical, {} warning, {} info: -{:.1f}", a.critical, a.warning, a.info,
                  p_alerts));

  double total = 0;
  for (const auto& r : out.reasons) total += r.points;
  std::stable_sort(out.reasons.begin(), out.reasons.end(),
                   [](const HealthReason& x, const HealthReason& y) { return x.points > y.points; });
  out.score = std::clamp(100.0 - total, 0.0, 100.0);
  out.band = out.score >= o.good_from ? "good" : out.score >= o.fair_from ? "fair" : "poor";
  return out;
}

double HydraulicPowerKw(double flow_m3h, double head_m, double density_kg_m3) {
  return density_kg_m3 * kGravityMS2 * (flow_m3h / 3600.0) * head_m / 1000.0;
}

double HeadFromPressureRiseM(double pressure_rise_bar, double density_kg_m3) {
  return pressure_rise_bar * 1e5 / (density_kg_m3 * kGravityMS2);
}

namespace {

Result<double> Efficiency(double flow_m3h, double head_m, double power_kw, double density_kg_m3,
                          const char* power_name) {
  if (!NonNegative(flow_m3h))
    return InvalidArgument(fmt::format("flow_m3h: {} must be finite and >= 0", flow_m3h));
  if (!NonNegative(head_m)) return InvalidArgument(fmt::format("head_m: {} must be finite and >= 0", head_m));
  if (!(std::isfinite(density_kg_m3) && density_kg_m3 > 0))
    return InvalidArgument(fmt::format("density_kg_m3: {} must be > 0", density_kg_m3));
  if (!(std::isfinite(power_kw) && power_kw > 0))
    return InvalidArgument(
        fmt::format("{}: {} must be > 0 (efficiency undefined without power)", power_name, power_kw));
  return HydraulicPowerKw(flow_m3h, head_m, density_kg_m3) / power_kw;
}

}  // namespace

Result<double> HydraulicEfficiency(double flow_m3h, double head_m, double shaft_power_kw,
                                   double density_kg_m3) {
  return Efficiency(flow_m3h, head_m, shaft_power_kw, density_kg_m3, "shaft_power_kw");
}

Result<double> WireToWaterEfficiency(double flow_m3h, double head_m, double electrical_power_kw,
                                     double density_kg_m3) {
  return Efficiency(flow_m3h, head_m, electrical_power_kw, density_kg_m3, "electrical_power_kw");
}

Result<double> SpecificEnergyKwhPerM3(double electrical_power_kw, double flow_m3h) {
  if (!NonNegative(electrical_power_kw))
    return InvalidArgument(
        fmt::format("electrical_power_kw: {} must be finite and >= 0", electrical_power_kw));
  if (!(std::isfinite(flow_m3h) && flow_m3h > 0))
    return InvalidArgument(
        fmt::format("flow_m3h: {} must be > 0 (specific energy undefined without flow)", flow_m3h));
  return electrical_power_kw / flow_m3h;
}

}  // namespace doppel::analytics
