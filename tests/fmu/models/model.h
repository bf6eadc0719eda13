/* A minimal FMI 2.0 slave framework for the test FMUs (C, one model per shared library).
 *
 * All variables are Reals with value references 0..n_reals-1 stored in r[]. A model supplies
 * its description below; fmu_framework.c implements the fmi2 functions on top of it. */
#ifndef DOPPEL_TEST_FMU_MODEL_H_
#define DOPPEL_TEST_FMU_MODEL_H_

#include "doppel/fmu/fmi2_types.h"

#define MODEL_MAX_REALS 16
#define MODEL_MAX_STATES 4

typedef struct {
  const char* guid;
  int n_reals;
  void (*defaults)(double* r);   /* start values */
  void (*initialize)(double* r); /* at fmi2ExitInitializationMode (may be NULL) */
  int nx;                        /* continuous states (model exchange) */
  unsigned state_vr[MODEL_MAX_STATES];
  unsigned der_vr[MODEL_MAX_STATES];
  void (*update)(double t, double* r); /* derivatives and outputs from states, inputs, parameters */
  /* Co-simulation: advance r from t by h (NULL for model-exchange-only models). */
  int (*do_step)(double t, double h, double* r);
} ModelDef;

extern const ModelDef kModel;

/* Shared by the fmi2 and fmi3 frameworks: the model's continuous states in r[]. Each returns 0, or
 * -1 (nothing done) when nx is not the model's number of states. */
static inline int ModelSetStates(double* r, const double* x, size_t nx) {
  if ((int)nx != kModel.nx) return -1;
  for (int i = 0; i < kModel.nx; ++i) r[kModel.state_vr[i]] = x[i];
  return 0;
}
static inline int ModelGetStates(const double* r, double* x, size_t nx) {
  if ((int)nx != kModel.nx) return -1;
  for (int i = 0; i < kModel.nx; ++i) x[i] = r[kModel.state_vr[i]];
  return 0;
}
/* Evaluates the model at t first. */
static inline int ModelGetDerivatives(double t, double* r, double* dx, size_t nx) {
  if ((int)nx != kModel.nx) return -1;
  kModel.update(t, r);
  for (int i = 0; i < kModel.nx; ++i) dx[i] = r[kModel.der_vr[i]];
  return 0;
}

#endif
