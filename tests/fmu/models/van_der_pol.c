/* Van der Pol oscillator, model exchange: x0' = x1, x1' = mu (1 - x0^2) x1 - x0.
 * vr: 0 x0 (output, state), 1 der(x0), 2 x1 (output, state), 3 der(x1), 4 mu (tunable). */
#include "model.h"

static void Defaults(double* r) { r[0] = 2.0, r[1] = 0.0, r[2] = 0.0, r[3] = 0.0, r[4] = 1.0; }

static void Update(double t, double* r) {
  (void)t;
  r[1] = r[2];
  r[3] = r[4] * (1.0 - r[0] * r[0]) * r[2] - r[0];
}

const ModelDef kModel = {
    "{1b7f4c8e-5a6d-4e3f-9c2b-van-der-pol-01}", 5, Defaults, 0, 2, {0, 2}, {1, 3}, Update, 0};
