/* fmi2 functions for the test FMUs, on top of model.h. Deliberately small: Reals only, no FMU
 * state get/set, no directional derivatives. Unsupported calls return fmi2Error and log why. */
#include <stdio.h>
#include <string.h>

#include "model.h"

typedef struct {
  fmi2CallbackFunctions cb;
  char name[64];
  fmi2Type type;
  double r[MODEL_MAX_REALS];
  double time;
  int initialized;
} Instance;

static fmi2Status Fail(Instance* m, const char* msg) {
  if (m->cb.logger) m->cb.logger(m->cb.componentEnvironment, m->name, fmi2Error, "error", "%s", msg);
  return fmi2Error;
}

const char* fmi2GetTypesPlatform(void) { return "default"; }
const char* fmi2GetVersion(void) { return "2.0"; }

fmi2Status fmi2SetDebugLogging(fmi2Component c, fmi2Boolean on, size_t n, const fmi2String cats[]) {
  (void)c, (void)on, (void)n, (void)cats;
  return fmi2OK;
}

fmi2Component fmi2Instantiate(fmi2String name, fmi2Type type, fmi2String guid, fmi2String resources,
                              const fmi2CallbackFunctions* cb, fmi2Boolean visible, fmi2Boolean logging) {
  (void)resources, (void)visible, (void)logging;
  if (cb == NULL || cb->allocateMemory == NULL) return NULL;
  if (guid == NULL || strcmp(guid, kModel.guid) != 0) {
    if (cb->logger) cb->logger(cb->componentEnvironment, name, fmi2Error, "error", "GUID mismatch: %s", guid);
    return NULL;
  }
  if (type == fmi2CoSimulation && kModel.do_step == NULL) {
    if (cb->logger) cb->logger(cb->componentEnvironment, name, fmi2Error, "error", "no co-simulation");
    return NULL;
  }
  Instance* m = (Instance*)cb->allocateMemory(1, sizeof(Instance));
  if (m == NULL) return NULL;
  m->cb = *cb;
  snprintf(m->name, sizeof m->name, "%s", name ? name : "");
  m->type = type;
  kModel.defaults(m->r);
  return m;
}

void fmi2FreeInstance(fmi2Component c) {
  Instance* m = (Instance*)c;
  if (m) m->cb.freeMemory(m);
}

fmi2Status fmi2SetupExperiment(fmi2Component c, fmi2Boolean tol_defined, fmi2Real tol, fmi2Real start,
                               fmi2Boolean stop_defined, fmi2Real stop) {
  (void)tol_defined, (void)tol, (void)stop_defined, (void)stop;
  ((Instance*)c)->time = start;
  return fmi2OK;
}

fmi2Status fmi2EnterInitializationMode(fmi2Component c) {
  (void)c;
  return fmi2OK;
}

fmi2Status fmi2ExitInitializationMode(fmi2Component c) {
  Instance* m = (Instance*)c;
  if (kModel.initialize) kModel.initialize(m->r);
  kModel.update(m->time, m->r);
  m->initialized = 1;
  return fmi2OK;
}

fmi2Status fmi2Terminate(fmi2Component c) {
  (void)c;
  return fmi2OK;
}

fmi2Status fmi2Reset(fmi2Component c) {
  Instance* m = (Instance*)c;
  kModel.defaults(m->r);
  m->initialized = 0;
  return fmi2OK;
}

fmi2Status fmi2GetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, fmi2Real v[]) {
  Instance* m = (Instance*)c;
  if (m->initialized) kModel.update(m->time, m->r);
  for (size_t i = 0; i < n; ++i) {
    if (vr[i] >= (unsigned)kModel.n_reals) return Fail(m, "fmi2GetReal: unknown value reference");
    v[i] = m->r[vr[i]];
  }
  return fmi2OK;
}

