// A time-of-day electricity tariff (EUR/kWh): three bands, the shape of common European
// time-of-use retail and industrial tariffs (docs/control.md).
//
// Time convention of the control module: `t_s` is seconds since midnight of day 0, so the time
// of day is t_s mod 86400. A plant whose t = 0 is at time of day T0 is at t_s = t + T0.
#pragma once

#include "doppel/core/status.h"

namespace doppel::control {

constexpr double kSecondsPerDay = 86400.0;

enum class TariffBand { kNight = 0, kDay = 1, kPeak = 2 };
const char* TariffBandName(TariffBand b);

struct Tariff {
  // Defaults: night 22:00-06:00 0.08 EUR/kWh, evening peak 17:00-21:00 0.35 EUR/kWh, day (all
  // other hours) 0.20 EUR/kWh.
  double night_eur_kwh = 0.08;
  double day_eur_kwh = 0.20;
  double peak_eur_kwh = 0.35;
  double night_start_h = 22;  // the night band wraps midnight: [night_start, 24) ∪ [0, night_end)
  double night_end_h = 6;
  double peak_start_h = 17;  // [peak_start, peak_end), inside the day
  double peak_end_h = 21;

  // Prices finite and >= 0; hours in [0, 24]; night_end <= peak_start < peak_end <= night_start.
  Status Validate() const;

  TariffBand BandAt(double t_s) const;
  double PriceAt(double t_s) const { return PriceOf(BandAt(t_s)); }
  double PriceOf(TariffBand b) const;
  double MinPrice() const;
  // Exact mean of the piecewise-constant price over [t0_s, t1_s] (t1 > t0; any number of days);
  // PriceAt(t0_s) when t1_s <= t0_s.
  double MeanPrice(double t0_s, double t1_s) const;
};

}  // namespace doppel::control
