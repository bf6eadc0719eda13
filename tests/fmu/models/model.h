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

#endif
