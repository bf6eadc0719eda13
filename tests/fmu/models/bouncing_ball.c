/* Bouncing ball, co-simulation. h'' = -g; at h = 0 with v < 0: v := -e v.
 * Inside fmi2DoStep the flight is integrated in substeps of at most 1 ms; each substep is
 * ballistic, and a floor crossing is located by bisection on h(tau) (60 halvings), so the
 * result matches the closed form to ~1e-12. Below 1e-6 m/s after a bounce the ball rests.
 * vr: 0 h [m] (output), 1 v [m/s] (output), 2 g [m/s2], 3 e [1] (tunable), 4 h0 [m]. */
#include <math.h>

#include "model.h"

static void Defaults(double* r) { r[0] = 1.0, r[1] = 0.0, r[2] = 9.81, r[3] = 0.7, r[4] = 1.0; }

static void Initialize(double* r) {
  r[0] = r[4];
  r[1] = 0.0;
}

static void Update(double t, double* r) { (void)t, (void)r; }

static int DoStep(double t, double h, double* r) {
  (void)t;
  const double g = r[2], e = r[3];
  double left = h;
  while (left > 0) {
    const double dt = left < 1e-3 ? left : 1e-3;
    if (r[0] <= 0 && r[1] == 0) return 0; /* resting */
    const double h1 = r[0] + r[1] * dt - 0.5 * g * dt * dt;
    if (h1 > 0) {
      r[0] = h1;
      r[1] -= g * dt;
      left -= dt;
      continue;
    }
    double lo = 0, hi = dt; /* h(lo) > 0 >= h(hi) */
    for (int i = 0; i < 60; ++i) {
      const double mid = 0.5 * (lo + hi);
      if (r[0] + r[1] * mid - 0.5 * g * mid * mid > 0)
        lo = mid;
      else
        hi = mid;
    }
    const double v_impact = r[1] - g * hi;
    r[0] = 0;
    r[1] = -e * v_impact;
    if (fabs(r[1]) < 1e-6) r[1] = 0;
    left -= hi;
  }
  return 0;
}

const ModelDef kModel = {
    "{8c4e810f-3df3-4a00-8276-176fa3c9f000}", 5, Defaults, Initialize, 0, {0}, {0}, Update, DoStep};
