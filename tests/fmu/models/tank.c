/* Draining tank, model exchange: A h' = q_in - k sqrt(h); q_out = k sqrt(h).
 * vr: 0 h [m] (output, state), 1 der(h), 2 q_in [m3/s] (input), 3 A [m2] (tunable),
 *     4 k [m2.5/s] (tunable), 5 q_out [m3/s] (output), 6 h0 [m] (fixed). */
#include <math.h>

#include "model.h"

static void Defaults(double* r) {
  r[0] = 1.0, r[1] = 0.0, r[2] = 0.0, r[3] = 2.0, r[4] = 0.05, r[5] = 0.0, r[6] = 1.0;
}

static void Initialize(double* r) { r[0] = r[6]; }

static void Update(double t, double* r) {
  (void)t;
  const double q_out = r[4] * sqrt(r[0] > 0 ? r[0] : 0);
  r[5] = q_out;
  r[1] = (r[2] - q_out) / r[3];
}

const ModelDef kModel = {
    "{3f1d2a9b-tank-4c55-8e0f-000000000003}", 7, Defaults, Initialize, 1, {0}, {1}, Update, 0};
