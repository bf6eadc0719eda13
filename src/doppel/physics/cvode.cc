// SUNDIALS CVODE integrator (SUNDIALS 6.x API).
#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <sunnonlinsol/sunnonlinsol_fixedpoint.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "doppel/physics/integrator.h"

namespace doppel::physics {

Status CvodeOptions::Validate() const {
  if (!(relative_tolerance > 0)) return InvalidArgument("cvode: relative_tolerance must be > 0");
  if (!(absolute_tolerance > 0)) return InvalidArgument("cvode: absolute_tolerance must be > 0");
  if (!(max_step_s >= 0)) return InvalidArgument("cvode: max_step_s must be >= 0");
  if (!(initial_step_s >= 0)) return InvalidArgument("cvode: initial_step_s must be >= 0");
  if (max_steps_per_call <= 0) return InvalidArgument("cvode: max_steps_per_call must be > 0");
  return Status::Ok();
}

namespace {

struct UserData {
  const System* system = nullptr;
  const Context* context = nullptr;  // inputs and parameters
  bool failed = false;
};

int Rhs(sunrealtype t, N_Vector y, N_Vector ydot, void* user) {
  auto* ud = static_cast<UserData*>(user);
  const auto n = static_cast<Eigen::Index>(N_VGetLength_Serial(y));
  Eigen::Map<const Eigen::VectorXd> x(N_VGetArrayPointer(y), n);
  Eigen::Map<Eigen::VectorXd> xd(N_VGetArrayPointer(ydot), n);
  ud->system->CalcDerivatives(t, x, ud->context->inputs, ud->context->parameters, xd);
  if (!xd.allFinite()) return 1;  // recoverable: CVODE retries with a smaller step
  return 0;
}

int Jac(sunrealtype t, N_Vector y, N_Vector /*fy*/, SUNMatrix J, void* user, N_Vector, N_Vector, N_Vector) {
  auto* ud = static_cast<UserData*>(user);
  const auto n = static_cast<Eigen::Index>(N_VGetLength_Serial(y));
  Eigen::Map<const Eigen::VectorXd> xv(N_VGetArrayPointer(y), n);
  const int nd = static_cast<int>(n);
  VectorX<AutoDiffXd> x = ToAutoDiff(xv, nd, /*seed=*/true);
  VectorX<AutoDiffXd> u = ToAutoDiff(ud->context->inputs, nd, false);
  VectorX<AutoDiffXd> p = ToAutoDiff(ud->context->parameters, nd, false);
  VectorX<AutoDiffXd> xd(n);
  ud->system->CalcDerivatives(t, x, u, p, xd);
  Eigen::MatrixXd jac = JacobianOf(xd, nd);
  if (!jac.allFinite()) return 1;
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) SM_ELEMENT_D(J, i, j) = jac(i, j);
  }
  return 0;
}

// Equal element by element, NaN equal to NaN (a NaN input means "local control" in some models).
bool Same(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  if (a.size() != b.size()) return false;
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  }
  return true;
}

void SilentErrHandler(int, const char*, const char*, char*, void*) {}

class CvodeIntegrator final : public Integrator {
 public:
  explicit CvodeIntegrator(CvodeOptions o) : o_(o) {}
  ~CvodeIntegrator() override { Free(); }
  const char* kind() const override {
    return o_.method == CvodeOptions::Method::kBdf ? "cvode_bdf" : "cvode_adams";
  }
  void Reset() override { Free(); }

