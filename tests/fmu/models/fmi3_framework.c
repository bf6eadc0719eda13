/* fmi3 functions for the test FMUs, co-simulation and model exchange, on top of model.h (the same
 * models as the FMI 2.0 framework in fmu_framework.c; a model built with this file is its FMI 3.0
 * variant). Deliberately small: the model's Float64 variables, no events (co-simulation without
 * event mode or early return), no FMU state. Unsupported calls return fmi3Error and log why.
 *
 * It also checks the importer: the resource path must be NULL or an absolute directory path with
 * a trailing '/', and the state machine must be followed (no step or derivative before
 * fmi3ExitInitializationMode). And it has a few harness variables of its own, declared only in
 * the XMLs that use them: Int32 vr 50 (start 2), Boolean vr 51 (true), Int64 vr 52 (an
 * Enumeration, 1), Boolean vr 53 (when true, the next fmi3DoStep asks to terminate) and Boolean
 * vr 54 (when true, every fmi3DoStep sets eventHandlingNeeded). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doppel/fmu/fmi3_types.h"
#include "model.h"

typedef struct {
  fmi3InstanceEnvironment env;
  fmi3LogMessageCallback log;
  char name[64];
  double r[MODEL_MAX_REALS];
  double time;
  int initialized;
  fmi3Int32 i32;                                         /* vr 50 */
  fmi3Boolean enabled, request_terminate, report_events; /* vr 51, 53, 54 */
  fmi3Int64 level;                                       /* vr 52 */
} Instance;

enum { kVrInt32 = 50, kVrEnabled = 51, kVrLevel = 52, kVrTerminate = 53, kVrEvents = 54 };

/* NULL, or an absolute path of an existing directory ending in '/'. */
static int ResourcePathOk(fmi3String path) {
  if (path == NULL) return 1;
  const size_t n = strlen(path);
  if (n < 2 || path[0] != '/' || path[n - 1] != '/') return 0;
  DIR* d = opendir(path);
  if (d == NULL) return 0;
  closedir(d);
  return 1;
}

static Instance* NewInstance(fmi3String name, fmi3String token, fmi3String resources,
                             fmi3InstanceEnvironment env, fmi3LogMessageCallback log) {
  char msg[512];
  if (token == NULL || strcmp(token, kModel.guid) != 0) {
    snprintf(msg, sizeof msg, "instantiationToken mismatch: %s", token ? token : "(null)");
    if (log) log(env, fmi3Error, "error", msg);
    return NULL;
  }
  if (!ResourcePathOk(resources)) {
    snprintf(msg, sizeof msg, "resourcePath is not NULL or an absolute directory path ending in '/': %s",
             resources);
    if (log) log(env, fmi3Error, "error", msg);
    return NULL;
  }
  Instance* m = (Instance*)calloc(1, sizeof(Instance));
  if (m == NULL) return NULL;
  m->env = env;
  m->log = log;
  snprintf(m->name, sizeof m->name, "%s", name ? name : "");
  kModel.defaults(m->r);
  m->i32 = 2;
  m->enabled = fmi3True;
  m->level = 1;
  return m;
}

static fmi3Status Fail(Instance* m, const char* msg) {
  if (m->log) m->log(m->env, fmi3Error, "error", msg);
  return fmi3Error;
}

const char* fmi3GetVersion(void) { return "3.0"; }

fmi3Instance fmi3InstantiateCoSimulation(fmi3String name, fmi3String token, fmi3String resources,
                                         fmi3Boolean visible, fmi3Boolean logging,
                                         fmi3Boolean event_mode_used, fmi3Boolean early_return_allowed,
                                         const fmi3ValueReference required[], size_t n_required,
                                         fmi3InstanceEnvironment env, fmi3LogMessageCallback log,
                                         fmi3IntermediateUpdateCallback update) {
  (void)visible, (void)logging, (void)required, (void)n_required, (void)update;
  if (kModel.do_step == NULL || event_mode_used || early_return_allowed) {
    if (log) log(env, fmi3Error, "error", "only plain co-simulation (no event mode, no early return)");
    return NULL;
  }
  return NewInstance(name, token, resources, env, log);
}

