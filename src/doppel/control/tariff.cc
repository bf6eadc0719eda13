#include "doppel/control/tariff.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace doppel::control {

const char* TariffBandName(TariffBand b) {
  switch (b) {
    case TariffBand::kNight: return "night";
    case TariffBand::kDay: return "day";
    case TariffBand::kPeak: return "peak";
  }
  return "?";
}

Status Tariff::Validate() const {
  for (double p : {night_eur_kwh, day_eur_kwh, peak_eur_kwh}) {
    if (!std::isfinite(p) || p < 0)
      return InvalidArgument(fmt::format("tariff: price {} must be finite and >= 0", p));
  }
  for (double h : {night_start_h, night_end_h, peak_start_h, peak_end_h}) {
    if (!std::isfinite(h) || h < 0 || h > 24)
      return InvalidArgument(fmt::format("tariff: hour {} outside [0, 24]", h));
  }
  if (!(night_end_h <= peak_start_h && peak_start_h < peak_end_h && peak_end_h <= night_start_h)) {
    return InvalidArgument(
        "tariff: bands must satisfy night_end_h <= peak_start_h < peak_end_h <= night_start_h");
  }
  return Status::Ok();
}

TariffBand Tariff::BandAt(double t_s) const {
  double tod = std::fmod(t_s, kSecondsPerDay);
  if (tod < 0) tod += kSecondsPerDay;
  const double h = tod / 3600.0;
  if (h >= night_start_h || h < night_end_h) return TariffBand::kNight;
  if (h >= peak_start_h && h < peak_end_h) return TariffBand::kPeak;
  return TariffBand::kDay;
}

double Tariff::PriceOf(TariffBand b) const {
  switch (b) {
    case TariffBand::kNight: return night_eur_kwh;
    case TariffBand::kDay: return day_eur_kwh;
    case TariffBand::kPeak: return peak_eur_kwh;
  }
  return day_eur_kwh;
}

double Tariff::MinPrice() const { return std::min({night_eur_kwh, day_eur_kwh, peak_eur_kwh}); }

double Tariff::MeanPrice(double t0_s, double t1_s) const {
  if (!(t1_s > t0_s)) return PriceAt(t0_s);
  // Walk the band boundaries between t0 and t1; the price is constant in between.
  const double bounds_h[] = {0.0, night_end_h, peak_start_h, peak_end_h, night_start_h, 24.0};
  double integral = 0;
  double t = t0_s;
  while (t < t1_s) {
    const double day0 = std::floor(t / kSecondsPerDay) * kSecondsPerDay;
    double next = day0 + kSecondsPerDay;
    for (double bh : bounds_h) {
      const double b = day0 + bh * 3600.0;
      if (b > t + 1e-9) {
        next = std::min(next, b);
        break;
      }
    }
    next = std::min(next, t1_s);
    integral += PriceAt(0.5 * (t + next)) * (next - t);
    t = next;
  }
  return integral / (t1_s - t0_s);
}

}  // namespace doppel::control