  Status Advance(const System& sys, Context* c, double t) override {
    DOPPEL_RETURN_IF_ERROR(sys.ValidateContext(*c));
    if (!(t >= c->time)) return InvalidArgument("cvode: target time before context time");
    ++summary_.calls;
    const double start = c->time;
    if (t == c->time) return Status::Ok();
    if (c->state.size() == 0) {  // nothing to integrate
      c->time = t;
      summary_.simulated_s += t - start;
      return Status::Ok();
    }
    // Restart unless the context is exactly where CVODE left it.
    bool same = mem_ != nullptr && system_ == &sys && last_time_ == c->time && Same(last_.state, c->state) &&
                Same(last_.inputs, c->inputs) && Same(last_.parameters, c->parameters);
    if (!same) DOPPEL_RETURN_IF_ERROR(Init(sys, *c));
    ud_.system = &sys;
    ud_.context = c;
    DOPPEL_RETURN_IF_ERROR(Check(CVodeSetStopTime(mem_, t), "CVodeSetStopTime"));
    long before = 0;  // NOLINT(runtime/int)
    CVodeGetNumSteps(mem_, &before);
    sunrealtype tret = c->time;
    int flag = CV_SUCCESS;
    while (tret < t) {
      flag = CVode(mem_, t, y_, &tret, CV_NORMAL);
      if (flag < 0) break;
      long now = 0;  // NOLINT(runtime/int)
      CVodeGetNumSteps(mem_, &now);
      if (now - before > o_.max_steps_per_call) {
        flag = CV_TOO_MUCH_WORK;
        break;
      }
    }
    UpdateSummary();
    Eigen::Map<const Eigen::VectorXd> y(N_VGetArrayPointer(y_), c->state.size());
    if (flag < 0) {
      // Leave the context at the last good point CVODE reached.
      sunrealtype tcur = c->time;
      if (CVodeGetCurrentTime(mem_, &tcur) == CV_SUCCESS && tcur > c->time) {
        if (CVodeGetDky(mem_, tcur, 0, y_) == CV_SUCCESS && y.allFinite()) {
          c->state = y;
          c->time = tcur;
        }
      }
      Free();
      std::string msg = "cvode: " + FlagName(flag) + " before t=" + std::to_string(t);
      return flag == CV_TOO_MUCH_WORK ? ResourceExhausted(msg) : FailedPrecondition(msg);
    }
    c->state = y;
    c->time = t;
    summary_.simulated_s += t - start;
    last_ = *c;
    last_time_ = t;
    return Status::Ok();
  }

 private:
  // CVodeGetReturnFlagName returns a malloc'd string the caller must free.
  static std::string FlagName(int flag) {
    char* name = CVodeGetReturnFlagName(flag);
    std::string out = name != nullptr ? name : "unknown flag " + std::to_string(flag);
    free(name);
    return out;
  }

  Status Check(int flag, const char* what) {
    if (flag < 0) return Internal(std::string("cvode: ") + what + " failed: " + FlagName(flag));
    return Status::Ok();
  }

  Status Init(const System& sys, const Context& c) {
    Free();
    system_ = &sys;
    const auto n = static_cast<sunindextype>(c.state.size());
    if (SUNContext_Create(nullptr, &sunctx_) != 0) return Internal("cvode: SUNContext_Create failed");
    y_ = N_VNew_Serial(n, sunctx_);
    if (y_ == nullptr) return Internal("cvode: N_VNew_Serial failed");
    Eigen::Map<Eigen::VectorXd>(N_VGetArrayPointer(y_), c.state.size()) = c.state;
    bool bdf = o_.method == CvodeOptions::Method::kBdf;
    mem_ = CVodeCreate(bdf ? CV_BDF : CV_ADAMS, sunctx_);
    if (mem_ == nullptr) return Internal("cvode: CVodeCreate failed");
    CVodeSetErrHandlerFn(mem_, SilentErrHandler, nullptr);
    ud_.system = &sys;
    ud_.context = &c;
    DOPPEL_RETURN_IF_ERROR(Check(CVodeInit(mem_, Rhs, c.time, y_), "CVodeInit"));
    DOPPEL_RETURN_IF_ERROR(Check(CVodeSetUserData(mem_, &ud_), "CVodeSetUserData"));
    DOPPEL_RETURN_IF_ERROR(
        Check(CVodeSStolerances(mem_, o_.relative_tolerance, o_.absolute_tolerance), "CVodeSStolerances"));
    DOPPEL_RETURN_IF_ERROR(Check(CVodeSetMaxNumSteps(mem_, o_.max_steps_per_call), "CVodeSetMaxNumSteps"));
    if (o_.max_step_s > 0)
      DOPPEL_RETURN_IF_ERROR(Check(CVodeSetMaxStep(mem_, o_.max_step_s), "CVodeSetMaxStep"));
    if (o_.initial_step_s > 0) {
      DOPPEL_RETURN_IF_ERROR(Check(CVodeSetInitStep(mem_, o_.initial_step_s), "CVodeSetInitStep"));
    }
    if (bdf) {
      A_ = SUNDenseMatrix(n, n, sunctx_);
      ls_ = SUNLinSol_Dense(y_, A_, sunctx_);
      if (A_ == nullptr || ls_ == nullptr) return Internal("cvode: dense linear solver creation failed");
      DOPPEL_RETURN_IF_ERROR(Check(CVodeSetLinearSolver(mem_, ls_, A_), "CVodeSetLinearSolver"));
      // Exact Jacobians by automatic differentiation up to its size limit; CVODE's own
      // difference quotients beyond it.
      if (o_.autodiff_jacobian && n <= kMaxAutoDiffDerivatives)
        DOPPEL_RETURN_IF_ERROR(Check(CVodeSetJacFn(mem_, Jac), "CVodeSetJacFn"));
    } else {
      nls_ = SUNNonlinSol_FixedPoint(y_, 0, sunctx_);
      if (nls_ == nullptr) return Internal("cvode: fixed-point solver creation failed");
      DOPPEL_RETURN_IF_ERROR(Check(CVodeSetNonlinearSolver(mem_, nls_), "CVodeSetNonlinearSolver"));
    }
    ++summary_.restarts;
    base_ = {};
    return Status::Ok();
  }