void fmi3FreeInstance(fmi3Instance c) { free(c); }

fmi3Status fmi3EnterInitializationMode(fmi3Instance c, fmi3Boolean tol_defined, fmi3Float64 tol,
                                       fmi3Float64 start, fmi3Boolean stop_defined, fmi3Float64 stop) {
  (void)tol_defined, (void)tol, (void)stop_defined, (void)stop;
  ((Instance*)c)->time = start;
  return fmi3OK;
}

fmi3Status fmi3ExitInitializationMode(fmi3Instance c) {
  Instance* m = (Instance*)c;
  if (kModel.initialize) kModel.initialize(m->r);
  kModel.update(m->time, m->r);
  m->initialized = 1;
  return fmi3OK;
}

fmi3Status fmi3Terminate(fmi3Instance c) {
  (void)c;
  return fmi3OK;
}

fmi3Status fmi3GetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, fmi3Float64 v[],
                          size_t nv) {
  Instance* m = (Instance*)c;
  if (nv != nvr) return Fail(m, "fmi3GetFloat64: one value per value reference");
  if (m->initialized) kModel.update(m->time, m->r);
  for (size_t i = 0; i < nvr; ++i) {
    if (vr[i] >= (unsigned)kModel.n_reals) return Fail(m, "fmi3GetFloat64: unknown value reference");
    v[i] = m->r[vr[i]];
  }
  return fmi3OK;
}

fmi3Status fmi3SetFloat64(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, const fmi3Float64 v[],
                          size_t nv) {
  Instance* m = (Instance*)c;
  if (nv != nvr) return Fail(m, "fmi3SetFloat64: one value per value reference");
  for (size_t i = 0; i < nvr; ++i) {
    if (vr[i] >= (unsigned)kModel.n_reals) return Fail(m, "fmi3SetFloat64: unknown value reference");
    m->r[vr[i]] = v[i];
  }
  return fmi3OK;
}

/* The harness variable of type T at value reference vr, or NULL. */
static fmi3Int32* Int32At(Instance* m, fmi3ValueReference vr) { return vr == kVrInt32 ? &m->i32 : NULL; }
static fmi3Int64* Int64At(Instance* m, fmi3ValueReference vr) { return vr == kVrLevel ? &m->level : NULL; }
static fmi3Boolean* BooleanAt(Instance* m, fmi3ValueReference vr) {
  return vr == kVrEnabled     ? &m->enabled
         : vr == kVrTerminate ? &m->request_terminate
         : vr == kVrEvents    ? &m->report_events
                              : NULL;
}

