/* The FMI 2.0 C types Doppel needs, written from the FMI 2.0 standard (Modelica Association,
 * "Functional Mock-up Interface for Model Exchange and Co-Simulation", 2.0, chapters 2.1, 3.2
 * and 4.2); not the standard's headers. Plain C so the test FMUs in tests/fmu/models use it too.
 *
 * A 2.0 binary exports every function under its standard name (fmi2Instantiate, ...); the
 * importer resolves them with dlsym and calls them through the pointer types below. */
#ifndef DOPPEL_FMU_FMI2_TYPES_H_
#define DOPPEL_FMU_FMI2_TYPES_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Platform types (fmi2TypesPlatform "default"). */
typedef void* fmi2Component;
typedef void* fmi2ComponentEnvironment;
typedef void* fmi2FMUstate;
typedef unsigned int fmi2ValueReference;
typedef double fmi2Real;
typedef int fmi2Integer;
typedef int fmi2Boolean;
typedef char fmi2Char;
typedef const fmi2Char* fmi2String;
typedef char fmi2Byte;

#define fmi2True 1
#define fmi2False 0

typedef enum { fmi2OK, fmi2Warning, fmi2Discard, fmi2Error, fmi2Fatal, fmi2Pending } fmi2Status;
typedef enum { fmi2ModelExchange, fmi2CoSimulation } fmi2Type;

typedef void (*fmi2CallbackLogger)(fmi2ComponentEnvironment env, fmi2String instance_name, fmi2Status status,
                                   fmi2String category, fmi2String message, ...);
typedef void* (*fmi2CallbackAllocateMemory)(size_t count, size_t size);
typedef void (*fmi2CallbackFreeMemory)(void* object);
typedef void (*fmi2StepFinished)(fmi2ComponentEnvironment env, fmi2Status status);

typedef struct {
  fmi2CallbackLogger logger;
  fmi2CallbackAllocateMemory allocateMemory;
  fmi2CallbackFreeMemory freeMemory;
  fmi2StepFinished stepFinished;
  fmi2ComponentEnvironment componentEnvironment;
} fmi2CallbackFunctions;

typedef struct {
  fmi2Boolean newDiscreteStatesNeeded;
  fmi2Boolean terminateSimulation;
  fmi2Boolean nominalsOfContinuousStatesChanged;
  fmi2Boolean valuesOfContinuousStatesChanged;
  fmi2Boolean nextEventTimeDefined;
  fmi2Real nextEventTime;
} fmi2EventInfo;

/* Common functions. */
typedef const char* fmi2GetVersionTYPE(void);
typedef fmi2Component fmi2InstantiateTYPE(fmi2String instance_name, fmi2Type fmu_type, fmi2String guid,
                                          fmi2String resource_location,
                                          const fmi2CallbackFunctions* functions, fmi2Boolean visible,
                                          fmi2Boolean logging_on);
typedef void fmi2FreeInstanceTYPE(fmi2Component c);
typedef fmi2Status fmi2SetupExperimentTYPE(fmi2Component c, fmi2Boolean tolerance_defined, fmi2Real tolerance,
                                           fmi2Real start_time, fmi2Boolean stop_time_defined,
                                           fmi2Real stop_time);
typedef fmi2Status fmi2ComponentFunctionTYPE(
    fmi2Component c); /* Enter/ExitInitializationMode, Terminate, Reset */
typedef fmi2Status fmi2GetRealTYPE(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                   fmi2Real value[]);
typedef fmi2Status fmi2SetRealTYPE(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                   const fmi2Real value[]);
typedef fmi2Status fmi2GetIntegerTYPE(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                      fmi2Integer value[]);
typedef fmi2Status fmi2SetIntegerTYPE(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                      const fmi2Integer value[]);
typedef fmi2Status fmi2GetBooleanTYPE(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                      fmi2Boolean value[]);
typedef fmi2Status fmi2SetBooleanTYPE(fmi2Component c, const fmi2ValueReference vr[], size_t nvr,
                                      const fmi2Boolean value[]);

/* Model Exchange. */
typedef fmi2Status fmi2NewDiscreteStatesTYPE(fmi2Component c, fmi2EventInfo* event_info);
typedef fmi2Status fmi2CompletedIntegratorStepTYPE(fmi2Component c, fmi2Boolean no_set_state_prior,
                                                   fmi2Boolean* enter_event_mode, fmi2Boolean* terminate);
typedef fmi2Status fmi2SetTimeTYPE(fmi2Component c, fmi2Real time);
typedef fmi2Status fmi2SetContinuousStatesTYPE(fmi2Component c, const fmi2Real x[], size_t nx);
typedef fmi2Status fmi2GetRealVectorTYPE(fmi2Component c, fmi2Real values[],
                                         size_t n); /* derivatives, x, ... */

/* Co-Simulation. */
typedef fmi2Status fmi2DoStepTYPE(fmi2Component c, fmi2Real current_communication_point,
                                  fmi2Real communication_step_size, fmi2Boolean no_set_state_prior);

#ifdef __cplusplus
}
#endif

#endif /* DOPPEL_FMU_FMI2_TYPES_H_ */
