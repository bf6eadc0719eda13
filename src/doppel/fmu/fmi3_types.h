/* The FMI 3.0 C types Doppel needs for Co-Simulation and Model Exchange, written from the FMI 3.0 standard
 * (Modelica Association, "Functional Mock-up Interface Specification", 3.0, chapters 2.2 and 4); not the
 * standard's headers. Plain C so the test FMUs in tests/fmu/models use it too.
 *
 * Differences from 2.0 that matter to an importer: fmi3Boolean is C's bool (one byte, not an
 * int); every getter and setter takes the number of values as well as the number of value
 * references; instantiation is per interface kind (fmi3InstantiateCoSimulation); the experiment's
 * start, stop and tolerance go to fmi3EnterInitializationMode (there is no SetupExperiment); and
 * fmi3DoStep reports through out-parameters whether the FMU wants event handling, wants to
 * terminate, or returned early. The logger takes a plain message (no printf varargs). */
#ifndef DOPPEL_FMU_FMI3_TYPES_H_
#define DOPPEL_FMU_FMI3_TYPES_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Platform types. */
typedef void* fmi3Instance;
typedef void* fmi3InstanceEnvironment;
typedef uint32_t fmi3ValueReference;
typedef double fmi3Float64;
typedef int32_t fmi3Int32;
typedef int64_t fmi3Int64;
typedef bool fmi3Boolean;
typedef const char* fmi3String;

#define fmi3True true
#define fmi3False false

typedef enum { fmi3OK, fmi3Warning, fmi3Discard, fmi3Error, fmi3Fatal } fmi3Status;

typedef void (*fmi3LogMessageCallback)(fmi3InstanceEnvironment env, fmi3Status status, fmi3String category,
                                       fmi3String message);
typedef void (*fmi3IntermediateUpdateCallback)(
    fmi3InstanceEnvironment env, fmi3Float64 intermediate_update_time,
    fmi3Boolean intermediate_variable_set_requested, fmi3Boolean intermediate_variable_get_allowed,
    fmi3Boolean intermediate_step_finished, fmi3Boolean can_return_early, fmi3Boolean* early_return_requested,
    fmi3Float64* early_return_time);

/* Common functions. */
typedef const char* fmi3GetVersionTYPE(void);
typedef fmi3Instance fmi3InstantiateCoSimulationTYPE(
    fmi3String instance_name, fmi3String instantiation_token, fmi3String resource_path, fmi3Boolean visible,
    fmi3Boolean logging_on, fmi3Boolean event_mode_used, fmi3Boolean early_return_allowed,
    const fmi3ValueReference required_intermediate_variables[], size_t n_required_intermediate_variables,
    fmi3InstanceEnvironment instance_environment, fmi3LogMessageCallback log_message,
    fmi3IntermediateUpdateCallback intermediate_update);
typedef void fmi3FreeInstanceTYPE(fmi3Instance instance);
typedef fmi3Status fmi3EnterInitializationModeTYPE(fmi3Instance instance, fmi3Boolean tolerance_defined,
                                                   fmi3Float64 tolerance, fmi3Float64 start_time,
                                                   fmi3Boolean stop_time_defined, fmi3Float64 stop_time);
/* ExitInitializationMode, Terminate, EnterEventMode, EnterContinuousTimeMode */
typedef fmi3Status fmi3InstanceFunctionTYPE(fmi3Instance instance);
typedef fmi3Status fmi3GetFloat64TYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                      fmi3Float64 values[], size_t n_values);
typedef fmi3Status fmi3SetFloat64TYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                      const fmi3Float64 values[], size_t n_values);
typedef fmi3Status fmi3GetInt32TYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                    fmi3Int32 values[], size_t n_values);
typedef fmi3Status fmi3SetInt32TYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                    const fmi3Int32 values[], size_t n_values);
typedef fmi3Status fmi3GetInt64TYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                    fmi3Int64 values[], size_t n_values);
typedef fmi3Status fmi3SetInt64TYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                    const fmi3Int64 values[], size_t n_values);
typedef fmi3Status fmi3GetBooleanTYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                      fmi3Boolean values[], size_t n_values);
typedef fmi3Status fmi3SetBooleanTYPE(fmi3Instance instance, const fmi3ValueReference vr[], size_t nvr,
                                      const fmi3Boolean values[], size_t n_values);

/* Model Exchange. */
typedef fmi3Instance fmi3InstantiateModelExchangeTYPE(
    fmi3String instance_name, fmi3String instantiation_token, fmi3String resource_path, fmi3Boolean visible,
    fmi3Boolean logging_on, fmi3InstanceEnvironment instance_environment, fmi3LogMessageCallback log_message);
typedef fmi3Status fmi3UpdateDiscreteStatesTYPE(
    fmi3Instance instance, fmi3Boolean* discrete_states_need_update, fmi3Boolean* terminate_simulation,
    fmi3Boolean* nominals_of_continuous_states_changed, fmi3Boolean* values_of_continuous_states_changed,
    fmi3Boolean* next_event_time_defined, fmi3Float64* next_event_time);
typedef fmi3Status fmi3SetTimeTYPE(fmi3Instance instance, fmi3Float64 time);
typedef fmi3Status fmi3SetContinuousStatesTYPE(fmi3Instance instance, const fmi3Float64 continuous_states[],
                                               size_t n_continuous_states);
/* GetContinuousStateDerivatives, GetContinuousStates */
typedef fmi3Status fmi3GetFloat64VectorTYPE(fmi3Instance instance, fmi3Float64 values[], size_t n);

/* Co-Simulation. */
typedef fmi3Status fmi3DoStepTYPE(fmi3Instance instance, fmi3Float64 current_communication_point,
                                  fmi3Float64 communication_step_size,
                                  fmi3Boolean no_set_fmu_state_prior_to_current_point,
                                  fmi3Boolean* event_handling_needed, fmi3Boolean* terminate_simulation,
                                  fmi3Boolean* early_return, fmi3Float64* last_successful_time);

#ifdef __cplusplus
}
#endif

#endif /* DOPPEL_FMU_FMI3_TYPES_H_ */