#define HARNESS_ACCESSORS(Type, T)                                                                        \
  fmi3Status fmi3Get##Type(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, T v[], size_t nv) { \
    Instance* m = (Instance*)c;                                                                           \
    if (nv != nvr) return Fail(m, "fmi3Get" #Type ": one value per value reference");                     \
    for (size_t i = 0; i < nvr; ++i) {                                                                    \
      T* p = Type##At(m, vr[i]);                                                                          \
      if (p == NULL) return Fail(m, "fmi3Get" #Type ": unknown value reference");                         \
      v[i] = *p;                                                                                          \
    }                                                                                                     \
    return fmi3OK;                                                                                        \
  }                                                                                                       \
  fmi3Status fmi3Set##Type(fmi3Instance c, const fmi3ValueReference vr[], size_t nvr, const T v[],        \
                           size_t nv) {                                                                   \
    Instance* m = (Instance*)c;                                                                           \
    if (nv != nvr) return Fail(m, "fmi3Set" #Type ": one value per value reference");                     \
    for (size_t i = 0; i < nvr; ++i) {                                                                    \
      T* p = Type##At(m, vr[i]);                                                                          \
      if (p == NULL) return Fail(m, "fmi3Set" #Type ": unknown value reference");                         \
      *p = v[i];                                                                                          \
    }                                                                                                     \
    return fmi3OK;                                                                                        \
  }
HARNESS_ACCESSORS(Int32, fmi3Int32)
HARNESS_ACCESSORS(Int64, fmi3Int64)
HARNESS_ACCESSORS(Boolean, fmi3Boolean)

fmi3Status fmi3DoStep(fmi3Instance c, fmi3Float64 t, fmi3Float64 h, fmi3Boolean no_prior, fmi3Boolean* event,
                      fmi3Boolean* terminate, fmi3Boolean* early, fmi3Float64* last_t) {
  Instance* m = (Instance*)c;
  (void)no_prior;
  *event = fmi3False, *terminate = fmi3False, *early = fmi3False, *last_t = t;
  if (!m->initialized) return Fail(m, "fmi3DoStep: before fmi3ExitInitializationMode");
  if (h <= 0) return Fail(m, "fmi3DoStep: step must be > 0");
  if (m->request_terminate) {
    *terminate = fmi3True;
    return fmi3OK;
  }
  if (kModel.do_step(t, h, m->r) != 0) return Fail(m, "fmi3DoStep: the model failed");
  m->time = t + h;
  *last_t = m->time;
  *event = m->report_events;
  kModel.update(m->time, m->r);
  return fmi3OK;
}

/* Model exchange. */
fmi3Instance fmi3InstantiateModelExchange(fmi3String name, fmi3String token, fmi3String resources,
                                          fmi3Boolean visible, fmi3Boolean logging,
                                          fmi3InstanceEnvironment env, fmi3LogMessageCallback log) {
  (void)visible, (void)logging;
  return NewInstance(name, token, resources, env, log);
}

fmi3Status fmi3EnterEventMode(fmi3Instance c) {
  (void)c;
  return fmi3OK;
}

fmi3Status fmi3UpdateDiscreteStates(fmi3Instance c, fmi3Boolean* update, fmi3Boolean* terminate,
                                    fmi3Boolean* nominals_changed, fmi3Boolean* values_changed,
                                    fmi3Boolean* next_defined, fmi3Float64* next) {
  (void)c;
  *update = fmi3False, *terminate = fmi3False, *nominals_changed = fmi3False, *values_changed = fmi3False;
  *next_defined = fmi3False, *next = 0;
  return fmi3OK;
}

fmi3Status fmi3EnterContinuousTimeMode(fmi3Instance c) {
  (void)c;
  return fmi3OK;
}

fmi3Status fmi3SetTime(fmi3Instance c, fmi3Float64 t) {
  ((Instance*)c)->time = t;
  return fmi3OK;
}

fmi3Status fmi3SetContinuousStates(fmi3Instance c, const fmi3Float64 x[], size_t nx) {
  Instance* m = (Instance*)c;
  if (ModelSetStates(m->r, x, nx) != 0) return Fail(m, "fmi3SetContinuousStates: wrong number of states");
  return fmi3OK;
}

fmi3Status fmi3GetContinuousStates(fmi3Instance c, fmi3Float64 x[], size_t nx) {
  Instance* m = (Instance*)c;
  if (ModelGetStates(m->r, x, nx) != 0) return Fail(m, "fmi3GetContinuousStates: wrong number of states");
  return fmi3OK;
}

fmi3Status fmi3GetContinuousStateDerivatives(fmi3Instance c, fmi3Float64 dx[], size_t nx) {
  Instance* m = (Instance*)c;
  if (!m->initialized) return Fail(m, "fmi3GetContinuousStateDerivatives: before fmi3ExitInitializationMode");
  if (ModelGetDerivatives(m->time, m->r, dx, nx) != 0)
    return Fail(m, "fmi3GetContinuousStateDerivatives: wrong number of states");
  return fmi3OK;
}
