// Fixed-step RK4 integrator and the Simulator.
#include <cmath>
#include <string>

#include "doppel/physics/integrator.h"

namespace doppel::physics {

Status Rk4Options::Validate() const {
  if (!(step_s > 0) || !std::isfinite(step_s)) return InvalidArgument("rk4: step_s must be > 0 and finite");
  return Status::Ok();
}

namespace {

class Rk4Integrator final : public Integrator {
 public:
  explicit Rk4Integrator(Rk4Options o) : o_(o) {}
  const char* kind() const override { return "rk4"; }

  Status Advance(const System& sys, Context* c, double t) override {
    DOPPEL_RETURN_IF_ERROR(sys.ValidateContext(*c));
    if (!(t >= c->time)) return InvalidArgument("rk4: target time before context time");
    ++summary_.calls;
    const Eigen::Index n = c->state.size();
    if (k1_.size() != n) {
      k1_.resize(n);
      k2_.resize(n);
      k3_.resize(n);
      k4_.resize(n);
      tmp_.resize(n);
    }
    const double start = c->time;
    while (c->time < t) {
      double h = o_.step_s;
      // Land exactly on t; avoid a sliver step by stretching the last step slightly.
      if (c->time + h >= t || t - (c->time + h) < 1e-9 * h) h = t - c->time;
      if (n > 0) {
        const double t0 = c->time;
        const Eigen::VectorXd& x = c->state;
        sys.CalcDerivatives(t0, x, c->inputs, c->parameters, k1_);
        tmp_ = x + 0.5 * h * k1_;
        sys.CalcDerivatives(t0 + 0.5 * h, tmp_, c->inputs, c->parameters, k2_);
        tmp_ = x + 0.5 * h * k2_;
        sys.CalcDerivatives(t0 + 0.5 * h, tmp_, c->inputs, c->parameters, k3_);
        tmp_ = x + h * k3_;
        sys.CalcDerivatives(t0 + h, tmp_, c->inputs, c->parameters, k4_);
        tmp_ = x + (h / 6.0) * (k1_ + 2.0 * k2_ + 2.0 * k3_ + k4_);
        if (o_.check_finite && !tmp_.allFinite()) {
          return FailedPrecondition("rk4: state became non-finite at t=" + std::to_string(t0 + h) +
                                    " s (step too large for the model's time constants?)");
        }
        c->state.swap(tmp_);
        summary_.rhs_evals += 4;
      }
      c->time = (h == t - c->time) ? t : c->time + h;
      ++summary_.steps;
      summary_.last_step_s = h;
    }
    summary_.simulated_s += t - start;
    return Status::Ok();
  }

 private:
  Rk4Options o_;
  Eigen::VectorXd k1_, k2_, k3_, k4_, tmp_;
};

}  // namespace

Result<std::unique_ptr<Integrator>> MakeRk4Integrator(const Rk4Options& options) {
  DOPPEL_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Integrator>(new Rk4Integrator(options));
}

Simulator::Simulator(const System& system, Context context, std::unique_ptr<Integrator> integrator)
    : system_(&system), context_(std::move(context)), integrator_(std::move(integrator)) {}

Status Simulator::Initialize() {
  if (integrator_ == nullptr) return InvalidArgument("simulator: no integrator");
  DOPPEL_RETURN_IF_ERROR(system_->ValidateContext(context_));
  if (!std::isfinite(context_.time)) return InvalidArgument("simulator: context time is not finite");
  initialized_ = true;
  return Status::Ok();
}

Status Simulator::AdvanceTo(double t) {
  if (!initialized_) DOPPEL_RETURN_IF_ERROR(Initialize());
  if (!std::isfinite(t) || t < context_.time) {
    return InvalidArgument("simulator: cannot advance from t=" + std::to_string(context_.time) + " to " +
                           std::to_string(t));
  }
  if (t == context_.time) return Status::Ok();
  return integrator_->Advance(*system_, &context_, t);
}

}  // namespace doppel::physics