fmi2Status fmi2SetReal(fmi2Component c, const fmi2ValueReference vr[], size_t n, const fmi2Real v[]) {
  Instance* m = (Instance*)c;
  for (size_t i = 0; i < n; ++i) {
    if (vr[i] >= (unsigned)kModel.n_reals) return Fail(m, "fmi2SetReal: unknown value reference");
    m->r[vr[i]] = v[i];
  }
  return fmi2OK;
}

#define NO_VARIABLES(fn, T)                                                                       \
  fmi2Status fn(fmi2Component c, const fmi2ValueReference vr[], size_t n, T v[]) {                \
    (void)vr, (void)v;                                                                            \
    return n == 0 ? fmi2OK : Fail((Instance*)c, #fn ": the model has no variables of this type"); \
  }
NO_VARIABLES(fmi2GetInteger, fmi2Integer)
NO_VARIABLES(fmi2SetInteger, const fmi2Integer)
NO_VARIABLES(fmi2GetBoolean, fmi2Boolean)
NO_VARIABLES(fmi2SetBoolean, const fmi2Boolean)
NO_VARIABLES(fmi2GetString, fmi2String)
NO_VARIABLES(fmi2SetString, const fmi2String)

/* Model exchange. */
fmi2Status fmi2EnterEventMode(fmi2Component c) {
  (void)c;
  return fmi2OK;
}

fmi2Status fmi2NewDiscreteStates(fmi2Component c, fmi2EventInfo* info) {
  (void)c;
  memset(info, 0, sizeof *info);
  return fmi2OK;
}

fmi2Status fmi2EnterContinuousTimeMode(fmi2Component c) {
  (void)c;
  return fmi2OK;
}

fmi2Status fmi2CompletedIntegratorStep(fmi2Component c, fmi2Boolean no_prior, fmi2Boolean* event,
                                       fmi2Boolean* terminate) {
  (void)c, (void)no_prior;
  *event = fmi2False;
  *terminate = fmi2False;
  return fmi2OK;
}

fmi2Status fmi2SetTime(fmi2Component c, fmi2Real t) {
  ((Instance*)c)->time = t;
  return fmi2OK;
}

fmi2Status fmi2SetContinuousStates(fmi2Component c, const fmi2Real x[], size_t nx) {
  Instance* m = (Instance*)c;
  if (ModelSetStates(m->r, x, nx) != 0) return Fail(m, "fmi2SetContinuousStates: wrong number of states");
  return fmi2OK;
}

fmi2Status fmi2GetContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
  Instance* m = (Instance*)c;
  if (ModelGetStates(m->r, x, nx) != 0) return Fail(m, "fmi2GetContinuousStates: wrong number of states");
  return fmi2OK;
}

fmi2Status fmi2GetDerivatives(fmi2Component c, fmi2Real dx[], size_t nx) {
  Instance* m = (Instance*)c;
  if (ModelGetDerivatives(m->time, m->r, dx, nx) != 0)
    return Fail(m, "fmi2GetDerivatives: wrong number of states");
  return fmi2OK;
}

fmi2Status fmi2GetEventIndicators(fmi2Component c, fmi2Real z[], size_t n) {
  (void)z;
  return n == 0 ? fmi2OK : Fail((Instance*)c, "no event indicators");
}

fmi2Status fmi2GetNominalsOfContinuousStates(fmi2Component c, fmi2Real x[], size_t nx) {
  (void)c;
  for (size_t i = 0; i < nx; ++i) x[i] = 1.0;
  return fmi2OK;
}

/* Co-simulation. */
fmi2Status fmi2DoStep(fmi2Component c, fmi2Real t, fmi2Real h, fmi2Boolean no_prior) {
  Instance* m = (Instance*)c;
  (void)no_prior;
  if (kModel.do_step == NULL) return Fail(m, "fmi2DoStep: not a co-simulation model");
  if (h <= 0) return Fail(m, "fmi2DoStep: step must be > 0");
  if (kModel.do_step(t, h, m->r) != 0) return Fail(m, "fmi2DoStep: the model failed");
  m->time = t + h;
  kModel.update(m->time, m->r);
  return fmi2OK;
}