  void UpdateSummary() {
    long steps = 0, rhs = 0, etf = 0, ncf = 0, jev = 0, rhs_ls = 0;  // NOLINT(runtime/int)
    CVodeGetNumSteps(mem_, &steps);
    CVodeGetNumRhsEvals(mem_, &rhs);
    CVodeGetNumErrTestFails(mem_, &etf);
    CVodeGetNumNonlinSolvConvFails(mem_, &ncf);
    if (ls_ != nullptr) {
      CVodeGetNumJacEvals(mem_, &jev);
      CVodeGetNumLinRhsEvals(mem_, &rhs_ls);
    }
    sunrealtype h = 0;
    CVodeGetLastStep(mem_, &h);
    // CVODE's counters are per initialization; accumulate their growth.
    summary_.steps += steps - base_.steps;
    summary_.rhs_evals += (rhs + rhs_ls) - base_.rhs;
    summary_.rejected_steps += etf - base_.etf;
    summary_.nonlinear_failures += ncf - base_.ncf;
    summary_.jacobian_evals += jev - base_.jev;
    summary_.last_step_s = h;
    base_ = {steps, rhs + rhs_ls, etf, ncf, jev};
  }

  void Free() {
    if (mem_ != nullptr) CVodeFree(&mem_);
    if (ls_ != nullptr) SUNLinSolFree(ls_);
    if (nls_ != nullptr) SUNNonlinSolFree(nls_);
    if (A_ != nullptr) SUNMatDestroy(A_);
    if (y_ != nullptr) N_VDestroy(y_);
    if (sunctx_ != nullptr) SUNContext_Free(&sunctx_);
    mem_ = nullptr;
    ls_ = nullptr;
    nls_ = nullptr;
    A_ = nullptr;
    y_ = nullptr;
    sunctx_ = nullptr;
    system_ = nullptr;
  }

  struct Base {
    long steps = 0, rhs = 0, etf = 0, ncf = 0, jev = 0;  // NOLINT(runtime/int)
  };
  CvodeOptions o_;
  SUNContext sunctx_ = nullptr;
  void* mem_ = nullptr;
  N_Vector y_ = nullptr;
  SUNMatrix A_ = nullptr;
  SUNLinearSolver ls_ = nullptr;
  SUNNonlinearSolver nls_ = nullptr;
  UserData ud_;
  const System* system_ = nullptr;
  Context last_;
  double last_time_ = 0;
  Base base_;
};

}  // namespace

Result<std::unique_ptr<Integrator>> MakeCvodeIntegrator(const CvodeOptions& options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Integrator>(new CvodeIntegrator(options));
}

}  // namespace doppel::physics
